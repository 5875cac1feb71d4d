"""styleinv_lib: a PyTorch training library reproducing StyleInV (Wang, Jiang & Loy, ICCV 2023).

Stages, each reading the previous one's checkpoint by path: StyleGAN2 on video frames, an inversion encoder
(Eq. 1), the StyleInV motion generator trained with FFA-ST (Eqs. 2-6), optional style transfer, generation and
metrics.  The embedded dataset is rendered procedurally (:mod:`styleinv_lib.data.synthetic`).

The names a user needs are importable from here::

    import styleinv_lib as sil
    frames = sil.SynthFaces(resolution=64).render(0)      # uint8 (T, 64, 64, 3)
    ds = sil.VideoFolder("data/synthfaces", resolution=64, mode="clips")
"""
from .data import (
    SparseClipSampler, StyleImages, SynthFaces, SynthSky, VideoDataError, VideoFolder, inspect_dataset,
)
from ._version import __version__
from .profiles import PROFILES, Profile, get_profile
from . import data, viz

__all__ = [
    "PROFILES", "Profile", "SparseClipSampler", "data", "viz", "StyleImages", "SynthFaces", "SynthSky",
    "VideoDataError",
    "VideoFolder", "__version__", "get_profile", "inspect_dataset",
]
