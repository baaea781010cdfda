"""pix2pix's U-Net generator (Isola et al. 2017): junyanz/pytorch-CycleGAN-and-pix2pix's
`unet_256`, for any side divisible by 2^depth.

Encoder: `depth` 4x4 stride-2 convolutions, width * min(2^i, max_width_mult) channels, each but the
first preceded by LeakyReLU(0.2), each but the first and the innermost followed by the norm.
Decoder, from the bottleneck out: ReLU, a 4x4 stride-2 transposed convolution, the norm and (on
the 3 blocks right after the bottleneck, fewer when shallow) dropout; each block's input is the
previous block's output concatenated with the encoder output of the same resolution (skip
connections, [skip, decoder] as in PyTorch). The outermost block maps to `out_channels`, with
bias, and tanh. At depth 8 (256 x 256) the layers and the dropout blocks are exactly unet_256's.

The norm factory (`make_norm`) is shared with the PatchGAN discriminator.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import BatchNorm, InstanceNorm

INIT = nn.initializers.normal(0.02)
NORMS = ("batch", "instance", "none")
DROPOUT_BLOCKS = 3  # pix2pix: dropout on the 3 decoder blocks right after the bottleneck.


def make_norm(kind: str, groups: int, dtype, name: str | None = None) -> nn.Module | None:
    """The norm layer `kind` names ('batch', 'instance'), or None for 'none'. Call it as
    `norm(x, train)`; 'batch' takes its statistics over `groups` groups of the batch."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")
    if kind == "batch":
        return BatchNorm(groups=groups, dtype=dtype, name=name)
    if kind == "instance":
        return InstanceNorm(dtype=dtype, name=name)
    return None


def unet_depth(height: int, width: int, depth: int) -> int:
    """The number of downsamplings: `depth`, or for 0 log2 of the side (a 1 x 1 bottleneck).

    Raises ValueError naming the size and depth when the sides do not divide by 2^depth."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"U-Net depth must be an int >= 0 (0 = log2 of the side); got {depth!r}")
    side = min(height, width)
    if depth == 0 and side >= 2 and side & (side - 1) == 0:
        depth = int(math.log2(side))
    if depth == 0 or height % 2**depth or width % 2**depth:
        most = min((height & -height).bit_length(), (width & -width).bit_length()) - 1
        fits = f", or a depth between 1 and {most}" if most else ""
        raise ValueError(
            f"U-Net depth={depth or '0 (log2 of the side)'} needs image sides divisible by "
            f"2^depth (a power of 2 for depth 0); got {height}x{width}: use an image size such as "
            f"32 or 64{fits}"
        )
    return depth


def dropout_levels(depth: int) -> range:
    """Decoder levels (0 = outermost, depth - 1 = bottleneck) that apply dropout: the
    DROPOUT_BLOCKS right after the bottleneck, never the bottleneck itself or the output layer."""
    return range(max(1, depth - 1 - DROPOUT_BLOCKS), depth - 1)


class UNetGenerator(nn.Module):
    """source [B, H, W, C] -> image [B, H, W, out_channels] float32 in [-1, 1].

    Dropout is active when `train` (pass `rngs={'dropout': key}`); `train=False` is
    deterministic and needs no rng.
    """

    out_channels: int
    width: int = 64
    depth: int = 0
    max_width_mult: int = 8
    dropout: float = 0.5
    norm: str = "batch"
    bn_groups: int = 1
    conv_impl: str = "auto"
    dtype: jnp.dtype = jnp.float32

    def _channels(self, level: int) -> int:
        return self.width * min(2**level, self.max_width_mult)

    def _norm(self, name: str):
        return make_norm(self.norm, self.bn_groups, self.dtype, name)

    @nn.compact
    def __call__(self, source, train: bool = True):
        if source.ndim != 4:
            raise ValueError(f"U-Net expects images [B, H, W, C]; got shape {source.shape}")
        n = unet_depth(source.shape[1], source.shape[2], self.depth)
        has_norm = self.norm != "none"
        h = source.astype(self.dtype)
        skips = []
        for i in range(n):
            normed = has_norm and 0 < i < n - 1
            if i > 0:
                h = nn.leaky_relu(h, 0.2)
            h = layers.Conv2x(
                self._channels(i),
                use_bias=not normed,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
                name=f"down{i}",
            )(h)
            if normed:
                h = self._norm(f"down{i}_norm")(h, train)
            skips.append(h)
        for i in reversed(range(n)):
            if i < n - 1:
                h = jnp.concatenate([skips[i], h], axis=-1)
            outermost = i == 0
            normed = has_norm and not outermost
            h = layers.ConvTranspose2x(
                self.out_channels if outermost else self._channels(i - 1),
                use_bias=not normed,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
                name=f"up{i}",
            )(nn.relu(h))
            if normed:
                h = self._norm(f"up{i}_norm")(h, train)
            if i in dropout_levels(n) and self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return jnp.tanh(h.astype(jnp.float32))


def _check_dropout(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout={rate!r} is out of range: it must be in [0, 1)")


GENERATOR = Architecture(
    defaults=keys(width=64, depth=0, max_width_mult=8, dropout=0.5, norm="batch"),
    build=lambda cfg, ctx: UNetGenerator(
        out_channels=ctx.shape[-1],
        width=cfg.width,
        depth=cfg.depth,
        max_width_mult=cfg.max_width_mult,
        dropout=cfg.dropout,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "depth": 2},
    check=lambda cfg, shape: (
        _check_dropout(cfg.dropout),
        unet_depth(shape[0], shape[1], cfg.depth),
    ),
    choices={"norm": NORMS},
    minimum={"width": 1, "depth": 0, "max_width_mult": 1},
)
