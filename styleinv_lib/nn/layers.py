"""StyleGAN2 building blocks in plain PyTorch: no custom CUDA ops, one code path for CPU and GPU.

What lives here (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020):

* FIR resampling with the binomial [1, 3, 3, 1] filter: :func:`upfirdn2d` (upsample, pad, filter, downsample) and
  the helpers :func:`upsample2d`, :func:`downsample2d`, :class:`Blur`;
* :func:`bias_act`: bias, activation (leaky ReLU 0.2 with gain √2: E[x²] 1 → 1.04 for N(0, 1) input, through
  :func:`leaky_relu_gain`) and clamping;
* the equalised learning rate (Karras et al. 2018): weights are *stored* as N(0, 1/lr_mul²) and *scaled at run time*
  by ``lr_mul / sqrt(fan_in)`` (:class:`EqualLinear`, :class:`EqualConv2d`), so every layer trains at the same
  speed whatever its fan-in, and ``lr_mul`` slows a layer down (0.01 in the mapping network);
* the modulated convolution with weight demodulation, StyleGAN2 Eqs. 1-3 (:func:`modulated_conv2d`,
  :class:`ModulatedConv2d`), and the layers built from it: :class:`SynthesisLayer` (with per-pixel noise) and
  :class:`ToRGB`;
* :class:`MinibatchStd`, the discriminator's diversity feature.

Numbers that matter and were checked against StyleGAN2-ADA's reference implementation: filter normalised to sum 1,
upsampling gain ``up²``; demodulation epsilon 1e-8; affine bias initialised to 1 (styles start near 1); noise
strength initialised to 0; toRGB styles scaled by ``1/sqrt(fan_in)`` and not demodulated; ``conv_clamp`` applied
after the activation gain.  Layouts (parameter names, registration order) are part of the checkpoint format.
"""
from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import conv_gradfix

Tensor = torch.Tensor

#: Gain that keeps E[x²] unchanged through leaky ReLU(0.2) (exactly sqrt(2 / (1 + 0.2²)) would; StyleGAN uses √2).
LRELU_GAIN = math.sqrt(2.0)
ACT_GAINS = {"linear": 1.0, "lrelu": LRELU_GAIN, "relu": LRELU_GAIN}
DEFAULT_FILTER = (1, 3, 3, 1)


# ----------------------------------------------------------------------------------------------------------------
# FIR resampling
# ----------------------------------------------------------------------------------------------------------------

def setup_filter(taps: Sequence[float] | Tensor = DEFAULT_FILTER) -> Tensor:
    """The 2-D low-pass filter used for every resampling: the outer product of the 1-D ``taps`` with themselves
    (a separable filter), normalised so that its coefficients sum to 1 (a constant image stays constant).
    A 2-D ``taps`` is only normalised."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    if f.ndim != 2:
        raise ValueError(f"filter taps must be 1-D or 2-D, got shape {tuple(f.shape)}")
    return f / f.sum()


def _pad4(pad) -> tuple[int, int, int, int]:
    """``pad`` as (left, right, top, bottom): an int, an (x, y) pair or a 4-tuple."""
    if isinstance(pad, int):
        return pad, pad, pad, pad
    pad = tuple(int(p) for p in pad)
    if len(pad) == 2:
        return pad[0], pad[0], pad[1], pad[1]
    if len(pad) != 4:
        raise ValueError(f"pad must be an int, (x, y) or (left, right, top, bottom), got {pad}")
    return pad


def upfirdn2d(x: Tensor, f: Tensor, up: int = 1, down: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0) -> Tensor:
    """Upsample, FIR-filter and downsample every channel of ``x`` (N, C, H, W), in this order:

    1. insert ``up - 1`` zeros after every pixel (both axes);
    2. pad by ``pad = (left, right, top, bottom)`` zeros; negative values crop;
    3. convolve with the 2-D filter ``f`` times ``gain`` (a true convolution: the filter is flipped), keeping only
       outputs whose footprint lies inside the padded image;
    4. keep every ``down``-th pixel.

    The output is ``(H * up + top + bottom - fh + 1) // down`` (rounded up) high, likewise wide.
    """
    n, c, h, w = x.shape
    left, right, top, bottom = _pad4(pad)
    if up > 1:
        # zero insertion: view each pixel as a 1×1 cell, pad the cell to up×up, fold back
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    if min(left, right, top, bottom) < 0:
        x = x[:, :, max(-top, 0): x.shape[2] - max(-bottom, 0), max(-left, 0): x.shape[3] - max(-right, 0)]
    kernel = (f.to(device=x.device, dtype=x.dtype) * gain).flip([0, 1])
    kernel = kernel[None, None].expand(c, 1, *kernel.shape)
    x = conv_gradfix.conv2d(x, kernel, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """``up``× upsampling: zero insertion then the low-pass filter with gain ``up²`` (which compensates the inserted
    zeros, so a constant image stays constant away from the border).  Output: (H·up, W·up)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """``down``× downsampling: the low-pass filter, then every ``down``-th pixel.  Output: (H/down, W/down)."""
    fw = f.shape[-1]
    p0, p1 = (fw - down + 1) // 2, (fw - down) // 2
    return upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1))


