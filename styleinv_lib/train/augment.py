"""Adaptive discriminator augmentation (ADA): Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data" (NeurIPS 2020).

Why augment the discriminator
-----------------------------
With little data the discriminator D memorises the training set and its feedback to the generator G becomes useless.
ADA shows D only *augmented* images — reals and fakes alike, in every D and G step — so D cannot memorise pixels.
Because every augmentation below is applied with a probability ``p < 1`` and is invertible in distribution
("non-leaking"), G is still pushed towards the un-augmented data distribution.  ``p`` is tuned on the fly by
:class:`AdaptiveAugment` from an overfitting heuristic.

What :class:`AugmentPipe` does
------------------------------
Conventions: float images in **[-1, 1]** (so 0 is mid-grey: contrast scales around grey, brightness shifts by a
fraction of the half range), shaped ``(N, C, H, W)``, or clips ``(N, T, C, H, W)``.  Outputs are *not* clipped: an
augmented image may leave [-1, 1] slightly (clipping would zero the gradients that reach G through the pipe).

Every transform has a *probability multiplier* ``m``; each sample draws its own parameters and the transform is
applied to it with probability ``p * m`` (``p`` is the buffer :attr:`AugmentPipe.p`).  The parameter distributions
are those of the ADA paper / official code (``NVlabs/stylegan2-ada-pytorch``, ``training/augment.py``):

==========  ============================================================  ====================================
transform   parameter (per sample)                                        applied with probability
==========  ============================================================  ====================================
xflip       mirror x with chance 1/2                                      ``p * xflip``
rotate90    rotate by k * 90 degrees, k uniform in {0, 1, 2, 3}           ``p * rotate90``
xint        integer shift, uniform in ±``xint_max`` of the size, rounded  ``p * xint``
scale       isotropic scale ``2 ** N(0, scale_std²)``                     ``p * scale``
rotate      angle uniform in ±``rotate_max`` * 180°, done twice           each ``1 - sqrt(1 - p * rotate)``,
            (before and after the anisotropic scale)                      so that P(any rotation) = p * rotate
aniso       scale x by ``2 ** N(0, aniso_std²)`` and y by its inverse     ``p * aniso``
xfrac       sub-pixel shift ``N(0, xfrac_std²)`` times the size           ``p * xfrac``
brightness  add ``N(0, brightness_std²)``                                 ``p * brightness``
contrast    scale around 0 by ``2 ** N(0, contrast_std²)``                ``p * contrast``
lumaflip    reflect colours through the plane ⟂ luma axis (1,1,1)/√3      ``p * lumaflip``, then chance 1/2
hue         rotate colours around the luma axis, uniform ±hue_max * 180°  ``p * hue``
saturation  scale the chroma part by ``2 ** N(0, saturation_std²)``       ``p * saturation``
==========  ============================================================  ====================================

Order of application: xflip, rotate90, xint, scale, pre-rotation, aniso, post-rotation, xfrac (geometry), then
brightness, contrast, lumaflip, hue, saturation (colour).  The "luma" axis is the plain channel mean (1,1,1)/√3,
as in ADA: hue rotation and saturation keep the channel mean of every pixel, saturation keeps grey pixels grey.
Grey images (C = 1) get the colour transform of (x, x, x) averaged back to one channel; hue and saturation are
skipped for them.  The image-space filtering, additive noise and cutout of the official pipe are not implemented
(the default ADA pipeline "bgc" does not use them).

Defaults follow the request of this project: every "bgc" transform is on except ``lumaflip`` (it turns a face into
a negative).  ``AugmentPipe(**AUGMENT_PRESETS["bgc"])`` gives the exact official "bgc" set, ``lumaflip`` included.

How pixels are moved (and why it is exact where it should be)
-------------------------------------------------------------
The geometry is one 3×3 inverse affine map per sample (output pixel → input pixel, in pixel units about the image
centre), split in two stages:

1. *Pixel blitting* (xflip, rotate90, xint) maps pixel centres onto pixel centres.  It is done by an integer
   ``gather``: no interpolation at all, so a flip, a quarter turn or an integer shift is bit-exact, and it
   costs one memory pass.  Pixels shifted in from outside the image are mirrored (symmetric reflection).
2. *General transforms* (scale, rotations, aniso, xfrac) need resampling, done only for the samples that drew
   one of them.  The official code pads by reflection, upsamples 2× with a wavelet filter, samples bilinearly and
   downsamples 2× with the same filter, to limit aliasing.  Here: bilinear ``grid_sample`` with reflection padding
   at **2×2 supersampled** output positions, followed by a 2×2 average (a box prefilter in output space).  The
   supersampling removes most of the aliasing of minification (the scale has std 0.2 in log2, so shrinking by more
   than 2× is rare) and of rotation, at 4× the sampling cost.  The R1 penalty of the real images is differentiated
   through this pipe, so the sampling must have a second derivative; PyTorch's own ``grid_sample`` has none before
   torch 2.12 (the CUDA torch 2.11 of our GPU check stopped there), so :class:`_GridSample` supplies it.  Like the
   official filter it softens the image a little — but only in the samples that were geometrically augmented.

Colour is one 4×4 homogeneous matrix per sample (a 3×3 linear part and an offset), applied as a batched matmul.

Clips
-----
A tensor ``(N, T, C, H, W)`` is N clips: one set of parameters is drawn per *clip* and applied identically to each
of its T frames, so the temporal signal the video discriminator looks at is left intact (different clips still get
different parameters).

Randomness
----------
All draws come from ``torch.rand``/``torch.randn`` with the optional ``generator`` (on the generator's own device,
then moved), so ``pipe(x, generator=torch.Generator().manual_seed(0))`` is reproducible.

The ADA controller
------------------
:class:`AdaptiveAugment` accumulates the overfitting heuristic ``r_t = E[sign(D(real))]`` (D's mean sign on the
reals it is trained on) and every ``interval`` minibatches moves ``p`` by
``sign(r_t - target) * (images seen in the interval) / (ada_kimg * 1000)``: ``p`` can go from 0 to 1 in
``ada_kimg`` thousand images.  Defaults as in ADA: target 0.6, interval 4, ada_kimg 500 (100 when fine-tuning a
pre-trained network, to react faster), and p starting at 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["ADAController", "AUGMENT_PRESETS", "AdaptiveAugment", "AugmentParams", "AugmentPipe"]

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
_NONE = dict(xflip=0, rotate90=0, xint=0, scale=0, rotate=0, aniso=0, xfrac=0,
             brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0)

#: Named pipelines of the ADA paper (those made of the transforms implemented here), as complete keyword sets:
#: ``AugmentPipe(**AUGMENT_PRESETS["bgc"])`` enables exactly the official "bgc" transforms and nothing else.
AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    "none": dict(_NONE),
    "blit": {**_NONE, **_BLIT},
    "geom": {**_NONE, **_GEOM},
    "color": {**_NONE, **_COLOR},
    "bg": {**_NONE, **_BLIT, **_GEOM},
    "bgc": {**_NONE, **_BLIT, **_GEOM, **_COLOR},
}


# ---------------------------------------------------------------------------------------------------------------
# Batched homogeneous matrices (float32, one per sample).

def _eye(n: int, size: int, device) -> torch.Tensor:
    return torch.eye(size, device=device).repeat(n, 1, 1)


def _translate2(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotation turning +x towards +y (clockwise on screen, where y points down) by an angle given by its cosine
    and sine; taking them as inputs lets quarter turns use exact 0/±1 entries."""
    m = _eye(cos.shape[0], 3, cos.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


def _luma_axis(device) -> torch.Tensor:
    return torch.full((3,), 1 / math.sqrt(3), device=device)


def _color_linear(lin: torch.Tensor) -> torch.Tensor:
    """4×4 homogeneous colour matrix with linear part ``lin`` (N, 3, 3) and no offset."""
    m = _eye(lin.shape[0], 4, lin.device)
    m[:, :3, :3] = lin
    return m


# ---------------------------------------------------------------------------------------------------------------

@dataclass
class AugmentParams:
    """The random draw for one batch (one entry per image, or per clip), as consumed by :meth:`AugmentPipe.apply`.

    ``blit`` and ``geom`` are *inverse* maps: they send an output pixel ``(x - cx, y - cy, 1)`` (pixel units
    about the centre ``c = ((W-1)/2, (H-1)/2)``) to the input position it is read from.  ``blit`` must be an
    integer map (flips, quarter turns, integer shifts), ``geom`` may be any affine map; ``geom`` is only applied
    where ``geom_mask`` is true.  ``color`` is a *forward* homogeneous map ``rgb1_out = color @ rgb1_in``,
    applied where ``color_mask`` is true.
    """

    blit: torch.Tensor        # (N, 3, 3)
    geom: torch.Tensor        # (N, 3, 3)
    geom_mask: torch.Tensor   # (N,) bool
    color: torch.Tensor       # (N, 4, 4)
    color_mask: torch.Tensor  # (N,) bool

    def __len__(self) -> int:
        return self.blit.shape[0]

    @classmethod
    def identity(cls, n: int, device=None) -> "AugmentParams":
        none = torch.zeros(n, dtype=torch.bool, device=device)
        return cls(_eye(n, 3, device), _eye(n, 3, device), none, _eye(n, 4, device), none.clone())

    def repeat_frames(self, frames: int) -> "AugmentParams":
        """Each entry repeated ``frames`` times in a row: per-clip parameters → per-frame parameters."""
        return AugmentParams(**{f.name: getattr(self, f.name).repeat_interleave(frames, dim=0) for f in fields(self)})

    def to(self, device) -> "AugmentParams":
        return AugmentParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class _Draws:
    """Random numbers for ``n`` samples from an optional generator, drawn on its device and moved to ``device``."""

    def __init__(self, n: int, device, generator: Optional[torch.Generator]):
        self.n, self.device, self.gen = n, device, generator
        self.src = generator.device if generator is not None else device

    def uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand((self.n, *shape), generator=self.gen, device=self.src).to(self.device)

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn((self.n, *shape), generator=self.gen, device=self.src).to(self.device)

    def chance(self, prob: float) -> torch.Tensor:
        """Per-sample booleans, true with probability ``prob``."""
        return self.uniform() < prob


def _reflect_index(i: torch.Tensor, size: int) -> torch.Tensor:
    """Fold integer coordinates into [0, size) by symmetric mirroring (…, 1, 0 | 0, 1, …, size-1 | size-1, …),
    the same rule ``grid_sample(padding_mode="reflection", align_corners=False)`` uses."""
    period = 2 * size
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - 1 - i, i)


