"""Model shapes, the DCGAN size rule, grouped BatchNorm vs separate calls and flax's BatchNorm."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.models.norms import BatchNorm

from conftest import build_models


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 1)])
def test_dcgan_maps_latents_to_images_and_images_to_logits(shape):
    config = config_lib.default_config()
    config.model.g.width = config.model.d.width = 4
    g, d = build_models(config, shape)
    z = jnp.ones((2, config.gan.z_dim))
    g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
    images = g.apply(g_vars, z, train=False)
    assert images.shape == (2,) + shape and float(jnp.max(jnp.abs(images))) <= 1.0
    d_vars = d.init(jax.random.PRNGKey(1), images, train=False)
    assert d.apply(d_vars, images, train=False).shape == (2,)


def test_dcgan_28_matches_the_reference_layer_sizes():
    """G: z -> dense 7x7x128 -> convT 64 -> convT 1; D: conv 64 -> conv 128 -> dense 1."""
    config = config_lib.default_config()
    g, d = build_models(config, (28, 28, 1))
    g_params = g.init(jax.random.PRNGKey(0), jnp.ones((1, 100)), train=False)["params"]
    shapes = sorted(p.shape for p in jax.tree.leaves(g_params) if p.ndim > 1)
    assert shapes == sorted([(100, 7 * 7 * 128), (4, 4, 128, 64), (4, 4, 64, 1)])
    d_params = d.init(jax.random.PRNGKey(0), jnp.ones((1, 28, 28, 1)), train=False)["params"]
    shapes = sorted(p.shape for p in jax.tree.leaves(d_params) if p.ndim > 1)
    assert shapes == sorted([(4, 4, 1, 64), (4, 4, 64, 128), (7 * 7 * 128, 1)])


@pytest.mark.parametrize("size", [20, 48, 100])
def test_dcgan_rejects_sizes_it_cannot_build(size):
    config = config_lib.default_config()
    with pytest.raises(ValueError, match=f"got {size}"):
        build_models(config, (size, size, 1))


def test_grouped_batchnorm_equals_separate_calls():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 5, 5, 3)) * 3 + 1
    y = jax.random.normal(jax.random.PRNGKey(1), (8, 5, 5, 3)) - 2
    bn1, bn2 = BatchNorm(groups=1), BatchNorm(groups=2)
    variables = bn1.init(jax.random.PRNGKey(2), x, train=False)
    out_x, _ = bn1.apply(variables, x, train=True, mutable=["batch_stats"])
    out_y, _ = bn1.apply(variables, y, train=True, mutable=["batch_stats"])
    both, _ = bn2.apply(variables, jnp.concatenate([x, y]), train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(both, jnp.concatenate([out_x, out_y]), atol=1e-5)
    # Batch statistics: each channel is standardised within its group.
    np.testing.assert_allclose(jnp.mean(out_x, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(out_x, axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_batchnorm_running_statistics_track_the_data_and_serve_inference():
    bn = BatchNorm()
    x = jax.random.normal(jax.random.PRNGKey(0), (256, 4)) * 2.0 + 5.0
    variables = bn.init(jax.random.PRNGKey(1), x, train=False)
    for _ in range(120):
        _, updates = bn.apply(variables, x, train=True, mutable=["batch_stats"])
        variables = {**variables, **updates}
    stats = variables["batch_stats"]
    np.testing.assert_allclose(stats["mean"], jnp.mean(x, 0), rtol=1e-3)
    np.testing.assert_allclose(stats["var"], jnp.var(x, 0), rtol=1e-3)
    inference = bn.apply(variables, x, train=False)
    training, _ = bn.apply(variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(inference, training, atol=1e-2)


def test_batchnorm_matches_flax_batchnorm_in_output_gradients_and_statistics():
    """The dot-product statistics are a speed rewrite: same function as flax's BatchNorm."""
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 6, 6, 5)) * 3 + 1
    ours = BatchNorm(momentum=0.9, epsilon=1e-5)
    ref = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
    variables = {
        "params": {"scale": jnp.linspace(0.5, 2.0, 5), "bias": jnp.linspace(-1.0, 1.0, 5)},
        "batch_stats": {"mean": jnp.full((5,), 0.3), "var": jnp.full((5,), 1.7)},
    }
    weights = jax.random.normal(jax.random.PRNGKey(2), x.shape)

    def loss(params, x, module, **kwargs):
        y, updates = module.apply(
            {**variables, "params": params}, x, mutable=["batch_stats"], **kwargs
        )
        return jnp.sum(weights * y), updates["batch_stats"]

    (want, want_stats), want_grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(
        variables["params"], x, ref
    )
    (got, got_stats), got_grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(
        variables["params"], x, ours, train=True
    )
    np.testing.assert_allclose(got, want, rtol=1e-5)
    got_leaves = jax.tree.leaves((got_grads, got_stats))
    want_leaves = jax.tree.leaves((want_grads, want_stats))
    assert len(got_leaves) == len(want_leaves) == 5  # d scale, d bias, d x, mean, var
    for a, b in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_conv_impl_reaches_both_models_and_keeps_their_function():
    """model.conv_impl picks how G's and D's stride-2 convs compute, never what they compute."""
    config = config_lib.default_config()
    config.model.g.width = config.model.d.width = 8
    z = jax.random.normal(jax.random.PRNGKey(0), (4, config.gan.z_dim))
    results, d_jaxprs = {}, {}
    for impl in ("auto", "phase", "xla"):
        config.model.conv_impl = impl
        g, d = build_models(config, (28, 28, 1))
        g_vars = g.init(jax.random.PRNGKey(1), z, train=False)
        d_vars = d.init(jax.random.PRNGKey(2), jnp.zeros((1, 28, 28, 1)), train=False)

        def score(g_params, d_params, g=g, d=d, g_vars=g_vars, d_vars=d_vars):
            images = g.apply({**g_vars, "params": g_params}, z, train=False)
            return jnp.sum(jnp.tanh(d.apply({**d_vars, "params": d_params}, images, train=False)))

        results[impl] = jax.value_and_grad(score, argnums=(0, 1))(
            g_vars["params"], d_vars["params"]
        )
        d_jaxprs[impl] = str(
            jax.make_jaxpr(lambda x, d=d, v=d_vars: d.apply(v, x, train=False))(
                jnp.zeros((2, 28, 28, 1))
            )
        )
    for impl in ("auto", "phase"):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
            results[impl],
            results["xla"],
        )
    # D's 'auto' is the hybrid with its own gradient; 'xla' is XLA's convolution alone.
    assert "custom_vjp" in d_jaxprs["auto"] and "custom_vjp" not in d_jaxprs["xla"]
