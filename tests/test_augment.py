"""Tests for styleinv_lib.train.augment: ADA's augmentation pipe (images and clips) and the p controller."""
import json
import math

import numpy as np
import pytest
import torch

from styleinv_lib.train import augment as augment_module
from styleinv_lib.train.augment import AUGMENT_PRESETS, AdaptiveAugment, AugmentParams, AugmentPipe
from styleinv_lib.train.losses import r1_penalty


def only(p=1.0, **multipliers):
    """A pipe with only the named transforms enabled."""
    return AugmentPipe(**{**AUGMENT_PRESETS["none"], **multipliers}, p=p)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def rand_images(n=8, c=3, h=16, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=gen(seed)) * 2 - 1


def reflect(i, size):
    i = np.mod(i, 2 * size)
    return np.where(i >= size, 2 * size - 1 - i, i)


# ---------------------------------------------------------------------------------------------------------------
# Identity and exact integer transforms

def test_p_zero_is_identity_for_images_and_clips():
    pipe = AugmentPipe(lumaflip=1, p=0.0)
    x = rand_images()
    assert torch.equal(pipe(x, generator=gen()), x)
    clips = torch.rand(3, 4, 3, 8, 8)
    assert torch.equal(pipe(clips), clips)
    # identity parameters through the full apply path are exact too
    assert torch.equal(pipe.apply(x, AugmentParams.identity(len(x))), x)


def test_xflip_is_exact_mirror():
    x = rand_images(n=64, h=8, w=12)
    pipe = only(xflip=1)
    params = pipe.sample_params(64, 3, 8, 12, generator=gen(1))
    y = pipe.apply(x, params)
    flipped = params.blit[:, 0, 0] < 0
    assert 10 < int(flipped.sum()) < 54            # chance 1/2 per sample at p = 1
    assert torch.equal(y[flipped], x[flipped].flip(-1))
    assert torch.equal(y[~flipped], x[~flipped])


@pytest.mark.parametrize("size", [8, 9])
def test_rotate90_is_exact_quarter_turn(size):
    x = rand_images(n=48, h=size, w=size)
    y = only(rotate90=1)(x, generator=gen(2))
    turns = []
    for xi, yi in zip(x, y):
        matches = [k for k in range(4) if torch.equal(yi, torch.rot90(xi, k, dims=(1, 2)))]
        assert len(matches) == 1
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}


def test_xint_is_exact_integer_shift_with_reflection():
    n, h, w = 24, 16, 24
    x = rand_images(n=n, h=h, w=w)
    y = only(xint=1)(x, generator=gen(3)).numpy()
    xn = x.numpy()
    shifts = []
    for i in range(n):
        found = [(dx, dy) for dx in range(-3, 4) for dy in range(-2, 3)
                 if np.array_equal(y[i], xn[i][:, reflect(np.arange(h) - dy, h)][:, :, reflect(np.arange(w) - dx, w)])]
        assert len(found) == 1, f"sample {i} is not an integer shift within ±12.5%"
        shifts.append(found[0])
    assert len(set(shifts)) > 5


def test_combined_blits_only_copy_pixels():
    x = rand_images(n=16, h=12, w=12)
    y = only(xflip=1, rotate90=1, xint=1)(x, generator=gen(4))
    for xi, yi in zip(x, y):
        src = {tuple(v) for v in xi.reshape(3, -1).T.tolist()}
        assert all(tuple(v) in src for v in yi.reshape(3, -1).T.tolist())
    assert not torch.equal(x, y)


# ---------------------------------------------------------------------------------------------------------------
# General geometry

def ramp(n=1, h=24, w=24, a=0.03, b=-0.02):
    yy, xx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    return (a * xx + b * yy).expand(n, 3, h, w).clone(), xx, yy


def test_general_transform_resamples_a_linear_image_exactly_inside():
    """Bilinear sampling and the 2×2 box average are exact on a linear image: rotation + sub-pixel shift must give
    the analytically transformed ramp away from the (reflected) borders.  Also pins the direction convention."""
    a, b = 0.03, -0.02
    x, xx, yy = ramp(a=a, b=b)
    theta, tx, ty = math.radians(30), 2.5, -1.25
    c, s = math.cos(theta), math.sin(theta)
    # inverse map: output pixel -> input pixel: undo the shift, then rotate back
    rot_inv = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    shift_inv = torch.tensor([[1.0, 0.0, -tx], [0.0, 1.0, -ty], [0.0, 0.0, 1.0]])
    params = AugmentParams.identity(1)
    params.geom = (rot_inv @ shift_inv)[None]
    params.geom_mask = torch.tensor([True])
    y = AugmentPipe().apply(x, params)
    sx = c * (xx - tx) + s * (yy - ty)
    sy = -s * (xx - tx) + c * (yy - ty)
    expected = a * sx + b * sy
    inside = (sx.abs() < 9) & (sy.abs() < 9)
    assert inside.sum() > 200
    torch.testing.assert_close(y[0, 0][inside], expected[inside], atol=1e-5, rtol=0)
    # a pure translation by +2.5 px moves content right: out(x) = in(x - 2.5)
    params.geom = shift_inv[None]
    y = AugmentPipe().apply(x, params)
    torch.testing.assert_close(y[0, 0, 4:-4, 4:-4], (a * (xx - tx) + b * (yy - ty))[4:-4, 4:-4], atol=1e-5, rtol=0)


