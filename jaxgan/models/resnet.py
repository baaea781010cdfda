"""Residual G and D in the style of SNGAN (Miyato et al. 2018) and BigGAN (Brock et al. 2019), for
square images of side base * 2^n with base 4 or 7 (28 = 7 * 2^2 starts at 7x7; 32, 64 at 4x4).

G: z -> dense to base x base -> n stages of residual up-blocks, each doubling the side -> BN,
ReLU, 3x3 conv -> tanh. An up-block is BN, ReLU, 2x nearest upsampling, 3x3 conv, BN, ReLU, 3x3
conv, plus a shortcut (1x1 conv and upsampling).
D: n stages of residual down-blocks, each halving the side (the first is SNGAN's "optimised"
block: no ReLU before its first conv), ReLU, a sum over positions, dense to one logit. A
down-block is ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pooling, plus a shortcut (pooling and
1x1 conv). Upsampling and pooling commute with a 1x1 conv, so shortcuts convolve at the smaller
side.

Keys:
- `width`: channels. G's maps of side base * 2^k have width * 2^(n - k) channels (widest at
  base, `width` at the image); D's stage k (side size / 2^k) has width * 2^(k - 1).
- `depth`: residual blocks per resolution. The first block of each stage changes the side,
  depth - 1 more keep it (identity shortcut). 1 is SNGAN's and BigGAN's G.
- `norm` (G): 'batch' or 'none'. D has no normalisation besides spectral norm.
- `spectral_norm`: every conv, dense and projection-embedding weight divided by its largest
  singular value (layers.spectral_norm). D's default is on (SNGAN), G's off (BigGAN turns it on).
- `attention`: the side of the stage after whose blocks a self-attention block (SAGAN, Zhang
  et al. 2019) is inserted; 0 = none.
- `conditioning`: G 'cbn' is conditional BatchNorm in every block (Miyato & Koyama 2018);
  'biggan' splits z into one chunk per block plus one for the dense layer and gives each block
  the chunk concatenated with a shared class embedding (`embed_dim`), from which linear layers
  make that block's BatchNorm gains (1 + .) and biases (hierarchical latents). D 'projection'
  adds <embed(y), h> to the logit (Miyato & Koyama 2018). G's last BatchNorm stays plain in
  both, as in the papers.

`conv_impl` does not apply: every conv here has stride 1.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import architecture, layers
from jaxgan.models.architecture import Architecture, keys
from jaxgan.models.dcgan import pyramid
from jaxgan.models.norms import BatchNorm

INIT = nn.initializers.xavier_uniform()  # SNGAN's Glorot uniform.
NORMS = ("batch", "none")
G_CONDITIONING = ("none", "cbn", "biggan")
D_CONDITIONING = ("none", "projection")


def upsample(x):
    """Nearest-neighbour 2x: [N, H, W, C] -> [N, 2H, 2W, C]."""
    n, h, w, c = x.shape
    return jnp.broadcast_to(x[:, :, None, :, None], (n, h, 2, w, 2, c)).reshape(n, 2 * h, 2 * w, c)


def pool(x):
    """2x2 average pooling as a reshape and mean (XLA:CPU runs reduce_window slowly)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean((2, 4))


def latent_chunks(side: int, depth: int) -> int:
    """How many chunks BigGAN's hierarchical latents split z into: one per G block, one for
    the dense layer."""
    return pyramid(side)[1] * depth + 1


def _conv(features, size, dtype, use_bias=True):
    return nn.Conv(
        features, (size, size), padding="SAME", use_bias=use_bias, kernel_init=INIT, dtype=dtype
    )


