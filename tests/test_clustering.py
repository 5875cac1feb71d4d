"""Clustering scores on data with a known answer (Gaussian blobs), as used by the latent-clustering chapter."""
from __future__ import annotations

import numpy as np
import pytest

from styleinv_lib.metrics.clustering import chance_accuracy, clustering_report, knn_identity_accuracy, silhouette


def _blobs(spread: float, classes: int = 5, per_class: int = 40, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 5
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + spread * rng.normal(size=(len(labels), dim)), labels


def test_separated_blobs_score_perfectly_and_noise_scores_chance():
    x, y = _blobs(0.1)
    assert knn_identity_accuracy(x, y, k=5, metric="euclidean") == 1.0
    assert silhouette(x, y, metric="euclidean") > 0.9
    noise = np.random.default_rng(1).normal(size=x.shape)
    acc = knn_identity_accuracy(noise, y, k=5)
    assert abs(acc - chance_accuracy(y)) < 0.12
    assert abs(silhouette(noise, y)) < 0.1


def test_scores_fall_as_blobs_overlap():
    accs = [knn_identity_accuracy(*_blobs(s), k=5, metric="euclidean") for s in (0.5, 4.0, 12.0)]
    sils = [silhouette(*_blobs(s), metric="euclidean") for s in (0.5, 4.0, 12.0)]
    assert accs[0] > accs[1] > accs[2]
    assert sils[0] > sils[1] > sils[2]


def test_group_exclusion_removes_near_duplicates():
    # every "video" is 4 near-identical frames at a random place, with random labels: without exclusion k-NN is
    # perfect (neighbours are the same video), with exclusion it falls to chance
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 8))
    groups = np.repeat(np.arange(50), 4)
    x = centres[groups] + 1e-3 * rng.normal(size=(200, 8))
    y = rng.integers(0, 5, size=50)[groups]
    assert knn_identity_accuracy(x, y, k=3) == 1.0
    assert knn_identity_accuracy(x, y, k=3, groups=groups) < 0.5


def test_k1_is_nearest_neighbour_and_errors():
    x = np.array([[0.0], [0.1], [5.0], [5.1]])
    y = np.array([0, 0, 1, 1])
    assert knn_identity_accuracy(x, y, k=1, metric="euclidean") == 1.0
    with pytest.raises(ValueError, match="metric"):
        knn_identity_accuracy(x, y, metric="manhattan")
    with pytest.raises(ValueError, match="4 entries"):
        knn_identity_accuracy(x, y[:3])
    rows = clustering_report({"x": x}, y, groups=np.arange(4), k=1, metrics=("euclidean",))
    assert rows[0]["knn_accuracy"] == 1.0 and rows[0]["chance"] == 0.5
