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

**Training** lives in :mod:`styleinv_lib.train.probe` (``styleinv train-probe``): frames rendered on the fly from
SynthFaces seed :data:`TRAIN_DATA_SEED`; the threshold is calibrated on seed :data:`CALIB_DATA_SEED` and the
reported held-out numbers are measured on seed :data:`EVAL_DATA_SEED` (independent identity draws: never seen in
training).  This module holds what evaluation needs: the network, the held-out sets and scores, and loading.

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

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.styles import ALL_STYLES, POP_PALETTES, render_styled
from ..data.synthetic import DEFAULT_VERSION, FACTOR_NAMES, SynthFaces, check_version

Tensor = torch.Tensor

__all__ = [
    "CALIB_DATA_SEED", "DEFAULT_PROBE_FILE", "EVAL_DATA_SEED", "EXPORT_STAGE", "FACTOR_NOTES", "STYLES_PROBE_FILE",
    "SynthFacesProbe", "TRAIN_DATA_SEED", "calibrate_threshold", "default_probe_path", "evaluate_probe",
    "heldout_set", "load_probe", "pair_scores", "parse_styles", "render_factor_frames",
]

#: Stage name of the exported probe file (checked by :func:`load_probe`).
EXPORT_STAGE = "synthfaces_probe"
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
# Frames with known factors (shared by the evaluation here and the training in train.probe)
# --------------------------------------------------------------------------------------------------------------

def parse_styles(styles) -> tuple[str, ...]:
    """``"photo,toon"`` or a sequence -> a tuple of known style names (a clear error for an unknown one)."""
    names = tuple(s.strip() for s in (styles.split(",") if isinstance(styles, str) else styles) if s.strip())
    bad = [s for s in names if s not in ALL_STYLES]
    if not names or bad:
        raise ValueError(f"styles must name some of {', '.join(ALL_STYLES)}, got {styles!r}")
    return names


def render_factor_frames(ds: SynthFaces, video: int, times: np.ndarray, style: str = "photo",
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
            palette = int(style_rng.integers(len(POP_PALETTES)))
            f, fac = render_factor_frames(ds, ident * videos + v, times, style, palette)
            frames.append(f)
            factors.append(fac)
            labels += [ident] * frames_per_video
    return torch.cat(frames), torch.tensor(np.concatenate(factors), dtype=torch.float32), torch.tensor(labels)


def pair_scores(emb: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
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
    pos, neg = pair_scores(out["embedding"], labels)
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
