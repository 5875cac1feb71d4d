"""SynthFaces ground-truth **probe**: a small CNN that reads identity and per-frame motion factors off a frame.

SynthFaces (:mod:`styleinv_lib.data.synthetic`) renders every frame from known attributes, so a network trained on
rendered frames can *measure* what a generator did: does the face keep its identity over 1024 frames, does it
blink, how fast does the head turn?  The metrics built on it live in :mod:`.groundtruth`.  They are **SynthFaces
probe metrics, not FID/FVD**: the probe has only ever seen SynthFaces renders, its numbers mean nothing on other
data and cannot be compared with published numbers.

**The network** (:class:`SynthFacesProbe`, ~0.85 M parameters): frames ``B x 3 x H x W`` (uint8 in [0, 255] or
float in [-1, 1], any size; resized internally to ``input_size`` = 64, with antialiasing when shrinking) go through
two GroupNorm/SiLU CNNs:

* **identity**: a trunk 64² -> 32² -> 16² -> 8² -> 4², pooled 8² and 4² features -> a 128-d L2-normalised embedding.  Trained as a *metric* embedding
  (a normalised-softmax / CosFace head over the training identities plus an in-batch supervised contrastive
  loss), so that it transfers to identities never seen in training - generated videos show new identities.  Two
  frames show the same identity when the cosine of their embeddings is at least :attr:`SynthFacesProbe.threshold`,
  which is calibrated on held-out identities after training (maximum balanced accuracy over same / different
  identity pairs).  The class ids of training are discarded: only the embedding is exported.
* **factors**: a separate trunk (64² -> 8², flattened: it keeps *where* features are) -> the 11 per-frame factors
  :data:`FACTOR_NAMES` (yaw, pitch, roll, tx, ty, zoom, blink, mouth_open, brow_raise, gaze_x, gaze_y) in their
  own units (radians, half-image units, 0..1, ...).  All of them are, in principle, visible in one frame; how well each is actually recovered is
  measured on held-out identities and stored in the exported file (``probe.info["heldout"]["r2"]``).  Held-out R² of the shipped probe at 64² /
  32²: yaw 0.95 / 0.96, pitch 0.94 / 0.80, roll 0.95 / 0.94, tx 0.97 / 0.97, ty 0.94 / 0.89, blink 0.88 / 0.77,
  mouth opening 0.82 / 0.60, gaze_x 0.83 / 0.48; zoom (0.19), brow raise (0.06) and gaze_y (0.0) are *not* read
  reliably - a few-percent scale change and a one-pixel brow shift hide behind identity differences (head size,
  hair) - so no metric here uses them (see ``FACTOR_NOTES``).

**Training** (:func:`train_probe`) renders SynthFaces frames on the fly (no dataset on disk): each batch is ``P``
identities x ``K`` frames from several videos (``videos_per_identity`` > 1, different motion) at random real-valued
times, with half of the batch degraded to a random lower resolution (28..56 px) and back, so the probe also reads
32² generator output.  The batch is a pure function of ``(seed, step)`` and the learning-rate schedule does not
depend on the run length, so the shared :class:`~styleinv_lib.train.loop.TrainLoop` gives exact resumption
(``N`` steps in one go == ``N/2`` + resume + ``N/2``).  Training identities come from SynthFaces seed
:data:`TRAIN_DATA_SEED`; the threshold is calibrated on seed :data:`CALIB_DATA_SEED` and the reported held-out
numbers are measured on seed :data:`EVAL_DATA_SEED` (independent identity draws: never seen in training).

The exported file is one safetensors snapshot (stage ``"synthfaces_probe"``, checksum-verified on load) holding the
weights, the config, the threshold and the held-out metrics; :func:`load_probe` reads it (by default the one shipped in
``styleinv_lib/metrics/weights/synthfaces_probe.safetensors``).  Train your own with ``styleinv train-probe --out FILE``.

**The style-robust probe** (``load_probe(styles=True)``, ``weights/synthfaces_probe_styles.safetensors``) is the
same network trained with ``styles="photo,toon,sketch,popart"``: every video of a batch is drawn in a random one of
the renderings of :mod:`styleinv_lib.data.styles`, with the same identity label and the same factor targets.  The
photo-only probe does not read the art styles (yaw correlation with the truth 0.97 on photos, 0.81 on toon, 0.44 on
sketch, 0.13 on pop-art at 32²), so chapter 8 measures pose/expression agreement and identity across styles with
this one; its identity embedding is trained to match a subject across renderings.  Its per-style held-out numbers
are stored in ``info["heldout_by_style"]``.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.styles import ALL_STYLES, POP_PALETTES, render_styled
from ..data.synthetic import DEFAULT_VERSION, FACTOR_NAMES, FACTOR_UNITS, SynthFaces, check_version

Tensor = torch.Tensor

__all__ = [
    "CALIB_DATA_SEED", "DEFAULT_PROBE_FILE", "EVAL_DATA_SEED", "EXPORT_STAGE", "FACTOR_NOTES", "ProbeConfig",
    "SynthFacesProbe", "TRAIN_DATA_SEED", "TRAIN_STAGE", "add_probe_cli", "default_probe_path", "evaluate_probe",
    "STYLES_PROBE_FILE", "load_probe", "parse_styles", "run_probe_cli", "train_probe",
]

#: Stage name of the exported probe file (checked by :func:`load_probe`).
EXPORT_STAGE = "synthfaces_probe"
#: Stage name of the training snapshots in the run folder.
TRAIN_STAGE = "synthfaces_probe_train"
#: File name of the probe shipped in ``styleinv_lib/metrics/weights/`` for SynthFaces version 1 (the version-2
#: probe adds ``_v2``, see :func:`default_probe_path`).
DEFAULT_PROBE_FILE = "synthfaces_probe.safetensors"
#: File name of the style-robust probe (trained on photo, toon, sketch and pop-art renderings), version 1.
STYLES_PROBE_FILE = "synthfaces_probe_styles.safetensors"
#: SynthFaces dataset seeds: training identities, threshold calibration, held-out evaluation.  Different seeds give
#: independent identity draws, so calibration and evaluation identities were never seen in training.
TRAIN_DATA_SEED = 101
CALIB_DATA_SEED = 202
EVAL_DATA_SEED = 303

#: What each regressed factor is, and how visible it is in one frame.
FACTOR_NOTES = {
    "yaw": "head turn (rad): reliable",
    "pitch": "head nod (rad): reliable",
    "roll": "head tilt (rad): reliable",
    "tx": "horizontal head shift (half-image units): reliable",
    "ty": "vertical head shift (half-image units): reliable",
    "zoom": "head scale: NOT reliable (held-out R² ~0.2: confused with head size, which varies by identity)",
    "blink": "eye closure 0 open..1 shut: reliable at 64², weaker at 32² (eyes are 1-3 px tall)",
    "mouth_open": "mouth opening 0..1: reliable at 64², weaker at 32²",
    "brow_raise": "brow raise 0..1: a 1-px brow shift, NOT reliable (R² ~0)",
    "gaze_x": "horizontal gaze -1..1: iris of a few pixels, fair at 64², weak at 32²",
    "gaze_y": "vertical gaze -1..1: NOT observable at these sizes (R² ~0)",
}


# --------------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------------

def to_unit_float(frames: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1]; float tensors are assumed to be in [-1, 1] already (returned as float32)."""
    if not isinstance(frames, torch.Tensor):
        frames = torch.as_tensor(np.asarray(frames))
    if frames.dtype == torch.uint8:
        return frames.float().div(127.5).sub(1.0)
    if not frames.is_floating_point():
        raise ValueError(f"frames must be uint8 (0..255) or float (-1..1), got dtype {frames.dtype}")
    return frames.float()


