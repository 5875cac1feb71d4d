"""Tests for styleinv_lib.train.losses against hand-derived values: logistic losses, R1, path length, lazy Adam."""
import math

import pytest
import torch

from styleinv_lib.train.losses import (
    PathLengthRegularizer, adjusted_adam_params, d_logistic_loss, default_pl_weight, default_r1_gamma,
    g_nonsaturating_loss, lazy_interval_scale, paper_pl_weight, r1_penalty,
)


def softplus(v):
    return math.log1p(math.exp(v))


def test_logistic_losses_closed_form():
    real = torch.tensor([0.0, 2.0])
    fake = torch.tensor([-1.0, 3.0, 0.5])               # batches of different sizes
    expected_d = (softplus(-1) + softplus(3) + softplus(0.5)) / 3 + (softplus(-0.0) + softplus(-2)) / 2
    assert d_logistic_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = (softplus(1) + softplus(-3) + softplus(-0.5)) / 3
    assert g_nonsaturating_loss(fake).item() == pytest.approx(expected_g, rel=1e-6)
    # -log σ(x) form, and stability at huge logits
    assert g_nonsaturating_loss(torch.tensor([0.0])).item() == pytest.approx(math.log(2))
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(d_logistic_loss(big, big)) and d_logistic_loss(big, big).item() == pytest.approx(1e4)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (2, 3, 2, 4, 4)])     # images and clips
def test_r1_linear_discriminator(shape):
    """logits = Σ w·x  ⇒  ∂logits/∂x = w  ⇒  R1 = |w|² for every sample, and d mean(R1)/dw = 2w."""
    x = torch.randn(shape, requires_grad=True)
    w = torch.randn(shape[1:], requires_grad=True)
    logits = (w * x).flatten(1).sum(1)
    per_sample = r1_penalty(logits, x, reduction="none")
    assert per_sample.shape == (shape[0],)
    torch.testing.assert_close(per_sample, w.detach().square().sum().expand(shape[0]), rtol=1e-5, atol=0)
    logits = (w * x).flatten(1).sum(1)
    r1_penalty(logits, x).backward()
    torch.testing.assert_close(w.grad, 2 * w.detach(), rtol=1e-5, atol=1e-6)


def test_r1_is_per_sample():
    """logits = ½|x|²  ⇒  gradient x  ⇒  R1_i = |x_i|²."""
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    logits = 0.5 * x.square().flatten(1).sum(1)
    torch.testing.assert_close(r1_penalty(logits, x, reduction="none"), x.detach().square().flatten(1).sum(1))
    assert r1_penalty(0.5 * x.square().flatten(1).sum(1), x, reduction="sum").item() == pytest.approx(
        x.detach().square().sum().item(), rel=1e-5)
    with pytest.raises(ValueError):
        r1_penalty(torch.zeros(3), torch.zeros(3, 2, 4, 4))


def test_default_r1_gamma_heuristic():
    assert default_r1_gamma(64, 32) == pytest.approx(0.0256)
    assert default_r1_gamma(256, 16) == pytest.approx(0.8192)
    assert default_r1_gamma(1024, 32) == pytest.approx(6.5536)


# ---------------------------------------------------------------------------------------------------------------
# Path length

