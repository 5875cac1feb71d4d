"""StyleInV (Eq. 2), FFA-ST training (§3.4) and generation: behaviour the paper relies on."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from styleinv_lib.cli import main as cli_main
from styleinv_lib.data.export import export_synthfaces
from styleinv_lib.generate import generate_video, load_video_generator
from styleinv_lib.generate import load_clip_source
from styleinv_lib.nn import Generator
from styleinv_lib.nn.encoder import InversionEncoder
from styleinv_lib.nn.motion import MotionEncoder
from styleinv_lib.nn.styleinv import StyleInV
from styleinv_lib.checkpoint import save_snapshot
from styleinv_lib.train.styleinv import (StyleInVStage, config_for_profile, export_styleinv, train_styleinv,
                                         frame_steps, leap_penalty, uneven_motion)

W = 32


def _small_G(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=W, w_dim=W, img_resolution=32, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=256, channel_max=16)).eval()


def _small_E(G) -> InversionEncoder:
    torch.manual_seed(1)
    E = InversionEncoder.for_generator(G, channel_base=256, channel_max=16, blocks_per_stage=1).eval()
    with torch.no_grad():  # a non-trivial "trained" encoder: random BN statistics and head
        for m in E.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2)
        E.head.weight.normal_(0, 0.05)
    return E


def _styleinv(G, kind="ffa_ape", encoder=True, perturb=True) -> StyleInV:
    torch.manual_seed(2)
    SI = StyleInV(W, MotionEncoder(kind, motion_dim=16, noise_dim=16, anchor_spacing=8),
                  _small_E(G) if encoder else None)
    if perturb and encoder:  # leave the zero initialisation, so that frames move
        with torch.no_grad():
            SI.head.weight.normal_(0, 0.05)
            for block in SI.adains:
                block.conv2.weight.normal_(0, 0.05)
    return SI.eval()


def write_assets(root):
    """A small G and encoder as files, and a 6-video SynthFaces folder at 32², in ``root``."""
    G = _small_G()
    save_snapshot(root / "G.safetensors", stage="stylegan2", config={"stage": "stylegan2", "generator": G.config},
                  modules={"G_ema": G}, rng={})
    E = _small_E(G)
    save_snapshot(root / "E.safetensors", stage="encoder", config={"stage": "encoder", "encoder": E.config},
                  modules={"E": E}, rng={})
    export_synthfaces(root / "data", num_videos=6, num_frames=24, resolution=32, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("styleinv"))


def _cfg(assets, **kw):
    base = dict(data=str(assets / "data"), generator=str(assets / "G.safetensors"),
                encoder=str(assets / "E.safetensors"), motion_dim=16, noise_dim=16, anchor_spacing=8, window=16,
                max_distance=8, metrics="", device="cpu")
    return config_for_profile("smoke", **{**base, **kw})


# ------------------------------------------------------------------------------------------------------------------
# The network (Eq. 2)
# ------------------------------------------------------------------------------------------------------------------

def test_residual_is_zero_at_initialisation_and_encoder_is_a_copy():
    G = _small_G()
    E = _small_E(G)
    SI = StyleInV(W, MotionEncoder("ffa_ape", motion_dim=16, noise_dim=16, anchor_spacing=8), E)
    w0 = G.mapping(torch.randn(3, W))[:, 0]
    x0 = G.synthesis(w0, noise_mode="const")
    t = torch.rand(3, 5) * 50
    w = SI(w0, x0, [1, 2, 3], t)
    assert w.shape == (3, 5, W)
    assert torch.equal(w, w0[:, None].expand_as(w))          # by design: zero head, identity AdaIN blocks
    assert SI.encoder is not E and all(p.requires_grad for p in SI.encoder.parameters())
    assert len(SI.adains) == 3                                # one per encoder stage: 16², 8², 4²


def test_forward_is_w0_plus_residual_and_t0_is_fixed_across_noise():
    G = _small_G()
    SI = _styleinv(G)
    w0 = G.mapping(torch.randn(2, W))[:, 0]
    x0 = G.synthesis(w0, noise_mode="const")
    t = torch.tensor([[0.0, 3.5, 40.0], [0.0, 1.0, 2.0]])
    w = SI(w0, x0, [5, 6], t)
    assert torch.allclose(w, w0[:, None] + SI.residual(w0, x0, [5, 6], t))
    assert (w[:, 1:] - w0[:, None]).abs().max() > 1e-3       # frames do move
    # FFA-APE: the latent of frame 0 depends on w0 only, not on the motion noise
    w_other = SI(w0, x0, [123, 456], t)
    assert torch.allclose(w[:, 0], w_other[:, 0], atol=1e-6)
    assert not torch.allclose(w[:, 2], w_other[:, 2])
    ape = _styleinv(G, kind="ape")
    a, b = ape(w0, x0, [5, 6], t), ape(w0, x0, [123, 456], t)
    assert not torch.allclose(a[:, 0], b[:, 0])


def test_latents_do_not_depend_on_batch_company_in_train_mode():
    G = _small_G()
    SI = _styleinv(G).train()                                  # BatchNorm must stay in eval mode
    w0 = G.mapping(torch.randn(4, W))[:, 0]
    x0 = G.synthesis(w0, noise_mode="const")
    t = torch.rand(4, 3) * 20
    full = SI(w0, x0, [0, 1, 2, 3], t)
    alone = SI(w0[:1], x0[:1], [0], t[:1])
    assert torch.allclose(full[:1], alone, atol=1e-6)


def test_no_encoder_ablation_uses_the_temporal_style_as_residual():
    G = _small_G()
    w0 = G.mapping(torch.randn(2, W))[:, 0]
    t = torch.rand(2, 3) * 10
    torch.manual_seed(2)
    official = StyleInV(W, MotionEncoder("ffa_ape", motion_dim=16, noise_dim=16, anchor_spacing=8), None,
                        still_start=False)
    assert not hasattr(official, "encoder") and not official.use_encoder and not hasattr(official, "head")
    s = official.temporal_style(w0, [0, 1], t)
    # (w0 + s) - w0 equals s up to the rounding of the sum
    assert torch.allclose(official(w0, None, [0, 1], t) - w0[:, None], s, atol=1e-5) and s.abs().max() > 0.1
    SI = _styleinv(G, encoder=False)              # still_start: the style read out by a zero-initialised layer
    assert torch.equal(SI(w0, None, [0, 1], t), w0[:, None].expand(-1, 3, -1))
    with torch.no_grad():
        SI.head.weight.normal_(0, 0.1)
    assert torch.allclose(SI(w0, None, [0, 1], t) - w0[:, None], SI.head(SI.temporal_style(w0, [0, 1], t)),
                          atol=1e-5)


# ------------------------------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------------------------------

def test_long_video_in_chunks_equals_one_batch_and_any_order():
    G = _small_G()
    SI = _styleinv(G)
    w0 = G.mapping(torch.randn(1, W))[:, 0]
    t = torch.arange(2048, dtype=torch.float32)
    one, lat_one = generate_video(G, SI, w0, t, [7], chunk=2048, return_latents=True)
    chunked, lat_chunked = generate_video(G, SI, w0, t, [7], chunk=100, return_latents=True)
    assert one.shape == (1, 2048, 3, 32, 32)
    assert torch.allclose(lat_one, lat_chunked, atol=1e-5)
    assert torch.allclose(one, chunked, atol=1e-4)
    perm = torch.randperm(2048)[:64]
    shuffled = generate_video(G, SI, w0, t[perm], [7], chunk=16)
    assert torch.allclose(shuffled, one[:, perm], atol=1e-4)
    with pytest.raises(ValueError, match=">= 0"):
        generate_video(G, SI, w0, torch.tensor([-1.0]), [7])


# ------------------------------------------------------------------------------------------------------------------
# FFA-ST
# ------------------------------------------------------------------------------------------------------------------

def test_one_ffa_st_step_and_the_first_fake_frame_d_sees_is_g_of_w0(assets):
    stage = StyleInVStage(_cfg(assets))
    z, seeds, ts = stage.fake_inputs(0, 2)
    assert (ts[:, 0] == 0).all() and (ts[:, 1:] >= ts[:, :-1]).all() and ts.dtype == torch.float32
    assert torch.equal(ts, ts.round())                        # integer times, like the real clips
    w0, x0, w, frames = stage.generate_clip(z, seeds, ts)
    clip, t = stage.d_input(frames, ts, x0)
    assert torch.equal(clip[:, 0], x0) and torch.equal(clip[:, 1:], frames[:, 1:])
    real, ts_r = stage.real_clips(0)
    assert real.shape == (4, 4, 3, 32, 32) and (ts_r[:, 0] == 0).all()
    before = [p.detach().clone() for p in stage.SI.parameters()]
    logs = stage.step(0)
    assert all(np.isfinite(v) for v in logs.values())
    assert {"Loss/SI/adv", "Loss/SI/recon", "Loss/SI/wreg", "Loss/D/loss", "Loss/r1_penalty"} <= set(logs)
    assert any(not torch.equal(a, b) for a, b in zip(before, stage.SI.parameters()))
    reuse = StyleInVStage(_cfg(assets, d_fresh_fakes=False))     # the cpu preset's cheaper D phase
    assert all(np.isfinite(v) for v in reuse.step(0).values())


def test_the_r1_step_takes_the_gradfix_on_the_cpu_and_updates_d_as_torchs_rule(assets, gradfix_calls):
    """On the CPU the R1 phase runs D's convolutions through ``nn.conv_gradfix`` (the R1 step a quarter shorter at
    the cpu preset): the same penalty and the same updated D as torch's generic double backward, rounding aside."""
    from styleinv_lib.nn import conv_gradfix

    results = []
    for on in (False, True):
        stage = StyleInVStage(_cfg(assets, precision="fp32"))     # smoke: R1 every 2 steps, step 0 among them
        assert stage.regulariser_gradfix                          # the CPU's default
        stage.regulariser_gradfix = on
        gradfix_calls.clear()
        logs = stage.step(0)
        assert (gradfix_calls["conv"] > 0) == on and not conv_gradfix.is_enabled(), gradfix_calls
        results.append((logs, [p.detach().clone() for p in stage.D.parameters()]))
    (logs_a, d_a), (logs_b, d_b) = results
    assert logs_a.keys() == logs_b.keys() and "Loss/r1_penalty" in logs_a
    for key in logs_a:
        assert logs_b[key] == pytest.approx(logs_a[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(d_a, d_b):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_in_training_evaluation_reads_no_motion_from_an_untrained_model(assets):
    """The residual starts at zero, so the first evaluation sees still videos: no pixel change, no probe-read
    motion against the real videos' (ratio 0 for every motion target), a jump ratio of exactly 1, and the first
    frame equal to G(w0); after some training the same evaluation reads motion."""
    from styleinv_lib.metrics.groundtruth import MOTION_TARGETS

    stage = StyleInVStage(_cfg(assets, metrics="probe", metric_videos=2, metric_frames=16))
    still = stage.evaluate()
    assert still["frame_difference"] == 0 and still["max_jump_ratio"] == 1.0
    for name in ("yaw_std", "yaw_speed", "pitch_speed", "mouth_speed"):
        assert still[f"motion_ratio/{name}"] == 0, name
    assert set(MOTION_TARGETS) <= {k.split("/")[1] for k in still if k.startswith("motion_ratio/")}
    assert still["probe_identity@16"] == 1.0 and still["first_frame_psnr"] > 40
    for step in range(6):
        stage.step(step)
    stage.SI_ema.load_state_dict(stage.SI.state_dict())
    moving = stage.evaluate()
    assert moving["frame_difference"] > 0 and moving["motion_ratio/yaw_speed"] > 0


def test_every_table3_variant_starts_from_the_same_still_video(assets):
    """Table 3 compares what each variant learns: every one must start from w_t = w0 (a still video of G(w0)).
    The official initialisation of "w/o inversion encoder" (w_t = w0 + s_t) starts far from it."""
    from styleinv_lib.experiments import EXPERIMENTS, config_hash

    torch.manual_seed(0)
    w0 = torch.randn(2, W)
    t = torch.tensor([[0.0, 3.0, 17.0, 40.0], [0.0, 1.0, 2.0, 90.0]])
    for name in ("full", "no_encoder", "ape", "no_ffa_d_no_l2", "no_ffa_d"):
        stage = StyleInVStage(_cfg(assets, **EXPERIMENTS[name].overrides))
        x0 = stage.G.synthesis(w0, noise_mode="const")
        w = stage.SI(w0, x0, [3, 4], t)
        assert torch.equal(w, w0[:, None].expand_as(w)), name
    official = StyleInVStage(_cfg(assets, use_encoder=False, encoder="", still_start=False))
    assert (official.SI(w0, None, [3, 4], t) - w0[:, None]).norm(dim=2).min() > 0.1
    # the zero-started read-out still learns: one step moves the frames
    no_enc = StyleInVStage(_cfg(assets, use_encoder=False, encoder=""))
    no_enc.step(1)
    assert (no_enc.SI(w0, None, [3, 4], t)[:, 1:] - w0[:, None]).abs().max() > 0
    # still_start changes the configuration (and so the experiment's row) only where it has an effect
    assert config_hash(_cfg(assets, still_start=False)) == config_hash(_cfg(assets))
    assert config_hash(_cfg(assets, use_encoder=False, encoder="", still_start=False)) != \
        config_hash(_cfg(assets, use_encoder=False, encoder=""))


def test_training_follows_the_official_loop_where_it_says_so(assets):
    """D's Adam is corrected for the lazy R1 steps (lr * k/(k+1), betas ** k/(k+1)), D's minibatch-std group is
    the configured one, x0 = G(w0) is rendered with constant noise unless x0_noise="random" (the official code's),
    and the settings added for this keep the hashes of the rows recorded before them."""
    from styleinv_lib.experiments import config_hash

    stage = StyleInVStage(_cfg(assets))                 # smoke: R1 every 2 steps
    k = stage.cfg.r1_interval
    assert stage.opt_D.defaults["lr"] == pytest.approx(stage.cfg.lr_d * k / (k + 1), rel=1e-12)
    assert stage.opt_D.defaults["betas"][1] == pytest.approx(0.99 ** (k / (k + 1)), rel=1e-12)
    assert stage.opt_SI.defaults["lr"] == stage.cfg.lr and stage.opt_SI.defaults["betas"] == (0.0, 0.99)
    plain = StyleInVStage(_cfg(assets, d_lazy_adam_correction=False))
    assert plain.opt_D.defaults["lr"] == plain.cfg.lr_d and plain.opt_D.defaults["betas"] == (0.0, 0.99)
    no_r1 = StyleInVStage(_cfg(assets, r1_gamma=0.0))   # no R1 step, nothing to correct
    assert no_r1.opt_D.defaults["lr"] == no_r1.cfg.lr_d
    assert stage.D.b4.mbstd.group_size == 8 and StyleInVStage(_cfg(assets, mbstd_group=2)).D.b4.mbstd.group_size == 2

    def use_noise(s):                                   # the test generator never learned to use its noise
        for name, p in s.G.named_parameters():
            if name.endswith("noise_strength"):
                p.data.fill_(0.5)
        return s

    use_noise(stage)
    z, seeds, ts = torch.randn(2, stage.G.z_dim), [1, 2], torch.tensor([[0.0, 2, 5, 7], [0.0, 1, 3, 8]])
    torch.manual_seed(1)
    x0_a = stage.generate_clip(z, seeds, ts)[1]
    torch.manual_seed(2)
    x0_b = stage.generate_clip(z, seeds, ts)[1]
    assert torch.equal(x0_a, x0_b)
    noisy = use_noise(StyleInVStage(_cfg(assets, x0_noise="random")))
    torch.manual_seed(1)
    x0_c = noisy.generate_clip(z, seeds, ts)[1]
    torch.manual_seed(2)
    x0_d = noisy.generate_clip(z, seeds, ts)[1]
    assert not torch.equal(x0_c, x0_d)
    with pytest.raises(ValueError, match="x0_noise"):
        _cfg(assets, x0_noise="none").validate()

    # rows recorded before these settings trained with the values of _BEFORE_THE_SETTING: the same hash as a config
    # that spells them out; any other value is another experiment
    old = _cfg(assets, d_lazy_adam_correction=False, mbstd_group=4)
    assert config_hash(old) != config_hash(_cfg(assets))
    import hashlib
    from dataclasses import asdict

    # (skip_bad off, still_start with the encoder and the frame cache's size: unhashed)
    legacy = {k: v for k, v in asdict(old).items()
              if k not in ("d_lazy_adam_correction", "mbstd_group", "x0_noise", "still_start", "skip_bad",
                           "data_cache_mb",
                           "lambda_d_slow", "d_slow_max", "lambda_uneven", "uneven_frames",
                           "uneven_tolerance", "lambda_frame_leap", "frame_leap_tolerance",
                           "frame_leap_kimg")}
    assert config_hash(old) == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    assert config_hash(_cfg(assets, lambda_d_slow=1.0)) != config_hash(_cfg(assets))   # on: another experiment
    assert config_hash(_cfg(assets, d_slow_max=0.05)) != config_hash(_cfg(assets))


def test_ablation_flags_change_exactly_what_they_say(assets):
    full = StyleInVStage(_cfg(assets))
    assert full.SI.motion.kind == "ffa_ape" and full.SI.use_encoder and full.D.num_frames == 4
    ape = StyleInVStage(_cfg(assets, motion_kind="ape"))
    assert ape.SI.motion.kind == "ape" and ape.SI.use_encoder and ape.D.num_frames == 4
    no_enc = StyleInVStage(_cfg(assets, use_encoder=False, encoder=""))
    assert not no_enc.SI.use_encoder and no_enc.SI.motion.kind == "ffa_ape"
    no_ffad = StyleInVStage(_cfg(assets, first_frame_in_d=False))
    assert no_ffad.D.num_frames == 3 and no_ffad.SI.use_encoder
    frames, ts = torch.randn(2, 4, 3, 32, 32), torch.tensor([[0.0, 2, 3, 5], [0.0, 1, 4, 6]])
    clip, t = no_ffad.d_input(frames, ts, x0=torch.zeros(2, 3, 32, 32))
    assert torch.equal(clip, frames[:, 1:]) and torch.equal(t, ts[:, 1:])     # the first frame is never shown
    # lambda_recon = 0 removes the first-frame loss from the objective, nothing else (other weights off here)
    with_l2 = StyleInVStage(_cfg(assets, lambda_adv=0.0, lambda_w_reg=0.0))
    without_l2 = StyleInVStage(_cfg(assets, lambda_recon=0.0, lambda_adv=0.0, lambda_w_reg=0.0))
    for stage, moves in ((with_l2, True), (without_l2, False)):
        with torch.no_grad():  # make the first frame differ from G(w0), so that Eq. 4 has something to fix
            stage.SI.head.bias.normal_(0, 0.5)
        before = stage.SI.head.weight.detach().clone()
        stage.step(1)
        assert (not torch.equal(before, stage.SI.head.weight)) == moves


def test_slowed_real_clips_replay_a_share_of_real_motion_and_only_d_learns_from_them(assets):
    """``lambda_d_slow`` (not in the paper): the step's real clips slowed to at most ``d_slow_max`` of their motion,
    with their real timestamps, become extra fakes for D (pairs that differ in motion only); StyleInV's update and
    every other random draw stay as they were."""
    stage = StyleInVStage(_cfg(assets))
    slow, ts = stage.slowed_real_clips(3)
    assert slow.shape == (4, 4, 3, 32, 32) and (ts[:, 0] == 0).all() and torch.equal(ts, ts.round())
    again, ts_again = stage.slowed_real_clips(3)
    assert torch.equal(slow, again) and torch.equal(ts, ts_again)              # a pure function of the step
    real, ts_real = stage.real_clips(3)
    assert torch.equal(ts, ts_real) and torch.equal(slow[:, 0], real[:, 0])     # the step's real clips, slowed
    assert not torch.equal(slow, real)
    # rebuild each clip from the real clip's draws: frames t0 + round(s (t_i - t0)), s in [0, 1/4)
    rng, shares = stage._rng(3, 1), stage._rng(3, 5).uniform(0.0, stage.cfg.d_slow_max, size=stage.local_batch)
    vids = rng.integers(0, stage.data.num_videos, size=stage.local_batch)
    for b, (v, share) in enumerate(zip(vids, shares)):
        start, t = stage.sampler(rng, stage.data.num_frames(int(v)))
        shown = start + np.rint(share * t).astype(np.int64)
        assert np.array_equal(t, ts[b].numpy()) and shown[-1] - shown[0] <= (t[-1] - t[0]) / 4 + 0.5
        expected = stage.data.read_frames(int(v), shown).float().div(127.5).sub(1)
        assert torch.equal(slow[b], expected)
    # on: D takes one more term, StyleInV's step is the same; off: no such term
    plain, slowed = StyleInVStage(_cfg(assets)), StyleInVStage(_cfg(assets, lambda_d_slow=1.0))
    logs_plain, logs_slowed = plain.step(0), slowed.step(0)
    assert "Loss/scores/slowed_real" in logs_slowed and "Loss/scores/slowed_real" not in logs_plain
    assert logs_plain["Loss/SI/total"] == logs_slowed["Loss/SI/total"]          # same draws, same kernels
    assert all(torch.equal(a, b) for a, b in zip(plain.SI.parameters(), slowed.SI.parameters()))
    assert logs_slowed["Loss/D/loss"] > logs_plain["Loss/D/loss"]               # a softplus term more
    assert any(not torch.equal(a, b) for a, b in zip(plain.D.parameters(), slowed.D.parameters()))
    held = StyleInVStage(_cfg(assets, d_slow_max=0.0)).slowed_real_clips(3)[0]
    assert torch.equal(held, real[:, :1].expand_as(held))                      # share 0: the real face held still
    with pytest.raises(ValueError, match="lambda_d_slow"):
        StyleInVStage(_cfg(assets, lambda_d_slow=-1.0))
    with pytest.raises(ValueError, match="d_slow_max"):
        StyleInVStage(_cfg(assets, d_slow_max=1.5))


def test_leap_penalties_charge_a_leap_and_not_steady_motion(assets):
    """``lambda_uneven`` (not in the paper): ``k·Σ‖Δ_i‖² − ‖w_k − w_0‖²`` is zero for motion at constant speed
    along a line (of any speed) and positive when the same displacement happens in one leap; the leap form charges
    only a step beyond ``tolerance`` mean steps.  On, the penalty is a term of StyleInV's objective on consecutive
    frames of the training window (D's step is untouched)."""
    from styleinv_lib.experiments import config_hash

    torch.manual_seed(0)
    w0, direction = torch.randn(3, 1, 8), torch.randn(3, 1, 8)
    steps = torch.arange(5.0)[None, :, None]
    for speed in (0.0, 0.1, 10.0):
        assert abs(float(uneven_motion(w0 + speed * steps * direction))) < 1e-3 * (1 + speed ** 2)
    leap = w0 + 4 * direction * (steps >= 4)                  # still for 3 frames, then the whole way at once
    chord = float(16 * direction.pow(2).sum(dim=2).mean())
    assert float(uneven_motion(leap)) == pytest.approx(3 * chord, rel=1e-5)   # k·|4d|² − |4d|² with k = 4
    bent = w0 + steps * direction + torch.randn(3, 5, 8)      # any deviation from a line costs
    assert float(uneven_motion(bent)) > 0
    # the leap form: the largest step beyond `tolerance` mean steps, linear in the motion, blind to smooth motion
    wave = w0 + 3 * torch.sin(steps / 2) * direction           # speed varies by cos(t/2) over 4 steps: < 2x mean
    assert float(leap_penalty(wave, 2.0)) == 0.0 and float(leap_penalty(w0 + 5 * steps * direction, 1.0)) < 1e-4
    step4 = 4 * direction.norm(dim=2).squeeze(1)              # the leap: one step of 4|d|, mean step |d|
    assert float(leap_penalty(leap, 2.0)) == pytest.approx(float((step4 - 2 * step4 / 4).mean()), rel=1e-5)
    assert float(leap_penalty(w0 + 10 * (leap - w0), 2.0)) == pytest.approx(10 * float(leap_penalty(leap, 2.0)),
                                                                        rel=1e-5)
    still = w0.expand(3, 5, 8).clone().requires_grad_(True)   # an untrained model's still video: finite gradients
    leap_penalty(still, 2.0).backward()
    assert torch.isfinite(still.grad).all()

    stage = StyleInVStage(_cfg(assets, lambda_uneven=0.5, uneven_frames=3, d_fresh_fakes=False))
    ts = stage.uneven_times(2)
    assert ts.shape == (4, 4) and torch.equal(ts[:, 1:] - ts[:, :-1], torch.ones(4, 3))
    assert (ts >= 0).all() and (ts < stage.cfg.window).all() and torch.equal(ts, stage.uneven_times(2))
    plain = StyleInVStage(_cfg(assets, d_fresh_fakes=False))
    logs, logs_plain = stage.step(0), plain.step(0)
    assert "Loss/SI/uneven" in logs and "Loss/SI/uneven" not in logs_plain
    assert logs["Loss/SI/total"] == pytest.approx(logs_plain["Loss/SI/total"] + 0.5 * logs["Loss/SI/uneven"],
                                                  rel=1e-4, abs=1e-6)
    assert logs["Loss/D/loss"] == logs_plain["Loss/D/loss"]   # D judges the clips made before StyleInV's update
    assert config_hash(_cfg(assets, lambda_uneven=0.0, uneven_frames=4)) == config_hash(_cfg(assets))
    # off, the penalty's shape changes nothing: the paper's objective keeps its hash under a preset that shapes it
    assert config_hash(_cfg(assets, uneven_frames=8, uneven_tolerance=2.0)) == config_hash(_cfg(assets))
    assert config_hash(_cfg(assets, lambda_uneven=0.5, uneven_tolerance=2.0)) != \
        config_hash(_cfg(assets, lambda_uneven=0.5))
    assert config_hash(_cfg(assets, lambda_uneven=0.5)) != config_hash(_cfg(assets))
    with pytest.raises(ValueError, match="lambda_uneven"):
        _cfg(assets, lambda_uneven=-1.0).validate()
    with pytest.raises(ValueError, match="uneven_frames"):
        _cfg(assets, uneven_frames=16).validate()
    with pytest.raises(ValueError, match="uneven_tolerance"):
        _cfg(assets, uneven_tolerance=0.5).validate()
    leaping = StyleInVStage(_cfg(assets, lambda_uneven=0.5, uneven_frames=3, uneven_tolerance=1.0,
                                 d_fresh_fakes=False))
    with torch.no_grad():                                     # make the model move, so that the leap form can bite
        for p in [leaping.SI.head.weight, *leaping.SI.adains.parameters()]:
            p.normal_(0, 0.5)
    z, seeds, ts = leaping.fake_inputs(0, 2)                  # the step's own draws, x0 and precision
    w0, x0, _, _ = leaping.generate_clip(z, seeds, ts)
    with leaping.policy.autocast():
        w_run = leaping.SI(w0, x0, seeds, leaping.uneven_times(0)).float()
    expected = float(leap_penalty(w_run, 1.0))
    assert expected > 0 and leaping.step(0)["Loss/SI/uneven"] == pytest.approx(expected, rel=1e-5)


def test_the_frame_leap_penalty_reads_the_frames_g_draws(assets):
    """``lambda_frame_leap``: the leap form measured on ``G(w_t)`` of the same consecutive window, with the jump
    ratio's step (the mean absolute change of consecutive frames), so a leap that G makes of a small step in W is
    charged too; on from ``frame_leap_kimg``."""
    from styleinv_lib.experiments import config_hash
    from styleinv_lib.metrics.groundtruth import jump_ratio

    torch.manual_seed(0)
    video = torch.rand(2, 9, 3, 8, 8) * 0.1
    steps = frame_steps(video)
    assert steps.shape == (2, 8)
    assert torch.allclose(steps[0], (video[0, 1:] - video[0, :-1]).abs().flatten(1).mean(1))
    ratio = float(steps[0].max() / steps[0].median())
    assert ratio == pytest.approx(jump_ratio(video[:1] * 2 - 1)[0], rel=1e-6)   # the metric's own step
    leap = video.clone()
    leap[:, 5:] += 0.5                                        # one frame changes far more than the rest
    assert float(leap_penalty(None, 1.5, steps=frame_steps(leap))) > 0.05
    assert float(leap_penalty(None, 1.5, steps=frame_steps(video))) < 0.05

    with pytest.raises(ValueError, match="lambda_frame_leap"):
        _cfg(assets, lambda_frame_leap=-1.0).validate()
    with pytest.raises(ValueError, match="frame_leap_tolerance"):
        _cfg(assets, lambda_frame_leap=1.0, frame_leap_tolerance=0.5).validate()
    assert config_hash(_cfg(assets, frame_leap_tolerance=3.0, frame_leap_kimg=2.0)) == config_hash(_cfg(assets))
    assert config_hash(_cfg(assets, uneven_frames=3)) == config_hash(_cfg(assets))      # both penalties off
    on = dict(lambda_frame_leap=2.0, uneven_frames=3, frame_leap_tolerance=1.0)
    assert config_hash(_cfg(assets, **on)) != config_hash(_cfg(assets, **{**on, "uneven_frames": 4}))
    assert config_hash(_cfg(assets, **on)) != config_hash(_cfg(assets, **on, frame_leap_kimg=1.0))
    stage = StyleInVStage(_cfg(assets, d_fresh_fakes=False, precision="fp32", **on))
    with torch.no_grad():                                     # make the model move, so that the penalty can bite
        for p in [stage.SI.head.weight, *stage.SI.adains.parameters()]:
            p.normal_(0, 0.5)
    z, seeds, ts = stage.fake_inputs(0, 2)
    w0, x0, _, _ = stage.generate_clip(z, seeds, ts)
    w_run = stage.SI(w0, x0, seeds, stage.uneven_times(0))
    run = stage.G.synthesis(w_run.reshape(-1, w_run.shape[-1]), noise_mode="const")
    penalty = leap_penalty(None, 1.0, steps=frame_steps(run.reshape(*w_run.shape[:2], *run.shape[1:])))
    penalty.backward()                                        # through G's frames into StyleInV, not into G
    assert stage.SI.adains[0].norm1.affine.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in stage.G.parameters())
    stage.SI.zero_grad(set_to_none=True)
    logs = stage.step(0)
    assert float(penalty) > 0 and logs["Loss/SI/frame_leap"] == pytest.approx(float(penalty.detach()), rel=1e-4)
    assert "Loss/SI/uneven" not in logs                       # the latent penalty is a separate term
    late = StyleInVStage(_cfg(assets, d_fresh_fakes=False, precision="fp32", frame_leap_kimg=0.008, **on))
    batch = late.cfg.batch                                    # off before 8 clips, on from the step that reaches them
    assert "Loss/SI/frame_leap" not in late.step(0) and ("Loss/SI/frame_leap" in late.step(8 // batch))


def test_a_runs_discriminator_scores_real_still_mixed_and_fake_clips(assets, tmp_path):
    """``train.motion_sensitivity``: a run's D, loaded back, scores the five kinds of clip reproducibly; an untrained
    StyleInV plays G(w0) held still, so D cannot tell its fakes from the same fakes held still."""
    from styleinv_lib.train.motion_sensitivity import CLIP_KINDS, discriminator_scores, load_stage, score_gaps

    fresh = StyleInVStage(_cfg(assets, precision="fp32"))   # bf16 would round G(w0) alone and in a batch apart
    scores = discriminator_scores(fresh, 2)
    assert set(scores) == set(CLIP_KINDS) and all(v.shape == (8,) for v in scores.values())
    assert fresh.D.training, "the stage is left as it was"
    still = score_gaps(scores)["fake > fake held still"]
    assert abs(still["gap"]) < 1e-3, still                  # the residual starts at zero: a still video
    assert score_gaps(scores)["real > real held still"]["gap"] != 0
    run = train_styleinv(_cfg(assets, total_kimg=0.008, snapshot_kimg=0.008), tmp_path / "run", progress=False,
                         tensorboard=False)
    loaded = load_stage(tmp_path / "run")
    for name in ("D", "SI_ema"):
        trained, back = getattr(run.stage, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(trained[k], back[k]) for k in trained), name
    a, b = discriminator_scores(loaded, 2, seed=1), discriminator_scores(loaded, 2, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in CLIP_KINDS)  # the same clips, the same scores
    assert not torch.equal(a["real"], discriminator_scores(loaded, 2, seed=2)["real"])
    gaps = score_gaps({"x": torch.tensor([1.0, 2.0, 3.0, 4.0]), "y": torch.tensor([0.0, 3.0, 1.0, 4.0])},
                      pairs=[("x", "y")])
    assert gaps == {"x > y": {"gap": 0.5, "ranked_above": 0.5}}
    with pytest.raises(FileNotFoundError, match="no snapshot"):
        load_stage(tmp_path)
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "G.safetensors").write_bytes((assets / "G.safetensors").read_bytes())
    assert load_stage(tmp_path / "run", generator=moved / "G.safetensors").cfg.generator == str(moved / "G.safetensors")
    with pytest.raises(ValueError, match="only generator, encoder and data"):
        load_stage(tmp_path / "run", lr=1.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ffa_st_resumes_bit_exactly(assets, tmp_path, precision):
    """Within one precision a resumed run equals the straight one bit for bit (bf16 autocast included)."""
    cfg = _cfg(assets, total_kimg=0.016, snapshot_kimg=0.008, precision=precision)  # 4 steps of batch 4
    straight = train_styleinv(cfg, tmp_path / "a", progress=False, tensorboard=False)
    assert straight.stage.policy.mode == precision
    half = _cfg(assets, total_kimg=0.008, snapshot_kimg=0.008, precision=precision)
    train_styleinv(half, tmp_path / "b", progress=False, tensorboard=False)
    resumed = train_styleinv(cfg, tmp_path / "b", resume="auto", progress=False, tensorboard=False)
    assert straight.step == resumed.step == 4
    for name in ("SI", "SI_ema", "D"):
        a = getattr(straight.stage, name).state_dict()
        b = getattr(resumed.stage, name).state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_training_refuses_bad_inputs(assets, tmp_path):
    with pytest.raises(ValueError, match="--encoder"):
        StyleInVStage(_cfg(assets, encoder=""))
    big = Generator(z_dim=W, w_dim=W, img_resolution=64, mapping_kwargs=dict(num_layers=2),
                    synthesis_kwargs=dict(channel_base=256, channel_max=16))
    save_snapshot(tmp_path / "G64.safetensors", stage="stylegan2", config={"stage": "stylegan2",
                                                                           "generator": big.config},
                  modules={"G_ema": big}, rng={})
    with pytest.raises(ValueError, match="encoder is for 32"):
        StyleInVStage(_cfg(assets, generator=str(tmp_path / "G64.safetensors")))
    assert cli_main(["train-styleinv", "--generator", str(assets / "G.safetensors"), "--data", str(assets / "data"),
                     "--out", str(tmp_path / "run"), "--profile", "smoke"]) == 2


@pytest.fixture(scope="module")
def small_run(assets, tmp_path_factory):
    """A StyleInV run of the small G and encoder, trained from the command line for one step."""
    run = tmp_path_factory.mktemp("si") / "si"
    assert cli_main(["train-styleinv", "--generator", str(assets / "G.safetensors"), "--encoder",
                     str(assets / "E.safetensors"), "--data", str(assets / "data"), "--out", str(run),
                     "--profile", "smoke", "--kimg", "0.008", "--max-distance", "8", "--anchor-spacing", "8",
                     "--metrics", "none", "--device", "cpu", "--quiet", "--set", "style_lr_multiplier=0.1"]) == 0
    return run


def test_cli_train_then_generate_videos(small_run, tmp_path):
    run = small_run
    assert json.loads((run / "config.json").read_text())["style_lr_multiplier"] == 0.1
    gen = load_video_generator(run)
    assert gen.info["motion_kind"] == "ffa_ape" and gen.encoder is not None
    source = load_clip_source(run)                            # what `styleinv metrics --motion RUN` uses
    clips = list(source.clips(3, 5, seed=0, batch=2))
    assert [c.shape for c in clips] == [(2, 5, 3, 32, 32), (1, 5, 3, 32, 32)] and clips[0].dtype == torch.uint8
    again = next(iter(source.clips(2, 5, seed=0, batch=2)))
    assert torch.equal(again, clips[0])
    small = export_styleinv(run, tmp_path / "si.safetensors")          # SI_ema only: what gets committed
    assert small.stat().st_size < sum(f.stat().st_size for f in run.glob("snapshot-*.safetensors"))
    w0 = gen.w0_from_seeds([3])
    assert torch.equal(load_video_generator(small).video(w0, 6, motion_seeds=[1]), gen.video(w0, 6, motion_seeds=[1]))
    out = tmp_path / "videos"
    assert cli_main(["generate", "--motion", str(run), "--num-videos", "2", "--frames", "20", "--out", str(out),
                     "--device", "cpu"]) == 0
    meta = json.loads((out / "generate.json").read_text())
    assert meta["videos"] == ["video_0000.mp4", "video_0001.mp4", "grid.mp4"]
    assert all((out / name).stat().st_size > 1000 for name in meta["videos"])


GENERATE_PEAK_MEMORY = r"""
import resource, sys
from styleinv_lib.cli import main
assert main(sys.argv[1:]) == 0
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_generation_memory_does_not_grow_with_the_number_of_frames(small_run, tmp_path):
    """Frames are streamed into the mp4 files chunk by chunk: 16x more frames, (almost) the same peak memory.
    (The small G keeps the test fast; what is kept per frame does not depend on the network's size.)"""
    import os
    import subprocess
    import sys

    def peak_kb(frames: int) -> int:
        cmd = [sys.executable, "-c", GENERATE_PEAK_MEMORY, "generate", "--motion", str(small_run), "--num-videos",
               "2", "--frames", str(frames), "--chunk", "64", "--out", str(tmp_path / f"v{frames}"), "--device", "cpu"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert res.returncode == 0, res.stderr[-2000:]
        return int(res.stdout.split("PEAK_KB")[-1])

    short, long = peak_kb(256), peak_kb(4096)
    # the old path kept every frame (float32 and uint8 copies, the grid): about +150 MB at 4,096 frames
    assert long < 1.15 * short, f"peak memory grew from {short / 1000:.0f} MB to {long / 1000:.0f} MB"
    assert long - short < 40_000, f"peak memory grew by {(long - short) / 1000:.0f} MB"


def test_two_process_gloo_run_through_torchrun(assets, tmp_path):
    """`--gpus 2` relaunches with torchrun: two CPU ranks (gloo) split the clips, rank 0 writes both RNG streams."""
    import os
    import subprocess
    import sys

    from styleinv_lib.checkpoint import RunDir, load_snapshot

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "styleinv_lib.cli", "train-styleinv", "--generator", str(assets / "G.safetensors"),
           "--encoder", str(assets / "E.safetensors"), "--data", str(assets / "data"), "--out", str(run),
           "--profile", "smoke", "--kimg", "0.008", "--max-distance", "8", "--anchor-spacing", "8", "--metrics",
           "none", "--device", "cpu", "--gpus", "2", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    snap = load_snapshot(RunDir(run).latest(), expected_stage="styleinv")
    assert snap.extra_json["loop"]["world_size"] == 2 and snap.step == 2
    assert sorted(snap.rng_ranks) == [0, 1]
    gen = load_video_generator(run)
    assert torch.isfinite(gen.video(gen.w0_from_seeds([0]), 4)).all()