def check_frames(frames: Tensor, what: str = "frames") -> Tensor:
    """Validate a ``B x 3 x H x W`` batch (uint8 or float in [-1, 1]); return it as float32 in [-1, 1]."""
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[1] != 3:
        hint = ""
        if frames.ndim == 4 and frames.shape[-1] == 3:
            hint = " (channels-last? use frames.permute(0, 3, 1, 2))"
        elif frames.ndim == 5:
            hint = " (a batch of videos? flatten it to frames first)"
        raise ValueError(f"{what} must be B x 3 x H x W, got shape {tuple(frames.shape)}{hint}")
    if frames.shape[0] == 0 or min(frames.shape[2:]) < 8:
        raise ValueError(f"{what} must hold at least one frame of at least 8x8 pixels, got {tuple(frames.shape)}")
    return to_unit_float(frames)


def resize_frames(x: Tensor, size: int) -> Tensor:
    """Bilinear resize to ``size x size`` (antialiased when shrinking); a no-op at the right size."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = x.shape[-2] > size or x.shape[-1] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


# --------------------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------------------

def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    groups = 8 if cout % 8 == 0 else 1
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(groups, cout), nn.SiLU())


class SynthFacesProbe(nn.Module):
    """Identity embedding + motion-factor regressor for SynthFaces frames (see the module docstring).

    ``forward(frames)`` takes ``B x 3 x H x W`` frames (uint8 0..255 or float -1..1, any size) and returns
    ``{"embedding": B x D (unit norm), "factors": B x F (factor units, in FACTOR_NAMES order)}``.
    ``threshold`` is the calibrated same-identity cosine threshold (NaN until calibrated).
    """

    def __init__(self, input_size: int = 64, width: int = 32, embed_dim: int = 128,
                 factor_names: Sequence[str] = FACTOR_NAMES, factor_hidden: int = 128):
        super().__init__()
        if input_size % 16 != 0 or input_size < 32:
            raise ValueError(f"input_size must be a multiple of 16 and >= 32, got {input_size}")
        self.config = dict(input_size=int(input_size), width=int(width), embed_dim=int(embed_dim),
                           factor_names=list(factor_names), factor_hidden=int(factor_hidden))
        self.input_size = int(input_size)
        self.factor_names = tuple(factor_names)
        w = int(width)
        self.stem = _conv(3, w, stride=2)                                         # 32²
        self.block1 = _conv(w, w)
        self.down2, self.block2 = _conv(w, 2 * w, 2), _conv(2 * w, 2 * w)         # 16²
        self.down3, self.block3 = _conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w)     # 8²
        self.down4, self.block4 = _conv(4 * w, 3 * w, 2), _conv(3 * w, 3 * w)     # 4²
        self.embed_head = nn.Sequential(nn.Linear(7 * w, 2 * embed_dim), nn.SiLU(), nn.Linear(2 * embed_dim, embed_dim))
        # The factor regressor has its own trunk: the identity objective trains its trunk to be *invariant* to pose
        # and expression, exactly what the regressor must see (a shared trunk left yaw/blink R² near 0).
        self.factor_trunk = nn.Sequential(
            _conv(3, w, 2), _conv(w, w),                          # 32²
            _conv(w, 2 * w, 2), _conv(2 * w, 2 * w),              # 16²
            _conv(2 * w, 2 * w, 2), _conv(2 * w, 2 * w),          # 8²: keeps where the features are
            nn.Conv2d(2 * w, w // 2, 1), nn.SiLU())
        side = input_size // 8
        self.factor_head = nn.Sequential(nn.Linear((w // 2) * side * side, factor_hidden), nn.SiLU(),
                                         nn.Linear(factor_hidden, len(self.factor_names)))
        # factor standardisation (set from the training distribution) and the calibrated identity threshold
        self.register_buffer("factor_mean", torch.zeros(len(self.factor_names)))
        self.register_buffer("factor_std", torch.ones(len(self.factor_names)))
        self.register_buffer("id_threshold", torch.tensor(float("nan")))
        self.info: dict[str, Any] = {}

    @property
    def threshold(self) -> float:
        """Same-identity threshold on the cosine of two embeddings (calibrated on held-out identities)."""
        return float(self.id_threshold)

    @property
    def device(self) -> torch.device:
        return self.factor_mean.device

    def _trunk(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.block1(self.stem(x))
        x = self.block2(self.down2(x))
        f8 = self.block3(self.down3(x))
        f4 = self.block4(self.down4(f8))
        return f8, f4

    def forward_normalised(self, frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training view: (unit embedding, raw un-normalised embedding, standardised factors)."""
        x = resize_frames(check_frames(frames).to(self.device), self.input_size)
        f8, f4 = self._trunk(x)
        pooled = torch.cat([f8.mean((2, 3)), f4.mean((2, 3))], dim=1)
        raw = self.embed_head(pooled)
        factors = self.factor_head(self.factor_trunk(x).flatten(1))
        return F.normalize(raw, dim=1), raw, factors

    def forward(self, frames: Tensor) -> dict[str, Tensor]:
        emb, _, z = self.forward_normalised(frames)
        return {"embedding": emb, "factors": z * self.factor_std + self.factor_mean}

    @torch.no_grad()
    def embed(self, frames: Tensor, batch: int = 256) -> Tensor:
        """Unit-norm identity embeddings ``B x D`` (no grad, in chunks of ``batch`` frames)."""
        return self.run(frames, batch)["embedding"]

    @torch.no_grad()
    def predict_factors(self, frames: Tensor, batch: int = 256) -> dict[str, Tensor]:
        """``{factor name: B}`` predicted motion factors in their units (no grad, chunked)."""
        f = self.run(frames, batch)["factors"]
        return {name: f[:, i] for i, name in enumerate(self.factor_names)}

    @torch.no_grad()
    def run(self, frames: Tensor, batch: int = 256) -> dict[str, Tensor]:
        """:meth:`forward` without gradients, chunked, results on the CPU."""
        check_frames(frames[:1] if isinstance(frames, torch.Tensor) and frames.ndim >= 1 else frames)
        outs = [self(frames[i:i + batch]) for i in range(0, frames.shape[0], batch)]
        return {k: torch.cat([o[k] for o in outs]).cpu() for k in outs[0]}


