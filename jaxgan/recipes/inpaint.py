"""Inpainting: a generator given an image with a rectangular hole and the hole's mask fills the
hole (Pathak et al. 2016's context encoder, with pix2pix's networks).

Each step draws one hole per image (sides uniform in [hole_min, hole_max] of the image's side,
anywhere inside it) from the step's key, so a resume sees the same holes. G (a U-Net) reads
`source` = [image with the hole set to 0 (mid-gray), mask in {-1, 1}] and its output is used in
the hole only: filled = mask * G(source) + (1 - mask) * image. D (a PatchGAN) judges (source,
image) pairs as pix2pix's does, real images against filled ones, so it knows where the hole
is. G minimises

    l1_weight * (mean |G(source) - x| over the hole's pixels)  +  adv_weight * adversarial loss

(adv_weight = 0: the L1-only baseline; D is then not trained). Each step: one D update, then one
G update through the updated D, reusing G's forward pass.

Evaluation fills fixed holes (drawn from the evaluation key) in the held-out split's images and
compares with the originals ('paired' over the whole image, classifier FID for digits);
`hole_metrics` scores the hole alone (PSNR in the hole, benchmarks/inpaint.py).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data, images
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial, common

NAME = "inpaint"
GENERATORS = ("unet",)
DISCRIMINATORS = ("patchgan",)
SMOKE = {}
EXPERIMENT = "inpaint_digits"
LATENT = False  # Its generator fills holes; there is no latent to walk.
DROPOUT_TAG, PENALTY_TAG, G_VIEW_TAG, HOLE_TAG = 0, 1, 2, 3  # Step keys.
EVAL_HOLES = 0x401E  # The evaluation's fixed holes.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.hole_min = 0.25  # Smallest hole side, as a fraction of the image's side.
    c.hole_max = 0.5  # Largest hole side.
    c.l1_weight = 100.0  # Weight of the L1 distance in the hole.
    c.adv_weight = 1.0  # 0: the L1-only baseline (no discriminator training).
    c.eval_split = "test"  # Held-out images that evaluation and the sample grid fill.
    return c


class Models(NamedTuple):
    g: object
    d: object


def validate(config) -> None:
    p = config.inpaint
    for key in ("l1_weight", "adv_weight"):
        if p[key] < 0:
            raise ConfigError(f"inpaint.{key}={p[key]!r} is out of range: it must be >= 0")
    if p.l1_weight == 0 and p.adv_weight == 0:
        raise ConfigError("inpaint.l1_weight and inpaint.adv_weight are both 0: G learns nothing")
    if not 0 < p.hole_min <= p.hole_max < 1:
        raise ConfigError(
            f"inpaint.hole_min={p.hole_min!r}, hole_max={p.hole_max!r}: need "
            "0 < hole_min <= hole_max < 1 (fractions of the image's side)"
        )
    if config.train.n_critic != 1:
        raise ConfigError(f"train.n_critic={config.train.n_critic}: inpaint trains D once a step")


def check(config, spec) -> None:
    if len(spec.shape) != 3:
        raise ConfigError(f"recipe 'inpaint' fills images; dataset {spec.name!r} holds points")
    side = min(spec.shape[:2])
    if int(config.inpaint.hole_min * side) < 1:
        raise ConfigError(
            f"inpaint.hole_min={config.inpaint.hole_min} makes holes under 1 pixel on "
            f"{side}-pixel images: raise it"
        )
    data.describe(_eval_data(config))  # The held-out split must exist.


def source_shape(spec) -> tuple:
    """G's input: the image's channels plus the mask's."""
    height, width, channels = spec.shape
    return (height, width, channels + 1)


def build(config, spec, groups: int | None = None) -> Models:
    return Models(*common.build_pair(config, spec, groups))


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    g_tx, d_tx = common.optimizers(config)
    source = jnp.zeros((1,) + source_shape(spec), jnp.float32)
    pair = jnp.zeros((1,) + spec.shape[:2] + (source.shape[-1] + spec.shape[-1],), jnp.float32)
    g = state_lib.init_player(m.g, g_tx, g_rng, source)
    d = state_lib.init_player(m.d, d_tx, d_rng, pair)
    return state_lib.initial_state(rng, {"g": g, "d": d})


def holes(rng, num: int, height: int, width: int, low: float, high: float):
    """[num, height, width, 1] float32 masks, 1 inside one rectangle per image: sides uniform
    integers in [low, high] x the image's side (at least 1 pixel), placed uniformly inside."""
    k_h, k_w, k_t, k_l = jax.random.split(rng, 4)

    def sides(key, side):
        lo = max(1, int(low * side))
        return jax.random.randint(key, (num,), lo, max(lo, int(high * side)) + 1)

    hole_h, hole_w = sides(k_h, height), sides(k_w, width)
    top = jnp.floor(jax.random.uniform(k_t, (num,)) * (height - hole_h + 1)).astype(jnp.int32)
    left = jnp.floor(jax.random.uniform(k_l, (num,)) * (width - hole_w + 1)).astype(jnp.int32)
    rows, cols = jnp.arange(height), jnp.arange(width)
    inside_r = (rows >= top[:, None]) & (rows < (top + hole_h)[:, None])
    inside_c = (cols >= left[:, None]) & (cols < (left + hole_w)[:, None])
    return (inside_r[:, :, None] & inside_c[:, None, :]).astype(jnp.float32)[..., None]


def masked(x, mask):
    """G's input: [x with the hole at 0, mask as -1 (known) / 1 (hole)]."""
    return jnp.concatenate([x * (1.0 - mask), 2.0 * mask - 1.0], axis=-1)


