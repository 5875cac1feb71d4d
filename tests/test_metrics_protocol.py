"""The evaluation protocol (StyleGAN-V's FVD, StyleInV's and StyleGAN-V's FID): real clips and frames, cached real
statistics, FID/FVD end to end, the CLI."""
import json
import os

import numpy as np
import pytest
import torch

from styleinv_lib.cli import main
from styleinv_lib.data import export_synthfaces
from styleinv_lib.data.video import VideoFolder, write_video_frames
from styleinv_lib.metrics import protocol as P
from styleinv_lib.metrics.protocol import (
    DatasetClips, Protocol, StaticImageClips, evaluate, fake_stats, metric_length, protocol_for_profile,
    random_frame_batches, real_clip_batches, real_frame_batches, real_stats,
)

COMMITTED_G = os.path.join(os.path.dirname(__file__), "..", "checkpoints", "stylegan2_synthfaces32_v2_cpu.safetensors")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def uneven(tmp_path_factory):
    """Three videos of 5, 20 and 12 frames whose pixels encode (video, frame)."""
    root = tmp_path_factory.mktemp("uneven")
    for v, n in enumerate((5, 20, 12)):
        frames = np.zeros((n, 8, 8, 3), np.uint8)
        frames[..., 0] = v * 50
        frames[..., 1] = np.arange(n)[:, None, None]
        write_video_frames(frames, root / f"video{v}")
    return root


