"""pix2pix parts: the U-Net generator, the PatchGAN discriminator and the edges_mnist pairs."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import ndimage

from jaxgan.data import edges_mnist, transforms
from jaxgan.data.spec import DataError, DataSpec
from jaxgan.models.patchgan import PatchGANDiscriminator, receptive_field
from jaxgan.models.unet import UNetGenerator

KEY = jax.random.PRNGKey(0)


def _images(side: int, channels: int = 1, batch: int = 2) -> jax.Array:
    return jax.random.uniform(KEY, (batch, side, side, channels), minval=-1.0, maxval=1.0)


# Leaf name -> its value in `_init`: kernels as the models initialise them, norms as identity.
FILL = {"kernel": 0.02, "scale": 1.0, "var": 1.0, "bias": 0.0, "mean": 0.0}


@functools.cache
def _compiled(model):
    """(train, evaluate) of a model, each compiled once per input shape and shared by the tests:
    op-by-op dispatch would compile every layer separately (several times slower)."""
    train = jax.jit(
        lambda variables, x, key: model.apply(
            variables, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"]
        )[0]
    )
    evaluate = jax.jit(lambda variables, x: model.apply(variables, x, train=False))
    return train, evaluate


def _init(model, x):
    """Variables of `model` drawn with numpy: compiling `model.init` (its random-number code)
    would take longer than the test itself. test_init checks the real init has this form."""
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        value = FILL[path[-1].key]
        if path[-1].key == "kernel":
            return jnp.asarray(rng.normal(0.0, value, leaf.shape), leaf.dtype)
        return jnp.full(leaf.shape, value, leaf.dtype)

    shapes = jax.eval_shape(lambda x: model.init(KEY, x, train=False), x)
    return jax.tree_util.tree_map_with_path(fill, shapes)


def _train(model, variables, x, seed=0):
    """Outputs in training mode: batch statistics, dropout with key `seed`."""
    return _compiled(model)[0](variables, x, jax.random.PRNGKey(seed))


def _evaluate(model, variables, x):
    return _compiled(model)[1](variables, x)


@pytest.mark.parametrize(
    "model", [UNetGenerator(out_channels=1, width=4, depth=2), PatchGANDiscriminator(width=4)]
)
def test_init(model):
    """The real init: normal(0.02) kernels, zero biases, identity norms (what `_init` draws)."""
    x = _images(24, channels=2)
    variables = jax.jit(lambda x: model.init(KEY, x, train=False))(x)
    leaves = jax.tree_util.tree_leaves_with_path(variables)
    assert {path[-1].key for path, _ in leaves} <= set(FILL)
    kernels = np.concatenate([np.ravel(v) for p, v in leaves if p[-1].key == "kernel"])
    assert abs(kernels.std() - 0.02) < 0.002 and abs(kernels.mean()) < 0.002
    for path, value in leaves:
        if path[-1].key != "kernel":
            np.testing.assert_array_equal(value, FILL[path[-1].key])


# ---- U-Net ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "depth"), [(16, 0), (16, 3), (32, 0), (32, 3)])
def test_unet_output_shape_and_range(side, depth):
    model = UNetGenerator(out_channels=3, width=4, depth=depth)
    x = _images(side)
    y = _train(model, _init(model, x), x)
    assert y.shape == (2, side, side, 3) and y.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(y))) and bool(jnp.all(jnp.abs(y) <= 1))


def test_unet_skips_carry_full_resolution_detail():
    model = UNetGenerator(out_channels=1, width=4, norm="none", dropout=0.0)
    x = _images(16)
    params = _init(model, x)["params"]

    @jax.jit
    def corner_gradient(params):
        """|d output[:2, :2] / d source| per source pixel."""
        corner = lambda s: model.apply({"params": params}, s, train=False)[:, :2, :2].sum()
        return jnp.abs(jax.grad(corner)(x)).sum(axis=(0, 3))

    assert corner_gradient(params)[0, 0] > 0  # The top-left source pixel moves the output there.
    # Zero the second encoder layer: every deeper feature is then constant, so the source reaches
    # the output through the outermost (full-resolution) skip connection only, and locally.
    down1 = params["down1"]
    cut = dict(params, down1={k: jnp.zeros_like(v) for k, v in down1.items()})
    gradient = np.asarray(corner_gradient(cut))
    assert (gradient[:4, :4] > 0).all()
    assert not gradient[6:].any() and not gradient[:, 6:].any()


def test_unet_dropout():
    model = UNetGenerator(out_channels=3, width=4)  # 32: depth 5, dropout on 3 decoder blocks.
    x = _images(32)
    variables = _init(model, x)
    first = _train(model, variables, x, seed=1)
    assert not np.allclose(first, _train(model, variables, x, seed=2))
    np.testing.assert_array_equal(first, _train(model, variables, x, seed=1))
    evaluated = _evaluate(model, variables, x)  # No rng needed.
    np.testing.assert_array_equal(evaluated, _evaluate(model, variables, x))
    assert not np.allclose(evaluated, first)


@pytest.mark.parametrize(("side", "depth"), [(28, 0), (24, 4), (16, 5)])
def test_unet_bad_size_is_named(side, depth):
    model = UNetGenerator(out_channels=1, width=4, depth=depth)
    with pytest.raises(ValueError, match=f"depth={depth}.*{side}x{side}"):
        model.init(KEY, _images(side), train=False)


# ---- PatchGAN -------------------------------------------------------------------------------


def test_receptive_field_values():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]


@pytest.mark.parametrize(
    ("num_layers", "norm", "grid"),
    [(1, "batch", 14), (2, "batch", 6), (3, "batch", 2), (3, "instance", 2), (3, "none", 2)],
)
def test_patchgan_logits_shape(num_layers, norm, grid):
    model = PatchGANDiscriminator(width=4, num_layers=num_layers, norm=norm)
    x = _images(32, channels=2)  # (source, image) concatenated
    logits = _train(model, _init(model, x), x)
    assert logits.shape == (2, grid, grid) and logits.dtype == jnp.float32


@pytest.mark.parametrize(("num_layers", "side"), [(1, 32), (2, 32), (3, 32), (2, 64), (3, 128)])
def test_patchgan_empirical_receptive_field(num_layers, side):
    """The source pixels that move the central logit form its receptive field, cut to the image:
    logit o sees pixels o * 2^n - (3 * 2^n - 1) (the paddings) onwards, receptive_field(n) of them.
    """
    model = PatchGANDiscriminator(width=4, num_layers=num_layers, norm="none")
    x = _images(side, channels=2)
    variables = _init(model, x)
    center = (side // 2**num_layers - 2) // 2
    central = lambda x: model.apply(variables, x)[0, center, center]
    support = np.asarray(jax.jit(jax.grad(central))(x)[0]).any(-1)
    field, stride = receptive_field(num_layers), 2**num_layers
    start = center * stride - (3 * stride - 1)
    expected = np.arange(max(start, 0), min(start + field, side))
    for axis in (0, 1):
        np.testing.assert_array_equal(np.flatnonzero(support.any(axis=1 - axis)), expected)
    if start >= 0 and start + field <= side:
        assert len(expected) == field


def test_patchgan_too_small_is_named():
    with pytest.raises(ValueError, match="num_layers=3.*16x16"):
        PatchGANDiscriminator(width=4).init(KEY, _images(16, channels=2), train=False)


# ---- edges_mnist ----------------------------------------------------------------------------


def _config(**overrides) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(
        {"name": "edges_mnist", "split": "test", "image_size": 0, "channels": 0, "cache_dir": ""}
    )
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def native_test_split():
    num_examples, read = edges_mnist.reader(_config(), (28, 28, 1))
    return num_examples, read(np.arange(num_examples))


def test_edges_mnist_native_pairs(native_test_split):
    num_examples, batch = native_test_split
    assert num_examples == 500 and set(batch) == {"image", "source", "label"}
    assert batch["image"].shape == batch["source"].shape == (500, 28, 28, 1)
    assert batch["image"].dtype == batch["source"].dtype == np.uint8
    assert batch["label"].dtype == np.int64 and set(batch["label"].tolist()) == set(range(10))
    assert set(np.unique(batch["source"]).tolist()) == {0, 255}
    edges, ink = batch["source"][..., 0] > 0, batch["image"][..., 0] > 0
    assert edges.any(axis=(1, 2)).all()  # Every digit has an outline.
    near_ink = ndimage.binary_dilation(ink, np.ones((1, 3, 3), bool))
    assert not (edges & ~near_ink).any()  # Aligned: each edge pixel is on or next to the stroke.


def test_edges_mnist_describe_and_resized_pairs(native_test_split):
    cfg = _config(image_size=32)
    spec = edges_mnist.describe(cfg)
    assert spec == DataSpec((32, 32, 1), 10, 500, "edges_mnist", extra=(("source", (32, 32, 1)),))
    assert spec.fields == {"x": (32, 32, 1), "label": (), "source": (32, 32, 1)}
    assert edges_mnist.describe(_config(split="train")).num_examples == 4500
    num_examples, read = edges_mnist.reader(cfg, spec.shape)
    batch = read(np.array([3, 141, 499]))
    assert num_examples == 500
    assert batch["image"].shape == batch["source"].shape == (3, 32, 32, 1)
    native = native_test_split[1]
    for i, index in enumerate((3, 141, 499)):  # Both resized exactly like a lone image.
        for key in ("image", "source"):
            np.testing.assert_array_equal(batch[key][i], transforms.fit(native[key][index], 32, 1))


def test_edges_mnist_bad_split():
    with pytest.raises(DataError, match="validation"):
        edges_mnist.describe(_config(split="validation"))
