"""A folder of the user's own pictures (png, jpg, jpeg, webp, bmp, tif, tiff, gif), searched
recursively, decoded once into a cache (folder_cache) and read from it at every step.

data.image_size (required) is the square training resolution; data.crop says how a non-square
picture becomes square ('center', 'random': a new window at every step, 'pad'); data.channels=0
takes the majority of the files' channels (RGB on a tie). Hidden files and folders (names
starting with '.') are skipped.

Labels: from `data.labels_file` when set, a .json object {relative path: class name} or a .csv
of `relative path,class name` rows (a first row whose path is not a file of the folder is a
header); files it does not name are left out (counted in a warning). Otherwise, when every
image sits inside a first-level subfolder (`root/cat/1.png`, `root/dog/x/2.jpg`), the subfolder
name is the class; when any image lies directly in the root, there are no labels. Classes are
numbered in sorted order of their names, and the names are part of the data's description, so
`--labels=cat` works when sampling.

Splits: 'train' is every picture; 'fit' and 'heldout' divide them 9:1 by a hash of each path
(stable as files come and go), for the evaluation classifier to be scored on pictures it did not
train on.

Bad files never stop a run: they are found and left out while the cache is built (one warning
names a few); a folder with no readable image is an error at start-up. The data's identity (file
count and a digest of the relative paths and sizes) is checkpointed, so a resume on another
folder is refused.
"""

import csv
import functools
import hashlib
import json
import pathlib

import ml_collections
import numpy as np
from absl import logging

