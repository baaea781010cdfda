"""The user's own folders for the translating recipes, in the layouts of the reference code
(junyanz/pytorch-CycleGAN-and-pix2pix): domain A is the `source` field, domain B the target `x`.

paired_folder (pix2pix), data.path holding either
  train/ (and test/, or val/ when there is no test/): side-by-side A|B pictures, A the left half
      and B the right (the reference's 'aligned' datasets: facades, maps, edges2shoes); a picture
      of odd width does not split and is a bad file; or
  trainA/ + trainB/ (and testA/ + testB/): pairs matched by relative file name without its
      extension (`trainA/x/1.png` with `trainB/x/1.jpg`); a name without a partner is an error
      at start-up naming a few.
unpaired_folder (CycleGAN): trainA/ + trainB/ (and testA/ + testB/), of any counts. A split has
  max(|A|, |B|) examples (as the reference's unaligned dataset): example i is a picture of B
  beside one of A, by a fixed shuffle (`spread`, digits_unpaired's rule) that uses every picture
  of the larger domain once and every one of the smaller equally often. No loss reads which A
  sits beside which B, and the pipeline reshuffles the examples every epoch.

data.split is 'train' or 'test'. Every folder is decoded once into its own folder cache
(folder_cache: resolution data.image_size, data.crop, bad files left out and counted in one
warning); side-by-side pictures are cut into their halves before fitting. data.channels=0 takes
each domain's majority of its training pictures (a side-by-side folder: of the whole pictures),
so A and B may differ, and the test split converts to the training split's choice.

Crops 'random': a paired example takes the same window from A and B (the same pixels when the two
pictures have the same shape, as aligned pairs do; else the same relative place); an unpaired
example's A and B windows are drawn independently. data.flip and data.translate move every image
field of an example alike (pipeline.augment), which keeps pairs aligned.

The data's identity (checkpointed, compared on resume) is the file count and a digest of the
relative paths and sizes of the split's folders.
"""

import functools
import hashlib
import os
import pathlib
import shutil
import tempfile
from typing import NamedTuple

import ml_collections
import numpy as np
from absl import logging

from jaxgan.data import folder_cache, image_folder, pipeline
from jaxgan.data.spec import DataError, DataSpec, cache_root

NAMES = ("paired_folder", "unpaired_folder")
SPLITS = ("train", "test")
SHOWN = 5  # Unmatched names an error shows per side.
PAIRING_SEED = 0xA2B  # digits_unpaired's: the fixed shuffle of the smaller domain.
WINDOW_MIX = 7919.0  # An unpaired A window's draw: frac(u * WINDOW_MIX), apart from B's u.
RECIPE = {"paired_folder": "pix2pix", "unpaired_folder": "cyclegan"}


class Examples(NamedTuple):
    """A split's pictures: the caches of A and B (one cache of side-by-side pictures when
    `halves`) and each example's row in them."""

    a: folder_cache.Cache
    b: folder_cache.Cache
    a_rows: np.ndarray
    b_rows: np.ndarray
    halves: bool


def _expected(name: str) -> str:
    if name == "paired_folder":
        return "train/ (side-by-side A|B pictures) or trainA/ and trainB/ (pairs by file name)"
    return "trainA/ and trainB/ (the pictures of domains A and B)"


def _root(cfg: ml_collections.ConfigDict) -> pathlib.Path:
    if not cfg.path:
        raise DataError(
            f"data.name={cfg.name!r} needs data.path, a folder holding {_expected(cfg.name)}"
        )
    root = pathlib.Path(cfg.path).expanduser()
    if not root.exists():
        raise DataError(f"data.path={cfg.path!r} does not exist")
    if not root.is_dir():
        raise DataError(f"data.path={cfg.path!r} is not a directory")
    return root


def _check(cfg: ml_collections.ConfigDict) -> None:
    if cfg.image_size <= 0:
        raise DataError(
            f"data.image_size={cfg.image_size} is not allowed for {cfg.name}: set the square "
            "training size (e.g. 256)"
        )
    if cfg.split not in SPLITS:
        raise DataError(
            f"data.split={cfg.split!r} is not a split of {cfg.name}: use 'train' or 'test'"
        )


