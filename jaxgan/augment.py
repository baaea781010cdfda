"""What D sees: differentiable augmentation (DiffAugment) and instance noise, inside the step.

DiffAugment (Zhao et al. 2020) transforms every image D sees, real and fake, in D's update and
in G's, so that D cannot memorise a small training set while G still gets gradients through the
transform. The three transforms and their constants are the paper's (images in [-1, 1]):
- color: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the per-pixel channel mean;
  contrast x U(0.5, 1.5) around the image mean;
- translation: an integer shift of up to 1/8 of each side, per axis, uncovered pixels 0;
- cutout: a zero square of half the side, its centre anywhere on the image.
Each sample draws its own parameters. A call takes a tuple of images of the same height and
width (pix2pix's source and image) and applies the same parameters to all of them, so a pair
stays a pair.

ADA (jaxgan.ada, Karras et al. 2020): a pipeline of transforms applied with a probability p
that the GAN recipe keeps in its state and adapts to how much D overfits (`augment.ada`).

Instance noise (Sønderby et al. 2017): Gaussian noise added to every input of D, its std
decaying linearly from `augment.noise_std` to 0 at step `augment.noise_decay_steps`.
"""

import jax
import jax.numpy as jnp

from jaxgan import ada

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> tuple:
    """'color,translation' -> ('color', 'translation'); '' -> ()."""
    return tuple(p.strip() for p in policy.split(",") if p.strip())


def _uniform(rng, n: int, low: float, high: float):
    return jax.random.uniform(rng, (n, 1, 1, 1), jnp.float32, low, high)


def color(images: tuple, rng) -> tuple:
    n = images[0].shape[0]
    b_rng, s_rng, c_rng = jax.random.split(rng, 3)
    brightness, saturation = _uniform(b_rng, n, -0.5, 0.5), _uniform(s_rng, n, 0.0, 2.0)
    contrast = _uniform(c_rng, n, 0.5, 1.5)

    def one(x):
        x = x + brightness
        mean = jnp.mean(x, axis=-1, keepdims=True)
        x = (x - mean) * saturation + mean
        mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * contrast + mean

    return tuple(one(x) for x in images)


def _shift_matrices(shift, size: int):
    """[N, size, size] one-hot rows: row r picks input r + shift (all zero when out of range)."""
    rows = jnp.arange(size)[None, :, None] + shift[:, None, None]
    return (rows == jnp.arange(size)[None, None, :]).astype(jnp.float32)


def translation(images: tuple, rng) -> tuple:
    n, height, width = images[0].shape[:3]
    y_rng, x_rng = jax.random.split(rng)
    dy, dx = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
    rows = _shift_matrices(jax.random.randint(y_rng, (n,), -dy, dy + 1), height)
    cols = _shift_matrices(jax.random.randint(x_rng, (n,), -dx, dx + 1), width)
    # Shifts as one-hot matmuls: cheap for GAN image sizes, and their gradient is a matmul too.
    shift = lambda x: jnp.einsum("nij,njkc,nlk->nilc", rows, x.astype(jnp.float32), cols)
    return tuple(shift(x).astype(x.dtype) for x in images)


def _cut_span(centre, size: int, side: int):
    """[N, side] 1 outside the cut, 0 inside [centre - size // 2, centre - size // 2 + size)."""
    start = centre[:, None] - size // 2
    idx = jnp.arange(side)[None, :]
    return ((idx < start) | (idx >= start + size)).astype(jnp.float32)


def cutout(images: tuple, rng) -> tuple:
    n, height, width = images[0].shape[:3]
    y_rng, x_rng = jax.random.split(rng)
    hy, hx = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    # The paper's offsets: 0 .. side (inclusive for even cut sizes), the cut clipped at borders.
    cy = jax.random.randint(y_rng, (n,), 0, height + (1 - hy % 2))
    cx = jax.random.randint(x_rng, (n,), 0, width + (1 - hx % 2))
    keep_rows, keep_cols = _cut_span(cy, hy, height), _cut_span(cx, hx, width)
    mask = 1.0 - (1.0 - keep_rows[:, :, None]) * (1.0 - keep_cols[:, None, :])
    return tuple(x * mask[..., None].astype(x.dtype) for x in images)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diffaugment(images: tuple, rng, policy: tuple) -> tuple:
    """The policy's transforms, in the paper's order (color, translation, cutout)."""
    for i, name in enumerate(p for p in POLICIES if p in policy):
        images = TRANSFORMS[name](images, jax.random.fold_in(rng, i))
    return images


