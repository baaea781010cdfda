"""Frechet distance between Gaussians: FID when the statistics are Inception features.

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

The usual code takes `scipy.linalg.sqrtm(S1 @ S2)`: a square root of a non-symmetric matrix that
goes complex or inaccurate when the covariances are (nearly) singular, which they are whenever
there are fewer samples than feature dims, and is patched with an eps * I offset. Here the trace
term is the nuclear norm of S1^{1/2} S2^{1/2}: (S1^{1/2} S2^{1/2})(S1^{1/2} S2^{1/2})^T =
S1^{1/2} S2 S1^{1/2} has the eigenvalues of S1 S2, so its singular values are their square roots.
Each S^{1/2} comes from a symmetric eigendecomposition whose round-off eigenvalues (below
n * eps * max, numpy's rank rule) are set to 0, and singular values are accurate to eps * ||A||
without a further square root, so singular and rank-deficient covariances need no offset (with
fewer samples than dims this matches the exact data-matrix formula to ~1e-16 relative).

Why float64: the result is a small difference of large terms (traces of 2048-d Inception
covariances are in the hundreds, FIDs of good models single digits) and covariance eigenvalues
span many decades. float32 costs digits at every stage: the covariance itself (a float32 sum of
squares with a large mean loses every digit, see stats.py), the cancellation (eps32 * trace),
and each near-zero eigenvalue, whose round-off error eps32 * ||S|| becomes sqrt(eps32 * ||S||)
~ 3e-4 sqrt(||S||) after the square root, once per dimension. Inputs of any dtype are converted.
"""

import numpy as np
import scipy.linalg

from jaxgan.metrics import stats as stats_lib


def _psd_eigh(sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (round-off zeroed) and eigenvectors of a symmetric PSD matrix."""
    w, v = scipy.linalg.eigh((sigma + sigma.T) / 2)
    scale = max(np.abs(w).max(), np.finfo(np.float64).tiny)
    if w.min() < -1e-4 * scale:
        raise ValueError(
            f"{name} is not positive semi-definite: eigenvalue {w.min():.3g} "
            f"against largest {scale:.3g}"
        )
    # Below n * eps * max the eigenvalues are round-off (numpy's rank rule): 0, not sqrt(noise).
    return np.where(w > w.size * np.finfo(np.float64).eps * scale, w, 0.0), v


def trace_sqrt_product(sigma1, sigma2) -> float:
    """tr((S1 S2)^{1/2}) for symmetric PSD S1, S2: the nuclear norm of S1^{1/2} S2^{1/2}."""
    w1, v1 = _psd_eigh(np.asarray(sigma1, np.float64), "sigma1")
    w2, v2 = _psd_eigh(np.asarray(sigma2, np.float64), "sigma2")
    # S1^{1/2} S2^{1/2} = V1 [sqrt(w1) V1^T V2 sqrt(w2)] V2^T: same singular values as the middle.
    middle = np.sqrt(w1)[:, None] * (v1.T @ v2) * np.sqrt(w2)[None, :]
    return float(scipy.linalg.svdvals(middle).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet (2-Wasserstein) distance of N(mu1, sigma1) and N(mu2, sigma2), float64.

    Mathematically >= 0; round-off below 0 (identical inputs) is returned as 0.
    """
    mu1, sigma1 = stats_lib.check_stats(mu1, sigma1, "first statistics")
    mu2, sigma2 = stats_lib.check_stats(mu2, sigma2, "second statistics")
    stats_lib.check_same_dim(mu1, mu2, "the two statistics")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return max(float(value), 0.0)


def fid_from_features(features1, features2) -> float:
    """Frechet distance between the Gaussians fitted to two [n, dim] feature arrays."""
    f1, f2 = np.asarray(features1), np.asarray(features2)
    stats_lib.check_shape(f1, "features1", min_samples=2)
    stats_lib.check_shape(f2, "features2", min_samples=2)
    stats_lib.check_same_dim(f1, f2, "features1 and features2")
    mu1, sigma1 = stats_lib.feature_stats(f1, name="features1")
    mu2, sigma2 = stats_lib.feature_stats(f2, name="features2")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
