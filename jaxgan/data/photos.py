"""Photographs that ship inside installed wheels, as square crops: a super-resolution set.

Eleven photos, read from the package files (never fetched): scikit-image's astronaut, rocket,
retina, hubble_deep_field, motorcycle_left / motorcycle_right, chelsea and coffee; scikit-learn's
china and flower; matplotlib's grace_hopper. Whole photos are held out: `test` is chelsea, coffee
and flower (a cat, a cup, a flower: fur, smooth surfaces and petals none of the training photos
show), `train` the other eight.

An example is a crop of side data.image_size (default 96, SRGAN's high-resolution crop). Split
`test` is the grid of non-overlapping crops of its photos (fixed: what evaluation reads).
Split `train` is the same grid over its photos, and the training stream moves each crop by up to
half its side in each direction, drawn from the pipeline's crop draw, so every region of every
photo is seen over the epochs; reference reads (augmented=False) get the grid itself. Whole
held-out photos, for full-image evaluation and --mode=translate, come from `photo(name)`.
"""

import functools
import pathlib

import ml_collections
import numpy as np

from jaxgan.data import pipeline, transforms
from jaxgan.data.spec import DataError, DataSpec, image_shape

NAME = "photos"
DEFAULT_SIZE = 96
SPLITS = {
    "train": (
        "astronaut",
        "rocket",
        "retina",
        "hubble_deep_field",
        "motorcycle_left",
        "motorcycle_right",
        "china",
        "grace_hopper",
    ),
    "test": ("chelsea", "coffee", "flower"),
}
_JITTER_MIX = 7919.0  # Makes the second axis's shift a different fraction of the same draw.


def _files() -> dict:
    """Photo name -> its file inside an installed package."""
    import matplotlib
    import skimage
    import sklearn.datasets

    skimage_dir = pathlib.Path(skimage.__file__).parent / "data"
    sklearn_dir = pathlib.Path(sklearn.datasets.__file__).parent / "images"
    matplotlib_dir = pathlib.Path(matplotlib.get_data_path()) / "sample_data"
    found = {
        name: skimage_dir / f"{name}.png"
        for name in ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right")
    }
    found.update(
        rocket=skimage_dir / "rocket.jpg",
        retina=skimage_dir / "retina.jpg",
        hubble_deep_field=skimage_dir / "hubble_deep_field.jpg",
        china=sklearn_dir / "china.jpg",
        flower=sklearn_dir / "flower.jpg",
        grace_hopper=matplotlib_dir / "grace_hopper.jpg",
    )
    return found


@functools.lru_cache(maxsize=16)
def photo(name: str) -> np.ndarray:
    """uint8 [H, W, 3] of photo `name` (read once per process)."""
    from jaxgan.data import folder_cache

    files = _files()
    if name not in files:
        raise DataError(f"photo {name!r} is not one of {', '.join(files)}")
    if not files[name].is_file():
        raise DataError(f"photo {name!r} is missing from its package: {files[name]}")
    image = folder_cache.load_pixels(files[name], 3)
    image.setflags(write=False)
    return image


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"data.split={split!r} is not a split of 'photos': use train or test")


def _side(cfg) -> int:
    return cfg.image_size or DEFAULT_SIZE


def grid(split: str, side: int) -> np.ndarray:
    """[N, 3] (photo index in SPLITS[split], top, left) of the non-overlapping crops of side
    `side` covering each photo of the split from its top-left corner."""
    cells = []
    for p, name in enumerate(SPLITS[split]):
        height, width = photo(name).shape[:2]
        tops, lefts = np.arange(height // side) * side, np.arange(width // side) * side
        top, left = np.meshgrid(tops, lefts, indexing="ij")
        cells.append(np.stack([np.full(top.size, p), top.ravel(), left.ravel()], 1))
    return np.concatenate(cells)


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    _check_split(cfg.split)
    side = _side(cfg)
    small = min(min(photo(n).shape[:2]) for n in SPLITS[cfg.split])
    if side > small:
        raise DataError(
            f"data.image_size={side} is larger than the smallest {cfg.split} photo's side {small}"
        )
    shape = image_shape((side, side, 3), cfg, NAME)
    return DataSpec(shape, None, len(grid(cfg.split, side)), NAME)


def _shift(draw: float, side: int) -> tuple[int, int]:
    """A crop's (down, right) shift in [-side/2, side/2) from one draw; (0, 0) for 0.5."""
    second = (draw * _JITTER_MIX) % 1.0 if draw != 0.5 else 0.5
    return int(np.floor((draw - 0.5) * side)), int(np.floor((second - 0.5) * side))


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): crops cut from the photos held in memory."""
    _check_split(cfg.split)
    side, channels = _side(cfg), shape[2]
    cells = grid(cfg.split, side)
    photos = [photo(n) for n in SPLITS[cfg.split]]
    moving = cfg.split == "train"

    def read(indices, draws):
        crops = []
        for i, u in zip(indices, draws, strict=True):
            p, top, left = cells[i]
            image = photos[p]
            if moving:
                down, right = _shift(float(u), side)
                top = int(np.clip(top + down, 0, image.shape[0] - side))
                left = int(np.clip(left + right, 0, image.shape[1] - side))
            crop = image[top : top + side, left : left + side]
            crops.append(transforms.fit(crop, shape[0], channels))
        return {"image": np.stack(crops)}

    return len(cells), read
