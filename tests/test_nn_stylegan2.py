"""StyleGAN2 networks (styleinv_lib.nn): FIR resampling, equalised lr, modulation/demodulation, mapping and w̄,
truncation, style mixing, noise, generator/discriminator shapes and composition, precision and memory format.

Everything is tiny (w_dim 32, at most 32 channels) so the file runs in seconds on two CPU cores."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from styleinv_lib.nn.layers import (
    EqualConv2d, EqualLinear, MinibatchStd, ModulatedConv2d, bias_act, conv2d_resample, downsample2d,
    leaky_relu_gain,
    modulated_conv2d, setup_filter, upfirdn2d, upsample2d,
)
from styleinv_lib.nn.stylegan2 import Discriminator, DiscriminatorBlock, Generator, style_mix

W = 32  # z_dim = w_dim of the test generators


def tiny_G(res=32, **synthesis):
    synthesis = {"channel_base": 16 * res, "channel_max": 32, **synthesis}
    return Generator(z_dim=W, w_dim=W, img_resolution=res, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=synthesis)


def tiny_D(res=32, **kw):
    return Discriminator(res, channel_base=16 * res, channel_max=32, **kw)


def set_noise_strength(G, value):
    for block in G.synthesis.blocks:
        for layer in (block.conv0, block.conv1):
            if layer is not None:
                layer.noise_strength.data.fill_(value)


# ------------------------------------------------------------------------------------------------ FIR resampling

def naive_upfirdn(x, f, up, down, pad):
    """Straight from the definition: zero insertion, zero padding (negative = crop), true convolution, decimation."""
    h, w = x.shape
    u = np.zeros((h * up, w * up))
    u[::up, ::up] = x
    left, right, top, bottom = pad
    u = np.pad(u, ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))))
    u = u[max(-top, 0): u.shape[0] - max(-bottom, 0), max(-left, 0): u.shape[1] - max(-right, 0)]
    fh, fw = f.shape
    out = np.zeros((u.shape[0] - fh + 1, u.shape[1] - fw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            # convolution: out[i, j] = sum_{a, b} u[i + a, j + b] * f[fh - 1 - a, fw - 1 - b]
            out[i, j] = sum(u[i + a, j + b] * f[fh - 1 - a, fw - 1 - b] for a in range(fh) for b in range(fw))
    return out[::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, (0, 3, 1, 2)),
                                         (1, 1, (1, -1, 0, 2))])
def test_upfirdn2d_matches_naive_reference(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 5))
    f = rng.standard_normal((4, 3))       # asymmetric, non-square: a flip or transpose mistake shows
    ours = upfirdn2d(torch.from_numpy(x)[None, None], torch.from_numpy(f), up=up, down=down, pad=pad)[0, 0]
    ref = naive_upfirdn(x, f, up, down, pad)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)


def test_filter_normalised_and_resampling_keeps_constants():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(f.sum().item() - 1) < 1e-7
    assert torch.allclose(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)
    x = torch.full((1, 2, 8, 8), 0.7)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.tensor(0.7), atol=1e-6)     # zero padding only at the border
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.tensor(0.7), atol=1e-6)


def test_resampling_convs_align_with_pure_resampling():
    """With an identity kernel the stride-2 (transposed) convolutions must reduce to upsample2d/downsample2d
    exactly: this pins the padding arithmetic of both paths (an off-by-one shifts the image by a pixel)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    f = setup_filter().double()
    eye3 = torch.zeros(3, 3, 3, 3, dtype=torch.float64)
    eye3[range(3), range(3), 1, 1] = 1
    eye1 = torch.eye(3, dtype=torch.float64)[:, :, None, None]
    for eye in (eye3, eye1):
        assert torch.allclose(conv2d_resample(x, eye, f, up=2), upsample2d(x, f), atol=1e-12)
        assert torch.allclose(conv2d_resample(x, eye, f, down=2), downsample2d(x, f), atol=1e-12)
    # a general kernel: transposed conv then blur == blur-upsample then convolution (linear, shift-invariant
    # operators commute), away from the border where the second form has already cropped the blur's tails
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    a = conv2d_resample(x, w, f, up=2)
    b = F.conv2d(upsample2d(x, f), w.flip([2, 3]), padding=1)
    assert torch.allclose(a[..., 3:-3, 3:-3], b[..., 3:-3, 3:-3], atol=1e-10)