from jaxgan.data import folder_cache, pipeline
from jaxgan.data.spec import DataError, DataSpec, cache_root

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def list_images(cfg: ml_collections.ConfigDict) -> tuple[list[pathlib.Path], list[str]]:
    """(image paths in sorted order, subfolder class names or [] when unlabeled); errors if
    there are none."""
    if not cfg.path:
        raise DataError("data.name='image_folder' needs data.path, the folder of images")
    root = pathlib.Path(cfg.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path={cfg.path!r} is not a directory")
    paths = image_files(root)
    if not paths:
        raise DataError(
            f"data.path={cfg.path!r} holds no images (looked for {', '.join(EXTENSIONS)} files, "
            "recursively)"
        )
    parts = [p.relative_to(root).parts for p in paths]
    classes = sorted({q[0] for q in parts}) if all(len(q) > 1 for q in parts) else []
    return paths, classes


def image_files(root: pathlib.Path) -> list[pathlib.Path]:
    """The image files under `root` (recursively, hidden names skipped), sorted."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def file_listing(root: pathlib.Path, paths: list[pathlib.Path]) -> list[tuple]:
    """[(path relative to root, size, mtime_ns)]: what a folder cache is keyed by."""
    listing = []
    for p in paths:
        st = p.stat()
        listing.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return listing


def _listing(cfg) -> tuple[pathlib.Path, list, list[str]]:
    """(root, [(relative path, size, mtime_ns)], subfolder classes)."""
    paths, classes = list_images(cfg)
    root = pathlib.Path(cfg.path).expanduser()
    return root, file_listing(root, paths), classes


def _check(cfg) -> None:
    if cfg.image_size <= 0:
        raise DataError(
            f"data.image_size={cfg.image_size} is not allowed for image_folder: set the square "
            "size to resize pictures to (e.g. 64)"
        )


def open_cache(cfg: ml_collections.ConfigDict) -> folder_cache.Cache:
    """The folder's cache for the config's size, channels and crop, built on first use."""
    _check(cfg)
    root, listing, _ = _listing(cfg)
    return _cache(
        str(root),
        tuple(listing),
        cfg.image_size,
        cfg.channels,
        cfg.crop,
        str(cache_root(cfg) / "folders"),
    )


@functools.lru_cache(maxsize=8)
def _cache(root, listing, size, channels, crop, cache_dir) -> folder_cache.Cache:
    cache = folder_cache.build(
        pathlib.Path(root),
        list(listing),
        pathlib.Path(cache_dir),
        size=size,
        channels=channels,
        crop=crop,
    )
    if not cache.files:
        first = cache.meta["bad"][0]
        raise DataError(
            f"data.path={root!r}: none of its {len(listing)} image files can be read "
            f"(first: {first[0]}: {first[1]})"
        )
    return cache


def read_labels_file(cfg: ml_collections.ConfigDict, files: list[str]) -> dict[str, str]:
    """{relative path: class name} from data.labels_file (relative to data.path or absolute)."""
    path = pathlib.Path(cfg.labels_file).expanduser()
    if not path.is_absolute():
        path = pathlib.Path(cfg.path).expanduser() / path
    if not path.is_file():
        raise DataError(f"data.labels_file={cfg.labels_file!r}: no such file ({path})")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"data.labels_file={cfg.labels_file!r} is not valid JSON: {e}") from e
        if not isinstance(mapping, dict):
            raise DataError(
                f"data.labels_file={cfg.labels_file!r} must hold an object "
                '{"relative/path.png": "class name", ...}'
            )
        rows = list(mapping.items())
    elif path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]
        if any(len(row) != 2 for row in rows):
            bad = next(row for row in rows if len(row) != 2)
            raise DataError(
                f"data.labels_file={cfg.labels_file!r}: every row must be 'path,class', got {bad}"
            )
        known = set(files)
        if rows and rows[0][0].strip().removeprefix("./") not in known:
            rows = rows[1:]  # A header.
    else:
        raise DataError(f"data.labels_file={cfg.labels_file!r} must be a .json or .csv file")
    return {str(k).strip().removeprefix("./"): str(v).strip() for k, v in rows}


SPLITS = ("train", "fit", "heldout")
HELDOUT_BUCKETS = 10  # 'heldout' is the files whose path hashes to bucket 0 of these.


def _in_split(split: str, relative: str) -> bool:
    if split == "train":
        return True
    bucket = int(hashlib.sha256(relative.encode()).hexdigest()[:8], 16) % HELDOUT_BUCKETS
    return (bucket == 0) == (split == "heldout")


def _labels(cfg, cache: folder_cache.Cache) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(indices of the cached images in the split, their labels or None, class names)."""
    keep, labels, classes = _all_labels(cfg, cache)
    if cfg.split not in SPLITS:
        raise DataError(
            f"data.split={cfg.split!r} is not a split of an image folder: use 'train' (every "
            "picture), or 'fit' / 'heldout' (9/10 and 1/10 of them by a hash of the path)"
        )
    chosen = np.array([_in_split(cfg.split, cache.files[i]) for i in keep], bool)
    if not chosen.any():
        raise DataError(f"data.split={cfg.split!r} of data.path={cfg.path!r} holds no pictures")
    return keep[chosen], None if labels is None else labels[chosen], classes


def _all_labels(cfg, cache) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    files = cache.files
    if cfg.labels_file:
        mapping = read_labels_file(cfg, files)
        classes = sorted(set(mapping.values()))
        keep = np.array([i for i, f in enumerate(files) if f in mapping], np.int64)
        _say_unmatched(
            cfg.path, cfg.labels_file, len(files) - len(keep), len(set(mapping) - set(files))
        )
        if not len(keep):
            raise DataError(
                f"data.labels_file={cfg.labels_file!r} names none of the {len(files)} readable "
                f"images of data.path={cfg.path!r} (keys are paths relative to it, e.g. "
                f"{files[0]!r})"
            )
        index = {name: i for i, name in enumerate(classes)}
        return keep, np.array([index[mapping[files[i]]] for i in keep], np.int64), classes
    keep = np.arange(len(files))
    classes = sorted({f.split("/")[0] for f in files}) if all("/" in f for f in files) else []
    if not classes:
        return keep, None, []
    index = {name: i for i, name in enumerate(classes)}
    return keep, np.array([index[f.split("/")[0]] for f in files], np.int64), classes


@functools.lru_cache(maxsize=8)
def _say_unmatched(path, labels_file, unlabeled: int, missing: int) -> None:
    if unlabeled:
        logging.warning(
            "data.labels_file=%r gives no class for %d images of %r: they are left out",
            labels_file,
            unlabeled,
            path,
        )
    if missing:
        logging.warning(
            "data.labels_file=%r names %d files that are not readable images of %r",
            labels_file,
            missing,
            path,
        )


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    cache = open_cache(cfg)
    keep, labels, classes = _labels(cfg, cache)
    shape = (cfg.image_size, cfg.image_size, cache.channels)
    return DataSpec(
        shape, len(classes) or None, len(keep), "image_folder", class_names=tuple(classes)
    )


def fingerprint(cfg: ml_collections.ConfigDict) -> dict:
    """What a checkpoint records of the folder: file count and a digest of paths and sizes."""
    _, listing, _ = _listing(cfg)
    digest = hashlib.sha256()
    for relative, size, _ in listing:
        digest.update(f"{relative}\t{size}\n".encode())
    return {"files": len(listing), "fingerprint": digest.hexdigest()[:16]}


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): slices of the cache; 'random' crops place their window by draws."""
    cache = open_cache(cfg)
    keep, labels, _ = _labels(cfg, cache)
    size = shape[0]

    def read(indices, draws):
        images = np.empty((len(indices), *shape), np.uint8)
        for row, (i, u) in enumerate(zip(keep[indices], draws, strict=True)):
            images[row] = window(cache.image(i), u, size)
        batch = {"image": images}
        if labels is not None:
            batch["label"] = labels[indices]
        return batch

    return len(keep), read


def window(image: np.ndarray, u: float, size: int) -> np.ndarray:
    """The size x size window of a cached picture placed by draw u in [0, 1) along its longer
    side ('random' crops; u = 0.5 centres it, a picture of side `size` is its own window)."""
    height, width = image.shape[:2]
    top = int(u * (height - size + 1)) if height > size else 0
    left = int(u * (width - size + 1)) if width > size else 0
    return image[top : top + size, left : left + size]
