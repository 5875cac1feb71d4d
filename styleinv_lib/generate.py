"""Video generation with a trained StyleInV (paper §3.2, §4.2): non-autoregressive, any length, any timestamps.

A video is a content latent ``w0`` (first frame ``G(w0)``) and a motion seed (the FFA-APE noise of every anchor).
Frame t is ``G(w0 + E_s(G(w0), s_t))`` (Eq. 2), independent of every other frame, so:

* any timestamps, unsorted or fractional, in any order, give the same frames;
* a 2,048-frame video is generated in chunks of ``chunk`` frames with bounded memory, and equals the one-batch
  result (up to floating-point reassociation);
* ``w0`` comes from a seed (``z → G.mapping``), is given directly, or comes from an image through the raw inversion
  encoder (initial-frame conditioned generation, §4.2, Fig. 9);
* the latent sequence ``w_t`` can be decoded by other generators that share G's W space, such as style-transfer
  fine-tunes of G (plug-and-play, §3.5, Fig. 8): :func:`decode_latents` and :meth:`VideoGenerator.plug_and_play`.

:class:`VideoGenerator` bundles G, StyleInV and (optionally) the raw encoder; :func:`load_video_generator` builds it
from a StyleInV run folder or exported file.  :class:`StyleInVClips` adapts it to the metrics protocol
(``styleinv metrics --motion RUN``).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .metrics.protocol import StaticImageClips
from .nn.styleinv import iter_latent_chunks, generate_video, latent_sequence
from .pixels import to_uint8  # [-1, 1] → uint8 as StyleGAN-V's metric code rounds (re-exported here)

Tensor = torch.Tensor

__all__ = ["AutoregressiveVideoGenerator", "StyleInVClips", "VideoGenerator", "check_compatible", "decode_latents",
           "generate_video", "latent_sequence", "load_autoregressive_generator", "load_video_generator",
           "load_clip_source", "side_by_side", "to_uint8", "write_videos"]


def on_device(G, device):
    """``G`` in eval mode on ``device``: itself when it is there already, else a copy there, so a caller's
    generator never moves (plug-and-play decoders loaded on the CPU stay usable on the CPU)."""
    want, have = torch.device(device), next(G.parameters()).device
    if have.type != want.type or (want.index is not None and have.index != want.index):
        G = copy.deepcopy(G).to(want)
    return G.eval()


def check_compatible(G, other, name: str = "generator") -> None:
    """Refuse a generator that cannot decode ``G``'s latents: another w dimension or number of ws."""
    if other.w_dim != G.w_dim or other.num_ws != G.num_ws:
        where = getattr(other, "info", {}).get("path", name)
        raise ValueError(f"{where}: its W space (w_dim {other.w_dim}, {other.num_ws} ws at "
                         f"{other.img_resolution}²) differs from the motion's generator (w_dim {G.w_dim}, "
                         f"{G.num_ws} ws at {G.img_resolution}²); plug-and-play decoding needs a fine-tune of that "
                         "generator (`styleinv finetune-style`)")


@torch.no_grad()
def decode_latents(G, latents: Tensor, *, chunk: int = 256, noise_mode: str = "const") -> Tensor:
    """Frames ``B×T×3×R×R`` (float in [-1, 1], CPU) of ``G`` for a latent sequence ``latents`` (B×T×w_dim)."""
    if latents.ndim != 3 or latents.shape[-1] != G.w_dim:
        raise ValueError(f"latents must be B×T×{G.w_dim}, got {tuple(latents.shape)}")
    device = next(G.parameters()).device
    flat = latents.reshape(-1, latents.shape[-1])
    out = [G.synthesis(flat[i:i + chunk].to(device), noise_mode=noise_mode).float().cpu()
           for i in range(0, flat.shape[0], chunk)]
    img = torch.cat(out)
    return img.reshape(*latents.shape[:2], *img.shape[1:])


def side_by_side(videos: Sequence[Tensor], gap: int = 2) -> np.ndarray:
    """One uint8 video ``(T, H', W', 3)``: row ``i`` shows video ``i`` of every entry of ``videos`` (each
    ``B×T×3×R×R`` in [-1, 1], same B and T) side by side, in order (Fig. 8's layout)."""
    from .viz.video import video_grid

    shapes = {tuple(v.shape[:2]) for v in videos}
    if len(shapes) != 1:
        raise ValueError(f"videos must share their number and length, got {sorted(shapes)}")
    b = videos[0].shape[0]
    tiles = [to_uint8(v[i]).permute(0, 2, 3, 1).numpy() for i in range(b) for v in videos]
    return video_grid(tiles, nrow=len(videos), gap=gap)


