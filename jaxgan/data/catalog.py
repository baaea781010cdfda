"""TFDS catalog datasets (mnist, fashion_mnist, cifar10, celeb_a, ...) read without TensorFlow.

`tfds.data_source` reads datasets already prepared as array_record under the TFDS data dir
(data.tfds_data_dir, '' = TFDS's default, $TFDS_DATA_DIR or ~/tensorflow_datasets). Preparing
one from its raw download is where TensorFlow is needed, once:
`tfds build NAME --file_format=array_record --data_dir=DIR`. Image features decode with PIL.

The image is the `image` feature (else the only 3-D Image/Tensor feature); the label is the
supervised label or a `label` feature when it is a ClassLabel, otherwise there is none (celeb_a).
"""

import ml_collections
import tensorflow_datasets as tfds

from jaxgan.data import pipeline
from jaxgan.data.spec import DataError, DataSpec, image_shape

_IMAGE_FEATURES = (tfds.features.Image, tfds.features.Tensor)


def catalog_names() -> list[str]:
    return list(tfds.list_builders(with_community_datasets=False))


def builder(cfg: ml_collections.ConfigDict):
    """The catalog builder for data.name, or None when TFDS has no such dataset."""
    try:
        return tfds.builder(cfg.name, data_dir=cfg.tfds_data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
        return None


def _keys(info, name: str) -> tuple[str, str | None]:
    features = info.features
    candidates = [
        k for k, f in features.items() if isinstance(f, _IMAGE_FEATURES) and len(f.shape) in (2, 3)
    ]
    image_key = (
        "image" if "image" in candidates else (candidates[0] if len(candidates) == 1 else None)
    )
    if image_key is None:
        raise DataError(
            f"TFDS dataset {name!r} has no single image feature (features: {', '.join(features)}): "
            "jaxgan reads image datasets"
        )
    supervised = info.supervised_keys[1] if info.supervised_keys else None
    label_key = next(
        (
            k
            for k in (supervised, "label")
            if isinstance(k, str)
            and k in features
            and isinstance(features[k], tfds.features.ClassLabel)
        ),
        None,
    )
    return image_key, label_key


def describe(cfg: ml_collections.ConfigDict, b=None) -> DataSpec:
    """From the builder's static info; num_examples only when the split is prepared."""
    b = b or builder(cfg)
    image_key, label_key = _keys(b.info, cfg.name)
    shape = image_shape(tuple(b.info.features[image_key].shape), cfg, cfg.name)
    num_classes = b.info.features[label_key].num_classes if label_key else None
    num_examples = None
    if b.is_prepared():
        num_examples = _split_info(b, cfg).num_examples
    return DataSpec(shape, num_classes, num_examples, cfg.name)


def _split_info(b, cfg):
    try:
        return b.info.splits[cfg.split]
    except (KeyError, ValueError) as e:
        raise DataError(
            f"data.split={cfg.split!r} is not a split of TFDS dataset {cfg.name!r}: use one of "
            f"{', '.join(b.info.splits)} (TFDS slicing such as 'train[:90%]' works too)"
        ) from e


def _check_prepared(b, cfg) -> None:
    root = b.data_dir_root
    if not b.is_prepared():
        raise DataError(
            f"TFDS dataset {cfg.name!r} is not prepared under {root} (looked for {b.data_path}): "
            f"prepare it once with `tfds build {cfg.name} --file_format=array_record "
            f"--data_dir={root}` (needs TensorFlow: pip install tensorflow), or point "
            "data.tfds_data_dir at the directory where it is prepared"
        )
    file_format = b.info.file_format
    if file_format != tfds.core.file_adapters.FileFormat.ARRAY_RECORD:
        raise DataError(
            f"TFDS dataset {cfg.name!r} under {root} is prepared as {file_format}, but reading "
            f"without TensorFlow needs array_record: rebuild it with `tfds build {cfg.name} "
            f"--file_format=array_record --data_dir={root}`"
        )


def reader(cfg: ml_collections.ConfigDict, shape: tuple) -> tuple[int, pipeline.Reader]:
    """(num_examples, read): each batch's records are read in one call and decoded, then
    cropped, resized and converted to `shape`."""
    b = builder(cfg)
    _check_prepared(b, cfg)
    _split_info(b, cfg)
    image_key, label_key = _keys(b.info, cfg.name)
    source = b.as_data_source(split=cfg.split)

    def load(indices):
        out = []
        for example in source.__getitems__([int(i) for i in indices]):
            selected = {"image": example[image_key]}
            if label_key:
                selected["label"] = example[label_key]
            out.append(selected)
        return out

    return len(source), pipeline.fitting_reader(load, shape)
