"""The autoregressive motion generator of the MoCoGAN-HD-style baseline (chapter 9) and its training stage."""
from __future__ import annotations

import pytest
import torch

from styleinv_lib.nn.autoregressive import AutoregressiveMotion

from test_styleinv import write_assets  # test_styleinv's small G and dataset


def _M() -> AutoregressiveMotion:
    torch.manual_seed(0)
    return AutoregressiveMotion(w_dim=32, hidden_dim=64, noise_dim=16)


def test_first_latent_is_w0_and_videos_are_functions_of_their_seed():
    M = _M()
    w0 = torch.randn(3, 32)
    w = M(w0, 12, motion_seeds=[5, 6, 7])
    assert w.shape == (3, 12, 32) and torch.equal(w[:, 0], w0)
    assert torch.equal(M(w0, 12, motion_seeds=[5, 6, 7]), w)                # reproducible
    other = M(w0, 12, motion_seeds=[8, 6, 7])
    assert torch.equal(other[1:], w[1:]) and not torch.allclose(other[0, 1:], w[0, 1:])
    assert torch.allclose(M(w0[1:2], 12, motion_seeds=[6])[0], w[1], atol=1e-6)  # independent of batch company
    assert (w[:, 1:] - w[:, :-1]).abs().sum(-1).min() > 0                    # it moves


def test_causal_a_longer_video_extends_a_shorter_one_and_stays_bounded():
    """Autoregressive: the first 16 latents of a 1,024-frame video are the 16-frame video; the residual stays within
    its tanh bound however long the video runs."""
    M = _M()
    w0 = torch.randn(2, 32)
    short = M(w0, 16, motion_seeds=[1, 2])
    long = M(w0, 1024, motion_seeds=[1, 2])
    assert torch.allclose(long[:, :16], short, atol=1e-6)
    residual = (long - w0[:, None]).abs()
    assert torch.isfinite(long).all() and (residual <= M.scale.abs().max() + 1e-6).all()


def test_gradients_reach_every_part_and_bad_inputs_are_refused():
    M = _M()
    w = M(torch.randn(2, 32), 6, motion_seeds=[0, 1])
    w.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in M.parameters())
    clone = AutoregressiveMotion(**M.config)
    clone.load_state_dict(M.state_dict())
    x = torch.randn(1, 32)
    assert torch.equal(clone(x, 5, [3]), M(x, 5, [3]))
    with pytest.raises(ValueError, match=r"w0 must be \(batch, 32\)"):
        M(torch.randn(2, 16), 4)
    with pytest.raises(ValueError, match="one seed per video"):
        M(torch.randn(2, 32), 4, motion_seeds=[1])


# ------------------------------------------------------------------------------------------------------------------
# Training (the stage on the shared loop)
# ------------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("autoregressive"))


def _cfg(assets, **kw):
    from styleinv_lib.train.autoregressive import config_for_profile

    return config_for_profile("smoke", data=str(assets / "data"), generator=str(assets / "G.safetensors"),
                              device="cpu", **kw)


def test_a_training_step_moves_the_motion_network_on_whole_clips(assets):
    from styleinv_lib.train.autoregressive import AutoregressiveStage

    stage = AutoregressiveStage(_cfg(assets))
    real = stage.real_clips(0)
    assert real.shape == (4, 8, 3, 32, 32) and -1 <= real.min() and real.max() <= 1
    fake = stage.fake_clips(0, 2)
    assert fake.shape == real.shape
    before = [p.clone() for p in stage.M.parameters()]
    logs = stage.step(0)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values()) and "Loss/r1_penalty" in logs
    assert any(not torch.equal(a, b) for a, b in zip(before, stage.M.parameters()))
    assert all(not p.requires_grad for p in stage.G.parameters())


def test_baseline_training_resumes_bit_exactly(assets, tmp_path):
    from styleinv_lib.train.autoregressive import train_autoregressive

    straight = train_autoregressive(_cfg(assets), tmp_path / "a", progress=False, tensorboard=False)
    train_autoregressive(_cfg(assets, total_kimg=0.008), tmp_path / "b", progress=False, tensorboard=False)
    resumed = train_autoregressive(_cfg(assets), tmp_path / "b", resume="auto", progress=False, tensorboard=False)
    assert straight.step == resumed.step == 4
    for name in ("M", "M_ema", "D"):
        a, b = getattr(straight.stage, name).state_dict(), getattr(resumed.stage, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_baseline_videos_through_the_video_generator_interface(assets, tmp_path):
    from styleinv_lib.generate import load_autoregressive_generator
    from styleinv_lib.train.autoregressive import train_autoregressive

    train_autoregressive(_cfg(assets), tmp_path / "run", progress=False, tensorboard=False)
    gen = load_autoregressive_generator(tmp_path / "run")
    w0 = gen.w0_from_seeds([1, 2])
    video, latents = gen.video(w0, 20, motion_seeds=[3, 4], return_latents=True)
    assert video.shape == (2, 20, 3, 32, 32) and torch.equal(latents[:, 0], w0)
    picked = gen.video(w0, timestamps=[19, 0, 7], motion_seeds=[3, 4])
    assert torch.allclose(picked, video[:, [19, 0, 7]], atol=1e-5)
    clips = next(iter(gen.clip_source().clips(2, 6, seed=0, batch=2)))
    assert clips.shape == (2, 6, 3, 32, 32) and clips.dtype == torch.uint8
    with pytest.raises(ValueError, match="whole-frame"):
        gen.video(w0, timestamps=[0.5], motion_seeds=[3, 4])
    # the exported file (M_ema and the config only) gives the same videos and is much smaller than the run
    from styleinv_lib.loading import resolve_checkpoint
    from styleinv_lib.train.autoregressive import export_autoregressive

    out = export_autoregressive(tmp_path / "run", tmp_path / "baseline.safetensors")
    exported = load_autoregressive_generator(out)
    assert torch.equal(exported.video(w0, 20, motion_seeds=[3, 4]), video)
    assert exported.info["step"] == gen.info["step"] == 4
    assert out.stat().st_size < resolve_checkpoint(tmp_path / "run").stat().st_size / 2
