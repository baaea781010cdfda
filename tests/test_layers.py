"""ConvTranspose2x / Conv2x: every impl computes PyTorch's stride-2 layers, with the same params."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import layers

UP = sorted(layers.UP_IMPLS)
DOWN = sorted(layers.DOWN_IMPLS)


def torch_conv_transpose_ref(x, w, bias):
    """PyTorch ConvTranspose2d(k, stride=2, padding=k/2-1) by its definition (scatter-add).

    x (n, h, w, in) NHWC; w (in, out, k, k) in PyTorch's layout: y[2i + a - p, 2j + b - p] +=
    x[i, j] @ w[:, :, a, b]; taps falling outside the 2h x 2w output are dropped.
    """
    n, h, wd, _ = x.shape
    k, p = w.shape[-1], w.shape[-1] // 2 - 1
    y = np.zeros((n, 2 * h + 2 * k, 2 * wd + 2 * k, w.shape[1]))  # margin k on each side
    for i in range(h):
        for j in range(wd):
            for a in range(k):
                for b in range(k):
                    y[:, k + 2 * i + a - p, k + 2 * j + b - p] += x[:, i, j] @ w[:, :, a, b]
    return y[:, k : k + 2 * h, k : k + 2 * wd] + bias


def torch_conv_ref(x, w, bias):
    """PyTorch Conv2d(k, stride=2, padding=k/2-1) by its definition; w (out, in, k, k)."""
    n, h, wd, _ = x.shape
    k, p = w.shape[-1], w.shape[-1] // 2 - 1
    ho, wo = (h + 2 * p - k) // 2 + 1, (wd + 2 * p - k) // 2 + 1
    y = np.zeros((n, ho, wo, w.shape[0]))
    for i in range(ho):
        for j in range(wo):
            for a in range(k):
                for b in range(k):
                    r, c = 2 * i + a - p, 2 * j + b - p
                    if 0 <= r < h and 0 <= c < wd:
                        y[:, i, j] += x[:, r, c] @ w[:, :, a, b].T
    return y + bias


def init(module, x, seed=0):
    params = module.init(jax.random.key(seed), x)["params"]
    # Non-zero bias so that its gradient and its place in the output are tested too.
    if "bias" in params:
        params = {
            **params,
            "bias": jax.random.normal(jax.random.key(seed + 1), params["bias"].shape),
        }
    return params


def random_input(shape, seed=1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


UP_CASES = [((2, 7, 7, 3), 5, 4), ((3, 4, 5, 2), 4, 4), ((2, 1, 1, 4), 3, 4), ((2, 5, 3, 3), 2, 2)]
UP_CASES += [((2, 3, 4, 2), 3, 6)]
DOWN_CASES = [
    ((2, 14, 14, 3), 5, 4),
    ((3, 7, 9, 2), 4, 4),
    ((2, 6, 5, 3), 2, 2),
    ((2, 8, 8, 2), 3, 6),
]


@pytest.mark.parametrize("impl", UP)
@pytest.mark.parametrize("shape,features,k", UP_CASES)
def test_conv_transpose_matches_pytorch_definition(impl, shape, features, k):
    x = random_input(shape)
    module = layers.ConvTranspose2x(features, kernel_size=k, impl=impl)
    params = init(module, x)
    y = module.apply({"params": params}, x)
    assert y.shape == (shape[0], 2 * shape[1], 2 * shape[2], features)
    # The documented conversion from a PyTorch weight (in, out, k, k), inverted.
    w = np.asarray(params["kernel"])[::-1, ::-1].transpose(2, 3, 0, 1)
    expected = torch_conv_transpose_ref(np.asarray(x, np.float64), w, np.asarray(params["bias"]))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", DOWN)
@pytest.mark.parametrize("shape,features,k", DOWN_CASES)
def test_conv_matches_pytorch_definition(impl, shape, features, k):
    x = random_input(shape)
    module = layers.Conv2x(features, kernel_size=k, impl=impl)
    params = init(module, x)
    y = module.apply({"params": params}, x)
    assert y.shape == (shape[0], shape[1] // 2, shape[2] // 2, features)
    w = np.asarray(params["kernel"]).transpose(3, 2, 0, 1)  # PyTorch (out, in, k, k)
    expected = torch_conv_ref(np.asarray(x, np.float64), w, np.asarray(params["bias"]))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def _grads(module, params, x, probe):
    """Gradients of a random linear functional of the output w.r.t. params and input."""

    def functional(params, x):
        return jnp.sum(module.apply({"params": params}, x) * probe)

    return jax.grad(functional, argnums=(0, 1))(params, x)


@pytest.mark.parametrize(
    "cls,impls,shape,k",
    [
        (layers.ConvTranspose2x, UP, (2, 7, 7, 3), 4),
        (layers.ConvTranspose2x, UP, (3, 5, 4, 2), 6),
        (layers.Conv2x, DOWN, (2, 14, 14, 3), 4),
        (layers.Conv2x, DOWN, (2, 8, 6, 6), 4),
        (layers.Conv2x, DOWN, (2, 8, 8, 5), 6),
        (layers.Conv2x, DOWN, (3, 7, 6, 2), 4),
    ],
)
def test_impls_agree_on_output_and_gradients(cls, impls, shape, k):
    x = random_input(shape)
    outs = {}
    for impl in impls:
        module = cls(4, kernel_size=k, impl=impl)
        params = init(module, x)
        y = module.apply({"params": params}, x)
        probe = random_input(y.shape, seed=2)
        outs[impl] = (y, *_grads(module, params, x, probe))
    reference = outs[impls[0]]
    for impl in impls[1:]:
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4),
            outs[impl],
            reference,
        )
    # The gradients are those of the plain flax layer too (same params, same function).
    plain = _plain_flax(cls, 4, k)
    params = init(plain, x)
    y = plain.apply({"params": params}, x)
    probe = random_input(y.shape, seed=2)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4),
        (y, *_grads(plain, params, x, probe)),
        reference,
    )


@pytest.mark.parametrize("features", [3, 5])
@pytest.mark.parametrize(
    "cls,impls,shape",
    [(layers.ConvTranspose2x, UP, (2, 5, 4, 6)), (layers.Conv2x, DOWN, (2, 8, 6, 6))],
)
def test_impls_agree_on_gradients_of_input_gradients(cls, impls, shape, features):
    """R1 and WGAN-GP differentiate D's input gradient w.r.t. its params: every impl agrees."""
    x = random_input(shape)

    def penalty_grads(impl):
        module = cls(features, impl=impl)
        params = init(module, x)

        def penalty(params):
            out = lambda x: jnp.sum(jnp.tanh(module.apply({"params": params}, x)))  # noqa: E731
            return jnp.sum(jax.grad(out)(x) ** 2)

        return jax.grad(penalty)(params)

    reference = penalty_grads("xla")
    for impl in impls:
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
            penalty_grads(impl),
            reference,
        )


