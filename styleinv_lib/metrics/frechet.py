"""The Fréchet distance between two Gaussians fitted to network features: the core of FID and FVD.

For feature sets with means μ₁, μ₂ and covariances Σ₁, Σ₂ (Heusel et al. 2017, Eq. 6)::

    d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})

Statistics are accumulated in float64 one batch at a time (sum and sum of outer products), so a million frames
never have to sit in memory, and partial statistics from several GPUs can be added together.

The trace of the matrix square root is computed through a symmetric eigen-decomposition instead of a general
``sqrtm``: Σ₁Σ₂ is similar to the symmetric positive semi-definite M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}, so
tr((Σ₁Σ₂)^{1/2}) = Σᵢ √λᵢ(M). That route stays real and finite when the covariances are singular (fewer samples
than feature dimensions, the usual case in small runs), where ``scipy.linalg.sqrtm`` needs an ε·I fallback.

With fewer samples n than dimensions D on one side (small runs: 1,024 frames against Inception's 2,048 features),
that side's covariance is Σ₂ = YᵀY with Y the centred features over √(n − 1), and Σ₁Σ₂ has the nonzero eigenvalues
of the n × n matrix Y Σ₁ Yᵀ: the trace needs neither a D × D root nor a D × D eigen-decomposition.  The
accumulator keeps its features while it has fewer than D of them for that.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass
class FeatureStats:
    """Streaming mean/covariance of D-dimensional features, in float64."""

    dim: int
    count: int = 0
    total: np.ndarray = field(default=None, repr=False)     # Σ x
    outer: np.ndarray = field(default=None, repr=False)     # Σ x xᵀ
    meta: dict = field(default_factory=dict)
    _root: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)   # Σ^{1/2}, see cov_sqrt
    _rows: list | None = field(default_factory=list, init=False, repr=False, compare=False)  # see factor

    def __post_init__(self):
        if self.total is None:
            self.total = np.zeros(self.dim, dtype=np.float64)
        if self.outer is None:
            self.outer = np.zeros((self.dim, self.dim), dtype=np.float64)
        if self.count:
            self._rows = None                       # built from sums: the features themselves are not known

    def update(self, features) -> "FeatureStats":
        """Add a batch of features shaped (N, D) (a tensor or an array)."""
        if isinstance(features, torch.Tensor):
            features = features.detach().to("cpu", torch.float64).numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be shaped (N, {self.dim}), got {tuple(x.shape)}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or Inf (the images fed to the network were probably NaN)")
        self.count += x.shape[0]
        self.total += x.sum(axis=0)
        self.outer += x.T @ x
        self._root = None
        self._keep_rows([x.copy()])
        return self

    def _keep_rows(self, rows: list | None) -> None:
        """Keep the features while there are fewer than ``dim`` of them (see :attr:`factor`); ``None``: unknown."""
        if self._rows is not None and rows is not None and self.count < self.dim:
            self._rows.extend(rows)
        else:
            self._rows = None

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another accumulator's samples (for example another GPU's)."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {other.dim} into {self.dim}")
        self.count += other.count
        self.total += other.total
        self.outer += other.outer
        self._root = None
        self._keep_rows(other._rows)
        return self

    @property
    def mean(self) -> np.ndarray:
        self._need(1)
        return self.total / self.count

    @property
    def cov(self) -> np.ndarray:
        """Unbiased sample covariance (divides by N − 1, like ``numpy.cov``)."""
        self._need(2)
        mu = self.mean
        return (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)

    @property
    def cov_sqrt(self) -> np.ndarray:
        """Σ^{1/2}, the symmetric square root of :attr:`cov`, computed once per state of the statistics: the real
        side of FID is compared with many generators, and its root is the costly half of each comparison.
        :meth:`update` and :meth:`merge` drop it."""
        if self._root is None:
            self._root = _sqrt_psd(self.cov)
        return self._root

    @property
    def factor(self) -> np.ndarray | None:
        """Y, n × D with YᵀY = :attr:`cov`: the centred features over √(n − 1), while fewer than ``dim`` were added
        (the covariance then has rank below ``dim``); ``None`` once there are more, or for loaded statistics."""
        if self._rows is None or self.count < 2:
            return None
        x = np.concatenate(self._rows)
        return (x - self.mean) / np.sqrt(self.count - 1)

    def _need(self, n: int) -> None:
        if self.count < n:
            raise ValueError(f"need at least {n} feature vectors, have {self.count}")

    # -- persistence ----------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the statistics atomically to an ``.npz`` file (mean and covariance, not the raw sums)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, dim=self.dim, count=self.count, total=self.total, outer=self.outer,
                 meta=np.array(json.dumps(self.meta)))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(dim=int(z["dim"]), count=int(z["count"]), total=z["total"].astype(np.float64),
                           outer=z["outer"].astype(np.float64), meta=json.loads(str(z["meta"])))
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path}: not a feature-statistics file ({err})") from err


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative round-off eigenvalues clipped to 0)."""
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, root1: np.ndarray | None = None) -> float:
    """tr((Σ₁Σ₂)^{1/2}) for symmetric PSD Σ₁, Σ₂ (see the module docstring); ``root1``: Σ₁^{1/2} if known."""
    if root1 is None:
        root1 = _sqrt_psd(np.asarray(sigma1, dtype=np.float64))
    return _sum_sqrt_eigenvalues(root1 @ np.asarray(sigma2, dtype=np.float64) @ root1)


