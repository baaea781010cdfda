"""What a model registry entry holds: an architecture's own config keys, its constructor, the
overrides that shrink it for tests, and the checks config validation applies to its keys."""

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import ml_collections


class Context(NamedTuple):
    """What a constructor needs beyond its own keys."""

    shape: tuple  # One data example, (H, W, C) or (2,): what G makes and D reads.
    groups: int  # BatchNorm statistic groups of the batch (1, or one per device).
    conv_impl: str
    dtype: jnp.dtype
    num_classes: int = 0  # Classes of the data's labels (0: unlabelled).


class Architecture(NamedTuple):
    defaults: Callable[[], ml_collections.ConfigDict]  # The architecture's own keys.
    build: Callable[[ml_collections.ConfigDict, Context], nn.Module]
    smoke: dict  # Overrides that shrink it for tests.
    check: Callable[[ml_collections.ConfigDict, tuple], None] = lambda cfg, shape: None
    takes_labels: Callable[[ml_collections.ConfigDict], bool] = lambda cfg: False
    # D only: it also outputs class logits, [N, 1 + classes] (AC-GAN's auxiliary classifier).
    classifies: Callable[[ml_collections.ConfigDict], bool] = lambda cfg: False
    choices: dict = {}  # key -> allowed values (config validation)
    minimum: dict = {}  # key -> smallest allowed int
    tuples: tuple = ()  # keys holding non-empty tuples of positive ints


def keys(**defaults) -> Callable[[], ml_collections.ConfigDict]:
    """An architecture's `defaults`: a fresh ConfigDict of these keys on every call."""
    return lambda: ml_collections.ConfigDict(defaults)


def classes(cfg: ml_collections.ConfigDict, ctx: Context) -> int:
    """The class count a model embeds: the data's, when `cfg.conditioning` is not 'none'."""
    return ctx.num_classes if cfg.conditioning != "none" else 0


def need_label(label, conditioning: str, num_classes: int) -> None:
    """A conditional model called without labels fails here, naming its conditioning."""
    if conditioning != "none" and label is None:
        raise ValueError(
            f"this model is conditional ({conditioning!r}, {num_classes} classes): pass labels"
        )