# --------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------

@dataclass
class ProbeConfig:
    """Every setting of a probe training run (stored in the run's config.json, its snapshots and the export)."""

    resolution: int = 64            # SynthFaces render resolution of the training frames
    input_size: int = 64            # the network's internal input size
    width: int = 32
    embed_dim: int = 128
    identities: int = 1500          # training identities (SynthFaces seed TRAIN_DATA_SEED, ids 0..identities-1)
    videos_per_identity: int = 4    # videos (different motion) per training identity
    horizon: int = 256              # frames per video: random times are drawn in [0, horizon)
    ids_per_batch: int = 16         # P
    frames_per_id: int = 4          # K (from K // 2 videos x 2 times)
    steps: int = 1500
    lr: float = 2e-3
    lr_warmup: int = 100            # linear warm-up steps
    lr_half_life: int = 800         # then lr halves every this many steps (independent of `steps`: resumable)
    weight_decay: float = 1e-4
    cos_scale: float = 16.0         # CosFace scale s
    cos_margin: float = 0.2         # CosFace margin m
    supcon_weight: float = 1.0      # in-batch supervised contrastive loss
    supcon_temperature: float = 0.1
    factor_weight: float = 1.0
    lowres_fraction: float = 0.5    # share of each batch degraded to a random lower resolution and back
    lowres_min: int = 28
    styles: str = "photo"           # comma-separated renderings (data.styles.ALL_STYLES), one drawn per video
    version: int = DEFAULT_VERSION  # the SynthFaces version it reads (framing, scenes and motion differ)
    noise_std: float = 0.02         # Gaussian pixel noise (in [-1, 1] units)
    snapshot_every: int = 250       # steps
    eval_every: int = 500           # steps between quick held-out checks (TensorBoard); 0: only at the end
    calib_identities: int = 200     # held-out identities for the threshold (seed CALIB_DATA_SEED)
    eval_identities: int = 200      # held-out identities for the reported metrics (seed EVAL_DATA_SEED)
    seed: int = 0
    device: str = "auto"

    @property
    def batch(self) -> int:
        return self.ids_per_batch * self.frames_per_id

    def model_kwargs(self) -> dict:
        return dict(input_size=self.input_size, width=self.width, embed_dim=self.embed_dim)

    @classmethod
    def from_dict(cls, d: dict) -> "ProbeConfig":
        from ..train.loop import dataclass_from_dict

        return dataclass_from_dict(cls, d, "probe")

    def validate(self) -> None:
        if not 16 <= self.resolution <= 256:
            raise ValueError(f"resolution must be between 16 and 256, got {self.resolution}")
        if self.identities < self.ids_per_batch:
            raise ValueError(f"identities ({self.identities}) must be at least ids_per_batch ({self.ids_per_batch})")
        if self.frames_per_id < 2 or self.frames_per_id % 2:
            raise ValueError(f"frames_per_id must be even and >= 2, got {self.frames_per_id}")
        if self.steps < 1:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.calib_identities < 2 or self.eval_identities < 2:
            raise ValueError("calib_identities and eval_identities must be at least 2")
        parse_styles(self.styles)

    @property
    def style_list(self) -> tuple[str, ...]:
        return parse_styles(self.styles)


