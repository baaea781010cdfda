"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.

G (a U-Net, whose dropout is its only noise) translates a batch's `source` images; D (a
PatchGAN) judges (source, image) pairs patch by patch, real pairs against (source, G(source)).
G minimises the adversarial loss plus `l1_weight` times the L1 distance to the target `x`.
With `adv_weight=0` the recipe is the L1-only regression baseline of the same U-Net (D is then
not trained at all). Each step: one D update, then one G update through the updated D, reusing
G's forward pass, as the gan recipe does. Evaluation translates the sources of the held-out
split (`eval_split`) and compares the outputs with their targets.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.models import unet
from jaxgan.recipes import adversarial, common

NAME = "pix2pix"
GENERATORS = ("unet",)
DISCRIMINATORS = ("patchgan",)
SMOKE = {}
EXPERIMENT = "pix2pix"
DROPOUT_TAG, PENALTY_TAG, G_VIEW_TAG = 0, 1, 2  # Step keys: G's dropout, D's, G's view.


LATENT = False  # Its generator translates images; there is no latent to walk.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.l1_weight = 100.0  # lambda of the paper's L1 term.
    c.adv_weight = 1.0  # 0: the L1-only baseline (no discriminator).
    c.eval_split = "test"  # Held-out pairs that evaluation and the sample grid translate.
    return c


class Models(NamedTuple):
    g: object
    d: object


def validate(config) -> None:
    p = config.pix2pix
    for key in ("l1_weight", "adv_weight"):
        if p[key] < 0:
            raise ConfigError(f"pix2pix.{key}={p[key]!r} is out of range: it must be >= 0")
    if p.l1_weight == 0 and p.adv_weight == 0:
        raise ConfigError("pix2pix.l1_weight and pix2pix.adv_weight are both 0: G learns nothing")
    if config.train.n_critic != 1:
        raise ConfigError(f"train.n_critic={config.train.n_critic}: pix2pix trains D once a step")


def check(config, spec) -> None:
    if "source" not in spec.fields:
        raise ConfigError(
            f"recipe 'pix2pix' needs paired data with a 'source' field; dataset {spec.name!r} "
            f"has fields {sorted(spec.fields)} (try data.name='edges_mnist')"
        )
    data.describe(_eval_data(config))  # The held-out split must exist.


def build(config, spec, groups: int | None = None) -> Models:
    return Models(*common.build_pair(config, spec, groups))


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    g_tx, d_tx = common.optimizers(config)
    source = jnp.zeros((1,) + common.source_shape(spec), jnp.float32)
    pair = jnp.zeros((1,) + spec.shape[:2] + (source.shape[-1] + spec.shape[-1],), jnp.float32)
    g = state_lib.init_player(m.g, g_tx, g_rng, source)
    d = state_lib.init_player(m.d, d_tx, d_rng, pair)
    return state_lib.initial_state(rng, {"g": g, "d": d})


def train_step(state, batch, *, m: Models, g_tx, d_tx, config):
    """One pix2pix step; see the module docstring. Bound by `make_train_step`."""
    p = config.pix2pix
    source, target = batch["source"], batch["x"]
    cond = {"source": source}
    g, d = state.players["g"], state.players["d"]
    call = adversarial.pair_call(state.step, config)
    dropout = state_lib.step_key(state, DROPOUT_TAG)
    translate = lambda params: state_lib.apply_train(
        m.g, params, g.variables, source, rngs={"dropout": dropout}
    )
    fake, g_vjp, g_vars = jax.vjp(translate, g.params, has_aux=True)
    metrics = {}
    adversarial_on = p.adv_weight > 0
    if adversarial_on:
        d, metrics = adversarial.d_update(
            d,
            target,
            fake,
            cond,
            state_lib.step_key(state, PENALTY_TAG),
            d=m.d,
            tx=d_tx,
            call=call,
            config=config,
            d_step=state.step,
        )

    def g_objective(fake):
        l1 = jnp.mean(jnp.abs(fake - target))
        if not adversarial_on:
            return p.l1_weight * l1, (d.variables, {"l1": l1})
        adv, d_vars = adversarial.g_adversarial_loss(
            fake,
            cond,
            d,
            state_lib.step_key(state, G_VIEW_TAG),
            d=m.d,
            call=call,
            config=config,
            real=target,
        )
        return p.adv_weight * adv + p.l1_weight * l1, (d_vars, {"l1": l1, "g_adv_loss": adv})

    (g_loss, (d_vars, parts)), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    g = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    players = {"g": g, "d": d.replace(variables=d_vars)}
    metrics = {**metrics, **parts, "g_loss": g_loss}
    return state_lib.advance(state, players, metrics, config.train.ema_decay)


def make_train_step(config, spec):
    g_tx, d_tx = common.optimizers(config)
    return functools.partial(train_step, m=build(config, spec), g_tx=g_tx, d_tx=d_tx, config=config)


def make_generate(config, spec):
    """Pure (state, {'source'}, rng) -> translations: G in inference mode (running BatchNorm
    statistics, no dropout), EMA weights when configured."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # Inference is deterministic.
        return common.translate(m.g, state, "g", config, inputs["source"])

    return generate


def translator(config, spec, direction: str = "ab") -> common.Translator:
    """G for --mode=translate. Its depth is fixed to the trained one (depth 0 would otherwise
    follow each input's side), so any multiple of 2^depth works and the weights still fit."""
    if direction != "ab":
        raise ConfigError(
            f"--direction={direction!r}: pix2pix has one generator, source -> target; use 'ab'"
        )
    height, width = spec.shape[:2]
    depth = unet.unet_depth(height, width, config.model.g.depth)
    fixed = ml_collections.ConfigDict(config.to_dict())
    fixed.model.g.depth = depth
    return common.Translator(
        module=build(fixed, spec, groups=1).g,
        player="g",
        multiple=2**depth,
        minimum=2**depth,
        channels=common.source_shape(spec)[-1],
    )


def _eval_data(config) -> ml_collections.ConfigDict:
    return common.split_data(config, config.pix2pix.eval_split)


def held_out_pairs(config, num: int) -> dict:
    """The first `num` held-out pairs: {'source', 'x'} float32 in [-1, 1]."""
    return common.held_out(config, config.pix2pix.eval_split, num, {"source": "source", "x": "x"})


def sample_inputs(config, spec, num: int, rng, *, source=None) -> dict:
    """The given source images (a path: image, folder or .npz), else the first `num` held-out
    pairs (sources with their targets 'x', which generate ignores and the grid shows)."""
    del rng
    if source is None:
        return held_out_pairs(config, num)
    loaded = data.load_images(source, common.source_shape(spec))
    return {"source": loaded[:num]}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """The held-out sources (targets under 'x'), and the held-out split to compare against."""
    del rng
    return held_out_pairs(config, num), _eval_data(config)


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """Rows of (source, output, target) triples, or (source, output) pairs without targets."""
    return common.translation_picture(inputs, outputs)
