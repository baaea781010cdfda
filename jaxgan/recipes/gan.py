"""GANs from latents: unconditional, or class-conditional when the architectures take labels.

One step is `train.n_critic` discriminator updates, each on its own slice of the batch and its
own latents, then one generator update. As in the reference DCGAN recipe, the generator update
reuses the last critic iteration's G(z): G runs forward once for both players and its backward
pass gets the gradient through the freshly updated D. A conditional G makes images of the real
batch's labels, so fake labels follow the data's class frequencies. All randomness comes from
fold_in(state.rng, state.step), so a resumed run draws exactly the numbers it would have drawn.

Two remedies for mode collapse change what D sees and what G optimises (`gan` section):
- `pack` m (PacGAN, Lin et al. 2018): D judges m samples at once, m consecutive rows of a batch
  stacked along the channels (features for 2-D points), all real or all fake. A collapsed G makes
  packs of near-identical samples, which D learns to tell from real packs. Penalties and
  augmentation see packs as samples (gradient norms per pack; DiffAugment per image).
- `unroll_steps` k (Unrolled GANs, Metz et al. 2017): G's loss is taken through D after k more
  updates on the same real rows and fakes (a lax.scan of pure D updates), and its gradient flows
  through those updates, so G anticipates how D will answer a move onto one mode. D itself takes
  its usual single update.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import ada, data, images, models, regularizers
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.models import resnet
from jaxgan.recipes import adversarial, common

NAME = "gan"
GENERATORS = ("dcgan", "mlp", "resnet", "keras_dcgan", "stylegan2")  # The first: the default.
DISCRIMINATORS = ("dcgan", "mlp", "resnet", "keras_dcgan", "stylegan2")
SMOKE = {"z_dim": 8}
EXPERIMENT = "dcgan"  # experiments/<EXPERIMENT>.py: the one the recipe tests run (":smoke").


LATENT = True  # Its generator maps latents z (and labels) to images.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.z_dim = 100  # Latent size; z ~ N(0, I).
    c.pack = 1  # PacGAN: D judges this many samples at once; 1 = off.
    c.unroll_steps = 0  # Unrolled GAN: G looks through this many D updates; 0 = off.
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
    for key, low in (("z_dim", 1), ("pack", 1), ("unroll_steps", 0)):
        if config.gan[key] < low:
            raise ConfigError(f"gan.{key}={config.gan[key]!r} is out of range: it must be >= {low}")
    pack, batch = config.gan.pack, config.train.batch_size
    if batch % pack:
        raise ConfigError(
            f"gan.pack={pack} does not divide train.batch_size={batch}: D judges packs of "
            f"{pack} rows of each critic update's batch"
        )
    group = config.model.d.get("minibatch_std", 0)
    if group and (batch // pack) % group:
        raise ConfigError(
            f"model.d.minibatch_std={group} does not divide the {batch // pack} samples D sees "
            f"per batch (train.batch_size={batch} / gan.pack={pack})"
        )


def check(config, spec) -> None:
    common.check_labels(config, spec)
    g_cond = common.uses_labels("g", config.model.g)
    if g_cond != common.uses_labels("d", config.model.d):
        g, d = config.model.g, config.model.d
        raise ConfigError(
            f"model.g.conditioning={g.get('conditioning', 'none')!r} with model.d.conditioning="
            f"{d.get('conditioning', 'none')!r}: condition both G and D on the labels, or neither"
        )
    g = config.model.g
    if g.name == "resnet" and g.conditioning == "biggan":
        slots = resnet.latent_chunks(spec.shape[0], g.depth)
        if config.gan.z_dim < slots:
            raise ConfigError(
                f"gan.z_dim={config.gan.z_dim} is too small for model.g.conditioning='biggan': "
                f"its hierarchical latents split z into {slots} chunks (one per G block and one "
                f"for the dense layer) at {spec.shape[0]}x{spec.shape[0]}; use gan.z_dim >= {slots}"
            )
    d_arch = models.architecture("d", config.model.d)
    if config.gan.pack > 1 and (
        d_arch.takes_labels(config.model.d) or d_arch.classifies(config.model.d)
    ):
        raise ConfigError(
            f"gan.pack={config.gan.pack} with model.d.conditioning="
            f"{config.model.d.conditioning!r}: a pack holds samples of different classes, so a "
            "conditional D has no one label to judge it by; pack an unconditional GAN"
        )


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    label = {"label": jnp.zeros((1,), jnp.int32)}
    z = jnp.zeros((1, config.gan.z_dim), jnp.float32)
    g_tx, d_tx = common.optimizers(config)
    g = state_lib.init_player(m.g, g_tx, g_rng, z, **(label if m.g_labels else {}))
    x = pack(jnp.zeros((config.gan.pack,) + tuple(spec.shape), jnp.float32), config.gan.pack)
    d = state_lib.init_player(m.d, d_tx, d_rng, x, **(label if m.d_labels else {}))
    extras = {}
    if config.loss.pl_weight > 0:
        extras["pl_mean"] = jnp.zeros((), jnp.float32)
    if config.augment.ada != "off":
        extras["ada_p"] = jnp.asarray(config.augment.ada_p, jnp.float32)
    return state_lib.initial_state(rng, {"g": g, "d": d}, extras=extras)


def critic_keys(state, k: int) -> tuple:
    """(latent key, regulariser key) of critic iteration k of this step: a function of the step."""
    return tuple(jax.random.split(state_lib.step_key(state, k)))


G_VIEW_TAG = 2**16  # step_key tag of G's update (critic iterations use tags 0..n_critic-1).
UNROLL_TAG = 2**16 + 1  # step_key tag of the unrolled D updates G looks through.
PATH_LENGTH_TAG = 2**16 + 2  # step_key tag of the path-length pass.


def pack(x, m: int):
    """[N, ..., C] -> [N / m, ..., m * C]: rows m * i .. m * i + m - 1 as one sample (PacGAN)."""
    if m == 1:
        return x
    x = x.reshape((x.shape[0] // m, m) + x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)
    return x.reshape(x.shape[:-2] + (m * x.shape[-1],))


def unpack(x, m: int):
    """The inverse of `pack`."""
    if m == 1:
        return x
    x = jnp.moveaxis(x.reshape(x.shape[:-1] + (m, x.shape[-1] // m)), -2, 1)
    return x.reshape((-1,) + x.shape[2:])


def _call(m: Models, step, config, ada_p=None):
    """D's train-mode call on its view of the (packed) images at `step` (ADA at probability
    `ada_p`), with the condition it takes (labels, or nothing)."""

    m_pack = config.gan.pack

    def call(d, params, variables, x, cond, rng):
        kwargs = {"label": cond["label"]} if m.d_labels else {}
        (x,) = adversarial.d_view((unpack(x, m_pack),), rng, step, config, ada_p)
        return adversarial.apply_d(d, params, variables, pack(x, m_pack), rng, **kwargs)

    return call


def phase(config, spec, step: int):
    """For lazy regularisation, which of this step's updates regularise: (R1/R2/GP due on each
    critic update, path length due on G's update), so that the loop runs a step compiled for
    that pattern instead of one with lax.conds (slow around convolutions on XLA:CPU); None
    when nothing is lazy."""
    del spec
    loss, n_critic = config.loss, config.train.n_critic
    d_lazy = loss.lazy_interval > 1 and any(loss[k] for k in regularizers.PENALTIES)
    g_lazy = loss.pl_weight > 0 and loss.pl_interval > 1
    if not (d_lazy or g_lazy):
        return None
    d_due = tuple((step * n_critic + k) % loss.lazy_interval == 0 for k in range(n_critic))
    return (d_due if d_lazy else None, step % loss.pl_interval == 0 if g_lazy else None)


def train_step(state, batch, *, m: Models, g_tx, d_tx, config, lazy=None):
    """One GAN step; see the module docstring. Bound by `make_train_step`; `lazy` is a
    `phase(config, spec, step)`, or None to decide lazy regularisation inside the step."""
    d_due, pl_due = lazy if lazy is not None else (None, None)
    n_critic, m_pack, unroll = config.train.n_critic, config.gan.pack, config.gan.unroll_steps
    per_update = batch["x"].shape[0] // n_critic
    # Rows b * n_critic + k form critic iteration k's batch: each device keeps its own rows.
    rows = jax.tree.map(lambda v: v.reshape((per_update, n_critic) + v.shape[1:]), batch)
    call = _call(m, state.step, config, state.extras.get("ada_p"))
    g, d = state.players["g"], state.players["d"]
    g_vars = g.variables
    d_update = functools.partial(adversarial.d_update, d=m.d, tx=d_tx, call=call, config=config)

    def generate(params, variables, z, cond, key):
        kwargs = {"label": cond["label"]} if m.g_labels else {}
        rngs = {"noise": key}  # StyleGAN2's noise inputs and style mixing draw from it.
        images, variables = state_lib.apply_train(m.g, params, variables, z, rngs=rngs, **kwargs)
        return pack(images, m_pack), variables

    real_signs, metrics = [], {}  # ADA's r_t of each critic update; the newest of each metric.
    for k in range(n_critic):
        z_rng, reg_rng = critic_keys(state, k)
        z = jax.random.normal(z_rng, (per_update, config.gan.z_dim), jnp.float32)
        labelled = m.g_labels or m.d_labels or m.d_classifies
        cond = {"label": rows["label"][:, k]} if labelled else {}
        g_key = jax.random.fold_in(z_rng, 1)
        fake, g_vjp, g_vars = jax.vjp(
            functools.partial(generate, variables=g_vars, z=z, cond=cond, key=g_key),
            g.params,
            has_aux=True,
        )
        real = pack(rows["x"][:, k], m_pack)
        due = d_due[k] if d_due is not None else None
        d_step = state.step * n_critic + k
        d, d_metrics = d_update(d, real, fake, cond, reg_rng, d_step=d_step, due=due)
        metrics.update(d_metrics)  # A penalty applied on an earlier critic update stays.
        if "ada_rt" in d_metrics:
            real_signs.append(d_metrics["ada_rt"])

    def unrolled(fake):
        """D after gan.unroll_steps more updates on (real, fake), differentiable in fake."""

        def one(player, j):
            key = jax.random.fold_in(state_lib.step_key(state, UNROLL_TAG), j)
            d_step = (state.step + 1) * n_critic + j  # As if they were the next updates.
            return d_update(player, real, fake, cond, key, d_step=d_step, constant_fake=False)[0]

        return jax.lax.scan(lambda p, j: (one(p, j), None), d, jnp.arange(unroll))[0]

    # G's update: the last G(z) through the updated (or unrolled) D, back through the saved G
    # pass; `real` is what the last critic iteration paired with `fake` (relativistic losses).
    g_loss_of = functools.partial(
        adversarial.g_adversarial_loss,
        cond=cond,
        rng=state_lib.step_key(state, G_VIEW_TAG),
        d=m.d,
        call=call,
        config=config,
        real=real,
    )
    objective = lambda fake: g_loss_of(fake, player=unrolled(fake) if unroll else d)
    (g_loss, d_vars), fake_grad = jax.value_and_grad(objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    metrics = {**metrics, "g_loss": g_loss}
    extras = state.extras
    if config.loss.pl_weight > 0:
        pl_grads, extras, pl_metrics = lazy_path_length(state, m, per_update, config, pl_due)
        g_grads = jax.tree.map(jnp.add, g_grads, pl_grads)
        metrics.update(pl_metrics)
    if real_signs:
        p = ada.adjust(
            extras["ada_p"], jnp.mean(jnp.stack(real_signs)), batch["x"].shape[0], config
        )
        extras = {**extras, "ada_p": p}
    if "ada_p" in extras:
        metrics["ada_p"] = state.extras["ada_p"]  # The p this step's views were drawn with.
    g = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    # D's non-param variables (BatchNorm statistics, spectral-norm vectors) move with G's pass
    # through D, but not with the unrolled updates, which are only G's look-ahead.
    players = {"g": g, "d": d if unroll else d.replace(variables=d_vars)}
    return state_lib.advance(state, players, metrics, config.train.ema_decay, extras)


def lazy_path_length(state, m: Models, batch: int, config, due=None) -> tuple:
    """(gradient of G's path-length penalty w.r.t. its params, extras with the moved running
    mean, metrics) on G updates 0, k, 2k, ... (k = loss.pl_interval; weight pl_weight x k);
    zero gradient and the mean unchanged in between, and no `pl_penalty` metric from a step
    compiled for an update without it. `due`: see adversarial.when_due.

    The pass is StyleGAN2's: its own latents (batch / pl_batch_shrink of them), mixed styles
    and noise, G's params before this step's update."""
    loss, g = config.loss, state.players["g"]
    z_key, noise_key, y_key = jax.random.split(state_lib.step_key(state, PATH_LENGTH_TAG), 3)
    n = max(1, batch // loss.pl_batch_shrink)
    z = jax.random.normal(z_key, (n, config.gan.z_dim), jnp.float32)
    rngs = {"noise": noise_key}

    def penalty(params):
        variables = {"params": params, **g.variables}
        ws, _ = m.g.apply(variables, z, True, method="style", rngs=rngs, mutable=True)
        synthesize = lambda w: m.g.apply(variables, w, True, method="synthesize", rngs=rngs)
        shape = jax.eval_shape(synthesize, ws).shape
        y = jax.random.normal(y_key, shape) / jnp.sqrt(shape[1] * shape[2])
        lengths = regularizers.path_lengths(synthesize, ws, y)
        return regularizers.path_length_penalty(lengths, state.extras["pl_mean"], loss.pl_decay)

    def compute():
        (value, mean), grads = jax.value_and_grad(penalty, has_aux=True)(g.params)
        scale = loss.pl_weight * loss.pl_interval
        return jax.tree.map(lambda t: scale * t, grads), mean, value

    def skip():
        zeros = jax.tree.map(jnp.zeros_like, g.params)
        return zeros, state.extras["pl_mean"], jnp.zeros((), jnp.float32)

    grads, mean, value = adversarial.when_due(compute, skip, loss.pl_interval, state.step, due)
    extras = {**state.extras, "pl_mean": mean}
    metrics = {"pl_mean": mean} if due is False else {"pl_penalty": value, "pl_mean": mean}
    return grads, extras, metrics


def make_train_step(config, spec, phase=None):
    """The pure step for this config, hyperparameters bound: jit it (and shard it) yourself.
    `phase`: a `phase(config, spec, step)` to compile for (lazy regularisation decided
    statically)."""
    g_tx, d_tx = common.optimizers(config)
    m = build(config, spec)
    return functools.partial(train_step, m=m, g_tx=g_tx, d_tx=d_tx, config=config, lazy=phase)


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
    """A grid of images (a conditional G's cycled labels: a column per class, whole rows, when
    that makes two rows or more; else a square grid in label order), or for 2-D points a
    scatter over the mixture's means."""
    outputs = np.asarray(outputs)
    if len(spec.shape) == 1:
        return images.picture(outputs, data.toy_means(config.data))
    classes = spec.num_classes or 0
    labels = np.asarray(inputs.get("label", []))
    cycled = 0 < 2 * classes <= len(labels) and (labels == np.arange(len(labels)) % classes).all()
    if cycled:
        rows = len(labels) // classes
        return images.grid(outputs[: rows * classes], columns=classes)
    return images.picture(outputs)
