"""Does a trained video discriminator ask for motion?  Its scores on real, still, mixed and generated clips.

StyleInV learns to move only because FFA-ST's sparse discriminator D (§3.4, Fig. 5) scores moving clips above
still ones.  :func:`discriminator_scores` lets a run's own D (no augmentation, training's clip timestamps) score

* ``real``: real clips ``x_{t0..t3}`` as training draws them;
* ``real held still``: the same clips with every frame replaced by the first (same timestamps);
* ``real, other subjects``: each later frame taken from another video at the same time (motion, no one identity);
* ``fake``: the run's StyleInV (its moving average) with ``G(w0)`` first, as D sees it in training;
* ``fake held still``: every frame ``G(w0)``, the still video StyleInV starts from;

and :func:`score_gaps` compares them in pairs: the mean logit gap and how often D ranks the first clip above the
second.  A D that ranks ``real`` above ``real held still`` only half of the time gives the adversarial loss
(Eq. 3) no reason to make StyleInV move, whatever the generator can draw.
"""
from __future__ import annotations

from pathlib import Path

import torch

CLIP_KINDS = ("real", "real held still", "real, other subjects", "fake", "fake held still")
#: The comparisons that say what D rewards: motion, one identity, realism of moving and of still clips.
PAIRS = (("real", "real held still"), ("real", "real, other subjects"), ("real", "fake"),
         ("fake", "fake held still"), ("real held still", "fake held still"))

__all__ = ["CLIP_KINDS", "PAIRS", "discriminator_scores", "held_still", "load_stage", "score_clips", "score_gaps"]


def load_stage(run, *, device: str = "cpu", **paths):
    """The FFA-ST stage of a run (a run folder's newest snapshot, or a snapshot file) with its trained StyleInV, EMA
    and D, uncompiled, for analysis.  ``paths`` (``generator``, ``encoder``, ``data``) replace the ones the run
    recorded, for a run whose files have moved or whose paths are relative to another folder."""
    from ..checkpoint import RunDir, load_snapshot
    from .styleinv import STAGE, StyleInVConfig, StyleInVStage

    path = Path(run)
    snapshot = RunDir(path).latest() if path.is_dir() else path
    if snapshot is None:
        raise FileNotFoundError(f"{path}: no snapshot to load (a StyleInV run folder or snapshot file)")
    snap = load_snapshot(snapshot, expected_stage=STAGE)
    known = StyleInVConfig.__dataclass_fields__
    unknown = set(paths) - {"generator", "encoder", "data"}
    if unknown:
        raise ValueError(f"load_stage: only generator, encoder and data may be replaced, not {', '.join(unknown)}")
    cfg = StyleInVConfig.from_dict({**{k: v for k, v in snap.config.items() if k in known},
                                    **{k: str(v) for k, v in paths.items()},
                                    "compile": False, "device": device, "metrics": ""})
    stage = StyleInVStage(cfg)
    stage.load_state(snap)
    return stage


def held_still(frames: torch.Tensor) -> torch.Tensor:
    """Clips ``B×K×…`` with every frame replaced by the first: a still video with the same timestamps."""
    return frames[:, :1].expand_as(frames).contiguous()


def score_clips(stage, frames: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
    """The stage's D on clips as given (no augmentation, the uncompiled D in fp32): one logit per clip."""
    return stage.run_D(*stage.d_input(frames, ts), plain=True, augment=False).flatten()


@torch.no_grad()
def discriminator_scores(stage, batches: int = 16, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """D's logits for ``batches`` batches of each of :data:`CLIP_KINDS` (one value per clip, fp32), drawn at steps
    training never reaches, so the same ``seed`` gives the same clips."""
    was_training = stage.D.training
    stage.D.eval()

    scores = {kind: [] for kind in CLIP_KINDS}
    try:
        for i in range(batches):
            step = 10_000_000 + seed * 1000 + i
            real, ts = stage.real_clips(step)
            other, _ = stage.real_clips(step + 500)
            mixed = real.clone()
            for k in range(1, real.shape[1]):            # frame k of clip b from clip b - k of another draw
                mixed[:, k] = other.roll(k, dims=0)[:, k]
            z, seeds, ts_f = stage.fake_inputs(step, 2)
            _, x0, _, frames = stage.generate_clip(z, seeds, ts_f, net=stage.SI_ema)
            frames = torch.cat([x0[:, None], frames[:, 1:]], dim=1)
            scores["real"].append(score_clips(stage, real, ts))
            scores["real held still"].append(score_clips(stage, held_still(real), ts))
            scores["real, other subjects"].append(score_clips(stage, mixed, ts))
            scores["fake"].append(score_clips(stage, frames, ts_f))
            scores["fake held still"].append(score_clips(stage, held_still(frames), ts_f))
    finally:
        stage.D.train(was_training)
    return {kind: torch.cat(v) for kind, v in scores.items()}


def score_gaps(scores: dict[str, torch.Tensor], pairs=PAIRS) -> dict[str, dict[str, float]]:
    """For each pair ``(a, b)``: ``gap``, the mean of ``D(a) - D(b)`` clip by clip, and ``ranked_above``, the share
    of clips where ``D(a) > D(b)`` (0.5: D cannot tell them apart)."""
    return {f"{a} > {b}": {"gap": float((scores[a] - scores[b]).mean()),
                           "ranked_above": float((scores[a] > scores[b]).float().mean())} for a, b in pairs}