def _times(num_frames: int | None, timestamps):
    """``timestamps``, or ``0..num_frames-1`` when none are given."""
    if timestamps is not None:
        return timestamps
    if num_frames is None or num_frames < 1:
        raise ValueError("give num_frames >= 1 or timestamps")
    return torch.arange(num_frames, dtype=torch.float32)


class VideoGenerator:
    """G + StyleInV (+ the raw encoder for images): everything needed to make videos.  Eval mode, no grad.

    The models run on ``device`` (a GPU when there is one, see :func:`~styleinv_lib.train.loop.pick_device`);
    inputs may live anywhere, and every tensor a method returns is on the CPU, so code that uses them (plots,
    metrics, numpy) does not depend on where the models ran."""

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
        return self.G.mapping(z.to(self.device), truncation_psi=truncation_psi)[:, 0].float().cpu()

    @torch.no_grad()
    def w0_from_images(self, images: Tensor) -> Tensor:
        """Initial-frame conditioning (§4.2): images ``B×3×R×R`` (uint8 or float in [-1, 1]) → raw encoder → w0."""
        if self.encoder is None:
            raise ValueError("this generator has no inversion encoder: pass encoder= to load_video_generator")
        x = images.float().div(127.5).sub(1) if images.dtype == torch.uint8 else images.float()
        return self.encoder(x.to(self.device)).float().cpu()

    @torch.no_grad()
    def first_frame(self, w0: Tensor) -> Tensor:
        """``G(w0)`` (``B×3×R×R`` in [-1, 1]) with this generator's noise mode: the image every video of ``w0``
        starts from, and the reconstruction of an image passed to :meth:`w0_from_images`."""
        return self.G.synthesis(w0.to(self.device), noise_mode=self.noise_mode).float().cpu()

    @torch.no_grad()
    def video(self, w0: Tensor, num_frames: int | None = None, *, timestamps=None, motion_seeds=None,
              chunk: int = 64, return_latents: bool = False):
        """Frames ``B×T×3×R×R`` in [-1, 1] for ``timestamps`` (default ``0..num_frames-1``)."""
        return generate_video(self.G, self.styleinv, w0.to(self.device), _times(num_frames, timestamps),
                              motion_seeds, chunk=chunk, noise_mode=self.noise_mode, return_latents=return_latents)

    @torch.no_grad()
    def plug_and_play(self, generators: Sequence, w0: Tensor, num_frames: int | None = None, *, timestamps=None,
                      motion_seeds=None, chunk: int = 64) -> tuple[list[Tensor], Tensor]:
        """One latent sequence, several decoders (§3.5, Fig. 8): StyleInV computes ``w_t`` once (with this
        generator's ``G(w0)`` as its first frame) and every generator in ``generators`` decodes the same ``w_t``.
        Returns ``([B×T×3×R×R per generator], latents B×T×w_dim)``."""
        for i, other in enumerate(generators):
            check_compatible(self.G, other, f"generator {i}")
        latents = latent_sequence(self.G, self.styleinv, w0.to(self.device), _times(num_frames, timestamps),
                                  motion_seeds, chunk=chunk, noise_mode=self.noise_mode)
        videos = [decode_latents(on_device(other, self.device), latents, noise_mode=self.noise_mode)
                  for other in generators]
        return videos, latents

    @torch.no_grad()
    def latent_chunks(self, w0: Tensor, num_frames: int, *, motion_seeds=None, chunk: int = 64) -> Iterator[Tensor]:
        """``w_t`` for frames ``0..num_frames-1`` in successive chunks (B×n×w_dim, CPU), computed chunk by chunk."""
        for w in iter_latent_chunks(self.G, self.styleinv, w0.to(self.device), _times(num_frames, None), motion_seeds,
                                chunk, None, self.noise_mode):
            yield w.float().cpu()

    def clip_source(self) -> "StyleInVClips":
        return StyleInVClips(self)