def _plain_flax(cls, features, k, **kw):
    """The flax layer each module stands in for (PyTorch padding k/2-1, stride 2)."""
    if cls is layers.ConvTranspose2x:
        return nn.ConvTranspose(features, (k, k), strides=(2, 2), padding=k // 2, **kw)
    return nn.Conv(features, (k, k), strides=(2, 2), padding=k // 2 - 1, **kw)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize(
    "cls,impls,shape",
    [(layers.ConvTranspose2x, UP, (2, 7, 7, 3)), (layers.Conv2x, DOWN, (2, 8, 8, 3))],
)
def test_params_are_those_of_the_plain_flax_layer(cls, impls, shape, use_bias):
    x = random_input(shape)
    expected = _plain_flax(cls, 6, 4, use_bias=use_bias).init(jax.random.key(3), x)
    for impl in impls:
        got = cls(6, impl=impl, use_bias=use_bias).init(jax.random.key(3), x)
        assert jax.tree.structure(got) == jax.tree.structure(expected)
        jax.tree.map(np.testing.assert_array_equal, got, expected)
    assert ("bias" in expected["params"]) == use_bias


@pytest.mark.parametrize("cls,impls", [(layers.ConvTranspose2x, UP), (layers.Conv2x, DOWN)])
def test_dtype_sets_the_computation_dtype(cls, impls):
    x = random_input((2, 8, 8, 3))
    for impl in impls:
        module = cls(4, impl=impl, dtype=jnp.bfloat16)
        variables = module.init(jax.random.key(0), x)
        assert variables["params"]["kernel"].dtype == jnp.float32
        assert module.apply(variables, x).dtype == jnp.bfloat16


@pytest.mark.parametrize("cls", [layers.ConvTranspose2x, layers.Conv2x])
def test_bad_impl_or_kernel_size_raises(cls):
    x = random_input((1, 4, 4, 2))
    with pytest.raises(ValueError, match="'fft'"):
        cls(3, impl="fft").init(jax.random.key(0), x)
    for k in (3, 0, (4, 4)):
        with pytest.raises(ValueError, match="kernel_size"):
            cls(3, kernel_size=k).init(jax.random.key(0), x)


@pytest.mark.parametrize("impl", DOWN)
@pytest.mark.parametrize("shape,planes,k", [((3, 14, 14, 1), 10, 4), ((2, 8, 6, 3), 4, 6)])
def test_constant_planes_equal_concatenated_channels(impl, shape, planes, k):
    """Conv2x(x, planes) is the conv of x with the planes appended as constant channels (the
    conditional GAN's label planes): values, and gradients for params, x and the plane values
    (soft labels), at zero-padded borders too."""
    x = random_input(shape)
    values = jax.random.normal(jax.random.PRNGKey(7), (shape[0], planes))
    module = layers.Conv2x(5, kernel_size=k, impl=impl)
    params = init(module, jnp.zeros(shape[:3] + (shape[3] + planes,)))
    probe = jax.random.normal(jax.random.PRNGKey(8), (shape[0], shape[1] // 2, shape[2] // 2, 5))

    def appended(params, x, values):
        channels = jnp.broadcast_to(values[:, None, None, :], shape[:3] + (planes,))
        return module.apply({"params": params}, jnp.concatenate([x, channels], -1))

    def split(params, x, values):
        return module.apply({"params": params}, x, values)

    np.testing.assert_allclose(split(params, x, values), appended(params, x, values), atol=1e-5)
    grads = [
        jax.grad(lambda *a, f=f: jnp.sum(f(*a) * probe), argnums=(0, 1, 2))(params, x, values)
        for f in (split, appended)
    ]
    chex.assert_trees_all_close(grads[0], grads[1], atol=1e-4, rtol=1e-5)