def fill(source, output):
    """The known pixels of `source` with G's output in its hole."""
    known, mask = source[..., :-1], (source[..., -1:] + 1.0) / 2.0
    return mask * output + (1.0 - mask) * known


def train_step(state, batch, *, m: Models, g_tx, d_tx, config):
    """One inpainting step; see the module docstring. Bound by `make_train_step`."""
    p = config.inpaint
    x = batch["x"]
    n, height, width, _ = x.shape
    mask = holes(state_lib.step_key(state, HOLE_TAG), n, height, width, p.hole_min, p.hole_max)
    source = masked(x, mask)
    cond = {"source": source}
    g, d = state.players["g"], state.players["d"]
    call = adversarial.pair_call(state.step, config)
    dropout = state_lib.step_key(state, DROPOUT_TAG)
    run = lambda params: state_lib.apply_train(
        m.g, params, g.variables, source, rngs={"dropout": dropout}
    )
    out, g_vjp, g_vars = jax.vjp(run, g.params, has_aux=True)
    metrics = {}
    if p.adv_weight > 0:
        d, metrics = adversarial.d_update(
            d,
            x,
            fill(source, out),
            cond,
            state_lib.step_key(state, PENALTY_TAG),
            d=m.d,
            tx=d_tx,
            call=call,
            config=config,
            d_step=state.step,
        )
    hole_pixels = jnp.maximum(jnp.sum(mask) * x.shape[-1], 1.0)

    def g_objective(out):
        l1 = jnp.sum(jnp.abs(out - x) * mask) / hole_pixels
        if p.adv_weight == 0:
            return p.l1_weight * l1, (d.variables, {"hole_l1": l1})
        adv, d_vars = adversarial.g_adversarial_loss(
            fill(source, out),
            cond,
            d,
            state_lib.step_key(state, G_VIEW_TAG),
            d=m.d,
            call=call,
            config=config,
            real=x,
        )
        return p.l1_weight * l1 + p.adv_weight * adv, (d_vars, {"hole_l1": l1, "g_adv_loss": adv})

    (g_loss, (d_vars, parts)), out_grad = jax.value_and_grad(g_objective, has_aux=True)(out)
    (g_grads,) = g_vjp(out_grad)
    g = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    players = {"g": g, "d": d.replace(variables=d_vars)}
    metrics = {**metrics, **parts, "g_loss": g_loss}
    return state_lib.advance(state, players, metrics, config.train.ema_decay)


def make_train_step(config, spec):
    g_tx, d_tx = common.optimizers(config)
    return functools.partial(train_step, m=build(config, spec), g_tx=g_tx, d_tx=d_tx, config=config)


def make_generate(config, spec):
    """Pure (state, {'source'}, rng) -> filled images (G in inference mode, EMA weights when
    configured)."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # Filling is deterministic.
        source = inputs["source"]
        return fill(source, common.translate(m.g, state, "g", config, source))

    return generate


def _eval_data(config) -> ml_collections.ConfigDict:
    return common.split_data(config, config.inpaint.eval_split)


def with_holes(config, x, rng) -> dict:
    """{'source': images with holes drawn from rng, 'x': the images}."""
    n, height, width, _ = x.shape
    p = config.inpaint
    mask = holes(rng, n, height, width, p.hole_min, p.hole_max)
    return {"source": np.asarray(masked(jnp.asarray(x), mask)), "x": np.asarray(x)}


def held_out_pairs(config, num: int) -> dict:
    """The first `num` held-out images 'x' with fixed holes ('source')."""
    found = common.held_out(config, config.inpaint.eval_split, num, {"x": "x"})
    return with_holes(config, found["x"], jax.random.PRNGKey(EVAL_HOLES))


def sample_inputs(config, spec, num: int, rng, *, source=None) -> dict:
    """The given images (a path: image, folder or .npz) with holes drawn from rng, else the
    first `num` held-out images with the evaluation's holes."""
    if source is None:
        return held_out_pairs(config, num)
    return with_holes(config, data.load_images(source, tuple(spec.shape))[:num], rng)


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """The held-out images with fixed holes (originals under 'x'), and the held-out split."""
    del rng
    return held_out_pairs(config, num), _eval_data(config)


def hole_metrics(inputs, outputs) -> dict:
    """{'hole_l1', 'hole_psnr'}: L1 on [-1, 1] and PSNR (data range 1, all channels) over the
    hole pixels of all images together."""
    source, x = np.asarray(inputs["source"], np.float64), np.asarray(inputs["x"], np.float64)
    mask = (source[..., -1:] + 1) / 2 * np.ones_like(x)
    diff = (np.asarray(outputs, np.float64) - x) / 2  # On [0, 1].
    mse = np.sum(mask * diff**2) / np.sum(mask)
    return {
        "hole_l1": float(np.sum(mask * np.abs(2 * diff)) / np.sum(mask)),
        "hole_psnr": float(10 * np.log10(1.0 / mse)),
    }


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """Rows of (image with its hole, filled, original) triples."""
    source = np.asarray(inputs["source"])
    shown = source[..., :-1] + (source[..., -1:] + 1) / 2  # The hole as white.
    columns = [np.clip(shown, -1, 1), np.asarray(outputs)]
    if "x" in inputs:
        columns.append(np.asarray(inputs["x"]))
    tiles = np.stack(columns, axis=1).reshape((-1,) + columns[1].shape[1:])
    return images.grid(tiles, columns=len(columns) * max(1, 8 // len(columns)))
