"""A folder of the user's own pictures (png, jpg, jpeg, webp, bmp), searched recursively.

Files are listed in sorted order and read by index, so grain shuffles them like any other
dataset. Each image is decoded with PIL, converted to the requested channels (data.channels=0:
gray if the first image is gray, else RGB), center-cropped to a square and resized to
data.image_size (required). Labels: when every image sits inside a first-level subfolder
(`root/cat/1.png`, `root/dog/x/2.jpg`), the label is the index of that subfolder's name in sorted
order; when any image lies directly in the root, there are no labels. Hidden files and folders
(names starting with '.') are skipped. A file that PIL cannot decode raises an error naming it
when it is read.
"""

import pathlib

import ml_collections
import numpy as np
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


def _native_shape(path: pathlib.Path) -> tuple:
    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e
    return (height, width, 1 if mode in _GRAY_MODES else 3)


def _check_size(cfg) -> None:
    if cfg.image_size <= 0:
        raise DataError(
            f"data.image_size={cfg.image_size} is not allowed for image_folder: set the square "
            "size to resize pictures to (e.g. 64)"
        )


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    _check_size(cfg)
    paths, classes = list_images(cfg)
    shape = image_shape(_native_shape(paths[0]), cfg, "image_folder")
    return DataSpec(shape, len(classes) or None, len(paths), "image_folder")


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): each batch's files are decoded, cropped and resized on demand."""
    size, _, channels = shape
    paths, classes = list_images(cfg)
    root = pathlib.Path(cfg.path).expanduser()
    index = {name: i for i, name in enumerate(classes)}

    def load(indices):
        out = []
        for i in indices:
            example = {"image": decode(paths[i], size, channels)}
            if classes:
                example["label"] = index[paths[i].relative_to(root).parts[0]]
            out.append(example)
        return out

    return len(paths), pipeline.fitting_reader(load, shape)