# ------------------------------------------------------------------------------------------------ equalised lr

def test_equalised_learning_rate():
    torch.manual_seed(0)
    layer = EqualLinear(512, 512, lr_multiplier=0.01)
    assert abs(layer.weight.std().item() - 100) < 3, "stored weights ~ N(0, 1/lr_mul^2)"
    assert abs(layer.weight_gain - 0.01 / math.sqrt(512)) < 1e-12 and layer.bias_gain == 0.01
    x = torch.randn(4096, 512)
    assert abs(layer(x).var().item() - 1) < 0.1, "runtime scale lr_mul/sqrt(fan_in) keeps the variance"
    layer.bias.data.fill_(5.0)
    assert torch.allclose(layer(torch.zeros(1, 512)), torch.full((1, 512), 0.05)), "bias used times lr_mul"
    conv = EqualConv2d(64, 64, 3)
    assert abs(conv(torch.randn(8, 64, 16, 16)).var().item() - 1) < 0.1
    z = torch.randn(200_000)
    assert abs(bias_act(z, act="lrelu").square().mean().item() - 1.04) < 0.02, "√2·lrelu(0.2): E[x²] = 1.04"
    assert abs(EqualLinear(512, 512, activation="lrelu")(x).square().mean().item() - 1.04) < 0.1
    assert torch.equal(bias_act(torch.tensor([3.0, -9.0]), act="lrelu", clamp=2.0), torch.tensor([2.0, -2.0]))


def test_leaky_relu_gain_is_autograds_leaky_relu_with_its_gradient_read_from_the_output():
    """The same values as ``F.leaky_relu(x, 0.2) * gain`` (fp32 and bf16, bit for bit: the same operations), the same
    gradient, and the same second-order gradient through a conv net (what R1 and path-length regularisation take)."""
    torch.manual_seed(0)
    x = torch.randn(4, 8, 6, 6)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)       # no exact zero: the one place they differ
    for dtype in (torch.float32, torch.bfloat16):
        xd = x.to(dtype)
        assert torch.equal(leaky_relu_gain(xd, math.sqrt(2)), torch.nn.functional.leaky_relu(xd, 0.2) * math.sqrt(2))
    conv_a, conv_b = torch.nn.Conv2d(8, 8, 3), torch.nn.Conv2d(8, 1, 3)
    grads = []
    for act in (lambda h: torch.nn.functional.leaky_relu(h, 0.2) * 1.7, lambda h: leaky_relu_gain(h, 1.7)):
        conv_a.zero_grad(), conv_b.zero_grad()
        xi = x.clone().requires_grad_(True)
        out = conv_b(act(conv_a(xi))).sum()
        (g,) = torch.autograd.grad(out, xi, create_graph=True)
        g.square().sum().backward()                                    # an R1-style penalty: double backward
        grads.append((g.detach(), conv_a.weight.grad.clone(), conv_b.weight.grad.clone()))
    for ref, ours in zip(*grads):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    y = torch.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    leaky_relu_gain(y, 2.0).sum().backward()
    assert torch.allclose(y.grad, torch.tensor([0.4, 1.2, 2.0])), "slope·gain, their mean at 0, gain"
    with pytest.raises(ValueError, match="positive slope"):
        leaky_relu_gain(y, slope=0.0)


# ------------------------------------------------------------------------------------------------ modulation

