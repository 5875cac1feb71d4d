"""FVD: the Fréchet distance between I3D features of real and generated clips (Unterthiner et al. 2018).

The I3D network and its input handling live in :mod:`styleinv_lib.metrics.i3d` (a PyTorch port of DeepMind's
Kinetics-400 InceptionI3d, checked against the JAX reference); this module only turns clip batches into
feature statistics and the statistics into a distance, with the same :class:`FeatureStats` as FID.
"""
from __future__ import annotations

from typing import Iterable

import torch

from .frechet import FeatureStats, frechet_distance_from_stats

_CACHE: dict[str, torch.nn.Module] = {}


def i3d_features(device: str | torch.device = "cpu") -> torch.nn.Module:
    """The FVD feature extractor on ``device`` (loaded once per process): uint8 clips (B, T, H, W, 3) → (B, D)."""
    from .i3d import I3DFeatures

    key = str(torch.device(device))
    if key not in _CACHE:
        _CACHE[key] = I3DFeatures(device=device)
    return _CACHE[key]


def clip_features(extractor: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Features of uint8 clips laid out (B, T, 3, H, W), the library's video convention."""
    if clips.ndim != 5 or clips.shape[2] != 3 or clips.dtype != torch.uint8:
        raise ValueError(f"expected uint8 clips shaped (B, T, 3, H, W), got {tuple(clips.shape)} {clips.dtype}")
    return extractor(clips.permute(0, 1, 3, 4, 2))


def video_feature_stats(batches: Iterable[torch.Tensor], extractor: torch.nn.Module | None = None, *,
                        max_clips: int | None = None) -> FeatureStats:
    """I3D statistics of uint8 clip batches (B, T, 3, H, W)."""
    from .i3d import FEATURE_DIM

    extractor = extractor or i3d_features()
    stats = FeatureStats(FEATURE_DIM)
    for clips in batches:
        if max_clips is not None:
            clips = clips[: max_clips - stats.count]
        if len(clips):
            stats.update(clip_features(extractor, clips))
        if max_clips is not None and stats.count >= max_clips:
            break
    return stats


def fvd_from_clips(real: Iterable[torch.Tensor], fake: Iterable[torch.Tensor],
                   extractor: torch.nn.Module | None = None) -> float:
    """FVD between two streams of uint8 clip batches (B, T, 3, H, W) of the same length T."""
    extractor = extractor or i3d_features()
    return frechet_distance_from_stats(video_feature_stats(real, extractor), video_feature_stats(fake, extractor))


__all__ = ["clip_features", "fvd_from_clips", "i3d_features", "video_feature_stats"]
