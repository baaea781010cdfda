"""DCGAN (Radford et al. 2016) for square images of side base * 2^n, base 4 or 7 (28, 32, 64, ...).

G: z -> dense to base x base x (g_width * 2^(n-1)) -> n stride-2 transposed convolutions (k=4),
halving the channels each time, to the image; BatchNorm + ReLU inside, tanh out.
D mirrors it with stride-2 convolutions and LeakyReLU(0.2), no normalisation on its first layer,
and a dense layer from base x base to one logit (Radford's final 4x4 valid convolution).

Class-conditional variants (`conditioning`), for labelled data:
- G 'concat': the one-hot label joins z (Mirza & Osindero 2014); 'cbn': conditional BatchNorm,
  a scale and bias per class in every BatchNorm layer (Miyato & Koyama 2018's generator).
- D 'concat': one-hot label planes join the image's channels; 'projection': the logit gains
  <embed(y), h> over D's last features h (Miyato & Koyama 2018); 'acgan': D also outputs class
  logits [N, 1 + classes] for AC-GAN's auxiliary classifier loss (Odena et al. 2017).

D's `minibatch_std` appends ProGAN's minibatch standard deviation as one more feature map of its
last convolution's output (`layers.minibatch_std`).

`spectral_norm` (G or D) divides every dense, convolution and embedding weight by its largest
singular value (Miyato et al. 2018; `layers.spectral_norm`): usually D's, SNGAN's way of keeping
it 1-Lipschitz layer by layer, without a gradient penalty.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import architecture, layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.norms import BatchNorm

INIT = nn.initializers.normal(0.02)
NORMS = ("batch", "none")
G_CONDITIONING = ("none", "concat", "cbn")
D_CONDITIONING = ("none", "concat", "projection", "acgan")


def pyramid(size: int) -> tuple[int, int]:
    """(base, n) with size == base * 2**n, base in (4, 7), n >= 1."""
    for base in (7, 4):
        n = 0
        while base * 2**n < size:
            n += 1
        if base * 2**n == size and n >= 1:
            return base, n
    raise ValueError(
        f"DCGAN needs a square image side of 4 * 2^n or 7 * 2^n (e.g. 28, 32, 64, 128); got {size}"
    )


def _norm(kind, groups, dtype, num_classes=0):
    if kind != "batch":
        return None
    return BatchNorm(groups=groups, num_classes=num_classes, dtype=dtype)


class DCGANGenerator(nn.Module):
    shape: tuple  # (H, W, C)
    width: int = 64
    norm: str = "batch"
    bn_groups: int = 1
    conv_impl: str = "auto"
    conditioning: str = "none"  # One of G_CONDITIONING.
    num_classes: int = 0
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, label=None, train: bool = True):
        architecture.need_label(label, self.conditioning, self.num_classes)
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        base, n = pyramid(self.shape[0])
        bias = self.norm == "none"
        channels = self.width * 2 ** (n - 1)
        h = z.astype(self.dtype)
        if self.conditioning == "concat":
            h = jnp.concatenate([h, layers.class_weights(label, self.num_classes, self.dtype)], -1)
        dense = nn.Dense(base * base * channels, use_bias=bias, kernel_init=INIT, dtype=self.dtype)
        h = sn(dense)(h)
        h = h.reshape((z.shape[0], base, base, channels))
        classes = self.num_classes if self.conditioning == "cbn" else 0
        for i in range(n):
            norm = _norm(self.norm, self.bn_groups, self.dtype, classes)
            h = nn.relu(norm(h, train, label) if norm else h)
            last = i == n - 1
            channels = self.shape[-1] if last else channels // 2
            up = layers.ConvTranspose2x(
                channels,
                use_bias=bias or last,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )
            h = sn(up)(h)
        return jnp.tanh(h.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
    width: int = 64
    norm: str = "none"
    bn_groups: int = 1
    conv_impl: str = "auto"
    conditioning: str = "none"  # One of D_CONDITIONING.
    num_classes: int = 0
    spectral_norm: bool = False
    minibatch_std: int = 0  # Group size of layers.minibatch_std on the last features; 0 = off.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, label=None, train: bool = True):
        _, n = pyramid(x.shape[1])
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        needs_label = self.conditioning in ("concat", "projection")
        conditioning = self.conditioning if needs_label else "none"
        architecture.need_label(label, conditioning, self.num_classes)
        h = x.astype(self.dtype)
        planes = None  # 'concat': one-hot label planes join the first layer's input channels.
        if self.conditioning == "concat":
            planes = layers.class_weights(label, self.num_classes, self.dtype)
        for i in range(n):
            norm = _norm(self.norm, self.bn_groups, self.dtype) if i > 0 else None
            down = layers.Conv2x(
                self.width * 2**i,
                use_bias=norm is None,
                impl=self.conv_impl,
                kernel_init=INIT,
                dtype=self.dtype,
            )
            h = sn(down)(h, planes if i == 0 else None)
            h = nn.leaky_relu(norm(h, train) if norm else h, 0.2)
        h = layers.minibatch_std(h, self.minibatch_std)
        h = h.reshape((h.shape[0], -1))
        logit = sn(nn.Dense(1, kernel_init=INIT, dtype=self.dtype))(h)[:, 0]
        if self.conditioning == "projection":
            embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=INIT, dtype=self.dtype)
            logit = logit + jnp.sum(sn(embed)(label) * h, axis=-1)
        if self.conditioning == "acgan":
            classes = sn(nn.Dense(self.num_classes, kernel_init=INIT, dtype=self.dtype))(h)
            return jnp.concatenate([logit[:, None], classes], -1).astype(jnp.float32)
        return logit.astype(jnp.float32)


def _square_pyramid(cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"DCGAN models need square images (H, W, C); the data has shape {shape}")
    pyramid(shape[0])


def _check_generator(cfg, shape) -> None:
    _square_pyramid(cfg, shape)
    if cfg.conditioning == "cbn" and cfg.norm != "batch":
        raise ValueError(
            f"model.g.conditioning='cbn' is conditional BatchNorm and needs model.g.norm='batch' "
            f"(got {cfg.norm!r})"
        )


GENERATOR = Architecture(
    defaults=keys(width=64, norm="batch", conditioning="none", spectral_norm=False),
    build=lambda cfg, ctx: DCGANGenerator(
        shape=tuple(ctx.shape),
        width=cfg.width,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        conditioning=cfg.conditioning,
        num_classes=architecture.classes(cfg, ctx),
        spectral_norm=cfg.spectral_norm,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=_check_generator,
    takes_labels=lambda cfg: cfg.conditioning != "none",
    choices={"norm": NORMS, "conditioning": G_CONDITIONING},
    minimum={"width": 1},
)


DISCRIMINATOR = Architecture(
    defaults=keys(width=64, norm="none", conditioning="none", spectral_norm=False, minibatch_std=0),
    build=lambda cfg, ctx: DCGANDiscriminator(
        width=cfg.width,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        conv_impl=ctx.conv_impl,
        conditioning=cfg.conditioning,
        num_classes=architecture.classes(cfg, ctx),
        spectral_norm=cfg.spectral_norm,
        minibatch_std=cfg.minibatch_std,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=_square_pyramid,
    takes_labels=lambda cfg: cfg.conditioning in ("concat", "projection"),
    classifies=lambda cfg: cfg.conditioning == "acgan",
    choices={"norm": NORMS, "conditioning": D_CONDITIONING},
    minimum={"width": 1, "minibatch_std": 0},
)
