"""Image transforms: square crop, resize, channel conversion (per example) and [-1, 1] scaling
(per batch, vectorised)."""

import numpy as np
from PIL import Image

from jaxgan.data.spec import DataError

# ITU-R 601-2 luma weights, the ones PIL uses for RGB -> L, in parts per thousand.
_LUMA = np.array([299, 587, 114], dtype=np.uint32)


def center_crop(image: np.ndarray) -> np.ndarray:
    """The central square of an [H, W, C] image (side min(H, W))."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def resize(image: np.ndarray, size: int, width: int | None = None) -> np.ndarray:
    """[H, W, C] uint8 -> [size, width or size, C] with PIL bilinear (antialiased when
    shrinking)."""
    height, width = size, size if width is None else width
    if image.shape[:2] == (height, width):
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR))
    return out.reshape(height, width, channels)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """[H, W, C] uint8 with C in {1, 3, 4} -> C = `channels` (1: luma, 3: gray repeated / alpha
    dropped)."""
    have = image.shape[2]
    if have == 4:
        image, have = image[..., :3], 3
    if have == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=2)
    luma = (image.astype(np.uint32) @ _LUMA + 500) // 1000
    return luma.astype(np.uint8)[..., None]


def fit(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Any uint8 image ([H, W] or [H, W, C]) -> [size, size, channels]: crop, resize, convert."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] not in (1, 3, 4):
        raise DataError(f"images with {image.shape[2]} channels are not supported: {image.shape}")
    image = center_crop(image)
    if channels < image.shape[2]:  # Convert first when that shrinks the resize's work.
        return resize(to_channels(image, channels), size)
    return to_channels(resize(image, size), channels)


def fit_all(images: np.ndarray, shape: tuple) -> np.ndarray:
    """uint8 [N, ...] images -> [N, *shape] by `fit` (unchanged when they already have it)."""
    if images.shape[1:] == tuple(shape):
        return images
    return np.stack([fit(image, shape[0], shape[2]) for image in images])


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1] as x / 127.5 - 1 (exact at 0 and 255)."""
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
