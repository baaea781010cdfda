"""Numerics of the GAN metrics against closed forms, brute force and hand-worked cases."""

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance

from jaxgan.metrics import frechet, inception_score, kid, mode_counting, prdc, stats


def _rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _closed_form_commuting(mu1, d1, mu2, d2):
    """FID of N(mu1, U D1 U^T), N(mu2, U D2 U^T): tr sqrt(S1 S2) = sum sqrt(d1 d2)."""
    diff = mu1 - mu2
    return diff @ diff + d1.sum() + d2.sum() - 2 * np.sqrt(d1 * d2).sum()


# ---------------------------------------------------------------- Frechet distance


@pytest.mark.parametrize("rotate", [False, True])
def test_frechet_commuting_covariances_match_closed_form(rotate):
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    d1, d2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    u = _rotation(d, 1) if rotate else np.eye(d)
    got = frechet.frechet_distance(mu1, u @ np.diag(d1) @ u.T, mu2, u @ np.diag(d2) @ u.T)
    np.testing.assert_allclose(got, _closed_form_commuting(mu1, d1, mu2, d2), rtol=1e-6)


def test_frechet_nearly_singular_covariances_match_closed_form():
    d = 24
    rng = np.random.default_rng(2)
    d1 = np.logspace(-10, 0, d)
    d2 = rng.permutation(np.logspace(-10, 0, d))
    u = _rotation(d, 3)
    mu1, mu2 = np.zeros(d), np.full(d, 1e-3)
    want = _closed_form_commuting(mu1, d1, mu2, d2)
    got = frechet.frechet_distance(mu1, u @ np.diag(d1) @ u.T, mu2, u @ np.diag(d2) @ u.T)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_frechet_rank_deficient_covariances():
    rng = np.random.default_rng(4)
    d = 10
    # Commuting, each singular on different axes: sqrt(d1 d2) = 0 wherever either is 0.
    d1 = np.where(np.arange(d) < 6, rng.uniform(0.5, 2, d), 0.0)
    d2 = np.where(np.arange(d) >= 3, rng.uniform(0.5, 2, d), 0.0)
    u = _rotation(d, 5)
    mu = rng.normal(size=d)
    got = frechet.frechet_distance(mu, u @ np.diag(d1) @ u.T, mu, u @ np.diag(d2) @ u.T)
    np.testing.assert_allclose(got, _closed_form_commuting(mu, d1, mu, d2), rtol=1e-6)
    # Rank one S1 = a a^T against full S2: S1 S2 has one nonzero eigenvalue a^T S2 a.
    a = rng.normal(size=d)
    b = rng.normal(size=(d, d))
    s2 = b @ b.T + np.eye(d)
    want = np.trace(s2) + a @ a - 2 * np.sqrt(a @ s2 @ a)
    np.testing.assert_allclose(
        frechet.frechet_distance(mu, np.outer(a, a), mu, s2), want, rtol=1e-6
    )


def test_fid_from_features_with_fewer_samples_than_dims():
    # S = Xc^T Xc / (n-1), so tr sqrt(S1 S2) = nuclear norm of X1c X2c^T / sqrt((n1-1)(n2-1)),
    # an exact reference that needs no matrix square root.
    rng = np.random.default_rng(6)
    x1, x2 = rng.normal(size=(7, 20)), rng.normal(1.0, 2.0, size=(9, 20))
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    nuclear = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(6 * 8)
    diff = x1.mean(0) - x2.mean(0)
    want = diff @ diff + (c1**2).sum() / 6 + (c2**2).sum() / 8 - 2 * nuclear
    np.testing.assert_allclose(frechet.fid_from_features(x1, x2), want, rtol=1e-6)


def test_frechet_matches_sqrtm_reference_on_well_conditioned_covariances():
    rng = np.random.default_rng(7)
    d = 12
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    want = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    np.testing.assert_allclose(frechet.frechet_distance(mu1, s1, mu2, s2), want, rtol=1e-6)
    # Symmetric in its two arguments.
    np.testing.assert_allclose(
        frechet.frechet_distance(mu2, s2, mu1, s1),
        frechet.frechet_distance(mu1, s1, mu2, s2),
        rtol=1e-10,
    )