class SelfAttention(nn.Module):
    """SAGAN's self-attention over all positions: x + gamma * o, gamma learned from 0, so the
    block starts as the identity. Queries and keys have C/8 channels, values C/2 (BigGAN's)."""

    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        n, h, w, c = x.shape
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        proj = lambda f, t: sn(nn.Dense(f, use_bias=False, kernel_init=INIT, dtype=self.dtype))(t)
        flat = x.reshape(n, h * w, c)
        query, key = proj(max(c // 8, 1), flat), proj(max(c // 8, 1), flat)
        value = proj(max(c // 2, 1), flat)
        logits = jnp.einsum("nqc,nkc->nqk", query, key).astype(jnp.float32)
        weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
        out = proj(c, jnp.einsum("nqk,nkc->nqc", weights, value)).reshape(x.shape)
        gamma = self.param("gamma", nn.initializers.zeros, (), jnp.float32)
        return x + (gamma * out).astype(x.dtype)


class GBlock(nn.Module):
    """Pre-activation residual block of G; `up` doubles the side. `cond` (BigGAN): [N, D] per
    example, from which each BatchNorm gets its gain and bias; `label` (cbn): the class."""

    features: int
    up: bool = True
    norm: str = "batch"
    bn_groups: int = 1
    num_classes: int = 0  # > 0: conditional BatchNorm (cbn).
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool, label=None, cond=None):
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)

        def norm_act(h):
            if self.norm == "none":
                return nn.relu(h)
            if cond is None:
                bn = BatchNorm(self.bn_groups, self.num_classes, dtype=self.dtype)
                return nn.relu(bn(h, train, label))
            h = BatchNorm(self.bn_groups, dtype=self.dtype, affine=False)(h, train)
            c = h.shape[-1]
            gain = sn(nn.Dense(c, kernel_init=INIT, dtype=self.dtype))(cond)[:, None, None]
            shift = sn(nn.Dense(c, kernel_init=INIT, dtype=self.dtype))(cond)[:, None, None]
            return nn.relu(h * (1 + gain) + shift)

        # Every conv output here reaches a BatchNorm (this block's, the next block's or G's
        # last) before anything else, which removes a bias: only a G without norms has them.
        bias = self.norm == "none"
        h = norm_act(x)
        h = upsample(h) if self.up else h
        h = sn(_conv(self.features, 3, self.dtype, bias))(h)
        h = sn(_conv(self.features, 3, self.dtype, bias))(norm_act(h))
        if self.up or x.shape[-1] != self.features:
            x = sn(_conv(self.features, 1, self.dtype, bias))(x)
        return h + (upsample(x) if self.up else x)


class DBlock(nn.Module):
    """Residual block of D; `down` halves the side. `first`: SNGAN's optimised block on the
    image (no ReLU before its first conv)."""

    features: int
    down: bool = True
    first: bool = False
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        h = x if self.first else nn.relu(x)
        h = sn(_conv(self.features, 3, self.dtype))(h)
        h = sn(_conv(self.features, 3, self.dtype))(nn.relu(h))
        h = pool(h) if self.down else h
        x = pool(x) if self.down else x
        if self.down or x.shape[-1] != self.features:  # (h's last conv has the bias.)
            x = sn(_conv(self.features, 1, self.dtype, use_bias=False))(x)
        return h + x


class ResNetGenerator(nn.Module):
    shape: tuple  # (H, W, C)
    width: int = 64
    depth: int = 1
    norm: str = "batch"
    bn_groups: int = 1
    spectral_norm: bool = False
    attention: int = 0
    conditioning: str = "none"  # One of G_CONDITIONING.
    num_classes: int = 0
    embed_dim: int = 128  # BigGAN's shared class embedding.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, label=None, train: bool = True):
        architecture.need_label(label, self.conditioning, self.num_classes)
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        base, n = pyramid(self.shape[0])
        h = z.astype(self.dtype)
        conds = [None] * (n * self.depth)
        if self.conditioning == "biggan":
            slots = latent_chunks(self.shape[0], self.depth)
            if z.shape[-1] < slots:
                raise ValueError(
                    f"conditioning='biggan' splits z into {slots} chunks (one per block and one "
                    f"for the dense layer): z has {z.shape[-1]} dims; use gan.z_dim >= {slots}"
                )
            h, *chunks = jnp.array_split(h, slots, axis=-1)
            table = self.param(
                "shared_embedding",
                nn.initializers.normal(1.0),
                (self.num_classes, self.embed_dim),
                jnp.float32,
            )
            shared = (layers.class_weights(label, self.num_classes) @ table).astype(self.dtype)
            conds = [jnp.concatenate([shared, c], -1) for c in chunks]
        channels = self.width * 2**n
        bias = self.norm == "none"  # Else the first block's BatchNorm removes it.
        dense = nn.Dense(base * base * channels, use_bias=bias, kernel_init=INIT, dtype=self.dtype)
        h = sn(dense)(h)
        h = h.reshape((z.shape[0], base, base, channels))
        cbn_classes = self.num_classes if self.conditioning == "cbn" else 0
        for stage in range(1, n + 1):
            for i in range(self.depth):
                h = GBlock(
                    self.width * 2 ** (n - stage),
                    up=i == 0,
                    norm=self.norm,
                    bn_groups=self.bn_groups,
                    num_classes=cbn_classes,
                    spectral_norm=self.spectral_norm,
                    dtype=self.dtype,
                )(h, train, label, conds[(stage - 1) * self.depth + i])
            if h.shape[1] == self.attention:
                h = SelfAttention(spectral_norm=self.spectral_norm, dtype=self.dtype)(h, train)
        if self.norm == "batch":
            h = BatchNorm(self.bn_groups, dtype=self.dtype)(h, train)
        h = sn(_conv(self.shape[-1], 3, self.dtype))(nn.relu(h))
        return jnp.tanh(h.astype(jnp.float32))


class ResNetDiscriminator(nn.Module):
    width: int = 64
    depth: int = 1
    spectral_norm: bool = True
    attention: int = 0
    conditioning: str = "none"  # One of D_CONDITIONING.
    num_classes: int = 0
    minibatch_std: int = 0  # Group size of layers.minibatch_std before the last stage; 0 = off.
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, label=None, train: bool = True):
        architecture.need_label(label, self.conditioning, self.num_classes)
        sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
        _, n = pyramid(x.shape[1])
        h = x.astype(self.dtype)
        for stage in range(1, n + 1):
            if stage == n:  # ProGAN's place: the input of D's last block.
                h = layers.minibatch_std(h, self.minibatch_std)
            for i in range(self.depth):
                block = DBlock(
                    self.width * 2 ** (stage - 1),
                    down=i == 0,
                    first=stage == 1 and i == 0,
                    spectral_norm=self.spectral_norm,
                    dtype=self.dtype,
                )
                h = block(h, train)
            if h.shape[1] == self.attention:
                h = SelfAttention(spectral_norm=self.spectral_norm, dtype=self.dtype)(h, train)
        h = jnp.sum(nn.relu(h), axis=(1, 2))
        logit = sn(nn.Dense(1, kernel_init=INIT, dtype=self.dtype))(h)[:, 0]
        if self.conditioning == "projection":
            embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=INIT, dtype=self.dtype)
            logit = logit + jnp.sum(sn(embed)(label) * h, axis=-1)
        return logit.astype(jnp.float32)