def linear_generator(n=3, num_ws=4, w_dim=5, c=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(c * h * w, num_ws * w_dim, generator=g, dtype=torch.float64)
    ws = torch.randn(n, num_ws, w_dim, generator=g, dtype=torch.float64, requires_grad=True)
    img = (ws.reshape(n, -1) @ A.T).reshape(n, c, h, w)
    return A, ws, img


def manual_lengths(A, y, num_ws, w_dim, h, w):
    """J = A for img = A·w, so Jᵀ(y/√(HW)) = Aᵀ y / √(HW), reshaped to (num_ws, w_dim)."""
    jt_y = (y.reshape(y.shape[0], -1) @ A / math.sqrt(h * w)).reshape(-1, num_ws, w_dim)
    return jt_y.square().sum(-1).mean(-1).sqrt()


def test_path_length_penalty_matches_manual_linear_generator():
    A, ws, img = linear_generator()
    y1 = torch.randn(img.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reg = PathLengthRegularizer(decay=0.01).double()
    lengths = manual_lengths(A, y1, 4, 5, 8, 8)
    torch.testing.assert_close(reg.lengths(img, ws, noise=y1), lengths)
    pen = reg.penalty(img, ws, reduction="none", noise=y1)
    a1 = 0.0 + 0.01 * (lengths.mean() - 0.0)                         # lerp from pl_mean = 0
    torch.testing.assert_close(pen, (lengths - a1).square())
    assert reg.pl_mean.item() == pytest.approx(a1.item(), rel=1e-12)
    # second call: the EMA moves from a1 towards the new mean
    y2 = torch.randn(img.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    lengths2 = manual_lengths(A, y2, 4, 5, 8, 8)
    pen2 = reg.penalty(img, ws, noise=y2)
    a2 = a1 + 0.01 * (lengths2.mean() - a1)
    assert reg.pl_mean.item() == pytest.approx(a2.item(), rel=1e-12)
    assert pen2.item() == pytest.approx((lengths2 - a2).square().mean().item(), rel=1e-10)


def test_path_length_backprops_to_generator_weights_and_state_round_trips():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(3 * 8 * 8, 6, generator=g, requires_grad=True)
    ws = torch.randn(4, 6, generator=g, requires_grad=True)           # a single w per sample: (N, w_dim)
    img = (ws @ A.T).reshape(4, 3, 8, 8)
    reg = PathLengthRegularizer()
    y = torch.randn(img.shape, generator=g)
    lengths = reg.lengths(img, ws, noise=y)
    manual = (y.reshape(4, -1) @ A.detach() / 8.0).norm(dim=1)
    torch.testing.assert_close(lengths, manual, rtol=1e-5, atol=1e-6)
    reg.penalty(img, ws, noise=y).backward()
    assert A.grad is not None and A.grad.abs().sum() > 0
    state = reg.state_dict()
    assert set(state) == {"pl_mean"} and state["pl_mean"].item() > 0
    fresh = PathLengthRegularizer()
    fresh.load_state_dict(state)
    assert fresh.pl_mean.item() == reg.pl_mean.item()
    # random probes are reproducible with a generator
    _, ws2, img2 = linear_generator()
    r1 = PathLengthRegularizer().double().lengths(img2, ws2, generator=torch.Generator().manual_seed(5))
    r2 = PathLengthRegularizer().double().lengths(img2, ws2, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(r1, r2)
    assert reg.batch_size(32) == 16 and reg.batch_size(1) == 1


def test_pl_weight_2_equals_the_paper_formula():
    """2 · (normalised length)² == ln2/(r²(ln r − ln2)) · (unnormalised, w-summed length)²
    whenever num_ws = 2·log2(r) − 2 (StyleGAN2's number of w copies)."""
    assert default_pl_weight() == 2.0
    for r in (8, 16, 64, 256, 1024):
        num_ws = 2 * int(math.log2(r)) - 2
        assert 2.0 / (num_ws * r * r) == pytest.approx(paper_pl_weight(r), rel=1e-12)
    r, num_ws, w_dim = 8, 4, 5
    A, ws, img = linear_generator(num_ws=num_ws, w_dim=w_dim, h=r, w=r)
    y = torch.randn(img.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    normalised = PathLengthRegularizer().double().lengths(img, ws, noise=y)
    unnormalised_sq = (y.reshape(3, -1) @ A).square().sum(1)          # ‖Jᵀy‖² over all w copies, raw probe
    torch.testing.assert_close(2.0 * normalised.square(), paper_pl_weight(r) * unnormalised_sq)


# ---------------------------------------------------------------------------------------------------------------
# Lazy regularisation

def test_lazy_regularisation_helpers():
    assert lazy_interval_scale(16) == 16.0 and lazy_interval_scale(None) == 1.0 and lazy_interval_scale(0) == 1.0
    lr, betas = adjusted_adam_params(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17, rel=1e-12) and lr == pytest.approx(0.00235294117647, rel=1e-9)
    assert betas[0] == 0.0 and betas[1] == pytest.approx(0.99 ** (16 / 17), rel=1e-12)
    assert betas[1] == pytest.approx(0.990585457, rel=1e-8)
    lr, betas = adjusted_adam_params(0.0025, [0.0, 0.99], 4)
    assert lr == pytest.approx(0.002) and betas == pytest.approx((0.0, 0.99 ** 0.8))
    assert adjusted_adam_params(0.002, (0.5, 0.9), None) == (0.002, (0.5, 0.9))
