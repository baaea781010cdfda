"""Feature extractors for evaluation, chosen by `eval.features`: name -> constructor.

    extractor = features.make_extractor(config, shape)
    out = features.extract(extractor, images, batch_size)   # {'pool': [N, D], 'logits': [N, C]}

'pool' feeds FID, KID and precision/recall, 'logits' the Inception Score. `Extractor.key` names
the network and its version; reference statistics are cached under it, so features of different
networks are never mixed.

- 'classifier': the dataset's own small CNN (classifier.py), trained once and cached. For
  stacked_mnist it is the embedded-MNIST digit classifier applied to each channel: 'pool' is the
  three channels' features side by side and 'logits' the 1,000 joint log-probabilities
  log p(d0) + log p(d1) + log p(d2), so argmax gives the three digits and the IS analogue ranges
  over the 1,000 modes.
- 'inception': the FID InceptionV3 from eval.inception_weights; a missing or bad file is a
  ConfigError of one line, raised before any sampling work.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data
from jaxgan.config import ConfigError
from jaxgan.metrics import classifier as classifier_lib
from jaxgan.metrics import inception as inception_lib

STACKED = "stacked_mnist"


class Extractor(NamedTuple):
    """apply: jitted images [B, H, W, C] in [-1, 1] -> {'pool': [B, D], 'logits': [B, C]}."""

    apply: Callable
    name: str  # The eval.features value.
    key: str  # The network and its version, e.g. 'classifier-embedded_mnist-28x1-v1'.
    info: dict  # Facts for eval.json, e.g. {'classifier_test_accuracy': 0.986}.


def _named(pool, logits) -> dict:
    return {"pool": pool, "logits": logits}


def digit_config(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The embedded-MNIST data config whose classifier reads each stacked_mnist channel."""
    size = data.describe(cfg).shape[0]
    base = ml_collections.ConfigDict(cfg.to_dict())
    base.name, base.split, base.image_size, base.channels = "embedded_mnist", "train", size, 1
    return base


def _stacked_apply(fn):
    """Per-channel digit classification of [B, H, W, 3] images (see module doc)."""

    def apply(params, images):
        b, h, w, _ = images.shape
        channels = jnp.moveaxis(images, 3, 1).reshape(b * 3, h, w, 1)
        pool, logits = fn(params, channels)
        log_p = jax.nn.log_softmax(logits.reshape(b, 3, -1), axis=-1)
        joint = log_p[:, 0, :, None, None] + log_p[:, 1, None, :, None] + log_p[:, 2, None, None]
        return {"pool": pool.reshape(b, -1), "logits": joint.reshape(b, -1)}

    return apply


def classifier_extractor(config: ml_collections.ConfigDict, shape: tuple) -> Extractor:
    """The dataset's own classifier (trained and cached on first use)."""
    cfg = config.data
    stacked = cfg.name == STACKED
    if stacked:
        if tuple(shape[2:]) != (3,):
            raise data.DataError(f"stacked_mnist evaluation needs 3 channels, got shape {shape}")
        cfg = digit_config(cfg)
    elif data.embedded_digits(cfg):
        cfg = digit_config(cfg)  # Same digits as embedded_mnist: share its classifier.
    trained = classifier_lib.load_or_train(cfg)
    model = classifier_lib.Classifier(trained.num_classes)
    fn = lambda params, images: model.apply({"params": params}, images)
    if stacked:
        apply = _stacked_apply(fn)
    else:
        apply = lambda params, images: dict(
            zip(("pool", "logits"), fn(params, images), strict=True)
        )
    params = jax.device_put(trained.params)
    jitted = jax.jit(apply)
    key = f"classifier-{trained.path.stem}" + ("-per_channel" if stacked else "")
    info = {"classifier": trained.path.stem, "classifier_test_accuracy": trained.test_accuracy}
    return Extractor(lambda images: jitted(params, images), "classifier", key, info)


def inception_extractor(config: ml_collections.ConfigDict, shape: tuple) -> Extractor:
    """The FID InceptionV3 (2048-d pool3, 1008 logits) from eval.inception_weights."""
    path = config.eval.inception_weights
    if not path:
        raise ConfigError(
            "eval.features='inception' needs eval.inception_weights: the path of "
            f"{inception_lib.FID_WEIGHTS_FILENAME} (from {inception_lib.FID_WEIGHTS_URL})"
        )
    try:
        fn = inception_lib.load_inception(path)
    except (OSError, ValueError) as e:  # FileNotFoundError, or not the FID weights file.
        raise ConfigError(" ".join(str(e).split())) from e
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ConfigError(f"eval.features='inception' needs 1- or 3-channel images, got {shape}")
    stem = inception_lib.FID_WEIGHTS_FILENAME.removesuffix(".pth")
    apply = lambda images: _named(*fn(images))
    return Extractor(apply, "inception", f"inception-{stem}", {})


EXTRACTORS = {"classifier": classifier_extractor, "inception": inception_extractor}


def make_extractor(config: ml_collections.ConfigDict, shape: tuple, name: str | None = None):
    """The extractor `name` (default eval.features) for images of `shape`."""
    name = config.eval.features if name is None else name
    if name not in EXTRACTORS:
        raise ConfigError(
            f"eval.features={name!r} is not allowed: choose one of {', '.join(EXTRACTORS)}"
        )
    return EXTRACTORS[name](config, tuple(shape))


def extract(extractor: Extractor, images, batch_size: int = 500) -> dict[str, np.ndarray]:
    """{'pool', 'logits'} numpy float32 of all `images`, in batches of one compiled shape."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 1:
        raise ValueError(f"images must be a non-empty NHWC array, got shape {images.shape}")
    batch_size = min(batch_size, len(images))
    parts = {"pool": [], "logits": []}
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        size = len(chunk)
        if size < batch_size:  # Pad the last batch to the compiled shape.
            pad = np.zeros((batch_size - size,) + chunk.shape[1:], np.float32)
            chunk = np.concatenate([chunk, pad])
        out = jax.device_get(extractor.apply(jnp.asarray(chunk)))
        for key in parts:
            parts[key].append(np.asarray(out[key][:size], np.float32))
    return {key: np.concatenate(value) for key, value in parts.items()}
