"""Adaptive discriminator augmentation (ADA, Karras et al. 2020): every image D sees, real or
fake, in D's update and in G's, passes through a pipeline of transforms, each applied to each
sample with probability p; p is kept in the training state and moved after every D update by
the sign of D's outputs on the reals (the overfitting heuristic r_t = E[sign(D(x))]): up when
r_t exceeds the target (0.6), down otherwise, at a rate that can take p from 0 to 1 in
`augment.ada_kimg` thousand real images. A fixed-p mode keeps p at `augment.ada_p`.

The transforms and their constants are the paper's 'bgc' pipeline plus cutout, on images in
[-1, 1]:
- blit: x-flip, rotation by a multiple of 90 degrees, integer translation (up to 1/8 of the side);
- geometric: isotropic scaling (log2 ~ N(0, 0.2^2)), rotation (uniform; applied before and after
  the anisotropic scaling, each with probability 1 - sqrt(1 - p)), anisotropic scaling (log2 ~
  N(0, 0.2^2)), fractional translation (N(0, 0.125^2) of the side);
- color: brightness (+N(0, 0.2^2)), contrast (log2 ~ N(0, 0.5^2)), luma flip, hue rotation
  (uniform), saturation (log2 ~ N(0, 1)); on grey images the mean of the colour transform's rows;
- cutout: a zero square of half the side, centred anywhere (`augment.ada_ops` chooses groups).
The geometric transforms compose into one matrix per sample and one bilinear resampling with
reflected borders (the paper resamples with a wavelet filter; bilinear is simpler and
differentiable alike). Everything is a function of the key, so a resumed run is exact.
"""

import math

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

GROUPS = ("blit", "geom", "color", "cutout")
MODES = ("off", "adaptive", "fixed")
XINT_MAX, SCALE_STD, ANISO_STD, XFRAC_STD = 0.125, 0.2, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD, CUTOUT_SIZE = 0.2, 0.5, 1.0, 0.5


def parse_ops(ops: str) -> tuple:
    """'blit,geom' -> ('blit', 'geom')."""
    return tuple(o.strip() for o in ops.split(",") if o.strip())


def _applied(key, n: int, p, value, identity):
    """value where a U(0, 1) draw per sample falls below p, else identity."""
    keep = jax.random.uniform(key, (n,)) < p
    keep = keep.reshape((n,) + (1,) * (jnp.ndim(value) - 1))
    return jnp.where(keep, value, identity)


def _affine(a, b, c, d, e, f):
    """[N, 3, 3] matrices [[a, b, c], [d, e, f], [0, 0, 1]] from [N] entries."""
    zero, one = jnp.zeros_like(a), jnp.ones_like(a)
    rows = [[a, b, c], [d, e, f], [zero, zero, one]]
    return jnp.stack([jnp.stack(row, -1) for row in rows], -2)


def _scale(sx, sy):
    zero = jnp.zeros_like(sx)
    return _affine(sx, zero, zero, zero, sy, zero)


def _rotate(theta):
    c, s = jnp.cos(theta), jnp.sin(theta)
    zero = jnp.zeros_like(c)
    return _affine(c, -s, zero, s, c, zero)


def _translate(tx, ty):
    zero, one = jnp.zeros_like(tx), jnp.ones_like(tx)
    return _affine(one, zero, tx, zero, one, ty)


def geometric_matrix(key, n: int, height: int, width: int, p, ops: tuple):
    """[N, 3, 3] maps from an output pixel's centred coordinates to where it samples the input:
    the inverses of the drawn transforms, composed in the pipeline's order."""
    keys = iter(jax.random.split(key, 32))
    m = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))
    zero, one = jnp.zeros((n,)), jnp.ones((n,))
    normal = lambda: jax.random.normal(next(keys), (n,))
    uniform = lambda low, high: jax.random.uniform(next(keys), (n,), minval=low, maxval=high)
    chosen = lambda value, identity, prob=p: _applied(next(keys), n, prob, value, identity)
    if "blit" in ops:
        flip = chosen(jax.random.randint(next(keys), (n,), 0, 2).astype(jnp.float32), zero)
        m = m @ _scale(1 - 2 * flip, one)
        quarter = chosen(jax.random.randint(next(keys), (n,), 0, 4).astype(jnp.float32), zero)
        m = m @ _rotate(-quarter * math.pi / 2)
        tx = chosen(jnp.round(uniform(-XINT_MAX, XINT_MAX) * width), zero)
        ty = chosen(jnp.round(uniform(-XINT_MAX, XINT_MAX) * height), zero)
        m = m @ _translate(-tx, -ty)
    if "geom" in ops:
        s = chosen(jnp.exp2(normal() * SCALE_STD), one)
        m = m @ _scale(1 / s, 1 / s)
        p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0.0, 1.0))
        theta = chosen(uniform(-math.pi, math.pi), zero, p_rot)
        m = m @ _rotate(-theta)
        s = chosen(jnp.exp2(normal() * ANISO_STD), one)
        m = m @ _scale(1 / s, s)
        theta = chosen(uniform(-math.pi, math.pi), zero, p_rot)
        m = m @ _rotate(-theta)
        tx = chosen(normal() * XFRAC_STD * width, zero)
        ty = chosen(normal() * XFRAC_STD * height, zero)
        m = m @ _translate(-tx, -ty)
    return m


