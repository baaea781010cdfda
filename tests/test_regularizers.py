"""Gradient penalties against a discriminator whose input gradient is known in closed form, and
the start-up refusal of a penalty on a batch-normalised D."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import recipes, regularizers
from jaxgan.config import ConfigError

from conftest import ROOT

SHAPE = (5, 4, 4, 1)


def quadratic_d(x):
    """D(x) = 0.5 sum(x^2) + sum(w x) per sample: grad D(x) = x + w, ||grad||^2 = sum((x+w)^2)."""
    w = jnp.linspace(-0.3, 0.4, x[0].size).reshape(x.shape[1:])
    return 0.5 * jnp.sum(x * x, axis=(1, 2, 3)) + jnp.sum(w * x, axis=(1, 2, 3))


def grad_sq(x):
    w = np.linspace(-0.3, 0.4, x[0].size).reshape(x.shape[1:])
    return np.sum((np.asarray(x, np.float64) + w) ** 2, axis=(1, 2, 3))


def samples(seed):
    return jax.random.normal(jax.random.PRNGKey(seed), SHAPE)


def test_r1_and_r2_are_the_mean_squared_gradient_norm_on_real_and_on_fake():
    real, fake = samples(0), samples(1)
    np.testing.assert_allclose(
        regularizers.r1_penalty(quadratic_d, real), grad_sq(real).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        regularizers.r2_penalty(quadratic_d, fake), grad_sq(fake).mean(), rtol=1e-5
    )


def test_gradient_penalty_is_per_sample_on_real_fake_segments():
    real, fake, rng = samples(0), samples(1), jax.random.PRNGKey(7)
    eps = jax.random.uniform(rng, (SHAPE[0], 1, 1, 1))  # The draw gradient_penalty makes.
    x_hat = eps * real + (1 - eps) * fake
    want = np.mean((np.sqrt(grad_sq(x_hat)) - 1.0) ** 2)
    np.testing.assert_allclose(
        regularizers.gradient_penalty(quadratic_d, real, fake, rng), want, rtol=1e-5
    )
    # Per sample: the mean of squared deviations of each norm, not of the batch's mean norm.
    batch_norm = np.sqrt(grad_sq(x_hat).mean())
    assert not np.isclose(want, (batch_norm - 1.0) ** 2, rtol=1e-3)


def test_dragan_penalises_gradient_norms_near_the_real_data():
    real, rng = samples(0), jax.random.PRNGKey(3)
    noise_rng, alpha_rng = jax.random.split(rng)
    delta = 0.5 * jnp.std(real) * jax.random.uniform(noise_rng, SHAPE)
    alpha = jax.random.uniform(alpha_rng, (SHAPE[0], 1, 1, 1))
    x_hat = real + alpha * delta
    want = np.mean((np.sqrt(grad_sq(x_hat)) - 1.0) ** 2)
    np.testing.assert_allclose(regularizers.dragan_penalty(quadratic_d, real, rng), want, rtol=1e-5)
    # A linear D with a unit-norm weight has gradient norm 1 everywhere: no penalty.
    w = jnp.ones(SHAPE[1:]) / 4.0
    linear = lambda x: jnp.sum(w * x, axis=(1, 2, 3))
    assert float(regularizers.dragan_penalty(linear, real, rng)) < 1e-10


@pytest.mark.parametrize("key", list(regularizers.PENALTIES))
def test_a_penalty_on_a_batch_normalised_d_stops_at_start_up(key):
    config = config_lib.load_config(str(ROOT / "experiments" / "dcgan.py"), "smoke")
    config.loss[key] = 1.0
    recipes.prepare(config)  # D without normalisation: allowed.
    config.model.d.norm = "batch"
    with pytest.raises(ConfigError, match=f"loss.{key}=1.0 with model.d.norm='batch'"):
        recipes.prepare(config)


def test_a_step_with_every_penalty_reports_each_of_them():
    config = config_lib.load_config(str(ROOT / "experiments" / "dcgan.py"), "smoke")
    for key in regularizers.PENALTIES:
        config.loss[key] = 1.0
    recipe, spec = recipes.prepare(config)
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(recipe.make_train_step(config, spec))
    x = jax.random.uniform(jax.random.PRNGKey(2), (8, 28, 28, 1), minval=-1, maxval=1)
    _, metrics = step(state, {"x": x, "label": jnp.zeros(8, jnp.int32)})
    for name in ("gp", "r1", "r2", "dragan", "d_adv_loss"):
        assert np.isfinite(float(metrics[name])) and float(metrics[name]) > 0, name
