"""StyleInV, the network (paper §3.2, Eq. 2, Fig. 3): a temporal-style-modulated inversion encoder.

Given a content latent ``w0`` (the first frame is ``G(w0)``) and a time ``t``, StyleInV produces the latent of frame t:

    s_t = MLP([w0, v_t])                                   temporal style (v_t: APE / FFA-APE, :mod:`.motion`)
    w_t = w0 + E_s(G(w0), s_t)                             Eq. 2: a residual in W, added to w0

``E_s`` is the trained inversion encoder of Eq. 1 (:class:`~.encoder.InversionEncoder`) with an AdaIN residual
block inserted after each of its stages, every one driven by ``s_t``.  Because E already maps ``G(w0)`` to (almost)
``w0``, its features carry the frame's content; the AdaIN blocks bend them over time.  Everything is
non-autoregressive: any set of timestamps is one batched forward pass.

Facts followed from the official code (``johannwyh/StyleInV``: ``training/styleinv/styleinv_encoder.py``
``MappingFuse`` / ``StyleEncoderIntoW``, ``training/styleinv/helpers.py`` ``AdaIN`` / ``AdainResBlk``,
``training/networks_styleinv.py`` ``StyleInV.forward_parallel``, ``configs/ffs.yaml``):

* temporal style: ``[w0, v_t]`` (512 + 512) → 2 fully connected layers with leaky ReLU (→ 512 → 512), learning-rate
  multiplier 0.01 (``layers_after_fuse: 2``, ``concat_content: true``);
* ``adain_mode: block``: one AdaIN residual block after each encoder *stage* (four for IR-SE-50 at 256²); the block
  is ``AdaIN → lrelu → conv3×3 → AdaIN → lrelu → conv3×3`` plus the shortcut, with AdaIN
  ``(1 + γ(s)) · InstanceNorm(x) + β(s)``;
* ``input_residual: true``: the encoder's output is added to ``w0`` (not to w̄ as in Eq. 1);
* ``skip_encoder`` (Table 3, ablation #1, "w/o inversion encoder"): the temporal style itself is the residual,
  ``w_t = w0 + s_t``.

Deliberate differences (stated, and tested):

* **The residual is exactly zero at initialisation**: the head that reads the modulated features is a *new* linear
  layer initialised to zero, and the last convolution of every AdaIN block is zero-initialised (so the blocks start
  as identities and the trunk computes exactly the raw encoder's features).  The official code loads pSp's head,
  which predicts ``ŵ0 − w̄``, so its untrained ``w_t`` is ``w0 + ŵ0 − w̄`` and the first-frame loss must undo that;
  here ``w_t = w0`` (a still video of ``G(w0)``) before the first step.  The AdaIN blocks add the shortcut without
  the official ``1/√2`` rescaling for the same reason (identity at init).
* **Every Table 3 variant starts from that same still video** (``still_start``): without the encoder the residual
  is ``A s_t + b``, read out by a linear layer initialised to zero like the full model's head (same kind of layer,
  same learning rate), so "w/o inversion encoder" does not start from an untrained MLP's output, whose distance
  from ``w0`` is about that between two random subjects, while the other variants start from ``w0``.
  ``still_start=False`` is the official ``w_t = w0 + s_t`` from the first step.
* **BatchNorm layers of the copied trunk stay in eval mode** (the raw encoder's running statistics): a frame's
  latent must not depend on which other frames share its batch, or chunked generation of long videos would differ
  from one batch.
* The part of the trunk before the first AdaIN block is time-independent; it runs once per video, not once per
  frame.
"""
from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .encoder import InversionEncoder
from .layers import EqualLinear, leaky_relu_gain
from .motion import MotionEncoder

Tensor = torch.Tensor

__all__ = ["AdaIN", "AdaINResBlock", "StyleInV", "TemporalStyle", "generate_video", "iter_latent_chunks", "latent_sequence"]


class TemporalStyle(nn.Module):
    """``s_t = MLP([w0, v_t])``: two equalised-lr fully connected layers with leaky ReLU (lr multiplier 0.01)."""

    def __init__(self, w_dim: int, motion_dim: int, style_dim: int | None = None, num_layers: int = 2,
                 lr_multiplier: float = 0.01, use_content: bool = True):
        super().__init__()
        style_dim = style_dim or w_dim
        self.use_content = use_content
        dims = [(w_dim if use_content else 0) + motion_dim] + [style_dim] * num_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_multiplier=lr_multiplier, activation="lrelu")
                                    for a, b in zip(dims[:-1], dims[1:]))
        self.style_dim = style_dim

    def forward(self, w0: Tensor, v: Tensor) -> Tensor:
        """``w0``: B×w_dim, ``v``: B×T×motion_dim → B×T×style_dim."""
        x = torch.cat([w0[:, None, :].expand(-1, v.shape[1], -1), v], dim=2) if self.use_content else v
        b, n = x.shape[:2]
        x = x.reshape(b * n, -1)
        for layer in self.layers:
            x = layer(x)
        return x.reshape(b, n, -1)


