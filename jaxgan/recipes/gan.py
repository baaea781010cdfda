"""GANs from latents: unconditional, or class-conditional when the architectures take labels.

One step is `train.n_critic` discriminator updates, each on its own slice of the batch and its
own latents, then one generator update. As in the reference DCGAN recipe, the generator update
reuses the last critic iteration's G(z): G runs forward once for both players and its backward
pass gets the gradient through the freshly updated D. A conditional G makes images of the real
batch's labels, so fake labels follow the data's class frequencies. All randomness comes from
fold_in(state.rng, state.step), so a resumed run draws exactly the numbers it would have drawn.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data, images, models
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial, common

NAME = "gan"
GENERATORS = ("dcgan", "mlp", "resnet", "keras_dcgan")  # The first is the default.
DISCRIMINATORS = ("dcgan", "mlp", "resnet", "keras_dcgan")
SMOKE = {"z_dim": 8}
EXPERIMENT = "dcgan"  # experiments/<EXPERIMENT>.py: the one the recipe tests run (":smoke").


LATENT = True  # Its generator maps latents z (and labels) to images.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.z_dim = 100  # Latent size; z ~ N(0, I).
    return c


class Models(NamedTuple):
    g: object
    d: object
    g_labels: bool  # G takes labels.
    d_labels: bool
    d_classifies: bool  # D also outputs class logits (AC-GAN).


def build(config, spec, groups: int | None = None) -> Models:
    g, d = common.build_pair(config, spec, groups)
    g_arch = models.architecture("g", config.model.g)
    d_arch = models.architecture("d", config.model.d)
    return Models(
        g,
        d,
        g_arch.takes_labels(config.model.g),
        d_arch.takes_labels(config.model.d),
        d_arch.classifies(config.model.d),
    )


def validate(config) -> None:
    if config.gan.z_dim < 1:
        raise ConfigError(f"gan.z_dim={config.gan.z_dim!r} is out of range: it must be >= 1")


def check(config, spec) -> None:
    common.check_labels(config, spec)
    g_cond = common.uses_labels("g", config.model.g)
    if g_cond != common.uses_labels("d", config.model.d):
        g, d = config.model.g, config.model.d
        raise ConfigError(
            f"model.g.conditioning={g.get('conditioning', 'none')!r} with model.d.conditioning="
            f"{d.get('conditioning', 'none')!r}: condition both G and D on the labels, or neither"
        )


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    label = {"label": jnp.zeros((1,), jnp.int32)}
    z = jnp.zeros((1, config.gan.z_dim), jnp.float32)
    g_tx, d_tx = common.optimizers(config)
    g = state_lib.init_player(m.g, g_tx, g_rng, z, **(label if m.g_labels else {}))
    x = jnp.zeros((1,) + tuple(spec.shape), jnp.float32)
    d = state_lib.init_player(m.d, d_tx, d_rng, x, **(label if m.d_labels else {}))
    return state_lib.initial_state(rng, {"g": g, "d": d})


def critic_keys(state, k: int) -> tuple:
    """(latent key, regulariser key) of critic iteration k of this step: a function of the step."""
    return tuple(jax.random.split(state_lib.step_key(state, k)))


G_VIEW_TAG = 2**16  # step_key tag of G's update (critic iterations use tags 0..n_critic-1).


def _call(m: Models, step, config):
    """D's train-mode call on its view of the images at `step`, with the condition it takes
    (labels, or nothing)."""

    def call(d, params, variables, x, cond, rng):
        kwargs = {"label": cond["label"]} if m.d_labels else {}
        (x,) = adversarial.d_view((x,), rng, step, config)
        return adversarial.apply_d(d, params, variables, x, rng, **kwargs)

    return call


def train_step(state, batch, *, m: Models, g_tx, d_tx, config):
    """One GAN step; see the module docstring. Bound by `make_train_step`."""
    n_critic = config.train.n_critic
    per_update = batch["x"].shape[0] // n_critic
    # Rows b * n_critic + k form critic iteration k's batch: each device keeps its own rows.
    rows = jax.tree.map(lambda v: v.reshape((per_update, n_critic) + v.shape[1:]), batch)
    call = _call(m, state.step, config)
    g, d = state.players["g"], state.players["d"]
    g_vars = g.variables

    def generate(params, variables, z, cond):
        kwargs = {"label": cond["label"]} if m.g_labels else {}
        return state_lib.apply_train(m.g, params, variables, z, **kwargs)

    for k in range(n_critic):
        z_rng, reg_rng = critic_keys(state, k)
        z = jax.random.normal(z_rng, (per_update, config.gan.z_dim), jnp.float32)
        labelled = m.g_labels or m.d_labels or m.d_classifies
        cond = {"label": rows["label"][:, k]} if labelled else {}
        fake, g_vjp, g_vars = jax.vjp(
            functools.partial(generate, variables=g_vars, z=z, cond=cond), g.params, has_aux=True
        )
        d, metrics = adversarial.d_update(
            d,
            rows["x"][:, k],
            fake,
            cond,
            reg_rng,
            d=m.d,
            tx=d_tx,
            call=call,
            config=config,
            d_step=state.step * n_critic + k,
        )

    # G's update: the last G(z) through the updated D, back through the saved G pass.
    objective = functools.partial(
        adversarial.g_adversarial_loss,
        cond=cond,
        player=d,
        rng=state_lib.step_key(state, G_VIEW_TAG),
        d=m.d,
        call=call,
        config=config,
        real=rows["x"][:, n_critic - 1],  # The rows the last critic iteration paired with fake.
    )
    (g_loss, d_vars), fake_grad = jax.value_and_grad(objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    g = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    players = {"g": g, "d": d.replace(variables=d_vars)}
    return state_lib.advance(state, players, {**metrics, "g_loss": g_loss}, config.train.ema_decay)


def make_train_step(config, spec):
    """The pure step for this config, hyperparameters bound: jit it (and shard it) yourself."""
    g_tx, d_tx = common.optimizers(config)
    return functools.partial(train_step, m=build(config, spec), g_tx=g_tx, d_tx=d_tx, config=config)


def make_generate(config, spec):
    """Pure (state, {'z', 'label'?}, rng) -> images: G in inference mode, EMA weights."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # The latents carry all the randomness.
        params = state_lib.sampling_params(state, "g", config)
        kwargs = {"label": inputs["label"]} if m.g_labels else {}
        variables = {"params": params, **state.players["g"].variables}
        return m.g.apply(variables, inputs["z"], train=False, **kwargs)

    return generate


