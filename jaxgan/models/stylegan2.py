"""StyleGAN2 (Karras et al. 2020): a mapping network, a skip generator of weight-demodulated
modulated convolutions with per-layer noise, and a residual discriminator with minibatch
standard deviation; every weight at an equalised learning rate.

Images are square, of side 4 * 2^n (n >= 1). Channels at side s: min(width * size / s,
max_width), `width` at the image's own side (StyleGAN2's channel_base / s, capped).

G: z -> (normalise, `mapping_layers` dense layers at learning-rate multiplier `lr_mul`) -> w,
one w per layer ("ws", [N, num_ws, w_dim]); a learned constant 4x4 input; at each side two
modulated 3x3 convolutions (the first after 2x upsampling), each adding noise of a learned
strength, and a modulated 1x1 ToRGB whose output is added to the upsampled image so far (the
skip architecture; linear, clipped to [-1, 1] in inference only). Training mixes styles: with
probability `mixing_prob` a second z's w takes over the layers from a random cut-off on.
Inference: `psi` < 1 truncates w toward the tracked mean w (`w_avg`, moved toward each training
batch's mean w with decay 0.995). Noise is drawn from the 'noise' key in training and is a fixed
per-layer map (drawn at init, kept in the variables) in inference, StyleGAN2's
`noise_mode='const'`, so a latent always makes one image.
D: FromRGB (1x1), then per side a residual block (3x3 conv, 2x downsampling and 3x3 conv, a
1x1 shortcut of the downsampled input, the sum scaled by 1/sqrt(2)) down to 4x4; minibatch std
(`minibatch_std`), a 3x3 conv, a dense layer and the logit.

Resampling is the [1, 3, 3, 1] filter: 2x upsampling is bilinear and 2x downsampling the
box-of-4 triangle that filter makes (StyleGAN2 fuses it into strided and transposed convs; here
the convolutions run at the smaller side either way, which costs the same FLOPs). Activations are
leaky ReLU (0.2) times sqrt(2), as in the paper; G's output is linear, not tanh.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.equalized import (
    SQRT2,
    EqualConv,
    EqualDense,
    channels,
    conv,
    equal_kernel,
    lrelu,
    num_steps,
)

W_AVG = "w_avg"  # Variable collection of the tracked mean w.
NOISE = "noise_const"  # Variable collection of the inference noise maps.


def upsample(x):
    """2x upsampling with the [1, 3, 3, 1] filter (bilinear, edges replicated)."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, 2 * h, 2 * w, c), "linear")