class AdaIN(nn.Module):
    """Adaptive instance normalisation: ``(1 + γ(s)) · IN(x) + β(s)`` with ``γ, β`` from a linear map of ``s``."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.affine = EqualLinear(style_dim, 2 * channels)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        gamma, beta = self.affine(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * F.instance_norm(x) + beta


class AdaINResBlock(nn.Module):
    """``x + conv(lrelu(AdaIN(conv(lrelu(AdaIN(x, s))), s)))``; the last conv starts at zero (identity block)."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm1, self.norm2 = AdaIN(style_dim, channels), AdaIN(style_dim, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        h = self.conv1(leaky_relu_gain(self.norm1(x, s)))
        h = self.conv2(leaky_relu_gain(self.norm2(h, s)))
        return x + h


class StyleInV(nn.Module):
    """``w_t = w0 + E_s(G(w0), s_t)`` (Eq. 2) for batched videos and arbitrary timestamps.

    ``encoder``: a trained :class:`InversionEncoder` (copied; the original is untouched) or ``None`` for the
    "w/o inversion encoder" ablation (``w_t = w0 + A s_t + b``, ``A, b`` starting at zero; with
    ``still_start=False`` the official ``w_t = w0 + s_t``).  ``motion``: a :class:`MotionEncoder` (FFA-APE or APE).

    ``forward(w0, x0, videos, t)``: ``w0`` B×w_dim, ``x0 = G(w0)`` B×3×R×R in [-1, 1] (ignored without encoder),
    ``videos`` B motion seeds (see :class:`MotionEncoder`), ``t`` B×T frame times → ``w_t`` B×T×w_dim.
    """

    def __init__(self, w_dim: int, motion: MotionEncoder, encoder: InversionEncoder | None = None,
                 style_layers: int = 2, style_lr_multiplier: float = 0.01, still_start: bool = True):
        super().__init__()
        self.w_dim = int(w_dim)
        self.motion = motion
        self.style = TemporalStyle(w_dim, motion.motion_dim, num_layers=style_layers,
                                   lr_multiplier=style_lr_multiplier)
        self.use_encoder = encoder is not None
        if encoder is not None:
            if encoder.w_dim != w_dim:
                raise ValueError(f"the encoder outputs w_dim={encoder.w_dim}, StyleInV was built for {w_dim}")
            self.encoder = copy.deepcopy(encoder)
            self.encoder.requires_grad_(True)
            # an AdaIN block after the last block of every stage (where the resolution changes next)
            res = self.encoder.block_resolutions
            self.adain_after = [i for i in range(len(res)) if i == len(res) - 1 or res[i + 1] != res[i]]
            self.adains = nn.ModuleList(AdaINResBlock(self.encoder.block_channels[i], self.style.style_dim)
                                        for i in self.adain_after)
            self.head = nn.Linear(self.encoder.feature_dim, w_dim)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        elif still_start:
            # without the encoder: a zero-initialised linear read-out of s_t, so that w_t = w0 at initialisation like
            # every other variant (still_start=False: the official w_t = w0 + s_t from the first step)
            self.head = nn.Linear(self.style.style_dim, w_dim)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.still_start = encoder is not None or bool(still_start)
        self.resolution = encoder.resolution if encoder is not None else None
        self.config = dict(w_dim=self.w_dim, style_layers=int(style_layers),
                           style_lr_multiplier=float(style_lr_multiplier), use_encoder=self.use_encoder,
                           still_start=self.still_start)

    def train(self, mode: bool = True) -> "StyleInV":
        super().train(mode)
        if self.use_encoder:  # BatchNorm keeps the raw encoder's running statistics (see the module docstring)
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def temporal_style(self, w0: Tensor, videos, t: Tensor) -> Tensor:
        """``s_t``: B×T×style_dim."""
        return self.style(w0, self.motion(videos, t))

    def residual(self, w0: Tensor, x0: Tensor | None, videos, t: Tensor, inversion=None) -> Tensor:
        """``E_s(G(w0), s_t)`` (without the encoder ``A s_t + b``, or ``s_t`` itself): B×T×w_dim.

        ``inversion``: a stand-in for :meth:`modulated_inversion` with the same result, such as its
        ``torch.compile``-d version (the training stage's)."""
        if t.ndim != 2 or t.shape[0] != w0.shape[0]:
            raise ValueError(f"t must be B×T with B = {w0.shape[0]} videos, got shape {tuple(t.shape)}")
        s = self.temporal_style(w0, videos, t)
        if not self.use_encoder:
            return self.head(s) if self.still_start else s
        if x0 is None:
            raise ValueError("StyleInV with an encoder needs the first frames x0 = G(w0)")
        self.encoder.check_input(x0)
        return (inversion or self.modulated_inversion)(x0, s)

    def modulated_inversion(self, x0: Tensor, s: Tensor) -> Tensor:
        """The encoder's trunk on the first frames ``x0`` (B×3×R×R) with AdaIN driven by the temporal styles ``s``
        (B×T×style_dim), pooled and read out: B×T×w_dim.  Tensors only, so that it compiles as one graph."""
        b, n = s.shape[:2]
        s_flat = s.reshape(b * n, -1)
        enc = self.encoder
        h = enc.stem(x0.to(enc.stem[0].weight.dtype))
        first = self.adain_after[0]
        for i in range(first + 1):                          # time-independent: once per video
            h = enc.blocks[i](h)
        h = h.repeat_interleave(n, dim=0)                   # (b·n) frames, video-major
        k = 0
        for i in range(first, len(enc.blocks)):
            if i > first:
                h = enc.blocks[i](h)
            if k < len(self.adain_after) and i == self.adain_after[k]:
                h = self.adains[k](h, s_flat)
                k += 1
        return self.head(h.mean(dim=(2, 3))).float().reshape(b, n, self.w_dim)

    def forward(self, w0: Tensor, x0: Tensor | None, videos, t: Tensor, inversion=None) -> Tensor:
        return w0[:, None, :] + self.residual(w0, x0, videos, t, inversion)


