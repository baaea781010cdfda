"""Streaming feature statistics (mean, covariance) in float64, and reference-statistics files.

`update_moments` folds batches into a `Moments` value with the parallel update of Chan, Golub and
LeVeque (1979): each batch is centred on its own mean before its outer products are summed, and
batches merge through the difference of their means. A raw sum of squares minus n * mean^2
cancels catastrophically when the mean is large against the spread (float32 features with an
offset lose every digit); centred sums do not, so 50k x 2048 features can stream through in
batches and still match `np.cov` on the whole array.
"""

import os
import zipfile
from typing import NamedTuple

import numpy as np


class Moments(NamedTuple):
    """count samples, their mean [d] and m2 [d, d] = sum of (x - mean)(x - mean)^T."""

    count: int
    mean: np.ndarray
    m2: np.ndarray


def check_shape(x: np.ndarray, name: str = "features", min_samples: int = 1) -> None:
    """Raise unless `x` is a real [num_samples >= min_samples, dim >= 1] array (values unread)."""
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D [num_samples, dim], got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {x.shape[0]}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {x.shape}")


def as_features(x, name: str = "features", min_samples: int = 1) -> np.ndarray:
    """Validate a [num_samples, dim] array of finite values and return it as float64."""
    x = np.asarray(x)
    check_shape(x, name, min_samples)
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains {np.size(x) - np.isfinite(x).sum()} non-finite values")
    return x


def check_same_dim(a: np.ndarray, b: np.ndarray, names: str = "the two feature sets") -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{names} have different feature dims: {a.shape[-1]} != {b.shape[-1]}")


def init_moments(dim: int) -> Moments:
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return Moments(0, np.zeros(int(dim)), np.zeros((int(dim), int(dim))))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two disjoint sample sets (order does not matter)."""
    check_same_dim(a.mean, b.mean, "the two accumulators")
    if b.count == 0:
        return a
    if a.count == 0:
        return b
    count = a.count + b.count
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / count)
    m2 = a.m2 + b.m2 + np.outer(delta, delta) * (a.count * b.count / count)
    return Moments(count, mean, m2)


def update_moments(m: Moments, batch) -> Moments:
    """Fold a [n, dim] batch into `m`, returning a new value (an empty batch changes nothing)."""
    batch = as_features(batch, "batch", min_samples=0)
    check_same_dim(m.mean, batch, "the accumulator and the batch")
    if batch.shape[0] == 0:
        return m
    mean = batch.mean(axis=0)
    centred = batch - mean
    return merge_moments(m, Moments(batch.shape[0], mean, centred.T @ centred))


def finalize(m: Moments) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma): mean and unbiased covariance (ddof=1), as `np.cov(x, rowvar=False)`."""
    if m.count < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {m.count}")
    sigma = m.m2 / (m.count - 1)
    return m.mean.copy(), (sigma + sigma.T) / 2


def feature_stats(features, batch_size: int = 10_000, name: str = "features"):
    """(mu, sigma) of a [n, dim] array, streamed in batches to bound the float64 copies."""
    features = np.asarray(features)
    check_shape(features, name, min_samples=2)
    m = init_moments(features.shape[1])
    for start in range(0, features.shape[0], batch_size):
        m = update_moments(m, as_features(features[start : start + batch_size], name))
    return finalize(m)


def save_stats(path, mu, sigma, **meta) -> str:
    """Write reference statistics to exactly `path` as .npz (keys mu, sigma and any `meta`)."""
    mu, sigma = check_stats(mu, sigma, "statistics to save")
    meta = {k: np.asarray(v) for k, v in meta.items()}
    bad = [k for k, v in meta.items() if v.dtype == object]
    if bad:
        raise ValueError(f"meta {bad} must be numbers, strings or arrays of them (no objects)")
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, mu=mu, sigma=sigma, **meta)
    return path


def load_stats(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(mu, sigma, meta) from a `save_stats` file; clear errors for missing or bad files."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"reference statistics file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read reference statistics {path} as .npz: {e}") from e
    missing = {"mu", "sigma"} - set(arrays)
    if missing:
        raise ValueError(f"{path} lacks keys {sorted(missing)} (has {sorted(arrays)})")
    mu, sigma = check_stats(arrays.pop("mu"), arrays.pop("sigma"), path)
    return mu, sigma, arrays


def check_stats(mu, sigma, name: str = "statistics") -> tuple[np.ndarray, np.ndarray]:
    """Validate mu [d] and a symmetric sigma [d, d] of finite values; return them in float64."""
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    if mu.ndim != 1 or mu.shape[0] < 1:
        raise ValueError(f"{name}: mu must be 1-D [dim], got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"{name}: sigma must be [{mu.shape[0]}, {mu.shape[0]}] to match mu, "
            f"got shape {sigma.shape}"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{name}: mu and sigma must be finite")
    scale = max(np.abs(sigma).max(), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max() > 1e-5 * scale:
        raise ValueError(f"{name}: sigma is not symmetric")
    return mu, sigma