def test_demodulation_restores_unit_variance():
    torch.manual_seed(0)
    x = torch.randn(8, 64, 16, 16)
    weight = torch.randn(32, 64, 3, 3)
    styles = torch.rand(8, 64) * 3 + 0.1             # arbitrary positive styles, very different per sample
    std = modulated_conv2d(x, weight, styles, demodulate=True).std(dim=(2, 3))     # per sample and channel
    assert ((std - 1).abs() < 0.15).all(), f"demodulated std {std.min():.2f}..{std.max():.2f}"
    raw = modulated_conv2d(x, weight, styles, demodulate=False).std(dim=(2, 3))
    assert (raw - 1).abs().mean() > 3, "without demodulation the output scale follows the styles"
    # demodulated output is invariant to rescaling the weight or a sample's styles (why fp16 prenorm is safe)
    y = modulated_conv2d(x, weight, styles)
    assert torch.allclose(modulated_conv2d(x, weight * 7, styles * 0.01), y, atol=1e-4)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_grouped_conv_equals_activation_scaling(up, demodulate):
    torch.manual_seed(0)
    x = torch.randn(3, 16, 8, 8)
    weight = torch.randn(8, 16, 3, 3)
    styles = torch.randn(3, 16)
    f = setup_filter()
    a = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, resample_filter=f, fused=True)
    b = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, resample_filter=f, fused=False)
    assert a.shape == (3, 8, 8 * up, 8 * up)
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    # and each sample really uses its own kernel: sample 1 alone gives the same result
    c = modulated_conv2d(x[1:2], weight, styles[1:2], demodulate=demodulate, up=up, resample_filter=f)
    assert torch.allclose(a[1:2], c, atol=1e-5)


def test_fp16_prenormalisation_prevents_overflow():
    torch.manual_seed(0)
    x = torch.randn(2, 64, 8, 8)
    weight = torch.randn(16, 64, 3, 3)
    styles = torch.rand(2, 64) * 1e4                 # activations · styles would overflow fp16 (65504)
    ref = modulated_conv2d(x, weight, styles, fused=False)
    y = modulated_conv2d(x.half(), weight, styles, fused=False)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() < 0.02


def test_modulated_conv_module_fused_switch_follows_mode():
    layer = ModulatedConv2d(8, 4, 3, w_dim=W)
    assert layer.affine.bias.detach().eq(1).all(), "styles start near 1 (affine bias init 1)"
    layer.train()
    assert layer.use_fused() is False and layer.use_fused(True) is True
    layer.eval()
    assert layer.use_fused() is True
    layer.fused = False
    assert layer.use_fused() is False


# ------------------------------------------------------------------------------------------------ generator

@pytest.mark.parametrize("res", [16, 32, 64])
def test_shapes_num_ws_and_w_vs_wplus(res):
    torch.manual_seed(0)
    G, D = tiny_G(res).eval(), tiny_D(res)
    assert G.num_ws == 2 * int(math.log2(res)) - 2
    img, ws = G(torch.randn(2, W), return_ws=True, noise_mode="const")
    assert img.shape == (2, 3, res, res) and img.dtype == torch.float32
    assert ws.shape == (2, G.num_ws, W)
    assert D(img).shape == (2, 1)
    assert torch.equal(G.synthesis(ws[:, 0], noise_mode="const"), G.synthesis(ws, noise_mode="const"))
    levels = G.synthesis(ws, noise_mode="const", return_levels=True)[1]
    assert [lv.shape[-1] for lv in levels] == [2 ** i for i in range(2, int(math.log2(res)) + 1)]


def test_channel_formula():
    G = Generator(z_dim=8, w_dim=8, img_resolution=256, synthesis_kwargs=dict(channel_base=32768))
    assert G.synthesis.channels == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    D = Discriminator(256, channel_base=16384)
    assert D.channels == {256: 64, 128: 128, 64: 256, 32: 512, 16: 512, 8: 512, 4: 512}
    assert D.blocks["256"].fromrgb.weight.shape == (64, 3, 1, 1) and D.blocks["256"].conv1.weight.shape[0] == 128


def test_mapping_w_avg_and_truncation():
    torch.manual_seed(0)
    G = tiny_G()
    z = torch.randn(64, W)
    G.train()
    assert G.w_avg.abs().sum() == 0
    ws = G.mapping(z)
    assert torch.allclose(G.w_avg, ws[:, 0].mean(0) * (1 - 0.995), atol=1e-7), "w̄ lerps toward the batch mean"
    before = G.w_avg.clone()
    G.mapping(z, update_w_avg=False)
    assert torch.equal(G.w_avg, before)
    G.eval()
    G.mapping(z)
    assert torch.equal(G.w_avg, before), "eval mode leaves w̄ alone"
    G.mapping.w_avg.normal_()                        # a non-trivial w̄ for the truncation checks
    full = G.mapping(z)
    trunc = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.allclose(trunc[:, :3], G.w_avg.expand(64, 3, W))
    assert torch.equal(trunc[:, 3:], full[:, 3:])
    half = G.mapping(z, truncation_psi=0.5)
    assert torch.allclose(half, G.w_avg + 0.5 * (full - G.w_avg), atol=1e-6)
    assert torch.equal(G.mapping(z, truncation_psi=1.0), full)
    # z is normalised to unit second moment: scaling z changes nothing
    assert torch.allclose(G.mapping(z * 3.0), full, atol=1e-5)


