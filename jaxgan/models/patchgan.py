"""pix2pix's PatchGAN discriminator (Isola et al. 2017): NLayerDiscriminator of
junyanz/pytorch-CycleGAN-and-pix2pix.

A fully convolutional net that classifies every receptive_field(num_layers) square patch of its
input as real or fake (70 x 70 for the default num_layers=3): 4x4 stride-2 convolutions (the
first without norm) with LeakyReLU(0.2), width * min(2^n, 8) channels, then two 4x4 stride-1
convolutions with padding 1 (PyTorch's padding=1), the last to one logit per patch. An H x W
input gives (H / 2^num_layers - 2) x (W / 2^num_layers - 2) logits (sides rounded down at each
halving). The caller concatenates (source, image) on the channel axis: the conditional
discriminator judges pairs.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.unet import NORMS, make_norm

INIT = nn.initializers.normal(0.02)
KERNEL = 4
MAX_WIDTH_MULT = 8


def receptive_field(num_layers: int) -> int:
    """The side of the input square one logit sees: 70 for num_layers=3, 34 for 2, 16 for 1.

    Backwards from one logit: the two stride-1 4x4 convolutions see 7 pixels, and each stride-2
    4x4 convolution maps a field r to 2r + 2, so r = 9 * 2^num_layers - 2."""
    return 9 * 2**num_layers - 2


def patch_grid(height: int, width: int, num_layers: int) -> tuple[int, int]:
    """(h, w) of the logit map, or ValueError naming the size when it is empty."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"PatchGAN num_layers must be an int >= 1; got {num_layers!r}")
    grid = (height // 2**num_layers - 2, width // 2**num_layers - 2)
    if min(grid) < 1:
        raise ValueError(
            f"PatchGAN with num_layers={num_layers} needs image sides >= {3 * 2**num_layers} "
            f"(one patch); got {height}x{width}: use larger images or fewer layers"
        )
    return grid


class PatchGANDiscriminator(nn.Module):
    """x [B, H, W, C] (source and image concatenated) -> logits [B, h, w] float32, one per patch."""

    width: int = 64
    num_layers: int = 3
    norm: str = "batch"
    bn_groups: int = 1
    conv_impl: str = "auto"
    dtype: jnp.dtype = jnp.float32

    def _norm(self):
        return make_norm(self.norm, self.bn_groups, self.dtype)

    def _conv(self, features: int, use_bias: bool):
        """4x4 stride-1 convolution with padding 1 on each side: H -> H - 1."""
        return nn.Conv(
            features,
            (KERNEL, KERNEL),
            padding=((1, 1), (1, 1)),
            use_bias=use_bias,
            kernel_init=INIT,
            dtype=self.dtype,
        )

    @nn.compact
    def __call__(self, x, train: bool = True):
        if x.ndim != 4:
            raise ValueError(f"PatchGAN expects images [B, H, W, C]; got shape {x.shape}")
        patch_grid(x.shape[1], x.shape[2], self.num_layers)
        h = x.astype(self.dtype)
        for n in range(self.num_layers):
            norm = self._norm() if n > 0 else None
            h = layers.Conv2x(
                self.width * min(2**n, MAX_WIDTH_MULT),
                use_bias=norm is None,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )(h)
            h = nn.leaky_relu(norm(h, train) if norm else h, 0.2)
        norm = self._norm()
        h = self._conv(self.width * min(2**self.num_layers, MAX_WIDTH_MULT), norm is None)(h)
        h = nn.leaky_relu(norm(h, train) if norm else h, 0.2)
        return self._conv(1, True)(h)[..., 0].astype(jnp.float32)


DISCRIMINATOR = Architecture(
    defaults=keys(width=64, num_layers=3, norm="batch"),
    build=lambda cfg, ctx: PatchGANDiscriminator(
        width=cfg.width,
        num_layers=cfg.num_layers,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "num_layers": 1},
    check=lambda cfg, shape: patch_grid(shape[0], shape[1], cfg.num_layers),
    choices={"norm": NORMS},
    minimum={"width": 1, "num_layers": 1},
)