def folders(cfg: ml_collections.ConfigDict, root: pathlib.Path) -> tuple[str, str | None]:
    """The split's folder names under root: (A's, B's), or (the side-by-side folder, None)."""
    if cfg.name == "paired_folder" and _side_by_side(cfg, root):
        if cfg.split == "train":
            return "train", None
        held_out = [name for name in ("test", "val") if (root / name).is_dir()]
        if not held_out:
            raise _no_test(cfg, "test/ or val/ (held-out side-by-side pictures)")
        return held_out[0], None
    for domain in ("A", "B"):
        if not (root / f"train{domain}").is_dir():
            raise DataError(
                f"data.path={cfg.path!r} has no train{domain}/ folder: {cfg.name} reads "
                f"{_expected(cfg.name)}"
            )
        if cfg.split == "test" and not (root / f"test{domain}").is_dir():
            raise _no_test(cfg, f"test{domain}/ (domain {domain}'s held-out pictures)")
    return f"{cfg.split}A", f"{cfg.split}B"


def _side_by_side(cfg: ml_collections.ConfigDict, root: pathlib.Path) -> bool:
    """Whether a paired folder holds train/ (side-by-side pictures) rather than trainA/ and
    trainB/; neither or both is an error."""
    by_name = (root / "trainA").is_dir() or (root / "trainB").is_dir()
    side_by_side = (root / "train").is_dir()
    if by_name and side_by_side:
        raise DataError(
            f"data.path={cfg.path!r} holds both train/ (side-by-side pictures) and trainA/ or "
            "trainB/ (pairs by name): keep one layout"
        )
    if not (by_name or side_by_side):
        raise DataError(
            f"data.path={cfg.path!r} holds no train/ or trainA/ folder: paired_folder reads "
            f"{_expected(cfg.name)}"
        )
    return side_by_side


def _no_test(cfg, what: str) -> DataError:
    return DataError(
        f"data.split='test': data.path={cfg.path!r} has no {what}; add it, or evaluate on the "
        f"training pictures with {RECIPE[cfg.name]}.eval_split='train'"
    )


def _listing(root: pathlib.Path, folder: str) -> list:
    """[(path relative to root/folder, size, mtime_ns)] of the folder's images; none: an error."""
    paths = image_folder.image_files(root / folder)
    if not paths:
        raise DataError(
            f"data.path={str(root)!r}: {folder}/ holds no images (looked for "
            f"{', '.join(image_folder.EXTENSIONS)} files, recursively)"
        )
    return image_folder.file_listing(root / folder, paths)


def stem(relative: str) -> str:
    """A picture's name for pairing: its relative path without the extension."""
    return pathlib.PurePosixPath(relative).with_suffix("").as_posix()


def _stems(root: pathlib.Path, folder: str, listing: list) -> set[str]:
    """The pairing names of a folder's pictures; two pictures of one name are an error."""
    seen = {}
    for relative, *_ in listing:
        name = stem(relative)
        if name in seen:
            raise DataError(
                f"data.path={str(root)!r}: {folder}/ holds {seen[name]} and {relative}, one "
                "name: pairs are matched by file name without extension, keep one"
            )
        seen[name] = relative
    return set(seen)


def _few(names: list) -> str:
    return ", ".join(names[:SHOWN]) + (" ..." if len(names) > SHOWN else "") if names else "none"


def check_names(root: pathlib.Path, folder_a: str, folder_b: str, a: set, b: set) -> None:
    """DataError naming the counts and the first few names of each side without a partner."""
    only_a, only_b = sorted(a - b), sorted(b - a)
    if only_a or only_b:
        raise DataError(
            f"data.path={str(root)!r}: {len(only_a)} pictures of {folder_a}/ and {len(only_b)} "
            f"of {folder_b}/ have no partner of the same name (without extension) in the other "
            f"folder: {folder_a}/ only: {_few(only_a)}; {folder_b}/ only: {_few(only_b)}"
        )


@functools.lru_cache(maxsize=16)
def _cache(root, folder, listing, size, channels, crop, cache_dir, halves) -> folder_cache.Cache:
    cache = folder_cache.build(
        pathlib.Path(root) / folder,
        list(listing),
        pathlib.Path(cache_dir),
        size=size,
        channels=channels,
        crop=crop,
        halves=halves,
    )
    if not cache.files:
        first = cache.meta["bad"][0]
        raise DataError(
            f"data.path={root!r}: none of the {len(listing)} image files of {folder}/ can be "
            f"read (first: {first[0]}: {first[1]})"
        )
    return cache


