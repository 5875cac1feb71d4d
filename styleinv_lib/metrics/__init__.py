"""Metrics computed with the real pretrained networks, found offline (see :mod:`.assets`).

* :mod:`.frechet`  — the Fréchet distance and streaming float64 feature statistics (the core of FID and FVD);
* :mod:`.fid`      — FID with NVIDIA's TorchScript Inception-v3;
* :mod:`.i3d`, :mod:`.fvd` — FVD with a PyTorch port of DeepMind's Kinetics-400 I3D;
* :mod:`.protocol` — StyleGAN-V's evaluation protocol (FID, FVD16, FVD128, cached real statistics);
* :mod:`.lpips`    — LPIPS (VGG16 / AlexNet) as a differentiable loss;
* :mod:`.identity` — dlib's ResNet face descriptor as a differentiable module and identity loss;
* :mod:`.probe`, :mod:`.groundtruth` — the SynthFaces probe (identity embedding + motion-factor regressor trained on
  SynthFaces renders) and the ground-truth metrics built on it: identity preservation over 16/128/1024 frames,
  first-frame error, motion statistics.  These are SynthFaces probe metrics, not FID/FVD;
* :mod:`.clustering` — k-NN identity accuracy and silhouette of a representation (the latent-clustering chapter).

No network is loaded at import time.
"""
from .assets import AssetError, asset_report, locate_asset
from .clustering import chance_accuracy, clustering_report, knn_identity_accuracy, silhouette
from .fid import inception, load_inception
from .frechet import FeatureStats, frechet_distance, frechet_distance_from_stats
from .fvd import i3d_features
from .groundtruth import (
    compare_motion, first_frame_error, identity_preservation, motion_statistics, motion_statistics_from_factors,
)
from .identity import FaceDescriptor, IdentityLoss, face_chips
from .lpips import LPIPS, lpips_distance
from .probe import SynthFacesProbe, load_probe
from .protocol import DatasetClips, Protocol, StaticImageClips, evaluate, protocol_for_profile

__all__ = [
    "AssetError", "DatasetClips", "FaceDescriptor", "FeatureStats", "IdentityLoss", "LPIPS", "Protocol",
    "StaticImageClips", "SynthFacesProbe", "asset_report", "chance_accuracy", "clustering_report", "compare_motion",
    "evaluate", "face_chips", "first_frame_error", "frechet_distance", "frechet_distance_from_stats",
    "i3d_features", "identity_preservation", "inception", "knn_identity_accuracy",
    "load_inception", "load_probe", "locate_asset", "lpips_distance", "motion_statistics",
    "motion_statistics_from_factors", "protocol_for_profile", "silhouette",
]
