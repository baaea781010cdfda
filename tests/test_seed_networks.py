"""The seeds' own networks, as the tutorials that define them count them."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import models
from jaxgan.models import Context


def _count(params) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def _build(role):
    cfg = models.model_config(role, "keras_dcgan")
    return models.build(role, cfg, Context((28, 28, 1), 1, "auto", jnp.float32))


def test_keras_tutorial_dcgan_has_the_tutorials_trainable_parameters():
    """TensorFlow's DCGAN tutorial: G 2,305,472 trainable parameters (2,330,944 with BatchNorm's
    moving statistics), D 212,865."""
    g, d = _build("g"), _build("d")
    g_vars = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
    d_vars = d.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False)
    assert _count(g_vars["params"]) == 2_305_472
    assert _count(g_vars["params"]) + _count(g_vars["batch_stats"]) == 2_330_944
    assert _count(d_vars["params"]) == 212_865
    images = g.apply(g_vars, jnp.ones((2, 100)), train=False)
    assert images.shape == (2, 28, 28, 1)


def test_keras_tutorial_discriminator_drops_out_in_training_only():
    d = _build("d")
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 28, 28, 1))
    variables = d.init(jax.random.PRNGKey(0), x, train=False)
    train = lambda k: d.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(k)})
    assert not np.allclose(train(0), train(1))
    np.testing.assert_array_equal(
        d.apply(variables, x, train=False), d.apply(variables, x, train=False)
    )