class Blur(nn.Module):
    """The FIR filter as a module: ``upfirdn2d(x, f, pad=pad, gain=gain)``."""

    def __init__(self, pad, gain: float = 1.0, taps=DEFAULT_FILTER):
        super().__init__()
        self.register_buffer("f", setup_filter(taps), persistent=False)
        self.pad, self.gain = _pad4(pad), gain

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.f, pad=self.pad, gain=self.gain)

    def extra_repr(self) -> str:
        return f"pad={self.pad}, gain={self.gain}"


def conv2d_resample(x: Tensor, w: Tensor, f: Tensor | None = None, up: int = 1, down: int = 1,
                    groups: int = 1) -> Tensor:
    """A 'same'-padded k×k convolution (padding k // 2) combined with FIR resampling, as StyleGAN2 arranges it:

    * ``up=2``: a stride-2 *transposed* convolution followed by the low-pass filter (gain 4), output 2H × 2W;
    * ``down=2``: the low-pass filter followed by a stride-2 convolution (for 1×1 kernels: filter-and-subsample, then
      the 1×1 convolution), output H/2 × W/2;
    * otherwise a plain convolution.

    ``w`` is (out, in/groups, k, k), as for :func:`torch.nn.functional.conv2d`.
    """
    k = w.shape[-1]
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up and down together are not supported")
    if up == 1 and down == 1:
        return conv_gradfix.conv2d(x, w, padding=k // 2, groups=groups)
    if f is None:
        raise ValueError("resampling needs a filter (see setup_filter)")
    fw = f.shape[-1]
    if down > 1:
        p0, p1 = k // 2 + (fw - down + 1) // 2, k // 2 + (fw - down) // 2
        if k == 1:
            return conv_gradfix.conv2d(upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1)), w, groups=groups)
        return conv_gradfix.conv2d(upfirdn2d(x, f, pad=(p0, p1, p0, p1)), w, stride=down, groups=groups)
    # Transposed convolution: PyTorch wants the weight as (in, out/groups, k, k), per group.
    out_per_group = w.shape[0] // groups
    wt = w.reshape(groups, out_per_group, -1, k, k).transpose(1, 2).reshape(-1, out_per_group, k, k)
    x = conv_gradfix.conv_transpose2d(x, wt, stride=up, groups=groups)      # (H - 1)·up + k pixels
    # FIR padding that lands exactly on H·up: the upsample2d padding shifted by the transposed conv's overhang
    p0 = k // 2 + (fw + up - 1) // 2 - (k - 1)
    p1 = k // 2 + (fw - up) // 2 - (k - up)
    return upfirdn2d(x, f, pad=(p0, p1, p0, p1), gain=up * up)