def _centred_grid(height: int, width: int, factor: int, device) -> torch.Tensor:
    """Homogeneous centred pixel coordinates (3, H*W*factor²) of an output grid sampled ``factor`` times per pixel."""
    xs = (torch.arange(width * factor, device=device, dtype=torch.float32) + 0.5) / factor - 0.5 - (width - 1) / 2
    ys = (torch.arange(height * factor, device=device, dtype=torch.float32) + 0.5) / factor - 0.5 - (height - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1), torch.ones_like(gx).reshape(-1)])


class AugmentPipe(torch.nn.Module):
    """ADA augmentation of images ``(N, C, H, W)`` or clips ``(N, T, C, H, W)`` in [-1, 1]; see the module doc.

    Args are probability multipliers (0 disables a transform) and the spreads of the parameters; ``p`` is the
    initial overall probability (the buffer :attr:`p`, which :class:`AdaptiveAugment` adjusts; it travels with
    ``state_dict``).  Call ``pipe(x, generator=g)``; or draw with :meth:`sample_params` and apply the same draw to
    several tensors with :meth:`apply`.  Gradients (first and second order) flow to ``x``.
    """

    def __init__(self, xflip: float = 1, rotate90: float = 1, xint: float = 1, scale: float = 1, rotate: float = 1,
                 aniso: float = 1, xfrac: float = 1, brightness: float = 1, contrast: float = 1,
                 lumaflip: float = 0, hue: float = 1, saturation: float = 1, *,
                 xint_max: float = 0.125, scale_std: float = 0.2, rotate_max: float = 1.0, aniso_std: float = 0.2,
                 xfrac_std: float = 0.125, brightness_std: float = 0.2, contrast_std: float = 0.5,
                 hue_max: float = 1.0, saturation_std: float = 1.0, p: float = 0.0):
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p)))
        # probability multipliers
        self.xflip, self.rotate90, self.xint = float(xflip), float(rotate90), float(xint)
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        # spreads
        self.xint_max, self.scale_std, self.rotate_max = float(xint_max), float(scale_std), float(rotate_max)
        self.aniso_std, self.xfrac_std = float(aniso_std), float(xfrac_std)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)
        self.hue_max, self.saturation_std = float(hue_max), float(saturation_std)

    def extra_repr(self) -> str:
        names = ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
                 "lumaflip", "hue", "saturation"]
        on = ", ".join(f"{k}={getattr(self, k):g}" for k in names if getattr(self, k) > 0)
        return f"p={float(self.p):.4f}, {on}"

    # -- drawing ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_params(self, batch_size: int, num_channels: int, height: int, width: int, device=None,
                      generator: Optional[torch.Generator] = None) -> AugmentParams:
        """Draw the parameters of ``batch_size`` images (or clips) at the current :attr:`p`."""
        device = torch.device(device) if device is not None else self.p.device
        n, p = batch_size, float(self.p)
        draw = _Draws(n, device, generator)
        zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)

        # Pixel blitting: exact integer maps.  Inverses are composed by right-multiplication in the order the
        # forward transforms are applied (xflip first).
        blit = _eye(n, 3, device)
        if self.xflip > 0:
            flip = torch.floor(draw.uniform() * 2)
            flip = torch.where(draw.chance(self.xflip * p), flip, zero)
            blit = blit @ _scale2(1 - 2 * flip, one)
        if self.rotate90 > 0:
            k = torch.floor(draw.uniform() * 4).long()
            k = torch.where(draw.chance(self.rotate90 * p), k, torch.zeros_like(k))
            cos_table = torch.tensor([1.0, 0.0, -1.0, 0.0], device=device)   # cos(-k·90°), exact
            sin_table = torch.tensor([0.0, -1.0, 0.0, 1.0], device=device)   # sin(-k·90°), exact
            blit = blit @ _rotate2(cos_table[k], sin_table[k])
        if self.xint > 0:
            t = (draw.uniform(2) * 2 - 1) * self.xint_max
            t = torch.where(draw.chance(self.xint * p)[:, None], t, torch.zeros_like(t))
            blit = blit @ _translate2(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height))

        # General geometric transforms (need resampling).
        geom = _eye(n, 3, device)
        resample = torch.zeros(n, dtype=torch.bool, device=device)
        if self.scale > 0:
            s = torch.exp2(draw.normal() * self.scale_std)
            on = draw.chance(self.scale * p)
            s = torch.where(on, s, one)
            geom, resample = geom @ _scale2(1 / s, 1 / s), resample | on
        # Two independent rotations with chance q each, so that P(at least one) = 1 - (1-q)² = p * rotate.
        q = 1 - math.sqrt(min(max(1 - self.rotate * p, 0.0), 1.0))

        def rotation(geom, resample):
            theta = (draw.uniform() * 2 - 1) * math.pi * self.rotate_max
            on = draw.chance(q)
            theta = torch.where(on, theta, zero)
            return geom @ _rotate2(torch.cos(-theta), torch.sin(-theta)), resample | on

        if self.rotate > 0:
            geom, resample = rotation(geom, resample)                  # before the anisotropic scale
        if self.aniso > 0:
            s = torch.exp2(draw.normal() * self.aniso_std)
            on = draw.chance(self.aniso * p)
            s = torch.where(on, s, one)
            geom, resample = geom @ _scale2(1 / s, s), resample | on
        if self.rotate > 0:
            geom, resample = rotation(geom, resample)                  # after it
        if self.xfrac > 0:
            t = draw.normal(2) * self.xfrac_std
            on = draw.chance(self.xfrac * p)
            t = torch.where(on[:, None], t, torch.zeros_like(t))
            geom, resample = geom @ _translate2(-t[:, 0] * width, -t[:, 1] * height), resample | on

        # Colour: forward homogeneous 4×4 maps, composed by left-multiplication in application order.
        color = _eye(n, 4, device)
        recolor = torch.zeros(n, dtype=torch.bool, device=device)
        v = _luma_axis(device)
        vvT = torch.outer(v, v)
        eye3 = torch.eye(3, device=device)
        if self.brightness > 0:
            b = draw.normal() * self.brightness_std
            on = draw.chance(self.brightness * p)
            b = torch.where(on, b, zero)
            m = _eye(n, 4, device)
            m[:, :3, 3] = b[:, None]
            color, recolor = m @ color, recolor | on
        if self.contrast > 0:
            c = torch.exp2(draw.normal() * self.contrast_std)
            on = draw.chance(self.contrast * p)
            c = torch.where(on, c, one)
            color, recolor = _color_linear(c[:, None, None] * eye3) @ color, recolor | on
        if self.lumaflip > 0:
            flip = torch.floor(draw.uniform() * 2)
            on = draw.chance(self.lumaflip * p)
            flip = torch.where(on, flip, zero)
            # Householder reflection through the plane orthogonal to the luma axis: I - 2 v vᵀ.
            color, recolor = _color_linear(eye3 - 2 * flip[:, None, None] * vvT) @ color, recolor | (on & (flip > 0))
        if self.hue > 0 and num_channels > 1:
            theta = (draw.uniform() * 2 - 1) * math.pi * self.hue_max
            on = draw.chance(self.hue * p)
            theta = torch.where(on, theta, zero)
            cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
            k = 1 / math.sqrt(3)                                          # v = (k, k, k)
            cross = torch.tensor([[0.0, -k, k], [k, 0.0, -k], [-k, k, 0.0]], device=device)   # [v]ₓ
            rot = cos * eye3 + sin * cross + (1 - cos) * vvT          # Rodrigues' formula around v
            color, recolor = _color_linear(rot) @ color, recolor | on
        if self.saturation > 0 and num_channels > 1:
            s = torch.exp2(draw.normal() * self.saturation_std)
            on = draw.chance(self.saturation * p)
            s = torch.where(on, s, one)
            # keep the luma component, scale the chroma (the part orthogonal to v) by s
            color, recolor = _color_linear(vvT + s[:, None, None] * (eye3 - vvT)) @ color, recolor | on

        return AugmentParams(blit=blit, geom=geom, geom_mask=resample, color=color, color_mask=recolor)

    # -- applying -----------------------------------------------------------------------------------------------
    def apply(self, x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Apply a drawn :class:`AugmentParams` to images ``(N, C, H, W)`` or clips ``(N, T, C, H, W)`` (one
        entry of ``params`` per clip, used for all its frames)."""
        if x.ndim == 5:
            n, t = x.shape[:2]
            frames, params = x.reshape(n * t, *x.shape[2:]), params.repeat_frames(t)
        elif x.ndim == 4:
            frames = x
        else:
            raise ValueError(f"expected images (N, C, H, W) or clips (N, T, C, H, W), got shape {tuple(x.shape)}")
        if len(params) != frames.shape[0]:
            raise ValueError(f"{len(params)} parameter sets for {x.shape[0]} images/clips")
        params = params.to(x.device)
        y = frames
        if not torch.equal(params.blit, _eye(len(params), 3, x.device)):
            y = _blit(y, params.blit)
        if bool(params.geom_mask.any()):
            y = _resample(y, params.geom, params.geom_mask)
        if bool(params.color_mask.any()):
            y = _recolor(y, params.color)
        return y.reshape(x.shape)

    def forward(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Augment a batch of images or clips; the input itself when ``p == 0``."""
        if float(self.p) <= 0:
            return x
        if x.ndim not in (4, 5):
            raise ValueError(f"expected images (N, C, H, W) or clips (N, T, C, H, W), got shape {tuple(x.shape)}")
        c, h, w = x.shape[-3:]
        params = self.sample_params(x.shape[0], c, h, w, device=x.device, generator=generator)
        return self.apply(x, params)


def _blit(x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
    """Integer pixel moves by gathering: bit-exact, differentiable, reflection for pixels from outside."""
    n, c, h, w = x.shape
    pts = _centred_grid(h, w, 1, x.device)                           # (3, H*W), half-integers: exact in float32
    src = inv.to(torch.float32) @ pts                                  # (N, 3, H*W)
    sx = _reflect_index(torch.round(src[:, 0] + (w - 1) / 2).long(), w)
    sy = _reflect_index(torch.round(src[:, 1] + (h - 1) / 2).long(), h)
    index = (sy * w + sx)[:, None, :].expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)


def _bilinear_reflect(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class _GridSample(torch.autograd.Function):
    """Bilinear ``grid_sample`` (reflection padding) with derivatives of every order with respect to the image.

    For a fixed grid the sampling is linear in the image, ``y = A x``: the gradient is the adjoint ``Aᵀ g``
    (:class:`_GridSampleAdjoint`), and the derivative of that adjoint is ``A`` again.  The grid is not
    differentiated (it holds no parameters).  The role of StyleGAN2-ADA's ``grid_sample_gradfix``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grid)
        ctx.image_shape = x.shape
        return _bilinear_reflect(x, grid)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSampleAdjoint.apply(g, grid, ctx.image_shape), None


class _GridSampleAdjoint(torch.autograd.Function):
    """``Aᵀ g`` of :class:`_GridSample`, itself differentiable: its derivative is the sampling ``A``.  Computed in
    the gradient's dtype (that of the sampled output); autograd casts it to the image's."""

    @staticmethod
    def forward(ctx, g: torch.Tensor, grid: torch.Tensor, image_shape) -> torch.Tensor:
        ctx.save_for_backward(grid)
        # torch's first-order kernel, through a graph of zeros (A is linear, so the zeros do not matter)
        with torch.enable_grad(), torch.autocast(g.device.type, enabled=False):
            x = torch.zeros(image_shape, dtype=g.dtype, device=g.device, requires_grad=True)
            (gx,) = torch.autograd.grad(_bilinear_reflect(x, grid.to(g.dtype)), x, g)
        return gx

    @staticmethod
    def backward(ctx, gg: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSample.apply(gg, grid.to(gg.dtype)), None, None


def _resample(x: torch.Tensor, inv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """General affine resampling of the masked samples: bilinear, reflection padding, 2×2 supersampling."""
    rows = mask.nonzero().squeeze(1)
    sub = x.index_select(0, rows)
    m, c, h, w = sub.shape
    pts = _centred_grid(h, w, 2, x.device)                           # (3, 4*H*W) supersample positions
    src = inv.index_select(0, rows).to(torch.float32) @ pts           # (M, 3, 4*H*W), centred input pixels
    # grid_sample(align_corners=False) normalises pixel index i to (2i + 1)/W - 1, i.e. centred u to 2u/W.
    grid = torch.stack([src[:, 0] * (2 / w), src[:, 1] * (2 / h)], dim=-1).reshape(m, 2 * h, 2 * w, 2)
    out = F.avg_pool2d(_GridSample.apply(sub, grid.to(sub.dtype)), 2)
    return x.index_copy(0, rows, out)


def _recolor(x: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    lin, off = color[:, :3, :3].to(x.dtype), color[:, :3, 3:].to(x.dtype)
    if c == 3:
        return (lin @ x.reshape(n, 3, h * w) + off).reshape(n, 3, h, w)
    if c == 1:   # grey: transform (x, x, x) and average back to one channel
        rgb = x.reshape(n, 1, h * w).expand(n, 3, h * w)
        return (lin @ rgb + off).mean(dim=1, keepdim=True).reshape(n, 1, h, w)
    raise ValueError(f"colour augmentation needs RGB (3 channels) or grey (1 channel) images, got {c} channels")


# ---------------------------------------------------------------------------------------------------------------

class AdaptiveAugment:
    """The ADA controller: tunes ``p`` so that ``r_t = E[sign(D(real))]`` stays near ``target``.

    Usage, once per training iteration (minibatch of ``batch_size`` reals, summed over all GPUs)::

        ada = AdaptiveAugment(pipe)                    # pipe.p is written at every adjustment
        ...
        real_logits = D(pipe(reals))
        ada.accumulate(real_logits)                    # every D pass on reals may report (ADA counts all of them)
        ...
        ada.step(batch_size)                           # every `interval` calls: p ± batch_size*interval/(kimg*1000)

    Under ``torch.distributed`` the sign sums are all-reduced at each adjustment, so all ranks keep the same ``p``.
    :attr:`p` and :attr:`rt` (the last interval's mean sign; NaN before the first adjustment) are plain floats for
    logging.  ``p`` is clamped to [0, 1] (the official code only clamps at 0; above 1 nothing changes anyway except
    the time it takes to come back down).  ``state_dict()`` holds plain numbers only, for exact resume.
    """

    def __init__(self, pipe: Optional[AugmentPipe] = None, target: float = 0.6, ada_kimg: float = 500,
                 interval: int = 4, p: Optional[float] = None):
        if interval < 1:
            raise ValueError("interval must be at least 1 minibatch")
        self.pipe, self.target, self.ada_kimg, self.interval = pipe, float(target), float(ada_kimg), int(interval)
        self.p = float(p) if p is not None else (float(pipe.p) if pipe is not None else 0.0)
        self.rt = float("nan")
        self.batches = 0          # minibatches stepped so far
        self._nimg = 0            # images seen since the last adjustment
        self._acc: Optional[torch.Tensor] = None   # [sum of signs, count] since the last adjustment (on device)
        self._push()

    def _push(self) -> None:
        if self.pipe is not None:
            self.pipe.p.fill_(self.p)

    @torch.no_grad()
    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add the signs of D's logits on (augmented) real images; no host synchronisation."""
        logits = real_logits.detach().float()
        stat = torch.stack([logits.sign().sum(), torch.tensor(float(logits.numel()), device=logits.device)])
        self._acc = stat if self._acc is None else self._acc.to(stat.device) + stat

    def step(self, batch_size: int) -> float:
        """Count one minibatch of ``batch_size`` images; every ``interval`` minibatches adjust ``p``.  Returns p."""
        self.batches += 1
        self._nimg += int(batch_size)
        if self.batches % self.interval != 0:
            return self.p
        acc = self._acc if self._acc is not None else torch.zeros(2)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            on_gpu = torch.distributed.get_backend() == "nccl"
            acc = acc.to(torch.device("cuda", torch.cuda.current_device()) if on_gpu else "cpu", copy=True)
            torch.distributed.all_reduce(acc)
        total, count = (float(v) for v in acc.cpu())
        if count > 0:
            self.rt = total / count
            direction = (self.rt > self.target) - (self.rt < self.target)   # sign, 0 when exactly on target
            self.p = min(max(self.p + direction * self._nimg / (self.ada_kimg * 1000), 0.0), 1.0)
            self._push()
        self._acc, self._nimg = None, 0
        return self.p

    def state_dict(self) -> dict:
        acc = [0.0, 0.0] if self._acc is None else [float(v) for v in self._acc.cpu()]
        return dict(p=self.p, rt=self.rt, target=self.target, ada_kimg=self.ada_kimg, interval=self.interval,
                    batches=self.batches, nimg=self._nimg, sign_sum=acc[0], sign_count=acc[1])

    def load_state_dict(self, state: dict) -> None:
        self.p, self.rt = float(state["p"]), float(state["rt"])
        self.target, self.ada_kimg = float(state["target"]), float(state["ada_kimg"])
        self.interval, self.batches, self._nimg = int(state["interval"]), int(state["batches"]), int(state["nimg"])
        self._acc = None if state["sign_count"] == 0 else torch.tensor([state["sign_sum"], state["sign_count"]])
        self._push()


ADAController = AdaptiveAugment
