"""The VAE's encoder q(z | x): the DCGAN discriminator's body with a Gaussian head.

Stride-2 convolutions (k=4) doubling the channels from `width`, LeakyReLU(0.2), no
normalisation on the first layer (as DCGAN's D), then one dense layer from the flattened
features to the mean and log-variance of z. Registered as the 'dcgan_encoder' entry of the
discriminator registry: config.model.d is the second network a recipe trains, here the encoder.
The latent size is the recipe's (`vae.z_dim`), not an architecture key: the registry builds the
body with `z_dim=0` and the recipe sets it (`module.clone(z_dim=...)`).
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import dcgan, layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import BatchNorm


class DCGANEncoder(nn.Module):
    width: int = 64
    norm: str = "none"
    bn_groups: int = 1
    conv_impl: str = "auto"
    z_dim: int = 0  # Set by the recipe.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = True):
        """x [N, H, W, C] in [-1, 1] -> (mean, log-variance), each [N, z_dim] float32."""
        if self.z_dim < 1:
            raise ValueError(f"DCGANEncoder needs z_dim >= 1 (got {self.z_dim})")
        _, n = dcgan.pyramid(x.shape[1])
        h = x.astype(self.dtype)
        for i in range(n):
            norm = self.norm == "batch" and i > 0
            h = layers.Conv2x(
                self.width * 2**i,
                use_bias=not norm,
                impl=self.conv_impl,
                kernel_init=dcgan.INIT,
                dtype=self.dtype,
            )(h)
            if norm:
                h = BatchNorm(groups=self.bn_groups, dtype=self.dtype)(h, train)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape((h.shape[0], -1))
        out = nn.Dense(2 * self.z_dim, kernel_init=dcgan.INIT, dtype=self.dtype)(h)
        mean, logvar = jnp.split(out.astype(jnp.float32), 2, axis=-1)
        return mean, logvar


def _check(cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"the DCGAN encoder needs square images (H, W, C); the data has {shape}")
    dcgan.pyramid(shape[0])


ENCODER = Architecture(
    defaults=keys(width=64, norm="none"),
    build=lambda cfg, ctx: DCGANEncoder(
        width=cfg.width,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=_check,
    choices={"norm": dcgan.NORMS},
    minimum={"width": 1},
)
