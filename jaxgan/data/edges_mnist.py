"""Paired edges -> digit data for pix2pix: each embedded MNIST digit with its edge map as source.

The digits, labels and splits are embedded_mnist's (4,500 / 500, all ten classes in both; the same
prepared files). A digit's source is its Canny edge map (`skimage.feature.canny` on the digit
scaled to [0, 1], sigma=1.0, hysteresis thresholds low=0.5, high=1.0 on the gradient magnitude,
where a full-contrast stroke edge reaches about 2.5): clean closed outlines, 86 pixels per digit
on average, 40 at least. The defaults (0.1, 0.2) give the same outlines plus weak fragments and
isolated specks in narrow gaps between strokes; (1.0, 2.0) start dropping small loops and leave
faint digits with no edges at all. Edge pixels farther than one pixel from the stroke (one in the
whole dataset, in a sharp concave corner) are dropped, so every edge lies on or next to the digit.

Edge maps are computed once per split and process (0.5-0.7 s per 1,000 digits) and kept in
memory as uint8 0/255. `read` returns {'image': digit, 'source': edges, 'label'}, both images
cropped, resized and converted identically by `transforms.fit`, so pairs stay pixel-aligned.
"""

import functools

import ml_collections
import numpy as np
from scipy import ndimage
from skimage.feature import canny

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

NAME = "edges_mnist"
EMBEDDED_DIGITS = True  # Its targets are embedded_mnist's digits: evaluated by its classifier.
SIGMA = 1.0
LOW_THRESHOLD = 0.5
HIGH_THRESHOLD = 1.0


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Digits uint8 [N, H, W, 1] -> their Canny edge maps, uint8 0/255 [N, H, W, 1]."""
    near_stroke = np.ones((3, 3), bool)
    edges = np.zeros(images.shape, np.uint8)
    for image, out in zip(images[..., 0], edges[..., 0], strict=True):
        found = canny(
            image.astype(np.float32) / 255,
            sigma=SIGMA,
            low_threshold=LOW_THRESHOLD,
            high_threshold=HIGH_THRESHOLD,
        )
        out[found & ndimage.binary_dilation(image > 0, near_stroke)] = 255
    return edges


@functools.lru_cache(maxsize=4)
def _load_edges(root: str, split: str) -> np.ndarray:
    """The edge maps of a prepared split's digits, computed once per process."""
    edges = edge_maps(_load_split(root, split)[0])
    edges.setflags(write=False)
    return edges


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    """Static: needs no prepared files. The source has the image's shape."""
    _check_split(cfg.split)
    shape = image_shape(SHAPE, cfg, NAME)
    return DataSpec(shape, NUM_CLASSES, SPLIT_SIZES[cfg.split], NAME, extra=(("source", shape),))


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): digits and edge maps held in memory, converted to `shape` once."""
    _check_split(cfg.split)
    prepare(cfg)
    root = str(data_dir(cfg))
    images, labels = _load_split(root, cfg.split)
    arrays = {
        "image": transforms.fit_all(images, shape),
        "source": transforms.fit_all(_load_edges(root, cfg.split), shape),
        "label": labels,
    }
    return len(images), pipeline.in_memory_reader(arrays)
