"""Datasets: the procedural SynthFaces / SynthSky videos, their art-style image sets, and real video folders."""
from .images import ImageFolder
from .export import export_style_images, export_synthfaces, export_synthsky, factor_array, load_metadata
from .styles import ALL_STYLES, ART_STYLES, StyleImages, paired_style_images, render_styled
from .synthetic import (
    FACTOR_NAMES, TEMPERAMENTS, FaceIdentity, FaceMotion, SynthFaces, SynthSky, render_face, sample_identity,
)
from .video import DenseClipSampler, SparseClipSampler, VideoDataError, VideoFolder, inspect_dataset

__all__ = [
    "ALL_STYLES", "ART_STYLES", "DenseClipSampler", "FACTOR_NAMES", "FaceIdentity", "FaceMotion", "ImageFolder",
    "SparseClipSampler",
    "StyleImages", "SynthFaces", "SynthSky", "TEMPERAMENTS", "VideoDataError", "VideoFolder", "export_style_images",
    "export_synthfaces", "export_synthsky", "factor_array", "inspect_dataset", "load_metadata",
    "paired_style_images", "render_face",
    "render_styled", "sample_identity",
]