def spread(num: int, count: int) -> np.ndarray:
    """[num] rows of a domain of `count` <= num pictures: each once when count == num, else a
    fixed shuffle of them repeated to num and shuffled, so each is used equally often (+-1)."""
    if count == num:
        return np.arange(num)
    rng = np.random.default_rng(PAIRING_SEED)
    return rng.permutation(np.resize(rng.permutation(count), num))


def _pair_rows(root, folder_a, folder_b, a, b, crop) -> tuple[np.ndarray, np.ndarray]:
    """Rows of A and B of every name that both caches hold, sorted by name."""
    rows_a = {stem(f): i for i, f in enumerate(a.files)}
    rows_b = {stem(f): i for i, f in enumerate(b.files)}
    names = sorted(rows_a.keys() & rows_b.keys())
    if not names:
        raise DataError(
            f"data.path={root!r}: no pair of {folder_a}/ and {folder_b}/ has both pictures readable"
        )
    a_rows = np.array([rows_a[n] for n in names], np.int64)
    b_rows = np.array([rows_b[n] for n in names], np.int64)
    unequal = int((a.shapes[a_rows] != b.shapes[b_rows]).any(axis=1).sum())
    _say_pairs(
        root, folder_a, folder_b, len(rows_a) + len(a.meta["bad"]) - len(names), unequal, crop
    )
    return a_rows, b_rows


@functools.lru_cache(maxsize=16)
def _say_pairs(root, folder_a, folder_b, dropped: int, unequal: int, crop: str) -> None:
    if dropped:
        logging.warning(
            "data.path=%r: %d pairs of %s/ and %s/ are left out: one of their pictures cannot be "
            "read",
            root,
            dropped,
            folder_a,
            folder_b,
        )
    if unequal and crop == "random":
        logging.warning(
            "data.path=%r: %d pairs have A and B of different shapes: data.crop='random' takes "
            "their windows at the same relative place, which is not pixel-aligned",
            root,
            unequal,
        )


def examples(cfg: ml_collections.ConfigDict) -> Examples:
    """The split's caches (built on first use) and rows; DataError for any unusable input."""
    _check(cfg)
    root = _root(cfg)
    folder_a, folder_b = folders(cfg, root)
    channels_a = channels_b = cfg.channels
    if not cfg.channels and cfg.split != "train":  # The training split's choice: one shape.
        train = examples(_with_split(cfg, "train"))
        channels_a, channels_b = train.a.channels, train.b.channels
    listing_a = _listing(root, folder_a)
    if folder_b is None:
        cache = _open(cfg, root, folder_a, listing_a, channels_a, halves=True)
        rows = np.arange(len(cache.files))
        return Examples(cache, cache, rows, rows, True)
    listing_b = _listing(root, folder_b)
    paired = cfg.name == "paired_folder"
    if paired:  # Before any decoding: a mismatch stops the run at once.
        names_a, names_b = _stems(root, folder_a, listing_a), _stems(root, folder_b, listing_b)
        check_names(root, folder_a, folder_b, names_a, names_b)
    a = _open(cfg, root, folder_a, listing_a, channels_a)
    b = _open(cfg, root, folder_b, listing_b, channels_b)
    if paired:
        a_rows, b_rows = _pair_rows(str(root), folder_a, folder_b, a, b, cfg.crop)
    else:
        num = max(len(a.files), len(b.files))
        a_rows, b_rows = spread(num, len(a.files)), spread(num, len(b.files))
    return Examples(a, b, a_rows, b_rows, False)


def _open(cfg, root, folder, listing, channels, halves=False) -> folder_cache.Cache:
    cache_dir = str(cache_root(cfg) / "folders")
    return _cache(
        str(root), folder, tuple(listing), cfg.image_size, channels, cfg.crop, cache_dir, halves
    )


def _with_split(cfg: ml_collections.ConfigDict, split: str) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(cfg.to_dict())
    cfg.split = split
    return cfg


