"""Generator and discriminator registries: name -> constructor(model_config, shape, groups)."""

import jax.numpy as jnp

from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator, pyramid
from jaxgan.models.layers import IMPLS as CONV_IMPLS
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator

NORMS = ("batch", "none")


def _dtype(cfg):
    return jnp.dtype(cfg.dtype)


GENERATORS = {
    "mlp": lambda cfg, shape, groups: MLPGenerator(
        shape=tuple(shape), hidden=tuple(cfg.g_hidden), tanh=len(shape) == 3, dtype=_dtype(cfg)
    ),
    "dcgan": lambda cfg, shape, groups: DCGANGenerator(
        shape=tuple(shape),
        width=cfg.g_width,
        norm=cfg.g_norm,
        bn_groups=groups,
        conv_impl=cfg.conv_impl,
        dtype=_dtype(cfg),
    ),
}

DISCRIMINATORS = {
    "mlp": lambda cfg, shape, groups: MLPDiscriminator(
        hidden=tuple(cfg.d_hidden), dtype=_dtype(cfg)
    ),
    "dcgan": lambda cfg, shape, groups: DCGANDiscriminator(
        width=cfg.d_width,
        norm=cfg.d_norm,
        bn_groups=groups,
        conv_impl=cfg.conv_impl,
        dtype=_dtype(cfg),
    ),
}


def check_shape(model_config, shape) -> None:
    """Raises ValueError when the chosen models cannot produce or read data of this shape."""
    conv = "dcgan" in (model_config.generator, model_config.discriminator)
    if conv and (len(shape) != 3 or shape[0] != shape[1]):
        raise ValueError(f"DCGAN models need square images (H, W, C); the data has shape {shape}")
    if conv:
        pyramid(shape[0])


__all__ = ["GENERATORS", "DISCRIMINATORS", "NORMS", "CONV_IMPLS", "check_shape", "pyramid"]