# ----------------------------------------------------------------------------------------------------------------
# Bias + activation, equalised learning rate
# ----------------------------------------------------------------------------------------------------------------

class _LeakyReLUWithGain(torch.autograd.Function):
    """``leaky_relu(x, slope) · gain`` whose gradient is read from the sign of the output, as StyleGAN2-ADA's
    ``bias_act`` reads it from y.  See :func:`leaky_relu_gain` for why."""

    @staticmethod
    def forward(ctx, x: Tensor, gain: float, slope: float) -> Tensor:
        y = F.leaky_relu(x, slope)
        y = y * gain if gain != 1 else y
        ctx.save_for_backward(y)
        ctx.gain, ctx.slope = gain, slope
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):
        (y,) = ctx.saved_tensors
        # gain where y > 0, gain · slope where y < 0 (and their mean at y == 0 exactly); differentiable, for R1
        k = torch.sign(y) * ((1 - ctx.slope) / 2 * ctx.gain) + (1 + ctx.slope) / 2 * ctx.gain
        return dy * k.to(dy.dtype), None, None


def leaky_relu_gain(x: Tensor, gain: float = 1.0, slope: float = 0.2) -> Tensor:
    """``leaky_relu(x, slope) · gain``, the same values as :func:`torch.nn.functional.leaky_relu` times ``gain``,
    with the gradient taken from the output's sign (the same gradient, except at an output of exactly 0, where it is
    the mean of the two slopes).

    Why not autograd's own: under ``torch.compile`` the partitioner then keeps a boolean mask ``x > 0`` of every
    activation for the backward pass, and torch 2.13's generated CPU code writes a boolean tensor from float vectors
    about 50x slower than a bf16 one (4.8 ms against 0.09 ms per million elements, two Zen 4 threads).  On the cpu
    preset's StyleGAN2 step (bf16 + compile, profiled) the generated kernels took about 41 ms a step with the masks
    and 17 ms without, and the step ran 1.15x faster (three alternating A/B rounds, 1.03-1.25x).  The output itself
    is kept anyway (the next layer's weight gradient needs it), so reading its sign costs no memory.  ``slope`` must
    be positive (for a ReLU the sign of the output cannot tell its two sides apart)."""
    if not slope > 0:
        raise ValueError(f"leaky_relu_gain needs a positive slope, got {slope}")
    return _LeakyReLUWithGain.apply(x, float(gain), float(slope))


