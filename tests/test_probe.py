"""The SynthFaces probe and the ground-truth metrics built on it (identity preservation, first-frame error, motion
statistics).  The committed probe is checked on identities it never saw; training is checked for exact resume."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from styleinv_lib.cli import main as cli_main
from styleinv_lib.data.synthetic import FACTOR_NAMES, SynthFaces
from styleinv_lib.metrics import groundtruth as gt
from styleinv_lib.metrics.probe import (
    SynthFacesProbe, calibrate_threshold, default_probe_path, evaluate_probe, load_probe,
)
from styleinv_lib.train.probe import ProbeConfig, ProbeStage, supcon_loss, train_probe

FRESH_SEED = 404          # identities drawn with a seed the probe was neither trained, calibrated nor evaluated on


@pytest.fixture(scope="module")
def probe() -> SynthFacesProbe:
    return load_probe()            # the default version's probe, reading videos of that version (_videos)


@pytest.fixture(scope="module")
def probe_v1() -> SynthFacesProbe:
    return load_probe(version=1)   # still shipped: chapter 9's experiments ran on version 1


def _videos(seed: int, n: int, frames: int, resolution: int, start: int = 0) -> torch.Tensor:
    ds = SynthFaces(resolution=resolution, num_frames=frames, seed=seed)
    return torch.stack([ds.render(start + i).permute(0, 3, 1, 2) for i in range(n)])   # N x T x 3 x R x R uint8


# ------------------------------------------------------------------------------------------------------------------
# The committed probe
# ------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [1, 2])
def test_committed_probe_is_calibrated_and_documented(version):
    probe = load_probe(version=version)
    assert default_probe_path(version=version).is_file() and probe.info["config"].get("version", 1) == version
    assert math.isfinite(probe.threshold) and -1 < probe.threshold < 1
    assert not probe.training and not any(p.requires_grad for p in probe.parameters())
    info = probe.info
    assert "not FID/FVD" in info["note"]
    assert info["factor_names"] == list(FACTOR_NAMES)
    assert info["heldout"]["auc"] > 0.97 and info["heldout"]["balanced_accuracy"] > 0.9
    assert set(info["heldout_by_resolution"]) == {"32", "64"}


@pytest.mark.parametrize("resolution", [32, 64])
def test_version1_probe_verifies_unseen_identities_and_reads_pose(probe_v1, resolution):
    r = evaluate_probe(probe_v1, seed=FRESH_SEED, identities=24, resolution=resolution, version=1)
    assert r["auc"] > 0.95, r
    assert r["balanced_accuracy"] > 0.85, r
    for name in ("yaw", "roll", "tx", "ty"):                   # head pose and position: reliable at 32² too
        assert r["r2"][name] > 0.8, (name, r["r2"])
    for name in ("blink", "mouth_open"):                         # a few pixels tall at 32²
        assert r["r2"][name] > 0.4, (name, r["r2"])


@pytest.mark.parametrize("resolution", [32, 64])
def test_version2_probe_verifies_faces_whatever_surrounds_them(resolution):
    """The version-2 probe: identity is the face alone (each video has its own clothes, background and light), so
    verification is harder than on version 1 but still far from chance, and the larger motion reads well."""
    probe2 = load_probe(version=2)
    assert probe2.info["config"]["version"] == 2 and default_probe_path(version=2).name.endswith("_v2.safetensors")
    r = evaluate_probe(probe2, seed=FRESH_SEED, identities=24, resolution=resolution, version=2)
    assert r["auc"] > 0.93 and r["balanced_accuracy"] > 0.85, r
    for name in ("yaw", "pitch", "roll", "blink", "mouth_open"):
        assert r["r2"][name] > 0.7, (name, r["r2"])
    # the version-1 probe, which could lean on the background, does worse on version-2 faces
    r1 = evaluate_probe(load_probe(version=1), seed=FRESH_SEED, identities=24, resolution=resolution, version=2)
    assert r1["auc"] < r["auc"], (r1["auc"], r["auc"])


def test_probe_output_shapes_and_input_forms(probe):
    x = _videos(FRESH_SEED, 1, 3, 48)[0]
    out = probe.run(x)
    assert out["embedding"].shape == (3, probe.config["embed_dim"])
    assert torch.allclose(out["embedding"].norm(dim=1), torch.ones(3), atol=1e-5)
    assert out["factors"].shape == (3, len(FACTOR_NAMES))
    as_float = probe.run(x.float() / 127.5 - 1)
    assert torch.allclose(as_float["embedding"], out["embedding"], atol=1e-5)
    with pytest.raises(ValueError, match="channels-last"):
        probe.run(x.permute(0, 2, 3, 1))


def test_load_probe_missing_file_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="styleinv train-probe"):
        load_probe(tmp_path / "nope.safetensors")


# ------------------------------------------------------------------------------------------------------------------
# Ground-truth metrics
# ------------------------------------------------------------------------------------------------------------------

def test_identity_preservation_real_videos_vs_identity_swap(probe):
    videos = _videos(FRESH_SEED, 4, 24, 32)
    same = gt.identity_preservation(videos, probe, horizons=(16, 24, 1024))
    assert same["share@16"] > 0.85 and same["share@24"] > 0.85
    assert same["share@1024"] is None and same["cosine@1024"] is None
    assert len(same["curve_share"]) == 23
    assert len(same["video_share@24"]) == 4 and same["video_share@1024"] is None     # one share per video ...
    assert sum(same["video_share@24"]) / 4 == pytest.approx(same["share@24"])           # ... whose mean it is
    # an identity that changes at frame 8: frames 8.. show other people (rotate the batch)
    swapped = videos.clone()
    swapped[:, 8:] = videos.roll(1, dims=0)[:, 8:]
    drift = gt.identity_preservation(swapped, probe, horizons=(8, 24))
    assert drift["share@8"] > 0.85
    assert drift["share@24"] < same["share@24"] - 0.4
    assert all(d < s - 0.4 for d, s in zip(drift["video_share@24"], same["video_share@24"]))  # every video drifts
    # streaming one video at a time gives the same numbers
    streamed = gt.identity_preservation((v for v in videos), probe, horizons=(16,))
    assert streamed["share@16"] == pytest.approx(same["share@16"])


def test_first_frame_error(probe):
    frames = _videos(FRESH_SEED, 3, 2, 32)[:, 0]
    same = gt.first_frame_error(frames, frames, probe=probe)
    assert same["mse"] == 0 and same["psnr"] > 100
    assert same["id_cosine"] == pytest.approx(1.0, abs=1e-5) and same["id_match"] == 1.0
    other = gt.first_frame_error(frames.roll(1, dims=0), frames, probe=probe)
    assert other["mse"] > 0.01 and other["psnr"] < 30 and other["id_cosine"] < same["id_cosine"] - 0.3
    with pytest.raises(ValueError, match="same shape"):
        gt.first_frame_error(frames[:, :, :16, :16], frames)


def test_count_blinks_hysteresis():
    closed_once = np.array([0, 0.2, 0.6, 0.45, 0.55, 0.48, 0.7, 0.1, 0])     # dithers around 0.5 while shut
    assert gt.count_blinks(closed_once) == 1
    assert gt.count_blinks(np.array([0, 0.9, 0.1, 0.9, 0.1, 0.9])) == 3
    assert gt.count_blinks(np.zeros(50)) == 0
    with pytest.raises(ValueError):
        gt.count_blinks(closed_once, closed=0.2, open_=0.3)


def test_motion_statistics_from_ground_truth_factors_know_temperaments():
    ds = SynthFaces(resolution=16, num_frames=512, seed=FRESH_SEED)
    t = np.arange(512)
    factors = {n: np.stack([ds.factors(i, t)[n] for i in range(40)]) for n in FACTOR_NAMES}
    stats = gt.motion_statistics_from_factors(factors)
    assert stats["videos"] == 40 and stats["frames"] == 512
    assert 0.5 < stats["mean"]["blink_rate"] < 5          # SynthFaces blinks every 25-70 frames
    assert stats["mean"]["yaw_speed"] > 0
    same = gt.compare_motion(stats, stats)
    for row in same.as_dict().values():
        assert row["ratio"] == pytest.approx(1.0) and row["wasserstein"] == pytest.approx(0.0)
    frozen = {n: np.repeat(v[:, :1], 512, axis=1) for n, v in factors.items()}     # a video that never moves
    still = gt.motion_statistics_from_factors(frozen)
    cmp = gt.compare_motion(still, stats).as_dict()
    assert cmp["yaw_speed"]["generated"] == 0 and cmp["blink_rate"]["ratio"] < 0.2
    assert "yaw_speed" in gt.compare_motion(still, stats).format()


def test_yaw_accel_tells_a_trembling_head_from_a_turning_one_of_the_same_speed():
    t = np.arange(256)
    still = {"pitch": np.zeros((1, 256)), "blink": np.zeros((1, 256)), "mouth_open": np.zeros((1, 256))}
    turning = gt.motion_statistics_from_factors({**still, "yaw": 0.2 * np.sin(2 * np.pi * t / 32)[None]})
    trembling = gt.motion_statistics_from_factors({**still, "yaw": 0.0125 * (-1.0) ** t[None]})
    speed = trembling["mean"]["yaw_speed"] / turning["mean"]["yaw_speed"]
    assert 0.8 < speed < 1.25                                 # the speed statistic cannot tell them apart
    assert trembling["mean"]["yaw_accel"] > 5 * turning["mean"]["yaw_accel"]
    assert trembling["mean"]["yaw_std"] < 0.1 * turning["mean"]["yaw_std"]
    two_frames = gt.motion_statistics_from_factors({n: v[:, :2] for n, v in {**still, "yaw": t[None] * 0.1}.items()})
    assert np.isnan(two_frames["mean"]["yaw_accel"]) and two_frames["mean"]["yaw_speed"] == pytest.approx(0.1)


def test_probe_measured_motion_tracks_ground_truth(probe):
    ds = SynthFaces(resolution=64, num_frames=96, seed=FRESH_SEED)
    videos = torch.stack([ds.render(i).permute(0, 3, 1, 2) for i in range(6)])
    t = np.arange(96)
    truth = gt.motion_statistics_from_factors({n: np.stack([ds.factors(i, t)[n] for i in range(6)])
                                               for n in FACTOR_NAMES})
    measured = gt.motion_statistics(videos, probe)
    yaw_true, yaw_meas = np.array(truth["per_video"]["yaw_std"]), np.array(measured["per_video"]["yaw_std"])
    assert np.corrcoef(yaw_true, yaw_meas)[0, 1] > 0.8
    assert abs(measured["mean"]["yaw_std"] / truth["mean"]["yaw_std"] - 1) < 0.35


def test_motion_over_time_sees_motion_stop(probe):
    """A video that freezes half-way (motion collapse) reads as zero speed in its later windows only."""
    videos = _videos(FRESH_SEED, 3, 64, 32)
    frozen = videos.clone()
    frozen[:, 32:] = videos[:, 31:32]
    moving = gt.motion_over_time(videos, probe, window=16)
    stopped = gt.motion_over_time(frozen, probe, window=16)
    assert moving["start"] == [0, 16, 32, 48] and moving["videos"] == 3 and moving["frames"] == 64
    for name in gt.SPEED_FACTORS:
        assert np.allclose(stopped[name][:2], moving[name][:2]) and stopped[name][2:] == [0.0, 0.0]
    assert min(moving["yaw"]) > 0
    with pytest.raises(ValueError, match="shorter than one window"):
        gt.motion_over_time(videos[:, :8], probe, window=16)


def test_pixel_change_over_time_reads_known_speeds_without_a_probe():
    """A brightness ramp of 2/255 per frame reads 2/255 per frame, in uint8 and in [-1, 1] alike; frozen half-way,
    its later windows read zero; a ramp twice as fast reads twice the change."""
    t = torch.arange(64, dtype=torch.float64)
    ramp = (10 + 2 * t)[None, :, None, None, None].expand(2, 64, 3, 8, 8).to(torch.uint8).contiguous()
    read = gt.pixel_change_over_time(ramp, window=16)
    assert read["start"] == [0, 16, 32, 48] and read["videos"] == 2 and read["frames"] == 64
    assert np.allclose(read["change"], 2 / 255)
    as_float = gt.pixel_change_over_time(ramp.float() / 127.5 - 1, window=16)
    assert np.allclose(as_float["change"], read["change"], atol=1e-6)
    frozen = ramp.clone()
    frozen[:, 32:] = ramp[:, 31:32]
    stopped = gt.pixel_change_over_time(frozen, window=16)["change"]
    assert np.allclose(stopped[:2], 2 / 255) and stopped[2:] == [0.0, 0.0]
    fast = (2 + 4 * t)[None, :, None, None, None].expand(1, 64, 3, 8, 8).to(torch.uint8)
    assert np.allclose(gt.pixel_change_over_time(fast, window=16)["change"], 4 / 255)
    with pytest.raises(ValueError, match="shorter than one window"):
        gt.pixel_change_over_time(ramp[:, :8], window=16)


def test_jump_ratio_finds_a_cut_between_identities():
    """Smooth motion has a jump ratio near 2 (real SynthFaces v2 videos: 1.6-2.4); a cut to another face in the middle of a video stands far above its
    usual change (the results issue's limit is 3), and only that video is flagged; a still video reads 1."""
    def v2(seed, n):
        ds = SynthFaces(resolution=32, num_frames=32, seed=seed, version=2)
        return torch.stack([ds.render(i).permute(0, 3, 1, 2) for i in range(n)])

    videos = v2(FRESH_SEED, 2)
    cut = videos.clone()
    cut[1, 16:] = v2(FRESH_SEED + 1, 1)[0, 16:]
    smooth, flagged = gt.jump_ratio(cut)
    assert smooth == pytest.approx(gt.jump_ratio(videos[:1])[0]) and smooth < 3 < flagged
    assert gt.jump_ratio(videos[:1, :1].expand(1, 8, -1, -1, -1)) == [1.0]
    with pytest.raises(ValueError, match="at least 3 frames"):
        gt.jump_ratio(videos[:, :2])


def test_wasserstein_known_answer():
    a = np.random.default_rng(0).normal(size=200)
    assert gt._wasserstein_1d(a, a + 0.3) == pytest.approx(0.3)
    assert gt._wasserstein_1d([0, 1], [0, 1]) == 0


# ------------------------------------------------------------------------------------------------------------------
# Training pieces
# ------------------------------------------------------------------------------------------------------------------

def test_calibrate_threshold_separates_scores():
    pos, neg = torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.2, 0.3, 0.5])
    thr = calibrate_threshold(pos, neg)
    assert 0.5 < thr < 0.7