def parse_styles(styles) -> tuple[str, ...]:
    """``"photo,toon"`` or a sequence -> a tuple of known style names (a clear error for an unknown one)."""
    names = tuple(s.strip() for s in (styles.split(",") if isinstance(styles, str) else styles) if s.strip())
    bad = [s for s in names if s not in ALL_STYLES]
    if not names or bad:
        raise ValueError(f"styles must name some of {', '.join(ALL_STYLES)}, got {styles!r}")
    return names


# --------------------------------------------------------------------------------------------------------------
# Data: SynthFaces frames rendered on the fly, a pure function of (seed, step)
# --------------------------------------------------------------------------------------------------------------

def _render_frames(ds: SynthFaces, video: int, times: np.ndarray, style: str = "photo",
                   palette: int = 0) -> tuple[Tensor, np.ndarray]:
    """``(K x 3 x R x R uint8, K x F factors)`` of one video at the given times, in ``style``."""
    fac = ds.factors(video, times)
    if style == "photo":
        frames = ds.render(video, times)
    else:
        frames = render_styled(ds.identity(video), fac, ds.resolution, style, palette_index=palette,
                               scene=ds.scene(video))
    frames = frames.permute(0, 3, 1, 2).contiguous()
    return frames, np.stack([np.asarray(fac[n], dtype=np.float64) for n in FACTOR_NAMES], axis=1)


def factor_statistics(seed: int = TRAIN_DATA_SEED, videos: int = 2000, horizon: int = 256,
                      version: int = DEFAULT_VERSION) -> tuple[Tensor, Tensor]:
    """Mean and std of every factor over SynthFaces motion (analytic, no rendering): the regressor's scaling."""
    ds = SynthFaces(resolution=16, num_frames=horizon, seed=seed, version=version)
    rng = np.random.default_rng([seed, 0xFAC7])
    rows = []
    for v in range(videos):
        fac = ds.factors(v, rng.uniform(0, horizon, 16))
        rows.append(np.stack([fac[n] for n in FACTOR_NAMES], axis=1))
    data = np.concatenate(rows)
    return (torch.tensor(data.mean(0), dtype=torch.float32),
            torch.tensor(np.maximum(data.std(0), 1e-3), dtype=torch.float32))


