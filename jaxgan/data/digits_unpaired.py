"""Two real handwriting domains for unpaired translation (CycleGAN): 8x8 digits -> MNIST.

Domain A (`source`, with `source_label`): scikit-learn's 1,797 8x8 digits (UCI optdigits, 16
gray levels, shipped in its wheel), each upscaled to 20x20 (bicubic) and padded to 28x28, the
way MNIST centres its 20x20 digits: blurry, blocky strokes filling the box. Domain B (`x`,
`label`): the embedded MNIST digits, embedded_mnist's splits and prepared files. A's splits are
stratified like B's: per class the last 50 digits (file order) are `test` (500), the rest
`train` (1,297).

Unpaired: example i of a split is B's digit i with A's digit pair_index(i), a fixed shuffle that
uses every A digit equally often (B has more). No loss of an unpaired recipe reads the
pairing, so it needs no reshuffling; the pipeline shuffles the examples every epoch.
"""

import functools

import ml_collections
import numpy as np
from skimage.transform import resize

from jaxgan.data import pipeline, transforms
from jaxgan.data.embedded_mnist import (
    NUM_CLASSES,
    SHAPE,
    SPLIT_SIZES,
    _check_split,
    _load_split,
    data_dir,
    prepare,
)
from jaxgan.data.spec import DataSpec, image_shape

NAME = "digits_unpaired"
EMBEDDED_DIGITS = True  # Its `x` are embedded_mnist's digits: evaluated by its classifier.
A_TEST_PER_CLASS = 50
A_DIGIT_SIDE = 20  # MNIST's digits fill a 20x20 box centred in 28x28.
PAIRING_SEED = 0xA2B


@functools.lru_cache(maxsize=1)
def small_digits() -> tuple[np.ndarray, np.ndarray]:
    """(scikit-learn's digits as uint8 [1797, 28, 28, 1], labels int64 [1797]) in file order."""
    from sklearn.datasets import load_digits

    found = load_digits()
    scaled = found.images / 16.0  # 0..16 gray levels -> [0, 1].
    big = np.stack([resize(d, (A_DIGIT_SIDE, A_DIGIT_SIDE), order=3) for d in scaled])
    pad = (SHAPE[0] - A_DIGIT_SIDE) // 2
    big = np.pad(big, ((0, 0), (pad, pad), (pad, pad)))
    images = np.clip(np.rint(big * 255), 0, 255).astype(np.uint8)[..., None]
    labels = found.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def small_digit_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Domain A's (images, labels) of `split`: per class the last A_TEST_PER_CLASS are test."""
    _check_split(split)
    images, labels = small_digits()
    test = np.concatenate(
        [np.flatnonzero(labels == c)[-A_TEST_PER_CLASS:] for c in range(NUM_CLASSES)]
    )
    rows = np.sort(test) if split == "test" else np.setdiff1d(np.arange(len(labels)), test)
    return images[rows], labels[rows]


def pair_index(num_b: int, num_a: int) -> np.ndarray:
    """[num_b] indices into A: a fixed permutation of A repeated to B's length, shuffled."""
    rng = np.random.default_rng(PAIRING_SEED)
    return rng.permutation(np.resize(rng.permutation(num_a), num_b))


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    """Static: needs no prepared files. Both domains have the same shape."""
    _check_split(cfg.split)
    shape = image_shape(SHAPE, cfg, NAME)
    extra = (("source", shape), ("source_label", ()))
    return DataSpec(shape, NUM_CLASSES, SPLIT_SIZES[cfg.split], NAME, extra=extra)


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): both domains held in memory, converted to `shape` once."""
    _check_split(cfg.split)
    prepare(cfg)
    images, labels = _load_split(str(data_dir(cfg)), cfg.split)
    a_images, a_labels = small_digit_split(cfg.split)
    pairs = pair_index(len(images), len(a_images))
    arrays = {
        "image": transforms.fit_all(images, shape),
        "label": labels,
        "source": transforms.fit_all(a_images, shape)[pairs],
        "source_label": a_labels[pairs],
    }
    return len(images), pipeline.in_memory_reader(arrays)
