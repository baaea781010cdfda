"""Mode counting for mode-collapse benchmarks, as VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018) define it, on 2-D Gaussian mixtures and on Stacked MNIST.

Gaussian mixtures: a sample is high quality if it lies within 3 standard deviations of its
nearest mean; a mode is captured if at least one high-quality sample has it as nearest mean.
reverse_kl = KL(q || uniform) where q is the histogram of the high-quality samples over the modes,
i.e. log(K) - H(q) with 0 log 0 = 0: 0 when they spread evenly, log(K / m) when they sit evenly on
m modes, log(K) when all sit on one. When no sample is high quality q is undefined; reverse_kl is
then log(K), the metric's worst value, so that the number stays finite (loggable as JSON) and
never looks better than a total collapse. Stacked MNIST: each of the 3 channels is classified as
a digit, the triple is one of 1000 modes, and reverse_kl is KL(histogram || uniform on 1000).
One Gaussian has a single mode; what a GAN can get wrong there is its moments (`moment_errors`).
"""

import numpy as np

from jaxgan.metrics import stats as stats_lib


def ring_means(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """[num_modes, 2] means evenly spaced on a circle, the first at (radius, 0).

    The standard ring: 8 modes, radius 2, std 0.02 (VEEGAN) or 0.01-0.05 in later work.
    """
    if int(num_modes) != num_modes or num_modes < 1:
        raise ValueError(f"num_modes must be a positive integer, got {num_modes!r}")
    angles = 2 * np.pi * np.arange(int(num_modes)) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_means(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """[side**2, 2] means of a square grid centred on the origin, row-major in (x, y).

    The standard grid: side 5, spacing 2, i.e. the 25 points of {-4, -2, 0, 2, 4}^2, with std
    0.02 (VEEGAN) or 0.05 (PacGAN).
    """
    if int(side) != side or side < 1:
        raise ValueError(f"side must be a positive integer, got {side!r}")
    coords = (np.arange(int(side)) - (side - 1) / 2) * spacing
    xs, ys = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def kl_to_uniform(counts) -> float:
    """KL(counts / sum || uniform over len(counts)) with 0 log 0 = 0; log(K) if all counts are 0."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total == 0:
        return float(np.log(counts.size))
    q = counts[counts > 0] / total
    return float(np.sum(q * np.log(q * counts.size)))


def count_modes(samples, means, std: float) -> dict:
    """{modes_captured, num_modes, high_quality_fraction, reverse_kl} of samples [N, d]."""
    samples = stats_lib.as_features(samples, "samples")
    means = stats_lib.as_features(means, "means")
    stats_lib.check_same_dim(samples, means, "samples and means")
    if not np.isfinite(std) or std <= 0:
        raise ValueError(f"std must be a positive finite number, got {std!r}")
    sq = ((samples[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)  # [N, K]
    nearest = sq.argmin(axis=1)
    high_quality = np.sqrt(sq.min(axis=1)) <= 3 * std
    counts = np.bincount(nearest[high_quality], minlength=means.shape[0])
    return {
        "modes_captured": int((counts > 0).sum()),
        "num_modes": int(means.shape[0]),
        "high_quality_fraction": float(high_quality.mean()),
        "reverse_kl": kl_to_uniform(counts),
    }


def count_stacked_modes(digit_predictions) -> dict:
    """{modes_captured, num_modes, reverse_kl} from [N, 3] predicted digits (0-9) per channel."""
    d = np.asarray(digit_predictions)
    if d.ndim != 2 or d.shape[1] != 3 or d.shape[0] < 1:
        raise ValueError(f"digit_predictions must be [N >= 1, 3], got shape {d.shape}")
    if not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"digit_predictions must be integers, got dtype {d.dtype}")
    if d.min() < 0 or d.max() > 9:
        raise ValueError(f"digits must lie in 0..9, got range [{d.min()}, {d.max()}]")
    counts = np.bincount(d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], minlength=1000)
    return {
        "modes_captured": int((counts > 0).sum()),
        "num_modes": 1000,
        "reverse_kl": kl_to_uniform(counts),
    }


def moment_errors(samples, mean, cov) -> dict:
    """{'mean_error': ||mean(samples) - mean||, 'cov_error': ||cov(samples) - cov||_F / ||cov||_F}
    of samples [N, d] against a Gaussian N(mean, cov) (float64, unbiased covariance)."""
    mu, sigma = stats_lib.feature_stats(samples, name="samples")
    cov = np.asarray(cov, np.float64)
    return {
        "mean_error": float(np.linalg.norm(mu - np.asarray(mean, np.float64))),
        "cov_error": float(np.linalg.norm(sigma - cov) / np.linalg.norm(cov)),
    }
