"""The SynthFaces subjects in other art styles: still-image sets for style transfer (§3.5, chapter 8).

The paper fine-tunes its face generator on image sets of another domain (artistic portraits, cartoons) so that the
same latent trajectory plays in a new style.  Here the target domains are rendered from the very same parametric
faces, by compositing the layers of :func:`~styleinv_lib.data.synthetic.face_layers` differently:

* ``toon``   — flat colours with two-level cel shading and dark outlines;
* ``sketch`` — pencil on paper: grey contour lines and diagonal hatching whose density follows the tone;
* ``popart`` — posterised colours from a bold palette, halftone dots in the shadows, thick black outlines.

``photo`` (the ordinary SynthFaces render) is also accepted so that paired comparisons are easy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .raster import Layer, color_tensor, composite_photo, coverage, over, pixel_grid, to_uint8
from .synthetic import (
    DEFAULT_VERSION, FaceMotion, check_version, face_layers, light_picture, sample_identity, sample_scene,
    scene_of_identity,
)

Tensor = torch.Tensor

ART_STYLES = ("toon", "sketch", "popart")
ALL_STYLES = ("photo",) + ART_STYLES

#: Identities of the style sets are drawn from another seed stream than the video dataset's, as the paper's
#: target domains show other people than its video datasets.
STYLE_SEED_OFFSET = 1_000_003


def _luminance(rgb: Tensor) -> Tensor:
    w = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True)


def _line_alpha(layer: Layer, width: float) -> Tensor:
    """Coverage of a band of ``width`` (sdf units) centred on the layer's contour, masked like the layer."""
    a = coverage(layer.sdf.abs() - width / 2, layer.aa)
    if layer.clip is not None:
        a = a * layer.clip
    return a * min(1.0, layer.opacity * 1.5)


def composite_toon(layers: list[Layer], background: Tensor, resolution: int) -> Tensor:
    """Flat colours, two-tone cel shading, outlines about 1.3 pixels wide (at least 1.6 % of the image)."""
    flat_bg = background.mean(dim=(2, 3), keepdim=True).expand_as(background)
    canvas = flat_bg.clone()
    width = max(1.3 * 2 / resolution, 0.016)
    ink = color_tensor((0.12, 0.08, 0.1))
    for layer in layers:
        color = layer.color
        if layer.shade is not None:
            cel = torch.where(layer.shade > 0.82, torch.ones_like(layer.shade), torch.full_like(layer.shade, 0.8))
            color = color * cel.unsqueeze(1)
        over(canvas, color, layer.alpha())
        if layer.outline:
            over(canvas, ink, _line_alpha(layer, width))
    return canvas


def composite_sketch(layers: list[Layer], background: Tensor, resolution: int) -> Tensor:
    """Pencil sketch: paper, hatching where the photographic tone is dark, grey contour lines."""
    x, y = pixel_grid(resolution)
    paper_c = color_tensor((0.96, 0.94, 0.89))
    grain = 1 - 0.03 * torch.sin(173 * x + 91 * y) * torch.sin(57 * x - 133 * y)
    canvas = (paper_c * grain.unsqueeze(1)).expand_as(background).clone()
    pencil = color_tensor((0.28, 0.28, 0.3))
    period = max(4 * 2 / resolution, 0.05)
    hatch1 = (0.5 + 0.5 * torch.sin(2 * np.pi * (x + y) / period)).unsqueeze(1)
    hatch2 = (0.5 + 0.5 * torch.sin(2 * np.pi * (x - y) / period)).unsqueeze(1)
    width = max(1.0 * 2 / resolution, 0.012)
    # the background gets light hatching from its tone too
    bg_dark = 1 - _luminance(background)
    canvas = canvas * (1 - 0.5 * (bg_dark > 0.55).float() * (hatch1 > 0.75).float())
    for layer in layers:
        color = layer.color if layer.shade is None else layer.color * layer.shade.unsqueeze(1)
        dark = 1 - _luminance(color.expand(canvas.shape[0], 3, resolution, resolution))
        a = layer.alpha()
        over(canvas, paper_c * grain.unsqueeze(1), a)  # occlude what lies behind
        strokes = ((hatch1 > 1.2 - dark).float() * 0.6 + (hatch2 > 1.5 - dark).float() * 0.4).clamp(0, 1)
        over(canvas, pencil, a * strokes[:, 0] * 0.8)
        if layer.outline:
            over(canvas, pencil, _line_alpha(layer, width) * 0.9)
    gray = _luminance(canvas)
    return (gray * 0.9 + canvas.mean(1, keepdim=True) * 0.1).expand(-1, 3, -1, -1) * paper_c / paper_c.max()


POP_PALETTES = [
    [(0.98, 0.85, 0.1), (0.95, 0.25, 0.45), (0.1, 0.65, 0.9), (0.15, 0.1, 0.35)],
    [(1.0, 0.6, 0.75), (0.2, 0.8, 0.7), (0.98, 0.9, 0.2), (0.35, 0.1, 0.5)],
    [(0.3, 0.9, 0.3), (1.0, 0.45, 0.1), (0.95, 0.95, 0.95), (0.1, 0.15, 0.6)],
]


