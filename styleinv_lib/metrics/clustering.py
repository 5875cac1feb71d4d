"""How well a representation groups frames by identity: k-NN identity accuracy and the silhouette score.

The paper's Fig. 2 observes that frames of one video, inverted into W, form a tight cluster apart from other
videos' clusters: inversion keeps identity in W and puts the motion in small residuals around it, which is why
StyleInV (Eq. 2) generates ``w_t = w0 + residual``.  The chapter on latent clustering measures this instead of only
showing a t-SNE picture:

* :func:`knn_identity_accuracy` — share of frames whose ``k`` nearest neighbours (cosine or Euclidean) vote for
  their own identity.  Neighbours from the frame's own video can be excluded (``groups``): adjacent frames of a video
  are near-duplicates in *any* representation, so the harder question is whether a frame finds *another* video of
  the same identity.
* :func:`silhouette` — scikit-learn's silhouette score of the identity labels (−1..1).
* :func:`chance_accuracy` — what k-NN would score by guessing the majority label of random neighbours.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["chance_accuracy", "clustering_report", "knn_identity_accuracy", "silhouette"]


def _as_2d(features, what: str = "features") -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    if x.ndim < 2:
        raise ValueError(f"{what} must be N x D (or N x ... flattened), got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1).double()


def _labels(labels, n: int, what: str = "labels") -> torch.Tensor:
    y = torch.as_tensor(np.asarray(labels))
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{what} must be a vector of {n} entries, got shape {tuple(y.shape)}")
    return y.long()


def knn_identity_accuracy(features, labels, k: int = 5, metric: str = "cosine", groups=None,
                          batch: int = 1024) -> float:
    """Leave-one-out k-NN accuracy: each frame's label is predicted by the majority of its ``k`` nearest neighbours.

    ``features`` ``N x D`` (anything else is flattened), ``labels`` ``N`` ints.  ``metric``: ``"cosine"`` or
    ``"euclidean"``.  ``groups`` (``N`` ints, e.g. the video index): neighbours in the same group as the query are
    excluded.  Ties are broken in favour of the nearest neighbour's label.
    """
    x = _as_2d(features)
    y = _labels(labels, x.shape[0])
    g = _labels(groups, x.shape[0], "groups") if groups is not None else torch.arange(x.shape[0])
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_classes = int(y.max()) + 1
    correct = 0
    for start in range(0, x.shape[0], batch):
        q = x[start:start + batch]
        if metric == "cosine":
            dist = 1 - q @ x.t()
        else:
            dist = torch.cdist(q, x)
        dist[g[start:start + batch, None] == g[None, :]] = float("inf")       # self (and own group) excluded
        kk = min(k, int(torch.isfinite(dist).sum(1).min()))
        if kk < 1:
            raise ValueError("a query has no neighbour outside its own group")
        idx = dist.topk(kk, dim=1, largest=False).indices                       # nearest first
        votes = torch.zeros(q.shape[0], n_classes, dtype=torch.float64)
        weights = 1 + 1e-6 * torch.arange(kk, 0, -1, dtype=torch.float64)      # tie-break: nearer wins
        votes.scatter_add_(1, y[idx], weights.expand(q.shape[0], kk).contiguous())
        correct += int((votes.argmax(1) == y[start:start + batch]).sum())
    return correct / x.shape[0]


def chance_accuracy(labels) -> float:
    """Accuracy of always answering the most frequent label: the floor any k-NN score should clear."""
    y = _labels(labels, len(labels))
    return float(torch.bincount(y).max()) / len(y)


def silhouette(features, labels, metric: str = "cosine", sample_size: int | None = 4000, seed: int = 0) -> float:
    """scikit-learn's mean silhouette coefficient of ``labels`` in ``features`` (1: tight, separate clusters;
    0: overlapping; < 0: wrongly assigned).  Subsampled to ``sample_size`` points for large sets."""
    from sklearn.metrics import silhouette_score

    x = _as_2d(features).numpy()
    y = _labels(labels, x.shape[0]).numpy()
    if len(np.unique(y)) < 2:
        raise ValueError("the silhouette score needs at least two distinct labels")
    size = sample_size if sample_size is not None and sample_size < x.shape[0] else None
    return float(silhouette_score(x, y, metric=metric, sample_size=size, random_state=seed))


def clustering_report(representations: dict, labels, groups=None, k: int = 5,
                      metrics: Sequence[str] = ("cosine",)) -> list[dict]:
    """One row per representation: k-NN identity accuracy (all neighbours and, with ``groups``, other videos
    only) and silhouette, plus chance.  ``representations``: ``{name: N x D features}``."""
    rows = []
    for name, feats in representations.items():
        for metric in metrics:
            row = {"representation": name, "metric": metric, "k": k,
                   "knn_accuracy": knn_identity_accuracy(feats, labels, k=k, metric=metric),
                   "silhouette": silhouette(feats, labels, metric=metric)}
            if groups is not None:
                row["knn_accuracy_other_videos"] = knn_identity_accuracy(feats, labels, k=k, metric=metric,
                                                                         groups=groups)
            row["chance"] = chance_accuracy(labels)
            rows.append(row)
    return rows
