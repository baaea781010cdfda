"""Layers at an equalised learning rate (Karras et al. 2018), shared by ProGAN and StyleGAN2:
weights stored at unit scale and multiplied at run time by He's constant, so that Adam, which
normalises step sizes per weight, moves every layer's used weights at the same relative rate.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

SQRT2 = math.sqrt(2.0)


def lrelu(x):
    """Leaky ReLU (slope 0.2) with StyleGAN's gain sqrt(2), which keeps unit variance."""
    return jax.nn.leaky_relu(x, 0.2) * SQRT2


def num_steps(side: int) -> int:
    """n for a side of 4 * 2^n; ValueError for any other side."""
    n = round(math.log2(side / 4)) if side >= 8 else 0
    if side < 8 or 4 * 2**n != side:
        raise ValueError(f"images must have a side 4 * 2^n (8, 16, 32, 64, ...); not {side}")
    return n


def channels(side: int, image_side: int, width: int, max_width: int) -> int:
    """Channels at `side` of a pyramid with `width` at the image's side, doubling per halving,
    capped at `max_width` (ProGAN's and StyleGAN2's widths)."""
    return min(width * image_side // side, max_width)


def conv(x, kernel):
    """Stride-1 'SAME' convolution, NHWC with an HWIO kernel."""
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


class EqualDense(nn.Module):
    """Dense layer at an equalised learning rate: weights drawn N(0, 1 / lr_mul^2) and scaled
    at run time by lr_mul / sqrt(fan_in) (He's constant), the bias by lr_mul. Adam's steps on
    the stored weights then move the used weights lr_mul times as fast as a plain layer's."""

    features: int
    lr_mul: float = 1.0
    bias_init: float = 0.0
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        kernel = self.param(
            "kernel", nn.initializers.normal(1.0 / self.lr_mul), (fan_in, self.features)
        )
        y = x.astype(self.dtype) @ (kernel * (self.lr_mul / math.sqrt(fan_in))).astype(self.dtype)
        if self.use_bias:
            init = nn.initializers.constant(self.bias_init / self.lr_mul)
            y = y + (self.param("bias", init, (self.features,)) * self.lr_mul).astype(self.dtype)
        return y


def equal_kernel(module: nn.Module, size: int, fan_in: int, features: int):
    """A conv kernel at an equalised learning rate: N(0, 1) params scaled by 1 / sqrt(fan-in)."""
    kernel = module.param("kernel", nn.initializers.normal(1.0), (size, size, fan_in, features))
    return kernel * (1.0 / math.sqrt(size * size * fan_in))


class EqualConv(nn.Module):
    features: int
    size: int = 3
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = equal_kernel(self, self.size, x.shape[-1], self.features)
        y = conv(x.astype(self.dtype), kernel.astype(self.dtype))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
        return y