def test_nonsquare_images_and_bad_shapes():
    pipe = AugmentPipe(lumaflip=1, p=1.0)
    x = rand_images(n=6, h=10, w=14)
    assert pipe(x).shape == x.shape
    with pytest.raises(ValueError):
        pipe(torch.rand(3, 8, 8))
    with pytest.raises(ValueError):
        only(brightness=1)(torch.rand(2, 4, 8, 8))     # colour needs 1 or 3 channels


# ---------------------------------------------------------------------------------------------------------------
# Everything on

def smooth_images(n=32, h=32, w=32, seed=0):
    g = gen(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    freq = torch.rand(n, 3, 2, generator=g) * 6
    phase = torch.rand(n, 3, 1, 1, generator=g) * 6.28
    return 0.8 * torch.sin(freq[..., 0, None, None] * xx + freq[..., 1, None, None] * yy + phase)


def test_all_transforms_change_images_and_keep_them_finite_and_in_range():
    x = smooth_images()
    pipe = AugmentPipe(**AUGMENT_PRESETS["bgc"], p=1.0)
    y = pipe(x, generator=gen(5))
    assert torch.isfinite(y).all()
    changed = (y - x).flatten(1).abs().amax(1) > 1e-3
    assert changed.float().mean() > 0.9
    assert y.abs().quantile(0.99) < 4.0                  # colour transforms can leave [-1, 1], but not by much
    assert 0.3 < y.std() / x.std() < 3.0


def test_default_pipe_has_official_bgc_minus_lumaflip():
    pipe = AugmentPipe()
    bgc = AUGMENT_PRESETS["bgc"]
    assert all(getattr(pipe, k) == v for k, v in bgc.items() if k != "lumaflip")
    assert pipe.lumaflip == 0 and bgc["lumaflip"] == 1
    assert float(pipe.p) == 0.0 and "p" in pipe.state_dict()


# ---------------------------------------------------------------------------------------------------------------
# Clips

def test_clip_frames_share_parameters_and_clips_differ():
    frame = smooth_images(n=1, h=16, w=16)[0]
    clips = frame.expand(8, 5, 3, 16, 16).clone()        # 8 identical clips of 5 identical frames
    y = AugmentPipe(lumaflip=1, p=1.0)(clips, generator=gen(6))
    for clip in y:
        assert all(torch.equal(clip[0], clip[t]) for t in range(1, 5))
    distinct = {tuple(clip[0].flatten()[:64].tolist()) for clip in y}
    assert len(distinct) >= 6


def test_clip_equals_each_frame_with_the_clip_parameters():
    clips = torch.rand(4, 3, 3, 12, 12, generator=gen(7)) * 2 - 1
    pipe = AugmentPipe(lumaflip=1, p=1.0)
    params = pipe.sample_params(4, 3, 12, 12, generator=gen(8))
    y = pipe.apply(clips, params)
    for t in range(3):
        torch.testing.assert_close(y[:, t], pipe.apply(clips[:, t], params), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------------------------
# Randomness, probabilities, gradients

def test_same_generator_seed_reproduces():
    pipe = AugmentPipe(lumaflip=1, p=0.7)
    x = rand_images()
    assert torch.equal(pipe(x, generator=gen(9)), pipe(x, generator=gen(9)))
    assert not torch.equal(pipe(x, generator=gen(9)), pipe(x, generator=gen(10)))


@pytest.mark.parametrize("name, multiplier, p, expected", [
    ("xflip", 1.0, 0.4, 0.2),       # applied with p*m, and then flips with chance 1/2
    ("rotate90", 1.0, 0.4, 0.3),    # then k ≠ 0 with chance 3/4
    ("rotate", 1.0, 0.3, 0.3),      # two rotations, but P(any) = p*m
    ("scale", 0.5, 0.6, 0.3),
])
def test_probability_multipliers(name, multiplier, p, expected):
    n = 6000
    pipe = only(p=p, **{name: multiplier})
    params = pipe.sample_params(n, 3, 8, 8, generator=gen(11))
    if name in ("xflip", "rotate90"):
        hit = (params.blit - torch.eye(3)).abs().flatten(1).amax(1) > 0
    else:
        hit = params.geom_mask
    assert abs(hit.float().mean().item() - expected) < 0.025


def test_gradients_flow_to_the_input():
    pipe = AugmentPipe(lumaflip=1, p=1.0)
    x = rand_images(n=4).requires_grad_(True)
    weights = torch.rand(4, 3, 16, 16)
    (pipe(x, generator=gen(12)) * weights).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # exact check of the linear map's adjoint
    params = pipe.sample_params(2, 3, 6, 6, generator=gen(13))
    params.geom_mask[:] = True
    x64 = torch.rand(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pipe.apply(t, params), (x64,))


def test_r1_through_augmentation_double_backward_matches_finite_differences():
    """R1 of augmented reals is differentiated through the pipe twice (D's weights get d/dw of |∂D/∂x|²)."""
    torch.manual_seed(0)
    pipe = AugmentPipe(lumaflip=1, p=1.0)
    params = pipe.sample_params(3, 3, 8, 8, generator=gen(14))
    params.geom_mask[:] = True
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    w = torch.randn(3, 3, 3, 3, dtype=torch.float64, requires_grad=True)

    def r1(weight):
        xr = x.clone().requires_grad_(True)
        feats = torch.nn.functional.conv2d(pipe.apply(xr, params), weight, padding=1)
        logits = torch.nn.functional.softplus(feats).flatten(1).sum(1)
        return r1_penalty(logits, xr)

    r1(w).backward()
    direction = torch.randn_like(w)
    eps = 1e-5
    wd = w.detach()
    numeric = (r1(wd + eps * direction) - r1(wd - eps * direction)).detach() / (2 * eps)
    assert abs((w.grad * direction).sum().item() - numeric.item()) < 1e-6 * max(1.0, abs(numeric.item()))


def graph_node_names(t: torch.Tensor) -> set[str]:
    names, seen, stack = set(), set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(n for n, _ in node.next_functions)
    return names


def test_resampling_brings_its_own_second_derivative():
    """torch < 2.12 has no derivative of ``grid_sampler_2d_backward``: on an H200 with torch 2.11, R1 crashed at the
    first geometrically augmented real.  The R1 graph must not need torch's one, and ours must be exact."""
    pipe = AugmentPipe(lumaflip=1, p=1.0)
    params = pipe.sample_params(2, 3, 6, 6, generator=gen(16))
    params.geom_mask[:] = True
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(pipe.apply(x, params).square().sum(), x, create_graph=True)
    names = graph_node_names(g)
    assert "_GridSampleAdjointBackward" in names
    assert not {"GridSampler2DBackward0", "GridSampler2DBackwardBackward0"} & names
    assert torch.autograd.gradgradcheck(lambda t: pipe.apply(t, params), (x,))
    # the same numbers as torch's own sampler, forward and backward
    grid = torch.rand(2, 5, 7, 2, dtype=torch.float64) * 2.4 - 1.2
    xs = x.detach().requires_grad_(True)
    native = torch.nn.functional.grid_sample(xs, grid, padding_mode="reflection", align_corners=False)
    ours = augment_module._GridSample.apply(x, grid)
    torch.testing.assert_close(ours, native, rtol=0, atol=0)
    w = torch.randn_like(native)
    torch.testing.assert_close(torch.autograd.grad(ours, x, w)[0], torch.autograd.grad(native, xs, w)[0],
                               rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------------------
# Colour

def colourful(n=16, h=8, w=8, seed=15):
    return torch.rand(n, 3, h, w, generator=gen(seed)) * 1.6 - 0.8


def test_brightness_only_shifts_every_value_by_one_constant():
    x = colourful()
    y = only(brightness=1)(x, generator=gen(16))
    delta = (y - x).flatten(1)
    torch.testing.assert_close(delta, delta[:, :1].expand_as(delta), atol=1e-6, rtol=0)
    assert (delta[:, 0].abs() > 1e-3).sum() >= 10         # the mean moved for (almost) every sample


def test_contrast_only_scales_around_grey():
    x = colourful()
    y = only(contrast=1)(x, generator=gen(17))
    ratio = (y / x).flatten(1)
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5, rtol=1e-5)
    assert (ratio[:, 0] > 0).all() and ((ratio[:, 0] - 1).abs() > 1e-3).sum() >= 10


def test_saturation_only_keeps_grey_grey_and_luma_fixed():
    grey = (torch.rand(16, 1, 8, 8, generator=gen(18)) * 2 - 1).expand(16, 3, 8, 8)
    y = only(saturation=1)(grey, generator=gen(19))
    torch.testing.assert_close(y, grey, atol=1e-6, rtol=0)
    x = colourful()
    y = only(saturation=1)(x, generator=gen(19))
    torch.testing.assert_close(y.mean(1), x.mean(1), atol=1e-5, rtol=0)
    assert ((y - x).abs().flatten(1).amax(1) > 1e-2).sum() >= 10


def test_hue_only_keeps_luma_and_chroma_magnitude():
    x = colourful()
    y = only(hue=1)(x, generator=gen(20))
    torch.testing.assert_close(y.mean(1), x.mean(1), atol=1e-5, rtol=0)
    chroma = lambda t: (t - t.mean(1, keepdim=True)).norm(dim=1)
    torch.testing.assert_close(chroma(y), chroma(x), atol=1e-5, rtol=0)   # a rotation around the grey axis
    assert ((y - x).abs().flatten(1).amax(1) > 1e-2).sum() >= 10


def test_lumaflip_negates_grey():
    grey = (torch.rand(32, 1, 6, 6, generator=gen(21)) * 2 - 1).expand(32, 3, 6, 6)
    y = only(lumaflip=1)(grey, generator=gen(22))
    negated = torch.tensor([torch.allclose(a, -b, atol=1e-6) for a, b in zip(y, grey)])
    same = torch.tensor([torch.equal(a, b) for a, b in zip(y, grey)])
    assert (negated | same).all() and negated.sum() >= 8 and same.sum() >= 8


def test_single_channel_images():
    x = torch.rand(8, 1, 10, 10, generator=gen(23)) * 2 - 1
    y = AugmentPipe(lumaflip=1, p=1.0)(x, generator=gen(24))
    assert y.shape == x.shape and torch.isfinite(y).all()
    y = only(brightness=1)(x, generator=gen(25))
    delta = (y - x).flatten(1)
    torch.testing.assert_close(delta, delta[:, :1].expand_as(delta), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------------------------
# The ADA controller

def test_ada_raises_p_when_d_overfits_with_the_exact_step():
    pipe = AugmentPipe()
    ada = AdaptiveAugment(pipe, target=0.6, ada_kimg=500, interval=4)
    for i in range(3):
        ada.accumulate(torch.ones(32))
        assert ada.step(32) == 0.0                      # no adjustment inside an interval
    ada.accumulate(torch.ones(32))
    assert ada.step(32) == pytest.approx(32 * 4 / 500_000, abs=1e-15)
    assert ada.rt == 1.0
    assert float(pipe.p) == pytest.approx(ada.p, abs=1e-7)


def test_ada_lowers_p_and_clamps_to_unit_interval():
    ada = AdaptiveAugment(p=0.5, interval=2, ada_kimg=100)
    for _ in range(2):
        ada.accumulate(-torch.ones(16, 1))
        ada.step(16)
    assert ada.p == pytest.approx(0.5 - 32 / 100_000, abs=1e-15) and ada.rt == -1.0
    low = AdaptiveAugment(p=0.0001, interval=1, ada_kimg=1)
    low.accumulate(-torch.ones(8))
    assert low.step(64) == 0.0
    high = AdaptiveAugment(p=0.9999, interval=1, ada_kimg=1)
    high.accumulate(torch.ones(8))
    assert high.step(64) == 1.0


def test_ada_on_target_or_without_logits_keeps_p():
    ada = AdaptiveAugment(p=0.25, target=0.5, interval=1)
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))   # rt = 0.5 exactly
    assert ada.step(4) == 0.25 and ada.rt == 0.5
    assert ada.step(4) == 0.25                              # an interval with no reports: no change


def test_ada_state_dict_round_trip_continues_identically():
    g = gen(26)
    bias = [1.0] * 10 + [-1.0] * 4 + [1.0] * 10                # up, briefly down, up again
    stream = [torch.randn(16, generator=g) + b for b in bias]
    a = AdaptiveAugment(AugmentPipe(), interval=4, ada_kimg=2)
    for logits in stream[:6]:                               # stop mid-interval, with signs pending
        a.accumulate(logits)
        a.step(16)
    state = json.loads(json.dumps(a.state_dict()))          # plain numbers only
    b = AdaptiveAugment(AugmentPipe(), interval=99)
    b.load_state_dict(state)
    assert float(b.pipe.p) == pytest.approx(a.p)
    assert b.state_dict() == a.state_dict() and a.state_dict()["sign_count"] == 32   # pending signs kept
    for logits in stream[6:]:
        a.accumulate(logits)
        b.accumulate(logits)
        assert a.step(16) == b.step(16)
    assert 0 < a.p < 1 and a.state_dict() == b.state_dict()
