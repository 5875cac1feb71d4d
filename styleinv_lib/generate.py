"""Video generation with a trained StyleInV (paper §3.2, §4.2): non-autoregressive, any length, any timestamps.

A video is a content latent ``w0`` (first frame ``G(w0)``) and a motion seed (the FFA-APE noise of every anchor).
Frame t is ``G(w0 + E_s(G(w0), s_t))`` (Eq. 2), independent of every other frame, so:

* any timestamps, unsorted or fractional, in any order, give the same frames;
* a 2,048-frame video is generated in chunks of ``chunk`` frames with bounded memory, and equals the one-batch
  result (up to floating-point reassociation);
* ``w0`` comes from a seed (``z → G.mapping``), is given directly, or comes from an image through the raw inversion
  encoder (initial-frame conditioned generation, §4.2, Fig. 9).

:class:`VideoGenerator` bundles G, StyleInV and (optionally) the raw encoder; :func:`load_video_generator` builds it
from a StyleInV run folder or exported file.  :class:`StyleInVClips` adapts it to the metrics protocol
(``styleinv metrics --motion RUN``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .metrics.protocol import to_uint8  # [-1, 1] → uint8 as StyleGAN-V's metric code rounds (re-exported here)

Tensor = torch.Tensor

__all__ = ["StyleInVClips", "VideoGenerator", "generate_video", "load_video_generator", "to_uint8"]


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
    device = w0.device
    b = w0.shape[0]
    t = _as_time_grid(timestamps, b, device)
    seeds = torch.arange(b) if motion_seeds is None else torch.as_tensor(motion_seeds, dtype=torch.int64)
    if seeds.shape != (b,):
        raise ValueError(f"motion_seeds must hold one seed per video ({b}), got shape {tuple(seeds.shape)}")
    if x0 is None and styleinv.use_encoder:
        x0 = G.synthesis(w0, noise_mode=noise_mode)
    frames, latents = [], []
    for start in range(0, t.shape[1], chunk):
        tc = t[:, start:start + chunk]
        w = styleinv(w0, x0, seeds, tc)                                   # B×n×w_dim
        img = G.synthesis(w.reshape(-1, w.shape[-1]), noise_mode=noise_mode)
        frames.append(img.reshape(b, tc.shape[1], *img.shape[1:]).float().cpu())
        if return_latents:
            latents.append(w.float().cpu())
    video = torch.cat(frames, dim=1)
    return (video, torch.cat(latents, dim=1)) if return_latents else video


class VideoGenerator:
    """G + StyleInV (+ the raw encoder for images): everything needed to make videos.  Eval mode, no grad."""

    def __init__(self, G, styleinv, encoder=None, *, device="cpu", noise_mode: str = "const", info: dict | None = None):
        self.device = torch.device(device)
        self.G = G.eval().requires_grad_(False).to(self.device)
        self.styleinv = styleinv.eval().requires_grad_(False).to(self.device)
        self.encoder = encoder.eval().requires_grad_(False).to(self.device) if encoder is not None else None
        self.noise_mode = noise_mode
        self.resolution = int(G.img_resolution)
        self.info = info or {}

    @torch.no_grad()
    def w0_from_seeds(self, seeds: Sequence[int], truncation_psi: float = 1.0) -> Tensor:
        """Content latents from seeds: ``z ~ N(0, I)`` seeded per video, then G's mapping (and truncation)."""
        z = torch.stack([torch.randn(self.G.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        return self.G.mapping(z.to(self.device), truncation_psi=truncation_psi)[:, 0]

    @torch.no_grad()
    def w0_from_images(self, images: Tensor) -> Tensor:
        """Initial-frame conditioning (§4.2): images ``B×3×R×R`` (uint8 or float in [-1, 1]) → raw encoder → w0."""
        if self.encoder is None:
            raise ValueError("this generator has no inversion encoder: pass encoder= to load_video_generator")
        x = images.float().div(127.5).sub(1) if images.dtype == torch.uint8 else images.float()
        return self.encoder(x.to(self.device))

    @torch.no_grad()
    def video(self, w0: Tensor, num_frames: int | None = None, *, timestamps=None, motion_seeds=None,
              chunk: int = 64, return_latents: bool = False):
        """Frames ``B×T×3×R×R`` in [-1, 1] for ``timestamps`` (default ``0..num_frames-1``)."""
        if timestamps is None:
            if num_frames is None or num_frames < 1:
                raise ValueError("give num_frames >= 1 or timestamps")
            timestamps = torch.arange(num_frames, dtype=torch.float32)
        return generate_video(self.G, self.styleinv, w0.to(self.device), timestamps, motion_seeds, chunk=chunk,
                              noise_mode=self.noise_mode, return_latents=return_latents)

    def clip_source(self) -> "StyleInVClips":
        return StyleInVClips(self)


class StyleInVClips:
    """The metrics protocol's view of a :class:`VideoGenerator`: ``n`` uint8 clips ``(n, T, 3, R, R)`` from a seed."""

    def __init__(self, gen: VideoGenerator):
        self.gen = gen
        self.resolution = gen.resolution
        self.description = f"StyleInV videos, {gen.resolution}² ({gen.info.get('motion_kind', 'ffa_ape')})"

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[Tensor]:
        rng = np.random.default_rng([seed, 0x51])
        for start in range(0, n, batch):
            b = min(batch, n - start)
            seeds = rng.integers(0, 2**31 - 1, size=(2, b))
            w0 = self.gen.w0_from_seeds(seeds[0].tolist())
            yield to_uint8(self.gen.video(w0, num_frames, motion_seeds=seeds[1].tolist()))


def load_video_generator(path, *, generator=None, encoder=None, device="cpu", which: str = "SI_ema") -> VideoGenerator:
    """A :class:`VideoGenerator` from a StyleInV run folder / snapshot / exported file.

    ``generator`` / ``encoder`` override the paths recorded in the run (the raw encoder is optional: only
    :meth:`VideoGenerator.w0_from_images` needs it; the recorded one is loaded when the file exists).
    """
    from .loading import checkpoint_path, load_encoder, load_generator, resolve_checkpoint
    from .train.checkpoint import load_snapshot
    from .train.styleinv import STAGE, build_styleinv

    def recorded(p: str) -> Path:
        """A path recorded at training time; ``checkpoints/<name>`` is looked up with :func:`checkpoint_path` (any
        working directory, or a download in Colab) when it does not exist as written."""
        q = Path(p)
        if not q.exists() and q.parent.name == "checkpoints":
            try:
                return checkpoint_path(q.name)
            except FileNotFoundError:
                pass
        return q

    snap = load_snapshot(resolve_checkpoint(path), expected_stage=STAGE)
    cfg = snap.config
    g_path = Path(generator) if generator is not None else recorded(cfg["generator"])
    if not g_path.exists():
        raise FileNotFoundError(f"{snap.path}: its generator {g_path} is missing; pass generator=PATH "
                                "(the StyleGAN2 run or file it was trained with)")
    G = load_generator(g_path, device=device)
    SI = build_styleinv(cfg["networks"])
    SI.load_state_dict(snap.modules_state(which))
    E = None
    e_path = encoder if encoder is not None else (recorded(cfg["encoder"]) if cfg.get("encoder") else None)
    if e_path is not None and Path(e_path).exists():
        E = load_encoder(e_path, device=device)
    elif encoder is not None:
        raise FileNotFoundError(f"encoder {encoder} not found")
    info = {"motion_kind": cfg["networks"]["motion"]["kind"], "path": str(snap.path),
            "step": cfg.get("step", snap.step)}
    return VideoGenerator(G, SI, E, device=device, info=info)