def _check(role: str, cfg, shape) -> None:
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"ResNet models need square images (H, W, C); the data has shape {shape}")
    base, n = pyramid(shape[0])
    sides = (
        [base * 2**k for k in range(1, n + 1)] if role == "g" else [base * 2**k for k in range(n)]
    )
    if cfg.attention and cfg.attention not in sides:
        raise ValueError(
            f"model.{role}.attention={cfg.attention}: self-attention goes after the blocks of one "
            f"side; for {shape[0]}x{shape[0]} images choose one of {sides}, or 0 for none"
        )
    if role == "g" and cfg.conditioning in ("cbn", "biggan") and cfg.norm != "batch":
        raise ValueError(
            f"model.g.conditioning={cfg.conditioning!r} conditions G's BatchNorm layers and needs "
            f"model.g.norm='batch' (got {cfg.norm!r})"
        )


GENERATOR = Architecture(
    defaults=keys(
        width=64,
        depth=1,
        norm="batch",
        spectral_norm=False,
        attention=0,
        conditioning="none",
        embed_dim=128,
    ),
    build=lambda cfg, ctx: ResNetGenerator(
        shape=tuple(ctx.shape),
        width=cfg.width,
        depth=cfg.depth,
        norm=cfg.norm,
        bn_groups=ctx.groups,
        spectral_norm=cfg.spectral_norm,
        attention=cfg.attention,
        conditioning=cfg.conditioning,
        num_classes=architecture.classes(cfg, ctx),
        embed_dim=cfg.embed_dim,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4, "embed_dim": 4},
    check=lambda cfg, shape: _check("g", cfg, shape),
    takes_labels=lambda cfg: cfg.conditioning != "none",
    choices={"norm": NORMS, "conditioning": G_CONDITIONING},
    minimum={"width": 1, "depth": 1, "attention": 0, "embed_dim": 1},
)


DISCRIMINATOR = Architecture(
    defaults=keys(
        width=64,
        depth=1,
        spectral_norm=True,
        attention=0,
        conditioning="none",
        minibatch_std=0,
    ),
    build=lambda cfg, ctx: ResNetDiscriminator(
        width=cfg.width,
        depth=cfg.depth,
        spectral_norm=cfg.spectral_norm,
        attention=cfg.attention,
        conditioning=cfg.conditioning,
        num_classes=architecture.classes(cfg, ctx),
        minibatch_std=cfg.minibatch_std,
        dtype=ctx.dtype,
    ),
    smoke={"width": 4},
    check=lambda cfg, shape: _check("d", cfg, shape),
    takes_labels=lambda cfg: cfg.conditioning != "none",
    choices={"conditioning": D_CONDITIONING},
    minimum={"width": 1, "depth": 1, "attention": 0, "minibatch_std": 0},
)