class AutoregressiveVideoGenerator(VideoGenerator):
    """The autoregressive baseline (chapter 9) behind :class:`VideoGenerator`'s interface: ``video(w0, T)`` unrolls
    the motion network for ``T`` steps (sequentially: frame t needs frames 0..t-1) and decodes with G.  Timestamps
    must be whole frames; a video of length ``max(t) + 1`` is unrolled and the asked-for frames are returned."""

    def __init__(self, G, motion, *, device="cpu", noise_mode: str = "const", info: dict | None = None):
        super().__init__(G, motion, None, device=device, noise_mode=noise_mode, info=info)
        self.motion = self.styleinv

    def _latents(self, w0: Tensor, num_frames, timestamps, motion_seeds) -> Tensor:
        t = torch.as_tensor(_times(num_frames, timestamps))
        if t.ndim != 1 or (t < 0).any() or (t != t.round()).any():
            raise ValueError("the autoregressive baseline takes whole-frame timestamps >= 0 (one list for all videos)")
        seeds = list(range(w0.shape[0])) if motion_seeds is None else list(motion_seeds)
        w = self.motion(w0.to(self.device), int(t.max()) + 1, seeds)
        return w[:, t.long().to(w.device)].float().cpu()

    @torch.no_grad()
    def video(self, w0: Tensor, num_frames: int | None = None, *, timestamps=None, motion_seeds=None,
              chunk: int = 64, return_latents: bool = False):
        latents = self._latents(w0, num_frames, timestamps, motion_seeds)
        video = decode_latents(self.G, latents, chunk=chunk * w0.shape[0], noise_mode=self.noise_mode)
        return (video, latents) if return_latents else video

    @torch.no_grad()
    def plug_and_play(self, generators: Sequence, w0: Tensor, num_frames: int | None = None, *, timestamps=None,
                      motion_seeds=None, chunk: int = 64) -> tuple[list[Tensor], Tensor]:
        for i, other in enumerate(generators):
            check_compatible(self.G, other, f"generator {i}")
        latents = self._latents(w0, num_frames, timestamps, motion_seeds)
        return [decode_latents(on_device(other, self.device), latents, noise_mode=self.noise_mode)
                for other in generators], latents

    @torch.no_grad()
    def latent_chunks(self, w0: Tensor, num_frames: int, *, motion_seeds=None, chunk: int = 64) -> Iterator[Tensor]:
        """The unrolled latents (one small B×T×w_dim tensor: the recurrence is sequential), in chunks of frames."""
        latents = self._latents(w0, num_frames, None, motion_seeds)
        yield from latents.split(chunk, dim=1)


class StyleInVClips:
    """The metrics protocol's view of a :class:`VideoGenerator`: ``n`` uint8 clips ``(n, T, 3, R, R)`` from a seed."""

    def __init__(self, gen: VideoGenerator):
        self.gen = gen
        self.resolution = gen.resolution
        self.description = (f"autoregressive baseline videos, {gen.resolution}²"
                            if isinstance(gen, AutoregressiveVideoGenerator) else
                            f"StyleInV videos, {gen.resolution}² ({gen.info.get('motion_kind', 'ffa_ape')})")

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[Tensor]:
        rng = np.random.default_rng([seed, 0x51])
        for start in range(0, n, batch):
            b = min(batch, n - start)
            seeds = rng.integers(0, 2**31 - 1, size=(2, b))
            w0 = self.gen.w0_from_seeds(seeds[0].tolist())
            yield to_uint8(self.gen.video(w0, num_frames, motion_seeds=seeds[1].tolist()))


@torch.no_grad()
def write_videos(gen: VideoGenerator, generators: Sequence, w0: Tensor, num_frames: int, *, motion_seeds,
                 video_paths: Sequence[Sequence], grid_path=None, fps: float = 25, chunk: int = 64) -> Tensor:
    """Generate ``num_frames`` frames of each video and stream them into mp4 files; return the latents.

    ``generators``: the decoders (``gen.G`` first for the motion's own videos, then e.g. style fine-tunes sharing
    its W space, §3.5).  ``video_paths[g][i]``: the file of video ``i`` decoded by generator ``g``; ``grid_path``:
    one video with the videos in rows and the generators side by side (Fig. 8's layout).  Each chunk of ``chunk``
    frames is decoded, encoded and dropped, so peak memory does not grow with ``num_frames`` (only the latents,
    B×T×w_dim floats, are kept).  Files appear only when complete; on an error none of them is left behind.
    """
    from .viz.video import Mp4Writer

    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 frame, got {chunk}")
    if len(video_paths) != len(generators) or any(len(p) != w0.shape[0] for p in video_paths):
        raise ValueError("video_paths needs one path per video for every generator")
    for i, other in enumerate(generators):
        check_compatible(gen.G, other, f"generator {i}")
    decoders = [on_device(other, gen.device) for other in generators]
    writers = [[Mp4Writer(p, fps) for p in paths] for paths in video_paths]
    grid = Mp4Writer(grid_path, fps) if grid_path is not None else None
    everything = [w for row in writers for w in row] + ([grid] if grid is not None else [])
    latents = []
    try:
        for w in gen.latent_chunks(w0, num_frames, motion_seeds=motion_seeds, chunk=chunk):
            latents.append(w)
            videos = [decode_latents(other, w, chunk=chunk * w.shape[0], noise_mode=gen.noise_mode)
                      for other in decoders]
            for video, row in zip(videos, writers):
                for i, writer in enumerate(row):
                    writer.write(to_uint8(video[i]).permute(0, 2, 3, 1).numpy())
            if grid is not None:
                grid.write(side_by_side(videos))
        for writer in everything:
            writer.close()
    except BaseException:
        for writer in everything:
            writer.discard()
        raise
    return torch.cat(latents, dim=1)


