"""Progressive GAN (Karras et al. 2018): G and D that grow from 4x4, one resolution per stage,
with pixel norm in G, minibatch standard deviation in D and every weight at an equalised
learning rate.

Both take `stage` s (a Python int: 0 is 4x4, the last is the image's side 4 * 2^n) and `alpha`
in [0, 1] (traced), the fade-in of stage s: G's image is lerp(upsampled ToRGB of stage s - 1,
ToRGB of stage s, alpha), at side 4 * 2^s; D reads an image of that side through lerp(FromRGB of
stage s - 1 on the 2x-pooled image, stage s's block on its own FromRGB, alpha). Every stage's
params exist from the start, so the state keeps one shape while the networks grow.

G: z (pixel-normalised) -> dense to 4x4 -> 3x3 conv; each further stage: 2x nearest upsampling,
two 3x3 convs; each conv followed by leaky ReLU (0.2) and pixel norm. D mirrors it: FromRGB
(1x1), per stage two 3x3 convs and 2x average pooling, then minibatch std, a 3x3 conv, a dense
layer and the logit. Channels as StyleGAN2's: `width` at the image's side, doubling per halving
up to `max_width`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.equalized import EqualConv, EqualDense, channels, lrelu, num_steps
from jaxgan.models.resnet import pool, upsample  # 2x average pooling, 2x nearest upsampling.


def pixel_norm(x):
    """Each pixel's feature vector scaled to unit mean square (ProGAN's local response norm)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + 1e-8)


def fade(old, new, alpha):
    """lerp(old, new, alpha): the new stage blended in."""
    return old + jnp.asarray(alpha, new.dtype) * (new - old)


class ProGANGenerator(nn.Module):
    shape: tuple  # (H, W, C) of the last stage.
    width: int = 64
    max_width: int = 256
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, label=None, train: bool = True, stage: int | None = None, alpha=1.0):
        del label  # Unconditional.
        side, last = self.shape[0], num_steps(self.shape[0])
        stage = last if stage is None else stage
        ch = lambda s: channels(s, side, self.width, self.max_width)
        act = lambda h: pixel_norm(lrelu(h))
        to_rgb = [EqualConv(self.shape[-1], 1, name=f"to_rgb_{4 * 2**k}") for k in range(last + 1)]
        x = pixel_norm(z.astype(jnp.float32)).astype(self.dtype)
        x = act(EqualDense(16 * ch(4), name="dense")(x).reshape(z.shape[0], 4, 4, ch(4)))
        x = act(EqualConv(ch(4), 3, name="conv_4")(x))
        features = [x]
        grown = last if self.is_initializing() else stage  # Init makes every stage's params.
        for k in range(1, grown + 1):
            s = 4 * 2**k
            x = act(EqualConv(ch(s), 3, name=f"conv_{s}_0")(upsample(x)))
            x = act(EqualConv(ch(s), 3, name=f"conv_{s}_1")(x))
            features.append(x)
        if self.is_initializing():
            for k in range(last + 1):
                to_rgb[k](features[k])
        image = to_rgb[stage](features[stage])
        if stage > 0:
            image = fade(upsample(to_rgb[stage - 1](features[stage - 1])), image, alpha)
        image = image.astype(jnp.float32)  # Linear: D sees it unclipped; samples are clipped.
        return image if train else jnp.clip(image, -1.0, 1.0)


class ProGANDiscriminator(nn.Module):
    side: int  # The last stage's image side.
    width: int = 64
    max_width: int = 256
    minibatch_std: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, label=None, train: bool = True, stage: int | None = None, alpha=1.0):
        del label, train
        last = num_steps(self.side)
        stage = last if stage is None else stage
        ch = lambda s: channels(s, self.side, self.width, self.max_width)
        sides = [4 * 2**k for k in range(last + 1)]
        from_rgb = [EqualConv(ch(s), 1, name=f"from_rgb_{s}") for s in sides]

        def block(k, h):  # Stage k's two convs and pooling: side 4 * 2^k -> half.
            s = 4 * 2**k
            h = lrelu(EqualConv(ch(s), 3, name=f"conv_{s}_0")(h))
            return pool(lrelu(EqualConv(ch(s // 2), 3, name=f"conv_{s}_1")(h)))

        x = x.astype(self.dtype)
        if self.is_initializing():  # Every stage's params, whatever side the init image has.
            h = lrelu(from_rgb[last](jnp.zeros((1, self.side, self.side, x.shape[-1]), x.dtype)))
            for k in range(last, 0, -1):
                from_rgb[k - 1](jnp.zeros((1, h.shape[1] // 2, h.shape[2] // 2, x.shape[-1])))
                h = block(k, h)
        else:
            h = lrelu(from_rgb[stage](x))
            if stage > 0:
                h = fade(lrelu(from_rgb[stage - 1](pool(x))), block(stage, h), alpha)
            for k in range(stage - 1, 0, -1):
                h = block(k, h)
        h = layers.minibatch_std(h, self.minibatch_std)
        h = lrelu(EqualConv(ch(4), 3, name="conv_4")(h))
        h = lrelu(EqualDense(ch(4), name="dense")(h.reshape(h.shape[0], -1)))
        return EqualDense(1, name="logit")(h)[:, 0].astype(jnp.float32)


def _check(cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"ProGAN needs square images (H, W, C); the data has shape {shape}")
    num_steps(shape[0])


GENERATOR = Architecture(
    defaults=keys(width=64, max_width=256),
    build=lambda cfg, ctx: ProGANGenerator(
        shape=tuple(ctx.shape), width=cfg.width, max_width=cfg.max_width, dtype=ctx.dtype
    ),
    smoke={"width": 4, "max_width": 8},
    check=_check,
    minimum={"width": 1, "max_width": 1},
)

DISCRIMINATOR = Architecture(
    defaults=keys(width=64, max_width=256, minibatch_std=4),
    build=lambda cfg, ctx: ProGANDiscriminator(
        side=ctx.shape[0],
        width=cfg.width,
        max_width=cfg.max_width,
        minibatch_std=cfg.minibatch_std,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "max_width": 8},
    check=_check,
    minimum={"width": 1, "max_width": 1, "minibatch_std": 0},
)
