"""How closely two generators agree when they decode the same latents: the measured side of style transfer.

Fine-tuning-based style transfer (§3.5, Figs. 5 and 8) claims that a generator fine-tuned on another image domain,
with the mapping network and the coarse synthesis blocks frozen, turns the *same* latent sequence into the *same*
head pose, expression and identity in a new style.  Given the images (or videos) that a parent and a fine-tuned
generator make from identical latents, :func:`generator_alignment` measures that with the style-robust SynthFaces
probe (:func:`~styleinv_lib.metrics.probe.load_probe` with ``styles=True``):

* ``factor_r``: Pearson correlation, over all images, of each motion factor read off both images (yaw, pitch,
  roll, tx, ty, blink, mouth opening: the factors the probe reads reliably); 1 means the fine-tuned generator puts
  the head exactly where the parent does;
* ``trajectory_r`` (videos only): the same correlation computed over time within each video, then averaged: does
  the styled video move like the parent's?;
* ``identity_cos`` / ``identity_match``: cosine of the two images' identity embeddings, and the share above the
  probe's calibrated same-identity threshold;
* ``lpips`` (optional): LPIPS between the two images, i.e. how much the picture changed (the style itself);
* ``*_ci`` (with ``bootstrap=B``): 95 % bootstrap intervals of ``factor_r_mean`` and ``identity_cos`` over the
  images, to tell a difference between two generators from resampling noise.

These are **SynthFaces probe metrics**: meaningful for generators of SynthFaces-like faces only.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

Tensor = torch.Tensor

#: The factors compared: those the probe reads reliably (see ``probe.FACTOR_NOTES``).
ALIGNMENT_FACTORS = ("yaw", "pitch", "roll", "tx", "ty", "blink", "mouth_open")

__all__ = ["ALIGNMENT_FACTORS", "generator_alignment", "pearson"]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays; NaN when either is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def _flatten(x: Tensor, what: str) -> tuple[Tensor, tuple[int, ...]]:
    if not isinstance(x, Tensor) or x.ndim not in (4, 5) or x.shape[-3] != 3:
        raise ValueError(f"{what} must be images N×3×H×W or videos N×T×3×H×W, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    lead = tuple(x.shape[:-3])
    return x.reshape(-1, *x.shape[-3:]), lead


@torch.no_grad()
def generator_alignment(reference: Tensor, other: Tensor, probe, *, lpips=None,
                        factors: Sequence[str] = ALIGNMENT_FACTORS, batch: int = 256,
                        lpips_size: int = 64, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Agreement of ``other`` with ``reference``: images ``N×3×H×W`` or videos ``N×T×3×H×W`` of the same latents,
    uint8 or float in [-1, 1] (see the module docstring for the keys).  ``lpips``: an LPIPS module (inputs in
    [-1, 1]) to also report the mean perceptual distance, on images upsampled to ``lpips_size`` when smaller."""
    ref, lead = _flatten(reference, "reference")
    oth, lead_o = _flatten(other, "other")
    if lead != lead_o or ref.shape != oth.shape:
        raise ValueError(f"reference {tuple(reference.shape)} and other {tuple(other.shape)} must have one shape")
    unknown = [f for f in factors if f not in probe.factor_names]
    if unknown:
        raise ValueError(f"the probe has no factor(s) {', '.join(unknown)}")
    a, b = probe.run(ref, batch), probe.run(oth, batch)
    idx = [probe.factor_names.index(f) for f in factors]
    fa, fb = a["factors"][:, idx].double().numpy(), b["factors"][:, idx].double().numpy()
    cos = (a["embedding"] * b["embedding"]).sum(1)
    out: dict[str, Any] = {
        "images": int(ref.shape[0]),
        "factor_r": {f: pearson(fa[:, i], fb[:, i]) for i, f in enumerate(factors)},
        "factor_mae": {f: float(np.abs(fa[:, i] - fb[:, i]).mean()) for i, f in enumerate(factors)},
        "identity_cos": float(cos.mean()),
        "identity_match": float((cos >= probe.threshold).float().mean()) if np.isfinite(probe.threshold)
        else float("nan"),
    }
    out["factor_r_mean"] = float(np.nanmean(list(out["factor_r"].values())))
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        n = fa.shape[0]
        r_means, cos_means = [], []
        for _ in range(bootstrap):
            k = rng.integers(0, n, n)
            r_means.append(np.nanmean([pearson(fa[k, i], fb[k, i]) for i in range(len(factors))]))
            cos_means.append(float(cos.numpy()[k].mean()))
        out["factor_r_mean_ci"] = tuple(float(v) for v in np.nanpercentile(r_means, [2.5, 97.5]))
        out["identity_cos_ci"] = tuple(float(v) for v in np.percentile(cos_means, [2.5, 97.5]))
    if len(lead) == 2:                         # videos: correlate the factor trajectories over time, per video
        n, t = lead
        traj = {}
        for i, f in enumerate(factors):
            per_video = [pearson(fa.reshape(n, t, -1)[v, :, i], fb.reshape(n, t, -1)[v, :, i]) for v in range(n)]
            traj[f] = float(np.nanmean(per_video)) if not np.all(np.isnan(per_video)) else float("nan")
        out["trajectory_r"] = traj
        out["trajectory_r_mean"] = float(np.nanmean(list(traj.values())))
    if lpips is not None:
        def unit(x: Tensor) -> Tensor:
            x = x.float().div(127.5).sub(1) if x.dtype == torch.uint8 else x.float()
            if x.shape[-1] < lpips_size:
                x = torch.nn.functional.interpolate(x, size=(lpips_size, lpips_size), mode="bilinear",
                                                    align_corners=False)
            return x

        dev = next(lpips.parameters()).device
        d = [lpips(unit(ref[i:i + batch]).to(dev), unit(oth[i:i + batch]).to(dev)).flatten().cpu()
             for i in range(0, ref.shape[0], batch)]
        out["lpips"] = float(torch.cat(d).mean())
    return out