@pytest.fixture(scope="module")
def faces16(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces") / "synthfaces"
    export_synthfaces(root, num_videos=16, num_frames=18, resolution=32, seed=0, progress=False)
    return root


def test_real_clips_skip_short_videos_and_stay_in_range(uneven):
    folder = VideoFolder(uneven, 8)
    clips = torch.cat(list(real_clip_batches(folder, 10, 10, seed=0, batch=4)))
    assert clips.shape == (2, 10, 3, 8, 8)  # only the 20- and 12-frame videos are long enough
    videos = clips[:, 0, 0, 0, 0].tolist()
    assert videos == [50, 100]
    for clip in clips:
        t = clip[:, 1, 0, 0]
        assert torch.equal(t - t[0], torch.arange(10, dtype=torch.uint8)), "clips are consecutive frames"
    again = torch.cat(list(real_clip_batches(folder, 10, 10, seed=0, batch=4)))
    assert torch.equal(clips, again)
    starts = {int(c[0, 1, 0, 0]) for s in range(8) for c in torch.cat(list(real_clip_batches(folder, 10, 10, seed=s,
                                                                                              batch=4)))[:1]}
    assert len(starts) > 1, "real clips start at random offsets"
    first = torch.cat(list(real_clip_batches(folder, 5, 10, seed=0, batch=4, random_offset=False, cycle=True)))
    assert first.shape[0] == 5 and (first[:, 0, 1, 0, 0] == 0).all()
    with pytest.raises(ValueError, match="no video has 30 frames"):
        next(real_clip_batches(folder, 2, 30, seed=0, batch=2))


def test_real_frames_subset_is_seeded_and_covers_all(uneven):
    folder = VideoFolder(uneven, 8)
    every = torch.cat(list(real_frame_batches(folder, None, seed=0, batch=7)))
    assert every.shape[0] == 37
    sub = torch.cat(list(real_frame_batches(folder, 9, seed=3, batch=4)))
    assert sub.shape[0] == 9 and torch.equal(sub, torch.cat(list(real_frame_batches(folder, 9, seed=3, batch=4))))
    pairs = {(int(x[0, 0, 0]), int(x[1, 0, 0])) for x in sub}
    assert len(pairs) == 9, "frames are drawn without replacement"


def test_styleinv_real_fid_frames_visit_shuffled_videos_at_random_frames(uneven):
    """StyleInV's real FID frames (return_one, random_select): the videos in a shuffled order, cycled, one random
    frame of the visited video each time."""
    folder = VideoFolder(uneven, 8)
    frames = torch.cat(list(random_frame_batches(folder, 12, seed=0, batch=5)))
    videos = [int(f[0, 0, 0]) // 50 for f in frames]
    index = [int(f[1, 0, 0]) for f in frames]
    assert len(frames) == 12 and sorted(videos[:3]) == [0, 1, 2] and videos == videos[:3] * 4
    assert all(i < (5, 20, 12)[v] for v, i in zip(videos, index))
    assert len({(v, i) for v, i in zip(videos, index)}) > 6, "frames are drawn at random within each video"
    assert torch.equal(frames, torch.cat(list(random_frame_batches(folder, 12, seed=0, batch=3))))
    assert not torch.equal(frames, torch.cat(list(random_frame_batches(folder, 12, seed=1, batch=5))))


class NumberedVideos:
    """A clip source whose frame pixels encode (video index, frame index)."""

    resolution = 8
    description = "numbered videos"

    def clips(self, n, num_frames, *, seed, batch):
        for start in range(0, n, batch):
            b = min(batch, n - start)
            clips = torch.zeros(b, num_frames, 3, 8, 8, dtype=torch.uint8)
            clips[:, :, 0] = torch.arange(start, start + b, dtype=torch.uint8)[:, None, None, None]
            clips[:, :, 1] = torch.arange(num_frames, dtype=torch.uint8)[None, :, None, None]
            yield clips


class SeededNumberedVideos(NumberedVideos):
    """:class:`NumberedVideos` whose third channel encodes the seed each batch was drawn with."""

    def clips(self, n, num_frames, *, seed, batch):
        for clips in super().clips(n, num_frames, seed=seed, batch=batch):
            clips[:, :, 2] = seed % 251
            yield clips


class SeededStills(SeededNumberedVideos):
    """Still images, one FID sample each, as :class:`~styleinv_lib.metrics.protocol.StaticImageClips`."""

    fid_frames_per_clip = 1


def _fid_frames_seen(monkeypatch, protocol, source=None, metrics=("fid", "fvd16")):
    """(video, frame) of every generated frame the FID statistics see (with a seeded source: and its seed)."""
    seen = []

    def features(metric, network, batch):
        if metric == "fid":
            seen.extend((int(x[0, 0, 0]), int(x[1, 0, 0])) if x[2].max() == 0 else
                        (int(x[0, 0, 0]), int(x[1, 0, 0]), int(x[2, 0, 0])) for x in batch)
        return torch.zeros(len(batch), P._dim(metric))

    monkeypatch.setattr(P, "_extractor", lambda metric, device: None)
    monkeypatch.setattr(P, "_features", features)
    stats = fake_stats(source or NumberedVideos(), list(metrics), protocol)
    assert stats["fid"].count == len(seen)
    return seen


def test_fid_variants_draw_generated_frames_as_each_paper_does(monkeypatch):
    """StyleInV's FID: frames drawn without replacement from all frames of the generated videos (the FVD ones);
    StyleGAN-V's: the first 16 frames of each video, more videos when needed; a still image once per sample."""
    base = dict(num_clips=6, fid_frames=40, fid_real_frames=10, batch=4)
    pooled = _fid_frames_seen(monkeypatch, Protocol(**base, fid_video_frames=32))
    assert len(pooled) == 40 == len(set(pooled)) and all(v < 6 and f < 32 for v, f in pooled)
    assert max(f for _, f in pooled) >= 16 and len({v for v, _ in pooled}) == 6
    assert pooled == _fid_frames_seen(monkeypatch, Protocol(**base, fid_video_frames=32))       # seeded
    first16 = _fid_frames_seen(monkeypatch, Protocol(**base, fid="stylegan-v"))
    assert len(first16) == 40 and all(f < 16 for _, f in first16)
    assert first16[:32] == [(v, f) for v in range(2) for f in range(16)]
    with pytest.raises(ValueError, match="draws 40 frames from 6 videos of 4 frames"):
        _fid_frames_seen(monkeypatch, Protocol(**base, fid_video_frames=4))
    assert protocol_for_profile("gpu") == Protocol() and Protocol().fid == "styleinv"
    assert Protocol().fid_real_frames == 50_000 and Protocol().fid_video_frames == 128
    sgv = protocol_for_profile("gpu", fid="stylegan-v")
    assert sgv.fid_real_frames is None and sgv.num_clips == 2048                    # fid50k_full: every real frame
    assert protocol_for_profile("cpu", fid="stylegan-v").fid_real_frames == 2048
    with pytest.raises(ValueError, match="unknown FID variant"):
        Protocol(fid="mine")
    assert P.fid_variant({}) == "stylegan-v" and P.fid_variant(Protocol().to_dict()) == "styleinv"


def test_fid_alone_draws_the_frames_it_draws_beside_fvd(monkeypatch):
    """One protocol seed, one FID: asking FID alone used to skip the shared videos and draw every frame from the
    extra stream (a still generator read 64.2 alone and 65.1 beside FVD on the same seed)."""
    base = dict(num_clips=6, fid_frames=100, fid_real_frames=10, batch=4, seed=3)
    for source, protocol, from_shared in ((SeededStills(), Protocol(**base), 6),
                                          (SeededNumberedVideos(), Protocol(**base, fid="stylegan-v"), 6 * 16)):
        alone = _fid_frames_seen(monkeypatch, protocol, source, metrics=("fid",))
        beside = _fid_frames_seen(monkeypatch, protocol, source, metrics=("fid", "fvd16", "fvd32"))
        assert alone == beside and len(alone) == 100
        seeds = [s for *_, s in alone]                                 # the shared videos first, then the extra stream
        assert seeds == [3] * from_shared + [(3 + 1_000_003) % 251] * (100 - from_shared)
    pooled = Protocol(**base, fid_video_frames=32)                    # StyleInV's FID pools the shared videos' frames
    assert _fid_frames_seen(monkeypatch, pooled, SeededNumberedVideos(), metrics=("fid",)) == _fid_frames_seen(
        monkeypatch, pooled, SeededNumberedVideos(), metrics=("fid", "fvd16"))


def test_metric_names():
    assert metric_length("fid") is None and metric_length("fvd16") == 16 and metric_length("fvd128") == 128
    for bad in ("fvd", "fvd4", "kid", "fvdx"):
        with pytest.raises(ValueError, match="unknown metric"):
            metric_length(bad)


def test_real_statistics_are_cached_and_invalidated_when_the_data_changes(uneven, tmp_path, monkeypatch):
    root = tmp_path / "data"
    import shutil

    shutil.copytree(uneven, root)
    calls = []
    real_extractor = P._extractor

    def counting(metric, device):
        calls.append(metric)
        return real_extractor(metric, device)

    monkeypatch.setattr(P, "_extractor", counting)
    proto = Protocol(num_clips=2, fid_frames=4, fid_real_frames=6, batch=3)
    a = real_stats(root, 16, "fid", proto)
    b = real_stats(root, 16, "fid", proto)
    assert calls == ["fid"] and np.array_equal(a.mean, b.mean) and a.count == 6
    real_stats(root, 16, "fid", Protocol(num_clips=2, fid_frames=4, fid_real_frames=6, batch=3, fid="stylegan-v"))
    calls.pop()                                                       # the other FID variant: its own entry
    real_stats(root, 32, "fid", proto)                                # another resolution: another entry
    real_stats(root, 16, "fid", Protocol(num_clips=2, fid_frames=4, fid_real_frames=8, batch=3))  # another size
    assert calls == ["fid"] * 3
    frame = sorted((root / "video1").iterdir())[0]
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(frame)    # the dataset changes
    c = real_stats(root, 16, "fid", proto)
    assert calls == ["fid"] * 4 and c.count == 6
    assert len(list(P.stats_dir().glob("*.npz"))) == 5


@pytest.fixture(scope="module")
def committed_source():
    from styleinv_lib.loading import load_generator

    return StaticImageClips(load_generator(COMMITTED_G))


def test_protocol_end_to_end_on_16_clips(faces16, tmp_path_factory, committed_source):
    """FID + FVD16 of a 16-clip run: a second real split is closer to the data than still GAN images."""
    other = tmp_path_factory.mktemp("other") / "split"
    export_synthfaces(other, num_videos=16, num_frames=16, resolution=32, seed=1, progress=False)
    # (at these sizes, protocol seed 0, the v2 generator: FID 194 still vs 134 real, FVD16 995 vs 520)
    proto = Protocol(num_clips=16, fid_frames=32, fid_real_frames=48, batch=8, fid_video_frames=16)
    still = evaluate(committed_source, faces16, ["fid", "fvd16"], proto)
    real = evaluate(DatasetClips(other, 32), faces16, ["fid", "fvd16"], proto)
    for record in (still, real):
        assert record["counts"]["fvd16"] == {"real": 16, "fake": 16}
        assert record["counts"]["fid"] == {"real": 48, "fake": 32}
        assert record["comparable_to_paper"] is False
        assert all(np.isfinite(v) and v > 0 for v in record["metrics"].values())
    assert real["metrics"]["fvd16"] < still["metrics"]["fvd16"], (real, still)
    assert real["metrics"]["fid"] < still["metrics"]["fid"], (real, still)
    assert real["protocol"]["fid"] == "styleinv" and real["fid_variant"].startswith("StyleInV's fid50k")
    json.dumps(still)  # the record is JSON-ready
    with pytest.raises(ValueError, match="at most 16 frames"):
        evaluate(DatasetClips(other, 32), faces16, ["fid"], Protocol(num_clips=16, fid_frames=64, batch=8))
    # (refused before the 50,000 real frames of this protocol are computed)


def test_static_clips_are_still_and_seeded(committed_source):
    clips = torch.cat(list(committed_source.clips(3, 4, seed=5, batch=2)))
    assert clips.shape == (3, 4, 3, 32, 32) and clips.dtype == torch.uint8
    assert torch.equal(clips[:, 0], clips[:, 3])
    assert torch.equal(clips, torch.cat(list(committed_source.clips(3, 4, seed=5, batch=3))))
    assert not torch.equal(clips[0, 0], clips[1, 0])


def test_cli_real_vs_real_appends_json(faces16, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["metrics", "--fake-data", str(faces16), "--data", str(faces16), "--resolution", "32",
                 "--metrics", "fid", "--fid-frames", "24", "--fid-real-frames", "24", "--num-clips", "4",
                 "--profile", "smoke", "--out", str(out), "--quiet"])
    assert code == 0
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["metrics"]["fid"] >= 0 and record["protocol"]["fid_frames"] == 24
    assert main(["metrics", "--fake-data", str(faces16), "--data", str(faces16), "--quiet"]) == 2
    assert "--resolution" in capsys.readouterr().err
    assert main(["metrics", "--generator", str(tmp_path / "nothing"), "--data", str(faces16), "--quiet"]) != 0


def test_cli_refuses_a_stage_that_makes_no_videos(faces16, tmp_path, capsys):
    from styleinv_lib.checkpoint import save_snapshot

    snap = save_snapshot(tmp_path / "enc.safetensors", stage="encoder", config={}, modules={"E": torch.nn.Linear(2, 2)})
    assert main(["metrics", "--generator", str(snap), "--data", str(faces16), "--quiet"]) == 2
    assert "'encoder' snapshot cannot generate videos" in capsys.readouterr().err


def test_real_frames_are_independent_still_frames_for_the_image_fid_floor(uneven):
    source = P.RealFrames(uneven, 8)
    assert source.fid_frames_per_clip == 1
    clips = torch.cat(list(source.clips(37, 3, seed=4, batch=10)))
    assert clips.shape == (37, 3, 3, 8, 8) and torch.equal(clips[:, 0], clips[:, 2])
    keys = {(int(c[0, 0, 0, 0]), int(c[0, 1, 0, 0])) for c in clips}        # (video * 50, frame) of each pick
    assert len(keys) == 37, "37 frames of the 37 in the folder: every frame once, none twice"
    again = torch.cat(list(source.clips(37, 3, seed=4, batch=7)))
    assert torch.equal(clips, again) and not torch.equal(clips, torch.cat(list(source.clips(37, 3, seed=5, batch=7))))
