"""A folder's pictures decoded once: uint8 pixels in one memory-mapped file, read by slicing.

The first run on a folder decodes every file (EXIF orientation honoured; gray, RGBA, palette,
16-bit and CMYK converted; transparency composited onto white), fits it to the training
resolution and writes the pixels back to back into `<cache>/folders/<key>/pixels.u8`, with each
image's offset and (height, width) and the relative paths of the files kept. Later runs open
that file in a few milliseconds; a batch is a few array slices.

Fitting (`data.crop`): 'center' crops the central square and resizes it to image_size; 'pad'
resizes the longer side to image_size and pads the shorter one with black to a square; 'random'
resizes the shorter side to image_size and keeps the longer side (cut to at most MAX_ASPECT times
the shorter, centred), so the reader can take a different square window at every step. Resizing
is PIL's bilinear filter, which widens its support when shrinking (antialiased).

The key hashes every listed file's relative path, size and modification time with the
resolution, channels and crop, so an edited, added or removed file means a new cache. Building
takes a lock (`<key>.lock`): a second process waits and then uses the first one's cache. The
pixels are written into `<key>.partial/`, renamed to `<key>/` only when complete, so a build
killed halfway leaves no cache that looks finished; the next run deletes the partial one and
starts again. Files that cannot be decoded (zero bytes, truncated, not an image) are left out
while building and counted in one warning naming a few.

Side-by-side pairs (`halves=True`, pix2pix's A|B pictures): each file is cut into its left and
right halves, each half fitted as above, and the two stored side by side again ([h, 2w]), so a
reader takes the same window from both; a file of odd width is a bad file. Such files decode at
full size (a JPEG draft could make an even width odd).
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import time

import numpy as np
from absl import logging
from PIL import Image, ImageOps

from jaxgan.data import transforms
from jaxgan.data.spec import DataError, cache_lock

VERSION = 1  # Bump when what a cache holds changes.
MAX_ASPECT = 2.0  # 'random' keeps at most this long a side, relative to the shorter one.
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclasses.dataclass(frozen=True)
class Cache:
    """An opened cache: pixels [total bytes] uint8, offsets [N], shapes [N, 2] (h, w)."""

    path: pathlib.Path
    pixels: np.ndarray
    offsets: np.ndarray
    shapes: np.ndarray
    channels: int
    files: list  # Relative paths (posix) of the N images, in the cache's order.
    meta: dict

    def image(self, i: int) -> np.ndarray:
        """[h, w, channels] view of image i."""
        height, width = (int(v) for v in self.shapes[i])
        start = int(self.offsets[i])
        return self.pixels[start : start + height * width * self.channels].reshape(
            height, width, self.channels
        )


def load_pixels(path: pathlib.Path, channels: int, draft: int = 0) -> np.ndarray:
    """uint8 [H, W, channels] of an image file, EXIF-rotated; raises DataError if unreadable.
    draft > 0: a JPEG decodes at the smallest scale whose sides are at least `draft`."""
    try:
        with Image.open(path) as image:
            if draft and image.format == "JPEG":
                image.draft("L" if channels == 1 else "RGB", (draft, draft))
            image = ImageOps.exif_transpose(image)
            return _to_array(image, channels)
    except Exception as e:  # noqa: BLE001 - any decoding failure makes it a bad file.
        raise DataError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e


def _to_array(image: Image.Image, channels: int) -> np.ndarray:
    mode = "L" if channels == 1 else "RGB"
    if image.mode in _SIXTEEN_BIT:  # 16-bit gray: scale 0..65535 to 0..255 (PIL would clip).
        wide = np.asarray(image).astype(np.int64)
        gray = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        image = Image.fromarray(gray)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    array = np.asarray(image.convert(mode))
    return array[..., None] if array.ndim == 2 else array


def fit(image: np.ndarray, size: int, crop: str) -> np.ndarray:
    """[H, W, C] uint8 -> the stored picture for `crop` (see module doc)."""
    height, width, channels = image.shape
    short, long = min(height, width), max(height, width)
    if crop == "center":
        return transforms.resize(transforms.center_crop(image), size)
    if crop == "pad":
        scale = size / long
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        out = np.zeros((size, size, channels), np.uint8)
        top, left = (size - h) // 2, (size - w) // 2
        out[top : top + h, left : left + w] = transforms.resize(image, h, w)
        return out
    keep = min(long, int(short * MAX_ASPECT))  # 'random': cut an extreme aspect, centred.
    if height > width:
        top = (height - keep) // 2
        image = image[top : top + keep]
    else:
        left = (width - keep) // 2
        image = image[:, left : left + keep]
    scale = size / short
    h, w = image.shape[:2]
    return transforms.resize(image, max(size, round(h * scale)), max(size, round(w * scale)))


def _prepare(path: pathlib.Path, size: int, channels: int, crop: str, halves: bool = False):
    """The fitted picture of one file (halves: its two halves fitted, side by side), or the
    reason it cannot be read."""
    try:  # 'pad' fits the longer side to size: the shorter may need more than a draft gives.
        array = load_pixels(path, channels, draft=0 if crop == "pad" or halves else size)
    except DataError as e:
        return f"{type(e.__cause__).__name__}: {e.__cause__}"
    if not halves:
        return fit(array, size, crop)
    width = array.shape[1]
    if width % 2:
        return f"odd width: {width} pixels do not split into A|B halves"
    half = width // 2
    return np.concatenate([fit(array[:, :half], size, crop), fit(array[:, half:], size, crop)], 1)


_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def majority_channels(root: pathlib.Path, listing: list) -> int:
    """1 if most readable files are gray, else 3 (a tie is RGB); read from the headers only.
    Says in one line how many files a mixed folder converts."""
    gray = rgb = 0
    for relative, _, _ in listing:
        try:
            with Image.open(root / relative) as image:
                mode = image.mode
        except Exception:  # noqa: BLE001, S112 - bad files are counted by the build.
            continue
        gray, rgb = (gray + 1, rgb) if mode in _GRAY_MODES else (gray, rgb + 1)
    channels = 1 if gray > rgb else 3
    if gray and rgb:
        logging.warning(
            "data.path=%r holds %d gray and %d colour images: training on %s (%d converted); "
            "set data.channels=1 or 3 to choose",
            str(root),
            gray,
            rgb,
            "gray" if channels == 1 else "RGB",
            min(gray, rgb),
        )
    return channels


def key(listing: list, size: int, channels: int, crop: str, halves: bool = False) -> str:
    """The cache's name: a digest of the file list (relative path, size, mtime) and the fit."""
    fitting = f"v{VERSION} {size} {channels} {crop}" + (" halves" if halves else "")
    digest = hashlib.sha256(f"{fitting}\n".encode())
    for relative, nbytes, mtime in listing:
        digest.update(f"{relative}\t{nbytes}\t{mtime}\n".encode())
    return digest.hexdigest()[:20]


