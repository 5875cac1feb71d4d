"""styleinv_lib: a PyTorch training library reproducing StyleInV (Wang, Jiang & Loy, ICCV 2023).

Stages, each reading the previous one's checkpoint by path: StyleGAN2 on video frames, an inversion encoder
(Eq. 1), the StyleInV motion generator trained with FFA-ST (Eqs. 2-6), optional style transfer, generation and
metrics.  The embedded dataset is rendered procedurally (:mod:`styleinv_lib.data.synthetic`).

The names a user needs are importable from here::

    import styleinv_lib as sil
    frames = sil.SynthFaces(resolution=64).render(0)      # uint8 (T, 64, 64, 3)
    ds = sil.VideoFolder("data/synthfaces", resolution=64, mode="clips")
    G = sil.load_generator("checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors")
    E = sil.load_encoder("checkpoints/encoder_synthfaces32_v2_cpu.safetensors")
    result = sil.invert(images, G, encoder=E, method="hybrid")   # Eq. 1, refined by a few optimisation steps
    gen = sil.load_video_generator("checkpoints/styleinv_synthfaces32_v2_cpu.safetensors",
                                   generator="checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors",
                                   device=sil.pick_device())          # a GPU when there is one
    video = gen.video(gen.w0_from_seeds([0, 1]), num_frames=128)   # (2, 128, 3, 32, 32) in [-1, 1]
    toon = sil.load_generator("checkpoints/stylegan2_synthfaces32_toon_v2_cpu.safetensors")   # a fine-tune of G (§3.5)
    videos, latents = gen.plug_and_play([gen.G, toon], gen.w0_from_seeds([0]), 64)      # same w_t, two styles
"""
from .data import (
    ImageFolder, SparseClipSampler, StyleImages, SynthFaces, SynthSky, VideoDataError, VideoFolder, inspect_dataset,
)
from ._version import __version__
from .generate import VideoGenerator, generate_video, load_video_generator
from .inversion import invert
from .loading import load_encoder, load_generator
from .profiles import PROFILES, Profile, get_profile
from .train.loop import pick_device
from . import data, viz

__all__ = [
    "ImageFolder", "PROFILES", "Profile", "SparseClipSampler", "StyleImages", "SynthFaces", "SynthSky", "VideoDataError",
    "VideoFolder", "VideoGenerator", "__version__", "data", "generate_video", "get_profile", "inspect_dataset",
    "invert", "load_encoder", "load_generator", "load_video_generator", "pick_device", "viz",
]
