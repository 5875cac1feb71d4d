"""Datasets: the procedural SynthFaces / SynthSky videos, their art-style image sets, and real video folders."""
from .images import ImageFolder
from .export import export_style_images, export_synthfaces, export_synthsky, factor_array, load_metadata
from .styles import ALL_STYLES, ART_STYLES, StyleImages, paired_style_images, render_styled
from .synthetic import (
    DEFAULT_VERSION, FACTOR_NAMES, SYNTHFACES_VERSIONS, TEMPERAMENTS, FaceIdentity, FaceMotion, SynthFaces, SynthSky,
    VideoScene, render_face, sample_identity, sample_scene,
)
from .video import DenseClipSampler, SparseClipSampler, VideoDataError, VideoFolder, inspect_dataset

__all__ = [
    "ALL_STYLES", "ART_STYLES", "DEFAULT_VERSION", "DenseClipSampler", "FACTOR_NAMES", "FaceIdentity", "FaceMotion",
    "ImageFolder", "SYNTHFACES_VERSIONS", "SparseClipSampler", "StyleImages", "SynthFaces", "SynthSky",
    "TEMPERAMENTS", "VideoDataError", "VideoFolder", "VideoScene", "export_style_images", "export_synthfaces",
    "export_synthsky", "factor_array", "inspect_dataset", "load_metadata", "paired_style_images", "render_face",
    "render_styled", "sample_identity", "sample_scene",
]
