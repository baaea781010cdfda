"""Fully connected generator and discriminator (the original GAN setup, and 2-D toy problems)."""

import math

import flax.linen as nn
import jax.numpy as jnp


class MLPGenerator(nn.Module):
    """z -> hidden ReLU layers -> tanh output reshaped to the data shape."""

    shape: tuple
    hidden: tuple = (256, 128)
    tanh: bool = True  # Images live in [-1, 1]; 2-D toy points are unbounded.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = True):
        h = z.astype(self.dtype)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
        h = nn.Dense(math.prod(self.shape), dtype=self.dtype)(h).astype(jnp.float32)
        h = jnp.tanh(h) if self.tanh else h
        return h.reshape((z.shape[0],) + tuple(self.shape))


class MLPDiscriminator(nn.Module):
    """Flattened input -> hidden LeakyReLU(0.2) layers -> one logit per sample."""

    hidden: tuple = (128,)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = x.reshape((x.shape[0], -1)).astype(self.dtype)
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width, dtype=self.dtype)(h), 0.2)
        return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