class ProbeBatches:
    """Training batches: ``P`` identities x ``K`` frames (``K // 2`` videos x 2 random times), a function of step."""

    def __init__(self, cfg: ProbeConfig):
        self.cfg = cfg
        self.ds = SynthFaces(resolution=cfg.resolution, num_frames=cfg.horizon, seed=TRAIN_DATA_SEED,
                             videos_per_identity=cfg.videos_per_identity, version=cfg.version)

    def __call__(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, int(step), 0xBA7C])
        ids = rng.choice(cfg.identities, size=cfg.ids_per_batch, replace=False)
        frames, factors, labels = [], [], []
        n_videos = min(cfg.frames_per_id // 2, cfg.videos_per_identity)
        per_video = cfg.frames_per_id // n_videos
        styles = cfg.style_list
        for ident in ids:
            videos = rng.choice(cfg.videos_per_identity, size=n_videos, replace=False)
            for v in videos:
                times = rng.uniform(0, cfg.horizon, per_video)
                # (photo-only runs draw nothing more, so they repeat the shipped probe's batches exactly)
                style, palette = (styles[0], 0) if len(styles) == 1 else \
                    (styles[int(rng.integers(len(styles)))], int(rng.integers(len(POP_PALETTES))))
                f, fac = _render_frames(self.ds, int(ident) * cfg.videos_per_identity + int(v), times, style, palette)
                frames.append(f)
                factors.append(fac)
                labels += [int(ident)] * per_video
        x = to_unit_float(torch.cat(frames))
        x = self._degrade(x, rng)
        return x, torch.tensor(np.concatenate(factors), dtype=torch.float32), torch.tensor(labels)

    def _degrade(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        """Half the batch (every other identity group's frames alternate) goes through a random lower resolution;
        everything gets a little pixel noise.  Uses only ``rng`` (a function of the step)."""
        cfg = self.cfg
        n = x.shape[0]
        k = int(round(cfg.lowres_fraction * n))
        if k > 0 and cfg.lowres_min < x.shape[-1]:
            idx = torch.from_numpy(np.sort(rng.choice(n, size=k, replace=False)))
            low = int(rng.integers(cfg.lowres_min, max(cfg.lowres_min + 1, int(0.875 * x.shape[-1])) + 1))
            small = resize_frames(x[idx], low)
            x = x.clone()
            x[idx] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if cfg.noise_std > 0:
            noise = torch.from_numpy(rng.standard_normal(x.shape, dtype=np.float32))
            x = (x + cfg.noise_std * noise).clamp(-1, 1)
        return x


# --------------------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------------------

def cosface_loss(emb: Tensor, weight: Tensor, labels: Tensor, scale: float, margin: float) -> Tensor:
    """Normalised-softmax classification with an additive cosine margin (CosFace) over the training identities."""
    logits = emb @ F.normalize(weight, dim=1).t()
    logits = logits - margin * F.one_hot(labels, weight.shape[0]).to(logits.dtype)
    return F.cross_entropy(scale * logits, labels)


def supcon_loss(emb: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Supervised contrastive loss within the batch: every other frame of the same identity is a positive."""
    sim = emb @ emb.t() / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    return -(log_prob.masked_fill(~pos, 0).sum(1) / pos.sum(1).clamp(min=1)).mean()


# --------------------------------------------------------------------------------------------------------------
# Held-out calibration and evaluation
# --------------------------------------------------------------------------------------------------------------

def heldout_set(seed: int, identities: int, resolution: int, frames_per_video: int = 4, videos: int = 2,
                horizon: int = 256, styles=("photo",), version: int = DEFAULT_VERSION) -> tuple[Tensor, Tensor, Tensor]:
    """Frames of held-out identities: ``(N x 3 x R x R uint8, N x F factors, N identity labels)``.  With several
    ``styles`` each video is drawn in one of them (chosen by a separate seeded stream), so an identity's two
    videos may show it in two renderings."""
    styles = parse_styles(styles)
    ds = SynthFaces(resolution=resolution, num_frames=horizon, seed=seed, videos_per_identity=videos,
                    version=version)
    rng = np.random.default_rng([seed, identities, resolution, 0x4E1D])
    style_rng = np.random.default_rng([seed, identities, resolution, 0x57E5])
    frames, factors, labels = [], [], []
    for ident in range(identities):
        for v in range(videos):
            times = rng.uniform(0, horizon, frames_per_video)
            style = styles[int(style_rng.integers(len(styles)))] if len(styles) > 1 else styles[0]
            f, fac = _render_frames(ds, ident * videos + v, times, style, int(style_rng.integers(len(POP_PALETTES))))
            frames.append(f)
            factors.append(fac)
            labels += [ident] * frames_per_video
    return torch.cat(frames), torch.tensor(np.concatenate(factors), dtype=torch.float32), torch.tensor(labels)


def _pair_scores(emb: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Cosines of all same-identity and all different-identity pairs (i < j)."""
    sim = emb @ emb.t()
    iu = torch.triu_indices(len(labels), len(labels), offset=1)
    s = sim[iu[0], iu[1]]
    same = labels[iu[0]] == labels[iu[1]]
    return s[same], s[~same]


def calibrate_threshold(pos: Tensor, neg: Tensor) -> float:
    """The cosine threshold maximising balanced accuracy (mean of true-positive and true-negative rates)."""
    scores = torch.cat([pos, neg]).double()
    is_pos = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double()
    order = torch.argsort(scores, descending=True)
    s, y = scores[order], is_pos[order]
    tpr = torch.cumsum(y, 0) / len(pos)                      # accepting scores >= s[i]
    tnr = 1 - torch.cumsum(1 - y, 0) / len(neg)
    bal = (tpr + tnr) / 2
    i = int(torch.argmax(bal))
    lower = float(s[i + 1]) if i + 1 < len(s) else float(s[i]) - 1e-3
    return (float(s[i]) + lower) / 2                          # midway to the next score: robust to ties


def verification_metrics(pos: Tensor, neg: Tensor, threshold: float) -> dict[str, float]:
    """TPR, TNR, balanced accuracy at ``threshold`` and the ROC AUC of same- vs different-identity cosines."""
    tpr = float((pos >= threshold).double().mean())
    tnr = float((neg < threshold).double().mean())
    scores = torch.cat([pos, neg]).double()
    ranks = torch.empty_like(scores)
    ranks[torch.argsort(scores)] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    auc = (float(ranks[:len(pos)].sum()) - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    return {"tpr": tpr, "tnr": tnr, "balanced_accuracy": (tpr + tnr) / 2, "auc": auc,
            "pos_cos_mean": float(pos.mean()), "neg_cos_mean": float(neg.mean())}


def r2_scores(pred: Tensor, target: Tensor, names: Sequence[str] = FACTOR_NAMES) -> dict[str, float]:
    """Coefficient of determination per factor, ``1 - SSE / SST``."""
    pred, target = pred.double(), target.double()
    sse = ((pred - target) ** 2).sum(0)
    sst = ((target - target.mean(0)) ** 2).sum(0).clamp(min=1e-12)
    return {n: float(v) for n, v in zip(names, 1 - sse / sst)}


@torch.no_grad()
def evaluate_probe(probe: SynthFacesProbe, *, seed: int = EVAL_DATA_SEED, identities: int = 200,
                   resolution: int = 64, threshold: float | None = None, styles=("photo",),
                   version: int = DEFAULT_VERSION) -> dict[str, Any]:
    """Held-out verification accuracy and factor R² on identities rendered with SynthFaces seed ``seed``.

    ``identities`` x 2 videos x 4 frames at ``resolution``; positives are all same-identity frame pairs (same and
    different videos), negatives all different-identity pairs.  ``threshold`` defaults to the probe's.  ``styles``:
    the renderings of the frames (one per video, see :func:`heldout_set`).
    """
    was_training = probe.training
    probe.eval()
    frames, factors, labels = heldout_set(seed, identities, resolution, styles=styles, version=version)
    out = probe.run(frames)
    pos, neg = _pair_scores(out["embedding"], labels)
    thr = probe.threshold if threshold is None else float(threshold)
    result: dict[str, Any] = {"seed": seed, "identities": identities, "frames": len(labels),
                              "styles": list(parse_styles(styles)),
                              "resolution": resolution, "pairs_same": len(pos), "pairs_different": len(neg)}
    if math.isfinite(thr):
        result.update(verification_metrics(pos, neg, thr))
    else:
        result.update({k: v for k, v in verification_metrics(pos, neg, 0.0).items() if k in ("auc",)})
    result["r2"] = r2_scores(out["factors"], factors)
    result["mae"] = {n: float(v) for n, v in zip(FACTOR_NAMES, (out["factors"] - factors).abs().mean(0))}
    probe.train(was_training)
    return result


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------

class ProbeStage:
    """The probe's training stage for :class:`~styleinv_lib.train.loop.TrainLoop`."""

    def __init__(self, cfg: ProbeConfig):
        from ..train.loop import pick_device, seed_everything

        cfg.validate()
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        seed_everything(cfg.seed)
        self.model = SynthFacesProbe(**cfg.model_kwargs()).to(self.device)
        mean, std = factor_statistics(horizon=cfg.horizon, version=cfg.version)
        self.model.factor_mean.copy_(mean)
        self.model.factor_std.copy_(std)
        gen = torch.Generator().manual_seed(cfg.seed + 7)
        self.classifier = nn.Parameter(torch.randn(cfg.identities, cfg.embed_dim, generator=gen).to(self.device))
        self.cls_module = nn.ParameterDict({"weight": self.classifier})
        params = list(self.model.parameters()) + [self.classifier]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.batches = ProbeBatches(cfg)

    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        warm = min(1.0, (step + 1) / max(1, cfg.lr_warmup))
        decay = 0.5 ** (max(0, step - cfg.lr_warmup) / max(1, cfg.lr_half_life))
        return cfg.lr * warm * decay

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.cfg
        self.model.train()
        x, target, labels = self.batches(step)
        x, target, labels = x.to(self.device), target.to(self.device), labels.to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        emb, _, z = self.model.forward_normalised(x)
        z_target = (target - self.model.factor_mean) / self.model.factor_std
        loss_cls = cosface_loss(emb, self.classifier, labels, cfg.cos_scale, cfg.cos_margin)
        loss_con = supcon_loss(emb, labels, cfg.supcon_temperature)
        loss_fac = F.smooth_l1_loss(z, z_target, beta=0.5)
        loss = loss_cls + cfg.supcon_weight * loss_con + cfg.factor_weight * loss_fac
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"Loss/total": loss.detach(), "Loss/cosface": loss_cls.detach(), "Loss/supcon": loss_con.detach(),
                "Loss/factors": loss_fac.detach(), "Progress/lr": self.lr_at(step)}

    def state(self):
        from ..train.loop import StageState

        return StageState(modules={"probe": self.model, "classifier": self.cls_module}, optimizers={"opt": self.opt})

    def load_state(self, snap) -> None:
        snap.restore(modules={"probe": self.model, "classifier": self.cls_module}, optimizers={"opt": self.opt})

    def quick_eval(self) -> dict[str, float]:
        n = max(2, min(48, self.cfg.eval_identities))
        r = evaluate_probe(self.model, seed=CALIB_DATA_SEED, identities=n, resolution=self.cfg.resolution,
                           styles=self.cfg.style_list)
        return {"heldout_auc": r["auc"], **{f"r2_{k}": v for k, v in r["r2"].items()}}

    def config_dict(self) -> dict:
        return {"stage": TRAIN_STAGE, **asdict(self.cfg), "model": self.model.config,
                "train_data_seed": TRAIN_DATA_SEED}


def default_run_dir(out: Path) -> Path:
    """Where :func:`train_probe` keeps snapshots and TensorBoard logs for the export ``out``."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".safetensors") + "-run")


def train_probe(out: Path, *, resolution: int = 64, identities: int = 1500, steps: int = 1500, seed: int = 0,
                device: str = "auto", resume: bool = True, progress: bool = True, run_dir: Path | None = None,
                tensorboard: bool = True, **overrides) -> Path:
    """Train the SynthFaces probe, calibrate it on held-out identities and export it to the file ``out``.

    Snapshots, ``config.json``, ``stats.jsonl`` and TensorBoard logs (``tb/``) go to ``run_dir`` (default:
    ``<out without .safetensors>-run/`` beside ``out``).  ``resume=True`` continues from the latest snapshot there
    (bit-exactly: a run to ``steps`` = N gives the same weights as N/2 + resume to N); ``resume=False`` refuses a
    folder that already holds snapshots.  ``overrides`` set any other :class:`ProbeConfig` field.  Deterministic
    given ``seed`` (on one device / thread count).  Returns ``out``.

    Raises ``KeyboardInterrupt`` when training was stopped (Ctrl-C) before the end; the snapshot is kept and the
    same call resumes it.
    """
    from ..checkpoint import save_snapshot
    from ..train.loop import TrainingInterrupted, TrainLoop

    out = Path(out)
    cfg = ProbeConfig.from_dict({**overrides, "resolution": resolution, "identities": identities, "steps": steps,
                                 "seed": seed, "device": device})
    stage = ProbeStage(cfg)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(out)
    kimg_per_step = cfg.batch / 1000
    loop = TrainLoop(run_dir=run_dir, stage=TRAIN_STAGE, config=stage.config_dict(), total_kimg=cfg.steps * kimg_per_step,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_every * kimg_per_step if cfg.snapshot_every else None,
                     keep_snapshots=2, log_every=10, eval_fn=stage.quick_eval if cfg.eval_every else None,
                     eval_kimg=cfg.eval_every * kimg_per_step if cfg.eval_every else None,
                     resume="auto" if resume else None, progress=progress, tensorboard=tensorboard)
    t0 = time.perf_counter()
    result = loop.run()
    if result.interrupted:
        raise TrainingInterrupted(f"probe training stopped at step {result.step} ({result.interrupted}); snapshot "
                                f"{result.snapshot}: run the same command again to resume", result.interrupted)

    # calibrate the identity threshold on held-out identities (seed CALIB_DATA_SEED), at the training resolution
    # and at 32² (what the small generators produce), then measure on other held-out identities (EVAL_DATA_SEED)
    t_cal = time.perf_counter()
    model = stage.model.eval()
    resolutions = sorted({cfg.resolution, 32})
    pos_all, neg_all = [], []
    for res in resolutions:
        frames, _, labels = heldout_set(CALIB_DATA_SEED, cfg.calib_identities, res, styles=cfg.style_list,
                                        version=cfg.version)
        pos, neg = _pair_scores(model.run(frames)["embedding"], labels)
        pos_all.append(pos)
        neg_all.append(neg)
    threshold = calibrate_threshold(torch.cat(pos_all), torch.cat(neg_all))
    model.id_threshold.fill_(threshold)
    heldout = {str(res): evaluate_probe(model, identities=cfg.eval_identities, resolution=res,
                                        styles=cfg.style_list, version=cfg.version) for res in resolutions}
    by_style = {} if len(cfg.style_list) == 1 else {
        style: evaluate_probe(model, identities=cfg.eval_identities, resolution=32, styles=(style,),
                              version=cfg.version)
        for style in cfg.style_list}
    main = heldout[str(cfg.resolution)]
    info = {
        "kind": "synthfaces-probe",
        "note": "SynthFaces probe: measures identity and motion factors of SynthFaces-like frames; not FID/FVD",
        "factor_names": list(FACTOR_NAMES), "factor_units": FACTOR_UNITS, "factor_notes": FACTOR_NOTES,
        "threshold": threshold, "calibration": {"seed": CALIB_DATA_SEED, "identities": cfg.calib_identities,
                                                "resolutions": resolutions},
        "heldout": main, "heldout_by_resolution": heldout, "styles": list(cfg.style_list),
        **({"heldout_by_style": by_style} if by_style else {}),
        "train_data_seed": TRAIN_DATA_SEED, "train_steps": result.step,
        "train_time_s": result.elapsed_s, "calibration_time_s": time.perf_counter() - t_cal,
        "wall_time_s": time.perf_counter() - t0,
    }
    save_snapshot(out, stage=EXPORT_STAGE, config={**stage.config_dict(), "stage": EXPORT_STAGE},
                  modules={"probe": model}, extra_json=info, rng={})
    if progress:
        print(_summary(info))
    return out


def _summary(info: dict) -> str:
    lines = [f"SynthFaces probe: threshold {info['threshold']:.3f}, {info['train_steps']} steps in "
             f"{info['train_time_s']:.0f} s"]
    for res, r in info["heldout_by_resolution"].items():
        r2 = ", ".join(f"{k} {v:.2f}" for k, v in r["r2"].items())
        lines.append(f"  held-out {res}²: verification balanced acc {r.get('balanced_accuracy', float('nan')):.3f} "
                     f"(TPR {r.get('tpr', float('nan')):.3f}, TNR {r.get('tnr', float('nan')):.3f}, "
                     f"AUC {r['auc']:.4f}); R² {r2}")
    for style, r in info.get("heldout_by_style", {}).items():
        r2 = ", ".join(f"{k} {v:.2f}" for k, v in r["r2"].items())
        lines.append(f"  held-out 32² {style}: verification AUC {r['auc']:.4f}; R² {r2}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------

def default_probe_path(styles: bool = False, version: int = DEFAULT_VERSION) -> Path:
    """The probe shipped with the package for SynthFaces ``version``: ``styleinv_lib/metrics/weights/
    synthfaces_probe_v2.safetensors`` (version 1: ``synthfaces_probe.safetensors``; a metric network like the others
    in ``weights/``, so a pip-installed library has it too); ``styles=True``: the style-robust one,
    ``synthfaces_probe_styles_v2.safetensors``.  A probe reads the version it was trained on: the framing, scenes
    and motion ranges differ."""
    name = STYLES_PROBE_FILE if styles else DEFAULT_PROBE_FILE
    if check_version(version) != 1:
        name = name.replace(".safetensors", f"_v{version}.safetensors")
    return Path(__file__).resolve().parent / "weights" / name


def load_probe(path: str | Path | None = None, device: str | torch.device = "cpu", *,
               styles: bool = False, version: int = DEFAULT_VERSION) -> SynthFacesProbe:
    """Load an exported probe (default: the shipped one for SynthFaces ``version``, :func:`default_probe_path`;
    ``styles=True``: the shipped style-robust one), in eval mode.

    The returned module has ``.threshold`` (calibrated cosine) and ``.info`` (held-out metrics, factor notes, the
    training config).  Raises ``FileNotFoundError`` with the command to train one when the file is missing.
    """
    from ..checkpoint import load_snapshot

    p = Path(path) if path is not None else default_probe_path(styles, version)
    if not p.is_file():
        extra = " --styles photo,toon,sketch,popart" if styles and path is None else ""
        raise FileNotFoundError(
            f"SynthFaces probe {p} not found: train one with `styleinv train-probe --out {p}{extra}` "
            "(about 10 minutes on 2 CPU cores) or pass the path of a trained probe")
    snap = load_snapshot(p, expected_stage=EXPORT_STAGE)
    mcfg = snap.config["model"]
    model = SynthFacesProbe(**mcfg)
    model.load_state_dict(snap.modules_state("probe"))
    model.info = dict(snap.extra_json)
    model.info["config"] = snap.config
    model.info["path"] = str(p)
    return model.to(device).eval().requires_grad_(False)


# --------------------------------------------------------------------------------------------------------------
# CLI (wired into `styleinv` by cli.py)
# --------------------------------------------------------------------------------------------------------------

def add_probe_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``train-probe`` to a ``styleinv`` subparsers object; the handler is :func:`run_probe_cli` (also set as
    the parser's ``handler`` default)."""
    p = subparsers.add_parser(
        "train-probe", help="train the SynthFaces ground-truth probe (identity + motion factors; not FID/FVD)",
        description="Train the SynthFaces probe on frames rendered on the fly, calibrate its identity threshold on "
                    "held-out identities and export it to one safetensors file. Rerunning the same command resumes.")
    p.add_argument("--out", required=True, type=Path, help="exported probe file; snapshots go to <out>-run/ (or --run-dir)")
    p.add_argument("--resolution", type=int, default=64, help="SynthFaces render resolution (default 64)")
    p.add_argument("--steps", type=int, default=ProbeConfig.steps, help=f"training steps (default {ProbeConfig.steps})")
    p.add_argument("--identities", type=int, default=ProbeConfig.identities,
                   help=f"training identities (default {ProbeConfig.identities})")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--styles", default="photo",
                   help="comma-separated renderings to train on: photo (default), toon, sketch, popart "
                        "(photo,toon,sketch,popart gives the style-robust probe of chapter 8)")
    p.add_argument("--synthfaces-version", type=int, choices=[1, 2], default=DEFAULT_VERSION,
                   help=f"SynthFaces version to train on (default {DEFAULT_VERSION}); the shipped probes: "
                        "synthfaces_probe.safetensors (1), synthfaces_probe_v2.safetensors (2)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps (default auto)")
    p.add_argument("--run-dir", type=Path, default=None, help="snapshot folder (default: <out>-run/)")
    p.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_probe_cli)
    return p


def run_probe_cli(args: argparse.Namespace) -> int:
    """Handler of ``styleinv train-probe``."""
    out = train_probe(args.out, resolution=args.resolution, identities=args.identities, steps=args.steps,
                      seed=args.seed, device=args.device, resume=not args.no_resume, progress=not args.quiet,
                      run_dir=args.run_dir, styles=args.styles, version=args.synthfaces_version)
    print(f"wrote {out}")
    return 0
