"""Convolutions whose derivatives are themselves plain convolutions, to any order (R1 and path length need two).

torch differentiates the backward of a convolution with one generic rule (``ConvolutionBackwardBackward0``), which
is reported far slower than the first-order kernels on CUDA (pytorch/pytorch#22577); on an H200 our R1 step cost
25x a plain step, on a CPU 1.5x (``benchmarks/results/gpu_check_h200.md``).  StyleGAN2-ADA's ``conv2d_gradfix``
answers with two identities, used here too: for ``y = conv(x, w)``

* ``∂L/∂x`` is the *opposite* operation (a transposed convolution for a convolution, and the reverse) of ``∂L/∂y``
  with the same weight, and
* ``∂L/∂w`` is bilinear in ``(∂L/∂y, x)``, so its own derivatives are the convolution of ``x`` with the incoming
  gradient and, again, the opposite operation.

Every derivative is thus one of the two fast first-order kernels.  Off by default (``nn.layers`` calls
:func:`conv2d` and :func:`conv_transpose2d` here, which then pass straight to :mod:`torch.nn.functional`):
``with conv_gradfix.enabled():`` switches it on for the code inside.  The training stages switch it on around
their regularisers where :func:`pays_on` says so (the CPU); ``benchmarks/profile_step.py --variants conv-gradfix``
measures it on a GPU before it becomes the default there.
Integer stride and padding, dilation 1, no bias (the library's layers add their bias separately).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor

_ENABLED = False


@contextlib.contextmanager
def enabled(flag: bool = True):
    """Route :func:`conv2d` and :func:`conv_transpose2d` through the gradfix operations inside the block."""
    global _ENABLED
    before, _ENABLED = _ENABLED, bool(flag)
    try:
        yield
    finally:
        _ENABLED = before


def is_enabled() -> bool:
    return _ENABLED


def pays_on(device: str | torch.device) -> bool:
    """Whether a regulariser's double backward (R1, path length) should run through these convolutions on
    ``device``: on the CPU, where D's R1 at the cpu preset (batch 8, one thread, AMX Xeon) takes 170 ms with them
    against 245 ms with torch's generic rule (the per-channel loop of the FIR filters' depthwise convolutions);
    not on CUDA until ``benchmarks/profile_step.py --variants native,conv-gradfix`` has measured it there."""
    return torch.device(device).type == "cpu"


def conv2d(x: Tensor, w: Tensor, stride: int = 1, padding: int = 0, groups: int = 1) -> Tensor:
    """:func:`torch.nn.functional.conv2d` (no bias, dilation 1); through :class:`_Conv` when enabled."""
    if not _ENABLED:
        return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)
    x, w = _autocast_inputs(x, w)
    with _autocast_off(x):
        return _Conv.apply(x, w, False, stride, padding, (0, 0), groups)


def conv_transpose2d(x: Tensor, w: Tensor, stride: int = 1, padding: int = 0, groups: int = 1) -> Tensor:
    """:func:`torch.nn.functional.conv_transpose2d` (no bias, no output padding, dilation 1); through
    :class:`_Conv` when enabled."""
    if not _ENABLED:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    x, w = _autocast_inputs(x, w)
    with _autocast_off(x):
        return _Conv.apply(x, w, True, stride, padding, (0, 0), groups)


def _autocast_dtype(device_type: str):
    """The autocast dtype active for ``device_type``, or None (torch 2.3's functions as a fallback)."""
    try:
        return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    except (TypeError, AttributeError):                 # torch < 2.4: no device argument
        if device_type == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


def _autocast_inputs(x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Cast both operands as autocast would cast a convolution's (the casts stay in the autograd graph)."""
    dtype = _autocast_dtype(x.device.type)
    return (x.to(dtype), w.to(dtype)) if dtype is not None else (x, w)


def _autocast_off(x: Tensor):
    return torch.autocast(x.device.type, enabled=False)


def _op(x: Tensor, w: Tensor, transposed: bool, stride: int, padding: int, out_pad, groups: int) -> Tensor:
    if transposed:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=out_pad, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _input_grad(gy: Tensor, w: Tensor, x_shape, cfg: tuple) -> Tensor:
    """``∂L/∂x`` of ``op(x, w)`` given ``gy = ∂L/∂y``: the opposite operation of ``gy`` with ``w`` (a
    :class:`_Conv` again, so it can be differentiated once more)."""
    transposed, stride, padding, _, groups = cfg
    if transposed:
        return _Conv.apply(gy, w, False, stride, padding, (0, 0), groups)
    k = w.shape[-2:]
    # a strided convolution drops the remainder of the input: the output padding puts those rows back
    out_pad = tuple(int(x_shape[2 + i] - ((gy.shape[2 + i] - 1) * stride - 2 * padding + k[i])) for i in range(2))
    return _Conv.apply(gy, w, True, stride, padding, out_pad, groups)


class _Conv(torch.autograd.Function):
    """``op(x, w)``, a convolution or a transposed one, with both gradients expressed as first-order kernels."""

    @staticmethod
    def forward(ctx, x, w, transposed, stride, padding, out_pad, groups):
        ctx.save_for_backward(x, w)
        ctx.cfg = (transposed, stride, padding, out_pad, groups)
        return _op(x, w, transposed, stride, padding, out_pad, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gx = _input_grad(gy, w, x.shape, ctx.cfg) if ctx.needs_input_grad[0] else None
        gw = _WeightGrad.apply(gy, x, tuple(w.shape), *ctx.cfg) if ctx.needs_input_grad[1] else None
        return gx, gw, None, None, None, None, None


class _WeightGrad(torch.autograd.Function):
    """``∂L/∂w`` of ``op(x, w)`` from ``(gy, x)`` (torch's first-order weight-gradient kernel); being bilinear, its
    derivatives are ``op(x, gg)`` for ``gy`` and the input gradient of ``op(·, gg)`` at ``gy`` for ``x``."""

    @staticmethod
    def forward(ctx, gy, x, w_shape, transposed, stride, padding, out_pad, groups):
        ctx.save_for_backward(gy, x)
        ctx.cfg = (transposed, stride, padding, out_pad, groups)
        w = gy.new_empty(w_shape)                      # only its shape is read: the output mask asks for dW alone
        return torch.ops.aten.convolution_backward(
            gy, x, w, None, [stride, stride], [padding, padding], [1, 1], transposed, list(out_pad), groups,
            [False, True, False])[1]

    @staticmethod
    def backward(ctx, gg):
        gy, x = ctx.saved_tensors
        g_gy = _Conv.apply(x, gg, *ctx.cfg) if ctx.needs_input_grad[0] else None
        g_x = _input_grad(gy, gg, x.shape, ctx.cfg) if ctx.needs_input_grad[1] else None
        return g_gy, g_x, None, None, None, None, None, None
