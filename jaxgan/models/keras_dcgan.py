"""The DCGAN of TensorFlow's Keras tutorial ("Deep Convolutional Generative Adversarial Network"),
layer for layer, for 28x28 images: one of the networks the project's seeds start from.

G: z -> dense 7x7x256 (no bias) -> BN (over its 12,544 features, as Keras places it), LeakyReLU
-> 5x5 transposed conv 128 (stride 1) -> BN, LeakyReLU -> 5x5 transposed conv 64 (stride 2) -> BN,
LeakyReLU -> 5x5 transposed conv to the image's channels (stride 2), tanh.
D: 5x5 conv 64 (stride 2), LeakyReLU, dropout 0.3 -> 5x5 conv 128 (stride 2), LeakyReLU, dropout
0.3 -> dense to one logit. LeakyReLU has Keras's default slope 0.3. Convolutions are flax's own
('same' padding): this is the reference network, not a tuned one.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import BatchNorm

SLOPE = 0.3  # Keras LeakyReLU's default.


class KerasGenerator(nn.Module):
    shape: tuple  # (28, 28, C)
    width: int = 64  # Channels of the last hidden layer (the tutorial's 64; then 2x, 4x).
    bn_groups: int = 1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = True):
        w = self.width
        norm = lambda h: nn.leaky_relu(BatchNorm(self.bn_groups, dtype=self.dtype)(h, train), SLOPE)
        h = nn.Dense(7 * 7 * 4 * w, use_bias=False, dtype=self.dtype)(z.astype(self.dtype))
        h = norm(h).reshape((z.shape[0], 7, 7, 4 * w))  # As Keras: BN on the dense features.
        for features, stride in ((2 * w, 1), (w, 2)):
            strides = (stride, stride)
            conv = nn.ConvTranspose(
                features, (5, 5), strides, "SAME", use_bias=False, dtype=self.dtype
            )
            h = norm(conv(h))
        out = nn.ConvTranspose(self.shape[-1], (5, 5), (2, 2), "SAME", use_bias=False)(h)
        return jnp.tanh(out.astype(jnp.float32))


class KerasDiscriminator(nn.Module):
    width: int = 64
    dropout: float = 0.3
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = x.astype(self.dtype)
        for features in (self.width, 2 * self.width):
            h = nn.Conv(features, (5, 5), (2, 2), "SAME", dtype=self.dtype)(h)
            h = nn.Dropout(self.dropout, deterministic=not train)(nn.leaky_relu(h, SLOPE))
        h = h.reshape((h.shape[0], -1))
        return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


def _check(cfg, shape) -> None:
    if len(shape) != 3 or shape[:2] != (28, 28):
        raise ValueError(f"the Keras tutorial DCGAN is for 28x28 images; the data has {shape}")


def _check_discriminator(cfg, shape) -> None:
    _check(cfg, shape)
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout={cfg.dropout!r} must be in [0, 1)")


GENERATOR = Architecture(
    defaults=keys(width=64),
    build=lambda cfg, ctx: KerasGenerator(
        shape=tuple(ctx.shape), width=cfg.width, bn_groups=ctx.groups, dtype=ctx.dtype
    ),
    smoke={"width": 4},
    check=_check,
    minimum={"width": 1},
)

DISCRIMINATOR = Architecture(
    defaults=keys(width=64, dropout=0.3),
    build=lambda cfg, ctx: KerasDiscriminator(
        width=cfg.width, dropout=cfg.dropout, dtype=ctx.dtype
    ),
    smoke={"width": 4},
    check=_check_discriminator,
    minimum={"width": 1},
)