def composite_popart(layers: list[Layer], background: Tensor, resolution: int, palette_index: int = 0) -> Tensor:
    """Posterised: each layer's tone is quantised to 4 levels and mapped to a bold palette; halftone dots in
    mid-tones; thick black outlines.  The palette is one of :data:`POP_PALETTES`."""
    palette = torch.tensor(POP_PALETTES[palette_index % len(POP_PALETTES)])  # light .. dark
    x, y = pixel_grid(resolution)
    cell = max(3 * 2 / resolution, 0.04)
    gx = torch.remainder(x, cell) / cell - 0.5
    gy = torch.remainder(y, cell) / cell - 0.5
    dot_r = torch.sqrt(gx ** 2 + gy ** 2).unsqueeze(1)

    def posterise(rgb: Tensor) -> Tensor:
        lum = _luminance(rgb)
        level = (lum * 4).floor().clamp(0, 3).long()           # 0 dark .. 3 light
        idx = (3 - level)                                        # palette is ordered light to dark
        out = palette[idx.squeeze(1)].permute(0, 3, 1, 2)
        halftone = ((lum * 4) % 1 < 0.5).float() * (dot_r < 0.3).float()
        return out * (1 - 0.35 * halftone)

    T = background.shape[0]
    canvas = posterise(background)
    width = max(2.0 * 2 / resolution, 0.03)
    ink = color_tensor((0.02, 0.02, 0.02))
    for layer in layers:
        color = layer.color if layer.shade is None else layer.color * layer.shade.unsqueeze(1)
        color = posterise(color.expand(T, 3, resolution, resolution))
        over(canvas, color, layer.alpha())
        if layer.outline:
            over(canvas, ink, _line_alpha(layer, width))
    return canvas


def render_styled(ident, factors: dict, resolution: int, style: str, *, palette_index: int = 0,
                  scene=None) -> Tensor:
    """Render a SynthFaces subject in ``style`` (one of :data:`ALL_STYLES`): uint8 (T, R, R, 3).  ``scene``: its
    surroundings (:class:`~styleinv_lib.data.synthetic.VideoScene`; default: version 1's, from the identity); the
    scene's exposure and white balance apply to photos only (a drawing has its own palette)."""
    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r}: choose one of {', '.join(ALL_STYLES)}")
    scene = scene_of_identity(ident) if scene is None else scene
    layers, background = face_layers(ident, factors, resolution, scene)
    if style == "photo":
        canvas = light_picture(composite_photo(layers, background), scene)
    elif style == "toon":
        canvas = composite_toon(layers, background, resolution)
    elif style == "sketch":
        canvas = composite_sketch(layers, background, resolution)
    else:
        canvas = composite_popart(layers, background, resolution, palette_index)
    return to_uint8(canvas)


@dataclass
class StyleImages:
    """A still-image set of ``style``: image ``i`` shows a fresh identity in a random pose and expression.

    The pose comes from a random SynthFaces motion at a random time, so the set covers the same range of head
    poses, blinks and mouth shapes as the videos.  Deterministic in ``(seed, style, i)``; the identity and the
    factor values travel in :meth:`image_metadata`.
    """

    style: str = "toon"
    resolution: int = 64
    seed: int = 0
    version: int = DEFAULT_VERSION      # SynthFaces version of the subjects (framing, scene per image, motion)

    def __post_init__(self):
        check_version(self.version)
        if self.style not in ALL_STYLES:
            raise ValueError(f"unknown style {self.style!r}: choose one of {', '.join(ALL_STYLES)}")

    def _draw(self, index: int):
        identity = sample_identity(int(index), self.seed + STYLE_SEED_OFFSET, self.version)
        scene = (sample_scene(int(index), self.seed + STYLE_SEED_OFFSET) if self.version == 2
                 else scene_of_identity(identity))
        rng = np.random.default_rng([self.seed, int(index), 0x57E])
        motion = FaceMotion.sample(rng, horizon=128, version=self.version)
        t = float(rng.uniform(0, 128))
        return identity, scene, motion, t, int(rng.integers(len(POP_PALETTES)))

    def render(self, index: int) -> Tensor:
        """Image ``index`` as uint8 (R, R, 3)."""
        identity, scene, motion, t, palette = self._draw(index)
        return render_styled(identity, motion.factors([t]), self.resolution, self.style, palette_index=palette,
                             scene=scene)[0]

    def image_metadata(self, index: int) -> dict:
        identity, scene, motion, t, palette = self._draw(index)
        return {"identity": identity.to_dict(), "scene": scene.to_dict(), "temperament": motion.temperament,
                "t": round(t, 4), "factors": {k: round(float(v[0]), 5) for k, v in motion.factors([t]).items()}}


def paired_style_images(style: str, num_images: int, *, resolution: int = 64, seed: int = 0,
                        size: int | None = None, version: int = DEFAULT_VERSION) -> tuple[Tensor, Tensor]:
    """The same subjects, poses and expressions rendered as photos and in ``style``: two uint8 tensors
    ``(N, 3, S, S)``, where ``S`` is ``size`` (area-downsampled from ``resolution``, as a dataset read at a lower
    resolution would be) or ``resolution``.  A perfect style transfer would map the first onto the second, so
    measurements between them are the ceiling for a fine-tuned generator (chapter 8)."""
    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r}: choose one of {', '.join(ALL_STYLES)}")
    draws = [StyleImages(style, resolution, seed, version)._draw(i) for i in range(num_images)]

    def render(which: str) -> Tensor:
        x = torch.stack([render_styled(ident, motion.factors([t]), resolution, which, palette_index=palette,
                                       scene=scene)[0]
                         for ident, scene, motion, t, palette in draws]).permute(0, 3, 1, 2)
        if size is not None and size != resolution:
            x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="area").round().to(torch.uint8)
        return x.contiguous()

    return render("photo"), render(style)
