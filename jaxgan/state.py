"""The training state: named players, EMA weights, task extras, step and RNG, as one pytree.

A recipe decides which players exist (`g` and `d`; or `g_ab`, `g_ba`, `d_a`, `d_b`; ...),
which of them keep an EMA copy, and what task state must survive an exact resume (`extras`: an
image pool, a running mean, an augmentation probability). jit, shard, checkpoint and compare it
as one value. Also here: what every recipe's step does with players (train-mode calls, updates,
EMA, the divergence guard).
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class Player:
    params: Any
    variables: Any  # Non-trained collections: {'batch_stats': ...}, spectral-norm vectors, ...
    opt_state: Any


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: completed steps (generator updates).
    rng: jax.Array  # uint32[2] base key; step keys are fold_in(rng, step).
    players: dict  # name -> Player
    ema: dict  # name -> exponential moving average of that player's params
    extras: dict  # Task state that must survive a resume; {} for most recipes.


def raw_key(rng: jax.Array) -> jax.Array:
    """Typed keys become raw uint32 keys, which checkpoint as plain arrays."""
    if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(rng)
    return rng


def split_variables(variables) -> tuple:
    """(params, the other collections) of a flax variables dict."""
    variables = dict(variables)
    params = variables.pop("params")
    return params, variables


def init_player(module, tx: optax.GradientTransformation, rng, *args, **kwargs) -> Player:
    """A player with freshly initialised variables (inference-mode init) and optimizer state."""
    params, variables = split_variables(module.init(rng, *args, train=False, **kwargs))
    return Player(params=params, variables=variables, opt_state=tx.init(params))


def initial_state(rng, players: dict, ema: tuple = ("g",), extras: dict | None = None):
    """Step 0: the players, EMA copies of those named in `ema`, and the task's extras."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=rng,
        players=players,
        ema={name: jax.tree.map(jnp.copy, players[name].params) for name in ema},
        extras={} if extras is None else extras,
    )


def apply_train(module, params, variables, *args, rngs=None, **kwargs):
    """Train-mode call that returns (output, updated non-param variables)."""
    out, new_vars = module.apply(
        {"params": params, **variables}, *args, train=True, mutable=True, rngs=rngs, **kwargs
    )
    new_vars = dict(new_vars)
    new_vars.pop("params", None)
    return out, new_vars


def apply_updates(player: Player, grads, tx: optax.GradientTransformation) -> Player:
    """One optimizer update of a player's params."""
    updates, opt_state = tx.update(grads, player.opt_state, player.params)
    return player.replace(params=optax.apply_updates(player.params, updates), opt_state=opt_state)


def all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if _is_float(x)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)


def ema_decay(max_decay: float, step) -> jax.Array:
    """min(max_decay, (1 + step) / (10 + step)): early samples do not remember the random init."""
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(max_decay, (1.0 + step) / (10.0 + step))


def update_ema(state: TrainState, players: dict, max_decay: float) -> dict:
    """The EMA of each player in state.ema, moved toward its new params in `players`."""
    decay = ema_decay(max_decay, state.step)
    return {
        name: jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, players[name].params)
        for name, ema in state.ema.items()
    }


def step_key(state: TrainState, *tags: int) -> jax.Array:
    """A key that is a function of the step (and tags): resumed runs draw the same numbers."""
    key = jax.random.fold_in(state.rng, state.step)
    for tag in tags:
        key = jax.random.fold_in(key, tag)
    return key


def guarded(state: TrainState, new_state: TrainState, metrics: dict) -> tuple:
    """The divergence guard every recipe's step ends with.

    A step whose metrics or new state (params, optimizer states, EMA, extras) hold a non-finite
    value is not applied: the old state is kept with the step counter advanced, so the data moves
    on. metrics['finite'] says which happened. One lax.cond picks the whole state: a select per
    leaf, each reading a flag that depends on every leaf, is the same function but makes XLA's
    compile several times slower on large states.
    """
    finite = all_finite(metrics) & all_finite(new_state)
    kept = state.replace(step=state.step + 1)
    new_state = jax.lax.cond(finite, lambda: new_state, lambda: kept)
    return new_state, {**metrics, "finite": finite.astype(jnp.float32)}


def advance(state: TrainState, players: dict, metrics: dict, max_ema_decay: float, extras=None):
    """The end of every recipe's step: the new players, their EMA moved toward them, the step
    counter advanced, and the divergence guard; returns (state, metrics)."""
    new_state = state.replace(
        step=state.step + 1,
        players=players,
        ema=update_ema(state, players, max_ema_decay),
        extras=state.extras if extras is None else extras,
    )
    return guarded(state, new_state, metrics)


def sampling_params(state: TrainState, name: str, config: ml_collections.ConfigDict):
    """The weights of player `name` that samples and evaluation use: EMA when configured."""
    if config.train.ema_decay > 0 and name in state.ema:
        return state.ema[name]
    return state.players[name].params


def learning_rate(config: ml_collections.ConfigDict, role: str):
    """Player `role`'s learning rate: a float, or an optax schedule of its own update count.

    The horizon is optim.decay_steps (0: train.num_steps) G updates; a discriminator updated
    train.n_critic times per step counts n_critic times as many, so both players' schedules
    follow the same steps."""
    o = config.optim
    lr = o.g_lr if role == "g" else o.d_lr
    if o.schedule == "constant" and not o.warmup_steps:
        return lr
    per_step = config.train.n_critic if role == "d" else 1
    horizon = (o.decay_steps or config.train.num_steps) * per_step
    warmup, start = o.warmup_steps * per_step, o.decay_start * per_step
    if o.schedule == "cosine":
        main = optax.cosine_decay_schedule(lr, horizon - warmup)
    elif o.schedule == "linear":
        decay = optax.linear_schedule(lr, 0.0, horizon - warmup - start)
        main = optax.join_schedules([optax.constant_schedule(lr), decay], [start])
    else:
        main = optax.constant_schedule(lr)
    if not warmup:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_optimizer(config: ml_collections.ConfigDict, role: str) -> optax.GradientTransformation:
    """The optax transformation of a player in `role` 'g' (generators) or 'd' (discriminators):
    optim.name with its hyperparameters, at learning_rate(config, role)."""
    o = config.optim
    lr = learning_rate(config, role)
    if o.name == "adam":
        return optax.adam(lr, b1=o.b1, b2=o.b2)
    if o.name == "adamw":
        return optax.adamw(lr, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return optax.sgd(lr, momentum=o.momentum or None)
    return optax.rmsprop(lr, decay=o.rmsprop_decay, momentum=o.momentum or None)
