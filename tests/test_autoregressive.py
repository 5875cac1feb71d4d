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


def test_causal_a_longer_video_extends_a_shorter_one_with_bounded_steps():
    """Autoregressive: the first 16 latents of a 1,024-frame video are the 16-frame video; each step is at most
    ``λ · |P|`` per coordinate (tanh bound), and the walk stays finite."""
    M = _M()
    M.set_basis(torch.diag(torch.linspace(0.5, 2.0, 32)))
    w0 = torch.randn(2, 32)
    short = M(w0, 16, motion_seeds=[1, 2])
    long = M(w0, 1024, motion_seeds=[1, 2])
    assert torch.allclose(long[:, :16], short, atol=1e-6)
    steps = (long[:, 1:] - long[:, :-1]).abs()
    bound = M.step_scale * M.basis.abs().sum(0)
    assert torch.isfinite(long).all() and (steps <= bound + 1e-5).all()


def test_an_untrained_network_barely_moves_and_a_zero_network_stays_at_w0():
    """A's small initialisation (MoCoGAN-HD's std 0.02) keeps the first steps far below W's spread, so training
    starts from near-still videos of the right subject instead of a jump away from it."""
    M = _M()
    w0 = torch.randn(4, 32)
    w = M(w0, 16, motion_seeds=[0, 1, 2, 3])
    first_step = (w[:, 1] - w0).norm(dim=-1)
    subjects_apart = torch.cdist(w0, w0)[~torch.eye(4, dtype=torch.bool)].min()
    assert 0 < first_step.max() < 0.05 * subjects_apart
    with torch.no_grad():
        M.to_step.weight.zero_()
    assert torch.equal(M(w0, 16, motion_seeds=[0, 1, 2, 3]), w0[:, None].expand(-1, 16, -1))


def test_principal_basis_recovers_the_axes_and_spreads_of_the_latents():
    gen = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen))
    spreads = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    w = (torch.randn(20_000, 6, generator=gen) * spreads) @ rotation.T + 5.0
    from styleinv_lib.nn.autoregressive import principal_basis

    P = principal_basis(w)
    assert torch.allclose(P.norm(dim=1), spreads, rtol=0.03)                     # rows scaled by their std
    cos = (P / P.norm(dim=1, keepdim=True)) @ rotation                           # rows along the true axes
    assert torch.allclose(cos.abs().diagonal(), torch.ones(6), atol=0.02)
    M = _M()
    with pytest.raises(ValueError, match=r"basis must be \(32, 32\)"):
        M.set_basis(P)
    with pytest.raises(ValueError, match="N >= 2"):
        principal_basis(torch.randn(1, 6))


def test_gradients_reach_every_part_and_bad_inputs_are_refused():
    M = _M()
    w = M(torch.randn(2, 32), 6, motion_seeds=[0, 1])
    w.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in M.parameters())
    M.set_basis(torch.randn(32, 32))
    clone = AutoregressiveMotion(**M.config)
    clone.load_state_dict(M.state_dict())                                         # the basis travels with it
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
    # the steps follow G's own W: its principal basis, shared with the EMA copy, is far from the identity
    spreads = stage.M.basis.norm(dim=1)
    assert torch.equal(stage.M.basis, stage.M_ema.basis) and (spreads[:-1] >= spreads[1:] - 1e-6).all()
    assert not torch.allclose(stage.M.basis, torch.eye(stage.G.w_dim), atol=0.1)
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
    # what `styleinv metrics --motion RUN` evaluates: the baseline is a clip source like StyleInV
    from styleinv_lib.generate import load_clip_source

    source = load_clip_source(tmp_path / "run")
    assert torch.equal(next(iter(source.clips(2, 6, seed=0, batch=2))), clips)
    with pytest.raises(ValueError, match="cannot generate videos for the metrics"):
        load_clip_source(assets / "E.safetensors")                    # an encoder makes no videos
    assert out.stat().st_size < resolve_checkpoint(tmp_path / "run").stat().st_size / 2
