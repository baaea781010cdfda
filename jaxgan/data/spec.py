"""What a dataset delivers (DataSpec) and the config checks every dataset shares."""

import contextlib
import fcntl
import os
import pathlib
from typing import NamedTuple

import ml_collections

CHANNELS = (0, 1, 3)
CROPS = ("center", "random", "pad")  # How a folder dataset squares a non-square picture.
FOLDER_DEFAULTS = {"labels_file": "", "crop": "center"}
FOLDERS = ("image_folder", "paired_folder", "unpaired_folder")  # Data read from data.path.
# The datasets each folder-only option applies to.
FOLDER_OPTIONS = {"labels_file": ("image_folder",), "crop": FOLDERS}


class DataSpec(NamedTuple):
    """One example's shape, (H, W, C) or (2,); class count and size when known; the shapes of
    any further image fields (paired data: {'source': (H, W, C)}, whose target is `x`)."""

    shape: tuple
    num_classes: int | None
    num_examples: int | None
    name: str
    extra: tuple = ()  # ((field name, shape), ...): hashable, so specs compare and cache.
    class_names: tuple = ()  # Names of the classes 0, 1, ... when the dataset has them.

    @property
    def fields(self) -> dict:
        """Every field a batch carries -> its per-example shape ('label' is a scalar)."""
        fields = {"x": tuple(self.shape)}
        if self.num_classes:
            fields["label"] = ()
        fields.update((name, tuple(shape)) for name, shape in self.extra)
        return fields


class DataError(ValueError):
    """Bad data options, a missing or unreadable dataset: the message names the value."""


def cache_root(cfg: ml_collections.ConfigDict) -> pathlib.Path:
    """data.cache_dir, else $JAXGAN_CACHE_DIR, else ~/.cache/jaxgan."""
    root = cfg.cache_dir or os.environ.get("JAXGAN_CACHE_DIR") or "~/.cache/jaxgan"
    return pathlib.Path(root).expanduser()


@contextlib.contextmanager
def cache_lock(path: pathlib.Path):
    """An exclusive lock on `path` (created if missing): one process at a time fills the cache."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_int(cfg, key: str, low: int) -> None:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"data.{key}={value!r} is not allowed: it must be an int >= {low}")


def check_options(cfg: ml_collections.ConfigDict) -> None:
    """Raises DataError naming the first data option outside its allowed values."""
    _check_int(cfg, "image_size", 0)
    _check_int(cfg, "num_threads", 0)
    _check_int(cfg, "prefetch", 0)
    _check_int(cfg, "translate", 0)
    _check_int(cfg, "max_examples", 0)
    if cfg.max_examples and str(cfg.name).startswith("toy2d"):
        raise DataError(
            f"data.max_examples limits a dataset; {cfg.name!r} is drawn afresh each step"
        )
    if not isinstance(cfg.flip, bool):
        raise DataError(f"data.flip={cfg.flip!r} is not allowed: use True or False")
    if cfg.crop not in CROPS:
        raise DataError(
            f"data.crop={cfg.crop!r} is not allowed: use one of {', '.join(map(repr, CROPS))}"
        )
    if (cfg.flip or cfg.translate) and str(cfg.name).startswith("toy2d"):
        raise DataError(f"data.flip / data.translate augment images; {cfg.name!r} holds 2-D points")
    if cfg.clusters and str(cfg.name).startswith("toy2d"):
        raise DataError(
            f"data.clusters={cfg.clusters!r} clusters images; {cfg.name!r} holds 2-D points, "
            "labelled by their mixture component: use data.clusters=0"
        )
    for key, names in FOLDER_OPTIONS.items():
        if cfg[key] != FOLDER_DEFAULTS[key] and cfg.name not in names:
            allowed = " or ".join(", ".join(map(repr, names)).rsplit(", ", 1))
            raise DataError(f"data.{key}={cfg[key]!r} is for data.name={allowed}, not {cfg.name!r}")
    if isinstance(cfg.channels, bool) or cfg.channels not in CHANNELS:
        raise DataError(
            f"data.channels={cfg.channels!r} is not allowed: use 0 (native), 1 (gray) or 3 (RGB)"
        )


def image_shape(native: tuple, cfg: ml_collections.ConfigDict, name: str) -> tuple:
    """(H, W, C) after center-cropping to a square, resizing to image_size and converting channels.

    image_size=0 keeps the native size (the shorter side, for non-square images);
    channels=0 keeps the native channels (1 for 2-D images).
    """
    height, width = native[0], native[1]
    native_channels = native[2] if len(native) == 3 else 1
    size = cfg.image_size
    if size == 0:
        if height is None or width is None:
            raise DataError(
                f"dataset {name!r} has images of varying size {tuple(native)}: set data.image_size "
                "to the size to resize them to (e.g. 64)"
            )
        size = min(height, width)
    channels = cfg.channels
    if channels == 0:
        if native_channels not in (1, 3, 4):
            raise DataError(
                f"dataset {name!r} has images with {native_channels} channels: set data.channels "
                "to 1 or 3"
            )
        channels = 1 if native_channels == 1 else 3
    return (size, size, channels)
