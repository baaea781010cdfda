"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between domains A and B.

Data: each batch holds A's images under `source` and B's under `x`, unpaired (no loss reads
which A sits beside which B). Players: G_AB and G_BA (config.model.g, each built for its output
domain), D_A and D_B (config.model.d; PatchGANs judging one domain's images alone). G's loss,
as in the reference code (`junyanz/pytorch-CycleGAN-and-pix2pix`, cycle_gan_model.py):

    adv_weight * (L_adv(D_B(G_AB(a))) + L_adv(D_A(G_BA(b))))
    + cycle_weight * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
    + cycle_weight * identity_weight * (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)

with L1 terms as means over pixels and L_adv the generator side of loss.name (least squares in
the paper; ours is 0.5 E[(D - 1)^2], half the reference code's, so experiments/cyclegan.py sets
adv_weight 2 to keep the paper's balance against cycle_weight 10). Each step: one update of both
generators through the current discriminators, then one update of each D on its real images
against fakes from its history pool (`image_pool`, pool_size images per domain, kept in the
state's extras), with every loss, penalty and augmentation option of the shared D update.
Generation (samples, evaluation, --mode=sample) translates A to B with G_AB; evaluation
translates the held-out split's A images and compares them with its B images (classifier FID,
KID, PRDC) and, with metric 'accuracy', reports how often a translated digit keeps its class.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data, models
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial, common, image_pool

NAME = "cyclegan"
GENERATORS = ("cyclegan_resnet",)
DISCRIMINATORS = ("patchgan",)
SMOKE = {"pool_size": 3}
EXPERIMENT = "cyclegan"
LATENT = False  # Its generators translate images; there is no latent to walk.
G_VIEW_TAG, POOL_TAG, D_TAG = 0, 1, 2  # Step keys, each with a domain tag: 0 = A, 1 = B.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.adv_weight = 1.0  # Weight of each generator's adversarial loss.
    c.cycle_weight = 10.0  # lambda of the cycle-consistency L1 terms (the paper's 10).
    c.identity_weight = 0.5  # Identity L1 terms, as a fraction of cycle_weight; 0 = off.
    c.pool_size = 50  # Generated images each D's history pool keeps; 0 = no pool.
    c.eval_split = "test"  # Held-out split that evaluation and the sample grid translate.
    return c


class Models(NamedTuple):
    g_ab: object
    g_ba: object
    d_a: object
    d_b: object


def validate(config) -> None:
    c = config.cyclegan
    for key in ("adv_weight", "cycle_weight", "identity_weight", "pool_size"):
        if c[key] < 0:
            raise ConfigError(f"cyclegan.{key}={c[key]!r} is out of range: it must be >= 0")
    if c.adv_weight == 0:
        raise ConfigError("cyclegan.adv_weight=0: without the adversarial loss G learns identity")
    if config.train.n_critic != 1:
        raise ConfigError(f"train.n_critic={config.train.n_critic}: cyclegan trains D once a step")


def check(config, spec) -> None:
    if "source" not in spec.fields:
        raise ConfigError(
            f"recipe 'cyclegan' needs two image domains, A under 'source' and B under 'x'; "
            f"dataset {spec.name!r} has fields {sorted(spec.fields)} (try "
            "data.name='digits_unpaired')"
        )
    shape_a, shape_b = common.source_shape(spec), tuple(spec.shape)
    if config.cyclegan.identity_weight > 0 and shape_a[-1] != shape_b[-1]:
        raise ConfigError(
            f"cyclegan.identity_weight={config.cyclegan.identity_weight} needs domains with the "
            f"same channels (A has {shape_a[-1]}, B {shape_b[-1]}): G_AB(b) is only defined "
            "then; set cyclegan.identity_weight=0"
        )
    for role in ("g", "d"):
        cfg = config.model[role]
        try:
            models.architecture(role, cfg).check(cfg, shape_a)
        except ValueError as e:
            raise ConfigError(f"model.{role}.name={cfg.name!r} does not fit domain A: {e}") from e
    data.describe(_eval_data(config))  # The held-out split must exist.


def build(config, spec, groups: int | None = None) -> Models:
    """G_AB makes B's shape, G_BA A's; each D reads its domain's shape."""
    ctx_b = common.context(config, spec, groups)
    ctx_a = ctx_b._replace(shape=common.source_shape(spec))
    return Models(
        g_ab=models.build("g", config.model.g, ctx_b),
        g_ba=models.build("g", config.model.g, ctx_a),
        d_a=models.build("d", config.model.d, ctx_a),
        d_b=models.build("d", config.model.d, ctx_b),
    )


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, *keys = jax.random.split(state_lib.raw_key(rng), 5)
    g_tx, d_tx = common.optimizers(config)
    a = jnp.zeros((1,) + common.source_shape(spec), jnp.float32)
    b = jnp.zeros((1,) + tuple(spec.shape), jnp.float32)
    players = {
        "g_ab": state_lib.init_player(m.g_ab, g_tx, keys[0], a),
        "g_ba": state_lib.init_player(m.g_ba, g_tx, keys[1], b),
        "d_a": state_lib.init_player(m.d_a, d_tx, keys[2], a),
        "d_b": state_lib.init_player(m.d_b, d_tx, keys[3], b),
    }
    size = config.cyclegan.pool_size
    extras = {
        "pool_a": image_pool.empty(size, common.source_shape(spec)),
        "pool_b": image_pool.empty(size, tuple(spec.shape)),
    }
    ema = ("g_ab", "g_ba") if config.train.ema_decay > 0 else ()
    return state_lib.initial_state(rng, players, ema=ema, extras=extras)


def l1(x, y):
    return jnp.mean(jnp.abs(x - y))


def generator_objective(g_params, a, b, *, m: Models, players: dict, keys: tuple, call, config):
    """(G's loss, (fake_a, fake_b, D_A's and D_B's variables after G's pass, loss parts)) for
    both generators' params {'g_ab', 'g_ba'}; the formula is in the module doc."""
    c = config.cyclegan

    def run(name, x):
        player = players[name]
        return getattr(m, name).apply({"params": g_params[name], **player.variables}, x)

    identity = c.identity_weight > 0
    # Each G once on everything it translates first (InstanceNorm is per sample, so one call on
    # a concatenation is the separate calls), then the cycles back.
    out_ab = run("g_ab", jnp.concatenate([a, b]) if identity else a)
    out_ba = run("g_ba", jnp.concatenate([b, a]) if identity else b)
    fake_b, fake_a = out_ab[: len(a)], out_ba[: len(b)]
    cycle = l1(run("g_ba", fake_b), a) + l1(run("g_ab", fake_a), b)
    adv = functools.partial(adversarial.g_adversarial_loss, call=call, config=config)
    adv_a, d_a_vars = adv(fake_a, {}, players["d_a"], keys[0], d=m.d_a, real=a)
    adv_b, d_b_vars = adv(fake_b, {}, players["d_b"], keys[1], d=m.d_b, real=b)
    loss = c.adv_weight * (adv_a + adv_b) + c.cycle_weight * cycle
    parts = {"g_adv_a": adv_a, "g_adv_b": adv_b, "cycle_loss": cycle}
    if identity:
        parts["identity_loss"] = l1(out_ab[len(a) :], b) + l1(out_ba[len(b) :], a)
        loss = loss + c.cycle_weight * c.identity_weight * parts["identity_loss"]
    return loss, (fake_a, fake_b, d_a_vars, d_b_vars, parts)


def train_step(state, batch, *, m: Models, g_tx, d_tx, config):
    """One CycleGAN step; see the module docstring. Bound by `make_train_step`."""
    a, b = batch["source"], batch["x"]
    players = state.players
    call = adversarial.image_call(state.step, config)
    key = functools.partial(state_lib.step_key, state)
    objective = functools.partial(
        generator_objective,
        m=m,
        players=players,
        keys=(key(G_VIEW_TAG, 0), key(G_VIEW_TAG, 1)),
        call=call,
        config=config,
    )
    g_params = {name: players[name].params for name in ("g_ab", "g_ba")}
    (g_loss, (fake_a, fake_b, d_a_vars, d_b_vars, parts)), grads = jax.value_and_grad(
        objective, has_aux=True
    )(g_params, a, b)
    new = {name: state_lib.apply_updates(players[name], grads[name], g_tx) for name in g_params}
    metrics = {**parts, "g_loss": g_loss}
    extras = {}
    for tag, (domain, real, fake, variables) in enumerate(
        (("a", a, fake_a, d_a_vars), ("b", b, fake_b, d_b_vars))
    ):
        pool, shown = image_pool.query(
            state.extras[f"pool_{domain}"], jax.lax.stop_gradient(fake), key(POOL_TAG, tag)
        )
        extras[f"pool_{domain}"] = pool
        new[f"d_{domain}"], d_metrics = adversarial.d_update(
            players[f"d_{domain}"].replace(variables=variables),
            real,
            shown,
            {},
            key(D_TAG, tag),
            d=getattr(m, f"d_{domain}"),
            tx=d_tx,
            call=call,
            config=config,
            d_step=state.step,
        )
        metrics.update({f"{k}_{domain}": v for k, v in d_metrics.items()})
    return state_lib.advance(state, new, metrics, config.train.ema_decay, extras=extras)


def make_train_step(config, spec):
    g_tx, d_tx = common.optimizers(config)
    return functools.partial(train_step, m=build(config, spec), g_tx=g_tx, d_tx=d_tx, config=config)


def make_generate(config, spec):
    """Pure (state, {'source'}, rng) -> G_AB's translations (EMA weights when configured)."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # Translation is deterministic.
        return common.translate(m.g_ab, state, "g_ab", config, inputs["source"])

    return generate


def translator(config, spec, direction: str = "ab") -> common.Translator:
    """G_AB ('ab': A -> B) or G_BA ('ba': B -> A) for --mode=translate. The ResNet generator
    takes sides divisible by 2^num_down and at least twice that (see models/cyclegan.py)."""
    if direction not in ("ab", "ba"):
        raise ConfigError(f"--direction={direction!r}: use 'ab' (A -> B) or 'ba' (B -> A)")
    m = build(config, spec, groups=1)
    multiple = 2**config.model.g.num_down
    reads = common.source_shape(spec) if direction == "ab" else tuple(spec.shape)
    return common.Translator(
        module=m.g_ab if direction == "ab" else m.g_ba,
        player=f"g_{direction}",
        multiple=multiple,
        minimum=2 * multiple,
        channels=reads[-1],
    )


def _eval_data(config) -> ml_collections.ConfigDict:
    return common.split_data(config, config.cyclegan.eval_split)


def held_out_sources(config, num: int) -> dict:
    """The first `num` held-out A images, {'source', 'label'?} (A's own labels, when the data
    has them)."""
    fields = {"source": "source", "label": "source_label"}
    return common.held_out(config, config.cyclegan.eval_split, num, fields)


def sample_inputs(config, spec, num: int, rng, *, source=None) -> dict:
    """The given A images (a path: image, folder or .npz), else the first `num` held-out ones."""
    del rng
    if source is None:
        return {"source": held_out_sources(config, num)["source"]}
    return {"source": data.load_images(source, common.source_shape(spec))[:num]}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """The held-out A images (with their labels, for 'accuracy'), and the held-out split, whose
    B images the translations are compared with."""
    del rng
    return held_out_sources(config, num), _eval_data(config)


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """Rows of (A image, its translation to B) pairs."""
    return common.translation_picture(inputs, outputs)
