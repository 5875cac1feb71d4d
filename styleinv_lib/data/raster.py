"""Vectorised 2-D rasterisation with signed distance functions (SDFs) and analytic anti-aliasing.

Every shape of the procedural datasets is a signed distance field evaluated on a whole batch of frames at once
(tensors shaped ``(T, H, W)``; negative inside).  Anti-aliasing is analytic: a pixel's coverage is the fraction of
a one-pixel-wide ramp centred on the boundary, ``clamp(0.5 - d / pixel, 0, 1)``, so edges are smooth at every
resolution from 16² to 256² without supersampling.  Shapes are collected as :class:`Layer` objects and composited
back to front; the art-style renderers (:mod:`styleinv_lib.data.styles`) composite the same layers differently.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

Tensor = torch.Tensor


def pixel_grid(resolution: int, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates in [-1, 1] (x to the right, y downwards), each shaped (1, R, R)."""
    c = (torch.arange(resolution, dtype=dtype) + 0.5) / resolution * 2 - 1
    y, x = torch.meshgrid(c, c, indexing="ij")
    return x[None], y[None]


def per_frame(values, dtype=torch.float32) -> Tensor:
    """A (T,) sequence of per-frame values reshaped to (T, 1, 1) so it broadcasts over a (T, H, W) grid."""
    return torch.as_tensor(values, dtype=dtype).reshape(-1, 1, 1)


def coverage(sdf: Tensor, aa: float | Tensor) -> Tensor:
    """Analytic anti-aliased coverage of the region ``sdf < 0``; ``aa`` is the pixel size in sdf units."""
    return (0.5 - sdf / aa).clamp_(0.0, 1.0)


# --- signed distance functions (exact or first-order approximations; good enough for one-pixel AA ramps) ---

def sd_ellipse(x: Tensor, y: Tensor, cx, cy, rx, ry) -> Tensor:
    """Signed distance to an axis-aligned ellipse, to first order: ``(r - 1) / |grad r|`` with ``r`` the
    normalised radius (exact on circles, a one-pixel AA ramp of the right width near the boundary)."""
    u = (x - cx) / rx
    v = (y - cy) / ry
    r = torch.sqrt(u * u + v * v)
    grad = torch.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    first_order = (r - 1.0) * r / (grad + 1e-6)
    # The bounding box is a lower bound of the true distance; it keeps thin ellipses from leaking far outside.
    return torch.maximum(first_order, sd_box(x, y, cx, cy, rx, ry))


def sd_circle(x: Tensor, y: Tensor, cx, cy, r) -> Tensor:
    """Exact signed distance to a disc."""
    return torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def sd_segment(x: Tensor, y: Tensor, ax, ay, bx, by, radius) -> Tensor:
    """Exact signed distance to a capsule: the segment a-b thickened by ``radius``."""
    px, py = x - ax, y - ay
    dx, dy = bx - ax, by - ay
    h = ((px * dx + py * dy) / (dx * dx + dy * dy + 1e-12)).clamp(0.0, 1.0)
    return torch.sqrt((px - dx * h) ** 2 + (py - dy * h) ** 2) - radius


def sd_box(x: Tensor, y: Tensor, cx, cy, hw, hh, corner=0.0) -> Tensor:
    """Exact signed distance to a rounded axis-aligned box with half sizes ``hw``, ``hh``."""
    qx = (x - cx).abs() - hw + corner
    qy = (y - cy).abs() - hh + corner
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside - corner


def sd_ring(sdf: Tensor, thickness) -> Tensor:
    """The outline band of width ``thickness`` around the boundary of any shape."""
    return sdf.abs() - thickness / 2


def sd_union(a: Tensor, b: Tensor) -> Tensor:
    return torch.minimum(a, b)


def sd_intersect(a: Tensor, b: Tensor) -> Tensor:
    return torch.maximum(a, b)


def sd_subtract(a: Tensor, b: Tensor) -> Tensor:
    """``a`` with ``b`` cut away."""
    return torch.maximum(a, -b)


def rotate(x: Tensor, y: Tensor, angle, cx=0.0, cy=0.0) -> tuple[Tensor, Tensor]:
    """Coordinates of the points (x, y) in a frame rotated by ``angle`` (radians) around (cx, cy)."""
    c, s = torch.cos(torch.as_tensor(angle)), torch.sin(torch.as_tensor(angle))
    dx, dy = x - cx, y - cy
    return c * dx + s * dy + cx, -s * dx + c * dy + cy


# --- layers and compositing ---

@dataclass
class Layer:
    """One painted shape: its SDF, its colour and how it is shaded.

    ``color`` broadcasts to (T, 3, H, W) (a 3-vector for a flat colour); ``shade`` (T, H, W) multiplies the colour
    (lighting, texture) in the photographic render only; ``clip`` (T, H, W) in [0, 1] masks the coverage (an iris
    inside the eye white); ``outline`` says whether line-art styles draw its contour; ``tone`` tags the layer for
    the styles (``skin``, ``hair``, ``dark``, ``light``, ``background``, ...).
    """

    name: str
    sdf: Tensor
    color: Tensor
    aa: float | Tensor
    shade: Tensor | None = None
    clip: Tensor | None = None
    opacity: float = 1.0
    outline: bool = True
    tone: str = "solid"
    extra: dict = field(default_factory=dict)

    def alpha(self) -> Tensor:
        a = coverage(self.sdf, self.aa)
        if self.clip is not None:
            a = a * self.clip
        if self.opacity != 1.0:
            a = a * self.opacity
        return a


def color_tensor(rgb) -> Tensor:
    """An RGB triple in [0, 1] as a (1, 3, 1, 1) tensor."""
    return torch.as_tensor(rgb, dtype=torch.float32).reshape(1, 3, 1, 1)


def over(canvas: Tensor, color: Tensor, alpha: Tensor) -> Tensor:
    """Porter-Duff "over" in place: ``canvas`` (T,3,H,W), ``color`` broadcastable to it, ``alpha`` (T,H,W)."""
    a = alpha.unsqueeze(1)
    canvas.mul_(1 - a).add_(color * a)
    return canvas


def composite_photo(layers: list[Layer], background: Tensor) -> Tensor:
    """The photographic render: shaded colours composited back to front over ``background`` (T,3,H,W)."""
    canvas = background.clone()
    for layer in layers:
        color = layer.color if layer.shade is None else layer.color * layer.shade.unsqueeze(1)
        over(canvas, color, layer.alpha())
    return canvas


def to_uint8(canvas: Tensor) -> Tensor:
    """(T, 3, H, W) float in [0, 1] → (T, H, W, 3) uint8, rounded."""
    return (canvas.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def smoothstep(edge0, edge1, x: Tensor) -> Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV in [0, 1] to an RGB triple in [0, 1] (scalar helper for palettes)."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