def noise_std(config, step) -> jax.Array:
    """Instance noise std at `step`: linear decay to 0 at augment.noise_decay_steps."""
    a = config.augment
    progress = jnp.asarray(step, jnp.float32) / a.noise_decay_steps
    return a.noise_std * jnp.maximum(0.0, 1.0 - progress)


def d_view(images: tuple, rng, step, config, ada_p=None) -> tuple:
    """The images as D sees them at `step`: DiffAugment or ADA (at probability `ada_p`), then
    instance noise (each only when configured; unchanged otherwise)."""
    policy = parse_policy(config.augment.diffaugment)
    if policy:
        images = diffaugment(images, jax.random.fold_in(rng, 0), policy)
    if config.augment.ada != "off":
        ops = ada.parse_ops(config.augment.ada_ops)
        images = ada.augment(images, jax.random.fold_in(rng, 2), ada_p, ops)
    if config.augment.noise_std > 0:
        std = noise_std(config, step)
        keys = jax.random.split(jax.random.fold_in(rng, 1), len(images))
        noisy = zip(images, keys, strict=True)
        images = tuple(x + std * jax.random.normal(k, x.shape, x.dtype) for x, k in noisy)
    return images


def default_config():
    import ml_collections

    c = ml_collections.ConfigDict()
    c.diffaugment = ""  # Comma-separated subset of POLICIES, e.g. 'color,translation,cutout'.
    c.noise_std = 0.0  # Instance noise std at step 0; 0 = off.
    c.noise_decay_steps = 2000  # Step at which the instance noise std reaches 0.
    # ADA (jaxgan.ada; GAN recipe): 'off', 'adaptive' (p starts at ada_p and follows the
    # overfitting heuristic toward ada_target) or 'fixed' (p = ada_p throughout).
    c.ada = "off"
    c.ada_p = 0.0
    c.ada_target = 0.6
    c.ada_kimg = 500.0  # Thousands of real images over which p can move from 0 to 1.
    c.ada_ops = "blit,geom,color"  # Comma-separated subset of ada.GROUPS (the paper's 'bgc').
    return c


def validate(config) -> None:
    from jaxgan.config import ConfigError

    a = config.augment
    unknown = [p for p in parse_policy(a.diffaugment) if p not in POLICIES]
    if unknown:
        raise ConfigError(
            f"augment.diffaugment={a.diffaugment!r} has unknown transform(s) {unknown}: use a "
            f"comma-separated subset of {', '.join(POLICIES)}"
        )
    if a.ada not in ada.MODES:
        raise ConfigError(f"augment.ada={a.ada!r} is not one of {', '.join(ada.MODES)}")
    ops = ada.parse_ops(a.ada_ops)
    if not ops or any(o not in ada.GROUPS for o in ops):
        raise ConfigError(
            f"augment.ada_ops={a.ada_ops!r}: use a comma-separated subset of "
            f"{', '.join(ada.GROUPS)}"
        )
    if not 0.0 < a.ada_target < 1.0:
        raise ConfigError(
            f"augment.ada_target={a.ada_target!r} is out of range: r_t = E[sign(D(x))] is in "
            "[-1, 1] and the target must be in (0, 1) (the paper's 0.6)"
        )
    if not 0.0 <= a.ada_p <= 1.0:
        raise ConfigError(f"augment.ada_p={a.ada_p!r} is a probability: choose it in [0, 1]")
    if a.ada_kimg <= 0:
        raise ConfigError(f"augment.ada_kimg={a.ada_kimg!r} is out of range: it must be > 0")
    if a.ada != "off" and parse_policy(a.diffaugment):
        raise ConfigError(
            f"augment.ada={a.ada!r} with augment.diffaugment={a.diffaugment!r}: both augment "
            "what D sees; use one of them"
        )
    if a.ada != "off" and config.recipe != "gan":
        raise ConfigError(
            f"augment.ada={a.ada!r} with recipe {config.recipe!r}: ADA keeps its probability in "
            "the GAN recipe's state; use DiffAugment (augment.diffaugment) here"
        )
    if a.noise_std < 0:
        raise ConfigError(f"augment.noise_std={a.noise_std!r} is out of range: it must be >= 0")
    if a.noise_decay_steps < 1:
        raise ConfigError(
            f"augment.noise_decay_steps={a.noise_decay_steps!r} is out of range: it must be >= 1"
        )
