"""Improved precision/recall (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020).

Each sample x of a set gets a radius r(x): the distance to its k-th nearest OTHER sample of the
same set. The manifold of a set is the union of the closed balls B(x, r(x)). With real X (N) and
fake Y (M):

    precision = fraction of Y inside the real manifold
    recall    = fraction of X inside the fake manifold
    density   = 1/(k M) sum_j #{i : Y_j in B(X_i, r(X_i))}   (can exceed 1)
    coverage  = fraction of X_i whose ball B(X_i, r(X_i)) holds at least one Y_j

Distances are computed in float64 blocks of `batch_size` columns, so 10k x 10k sets need only
[N, batch_size] arrays at a time.
"""

import numpy as np

from jaxgan.metrics import stats as stats_lib


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n, m] Euclidean distances via |x|^2 + |y|^2 - 2 x.y, clipped at 0 against round-off."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.maximum(sq, 0.0))


def knn_radii(x: np.ndarray, k: int, batch_size: int = 1000) -> np.ndarray:
    """[n] distance of each row of x to its k-th nearest other row (self-distance excluded)."""
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        d = pairwise_distances(x[start : start + batch_size], x)
        rows = np.arange(d.shape[0])
        d[rows, start + rows] = np.inf
        radii[start : start + d.shape[0]] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return radii


def prdc(real, fake, k: int = 3, batch_size: int = 1000) -> dict[str, float]:
    """{precision, recall, density, coverage} of fake [M, d] against real [N, d] features."""
    real = stats_lib.as_features(real, "real")
    fake = stats_lib.as_features(fake, "fake")
    stats_lib.check_same_dim(real, fake, "real and fake")
    smallest = min(real.shape[0], fake.shape[0])
    if int(k) != k or not 1 <= k < smallest:
        raise ValueError(
            f"k must be an integer in [1, {smallest - 1}] (fewer than the samples of "
            f"the smaller set, {smallest}), got {k!r}"
        )
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    k, batch_size = int(k), int(batch_size)
    real_radii = knn_radii(real, k, batch_size)
    fake_radii = knn_radii(fake, k, batch_size)

    in_real_balls = np.empty(fake.shape[0])  # per fake sample: how many real balls hold it
    in_fake_manifold = np.zeros(real.shape[0], bool)
    nearest_fake = np.full(real.shape[0], np.inf)
    for start in range(0, fake.shape[0], batch_size):
        stop = min(start + batch_size, fake.shape[0])
        d = pairwise_distances(real, fake[start:stop])  # [N, block]
        in_real_balls[start:stop] = (d <= real_radii[:, None]).sum(axis=0)
        in_fake_manifold |= (d <= fake_radii[None, start:stop]).any(axis=1)
        nearest_fake = np.minimum(nearest_fake, d.min(axis=1))
    return {
        "precision": float((in_real_balls > 0).mean()),
        "recall": float(in_fake_manifold.mean()),
        "density": float(in_real_balls.sum() / (k * fake.shape[0])),
        "coverage": float((nearest_fake <= real_radii).mean()),
    }
