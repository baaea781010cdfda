"""Pictures of samples: image grids and 2-D scatter plots as uint8 arrays and PNG files."""

import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8 [0, 255]."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """NHWC images in [-1, 1] -> one HxWx3 uint8 picture, `columns` per row (default square)."""
    images = to_uint8(images)
    if images.ndim != 4:
        raise ValueError(f"grid needs NHWC images, got shape {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y : y + h, x : x + w] = image
    return out


def scatter(
    points: np.ndarray,
    reference: np.ndarray | None = None,
    size: int = 512,
    extent: float | None = None,
) -> np.ndarray:
    """2-D points (blue) over optional reference points such as mixture means (red), uint8 RGB."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"scatter needs [N, 2] points, got shape {points.shape}")
    both = points if reference is None else np.concatenate([points, reference])
    finite = both[np.all(np.isfinite(both), axis=1)]
    extent = extent or (1.2 * float(np.max(np.abs(finite))) if len(finite) else 1.0)
    picture = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(picture)
    to_px = lambda p: ((p[0] / extent + 1) * size / 2, (1 - p[1] / extent) * size / 2)
    draw.line([(0, size / 2), (size, size / 2)], fill=(220, 220, 220))
    draw.line([(size / 2, 0), (size / 2, size)], fill=(220, 220, 220))
    for p in points[np.all(np.isfinite(points), axis=1)]:
        x, y = to_px(p)
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(30, 90, 200))
    for p in [] if reference is None else reference:
        x, y = to_px(p)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(220, 30, 30), width=2)
    return np.asarray(picture)


def picture(samples: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """A grid for images, a scatter plot for 2-D points."""
    return scatter(samples, reference) if samples.ndim == 2 else grid(samples)


def save_png(array: np.ndarray, path) -> None:
    """Writes atomically: a reader never sees a half-written file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".png.tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    tmp.replace(path)
