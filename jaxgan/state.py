"""TrainState: everything that determines the future of a run, as one pytree."""

import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import data, models


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: completed generator updates.
    rng: jax.Array  # uint32[2] base key; step keys are fold_in(rng, step).
    g_params: Any
    d_params: Any
    g_state: Any  # Non-trained generator variables, e.g. {'batch_stats': ...}.
    d_state: Any
    g_opt_state: Any
    d_opt_state: Any
    ema_g_params: Any  # Exponential moving average of g_params (used for sampling).


def data_shape(config: ml_collections.ConfigDict) -> tuple:
    """The shape of one example, (H, W, C) or (2,), as the data pipeline will deliver it."""
    return tuple(data.describe(config.data).shape)


def bn_groups(config: ml_collections.ConfigDict) -> int:
    """Groups of the batch with their own BatchNorm statistics: 1 (sync) or one per device."""
    return jax.device_count() if config.model.bn_mode == "per_device" else 1


def build_models(config: ml_collections.ConfigDict, shape: tuple, groups: int | None = None):
    """(generator, discriminator) flax modules for this config and data shape."""
    models.check_shape(config.model, shape)
    groups = bn_groups(config) if groups is None else groups
    g = models.GENERATORS[config.model.generator](config.model, shape, groups)
    d = models.DISCRIMINATORS[config.model.discriminator](config.model, shape, groups)
    return g, d


def make_optimizers(config: ml_collections.ConfigDict):
    """(g_tx, d_tx) optax transformations."""
    o = config.optim
    if o.name == "adam":
        return optax.adam(o.g_lr, b1=o.b1, b2=o.b2), optax.adam(o.d_lr, b1=o.b1, b2=o.b2)
    return optax.rmsprop(o.g_lr), optax.rmsprop(o.d_lr)


def _split_variables(variables):
    variables = dict(variables)
    params = variables.pop("params")
    return params, variables


def create_train_state(
    config: ml_collections.ConfigDict, rng: jax.Array, *, shape: tuple | None = None
) -> TrainState:
    """Initial parameters, optimizer states and EMA; `shape` defaults to the dataset's."""
    shape = data_shape(config) if shape is None else tuple(shape)
    if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        rng = jax.random.key_data(rng)  # Raw uint32 keys checkpoint as plain arrays.
    # One compiled function instead of dozens of eagerly dispatched initialisers.
    return jax.jit(functools.partial(_initial_state, config=config, shape=shape))(rng)


def _initial_state(rng, *, config, shape) -> TrainState:
    g, d = build_models(config, shape, groups=1)
    g_tx, d_tx = make_optimizers(config)
    rng, g_rng, d_rng = jax.random.split(rng, 3)
    z = jnp.zeros((1, config.model.z_dim), jnp.float32)
    g_params, g_state = _split_variables(g.init(g_rng, z, train=False))
    x = jnp.zeros((1,) + shape, jnp.float32)
    d_params, d_state = _split_variables(d.init(d_rng, x, train=False))
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=rng,
        g_params=g_params,
        d_params=d_params,
        g_state=g_state,
        d_state=d_state,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        ema_g_params=jax.tree.map(jnp.copy, g_params),
    )


def sampling_params(state: TrainState, config: ml_collections.ConfigDict):
    """The generator weights that samples and evaluation use: EMA when configured."""
    return state.ema_g_params if config.train.ema_decay > 0 else state.g_params