def _labels_given(config, spec, num: int, labels) -> dict:
    m_labels = models.architecture("g", config.model.g).takes_labels(config.model.g)
    if not m_labels:
        if labels is not None:
            raise ConfigError(
                f"labels={labels!r} given, but generator {config.model.g.name!r} is not "
                "conditional (set model.g.conditioning and model.d.conditioning to train one)"
            )
        return {}
    if labels is None:
        labels = np.arange(num) % spec.num_classes  # Grids: one class per column.
    labels = np.resize(np.asarray(labels, np.int32), num)
    common.check_label_range(labels, spec.num_classes)
    return {"label": jnp.asarray(labels)}


def sample_inputs(config, spec, num: int, rng, *, labels=None) -> dict:
    """Latents (and labels: given, cycled through, or repeated to `num`) for grids and sampling.

    Row i's latent is drawn from fold_in(rng, i): the first n of N samples drawn with a seed are
    the n samples drawn with it."""
    z = common.row_latents(rng, num, config.gan.z_dim)
    return {"z": z, **_labels_given(config, spec, num, labels)}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """Latents, and labels drawn from the data's class frequencies; compared with config.data."""
    inputs = {"z": jax.random.normal(rng, (num, config.gan.z_dim), jnp.float32)}
    if models.architecture("g", config.model.g).takes_labels(config.model.g):
        freq = common.class_frequencies(config.data, spec.num_classes)
        label_rng = jax.random.fold_in(rng, 1)
        inputs["label"] = jax.random.choice(label_rng, len(freq), (num,), p=jnp.asarray(freq))
    return inputs, config.data


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """A grid of images (a conditional G's cycled labels: a column per class, whole rows), or
    for 2-D points a scatter over the mixture's means."""
    outputs = np.asarray(outputs)
    if len(spec.shape) == 1:
        return images.picture(outputs, data.toy_means(config.data))
    classes = spec.num_classes or 0
    labels = np.asarray(inputs.get("label", []))
    cycled = 0 < classes <= len(labels) and (labels == np.arange(len(labels)) % classes).all()
    if cycled:
        rows = len(labels) // classes
        return images.grid(outputs[: rows * classes], columns=classes)
    return images.picture(outputs)