def test_style_mixing():
    torch.manual_seed(0)
    G = tiny_G().train()
    z = torch.randn(4, W)
    ws = G.mapping(z, update_w_avg=False)
    ws_copy, w_avg = ws.clone(), G.w_avg.clone()
    mixed = style_mix(G, z, ws, prob=1.0, generator=torch.Generator().manual_seed(7))
    # replay the same draws: cutoff, the coin, z2
    g = torch.Generator().manual_seed(7)
    cutoff = int(torch.randint(1, G.num_ws, (), generator=g))
    torch.rand((), generator=g)
    z2 = torch.randn(z.shape, generator=g)
    assert 1 <= cutoff < G.num_ws
    assert torch.equal(mixed[:, :cutoff], ws[:, :cutoff]), "rows before the cutoff come from z1"
    assert torch.allclose(mixed[:, cutoff:], G.mapping(z2, update_w_avg=False)[:, cutoff:]), "after: from z2"
    assert torch.equal(ws, ws_copy) and torch.equal(G.w_avg, w_avg), "input ws and w̄ untouched"
    assert style_mix(G, z, ws, prob=0.0) is ws
    cutoffs = set()
    for seed in range(40):
        m = style_mix(G, z, ws, prob=0.5, generator=torch.Generator().manual_seed(seed))
        same = (m == ws).all(dim=2).all(dim=0)
        cutoffs.add(int(same.sum()))
    assert G.num_ws in cutoffs and len(cutoffs) > 2, "sometimes unmixed, several cutoffs"


def test_noise_modes():
    torch.manual_seed(0)
    G = tiny_G().eval()
    z = torch.randn(2, W)
    const, none = G(z, noise_mode="const"), G(z, noise_mode="none")
    assert torch.equal(const, none) and torch.equal(G(z, noise_mode="random"), none), "strength starts at 0"
    set_noise_strength(G, 0.5)
    assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
    assert not torch.allclose(G(z, noise_mode="random"), G(z, noise_mode="random"))
    assert not torch.allclose(G(z, noise_mode="const"), G(z, noise_mode="none"))
    torch.manual_seed(5)
    a = G(z, noise_mode="random")
    torch.manual_seed(5)
    assert torch.equal(a, G(z, noise_mode="random")), "random noise follows torch.manual_seed"
    with pytest.raises(ValueError):
        G(z, noise_mode="fixed")


def test_deterministic_construction_and_config_round_trip():
    torch.manual_seed(0)
    G, D = tiny_G(conv_clamp=256.0), tiny_D(c_dim=3, conv_clamp=256.0)
    torch.manual_seed(0)
    G_same = tiny_G(conv_clamp=256.0)
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G_same.state_dict().values()))
    G2 = Generator(**json.loads(json.dumps(G.config)))
    G2.load_state_dict(G.state_dict())
    z = torch.randn(2, W)
    assert torch.equal(G.eval()(z, noise_mode="const"), G2.eval()(z, noise_mode="const"))
    D2 = Discriminator(**json.loads(json.dumps(D.config)))
    D2.load_state_dict(D.state_dict())
    img, c = torch.randn(4, 3, 32, 32), torch.randn(4, 3)
    assert torch.equal(D(img, c), D2(img, c))


def test_checkpoint_layout_is_stable():
    """Parameter names are the checkpoint format (run folders, exported generators): renaming breaks them."""
    G, D = tiny_G(16), tiny_D(16)
    keys = set(G.state_dict())
    for k in ["mapping.w_avg", "mapping.layers.1.weight", "synthesis.blocks.0.const",
              "synthesis.blocks.0.conv1.affine.weight", "synthesis.blocks.0.conv1.noise_const",
              "synthesis.blocks.1.conv0.noise_strength", "synthesis.blocks.2.torgb.bias",
              "synthesis.blocks.2.conv1.weight"]:
        assert k in keys, k
    assert not any("resample_filter" in k for k in keys), "filters are not checkpointed"
    assert {"blocks.16.fromrgb.weight", "blocks.8.skip.weight", "b4.conv.weight", "b4.fc.weight",
            "b4.out.bias"} <= set(D.state_dict())


