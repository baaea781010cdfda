"""A folder of the user's own pictures (png, jpg, jpeg, webp, bmp), searched recursively.

Files are listed in sorted order and read by index, so grain shuffles them like any other
dataset. Each image is decoded with PIL, converted to the requested channels, center-cropped to
a square and resized to data.image_size (required). data.channels=0 reads every file's header
first and takes the majority (RGB on a tie), saying in one line how many files are converted.
Labels: when every image sits inside a first-level subfolder (`root/cat/1.png`,
`root/dog/x/2.jpg`), the label is the index of that subfolder's name in sorted order; when any
image lies directly in the root, there are no labels. Hidden files and folders (names starting
with '.') are skipped.

Bad files never stop a run: files whose header cannot be read are left out at start-up (listed
in one warning), and a file that fails to decode later is replaced by the next readable file in
sorted order (the same replacement on every run, so resumes stay exact), with a warning naming it
and the count so far. The data's identity (file count and a fingerprint of the relative paths and
sizes) is checkpointed, so a resume on another folder is refused.
"""

import collections
import functools
import hashlib
import pathlib
import threading

import ml_collections
import numpy as np
from absl import logging
from PIL import Image

from jaxgan.data import pipeline
from jaxgan.data.spec import DataError, DataSpec, image_shape

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def list_images(cfg: ml_collections.ConfigDict) -> tuple[list[pathlib.Path], list[str]]:
    """(image paths in sorted order, class names or [] when unlabeled); errors if none."""
    if not cfg.path:
        raise DataError("data.name='image_folder' needs data.path, the folder of images")
    root = pathlib.Path(cfg.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path={cfg.path!r} is not a directory")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not paths:
        raise DataError(
            f"data.path={cfg.path!r} holds no images (looked for {', '.join(EXTENSIONS)} files, "
            "recursively)"
        )
    parts = [p.relative_to(root).parts for p in paths]
    classes = sorted({q[0] for q in parts}) if all(len(q) > 1 for q in parts) else []
    return paths, classes


MAX_CONSECUTIVE_BAD = 64  # Unreadable files in a row before the folder itself is suspect.


class _BadFiles:
    """The files that failed to decode in this process, each reported once."""

    def __init__(self):
        self.seen, self.lock = set(), threading.Lock()

    def report(self, path: pathlib.Path, error: Exception) -> None:
        with self.lock:
            if path in self.seen:
                return
            self.seen.add(path)
            count = len(self.seen)
        logging.warning(
            "skipping unreadable image %s (%s); replaced by the next readable file "
            "(%d bad files so far)",
            path,
            error.__cause__ or error,
            count,
        )


BAD_FILES = _BadFiles()


def decode(path: pathlib.Path, size: int, channels: int) -> np.ndarray:
    """uint8 [H, W, channels] at native size (JPEGs decode at the smallest scale covering size)."""
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft(mode, (size, size))
            return np.asarray(image.convert(mode))
    except Exception as e:  # noqa: BLE001 - any decoding failure is a bad file.
        raise DataError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e


def _header(path: pathlib.Path) -> tuple | str:
    """(height, width, channels) from the file's header, or why it cannot be read."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    except Exception as e:  # noqa: BLE001 - any failure makes it a bad file.
        return f"{type(e).__name__}"
    return (height, width, 1 if mode in _GRAY_MODES else 3)


Survey = collections.namedtuple("Survey", "paths channels gray rgb bad fingerprint")


@functools.lru_cache(maxsize=8)
def _survey(root: str, listing: tuple) -> Survey:
    """Every file's header: the readable paths, their majority channels, the bad files, and a
    fingerprint of (relative path, size) of all listed files. Cached per listing."""
    paths = [pathlib.Path(p) for p, _ in listing]
    headers = [_header(p) for p in paths]
    good = [p for p, h in zip(paths, headers, strict=True) if not isinstance(h, str)]
    bad = [(p, h) for p, h in zip(paths, headers, strict=True) if isinstance(h, str)]
    gray = sum(1 for h in headers if not isinstance(h, str) and h[2] == 1)
    rgb = len(good) - gray
    digest = hashlib.sha256()
    for p, size in listing:
        digest.update(f"{pathlib.Path(p).relative_to(root)}\t{size}\n".encode())
    if bad:
        shown = ", ".join(f"{p.relative_to(root)} ({why})" for p, why in bad[:5])
        logging.warning(
            "data.path=%r: %d of %d files cannot be read and are left out: %s%s",
            root,
            len(bad),
            len(paths),
            shown,
            " ..." if len(bad) > 5 else "",
        )
    return Survey(good, 1 if gray > rgb else 3, gray, rgb, bad, digest.hexdigest()[:16])


def survey(cfg: ml_collections.ConfigDict) -> tuple[Survey, list[str]]:
    """(the folder's survey, class names or [])."""
    paths, classes = list_images(cfg)
    root = pathlib.Path(cfg.path).expanduser()
    listing = tuple((str(p), p.stat().st_size) for p in paths)
    result = _survey(str(root), listing)
    if not result.paths:
        raise DataError(
            f"data.path={cfg.path!r}: none of its {len(paths)} image files can be read "
            f"(first: {result.bad[0][0]}: {result.bad[0][1]})"
        )
    if cfg.channels == 0 and result.gray and result.rgb:
        _say_mixed(cfg.path, result.gray, result.rgb)
    return result, classes


@functools.lru_cache(maxsize=8)
def _say_mixed(path: str, gray: int, rgb: int) -> None:
    """Once per folder: which channels a mix of gray and colour files trains on."""
    logging.warning(
        "data.path=%r holds %d gray and %d colour images: training on %s (%d converted); "
        "set data.channels=1 or 3 to choose",
        path,
        gray,
        rgb,
        "gray" if gray > rgb else "RGB",
        min(gray, rgb),
    )


def _check_size(cfg) -> None:
    if cfg.image_size <= 0:
        raise DataError(
            f"data.image_size={cfg.image_size} is not allowed for image_folder: set the square "
            "size to resize pictures to (e.g. 64)"
        )


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    _check_size(cfg)
    found, classes = survey(cfg)
    shape = image_shape((None, None, found.channels), cfg, "image_folder")
    return DataSpec(shape, len(classes) or None, len(found.paths), "image_folder")


def fingerprint(cfg: ml_collections.ConfigDict) -> dict:
    """What a checkpoint records of the folder: file count and a digest of paths and sizes."""
    found, _ = survey(cfg)
    return {"files": len(found.paths) + len(found.bad), "fingerprint": found.fingerprint}


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): each batch's files are decoded, cropped and resized on demand."""
    size, _, channels = shape
    found, classes = survey(cfg)
    paths = found.paths
    root = pathlib.Path(cfg.path).expanduser()
    index = {name: i for i, name in enumerate(classes)}

    def example(i: int) -> dict:
        for skipped in range(MAX_CONSECUTIVE_BAD):
            path = paths[(i + skipped) % len(paths)]
            try:
                image = decode(path, size, channels)
            except DataError as e:
                BAD_FILES.report(path, e)
                continue
            if classes:
                return {"image": image, "label": index[path.relative_to(root).parts[0]]}
            return {"image": image}
        raise DataError(
            f"{MAX_CONSECUTIVE_BAD} image files in a row from {paths[i]} cannot be read: is "
            f"data.path={cfg.path!r} still there?"
        )

    return len(paths), pipeline.fitting_reader(lambda indices: [example(i) for i in indices], shape)
