"""Pure training steps: `train_step(state, batch) -> (state, metrics)`.

One step is `n_critic` discriminator updates, each on its own slice of the batch and its own
latents, then one generator update. As in the reference DCGAN recipe, the generator update reuses
the last critic iteration's G(z): G runs forward once for both players and its backward pass gets
the gradient through the freshly updated D. D sees real and fake in one call (BatchNorm keeps
their statistics apart). All randomness comes from fold_in(state.rng, state.step), so a resumed
run draws exactly the numbers the uninterrupted run would have drawn.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import losses, regularizers
from jaxgan.state import TrainState, build_models, data_shape, make_optimizers


def _apply(module, params, variables, x):
    """Train-mode call that returns (output, updated non-param variables)."""
    out, new_vars = module.apply({"params": params, **variables}, x, train=True, mutable=True)
    new_vars = dict(new_vars)
    new_vars.pop("params", None)
    return out, new_vars


def all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def ema_decay(max_decay: float, step) -> jax.Array:
    """min(max_decay, (1 + step) / (10 + step)): early samples do not remember the random init."""
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(max_decay, (1.0 + step) / (10.0 + step))


def critic_keys(state: TrainState, k: int) -> tuple:
    """(latent key, regulariser key) of critic iteration k of this step: a function of the step."""
    return tuple(jax.random.split(jax.random.fold_in(jax.random.fold_in(state.rng, state.step), k)))


def _discriminator_metrics(loss_name, real_logits, fake_logits):
    """D_x = mean D(x) and D_G_z = mean D(G(z)) (probabilities, or raw critic values)."""
    if loss_name in losses.PROBABILISTIC:
        real_logits, fake_logits = jax.nn.sigmoid(real_logits), jax.nn.sigmoid(fake_logits)
    return {"D_x": jnp.mean(real_logits), "D_G_z": jnp.mean(fake_logits)}


def _paired(d):
    """D for one call on [real; fake]: BatchNorm keeps separate statistics for the two halves."""
    return d.clone(bn_groups=2 * d.bn_groups) if hasattr(d, "bn_groups") else d


def _d_objective(params, d_state, real, fake, reg_rng, *, d, config):
    """D's loss (plus penalties) on one real batch and one (constant) fake batch."""
    logits, new_state = _apply(_paired(d), params, d_state, jnp.concatenate([real, fake]))
    real_logits, fake_logits = jnp.split(logits, 2)
    loss = losses.LOSSES[config.loss.name][0](real_logits, fake_logits)
    aux = {"d_adv_loss": loss} if config.loss.gp_weight or config.loss.r1_weight else {}
    d_fn = lambda v: _apply(d, params, d_state, v)[0]
    if config.loss.gp_weight > 0:
        aux["gp"] = regularizers.gradient_penalty(d_fn, real, fake, reg_rng)
        loss = loss + config.loss.gp_weight * aux["gp"]
    if config.loss.r1_weight > 0:
        aux["r1"] = regularizers.r1_penalty(d_fn, real)
        loss = loss + 0.5 * config.loss.r1_weight * aux["r1"]
    return loss, (new_state, real_logits, fake_logits, aux)


def _d_update(d_params, d_state, d_opt_state, real, fake, reg_rng, *, d, d_tx, config):
    grad_fn = jax.value_and_grad(functools.partial(_d_objective, d=d, config=config), has_aux=True)
    (loss, (d_state, real_logits, fake_logits, aux)), grads = grad_fn(
        d_params, d_state, real, jax.lax.stop_gradient(fake), reg_rng
    )
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if config.loss.clip > 0:
        d_params = jax.tree.map(
            lambda p: jnp.clip(p, -config.loss.clip, config.loss.clip), d_params
        )
    metrics = {
        "d_loss": loss,
        **aux,
        **_discriminator_metrics(config.loss.name, real_logits, fake_logits),
    }
    return d_params, d_state, d_opt_state, metrics


def train_step(state: TrainState, batch: dict, *, g, d, g_tx, d_tx, config) -> tuple:
    """One GAN step; see the module docstring. Hyperparameters are bound by `make_train_step`."""
    n_critic = config.train.n_critic
    x = batch["x"]
    per_update = x.shape[0] // n_critic
    # Rows b * n_critic + k form critic iteration k's batch: each device keeps its own rows.
    x = x.reshape((per_update, n_critic) + x.shape[1:])

    g_state, d_params, d_state, d_opt_state = (
        state.g_state,
        state.d_params,
        state.d_state,
        state.d_opt_state,
    )
    generate = lambda params, g_state, z: _apply(g, params, g_state, z)
    for k in range(n_critic):
        z_rng, reg_rng = critic_keys(state, k)
        z = jax.random.normal(z_rng, (per_update, config.model.z_dim), jnp.float32)
        fake, g_vjp, g_state = jax.vjp(
            functools.partial(generate, g_state=g_state, z=z), state.g_params, has_aux=True
        )
        d_params, d_state, d_opt_state, metrics = _d_update(
            d_params, d_state, d_opt_state, x[:, k], fake, reg_rng, d=d, d_tx=d_tx, config=config
        )

    # G's update: the last G(z) through the updated D, back through the saved G pass.
    g_loss_fn = losses.LOSSES[config.loss.name][1]

    def g_objective(fake):
        logits, new_d_state = _apply(d, d_params, d_state, fake)
        return g_loss_fn(logits), new_d_state

    (g_loss, d_state), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = ema_decay(config.train.ema_decay, state.step)
    ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_g_params, g_params)

    new_state = state.replace(
        step=state.step + 1,
        g_params=g_params,
        d_params=d_params,
        g_state=g_state,
        d_state=d_state,
        g_opt_state=g_opt_state,
        d_opt_state=d_opt_state,
        ema_g_params=ema,
    )
    metrics["g_loss"] = g_loss
    # Divergence guard: a step with a non-finite loss or result is not applied.
    finite = all_finite(metrics) & all_finite((g_params, d_params, g_state, d_state, ema))
    new_state = jax.tree.map(
        lambda new, old: jnp.where(finite, new, old), new_state, state.replace(step=state.step + 1)
    )
    metrics["finite"] = finite.astype(jnp.float32)
    return new_state, metrics


def make_train_step(config: ml_collections.ConfigDict, *, shape: tuple | None = None):
    """The pure step for this config, hyperparameters bound: jit it (and shard it) yourself."""
    shape = data_shape(config) if shape is None else tuple(shape)
    g, d = build_models(config, shape)
    g_tx, d_tx = make_optimizers(config)
    return functools.partial(train_step, g=g, d=d, g_tx=g_tx, d_tx=d_tx, config=config)
