"""Stacked MNIST: three embedded MNIST digits as the three channels of one 28x28x3 image.

The mode-collapse benchmark of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018):
1,000 modes, one per digit triple; an example's label is 100*d0 + 10*d1 + d2 (d_c the digit in
channel c). Example i of a split stacks the embedded_mnist digits of the same split at rows
`source_rows(split)[i]`, drawn uniformly at random from numpy's Generator seeded with (SEED,
split): a pure function of (SEED, split, i), so the dataset is the same in every process and
run (the run's seed only changes the order, as for every dataset). `train` has 100,000 triples of
the 4,500 embedded training digits, `test` 10,000 of the 500 held-out ones.
"""

import functools

import ml_collections
import numpy as np

from jaxgan.data import embedded_mnist, pipeline, transforms
from jaxgan.data.spec import DataError, DataSpec, image_shape

NAME = "stacked_mnist"
SHAPE = (28, 28, 3)
NUM_CLASSES = 1000
SPLIT_SIZES = {"train": 100_000, "test": 10_000}
SEED = 0x57AC
_SPLIT_TAGS = {"train": 0, "test": 1}


def _check_split(split: str) -> None:
    if split not in SPLIT_SIZES:
        raise DataError(
            f"data.split={split!r} is not a split of {NAME}: use one of {', '.join(SPLIT_SIZES)}"
        )


@functools.cache
def source_rows(split: str) -> np.ndarray:
    """[num_examples, 3] rows of embedded_mnist's `split` stacked as channels 0, 1, 2."""
    _check_split(split)
    rng = np.random.default_rng([SEED, _SPLIT_TAGS[split]])
    rows = rng.integers(embedded_mnist.SPLIT_SIZES[split], size=(SPLIT_SIZES[split], 3))
    rows.setflags(write=False)
    return rows


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    """Static: needs no prepared files."""
    _check_split(cfg.split)
    return DataSpec(image_shape(SHAPE, cfg, NAME), NUM_CLASSES, SPLIT_SIZES[cfg.split], NAME)


def stack(digits: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> dict:
    """{'image': uint8 [n, H, W, 3], 'label': [n]} of the digit rows [n, 3]."""
    image = np.concatenate([digits[rows[:, c]] for c in range(3)], axis=-1)
    return {"image": image, "label": labels[rows] @ np.array([100, 10, 1])}


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): stacks are gathered per batch from the split's 28x28 digits held in
    memory (only converted when `shape` is not the native 28x28x3)."""
    _check_split(cfg.split)
    base = ml_collections.ConfigDict(cfg.to_dict())
    base.name, base.image_size, base.channels = embedded_mnist.NAME, 0, 0
    num_digits, read_digits = embedded_mnist.reader(base, embedded_mnist.SHAPE)
    digits = read_digits(np.arange(num_digits))
    table = source_rows(cfg.split)

    def read(indices, draws=None):
        batch = stack(digits["image"], digits["label"], table[indices])
        if tuple(shape) != SHAPE:
            batch["image"] = np.stack(
                [transforms.fit(image, shape[0], shape[2]) for image in batch["image"]]
            )
        return batch

    return len(table), read
