"""DCGAN (Radford et al. 2016) for square images of side base * 2^n, base 4 or 7 (28, 32, 64, ...).

G: z -> dense to base x base x (g_width * 2^(n-1)) -> n stride-2 transposed convolutions (k=4),
halving the channels each time, to the image; BatchNorm + ReLU inside, tanh out.
D mirrors it with stride-2 convolutions and LeakyReLU(0.2), no normalisation on its first layer,
and a dense layer from base x base to one logit (Radford's final 4x4 valid convolution).
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import BatchNorm

INIT = nn.initializers.normal(0.02)
NORMS = ("batch", "none")


def pyramid(size: int) -> tuple[int, int]:
    """(base, n) with size == base * 2**n, base in (4, 7), n >= 1."""
    for base in (7, 4):
        n = 0
        while base * 2**n < size:
            n += 1
        if base * 2**n == size and n >= 1:
            return base, n
    raise ValueError(
        f"DCGAN needs a square image side of 4 * 2^n or 7 * 2^n (e.g. 28, 32, 64, 128); got {size}"
    )


def _norm(kind, groups, dtype):
    return BatchNorm(groups=groups, dtype=dtype) if kind == "batch" else None


class DCGANGenerator(nn.Module):
    shape: tuple  # (H, W, C)
    width: int = 64
    norm: str = "batch"
    bn_groups: int = 1
    conv_impl: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = True):
        base, n = pyramid(self.shape[0])
        bias = self.norm == "none"
        channels = self.width * 2 ** (n - 1)
        h = nn.Dense(base * base * channels, use_bias=bias, kernel_init=INIT, dtype=self.dtype)(
            z.astype(self.dtype)
        )
        h = h.reshape((z.shape[0], base, base, channels))
        for i in range(n):
            norm = _norm(self.norm, self.bn_groups, self.dtype)
            h = nn.relu(norm(h, train) if norm else h)
            last = i == n - 1
            channels = self.shape[-1] if last else channels // 2
            h = layers.ConvTranspose2x(
                channels,
                use_bias=bias or last,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )(h)
        return jnp.tanh(h.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
    width: int = 64
    norm: str = "none"
    bn_groups: int = 1
    conv_impl: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = True):
        _, n = pyramid(x.shape[1])
        h = x.astype(self.dtype)
        for i in range(n):
            norm = _norm(self.norm, self.bn_groups, self.dtype) if i > 0 else None
            h = layers.Conv2x(
                self.width * 2**i,
                use_bias=norm is None,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )(h)
            h = nn.leaky_relu(norm(h, train) if norm else h, 0.2)
        h = h.reshape((h.shape[0], -1))
        return nn.Dense(1, kernel_init=INIT, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


def _square_pyramid(cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"DCGAN models need square images (H, W, C); the data has shape {shape}")
    pyramid(shape[0])


GENERATOR = Architecture(
    defaults=keys(width=64, norm="batch"),
    build=lambda cfg, ctx: DCGANGenerator(
        shape=tuple(ctx.shape),
        width=cfg.width,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=_square_pyramid,
    choices={"norm": NORMS},
    minimum={"width": 1},
)


DISCRIMINATOR = Architecture(
    defaults=keys(width=64, norm="none"),
    build=lambda cfg, ctx: DCGANDiscriminator(
        width=cfg.width,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=_square_pyramid,
    choices={"norm": NORMS},
    minimum={"width": 1},
)
