"""2-D Gaussian mixtures generated on the fly: the ring and grid benchmarks for mode collapse.

Standard values (used where the config leaves 0):
- toy2d_ring: 8 modes on a circle of radius 2, std 0.02 (Metz et al. 2017, Unrolled GANs).
  PacGAN/VEEGAN use radius 1 with std 0.01: the same ratio of spread to spacing.
- toy2d_grid: 25 modes on the 5x5 lattice {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN).
  For the grid, toy_radius is the lattice's half extent and num_modes must be a square k*k.
- toy2d_gaussian: one Gaussian N(GAUSSIAN_MEAN, GAUSSIAN_COV) with a full covariance, the
  simplest distribution whose shape (not only its location) G must match; it takes none of the
  mixture keys. Evaluation compares the samples' mean and covariance with these.

The global batch of step t is drawn from a numpy Generator seeded with (seed, t): a pure
function of (seed, t); each process keeps its contiguous slice of it.
"""

import math
import sys

import grain
import ml_collections
import numpy as np

from jaxgan.data.spec import DataError, DataSpec

STANDARD = {
    "toy2d_ring": {"num_modes": 8, "toy_std": 0.02, "toy_radius": 2.0},
    "toy2d_grid": {"num_modes": 25, "toy_std": 0.05, "toy_radius": 4.0},
}
GAUSSIAN_MEAN = np.array([1.0, -1.0], np.float32)
GAUSSIAN_COV = np.array([[1.0, 0.75], [0.75, 0.8]], np.float32)  # Correlation 0.84.
NAMES = (*STANDARD, "toy2d_gaussian")
_TOY_TAG = 0x70C2D


def params(cfg: ml_collections.ConfigDict) -> tuple[int, float, float]:
    """(num_modes, std, radius) with 0 meaning the standard value; DataError when out of range.
    The Gaussian: (1, 1, 0), its spread being GAUSSIAN_COV."""
    if cfg.name == "toy2d_gaussian":
        for key in ("num_modes", "toy_std", "toy_radius"):
            if cfg[key]:
                raise DataError(
                    f"data.{key}={cfg[key]!r} is for the mixtures; toy2d_gaussian is the fixed "
                    "N(GAUSSIAN_MEAN, GAUSSIAN_COV) of jaxgan.data.toy2d: leave it at 0"
                )
        return 1, 1.0, 0.0
    standard = STANDARD[cfg.name]
    num_modes = cfg.num_modes or standard["num_modes"]
    std = float(cfg.toy_std or standard["toy_std"])
    radius = float(cfg.toy_radius or standard["toy_radius"])
    if isinstance(num_modes, bool) or not isinstance(num_modes, int) or num_modes < 1:
        raise DataError(f"data.num_modes={cfg.num_modes!r} must be an int >= 1 (0 = standard)")
    if cfg.name == "toy2d_grid" and math.isqrt(num_modes) ** 2 != num_modes:
        raise DataError(
            f"data.num_modes={num_modes} is not allowed for toy2d_grid: it must be a square k*k "
            "(e.g. 25 for the standard 5x5 grid)"
        )
    if not std > 0 or not radius > 0:
        raise DataError(
            f"data.toy_std={cfg.toy_std!r} and data.toy_radius={cfg.toy_radius!r} must be > 0 "
            "(0 = standard)"
        )
    return num_modes, std, radius


def means(cfg: ml_collections.ConfigDict) -> np.ndarray:
    """[num_modes, 2] float32 mode centres; the label of a point is its row here."""
    num_modes, _, radius = params(cfg)
    if cfg.name == "toy2d_gaussian":
        return GAUSSIAN_MEAN[None].copy()
    if cfg.name == "toy2d_ring":
        angles = 2 * np.pi * np.arange(num_modes) / num_modes
        centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        side = math.isqrt(num_modes)
        axis = np.linspace(-radius, radius, side) if side > 1 else np.zeros(1)
        gx, gy = np.meshgrid(axis, axis, indexing="ij")
        centres = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return centres.astype(np.float32)


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    num_modes, _, _ = params(cfg)
    return DataSpec(shape=(2,), num_classes=num_modes, num_examples=None, name=cfg.name)


def global_batch(centres: np.ndarray, std, seed: int, step: int, size: int) -> dict:
    """The whole global batch of `step`: a pure function of (seed, step). `std` is a scalar, or a
    [2, 2] covariance's Cholesky factor."""
    rng = np.random.default_rng([int(seed) % 2**64, _TOY_TAG, int(step)])
    label = rng.integers(len(centres), size=size)
    noise = rng.standard_normal((size, 2), dtype=np.float32)
    noise = noise @ std.T if np.ndim(std) == 2 else noise * np.float32(std)
    return {"x": centres[label] + noise, "label": label.astype(np.int32)}


def batches(
    cfg: ml_collections.ConfigDict,
    *,
    global_batch_size: int,
    seed: int,
    process_index: int,
    process_count: int,
) -> grain.MapDataset:
    """Infinite dataset whose element t is this process's slice of global batch t."""
    centres = means(cfg)
    _, std, _ = params(cfg)
    if cfg.name == "toy2d_gaussian":
        std = np.linalg.cholesky(GAUSSIAN_COV).astype(np.float32)
    local = global_batch_size // process_count
    start = process_index * local

    def step_batch(step):
        batch = global_batch(centres, std, seed, step, global_batch_size)
        return {k: v[start : start + local] for k, v in batch.items()}

    return grain.MapDataset.range(sys.maxsize).map(step_batch)
