"""Drawing samples from a generator (EMA weights when configured), in inference mode."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.state import TrainState, build_models, data_shape, sampling_params


def make_sampler(config: ml_collections.ConfigDict, shape: tuple | None = None):
    """jitted (params, g_state, z) -> samples, G in inference mode (BatchNorm running stats)."""
    shape = data_shape(config) if shape is None else tuple(shape)
    g, _ = build_models(config, shape, groups=1)
    return jax.jit(
        lambda params, g_state, z: g.apply({"params": params, **g_state}, z, train=False)
    )


def latents(config: ml_collections.ConfigDict, rng: jax.Array, num: int) -> jax.Array:
    return jax.random.normal(rng, (num, config.model.z_dim), jnp.float32)


def generate(
    state: TrainState,
    config: ml_collections.ConfigDict,
    rng: jax.Array,
    num: int,
    *,
    batch_size: int = 500,
    sampler=None,
) -> np.ndarray:
    """`num` samples as float32 numpy, NHWC in [-1, 1] (or [num, 2] points).

    Sample i depends only on (rng, num, i), never on batch_size: the latents are drawn at once
    and G runs in inference mode, so the same checkpoint and key give the same samples.
    """
    if num < 1:
        raise ValueError(f"num must be a positive number of samples, got {num}")
    sampler = sampler or make_sampler(config)
    z = latents(config, rng, num)
    params = sampling_params(state, config)
    chunks = []
    for i in range(0, num, batch_size):
        chunk = z[i : i + batch_size]
        if chunk.shape[0] < batch_size and num > batch_size:  # Keep one compiled shape.
            pad = jnp.zeros((batch_size - chunk.shape[0], z.shape[1]), z.dtype)
            out = sampler(params, state.g_state, jnp.concatenate([chunk, pad]))[: chunk.shape[0]]
        else:
            out = sampler(params, state.g_state, chunk)
        chunks.append(np.asarray(jax.device_get(out), np.float32))
    return np.concatenate(chunks)
