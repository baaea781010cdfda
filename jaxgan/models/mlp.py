"""Fully connected generator and discriminator (the original GAN setup, and 2-D toy problems).

With conditioning='concat' both take labels the way the conditional GAN of Mirza & Osindero
(2014) does: the one-hot label is concatenated to G's latent and to D's flattened input.
G's hidden activation is ReLU (Goodfellow et al.) or LeakyReLU(0.2) (`activation`); D's is
LeakyReLU(0.2); D's `minibatch_std` appends ProGAN's minibatch standard deviation before its
last layer (`layers.minibatch_std`). `spectral_norm` divides each layer's weight matrix by its
largest singular value (Miyato et al. 2018; `layers.spectral_norm`).
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import architecture, layers
from jaxgan.models.architecture import Architecture, keys

CONDITIONING = ("none", "concat")
ACTIVATIONS = {"relu": nn.relu, "leaky_relu": lambda h: nn.leaky_relu(h, 0.2)}


def _with_label(h, label, num_classes: int, dtype):
    """h with the label's one-hot vector appended; a float [N, num_classes] label is used as
    given (a mix of classes, for interpolating between them)."""
    if not num_classes:
        return h
    if label is None:
        raise ValueError(f"this model is conditional on {num_classes} classes: pass labels")
    return jnp.concatenate([h, layers.class_weights(label, num_classes, dtype)], axis=-1)


class MLPGenerator(nn.Module):
    """z (and a label) -> hidden ReLU (or LeakyReLU) layers -> tanh output reshaped to the data
    shape."""

    shape: tuple
    hidden: tuple = (256, 128)
    tanh: bool = True  # Images live in [-1, 1]; 2-D toy points are unbounded.
    num_classes: int = 0  # > 0: conditional on a label.
    activation: str = "relu"  # A key of ACTIVATIONS.
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, label=None, train: bool = True):
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        act = ACTIVATIONS[self.activation]
        h = _with_label(z.astype(self.dtype), label, self.num_classes, self.dtype)
        for width in self.hidden:
            h = act(sn(nn.Dense(width, dtype=self.dtype))(h))
        h = sn(nn.Dense(math.prod(self.shape), dtype=self.dtype))(h).astype(jnp.float32)
        h = jnp.tanh(h) if self.tanh else h
        return h.reshape((z.shape[0],) + tuple(self.shape))


class MLPDiscriminator(nn.Module):
    """Flattened input (and a label) -> hidden LeakyReLU(0.2) layers -> one logit per sample."""

    hidden: tuple = (128,)
    num_classes: int = 0
    spectral_norm: bool = False
    minibatch_std: int = 0  # Group size of layers.minibatch_std before the last layer; 0 = off.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, label=None, train: bool = True):
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        h = x.reshape((x.shape[0], -1)).astype(self.dtype)
        h = _with_label(h, label, self.num_classes, self.dtype)
        for width in self.hidden:
            h = nn.leaky_relu(sn(nn.Dense(width, dtype=self.dtype))(h), 0.2)
        h = layers.minibatch_std(h, self.minibatch_std)
        return sn(nn.Dense(1, dtype=self.dtype))(h)[:, 0].astype(jnp.float32)


GENERATOR = Architecture(
    defaults=keys(hidden=(256, 128), conditioning="none", activation="relu", spectral_norm=False),
    build=lambda cfg, ctx: MLPGenerator(
        shape=tuple(ctx.shape),
        hidden=tuple(cfg.hidden),
        tanh=len(ctx.shape) == 3,
        num_classes=architecture.classes(cfg, ctx),
        activation=cfg.activation,
        spectral_norm=cfg.spectral_norm,
        dtype=ctx.dtype,
    ),
    smoke={"hidden": (16,)},
    takes_labels=lambda cfg: cfg.conditioning != "none",
    choices={"conditioning": CONDITIONING, "activation": tuple(ACTIVATIONS)},
    tuples=("hidden",),
)


DISCRIMINATOR = Architecture(
    defaults=keys(hidden=(128,), conditioning="none", spectral_norm=False, minibatch_std=0),
    build=lambda cfg, ctx: MLPDiscriminator(
        hidden=tuple(cfg.hidden),
        num_classes=architecture.classes(cfg, ctx),
        spectral_norm=cfg.spectral_norm,
        minibatch_std=cfg.minibatch_std,
        dtype=ctx.dtype,
    ),
    smoke={"hidden": (16,)},
    takes_labels=lambda cfg: cfg.conditioning != "none",
    choices={"conditioning": CONDITIONING},
    minimum={"minibatch_std": 0},
    tuples=("hidden",),
)
