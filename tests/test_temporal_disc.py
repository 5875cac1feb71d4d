"""The dense video discriminator of the autoregressive baselines (3-D convolutions over every frame)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from styleinv_lib.nn.temporal_disc import TemporalVideoDiscriminator
from styleinv_lib.nn.video_disc import SparseVideoDiscriminator


def _D() -> TemporalVideoDiscriminator:
    torch.manual_seed(0)
    return TemporalVideoDiscriminator(32, channel_base=256, channel_max=16)


def _flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def test_any_clip_length_gives_one_logit_per_clip_and_gradients_reach_every_frame():
    D = _D()
    for T in (1, 5, 16):
        x = torch.randn(3, T, 3, 32, 32, requires_grad=True)
        y = D(x)
        assert y.shape == (3, 1) and y.dtype == torch.float32
        y.sum().backward()
        assert (x.grad.abs().flatten(2).sum(-1) > 0).all()                 # every frame of every clip matters
    x = torch.randn(4, 8, 3, 32, 32)
    assert torch.allclose(D(x)[1:2], D(x[1:2]), atol=1e-6)                  # clips are judged independently
    clone = TemporalVideoDiscriminator(**D.config)
    clone.load_state_dict(D.state_dict())
    assert torch.equal(clone(x), D(x))


def test_it_judges_order_not_just_frames():
    D = _D()
    x = torch.randn(2, 8, 3, 32, 32)
    shuffled = x[:, torch.randperm(8, generator=torch.Generator().manual_seed(1))]
    assert not torch.allclose(D(x), D(shuffled), atol=1e-5)


def test_cost_grows_linearly_with_the_clip_while_the_sparse_d_does_not():
    """The paper's argument for sparse training (§3.4), in FLOPs: the dense D's step doubles with the clip."""
    D = _D()
    dense = {T: _flops(lambda: D(torch.randn(2, T, 3, 32, 32)).sum().backward()) for T in (16, 32, 64)}
    assert 1.9 < dense[32] / dense[16] < 2.1 and 1.9 < dense[64] / dense[32] < 2.1
    S = SparseVideoDiscriminator(32, num_frames=4, channel_base=256, channel_max=16, max_num_frames=1024)
    sparse = {T: _flops(lambda: S(torch.randn(2, 4, 3, 32, 32), t=torch.tensor([[0, 1, T // 2, T - 1]] * 2))
                        .sum().backward()) for T in (16, 1024)}
    assert sparse[16] == sparse[1024] < dense[16]


def test_bad_clips_are_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"frames must be \(batch, T, 3, 32, 32\)"):
        _D()(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="img_resolution >= 8"):
        TemporalVideoDiscriminator(4)


def test_discriminator_cost_record_is_linear_for_dense_and_flat_for_sparse():
    """The cost study behind chapter 9's plot: FLOPs and saved activations double with T for the dense D only."""
    from styleinv_lib.cost import discriminator_cost

    rec = discriminator_cost((8, 16), resolution=16, batch=1, channel_base=256, channel_max=16, repeats=1)
    rows = {(r["discriminator"], r["clip_length"]): r for r in rec["rows"]}
    assert set(rows) == {("dense", 8), ("dense", 16), ("sparse", 8), ("sparse", 16)}
    assert rows["dense", 16]["frames_seen"] == 16 and rows["sparse", 16]["frames_seen"] == 4
    assert 1.8 < rows["dense", 16]["gflops"] / rows["dense", 8]["gflops"] < 2.2
    assert 1.7 < rows["dense", 16]["activation_mb"] / rows["dense", 8]["activation_mb"] < 2.3
    assert rows["sparse", 16]["gflops"] == pytest.approx(rows["sparse", 8]["gflops"])
    assert rows["sparse", 16]["activation_mb"] == pytest.approx(rows["sparse", 8]["activation_mb"])
    assert all(r["seconds"] > 0 for r in rec["rows"]) and rec["params"]["dense"] > 0
    with pytest.raises(ValueError, match="≥ 4 frames"):
        discriminator_cost((2,), resolution=16)
