"""Pieces several recipes share: building G and D from config.model, optimizers, label checks,
and what the translating recipes (pix2pix, cyclegan) read, run and draw."""

import functools
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data, images, models
from jaxgan import state as state_lib
from jaxgan.config import ConfigError


def bn_groups(config: ml_collections.ConfigDict) -> int:
    """Groups of the batch with their own BatchNorm statistics: 1 (sync) or one per device."""
    return jax.device_count() if config.model.bn_mode == "per_device" else 1


def context(config, spec, groups: int | None = None) -> models.Context:
    return models.Context(
        shape=tuple(spec.shape),
        groups=bn_groups(config) if groups is None else groups,
        conv_impl=config.model.conv_impl,
        dtype=jnp.dtype(config.model.dtype),
        num_classes=spec.num_classes or 0,
    )


def build_pair(config, spec, groups: int | None = None) -> tuple:
    """(G, D) flax modules of config.model.g and config.model.d for this data."""
    ctx = context(config, spec, groups)
    return models.build("g", config.model.g, ctx), models.build("d", config.model.d, ctx)


def optimizers(config) -> tuple:
    """(G's, D's) optax transformations."""
    return state_lib.make_optimizer(config, "g"), state_lib.make_optimizer(config, "d")


def row_latents(rng, num: int, z_dim: int) -> jax.Array:
    """[num, z_dim] latents z ~ N(0, I), row i from fold_in(rng, i): the first n of N samples
    drawn with a seed are the n samples drawn with it."""
    rows = jax.vmap(lambda i: jax.random.fold_in(rng, i))(jnp.arange(num))
    return jax.vmap(lambda k: jax.random.normal(k, (z_dim,), jnp.float32))(rows)


def check_labels(config, spec) -> None:
    """A conditional architecture (one that takes or predicts labels) needs labelled data."""
    for role in ("g", "d"):
        cfg = config.model[role]
        if uses_labels(role, cfg) and not spec.num_classes:
            raise ConfigError(
                f"model.{role}.conditioning={cfg.conditioning!r} needs labelled data, and dataset "
                f"{spec.name!r} has no labels: use a labelled dataset or conditioning='none'"
            )


def uses_labels(role: str, cfg) -> bool:
    """Whether architecture config `cfg` of `role` takes labels or predicts them."""
    arch = models.architecture(role, cfg)
    return arch.takes_labels(cfg) or arch.classifies(cfg)


def check_label_range(labels: np.ndarray, num_classes: int) -> None:
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ConfigError(
            f"label {int(bad[0])} is out of range: the data has classes 0..{num_classes - 1}"
        )


@functools.lru_cache(maxsize=8)
def _frequencies(data_json: str, num_classes: int) -> tuple:
    from jaxgan import data
    from jaxgan.metrics import classifier

    cfg = ml_collections.ConfigDict(json.loads(data_json))
    spec = data.describe(cfg)
    counts = np.zeros(num_classes, np.int64)
    for batch in classifier.split_batches(cfg, spec.num_examples, 1000):
        counts += np.bincount(batch["label"], minlength=num_classes)
    return tuple((counts / counts.sum()).tolist())


def class_frequencies(data_cfg, num_classes: int) -> np.ndarray:
    """Each class's share of the examples of data_cfg's split (read once per process)."""
    return np.asarray(_frequencies(data_cfg.to_json(), num_classes))


# ------------------------------------------------------------------------ translating recipes


def source_shape(spec) -> tuple:
    """The shape of one `source` image, what a translating generator reads."""
    return tuple(spec.fields["source"])


def split_data(config, split: str) -> ml_collections.ConfigDict:
    """config.data reading `split` (a translating recipe's held-out split)."""
    cfg = ml_collections.ConfigDict(config.data.to_dict())
    cfg.split = split
    return cfg


def held_out(config, split: str, num: int, fields: dict) -> dict:
    """The first `num` examples of `split`'s seed-0 stream (the order evaluation's reference
    statistics use), as {name: the batches' field} for each name -> field of `fields` that the
    data has."""
    from jaxgan.metrics import classifier

    cfg = split_data(config, split)
    num = min(num, data.describe(cfg).num_examples)
    batches = list(classifier.split_batches(cfg, num, config.eval.batch_size, seed=0))
    return {
        name: np.concatenate([b[field] for b in batches])
        for name, field in fields.items()
        if field in batches[0]
    }


class Translator(NamedTuple):
    """What --mode=translate needs to run one translating generator on images of any size; a
    translating recipe's `translator(config, spec, direction)` returns it.

    The network reads [B, H, W, channels] with H and W multiples of `multiple` (its total
    downsampling) and at least `minimum`, and returns [B, H * scale, W * scale, C_out].
    """

    module: object  # The flax module, built for any multiple of `multiple`.
    player: str  # Its name in state.players: 'g', 'g_ab', 'g_ba'.
    multiple: int = 1  # Input sides must divide by it (2**downsamplings; 1: no striding).
    scale: int = 1  # Output side / input side (super-resolution: 2 or 4).
    minimum: int = 1  # The smallest input side it takes (`multiple` if that is larger).
    channels: int | None = None  # Input channels; None: the data's source images'.


def translate(module, state, name: str, config, source):
    """Player `name` (a translating generator) in inference mode on `source`: running BatchNorm
    statistics, no dropout, EMA weights when configured."""
    params = state_lib.sampling_params(state, name, config)
    return module.apply({"params": params, **state.players[name].variables}, source, train=False)


def translation_picture(inputs, outputs) -> np.ndarray:
    """Rows of (source, output, target) triples, or (source, output) pairs without targets
    ('x' in inputs), gray columns repeated to the others' channels."""
    columns = [inputs["source"], np.asarray(outputs)]
    if "x" in inputs:
        columns.append(inputs["x"])
    channels = max(c.shape[-1] for c in columns)
    columns = [np.repeat(c, channels // c.shape[-1], -1) for c in columns]
    tiles = np.stack(columns, axis=1).reshape((-1,) + columns[1].shape[1:])
    per_row = len(columns) * max(1, 8 // len(columns))
    return images.grid(tiles, columns=per_row)
