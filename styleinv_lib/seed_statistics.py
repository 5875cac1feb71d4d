"""Is a gap between two Table 3 rows more than noise?  Means over training seeds, a one-sided Welch test, and
Kendall's τ between our ordering and the paper's with a bootstrap interval.

Two kinds of noise stand between a measured gap and a claim: training (another seed trains another model) and
evaluation (another protocol seed draws other real clips and other generated videos for the same model).  A gap is
called **reproduced** only when our rows are ordered like the paper's, a one-sided Welch t-test over the training
seeds rejects "no gap" at ``alpha``, and the gap exceeds twice the protocol-seed standard deviation; **reversed**
when the opposite order passes the same two checks; otherwise it is **within noise**.  All metrics here are
lower-is-better (FID, FVD).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

__all__ = ["compare_rows", "difference_verdict", "gap_verdict", "kendall_tau", "kendall_tau_interval", "mean_interval",
           "summary"]


def summary(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (0 for one value) and count of one row's values over training seeds."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to summarise")
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size > 1 else 0.0, "n": int(x.size)}


def mean_interval(values: Sequence[float], *, n_boot: int = 4000, level: float = 0.95, seed: int = 0) -> dict:
    """The mean of ``values`` (one number per video, say) with a percentile bootstrap interval over them: how far
    another draw of as many videos could move it.  A metric whose videos disagree wildly (identity share: most
    videos 1.0, a few far lower) has a wide interval at 16 videos."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to average")
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(n_boot, x.size)).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(x.mean()), "low": float(lo), "high": float(hi), "level": level, "n": int(x.size)}


def kendall_tau(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Kendall's τ-a between two scorings of the same rows: +1 same order, -1 reversed (ties count zero)."""
    keys = list(a)
    if set(keys) != set(b) or len(keys) < 2:
        raise ValueError("kendall_tau needs the same two or more rows in both scorings")
    s = sum(np.sign(a[keys[i]] - a[keys[j]]) * np.sign(b[keys[i]] - b[keys[j]])
            for i in range(len(keys)) for j in range(i + 1, len(keys)))
    return float(s / (len(keys) * (len(keys) - 1) / 2))


def kendall_tau_interval(samples: Mapping[str, Sequence[float]], paper: Mapping[str, float], *,
                         n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """τ between the rows' means over training seeds and the paper's numbers, with a percentile bootstrap interval:
    each replicate resamples every row's seeds with replacement and ranks the resampled means."""
    means = {k: float(np.mean(v)) for k, v in samples.items()}
    rng = np.random.default_rng(seed)
    taus = np.empty(n_boot)
    for i in range(n_boot):
        boot = {k: float(np.mean(rng.choice(np.asarray(v, np.float64), size=len(v)))) for k, v in samples.items()}
        taus[i] = kendall_tau(boot, paper)
    lo, hi = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    return {"tau": kendall_tau(means, paper), "low": float(lo), "high": float(hi), "level": level,
            "seeds": {k: len(v) for k, v in samples.items()}}


def _welch(ours_a: Sequence[float], ours_b: Sequence[float], *, one_sided: bool) -> tuple[dict, dict, float | None]:
    """Both rows' :func:`summary` and Welch's t-test p-value (halved when ``one_sided``: in the gap's direction);
    None below two seeds a row, 0 or 1 when neither row varies (a gap or none)."""
    from scipy import stats

    a, b = summary(ours_a), summary(ours_b)
    if a["n"] < 2 or b["n"] < 2:
        return a, b, None
    if a["std"] == 0 and b["std"] == 0:
        return a, b, 0.0 if a["mean"] != b["mean"] else 1.0
    with warnings.catch_warnings():  # one row may not vary (an exact first frame on every seed): still defined
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        p = float(stats.ttest_ind(ours_a, ours_b, equal_var=False).pvalue)
    return a, b, p / 2 if one_sided else p


def difference_verdict(ours_a: Sequence[float], ours_b: Sequence[float], *, alpha: float = 0.05) -> dict:
    """Is row A's value above or below row B's, over training seeds?  A two-sided Welch t-test for quantities the
    paper claims without a number (the probe's first-frame PSNR, identity share, motion): **higher** or **lower**
    when it rejects "no difference" at ``alpha``, else **within noise** (**too few seeds** below two per row)."""
    a, b, p = _welch(ours_a, ours_b, one_sided=False)
    out = {"gap": a["mean"] - b["mean"], "a": a, "b": b}
    if p is None:
        return {**out, "p_value": None, "verdict": "too few seeds"}
    verdict = "within noise" if p >= alpha else ("higher" if out["gap"] > 0 else "lower")
    return {**out, "p_value": p, "verdict": verdict}


def gap_verdict(ours_a: Sequence[float], ours_b: Sequence[float], paper_a: float, paper_b: float, *,
                protocol_std: float | None = None, alpha: float = 0.05) -> dict:
    """Does row A's gap to row B (lower is better) reproduce the paper's?  ``ours_*``: one value per training seed;
    ``protocol_std``: the spread of the metric over protocol seeds for one model (None: not measured, and then no
    gap can be called reproduced).  See the module docstring for the rule."""
    a, b, p = _welch(ours_a, ours_b, one_sided=True)
    gap = a["mean"] - b["mean"]
    out = {"gap": gap, "paper_gap": paper_a - paper_b, "a": a, "b": b, "protocol_std": protocol_std}
    if p is None:
        return {**out, "p_value": None, "verdict": "too few seeds"}
    beyond_protocol = protocol_std is not None and abs(gap) > 2 * protocol_std
    same_order = np.sign(gap) == np.sign(paper_a - paper_b) and gap != 0
    if p < alpha and beyond_protocol:
        verdict = "reproduced" if same_order else "reversed"
    else:
        verdict = "within noise"
    return {**out, "p_value": p, "verdict": verdict}


def compare_rows(samples: Mapping[str, Sequence[float]], paper: Mapping[str, float], *, reference: str,
                 protocol_std: float | None, alpha: float = 0.05, n_boot: int = 2000) -> dict:
    """One metric of a table (Table 3: the ablations against the full model): every row's :func:`summary` over
    training seeds, the :func:`gap_verdict` of every other row against ``reference``, and Kendall's τ between the
    rows' means and the paper's numbers with its bootstrap interval (``None`` while a row has fewer than two seeds:
    resampling one value gives an interval of width zero, which would overstate the certainty)."""
    if reference not in samples:
        raise ValueError(f"no values for the reference row {reference!r}")
    missing = set(samples) - set(paper)
    if missing:
        raise ValueError(f"no paper value for {', '.join(sorted(missing))}")
    rows = {k: summary(v) for k, v in samples.items()}
    gaps = {k: gap_verdict(v, samples[reference], paper[k], paper[reference], protocol_std=protocol_std,
                           alpha=alpha)
            for k, v in samples.items() if k != reference}
    means = {k: r["mean"] for k, r in rows.items()}
    enough = all(r["n"] >= 2 for r in rows.values())
    tau = (kendall_tau_interval(samples, paper, n_boot=n_boot) if enough
           else {"tau": kendall_tau(means, paper), "low": None, "high": None, "level": None,
                 "seeds": {k: r["n"] for k, r in rows.items()}})
    return {"rows": rows, "gaps": gaps, "tau": tau, "reference": reference, "protocol_std": protocol_std}