def downsample(x):
    """2x downsampling with the [1, 3, 3, 1] / 8 filter (edges renormalised)."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h // 2, w // 2, c), "linear", antialias=True)


def modulated_conv(x, kernel, styles, demodulate: bool = True, eps: float = 1e-8):
    """Each sample's convolution with the kernel modulated by its styles, w'_kio = s_i w_kio,
    and when demodulating divided per output channel by sqrt(sum_ki w'_kio^2 + eps).

    x [N, H, W, I], kernel [K, K, I, O], styles [N, I]. Computed as one shared convolution of
    the input scaled by the styles, then the output scaled by the demodulation factors: the
    same function as N grouped convolutions, with one large GEMM instead of N small ones."""
    y = conv(x * styles[:, None, None, :].astype(x.dtype), kernel)
    if not demodulate:
        return y
    energy = jnp.einsum("ni,io->no", jnp.square(styles), jnp.sum(jnp.square(kernel), (0, 1)))
    return y * jax.lax.rsqrt(energy + eps)[:, None, None, :].astype(y.dtype)


class Mapping(nn.Module):
    """z -> w: z normalised to unit second moment, then `layers` dense layers (leaky ReLU) at
    learning-rate multiplier `lr_mul`. Tracks the mean w in training; `psi` truncates toward it."""

    w_dim: int
    layers: int = 8
    lr_mul: float = 0.01
    w_avg_beta: float = 0.995
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool, psi: float = 1.0):
        x = z.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), -1, keepdims=True) + 1e-8)
        for _ in range(self.layers):
            x = lrelu(EqualDense(self.w_dim, lr_mul=self.lr_mul, dtype=self.dtype)(x))
        x = x.astype(jnp.float32)
        w_avg = self.variable(W_AVG, "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
        if train and not self.is_initializing():
            mean = jax.lax.stop_gradient(jnp.mean(x, 0))
            w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)
        if psi != 1.0:
            x = w_avg.value + psi * (x - w_avg.value)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (after 2x upsampling when `up`), noise, bias, leaky ReLU."""

    features: int
    up: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, w, train: bool):
        styles = EqualDense(x.shape[-1], bias_init=1.0, dtype=jnp.float32)(w)
        kernel = equal_kernel(self, 3, x.shape[-1], self.features)
        x = upsample(x) if self.up else x
        x = modulated_conv(x.astype(self.dtype), kernel.astype(self.dtype), styles)
        n, h, wd, _ = x.shape
        const = self.variable(
            NOISE, "noise", lambda: jax.random.normal(self.make_rng("params"), (1, h, wd, 1))
        )
        # Training draws fresh noise; inference uses the fixed map ('const').
        noise = jax.random.normal(self.make_rng("noise"), (n, h, wd, 1)) if train else const.value
        strength = self.param("noise_strength", nn.initializers.zeros, ())
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return lrelu(x + (noise * strength + bias).astype(x.dtype))


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation, plus a bias."""

    channels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, w):
        styles = EqualDense(x.shape[-1], bias_init=1.0, dtype=jnp.float32)(w)
        styles = styles / math.sqrt(x.shape[-1])  # The 1x1 kernel's weight gain, on the styles.
        kernel = self.param(
            "kernel", nn.initializers.normal(1.0), (1, 1, x.shape[-1], self.channels)
        )
        y = modulated_conv(x, kernel.astype(x.dtype), styles, demodulate=False)
        return y + self.param("bias", nn.initializers.zeros, (self.channels,)).astype(y.dtype)


def num_ws(side: int) -> int:
    """How many w a G of this side takes: two convs per side above 4, one at 4, and the last
    ToRGB's."""
    return 2 * num_steps(side) + 2