def load_video_generator(path, *, generator=None, encoder=None, device="cpu", which: str = "SI_ema") -> VideoGenerator:
    """A :class:`VideoGenerator` from a StyleInV run folder / snapshot / exported file.

    ``generator`` / ``encoder`` override the paths recorded in the run (the raw encoder is optional: only
    :meth:`VideoGenerator.w0_from_images` needs it; the recorded one is loaded when the file exists).
    """
    from .loading import load_encoder, resolve_checkpoint
    from .checkpoint import load_snapshot
    from .train.styleinv import STAGE, build_styleinv

    snap = load_snapshot(resolve_checkpoint(path), expected_stage=STAGE)
    cfg = snap.config
    G = _recorded_generator(snap, generator, device)
    SI = build_styleinv(cfg["networks"])
    SI.load_state_dict(snap.modules_state(which))
    E = None
    e_path = encoder if encoder is not None else (_recorded(cfg["encoder"]) if cfg.get("encoder") else None)
    if e_path is not None and Path(e_path).exists():
        E = load_encoder(e_path, device=device)
    elif encoder is not None:
        raise FileNotFoundError(f"encoder {encoder} not found")
    info = {"motion_kind": cfg["networks"]["motion"]["kind"], "path": str(snap.path),
            "step": cfg.get("step", snap.step)}
    return VideoGenerator(G, SI, E, device=device, info=info)


def _recorded(p: str) -> Path:
    """A path recorded at training time; ``checkpoints/<name>`` is looked up with
    :func:`~styleinv_lib.loading.checkpoint_path` (any working directory, or a download in Colab) when it does not
    exist as written."""
    from .loading import checkpoint_path

    q = Path(p)
    if not q.exists() and q.parent.name == "checkpoints":
        try:
            return checkpoint_path(q.name)
        except FileNotFoundError:
            pass
    return q


def _recorded_generator(snap, generator, device):
    """The generator a run was trained with (or ``generator``), with a clear error when it is missing."""
    from .loading import load_generator

    g_path = Path(generator) if generator is not None else _recorded(snap.config["generator"])
    if not g_path.exists():
        raise FileNotFoundError(f"{snap.path}: its generator {g_path} is missing; pass generator=PATH "
                                "(the StyleGAN2 run or file it was trained with)")
    return load_generator(g_path, device=device)


def load_autoregressive_generator(path, *, generator=None, device="cpu", which: str = "M_ema"
                                  ) -> AutoregressiveVideoGenerator:
    """An :class:`AutoregressiveVideoGenerator` from a baseline run folder, snapshot or exported file
    (:func:`~styleinv_lib.train.autoregressive.export_autoregressive`)."""
    from .loading import resolve_checkpoint
    from .nn.autoregressive import AutoregressiveMotion
    from .train.autoregressive import STAGE
    from .checkpoint import load_snapshot

    snap = load_snapshot(resolve_checkpoint(path), expected_stage=STAGE)
    G = _recorded_generator(snap, generator, device)
    motion = AutoregressiveMotion(**snap.config["motion"])
    motion.load_state_dict(snap.modules_state(which))
    return AutoregressiveVideoGenerator(G, motion, device=device,
                                        info={"motion_kind": "autoregressive", "path": str(snap.path),
                                              "step": snap.config.get("step", snap.step)})


# ----------------------------------------------------------------------------------------------------------------
# What the metrics evaluate: a clip source for any checkpoint


def load_clip_source(path, *, device="cpu", generator=None):
    """The clips the metrics protocol (:func:`~styleinv_lib.metrics.protocol.evaluate`) draws from a run folder or
    snapshot, chosen by the stage it records: a ``stylegan2`` generator's images held still (the no-motion
    baseline, :class:`~styleinv_lib.metrics.protocol.StaticImageClips`), StyleInV's videos or the autoregressive
    baseline's (``generator`` overrides the StyleGAN2 the run recorded)."""
    from .checkpoint import read_snapshot_metadata
    from .loading import load_generator, resolve_checkpoint

    snapshot = resolve_checkpoint(path)
    stage = read_snapshot_metadata(snapshot).get("stage", "?")
    if stage == "stylegan2":
        return StaticImageClips(load_generator(snapshot, device=device), device=device)
    if stage == "styleinv":
        return load_video_generator(snapshot, generator=generator, device=device).clip_source()
    if stage == "autoregressive":
        return load_autoregressive_generator(snapshot, generator=generator, device=device).clip_source()
    raise ValueError(f"{snapshot}: a '{stage}' snapshot cannot generate videos for the metrics (stages that can: "
                     "autoregressive, stylegan2, styleinv)")
