"""Architecture registries: name -> Architecture (jaxgan.models.architecture).

`config.model.g` and `config.model.d` each hold `name` and that architecture's own keys (its
`defaults()`), passed to its constructor; the keys every architecture shares (dtype, bn_mode,
conv_impl) sit in `config.model` itself. Which architectures fit which recipe is the recipe's
business (its GENERATORS / DISCRIMINATORS). Each model module defines its GENERATOR and/or
DISCRIMINATOR entry next to its flax modules.
"""

import flax.linen as nn
import ml_collections

from jaxgan.models import (
    cyclegan,
    dcgan,
    keras_dcgan,
    mlp,
    patchgan,
    progan,
    resnet,
    srresnet,
    stylegan2,
    unet,
)
from jaxgan.models import vae as vae_models
from jaxgan.models.architecture import Architecture, Context
from jaxgan.models.dcgan import pyramid
from jaxgan.models.layers import IMPLS as CONV_IMPLS

GENERATORS = {
    "dcgan": dcgan.GENERATOR,
    "mlp": mlp.GENERATOR,
    "unet": unet.GENERATOR,
    "resnet": resnet.GENERATOR,
    "keras_dcgan": keras_dcgan.GENERATOR,
    "cyclegan_resnet": cyclegan.GENERATOR,
    "srresnet": srresnet.GENERATOR,
    "stylegan2": stylegan2.GENERATOR,
    "progan": progan.GENERATOR,
}
DISCRIMINATORS = {
    "dcgan": dcgan.DISCRIMINATOR,
    "mlp": mlp.DISCRIMINATOR,
    "patchgan": patchgan.DISCRIMINATOR,
    "resnet": resnet.DISCRIMINATOR,
    "keras_dcgan": keras_dcgan.DISCRIMINATOR,
    "stylegan2": stylegan2.DISCRIMINATOR,
    "progan": progan.DISCRIMINATOR,
    "dcgan_encoder": vae_models.ENCODER,  # The VAE recipe's encoder q(z | x).
}
REGISTRIES = {"g": GENERATORS, "d": DISCRIMINATORS}


def model_config(role: str, name: str, **keys) -> ml_collections.ConfigDict:
    """`config.model.<role>` for architecture `name`: its defaults, then `keys`."""
    cfg = REGISTRIES[role][name].defaults()
    cfg.update(keys)
    cfg.name = name
    return cfg


def architecture(role: str, cfg: ml_collections.ConfigDict) -> Architecture:
    return REGISTRIES[role][cfg.name]


def build(role: str, cfg: ml_collections.ConfigDict, ctx: Context) -> nn.Module:
    """The flax module of `config.model.<role>` (role 'g' or 'd'), shape-checked."""
    arch = architecture(role, cfg)
    arch.check(cfg, tuple(ctx.shape))
    return arch.build(cfg, ctx)


__all__ = [
    "CONV_IMPLS",
    "DISCRIMINATORS",
    "GENERATORS",
    "REGISTRIES",
    "Architecture",
    "Context",
    "architecture",
    "build",
    "model_config",
    "pyramid",
]
