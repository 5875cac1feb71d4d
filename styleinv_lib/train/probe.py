"""Training the SynthFaces probe (:mod:`styleinv_lib.metrics.probe`): ``styleinv train-probe``.

Frames are rendered on the fly (no dataset on disk): each batch is ``P`` identities x ``K`` frames from several
videos (``videos_per_identity`` > 1, different motion) at random real-valued times, with half of the batch degraded
to a random lower resolution (28..56 px) and back, so the probe also reads 32² generator output.  The identity
embedding is trained as a *metric* embedding (a CosFace head over the training identities plus an in-batch
supervised contrastive loss); the factor regressor with a smooth-L1 loss on standardised factors.  The batch is a
pure function of ``(seed, step)`` and the learning-rate schedule does not depend on the run length, so the shared
:class:`~styleinv_lib.train.loop.TrainLoop` gives exact resumption (``N`` steps in one go == ``N/2`` + resume +
``N/2``).  After training, the identity threshold is calibrated on held-out identities and the held-out metrics are
stored in the exported file, which :func:`~styleinv_lib.metrics.probe.load_probe` reads.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import save_snapshot
from ..data.styles import POP_PALETTES
from ..data.synthetic import DEFAULT_VERSION, FACTOR_NAMES, FACTOR_UNITS, SynthFaces
from ..metrics.probe import (
    CALIB_DATA_SEED, EXPORT_STAGE, FACTOR_NOTES, TRAIN_DATA_SEED, SynthFacesProbe, calibrate_threshold,
    evaluate_probe, heldout_set, pair_scores, parse_styles, render_factor_frames, resize_frames, to_unit_float,
)
from .loop import StageState, TrainingInterrupted, TrainLoop, dataclass_from_dict, pick_device, seed_everything

Tensor = torch.Tensor

__all__ = [
    "ProbeBatches", "ProbeConfig", "ProbeStage", "TRAIN_STAGE", "add_probe_cli", "cosface_loss", "factor_statistics",
    "run_probe_cli", "supcon_loss", "train_probe",
]

#: Stage name of the training snapshots in the run folder.
TRAIN_STAGE = "synthfaces_probe_train"


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


# --------------------------------------------------------------------------------------------------------------
# Data: SynthFaces frames rendered on the fly, a pure function of (seed, step)
# --------------------------------------------------------------------------------------------------------------
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
                video = int(ident) * cfg.videos_per_identity + int(v)
                f, fac = render_factor_frames(self.ds, video, times, style, palette)
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
# Training
# --------------------------------------------------------------------------------------------------------------

class ProbeStage:
    """The probe's training stage for :class:`~styleinv_lib.train.loop.TrainLoop`."""

    def __init__(self, cfg: ProbeConfig):
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
    out = Path(out)
    cfg = ProbeConfig.from_dict({**overrides, "resolution": resolution, "identities": identities, "steps": steps,
                                 "seed": seed, "device": device})
    stage = ProbeStage(cfg)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(out)
    kimg_per_step = cfg.batch / 1000
    loop = TrainLoop(run_dir=run_dir, stage=TRAIN_STAGE, config=stage.config_dict(),
                     total_kimg=cfg.steps * kimg_per_step,
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
        pos, neg = pair_scores(model.run(frames)["embedding"], labels)
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
# CLI (wired into `styleinv` by cli.py)
# --------------------------------------------------------------------------------------------------------------

def add_probe_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``train-probe`` to a ``styleinv`` subparsers object; the handler is :func:`run_probe_cli` (also set as
    the parser's ``handler`` default)."""
    p = subparsers.add_parser(
        "train-probe", help="train the SynthFaces ground-truth probe (identity + motion factors; not FID/FVD)",
        description="Train the SynthFaces probe on frames rendered on the fly, calibrate its identity threshold on "
                    "held-out identities and export it to one safetensors file. Rerunning the same command resumes.")
    p.add_argument("--out", required=True, type=Path,
                   help="exported probe file; snapshots go to <out>-run/ (or --run-dir)")
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