def resample(images, matrix):
    """images [N, H, W, C] sampled bilinearly (reflected borders) where `matrix` [N, 3, 3]
    sends each output pixel's centred coordinates."""
    n, height, width, channels = images.shape
    ys, xs = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    centred = jnp.stack(
        [xs - (width - 1) / 2, ys - (height - 1) / 2, jnp.ones_like(xs, jnp.float32)], 0
    ).reshape(3, -1)
    source = jnp.einsum("nij,jp->nip", matrix, centred)
    sx = source[:, 0] + (width - 1) / 2
    sy = source[:, 1] + (height - 1) / 2

    def one(image, y, x):  # image [H, W, C]
        coords = [y, x]
        return jnp.stack(
            [
                ndimage.map_coordinates(image[..., c], coords, 1, mode="mirror")
                for c in range(channels)
            ],
            -1,
        )

    return jax.vmap(one)(images, sy, sx).reshape(images.shape)


def _luma_axis():
    return jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


def color_matrix(key, n: int, p):
    """[N, 4, 4] acting on (r, g, b, 1): brightness, contrast, luma flip, hue, saturation."""
    keys = iter(jax.random.split(key, 12))
    eye = jnp.broadcast_to(jnp.eye(4), (n, 4, 4))
    zero, one = jnp.zeros((n,)), jnp.ones((n,))
    normal = lambda: jax.random.normal(next(keys), (n,))
    chosen = lambda value, identity: _applied(next(keys), n, p, value, identity)
    v = _luma_axis()
    vv = jnp.outer(v, v)
    b = chosen(normal() * BRIGHTNESS_STD, zero)
    c = eye.at[:, :3, 3].add(b[:, None])
    contrast = chosen(jnp.exp2(normal() * CONTRAST_STD), one)
    c = (
        eye
        * jnp.concatenate([jnp.broadcast_to(contrast[:, None], (n, 3)), jnp.ones((n, 1))], -1)[
            :, None
        ]
    ) @ c
    flip = chosen(jax.random.randint(next(keys), (n,), 0, 2).astype(jnp.float32), zero)
    c = (eye - 2 * vv * flip[:, None, None]) @ c
    theta = chosen(jax.random.uniform(next(keys), (n,), minval=-math.pi, maxval=math.pi), zero)
    c = _rotate_about(v[:3], theta) @ c
    s = chosen(jnp.exp2(normal() * SATURATION_STD), one)
    c = (vv + (eye - vv) * s[:, None, None]) @ c
    return c


def _rotate_about(axis, theta):
    """[N, 4, 4] rotations by theta about a unit 3-vector axis (Rodrigues), homogeneous."""
    x, y, z = axis
    k = jnp.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    s, c = jnp.sin(theta)[:, None, None], jnp.cos(theta)[:, None, None]
    r = jnp.eye(3) + s * k + (1 - c) * (k @ k)
    return jnp.zeros((theta.shape[0], 4, 4)).at[:, :3, :3].set(r).at[:, 3, 3].set(1.0)


def apply_color(images, c):
    if images.shape[-1] == 3:
        return jnp.einsum("nij,nhwj->nhwi", c[:, :3, :3], images) + c[:, None, None, :3, 3]
    row = jnp.mean(c[:, :3, :], axis=1)  # Grey: the mean of the RGB rows.
    gain = jnp.sum(row[:, :3], -1)[:, None, None, None]
    return images * gain + row[:, 3][:, None, None, None]


def cutout(key, images, p):
    n, height, width, _ = images.shape
    centre_key, apply_key = jax.random.split(key)
    centre = jax.random.uniform(centre_key, (n, 2))
    ys = (jnp.arange(height) + 0.5) / height
    xs = (jnp.arange(width) + 0.5) / width
    inside_y = jnp.abs(ys[None, :] - centre[:, :1]) < CUTOUT_SIZE / 2
    inside_x = jnp.abs(xs[None, :] - centre[:, 1:]) < CUTOUT_SIZE / 2
    cut = inside_y[:, :, None] & inside_x[:, None, :]
    cut = cut & (jax.random.uniform(apply_key, (n, 1, 1)) < p)
    return images * (1.0 - cut[..., None].astype(images.dtype))


def augment(images: tuple, key, p, ops: tuple) -> tuple:
    """The pipeline at probability p on a tuple of same-sized image batches (the same draws
    for each, so a pair stays a pair)."""
    n, height, width = images[0].shape[:3]
    geom_key, color_key, cut_key = jax.random.split(key, 3)
    if "blit" in ops or "geom" in ops:
        m = geometric_matrix(geom_key, n, height, width, p, ops)
        images = tuple(resample(x.astype(jnp.float32), m).astype(x.dtype) for x in images)
    if "color" in ops:
        c = color_matrix(color_key, n, p)
        images = tuple(apply_color(x.astype(jnp.float32), c).astype(x.dtype) for x in images)
    if "cutout" in ops:
        images = tuple(cutout(cut_key, x, p) for x in images)
    return images


def adjust(p, real_sign, batch: int, config):
    """p after a D update whose real logits had mean sign `real_sign` (r_t): moved by
    sign(r_t - target) * batch / (ada_kimg * 1000), kept in [0, 1]."""
    a = config.augment
    step = jnp.sign(real_sign - a.ada_target) * batch / (a.ada_kimg * 1000)
    return jnp.clip(p + step, 0.0, 1.0)
