"""Metrics computed with the real pretrained networks, found offline (see :mod:`.assets`).

* :mod:`.frechet`  — the Fréchet distance and streaming float64 feature statistics (the core of FID and FVD);
* :mod:`.fid`      — FID with NVIDIA's TorchScript Inception-v3;
* :mod:`.i3d`, :mod:`.fvd` — FVD with a PyTorch port of DeepMind's Kinetics-400 I3D;
* :mod:`.protocol` — StyleGAN-V's evaluation protocol (FID, FVD16, FVD128, cached real statistics);
* :mod:`.lpips`    — LPIPS (VGG16 / AlexNet) as a differentiable loss;
* :mod:`.identity` — dlib's ResNet face descriptor as a differentiable module and identity loss.

No network is loaded at import time.
"""
from .assets import AssetError, asset_report, locate_asset
from .fid import inception, load_inception
from .frechet import FeatureStats, frechet_distance, frechet_distance_from_stats
from .fvd import i3d_features
from .identity import FaceDescriptor, IdentityLoss, face_chips
from .lpips import LPIPS, lpips_distance
from .protocol import (
    DatasetClips, Protocol, StaticImageClips, evaluate, load_clip_source, protocol_for_profile,
    register_clip_source,
)

__all__ = [
    "AssetError", "DatasetClips", "FaceDescriptor", "FeatureStats", "IdentityLoss", "LPIPS", "Protocol",
    "StaticImageClips", "asset_report", "evaluate", "face_chips", "frechet_distance", "frechet_distance_from_stats",
    "i3d_features", "inception", "load_clip_source", "load_inception", "locate_asset", "lpips_distance",
    "protocol_for_profile", "register_clip_source",
]