def open_cache(path: pathlib.Path) -> Cache | None:
    """The complete cache at `path`, or None if there is none."""
    meta_path = path / "meta.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    index = np.load(path / "index.npy")
    total = int(meta["pixel_bytes"])
    pixels = (
        np.memmap(path / "pixels.u8", np.uint8, "r", shape=(total,))
        if total
        else np.zeros(0, np.uint8)
    )
    return Cache(path, pixels, index[:, 0], index[:, 1:3], meta["channels"], meta["files"], meta)


def build(
    root: pathlib.Path,
    listing: list,
    cache_dir: pathlib.Path,
    *,
    size: int,
    channels: int,
    crop: str,
    threads: int = 0,
    halves: bool = False,
) -> Cache:
    """The cache of `listing` ([(relative path, size, mtime_ns)] under root), built if missing;
    halves: of side-by-side A|B pictures (see module doc)."""
    name = key(listing, size, channels, crop, halves)
    final = cache_dir / name
    found = open_cache(final)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    with cache_lock(cache_dir / f"{name}.lock"):
        found = open_cache(final)  # Another process may have built it while we waited.
        if found is not None:
            return found
        partial = cache_dir / f"{name}.partial"
        if partial.exists():
            logging.warning(
                "removing the unfinished folder cache %s (a build was cut short)", partial
            )
            shutil.rmtree(partial)
        partial.mkdir()
        channels = channels or majority_channels(root, listing)
        _write(
            root,
            listing,
            partial,
            size=size,
            channels=channels,
            crop=crop,
            threads=threads,
            halves=halves,
        )
        os.replace(partial, final)
    return open_cache(final)


def _write(root, listing, out: pathlib.Path, *, size, channels, crop, threads, halves) -> None:
    from tqdm import tqdm

    began = time.perf_counter()
    offsets, shapes, files, bad = [], [], [], []
    offset = 0
    work = lambda entry: _prepare(root / entry[0], size, channels, crop, halves)
    workers = threads or min(8, (os.cpu_count() or 1) + 2)
    with (
        open(out / "pixels.u8", "wb") as sink,
        concurrent.futures.ThreadPoolExecutor(workers) as pool,
        tqdm(total=len(listing), unit="img", desc=f"decoding {root.name}", mininterval=1) as bar,
    ):
        for entry, result in zip(listing, pool.map(work, listing), strict=True):
            bar.update()
            if isinstance(result, str):
                bad.append((entry[0], result))
                continue
            sink.write(result.tobytes())
            offsets.append(offset)
            shapes.append(result.shape[:2])
            files.append(entry[0])
            offset += result.size
        sink.flush()
        os.fsync(sink.fileno())
    index = np.zeros((len(files), 3), np.int64)
    if files:
        index[:, 0], index[:, 1:3] = offsets, shapes
    np.save(out / "index.npy", index)
    if bad:
        shown = ", ".join(f"{name} ({why.split(':')[0]})" for name, why in bad[:5])
        logging.warning(
            "data.path=%r: %d of %d files cannot be read and are left out: %s%s",
            str(root),
            len(bad),
            len(listing),
            shown,
            " ..." if len(bad) > 5 else "",
        )
    meta = {
        "version": VERSION,
        "source": str(root),
        "size": size,
        "channels": channels,
        "crop": crop,
        "halves": halves,
        "files": files,
        "bad": bad,
        "pixel_bytes": offset,
        "raw_pixel_bytes": len(files) * size * size * channels,
        "source_bytes": sum(entry[1] for entry in listing),
        "build_seconds": round(time.perf_counter() - began, 3),
    }
    with open(out / "meta.json", "w") as f:  # Last: its presence marks a complete cache.
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
