"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

k(x, y) = (x.y / d + 1)^3. On m samples x and m samples y the unbiased estimator is

    1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j)

(diagonal terms dropped within a set; the cross term needs none because x and y are independent).
Its expectation is the population MMD^2, so it is ~0, and can be negative, for equal
distributions, unlike FID it has no bias that depends on the sample size. As in the reference
implementations (stylegan2-ada, torch-fidelity) it is averaged over `num_subsets` subsets of
`subset_size` drawn without replacement from each set.
"""

import numpy as np

from jaxgan.metrics import stats as stats_lib


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n, m] matrix of (x_i . y_j / d + 1)^3."""
    k = x @ y.T / x.shape[1] + 1.0
    return k * k * k  # Same values as k ** 3, several times faster than numpy's power.


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 estimate with the cubic polynomial kernel; x, y are [m, d] (m >= 2 each)."""
    x = stats_lib.as_features(x, "x", min_samples=2)
    y = stats_lib.as_features(y, "y", min_samples=2)
    stats_lib.check_same_dim(x, y, "x and y")
    return _mmd2_unbiased(x, y)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    n, m = x.shape[0], y.shape[0]
    within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kid_from_features(
    features1, features2, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `num_subsets` random subsets.

    Each subset takes min(subset_size, n1, n2) samples from each set without replacement (the
    rule of stylegan2-ada and torch-fidelity), so small sets use all their samples; the subsets
    come from `np.random.default_rng(seed)`, so equal inputs and seed give equal results. std is
    the spread over subsets (ddof=0), not a standard error.
    """
    f1 = stats_lib.as_features(features1, "features1", min_samples=2)
    f2 = stats_lib.as_features(features2, "features2", min_samples=2)
    stats_lib.check_same_dim(f1, f2, "features1 and features2")
    if int(num_subsets) != num_subsets or num_subsets < 1:
        raise ValueError(f"num_subsets must be a positive integer, got {num_subsets!r}")
    if int(subset_size) != subset_size or subset_size < 2:
        raise ValueError(f"subset_size must be an integer >= 2, got {subset_size!r}")
    m = min(int(subset_size), f1.shape[0], f2.shape[0])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(num_subsets)):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]
        y = f2[rng.choice(f2.shape[0], m, replace=False)]
        values.append(_mmd2_unbiased(x, y))
    return float(np.mean(values)), float(np.std(values))