def bias_act(x: Tensor, b: Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> Tensor:
    """``clamp(act(x + b) · gain)``.  ``b`` is added along dim 1.  ``act``: 'linear' | 'lrelu' (slope 0.2) | 'relu';
    ``gain`` defaults to the activation's own (√2 for the rectifiers, 1 for linear); ``clamp`` bounds the result to
    ±clamp (StyleGAN2-ADA's ``conv_clamp``, a guard for reduced precision)."""
    if b is not None:
        x = x + b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if act not in ACT_GAINS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACT_GAINS)}")
    gain = ACT_GAINS[act] if gain is None else gain
    if act == "lrelu":
        x = leaky_relu_gain(x, gain)
    else:
        if act == "relu":
            x = F.relu(x)
        if gain != 1:
            x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate.

    The weight is stored as ``randn / lr_multiplier`` and used as ``weight · lr_multiplier / sqrt(in_features)``;
    the bias is initialised to ``bias_init`` and used times ``lr_multiplier``.  Under Adam (whose steps do not
    depend on the gradient's scale) this makes ``lr_multiplier`` a learning-rate factor for the layer.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0, activation: str = "linear"):
        super().__init__()
        if activation not in ACT_GAINS:
            raise ValueError(f"unknown activation {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t()) if x.ndim == 2 else F.linear(x, w, b)
        return bias_act(F.linear(x, w), b, self.activation)

    def extra_repr(self) -> str:
        return (f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, act={self.activation}, "
                f"lr_mul={self.bias_gain:g}")


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (weight used as ``weight / sqrt(in · k²)``), bias, activation and
    optional clamping.  ``down=2`` blurs then convolves with stride 2 (the discriminator's downsampling);
    ``up=2`` is a transposed convolution followed by the blur.  ``forward(x, gain)`` multiplies the activation gain
    (and the clamp) by ``gain``, used for the √½ of residual sums."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=DEFAULT_FILTER,
                 conv_clamp: float | None = None):
        super().__init__()
        if activation not in ACT_GAINS:
            raise ValueError(f"unknown activation {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=ACT_GAINS[self.activation] * gain, clamp=clamp)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel={k}, act={self.activation}, up={self.up}, down={self.down}"


# ----------------------------------------------------------------------------------------------------------------
# Modulated convolution (StyleGAN2, Eqs. 1-3)
# ----------------------------------------------------------------------------------------------------------------

def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast computes in on ``device_type`` right now, or None when autocast is off there."""
    try:
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
    except RuntimeError:          # a device type autocast does not know
        pass
    return None


def fp32_region(device_type: str):
    """A context in which autocast is off for ``device_type`` (a no-op when it is off already)."""
    if _autocast_dtype(device_type) is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, enabled=False)


def _computes_in_fp16(x: Tensor) -> bool:
    return x.dtype == torch.float16 or _autocast_dtype(x.device.type) == torch.float16


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: Tensor | None = None, fused: bool = True) -> Tensor:
    """Per-sample modulated convolution of ``x`` (N, I, H, W) with ``weight`` (O, I, k, k), 'same' padding.

    * modulation, Eq. 1: ``w'_ijk = s_i · w_ijk`` with the sample's style ``s`` (N, I);
    * demodulation, Eqs. 2-3: ``w''_ijk = w'_ijk / sqrt(Σ_{i,k} w'_ijk² + 1e-8)``, which brings every output map
      back to unit standard deviation if the input maps have unit standard deviation (the paper's replacement
      for AdaIN's instance normalisation).

    ``fused=True`` builds the N per-sample kernels and runs ONE grouped convolution with N groups;
    ``fused=False`` scales the activations by ``s`` before and by the demodulation coefficients after an ordinary
    convolution (mathematically identical; cheaper to differentiate, what StyleGAN2-ADA uses while training).
    ``up=2`` is a stride-2 transposed convolution followed by the FIR filter (needs ``resample_filter``).
    The weight and demodulation arithmetic runs in fp32 whatever the autocast state; under fp16 the weight and
    styles are first rescaled by their max-norms (demodulation makes the result invariant to that), so the fp16
    convolution cannot overflow.
    """
    n, cin, h, w_ = x.shape
    cout, _, kh, kw = weight.shape
    if styles.shape != (n, cin):
        raise ValueError(f"styles must be (batch, in_channels) = {(n, cin)}, got {tuple(styles.shape)}")
    with fp32_region(x.device.type):
        styles = styles.float()
        weight = weight.float()
        if demodulate and _computes_in_fp16(x):
            weight = weight * (1 / math.sqrt(cin * kh * kw) / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
            styles = styles / styles.abs().amax(dim=1, keepdim=True)
        wmod = None
        if demodulate or fused:
            wmod = weight[None] * styles[:, None, :, None, None]                          # (N, O, I, k, k), Eq. 1
        dcoefs = (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None  # (N, O), Eqs. 2-3

    if fused:
        if dcoefs is not None:
            wmod = wmod * dcoefs[:, :, None, None, None]
        y = conv2d_resample(x.reshape(1, n * cin, h, w_), wmod.reshape(n * cout, cin, kh, kw).to(x.dtype),
                            resample_filter, up=up, groups=n)
        return y.reshape(n, cout, y.shape[2], y.shape[3])
    y = conv2d_resample(x * styles.to(x.dtype)[:, :, None, None], weight.to(x.dtype), resample_filter, up=up)
    if dcoefs is not None:
        y = y * dcoefs.to(y.dtype)[:, :, None, None]
    return y


class ModulatedConv2d(nn.Module):
    """A k×k convolution whose kernel is modulated per sample by a style ``s = A(w)`` (``affine``: an
    :class:`EqualLinear` from ``w_dim`` to ``in_channels`` with bias initialised to 1) and, when ``demodulate``,
    demodulated (Eqs. 1-3).  Without demodulation the styles are scaled by ``1/sqrt(in · k²)`` (equalised lr).

    ``fused``: True / False forces the grouped or the activation-scaling path; None (default) picks the fused
    grouped convolution in eval mode and the unfused one while training, as StyleGAN2-ADA does.
    No bias here; the subclasses add it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True,
                 up: int = 1, resample_filter=DEFAULT_FILTER, fused: bool | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.demodulate, self.up, self.fused = demodulate, up, fused
        self.weight_gain = 1.0 if demodulate else 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)

    def use_fused(self, fused: bool | None = None) -> bool:
        if fused is None:
            fused = self.fused
        return (not self.training) if fused is None else bool(fused)

    def modulated(self, x: Tensor, w: Tensor, fused: bool | None = None) -> Tensor:
        styles = self.affine(w)
        if self.weight_gain != 1:
            styles = styles * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, demodulate=self.demodulate, up=self.up,
                                resample_filter=self.resample_filter, fused=self.use_fused(fused))

    def forward(self, x: Tensor, w: Tensor, fused: bool | None = None) -> Tensor:
        return self.modulated(x, w, fused)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel={k}, demodulate={self.demodulate}, up={self.up}"


NOISE_MODES = ("random", "const", "none")


class SynthesisLayer(ModulatedConv2d):
    """One generator convolution: modulated + demodulated 3×3 conv (``up=2``: upsampling), plus per-pixel noise
    scaled by a learned ``noise_strength`` (initialised to 0), plus bias, leaky ReLU · √2, optional clamp.

    ``noise_mode``: 'random' (fresh N(0, 1) noise per sample and call), 'const' (the layer's fixed buffer
    ``noise_const``, the same for every sample: deterministic images) or 'none'.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 kernel_size: int = 3, conv_clamp: float | None = None, resample_filter=DEFAULT_FILTER,
                 use_noise: bool = True, fused: bool | None = None):
        super().__init__(in_channels, out_channels, kernel_size, w_dim, demodulate=True, up=up,
                         resample_filter=resample_filter, fused=fused)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.use_noise = use_noise
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.resolution, self.conv_clamp = resolution, conv_clamp

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random", fused: bool | None = None,
                gain: float = 1.0) -> Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        x = self.modulated(x, w, fused)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
            else:
                noise = self.noise_const.to(x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, "lrelu", gain=LRELU_GAIN * gain, clamp=clamp)


class ToRGB(ModulatedConv2d):
    """Modulated 1×1 convolution to image channels, *not* demodulated (the output's scale is the image's), plus
    bias; the skip generator sums these over resolutions."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, fused: bool | None = None):
        super().__init__(in_channels, out_channels, kernel_size, w_dim, demodulate=False, fused=fused)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.conv_clamp = conv_clamp

    def forward(self, x: Tensor, w: Tensor, fused: bool | None = None) -> Tensor:
        return bias_act(self.modulated(x, w, fused), self.bias, clamp=self.conv_clamp)


class MinibatchStd(nn.Module):
    """Appends ``num_channels`` feature maps holding the standard deviation of the features over groups of
    ``group_size`` samples (averaged over channels and pixels): lets the discriminator see a lack of diversity.

    Samples ``i, i + N/G, i + 2N/G, ...`` form a group (StyleGAN2-ADA's grouping).  If N is not a multiple of the
    group size, the largest group size ≤ ``group_size`` that divides N is used (the reference code would fail).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size else n
        while n % g:
            g -= 1
        f = self.num_channels
        if c % f:
            raise ValueError(f"minibatch-std: {c} channels do not split into {f} groups")
        y = x.float().reshape(g, n // g, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()   # (n/G, F, c/F, H, W): std over the group
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