# ------------------------------------------------------------------------------------------------ discriminator

def test_discriminator_features_head_and_conditioning():
    torch.manual_seed(0)
    D = tiny_D(32)
    img = torch.randn(4, 3, 32, 32)
    full = D(img)
    for res in (16, 8, 4):
        feats = D.features(img, stop_res=res)
        assert feats.shape == (4, D.channels[res], res, res)
        assert torch.allclose(D.head(feats, from_res=res), full, atol=1e-6)
    assert torch.equal(D.features(img, until=16), D.features(img, 16))
    with pytest.raises(ValueError):
        D.features(img, stop_res=32)
    Dc = tiny_D(32, c_dim=3)
    c = torch.randn(4, 3)
    out = Dc(img, c)
    assert out.shape == (4, 1) and not torch.allclose(out, Dc(img, c.flip(0)))
    with pytest.raises(ValueError):
        Dc(img)


def test_discriminator_block_accepts_fused_frame_features():
    """The video discriminator's use: 4 frames' 16² features concatenated along channels, then a wider block."""
    torch.manual_seed(0)
    D = tiny_D(32)
    frames = torch.randn(4, 2, 3, 32, 32)               # (T, N, C, H, W)
    feats = torch.cat([D.features(f, stop_res=16) for f in frames], dim=1)
    block = DiscriminatorBlock(4 * D.channels[16], D.channels[16], D.channels[8], resolution=16)
    x = block(feats)
    assert x.shape == (2, D.channels[8], 8, 8)
    assert D.head(x, from_res=8).shape == (2, 1)
    # the residual sum is scaled by sqrt(1/2) (lrelu is positively homogeneous, so the gain can move outside)
    assert torch.allclose(x, math.sqrt(0.5) * (block.skip(feats) + block.conv1(block.conv0(feats))), atol=1e-5)


def test_minibatch_std():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStd(group_size=4, num_channels=2)(x)
    assert y.shape == (8, 8, 4, 4) and torch.equal(y[:, :6], x)
    # sample 1's group is samples 1, 3, 5, 7 (stride N / G = 2); channels 0-2 feed statistic 0
    grp = x[1::2, :3]
    expected = (grp.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(y[1, 6], expected.expand(4, 4), atol=1e-6)
    assert torch.allclose(y[3, 6], y[1, 6])
    assert MinibatchStd(4)(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4), "batch 6: groups of 3"


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G, D = tiny_G(16).train(), tiny_D(16, c_dim=2)
    set_noise_strength(G, 0.1)
    for fused in (True, False):
        G.zero_grad(), D.zero_grad()
        D(G(torch.randn(4, W), fused=fused), torch.randn(4, 2)).sum().backward()
        for name, p in list(G.named_parameters()) + list(D.named_parameters()):
            assert p.grad is not None and p.grad.abs().sum() > 0, (fused, name)


# ------------------------------------------------------------------------------------------------ precision, layout

def test_bf16_autocast_and_channels_last():
    torch.manual_seed(0)
    G, D = tiny_G(16).eval(), tiny_D(16)
    z = torch.randn(4, W)
    img = G(z, noise_mode="const")
    logits = D(img)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ws = G.mapping(z)
        img16 = G.synthesis(ws, noise_mode="const")
        logits16 = D(img16)
    assert ws.dtype == torch.float32 and G.w_avg.dtype == torch.float32, "mapping stays fp32"
    assert img16.dtype == torch.float32 and logits16.dtype == torch.float32
    assert (img16 - img).abs().max() < 0.1 and (logits16 - logits).abs().max() < 0.1 * (1 + logits.abs().max())
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    img_cl = G(z, noise_mode="const")
    assert torch.allclose(img_cl, img, atol=1e-5)
    assert torch.allclose(D(img.contiguous(memory_format=torch.channels_last)), logits, atol=1e-5)