def pictures(found: Examples, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Example i's cached (A, B) pictures: views, larger than the training size for 'random'."""
    a = found.a.image(found.a_rows[i])
    if found.halves:
        half = a.shape[1] // 2
        return a[:, :half], a[:, half:]
    return a, found.b.image(found.b_rows[i])


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    found = examples(cfg)
    size = cfg.image_size
    source = (size, size, found.a.channels)
    return DataSpec(
        (size, size, found.b.channels),
        None,
        len(found.b_rows),
        cfg.name,
        extra=(("source", source),),
    )


def fingerprint(cfg: ml_collections.ConfigDict) -> dict:
    """What a checkpoint records of the split's folders: file count and a digest of the paths
    (relative to data.path) and sizes."""
    _check(cfg)
    root = _root(cfg)
    digest, count = hashlib.sha256(), 0
    for folder in filter(None, folders(cfg, root)):
        for relative, size, _ in _listing(root, folder):
            digest.update(f"{folder}/{relative}\t{size}\n".encode())
            count += 1
    return {"files": count, "fingerprint": digest.hexdigest()[:16]}


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): windows of the cached pictures, placed by the crop draws (see the
    module doc for how A's window follows B's)."""
    found = examples(cfg)
    size = shape[0]
    source_shape = (size, size, found.a.channels)
    paired = cfg.name == "paired_folder"

    def read(indices, draws):
        batch = {
            "image": np.empty((len(indices), *shape), np.uint8),
            "source": np.empty((len(indices), *source_shape), np.uint8),
        }
        for row, (i, u) in enumerate(zip(indices, draws, strict=True)):
            a, b = pictures(found, i)
            batch["source"][row] = image_folder.window(a, u if paired else u * WINDOW_MIX % 1, size)
            batch["image"][row] = image_folder.window(b, u, size)
        return batch

    return len(found.b_rows), read


# ------------------------------------------------------------------------ a folder to try


EXAMPLE_SIDE = 32  # Side of the example folders' pictures (each half, for side-by-side ones).


def _crops(file: str, count: int, skip: int = 0) -> list[np.ndarray]:
    """`count` square crops (row-major, after the first `skip`) of a scikit-image photo shrunk
    to 4 crops across its shorter side."""
    import skimage

    from jaxgan.data import transforms

    photo = folder_cache.load_pixels(pathlib.Path(skimage.data_dir) / file, 3)
    scale = 4 * EXAMPLE_SIDE / min(photo.shape[:2])
    height, width = round(photo.shape[0] * scale), round(photo.shape[1] * scale)
    photo = transforms.resize(photo, height, width)
    s = EXAMPLE_SIDE
    tiles = [
        photo[top : top + s, left : left + s]
        for top in range(0, height - s + 1, s)
        for left in range(0, width - s + 1, s)
    ]
    return tiles[skip : skip + count]


def _write_example(name: str, out: pathlib.Path) -> None:
    from PIL import Image

    save = lambda array, path: (path.parent.mkdir(exist_ok=True), Image.fromarray(array).save(path))
    if name == "paired_folder":  # Colourisation: A a gray copy of the colour crop B.
        for split, photo, count in (("train", "astronaut.png", 12), ("test", "coffee.png", 4)):
            for i, crop in enumerate(_crops(photo, count)):
                gray = np.repeat(crop.mean(2, keepdims=True).astype(np.uint8), 3, 2)
                save(np.concatenate([gray, crop], 1), out / split / f"{i:03d}.png")
        return
    domains = {"A": ("astronaut.png", 10, 4), "B": ("chelsea.png", 12, 5)}
    for domain, (photo, train, test) in domains.items():
        for i, crop in enumerate(_crops(photo, train + test)):
            split = "train" if i < train else "test"
            save(crop, out / f"{split}{domain}" / f"{i:03d}.png")


def example_folder(name: str) -> str:
    """A small folder in `name`'s layout made from scikit-image's bundled photos, written once
    under <cache>/examples/ (for the experiments' ':smoke' variants, and to try a run):
    paired_folder: train/ (12) and test/ (4) side-by-side pictures, A a gray copy of the colour
    B; unpaired_folder: trainA/ (10) and testA/ (4) crops of the astronaut photo, trainB/ (12)
    and testB/ (5) of the cat."""
    if name not in NAMES:
        raise DataError(f"example_folder: {name!r} is not one of {', '.join(NAMES)}")
    parent = cache_root(ml_collections.ConfigDict({"cache_dir": ""})) / "examples"
    out = parent / f"{name}-v1"
    if not out.is_dir():
        parent.mkdir(parents=True, exist_ok=True)
        partial = pathlib.Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}-"))
        _write_example(name, partial)
        try:
            os.replace(partial, out)
        except OSError:  # Another process wrote it first.
            shutil.rmtree(partial)
    return str(out)
