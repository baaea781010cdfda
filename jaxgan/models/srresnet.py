"""Super-resolution generators: SRResNet (Ledig et al. 2017) and ESRGAN's RRDB net (Wang et al.
2018), one module with the block as a choice.

A 9x9 convolution to `width` features (activation after it); `num_blocks` blocks; a 3x3
convolution whose output is added to the first layer's (the long skip); log2(scale) sub-pixel
upsamplings (3x3 convolution to 4 x width, pixel shuffle, activation); a 9x9 convolution to the
image's channels, linear (inference clips to [-1, 1]). With skip='bicubic' (the default) the
network learns the residual over the bicubic upscaling of its input (VDSR's global residual,
Kim et al. 2016): it starts as good as bicubic and a short training only adds detail; with
'none' it makes the image itself, as SRResNet does.

- block='residual' (SRResNet): conv 3x3, PReLU, conv 3x3, plus the input. Without the paper's
  BatchNorm, as EDSR and ESRGAN found BatchNorm hurts SR (artifacts, worse PSNR), and so that
  the network is the same function in training and inference and can be run on tiles.
- block='rrdb' (ESRGAN): a residual-in-residual dense block, three dense blocks of five 3x3
  convolutions (each sees all earlier outputs; `growth` features each; LeakyReLU 0.2), each
  dense block's output scaled by 0.2 and added to its input, and the block's by 0.2 again.
  Activations are LeakyReLU 0.2 throughout, as ESRGAN.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.architecture import Architecture, keys

BLOCKS = ("residual", "rrdb")
SKIPS = ("bicubic", "none")
SCALES = (2, 4, 8)
RESIDUAL_SCALE = 0.2  # ESRGAN's beta.
PRELU_SLOPE = 0.25  # He et al. 2015's (and PyTorch's) initial PReLU slope, as SRResNet's.


def pixel_shuffle(x, factor: int = 2):
    """[B, H, W, factor^2 * C] -> [B, factor H, factor W, C] (sub-pixel convolution's shuffle)."""
    b, h, w, c = x.shape
    c //= factor * factor
    x = x.reshape(b, h, w, factor, factor, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * factor, w * factor, c)


def check_scale(scale, shape: tuple) -> None:
    """ValueError unless scale is one of SCALES and divides the image's sides."""
    if isinstance(scale, bool) or scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not allowed: use one of {SCALES}")
    if shape[0] % scale or shape[1] % scale:
        raise ValueError(
            f"images of {shape[0]}x{shape[1]} do not divide by scale {scale}: use a multiple of "
            f"{scale} (data.image_size)"
        )


class _DenseBlock(nn.Module):
    growth: int
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x):
        features = [x]
        for i in range(4):
            h = nn.Conv(self.growth, (3, 3), dtype=self.dtype)(jnp.concatenate(features, -1))
            features.append(nn.leaky_relu(h, 0.2))
            del i
        out = nn.Conv(x.shape[-1], (3, 3), dtype=self.dtype)(jnp.concatenate(features, -1))
        return x + RESIDUAL_SCALE * out


class SRResNet(nn.Module):
    """low-resolution source [B, h, w, C] -> image [B, scale h, scale w, out_channels]."""

    out_channels: int
    scale: int = 4
    width: int = 64
    num_blocks: int = 16
    block: str = "residual"
    growth: int = 32
    skip: str = "bicubic"
    dtype: jnp.dtype = jnp.float32

    def _act(self, h):
        return (
            nn.PReLU(negative_slope_init=PRELU_SLOPE)(h)
            if self.block == "residual"
            else nn.leaky_relu(h, 0.2)
        )

    def _block(self, h):
        if self.block == "residual":
            r = self._act(nn.Conv(self.width, (3, 3), dtype=self.dtype)(h))
            return h + nn.Conv(self.width, (3, 3), dtype=self.dtype)(r)
        r = h
        for _ in range(3):
            r = _DenseBlock(self.growth, self.dtype)(r)
        return h + RESIDUAL_SCALE * r

    @nn.compact
    def __call__(self, source, train: bool = True):
        del train  # No dropout or batch statistics: the same function in both modes.
        if source.ndim != 4:
            raise ValueError(f"SRResNet expects images [B, H, W, C]; got {source.shape}")
        first = self._act(nn.Conv(self.width, (9, 9), dtype=self.dtype)(source.astype(self.dtype)))
        h = first
        for _ in range(self.num_blocks):
            h = self._block(h)
        h = first + nn.Conv(self.width, (3, 3), dtype=self.dtype)(h)
        for _ in range(int(math.log2(self.scale))):
            h = nn.Conv(4 * self.width, (3, 3), dtype=self.dtype)(h)
            h = self._act(pixel_shuffle(h))
        # Over bicubic, the last layer starts at zero: G starts as bicubic, not as bicubic plus
        # noise that the first steps would remove by silencing the layer below for good.
        last_init = (
            nn.initializers.zeros if self.skip == "bicubic" else nn.initializers.lecun_normal()
        )
        out = nn.Conv(self.out_channels, (9, 9), kernel_init=last_init, dtype=self.dtype)(h)
        out = out.astype(jnp.float32)
        if self.skip == "bicubic":
            n, height, width, channels = source.shape
            big = (n, height * self.scale, width * self.scale, channels)
            out = out + jax.image.resize(source.astype(jnp.float32), big, "bicubic")
        return out


GENERATOR = Architecture(
    defaults=keys(scale=4, width=64, num_blocks=16, block="residual", growth=32, skip="bicubic"),
    build=lambda cfg, ctx: SRResNet(
        out_channels=ctx.shape[-1],
        scale=cfg.scale,
        width=cfg.width,
        num_blocks=cfg.num_blocks,
        block=cfg.block,
        growth=cfg.growth,
        skip=cfg.skip,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "num_blocks": 1, "growth": 4},
    check=lambda cfg, shape: check_scale(cfg.scale, shape),
    choices={"block": BLOCKS, "scale": SCALES, "skip": SKIPS},
    minimum={"width": 1, "num_blocks": 0, "growth": 1},
)
