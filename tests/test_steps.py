"""One step of the gan recipe does what the GAN algorithm says, and compiles once."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import losses
from jaxgan import state as state_lib
from jaxgan.recipes import common, gan

from conftest import build_models

SHAPE = (28, 28, 1)


def _batch(n, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + SHAPE).astype(np.float32)
    return {"x": jnp.asarray(x), "label": jnp.zeros((n,), jnp.int32)}


def _reference_step(state, batch, config):
    """The alternating GAN update written out by hand: D step, then G step through the new D."""
    g, d = build_models(config, SHAPE)
    g_tx, d_tx = common.optimizers(config)
    d_loss_fn, g_loss_fn = losses.LOSSES[config.loss.name]
    z_key, _ = gan.critic_keys(state, 0)
    z = jax.random.normal(z_key, (batch["x"].shape[0], config.gan.z_dim))
    gp, dp = state.players["g"], state.players["d"]
    gen = lambda p: g.apply({"params": p}, z)
    disc = lambda p, x: d.apply({"params": p}, x)

    d_grads = jax.grad(lambda p: d_loss_fn(disc(p, batch["x"]), disc(p, gen(gp.params))))(dp.params)
    d_updates, _ = d_tx.update(d_grads, dp.opt_state, dp.params)
    d_params = optax.apply_updates(dp.params, d_updates)
    if config.loss.name in losses.RELATIVISTIC:  # G's loss reads D's logits of the real batch.
        real = disc(d_params, batch["x"])
        g_grads = jax.grad(lambda p: g_loss_fn(disc(d_params, gen(p)), real))(gp.params)
    else:
        g_grads = jax.grad(lambda p: g_loss_fn(disc(d_params, gen(p))))(gp.params)
    g_updates, _ = g_tx.update(g_grads, gp.opt_state, gp.params)
    return d_params, optax.apply_updates(gp.params, g_updates)


@pytest.mark.parametrize(
    "loss", ["non_saturating", "minimax", "least_squares", "relativistic", "relativistic_average"]
)
def test_step_updates_each_player_with_its_own_gradient_and_optimizer(smoke_config, loss):
    config = smoke_config("gan_mlp")
    config.loss.name = loss
    config.optim.d_lr = 1e-3  # Different learning rates expose a swapped optimizer.
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    batch = _batch(config.train.batch_size)
    new, metrics = jax.jit(jaxgan.make_train_step(config))(state, batch)
    want_d, want_g = _reference_step(state, batch, config)

    got_d = new.players["d"].params
    if loss in losses.RELATIVISTIC:  # D's output bias: gradient 0 in exact arithmetic, whose
        last = sorted(got_d)[-1]  # rounding noise Adam would scale up to a full step.
        got_d, want_d = ({**p, last: {"kernel": p[last]["kernel"]}} for p in (got_d, want_d))
    chex.assert_trees_all_close(got_d, want_d, atol=1e-6)
    chex.assert_trees_all_close(new.players["g"].params, want_g, atol=1e-6)
    for name in ("d", "g"):
        old, updated = state.players[name].params, new.players[name].params
        changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), old, updated)
        still = [jax.tree_util.keystr(k) for k, c in jax.tree.leaves_with_path(changed) if not c]
        # Relativistic losses see only differences of D's logits: its output bias has no gradient.
        last = sorted(state.players["d"].params)[-1]
        expected = [f"['{last}']['bias']"] if name == "d" and loss in losses.RELATIVISTIC else []
        assert still == expected, "every other parameter array should move"
    assert int(new.step) == 1 and float(metrics["finite"]) == 1.0
    decay = float(state_lib.ema_decay(config.train.ema_decay, 0))
    g0 = state.players["g"].params
    want_ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, g0, want_g)
    chex.assert_trees_all_close(new.ema["g"], want_ema, atol=1e-6)


def test_non_finite_step_is_not_applied(smoke_config):
    config = smoke_config("gan_mlp")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    batch = _batch(config.train.batch_size)
    batch["x"] = batch["x"].at[0, 0, 0, 0].set(jnp.nan)
    new, metrics = jax.jit(jaxgan.make_train_step(config))(state, batch)
    assert float(metrics["finite"]) == 0.0
    assert int(new.step) == 1  # The data moves on ...
    chex.assert_trees_all_equal(new.replace(step=state.step), state)  # ... nothing else does.


def test_n_critic_runs_that_many_discriminator_updates(smoke_config):
    config = smoke_config("gan_mlp")
    config.train.n_critic = 3
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    batch = _batch(config.train.batch_size * 3)
    new, _ = jax.jit(jaxgan.make_train_step(config))(state, batch)
    count = lambda name: int(jax.tree.leaves(new.players[name].opt_state[0].count)[0])
    assert count("d") == 3 and count("g") == 1


def test_step_compiles_once(smoke_config):
    config = smoke_config("dcgan")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    train_step = jaxgan.make_train_step(config)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, batch):
        return train_step(state, batch)

    for i in range(3):
        state, _ = step(state, _batch(config.train.batch_size, seed=i))
    assert int(state.step) == 3
