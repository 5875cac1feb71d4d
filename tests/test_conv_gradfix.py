"""Tests for styleinv_lib.nn.conv_gradfix: convolutions whose derivatives, to the second order, are plain
convolutions, equal to torch's own derivatives."""
import collections

import pytest
import torch
import torch.nn.functional as F

from styleinv_lib.nn import conv_gradfix

CASES = [  # (transposed, channels in, channels out, kernel, stride, padding, groups, size)
    (False, 4, 6, 3, 1, 1, 1, 7),
    (False, 4, 6, 3, 2, 0, 2, 8),       # strided: the input gradient needs an output padding
    (False, 4, 4, 4, 1, 0, 4, 9),       # depthwise, like the FIR filters of upfirdn2d
    (False, 4, 6, 1, 1, 0, 1, 5),
    (True, 4, 6, 3, 2, 0, 2, 5),        # the stride-2 transposed convolution of the upsampling layers
]


def operands(transposed, cin, cout, k, stride, padding, groups, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, cin, size, size, dtype=torch.float64, generator=g)
    shape = (cin, cout // groups, k, k) if transposed else (cout, cin // groups, k, k)
    w = torch.randn(*shape, dtype=torch.float64, generator=g)
    return x.requires_grad_(True), w.requires_grad_(True)


def apply(transposed, x, w, stride, padding, groups, native=False):
    if native:
        fn = F.conv_transpose2d if transposed else F.conv2d
    else:
        fn = conv_gradfix.conv_transpose2d if transposed else conv_gradfix.conv2d
    return fn(x, w, stride=stride, padding=padding, groups=groups)


def node_names(t):
    names, seen, stack = collections.Counter(), set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names[type(node).__name__] += 1
        stack.extend(n for n, _ in node.next_functions)
    return names


def test_off_by_default_and_switched_on_only_inside_the_block():
    x, w = operands(*CASES[0])
    assert not conv_gradfix.is_enabled()
    y = conv_gradfix.conv2d(x, w, padding=1)
    assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
    with conv_gradfix.enabled():
        assert conv_gradfix.is_enabled()
        assert type(conv_gradfix.conv2d(x, w, padding=1).grad_fn).__name__ == "_ConvBackward"
    assert not conv_gradfix.is_enabled()


@pytest.mark.parametrize("case", CASES)
def test_first_and_second_derivatives_equal_torchs(case):
    transposed, cin, cout, k, stride, padding, groups, size = case
    x, w = operands(*case)
    outs = {}
    for native in (True, False):
        with conv_gradfix.enabled(not native):
            y = apply(transposed, x, w, stride, padding, groups, native=native)
            gy = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
            gx, gw = torch.autograd.grad(y, (x, w), gy, create_graph=True)
            # an R1-like penalty on the input gradient, differentiated with respect to the weight and the input
            penalty = gx.square().sum() + (gw * gw.detach().flip(0)).sum()
            ggx, ggw = torch.autograd.grad(penalty, (x, w))
            outs[native] = (y, gx, gw, ggx, ggw)
            if not native:
                names = node_names(gx) + node_names(gw)
                assert "ConvolutionBackwardBackward0" not in names and "ConvolutionBackward0" not in names
    for a, b in zip(outs[True], outs[False]):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[4]])
def test_gradgradcheck(case):
    transposed, cin, cout, k, stride, padding, groups, size = case
    x, w = operands(*case)
    with conv_gradfix.enabled():
        fn = lambda a, b: apply(transposed, a, b, stride, padding, groups)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, w))
        assert torch.autograd.gradgradcheck(fn, (x, w))


def test_autocast_computes_in_the_autocast_dtype_like_torch():
    x, w = (t.detach().float().requires_grad_(True) for t in operands(*CASES[0]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        native = F.conv2d(x, w, padding=1)
        with conv_gradfix.enabled():
            ours = conv_gradfix.conv2d(x, w, padding=1)
    assert ours.dtype == native.dtype == torch.bfloat16
    torch.testing.assert_close(ours, native, rtol=0, atol=0)
    gx = torch.autograd.grad(ours.float().sum(), x)[0]
    assert gx.dtype == torch.float32 and torch.isfinite(gx).all()


def test_the_regularisers_take_the_gradfix_on_the_cpu_only():
    assert conv_gradfix.pays_on("cpu") and conv_gradfix.pays_on(torch.device("cpu"))
    assert not conv_gradfix.pays_on("cuda") and not conv_gradfix.pays_on("cuda:1")


def test_a_stylegan2_r1_step_with_the_gradfix_matches_the_plain_one(tmp_path, gradfix_calls):
    """D's and G's convolutions all pass through ``nn.layers``: on the CPU the stage's R1 and path-length steps go
    through the gradfix, and give the same losses and the same updated G and D as torch's own rule (float rounding
    aside)."""
    import styleinv_lib.data as data
    from styleinv_lib.train.stylegan2 import StyleGAN2Stage, config_for_profile

    data.export_synthfaces(tmp_path / "faces", num_videos=2, num_frames=8, resolution=32, progress=False)
    cfg = config_for_profile("smoke", data=str(tmp_path / "faces"), metrics="", r1_interval=1, pl_weight=1.0,
                             pl_interval=1, augment="none")
    results = []
    for on in (False, True):
        torch.manual_seed(0)
        stage = StyleGAN2Stage(cfg)
        assert stage.regulariser_gradfix                # the CPU's default
        stage.regulariser_gradfix = on
        gradfix_calls.clear()
        logs = stage.step(0)
        assert (gradfix_calls["conv"] >= 10) == on and (gradfix_calls["conv"] == 0) != on, gradfix_calls
        assert not conv_gradfix.is_enabled()            # only inside the regularisers
        results.append((logs, [p.detach().clone() for p in (*stage.D.parameters(), *stage.G.parameters())]))
    (logs_a, d_a), (logs_b, d_b) = results
    real = torch.rand(2, 3, 32, 32, requires_grad=True)
    with conv_gradfix.enabled():
        (grad,) = torch.autograd.grad(stage.D(real).sum(), real, create_graph=True)
    names = node_names(grad)
    assert names["_ConvBackward"] >= 10 and "ConvolutionBackward0" not in names
    assert {"Loss/r1_penalty", "Loss/pl_penalty"} <= logs_a.keys() and logs_a.keys() == logs_b.keys()
    for key in logs_a:
        assert logs_b[key] == pytest.approx(logs_a[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(d_a, d_b):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