class StyleGAN2Generator(nn.Module):
    shape: tuple  # (H, W, C)
    w_dim: int = 512
    mapping_layers: int = 8
    lr_mul: float = 0.01
    width: int = 64
    max_width: int = 512
    mixing_prob: float = 0.9
    psi: float = 1.0  # Inference truncation toward the mean w; 1 = none.
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        side = self.shape[0]
        n = num_steps(side)
        ch = lambda s: channels(s, side, self.width, self.max_width)
        self.mapping = Mapping(self.w_dim, self.mapping_layers, self.lr_mul, dtype=self.dtype)
        self.const = self.param("const", nn.initializers.normal(1.0), (4, 4, ch(4)))
        sides = [4 * 2**k for k in range(n + 1)]
        self.convs = [SynthesisLayer(ch(4), dtype=self.dtype)] + [
            SynthesisLayer(ch(s), up=first, dtype=self.dtype)
            for s in sides[1:]
            for first in (True, False)
        ]
        self.to_rgbs = [ToRGB(self.shape[-1], dtype=self.dtype) for _ in sides]

    def __call__(self, z, label=None, train: bool = True):
        del label  # Unconditional.
        image = self.synthesize(self.style(z, train), train)
        return image if train else jnp.clip(image, -1.0, 1.0)  # Linear: samples are clipped.

    def style(self, z, train: bool):
        """ws [N, num_ws, w_dim] for latents z [N, z_dim]: mixed in training, truncated by `psi`
        in inference (see the module doc)."""
        count = num_ws(self.shape[0])
        w = self.mapping(z, train, 1.0 if train else self.psi)
        ws = jnp.broadcast_to(w[:, None], (w.shape[0], count, w.shape[-1]))
        if not train or self.mixing_prob <= 0 or self.is_initializing():
            return ws
        key = self.make_rng("noise")
        z_key, cut_key, mix_key = jax.random.split(jax.random.fold_in(key, 1), 3)
        other = self.mapping(jax.random.normal(z_key, z.shape, z.dtype), train=False)
        cut = jax.random.randint(cut_key, (w.shape[0], 1), 1, count)
        mixed = jax.random.uniform(mix_key, (w.shape[0], 1)) < self.mixing_prob
        cut = jnp.where(mixed, cut, count)
        later = jnp.arange(count)[None, :] >= cut
        return jnp.where(later[..., None], other[:, None], ws)

    def synthesize(self, ws, train: bool):
        """Images [N, H, W, C] from ws [N, num_ws, w_dim]."""
        x = jnp.broadcast_to(self.const, (ws.shape[0],) + self.const.shape)
        x = self.convs[0](x, ws[:, 0], train)
        image = self.to_rgbs[0](x, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            x = self.convs[1 + 2 * i](x, ws[:, 1 + 2 * i], train)
            x = self.convs[2 + 2 * i](x, ws[:, 2 + 2 * i], train)
            image = upsample(image) + to_rgb(x, ws[:, 3 + 2 * i])
        return image.astype(jnp.float32)


class DBlock(nn.Module):
    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        skip = EqualConv(self.features, 1, use_bias=False, dtype=self.dtype)(downsample(x))
        h = lrelu(EqualConv(x.shape[-1], 3, dtype=self.dtype)(x))
        h = lrelu(EqualConv(self.features, 3, dtype=self.dtype)(downsample(h)))
        return (skip + h) * (1.0 / SQRT2)


class StyleGAN2Discriminator(nn.Module):
    width: int = 64
    max_width: int = 512
    minibatch_std: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, label=None, train: bool = True):
        del label, train  # Unconditional; no train-mode differences.
        side = x.shape[1]
        n = num_steps(side)
        ch = lambda s: channels(s, side, self.width, self.max_width)
        h = lrelu(EqualConv(ch(side), 1, dtype=self.dtype)(x.astype(self.dtype)))
        for k in range(n):
            h = DBlock(ch(side // 2 ** (k + 1)), dtype=self.dtype)(h)
        h = layers.minibatch_std(h, self.minibatch_std)
        h = lrelu(EqualConv(ch(4), 3, dtype=self.dtype)(h))
        h = lrelu(EqualDense(ch(4), dtype=self.dtype)(h.reshape(h.shape[0], -1)))
        return EqualDense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


def _check(cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"StyleGAN2 needs square images (H, W, C); the data has shape {shape}")
    num_steps(shape[0])
    if "mixing_prob" in cfg and not 0.0 <= cfg.mixing_prob <= 1.0:
        raise ValueError(f"mixing_prob={cfg.mixing_prob} is a probability: choose it in [0, 1]")
    if "lr_mul" in cfg and not cfg.lr_mul > 0:
        raise ValueError(f"lr_mul={cfg.lr_mul} must be > 0 (0.01 is StyleGAN2's)")


GENERATOR = Architecture(
    defaults=keys(
        w_dim=128,
        mapping_layers=8,
        lr_mul=0.01,
        width=64,
        max_width=256,
        mixing_prob=0.9,
        psi=1.0,
    ),
    build=lambda cfg, ctx: StyleGAN2Generator(
        shape=tuple(ctx.shape),
        w_dim=cfg.w_dim,
        mapping_layers=cfg.mapping_layers,
        lr_mul=cfg.lr_mul,
        width=cfg.width,
        max_width=cfg.max_width,
        mixing_prob=cfg.mixing_prob,
        psi=cfg.psi,
        dtype=ctx.dtype,
    ),
    smoke={"w_dim": 8, "mapping_layers": 2, "width": 4, "max_width": 8},
    check=_check,
    minimum={"w_dim": 1, "mapping_layers": 1, "width": 1, "max_width": 1},
)

DISCRIMINATOR = Architecture(
    defaults=keys(width=64, max_width=256, minibatch_std=4),
    build=lambda cfg, ctx: StyleGAN2Discriminator(
        width=cfg.width, max_width=cfg.max_width, minibatch_std=cfg.minibatch_std, dtype=ctx.dtype
    ),
    smoke={"width": 4, "max_width": 8},
    check=_check,
    minimum={"width": 1, "max_width": 1, "minibatch_std": 0},
)
