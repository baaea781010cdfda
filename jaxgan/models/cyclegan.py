"""CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al. 2016): `resnet_9blocks` of
junyanz/pytorch-CycleGAN-and-pix2pix, for any side divisible by 2^num_down.

c7s1-w (reflection pad 3, 7x7 convolution, norm, ReLU); `num_down` 3x3 stride-2 convolutions
(padding 1) doubling the width, each with norm and ReLU; `num_blocks` residual blocks (reflection
pad 1, 3x3 convolution, norm, ReLU, reflection pad 1, 3x3 convolution, norm, plus the input);
`num_down` 2x upsamplings halving the width, each with norm and ReLU; reflection pad 3, 7x7
convolution to the output channels, tanh. Convolutions followed by a norm have no bias, as in
the reference (its InstanceNorm is not affine either; ours learns a scale and bias, pix2pix's
InstanceNorm). One difference: the upsamplings are 4x4 stride-2 transposed convolutions
(`layers.ConvTranspose2x`, the lowering our other generators use) where the reference has 3x3
ones with output padding 1; both map H to 2H.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import InstanceNorm

INIT = nn.initializers.normal(0.02)
NORMS = ("instance", "none")  # No BatchNorm: the recipe calls each G on several batches a step.


def reflect(x, pad: int):
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def check_sides(height: int, width: int, num_down: int) -> None:
    """ValueError naming the size unless both sides divide by 2^num_down and the smallest
    feature map still takes the residual blocks' reflection padding (side >= 2)."""
    if isinstance(num_down, bool) or not isinstance(num_down, int) or num_down < 0:
        raise ValueError(f"num_down must be an int >= 0; got {num_down!r}")
    scale = 2**num_down
    if height % scale or width % scale or min(height, width) // scale < 2:
        raise ValueError(
            f"CycleGAN's ResNet generator with num_down={num_down} needs image sides divisible "
            f"by {scale} and at least {2 * scale}; got {height}x{width}"
        )


class CycleGANGenerator(nn.Module):
    """source [B, H, W, C] -> image [B, H, W, out_channels] float32 in [-1, 1]."""

    out_channels: int
    width: int = 64
    num_blocks: int = 9
    num_down: int = 2
    norm: str = "instance"
    conv_impl: str = "auto"
    dtype: jnp.dtype = jnp.float32

    def _norm(self, h):
        return InstanceNorm(dtype=self.dtype)(h) if self.norm == "instance" else h

    def _conv(self, features: int, kernel: int, h, strides: int = 1, padding="VALID"):
        return nn.Conv(
            features,
            (kernel, kernel),
            strides=strides,
            padding=padding,
            use_bias=self.norm == "none",
            kernel_init=INIT,
            dtype=self.dtype,
        )(h)

    @nn.compact
    def __call__(self, source, train: bool = True):
        del train  # No dropout or batch statistics: the same function in both modes.
        if source.ndim != 4:
            raise ValueError(f"CycleGAN generator expects images [B, H, W, C]; got {source.shape}")
        check_sides(source.shape[1], source.shape[2], self.num_down)
        h = source.astype(self.dtype)
        h = nn.relu(self._norm(self._conv(self.width, 7, reflect(h, 3))))
        for i in range(self.num_down):
            h = self._conv(self.width * 2 ** (i + 1), 3, h, strides=2, padding=((1, 1), (1, 1)))
            h = nn.relu(self._norm(h))
        features = h.shape[-1]
        for _ in range(self.num_blocks):
            r = nn.relu(self._norm(self._conv(features, 3, reflect(h, 1))))
            h = h + self._norm(self._conv(features, 3, reflect(r, 1)))
        for i in reversed(range(self.num_down)):
            h = layers.ConvTranspose2x(
                self.width * 2**i,
                use_bias=self.norm == "none",
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )(h)
            h = nn.relu(self._norm(h))
        h = nn.Conv(self.out_channels, (7, 7), padding="VALID", kernel_init=INIT, dtype=self.dtype)(
            reflect(h, 3)
        )
        return jnp.tanh(h.astype(jnp.float32))


GENERATOR = Architecture(
    defaults=keys(width=64, num_blocks=9, num_down=2, norm="instance"),
    build=lambda cfg, ctx: CycleGANGenerator(
        out_channels=ctx.shape[-1],
        width=cfg.width,
        num_blocks=cfg.num_blocks,
        num_down=cfg.num_down,
        norm=cfg.norm,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "num_blocks": 1},
    check=lambda cfg, shape: check_sides(shape[0], shape[1], cfg.num_down),
    choices={"norm": NORMS},
    minimum={"width": 1, "num_blocks": 0, "num_down": 0},
)