# ----------------------------------------------------------------------------------------------------------------
# Eq. 2 over a whole video: the latents and frames of any timestamps, in chunks of bounded memory


def _as_time_grid(timestamps, batch: int, device) -> Tensor:
    t = torch.as_tensor(np.asarray(timestamps) if not isinstance(timestamps, Tensor) else timestamps,
                        dtype=torch.float32)
    if t.ndim == 1:
        t = t[None].expand(batch, -1)
    if t.ndim != 2 or t.shape[0] != batch:
        raise ValueError(f"timestamps must be T or B×T with B = {batch}, got shape {tuple(t.shape)}")
    if (t < 0).any():
        raise ValueError("timestamps must be >= 0 (frame 0 is G(w0))")
    return t.to(device)


@torch.no_grad()
def generate_video(G, styleinv, w0: Tensor, timestamps, motion_seeds=None, *, chunk: int = 64,
                   x0: Tensor | None = None, noise_mode: str = "const", return_latents: bool = False):
    """Frames ``B×T×3×R×R`` (float in [-1, 1], on the CPU) of the videos ``(w0, motion_seeds)`` at ``timestamps``.

    ``w0``: B×w_dim.  ``timestamps``: T (shared) or B×T frame times ≥ 0.  ``motion_seeds``: B ints (default
    ``0..B-1``).  ``chunk``: frames per forward pass per video (memory is bounded by ``B·chunk`` frames).  ``x0``:
    ``G(w0)`` if already computed.  ``return_latents``: also return ``w_t`` (B×T×w_dim).
    """
    b = w0.shape[0]
    frames, latents = [], []
    for w in iter_latent_chunks(G, styleinv, w0, timestamps, motion_seeds, chunk, x0, noise_mode):
        img = G.synthesis(w.reshape(-1, w.shape[-1]), noise_mode=noise_mode)
        frames.append(img.reshape(b, w.shape[1], *img.shape[1:]).float().cpu())
        if return_latents:
            latents.append(w.float().cpu())
    video = torch.cat(frames, dim=1)
    return (video, torch.cat(latents, dim=1)) if return_latents else video


def iter_latent_chunks(G, styleinv, w0: Tensor, timestamps, motion_seeds, chunk: int, x0: Tensor | None,
                   noise_mode: str) -> Iterator[Tensor]:
    """``w_t`` (B×n×w_dim) for successive chunks of ``chunk`` timestamps (Eq. 2; ``x0 = G(w0)``)."""
    b = w0.shape[0]
    t = _as_time_grid(timestamps, b, w0.device)
    seeds = torch.arange(b) if motion_seeds is None else torch.as_tensor(motion_seeds, dtype=torch.int64)
    if seeds.shape != (b,):
        raise ValueError(f"motion_seeds must hold one seed per video ({b}), got shape {tuple(seeds.shape)}")
    if x0 is None and styleinv.use_encoder:
        x0 = G.synthesis(w0, noise_mode=noise_mode)
    for start in range(0, t.shape[1], chunk):
        yield styleinv(w0, x0, seeds, t[:, start:start + chunk])


@torch.no_grad()
def latent_sequence(G, styleinv, w0: Tensor, timestamps, motion_seeds=None, *, chunk: int = 64,
                    x0: Tensor | None = None, noise_mode: str = "const") -> Tensor:
    """The latents ``w_t`` (B×T×w_dim, CPU) of the videos ``(w0, motion_seeds)`` without decoding frames."""
    return torch.cat([w.float().cpu() for w in iter_latent_chunks(G, styleinv, w0, timestamps, motion_seeds, chunk,
                                                              x0, noise_mode)], dim=1)