def _sum_sqrt_eigenvalues(m: np.ndarray) -> float:
    """Σᵢ √λᵢ of a symmetric PSD matrix (round-off asymmetry and negative eigenvalues removed)."""
    vals = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(vals, 0, None)).sum())


def trace_sqrt_product_factored(sigma1: np.ndarray, factor2: np.ndarray) -> float:
    """tr((Σ₁Σ₂)^{1/2}) for Σ₂ = YᵀY given as ``factor2`` = Y (n × D): the square roots of the eigenvalues of the
    n × n matrix Y Σ₁ Yᵀ, which Σ₁Σ₂ shares apart from zeros."""
    y = np.asarray(factor2, dtype=np.float64)
    return _sum_sqrt_eigenvalues(y @ np.asarray(sigma1, dtype=np.float64) @ y.T)


def frechet_distance(mu1, sigma1, mu2, sigma2, *, root1: np.ndarray | None = None) -> float:
    """Squared Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (the number reported as FID / FVD); ``root1``:
    Σ₁^{1/2} if already known."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape} vs {mu2.shape}, "
                         f"covariances {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2,
                                                                                         root1=root1)
    return float(max(value, 0.0))  # tiny negative values are round-off of two identical sets


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """The Fréchet distance of two accumulators.  When either side has fewer samples than dimensions, the trace
    goes through that side's factor (:func:`trace_sqrt_product_factored`); otherwise ``a``'s covariance root is
    kept on ``a`` for its next comparison (pass the statistics that are reused, typically the real ones, first)."""
    if a.dim != b.dim:
        raise ValueError(f"mismatched statistics: dimension {a.dim} vs {b.dim}")
    factored = [s for s in (b, a) if s._rows is not None and s.count >= 2]
    if not factored:
        return frechet_distance(a.mean, a.cov, b.mean, b.cov, root1=a.cov_sqrt)
    small = min(factored, key=lambda s: s.count)           # the smaller n × n problem
    y, other = small.factor, (a if small is b else b)
    diff = a.mean - b.mean
    other_cov = other.cov
    value = diff @ diff + np.trace(other_cov) + np.sum(y * y) - 2.0 * trace_sqrt_product_factored(other_cov, y)
    return float(max(value, 0.0))  # tiny negative values are round-off of two identical sets


__all__ = ["FeatureStats", "frechet_distance", "frechet_distance_from_stats", "trace_sqrt_product",
           "trace_sqrt_product_factored"]