def test_frechet_identical_distributions_is_zero():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(50, 30))
    x[:, :5] *= 1e-4  # ill-scaled directions
    mu, sigma = stats.feature_stats(x)
    assert frechet.frechet_distance(mu, sigma, mu, sigma) < 1e-9 * np.trace(sigma)
    assert frechet.fid_from_features(x[:10], x[:10]) < 1e-9 * np.trace(sigma)  # rank 9 < 30


# ---------------------------------------------------------------- streaming statistics


def _large_offset_data():
    rng = np.random.default_rng(9)
    return (1e4 + rng.normal(size=(1003, 6)) * np.array([1, 2, 3, 0.5, 0.1, 1])).astype(np.float32)


def test_streaming_moments_match_numpy_on_uneven_chunks_with_large_offset():
    x32 = _large_offset_data()
    x = x32.astype(np.float64)  # the same values: the reference is exact float64 numpy
    cuts = [0, 1, 8, 300, 301, 650, 1003]
    chunks = [x32[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    left, right = stats.init_moments(6), stats.init_moments(6)
    for c in chunks[:3]:
        left = stats.update_moments(left, c)
    for c in chunks[3:]:
        right = stats.update_moments(right, c)
    right = stats.update_moments(right, x32[:0])  # an empty batch changes nothing
    for merged in (stats.merge_moments(left, right), stats.merge_moments(right, left)):
        mu, sigma = stats.finalize(merged)
        assert merged.count == 1003
        np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    # The data is hard: a float32 raw sum of squares loses the covariance entirely.
    n = x32.shape[0]
    m32 = x32.sum(0, dtype=np.float32) / np.float32(n)
    naive = (x32.T @ x32 - n * np.outer(m32, m32)) / np.float32(n - 1)
    assert np.abs(naive - np.cov(x, rowvar=False)).max() > 1.0


def test_feature_stats_equals_numpy():
    x = _large_offset_data()
    mu, sigma = stats.feature_stats(x, batch_size=97)
    np.testing.assert_allclose(
        sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)


def test_stats_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(10)
    mu, sigma = stats.feature_stats(rng.normal(size=(20, 4)))
    path = stats.save_stats(
        tmp_path / "ref" / "mnist.npz", mu, sigma, num_samples=20, extractor="lenet"
    )
    mu2, sigma2, meta = stats.load_stats(path)
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)
    assert int(meta["num_samples"]) == 20 and str(meta["extractor"]) == "lenet"

    with pytest.raises(FileNotFoundError, match="not found"):
        stats.load_stats(tmp_path / "missing.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        stats.load_stats(tmp_path / "corrupt.npz")
    np.savez(tmp_path / "nosigma.npz", mu=mu)
    with pytest.raises(ValueError, match="lacks keys"):
        stats.load_stats(tmp_path / "nosigma.npz")
    np.savez(tmp_path / "shape.npz", mu=mu, sigma=sigma[:3])
    with pytest.raises(ValueError, match="sigma must be"):
        stats.load_stats(tmp_path / "shape.npz")
    np.savez(tmp_path / "pickled.npz", mu=mu, sigma=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read"):
        stats.load_stats(tmp_path / "pickled.npz")
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.finalize(stats.update_moments(stats.init_moments(4), mu[None]))


# ---------------------------------------------------------------- KID


def _mmd2_double_loop(x, y):
    k = lambda a, b: (sum(ai * bi for ai, bi in zip(a, b, strict=True)) / len(a) + 1) ** 3
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_kid_matches_double_loop():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(6, 3)), rng.normal(0.5, 1.0, size=(6, 3))
    want = _mmd2_double_loop(x.tolist(), y.tolist())
    np.testing.assert_allclose(kid.mmd2_unbiased(x, y), want, rtol=1e-12)
    # subset_size above the sample count is clipped to 6: every subset is a permutation of all.
    mean, std = kid.kid_from_features(x, y, num_subsets=5, subset_size=1000, seed=3)
    np.testing.assert_allclose(mean, want, rtol=1e-12)
    assert std < 1e-12 * abs(want)


def test_kid_is_unbiased_where_the_v_statistic_is_not():
    rng = np.random.default_rng(12)
    m, d, trials = 20, 4, 300
    unbiased, biased = [], []
    for _ in range(trials):
        x, y = rng.normal(size=(m, d)), rng.normal(size=(m, d))
        unbiased.append(kid.mmd2_unbiased(x, y))
        kxx, kyy, kxy = (kid.polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    se = lambda v: np.std(v, ddof=1) / np.sqrt(trials)
    assert abs(np.mean(unbiased)) < 3 * se(unbiased)
    assert np.mean(biased) > 10 * se(biased)


def test_kid_positive_for_shifted_distributions_and_deterministic():
    rng = np.random.default_rng(13)
    real = rng.normal(size=(300, 8))
    same = rng.normal(size=(300, 8))
    shifted = rng.normal(size=(300, 8)) + 0.5
    kw = dict(num_subsets=20, subset_size=100, seed=0)
    m_same, s_same = kid.kid_from_features(real, same, **kw)
    m_shift, s_shift = kid.kid_from_features(real, shifted, **kw)
    assert m_shift > 5 * s_shift > 0
    assert m_shift > 20 * abs(m_same)
    assert kid.kid_from_features(real, shifted, **kw) == (m_shift, s_shift)
    assert kid.kid_from_features(real, shifted, **{**kw, "seed": 1}) != (m_shift, s_shift)


# ---------------------------------------------------------------- Inception Score


def test_inception_score_uniform_and_evenly_spread_one_hot():
    mean, std = inception_score.inception_score(np.zeros((50, 7)), num_splits=5)
    np.testing.assert_allclose([mean, std], [1.0, 0.0], atol=1e-12)
    one_hot = np.tile(np.eye(10), (10, 1))  # every split of 10 consecutive rows has each class
    mean, std = inception_score.inception_score(one_hot, num_splits=10, from_logits=False)
    np.testing.assert_allclose([mean, std], [10.0, 0.0], atol=1e-12)
    mean, _ = inception_score.inception_score(100.0 * one_hot, num_splits=10)
    np.testing.assert_allclose(mean, 10.0, rtol=1e-9)


def test_inception_score_hand_computed():
    # p(y|x) = [1, 0] and [1/2, 1/2]: p(y) = [3/4, 1/4].
    # KL_1 = log(1 / (3/4)) = log(4/3); KL_2 = 1/2 log(2/3) + 1/2 log(2) = 1/2 log(4/3).
    # IS = exp((KL_1 + KL_2) / 2) = exp(3/4 log(4/3)) = (4/3)^(3/4).
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    mean, std = inception_score.inception_score(probs, num_splits=1, from_logits=False)
    np.testing.assert_allclose([mean, std], [(4 / 3) ** 0.75, 0.0], rtol=1e-12)
    # Logits are probabilities up to a per-row constant; both paths agree.
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    logits = np.log(p) + np.array([[3.0], [-7.0], [100.0]])
    np.testing.assert_allclose(
        inception_score.inception_score(logits, num_splits=1),
        inception_score.inception_score(p, 1, from_logits=False),
        rtol=1e-12,
    )


def test_inception_score_splits_are_consecutive():
    # Split 1: uniform predictions (IS 1); split 2: one-hot over 2 classes (IS 2).
    probs = np.array([[0.5, 0.5]] * 4 + [[1.0, 0.0], [0.0, 1.0]] * 2)
    mean, std = inception_score.inception_score(probs, num_splits=2, from_logits=False)
    np.testing.assert_allclose([mean, std], [1.5, 0.5], rtol=1e-12)


# ------------------------------------------------ precision, recall, density, coverage


def test_prdc_hand_worked_1d():
    # Real X = {0, 1, 2, 3}, k = 1: each radius is 1 (the nearest OTHER point; with the self
    # distance counted every radius would be 0 and every value below 0).
    # Fake Y = {0.5, 1.2, 20, 20.5}: radii 0.7, 0.7, 0.5, 0.5.
    # precision: 0.5 and 1.2 lie in [-1, 4], 20 and 20.5 do not -> 2/4.
    # recall: fake manifold [-0.2, 1.2] u [0.5, 1.9] u [19.5, 21] holds 0 and 1, not 2, 3 -> 2/4.
    # density: 0.5 is in B(0,1), B(1,1); 1.2 in B(1,1), B(2,1); 20, 20.5 in none -> 4/(1*4) = 1.
    # coverage: B(0,1) holds 0.5, B(1,1) 0.5, B(2,1) 1.2; B(3,1)'s nearest fake is 1.8 away -> 3/4.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [1.2], [20.0], [20.5]])
    got = prdc.prdc(real, fake, k=1)
    assert got == pytest.approx({"precision": 0.5, "recall": 0.5, "density": 1.0, "coverage": 0.75})


def test_prdc_density_above_one_and_duplicates():
    # Real {0, 1, 2, 3}, radii 1. Fake {1.5, 1.5, 1.6}: radii 0 (duplicates), 0, 0.1.
    # Each fake lies in B(1,1) and B(2,1): precision 1, density (2+2+2)/(1*3) = 2.
    # Fake balls hold no real point: recall 0. Only B(1,1), B(2,1) hold a fake: coverage 2/4.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[1.5], [1.5], [1.6]])
    got = prdc.prdc(real, fake, k=1)
    assert got == pytest.approx({"precision": 1.0, "recall": 0.0, "density": 2.0, "coverage": 0.5})


def test_prdc_matches_brute_force_for_any_batch_size():
    rng = np.random.default_rng(14)
    real, fake = rng.normal(size=(60, 5)), rng.normal(0.3, 1.2, size=(45, 5))
    k = 3
    rr = np.sort(scipy.spatial.distance.cdist(real, real), axis=1)[:, k]  # [:, 0] is self
    rf = np.sort(scipy.spatial.distance.cdist(fake, fake), axis=1)[:, k]
    d = scipy.spatial.distance.cdist(real, fake)
    want = {
        "precision": (d <= rr[:, None]).any(0).mean(),
        "recall": (d <= rf[None, :]).any(1).mean(),
        "density": (d <= rr[:, None]).sum() / (k * 45),
        "coverage": (d.min(1) <= rr).mean(),
    }
    for batch_size in (7, 1000):
        assert prdc.prdc(real, fake, k=k, batch_size=batch_size) == pytest.approx(want)
    assert 0 < want["precision"] < 1 and 0 < want["coverage"] < 1  # the case is not trivial


# ---------------------------------------------------------------- mode counting


def test_standard_mixture_means():
    ring = mode_counting.ring_means(8, 2.0)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    np.testing.assert_allclose(np.diff(np.unwrap(np.arctan2(ring[:, 1], ring[:, 0]))), np.pi / 4)
    grid = mode_counting.grid_means(5, 2.0)
    want = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert grid.shape == (25, 2) and {tuple(p) for p in grid.tolist()} == want


def test_count_modes_three_of_eight_ring_modes():
    rng = np.random.default_rng(15)
    means, std = mode_counting.ring_means(8, 2.0), 0.02
    on_modes = np.repeat(means[[0, 3, 5]], 10, axis=0) + rng.normal(0, std / 4, size=(30, 2))
    got = mode_counting.count_modes(on_modes, means, std)
    # q = 1/3 on 3 of 8 modes: KL = 3 * 1/3 log((1/3) / (1/8)) = log(8/3).
    assert got["modes_captured"] == 3 and got["num_modes"] == 8
    assert got["high_quality_fraction"] == 1.0
    np.testing.assert_allclose(got["reverse_kl"], np.log(8 / 3), rtol=1e-12)
    # Points at the origin are 2 away from every mode (100 std): low quality, counted nowhere.
    got_far = mode_counting.count_modes(np.vstack([on_modes, np.zeros((6, 2))]), means, std)
    assert got_far["modes_captured"] == 3
    np.testing.assert_allclose(got_far["high_quality_fraction"], 30 / 36)
    np.testing.assert_allclose(got_far["reverse_kl"], np.log(8 / 3), rtol=1e-12)


def test_count_modes_unequal_counts_threshold_and_empty():
    means, std = mode_counting.ring_means(8, 2.0), 0.1
    # 6, 3, 1 samples at modes 0, 1, 2: q = (.6, .3, .1), KL = sum q log(8 q).
    samples = np.repeat(means[:3], [6, 3, 1], axis=0)
    got = mode_counting.count_modes(samples, means, std)
    want = 0.6 * np.log(8 * 0.6) + 0.3 * np.log(8 * 0.3) + 0.1 * np.log(8 * 0.1)
    np.testing.assert_allclose(got["reverse_kl"], want, rtol=1e-12)
    # 2.9 std from mode 0 is high quality, 3.1 std is not.
    edge = means[0] + np.array([[2.9 * std, 0.0], [3.1 * std, 0.0]])
    got = mode_counting.count_modes(edge, means, std)
    assert got["modes_captured"] == 1 and got["high_quality_fraction"] == 0.5
    # No high-quality sample at all: nothing captured, reverse_kl is log(K) by definition.
    got = mode_counting.count_modes(np.zeros((4, 2)), means, std)
    assert got["modes_captured"] == 0 and got["high_quality_fraction"] == 0.0
    np.testing.assert_allclose(got["reverse_kl"], np.log(8))
    # Even spread over all 25 grid modes: KL 0.
    grid = mode_counting.grid_means()
    got = mode_counting.count_modes(np.repeat(grid, 2, axis=0), grid, 0.05)
    assert got["modes_captured"] == 25 and abs(got["reverse_kl"]) < 1e-12


def test_count_stacked_modes():
    all_modes = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    got = mode_counting.count_stacked_modes(all_modes)
    assert got["modes_captured"] == 1000 and abs(got["reverse_kl"]) < 1e-12
    # (1,2,3) and (3,2,1) are different modes; half the mass on each: KL = log(1000 / 2).
    got = mode_counting.count_stacked_modes(np.array([[1, 2, 3]] * 5 + [[3, 2, 1]] * 5))
    assert got["modes_captured"] == 2
    np.testing.assert_allclose(got["reverse_kl"], np.log(500), rtol=1e-12)


# ---------------------------------------------------------------- bad inputs

_X = np.random.default_rng(16).normal(size=(10, 3))
_NAN = np.where(np.arange(30).reshape(10, 3) == 4, np.nan, _X)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: frechet.fid_from_features(_X[0], _X), "2-D"),
        (lambda: frechet.fid_from_features(_X, _X[:, :2]), "different feature dims"),
        (lambda: frechet.fid_from_features(_X[:1], _X), "at least 2 samples"),
        (lambda: frechet.fid_from_features(_NAN, _X), "non-finite"),
        (
            lambda: frechet.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)),
            "sigma must be",
        ),
        (
            lambda: frechet.frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)),
            "positive semi-definite",
        ),
        (
            lambda: frechet.frechet_distance(np.zeros(2), [[1, 1], [0, 1]], np.zeros(2), np.eye(2)),
            "not symmetric",
        ),
        (lambda: kid.kid_from_features(_X, _X[:, :2]), "different feature dims"),
        (lambda: kid.kid_from_features(_X[:1], _X), "at least 2 samples"),
        (lambda: kid.kid_from_features(_X, _NAN), "non-finite"),
        (lambda: kid.kid_from_features(_X, _X, subset_size=1), "subset_size"),
        (lambda: kid.kid_from_features(_X, _X, num_subsets=0), "num_subsets"),
        (lambda: inception_score.inception_score(_X[0]), "2-D"),
        (lambda: inception_score.inception_score(_X, num_splits=11), "num_splits"),
        (lambda: inception_score.inception_score(_NAN), "non-finite"),
        (lambda: inception_score.inception_score(np.abs(_X), from_logits=False), "sum to 1"),
        (lambda: inception_score.inception_score(_X, from_logits=False), ">= 0"),
        (lambda: prdc.prdc(_X, _X[:, :2]), "different feature dims"),
        (lambda: prdc.prdc(_X, _X[:3]), "k must be"),
        (lambda: prdc.prdc(_NAN, _X), "non-finite"),
        (lambda: prdc.prdc(_X[0], _X), "2-D"),
        (lambda: mode_counting.count_modes(_X, np.zeros((8, 2)), 0.1), "different feature dims"),
        (lambda: mode_counting.count_modes(_X[:, :2], np.zeros((8, 2)), 0.0), "std"),
        (lambda: mode_counting.count_stacked_modes(np.array([[1, 2, 10]])), "0..9"),
        (lambda: mode_counting.count_stacked_modes(np.array([[1, 2]])), r"\[N >= 1, 3\]"),
        (lambda: mode_counting.count_stacked_modes(np.array([[1.0, 2.0, 3.0]])), "integers"),
        (lambda: stats.update_moments(stats.init_moments(3), _X[:, :2]), "different feature"),
        (lambda: stats.update_moments(stats.init_moments(3), _NAN), "non-finite"),
        (lambda: stats.save_stats("unused.npz", np.zeros(2), np.eye(2), info={}), "no objects"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()
