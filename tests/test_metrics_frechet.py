"""The Fréchet distance core of FID/FVD against closed forms."""
import numpy as np
import pytest

from styleinv_lib.metrics.frechet import FeatureStats, frechet_distance, frechet_distance_from_stats


def _random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / (rank or d)


def test_streaming_statistics_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 7)) * [1, 2, 3, 4, 5, 6, 7] + 3
    stats = FeatureStats(7)
    for chunk in np.array_split(x, 9):
        stats.update(chunk)
    assert stats.count == 500
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-10)


def test_merge_equals_one_pass(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    a, b, whole = FeatureStats(5).update(x[:120]), FeatureStats(5).update(x[120:]), FeatureStats(5).update(x)
    a.merge(b)
    np.testing.assert_allclose(a.cov, whole.cov, rtol=1e-12)
    loaded = FeatureStats.load(whole.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.outer, whole.outer)
    assert loaded.count == 300


def test_diagonal_gaussians_closed_form():
    """For diagonal covariances: d² = ‖μ₁−μ₂‖² + Σᵢ (σ₁ᵢ − σ₂ᵢ)²."""
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-10)


def test_scaled_covariance_closed_form():
    """Σ₂ = c²Σ₁ (any full Σ₁): the trace term is (1 − c)² tr Σ₁."""
    rng = np.random.default_rng(3)
    sigma, c = _random_spd(rng, 20), 2.5
    mu = rng.normal(size=20)
    expected = (1 - c) ** 2 * np.trace(sigma)
    assert frechet_distance(mu, sigma, mu, c**2 * sigma) == pytest.approx(expected, rel=1e-9)


def test_matches_scipy_sqrtm_on_general_covariances():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(4)
    s1, s2 = _random_spd(rng, 30), _random_spd(rng, 30)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    root = scipy_linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_singular_covariances_stay_finite():
    """Fewer samples than dimensions (every small run): rank-deficient Σ, still a finite, non-negative distance."""
    rng = np.random.default_rng(5)
    a = FeatureStats(64).update(rng.normal(size=(10, 64)))
    b = FeatureStats(64).update(rng.normal(size=(10, 64)) + 0.5)
    d = frechet_distance_from_stats(a, b)
    assert np.isfinite(d) and d > 0
    assert frechet_distance_from_stats(a, a) == pytest.approx(0.0, abs=1e-8)


def test_distance_grows_with_shift_and_rejects_bad_input():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(400, 8))
    base = FeatureStats(8).update(x)
    ds = [frechet_distance_from_stats(base, FeatureStats(8).update(x + s)) for s in (0.1, 0.5, 1.0)]
    assert ds[0] < ds[1] < ds[2]
    assert ds[2] == pytest.approx(8.0, rel=1e-6)  # shifted by 1 in 8 dimensions, same covariance
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        base.update(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="NaN"):
        base.update(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats(8).update(np.zeros((1, 8))).cov


def test_the_kept_covariance_root_gives_the_same_distance_and_follows_new_samples():
    rng = np.random.default_rng(4)
    real, fake = FeatureStats(6), FeatureStats(6)
    real.update(rng.normal(size=(40, 6)))
    fake.update(rng.normal(size=(30, 6)) + 0.5)
    plain = frechet_distance(real.mean, real.cov, fake.mean, fake.cov)
    assert frechet_distance_from_stats(real, fake) == plain                # root computed and kept
    assert frechet_distance_from_stats(real, fake) == plain                # root reused: same operations
    root = real.cov_sqrt
    np.testing.assert_allclose(root @ root, real.cov, atol=1e-12)
    real.update(rng.normal(size=(10, 6)) * 3)                              # new samples: a new root
    assert real.cov_sqrt is not root
    assert frechet_distance_from_stats(real, fake) == frechet_distance(real.mean, real.cov, fake.mean, fake.cov)
    merged = FeatureStats(6).merge(real)
    assert frechet_distance_from_stats(merged, fake) == frechet_distance_from_stats(real, fake)


def test_fewer_samples_than_dimensions_take_the_factored_trace_with_the_same_distance(tmp_path):
    """Below D samples a side keeps its features, and the trace comes from an n × n problem: the same distance as
    the D × D route (to round-off: 2e-8 relative here), whichever side is small, merged or not; loaded statistics
    use the D × D route."""
    rng = np.random.default_rng(7)
    d = 300
    big = FeatureStats(d).update(rng.normal(size=(400, d)) @ rng.normal(size=(d, d)) / 20)
    small = FeatureStats(d).update(rng.normal(size=(30, d)) + 0.3)
    small.update(rng.normal(size=(20, d)))
    assert big.factor is None and small.factor.shape == (50, d)
    np.testing.assert_allclose(small.factor.T @ small.factor, small.cov, atol=1e-12)
    dense = frechet_distance(big.mean, big.cov, small.mean, small.cov)
    assert frechet_distance_from_stats(big, small) == pytest.approx(dense, rel=1e-6)
    assert frechet_distance_from_stats(small, big) == pytest.approx(dense, rel=1e-6)
    assert big._root is None                                    # the D x D root was never needed
    other = FeatureStats(d).update(rng.normal(size=(70, d)) * 1.5)
    assert frechet_distance_from_stats(small, other) == pytest.approx(
        frechet_distance(small.mean, small.cov, other.mean, other.cov), rel=1e-6)
    merged = FeatureStats(d).merge(small).merge(other)
    assert merged.factor.shape == (120, d)
    np.testing.assert_allclose(merged.factor.T @ merged.factor, merged.cov, atol=1e-10)
    merged.update(rng.normal(size=(200, d)))                    # 320 >= 300 samples: no factor any more
    assert merged.factor is None
    loaded = FeatureStats.load(small.save(tmp_path / "small.npz"))
    assert loaded.factor is None and frechet_distance_from_stats(big, loaded) == pytest.approx(dense, rel=1e-6)
    assert frechet_distance_from_stats(small, small) == pytest.approx(0.0, abs=1e-8)