def test_supcon_loss_prefers_clustered_embeddings():
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.nn.functional.normalize(torch.tensor([[1., 0], [1, 0.1], [0, 1], [0.1, 1]]), dim=1)
    bad = good[[0, 2, 1, 3]]
    assert supcon_loss(good, labels, 0.1) < supcon_loss(bad, labels, 0.1)


TINY = dict(resolution=32, input_size=32, width=8, embed_dim=16, identities=8, videos_per_identity=2,
            ids_per_batch=4, frames_per_id=2, horizon=32, calib_identities=3, eval_identities=3, snapshot_every=2,
            eval_every=0, lr_warmup=1)


def test_training_step_reduces_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    stage = ProbeStage(ProbeConfig(**TINY, steps=30, device="cpu"))
    fixed = stage.batches(0)
    stage.batches = lambda step: fixed
    losses = [float(stage.step(s)["Loss/total"]) for s in range(30)]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_train_probe_resumes_bit_exactly_and_exports(tmp_path):
    straight = train_probe(tmp_path / "a.safetensors", steps=4, progress=False, tensorboard=False, **TINY)
    half = dict(progress=False, tensorboard=False, run_dir=tmp_path / "b-run", **TINY)
    train_probe(tmp_path / "b_half.safetensors", steps=2, **half)
    resumed = train_probe(tmp_path / "b.safetensors", steps=4, **half)
    a, b = load_probe(straight), load_probe(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert math.isfinite(a.threshold) and a.info["train_steps"] == 4
    with pytest.raises(Exception, match="snapshot"):
        train_probe(tmp_path / "c.safetensors", steps=4, resume=False, **half)


def test_cli_train_probe_rejects_bad_settings(tmp_path, capsys):
    assert cli_main(["train-probe", "--out", str(tmp_path / "p.safetensors"), "--steps", "0", "--quiet"]) == 2
    assert "steps must be positive" in capsys.readouterr().err
