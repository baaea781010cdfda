"""The SNGAN/BigGAN-style ResNet G and D: shapes at 28, 32 and 64, conditioning (cbn, BigGAN's
shared embedding and hierarchical latents, projection), self-attention, and the combinations
refused at start-up. Two training steps of experiments/hinge_sngan.py and biggan.py run in
tests/test_conditioning.py (every experiment file)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import recipes
from jaxgan.config import ConfigError
from jaxgan.data import DataSpec
from jaxgan.models import resnet
from jaxgan.recipes import gan

from conftest import ROOT, build_models

LABELS = jnp.array([0, 3])


def _config(g_cond="none", d_cond="none", **g_keys):
    config = jaxgan.default_config("gan", g="resnet", d="resnet")
    config.model.g.update(width=4, embed_dim=4, conditioning=g_cond, **g_keys)
    config.model.d.update(width=4, conditioning=d_cond)
    config.gan.z_dim = 12
    return config


def _init_apply(module, x, label=None, train=False):
    """(variables, output) of a fresh module: init, then one call in train or inference mode."""
    kwargs = {} if label is None else {"label": label}
    variables = module.init(jax.random.PRNGKey(0), x, train=False, **kwargs)
    out = module.apply(variables, x, train=train, mutable=train, **kwargs)
    return variables, out[0] if train else out


def _shapes(module, x, label=None, train=False):
    """_init_apply's results as shapes: traced, not run (eager flax compiles op by op)."""
    return jax.eval_shape(lambda x: _init_apply(module, x, label, train), x)


def test_resnet_is_a_gan_architecture_and_the_defaults_stay_first():
    assert gan.GENERATORS[0] == "dcgan" and gan.DISCRIMINATORS[0] == "dcgan"
    assert "resnet" in gan.GENERATORS and "resnet" in gan.DISCRIMINATORS
    config = jaxgan.default_config("gan", g="resnet", d="resnet")
    assert config.model.d.spectral_norm and not config.model.g.spectral_norm


@pytest.mark.parametrize(
    "shape, g_cond, d_cond",
    [
        ((28, 28, 1), "none", "none"),  # 7x7 -> 28x28
        ((28, 28, 1), "cbn", "projection"),
        ((32, 32, 3), "biggan", "projection"),  # 4x4 -> 32x32
        ((64, 64, 3), "biggan", "projection"),  # 4x4 -> 64x64: z in 5 chunks
        ((64, 64, 1), "none", "none"),
    ],
)
def test_g_makes_images_of_the_data_shape_and_d_one_logit_each(shape, g_cond, d_cond):
    config = _config(g_cond, d_cond)
    g, d = build_models(config, shape) if g_cond == "none" else _conditional(config, shape)
    label = None if g_cond == "none" else LABELS
    variables, images = _shapes(g, jnp.zeros((2, config.gan.z_dim)), label, train=True)
    assert images.shape == (2,) + shape and images.dtype == jnp.float32
    assert "batch_stats" in variables
    _, logits = _shapes(d, images, label if d_cond != "none" else None)
    assert logits.shape == (2,) and logits.dtype == jnp.float32


def _conditional(config, shape):
    from jaxgan.recipes import common

    return common.build_pair(config, DataSpec(tuple(shape), 10, None, "test"))


def test_channels_double_as_the_side_halves_and_depth_adds_blocks():
    """28 = 7 * 2^2: G 7x7x(4w) -> 14x14x(2w) -> 28x28x(w); D 14x14x(w) -> 7x7x(2w)."""
    config = _config(depth=2)
    config.model.d.depth = 2
    g, d = build_models(config, (28, 28, 1))
    g_params = _shapes(g, jnp.ones((1, 12)))[0]["params"]
    assert g_params["Dense_0"]["kernel"].shape == (12, 7 * 7 * 16)
    blocks = sorted(k for k in g_params if k.startswith("GBlock"))
    assert len(blocks) == 4  # Two stages of depth 2.
    outs = [g_params[b]["Conv_1"]["kernel"].shape[-1] for b in blocks]
    assert outs == [8, 8, 4, 4]
    assert "Conv_2" in g_params["GBlock_0"] and "Conv_2" not in g_params["GBlock_1"]
    d_params = _shapes(d, jnp.ones((1, 28, 28, 1)))[0]["params"]
    outs = [d_params[f"DBlock_{i}"]["Conv_1"]["kernel"].shape[-1] for i in range(4)]
    assert outs == [4, 4, 8, 8]
    assert d_params["Dense_0"]["kernel"].shape == (8, 1)


def test_conditional_models_need_labels():
    config = _config("cbn", "projection")
    g, d = _conditional(config, (28, 28, 1))
    with pytest.raises(ValueError, match="conditional .*'cbn'.*pass labels"):
        g.init(jax.random.PRNGKey(0), jnp.ones((2, 12)), train=False)
    with pytest.raises(ValueError, match="conditional .*'projection'.*pass labels"):
        d.init(jax.random.PRNGKey(0), jnp.ones((2, 28, 28, 1)), train=False)
    config = _config("biggan", "projection")
    g, _ = _conditional(config, (28, 28, 1))
    with pytest.raises(ValueError, match="'biggan'.*pass labels"):
        g.init(jax.random.PRNGKey(0), jnp.ones((2, 12)), train=False)


@pytest.mark.parametrize("g_cond", ["cbn", "biggan"])
def test_the_label_changes_the_conditional_generators_images(g_cond):
    config = _config(g_cond, "projection")
    g, _ = _conditional(config, (28, 28, 1))
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 12))
    variables = g.init(jax.random.PRNGKey(0), z, LABELS, train=False)
    if g_cond == "cbn":  # Per-class scales start equal: make class 3's its own.
        scale = variables["params"]["GBlock_1"]["BatchNorm_0"]["scale"]
        variables["params"]["GBlock_1"]["BatchNorm_0"]["scale"] = scale.at[3].set(2.0)
    run = lambda y: g.apply(variables, z, jnp.full((2,), y), train=False)
    assert not np.allclose(run(0), run(3))


def test_the_projection_logit_adds_the_class_embedding_dotted_with_ds_pooled_features():
    """Without spectral norm, embed(0) = 0 and embed(1) = 2 w (w: the unconditional output
    weights) give logits w.h + b and 3 w.h + b for the same image."""
    d = resnet.ResNetDiscriminator(
        width=4, spectral_norm=False, conditioning="projection", num_classes=2
    )
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1), minval=-1, maxval=1)
    params = d.init(jax.random.PRNGKey(1), x, jnp.zeros(3, jnp.int32), train=False)["params"]
    w, b = params["Dense_0"]["kernel"][:, 0], params["Dense_0"]["bias"][0]
    params["Embed_0"]["embedding"] = jnp.stack([jnp.zeros_like(w), 2 * w])
    logit = lambda y: d.apply({"params": params}, x, jnp.full(3, y, jnp.int32), train=False)
    np.testing.assert_allclose(logit(1) - b, 3 * (logit(0) - b), rtol=1e-4, atol=1e-5)
    assert not np.allclose(logit(0), logit(1))


def test_biggan_gives_each_block_a_chunk_of_z_and_the_shared_embedding():
    """z (12) splits into 3 chunks of 4: the dense layer reads the first; block i's BatchNorm
    gains and biases are linear in [shared embedding (4), chunk i + 1 (4)]."""
    config = _config("biggan", "projection")
    g, _ = _conditional(config, (28, 28, 1))
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 12))
    variables = g.init(jax.random.PRNGKey(0), z, LABELS, train=False)
    params = variables["params"]
    assert params["shared_embedding"].shape == (10, 4)
    assert params["Dense_0"]["kernel"].shape == (4, 7 * 7 * 16)
    for block, channels in (("GBlock_0", (16, 8)), ("GBlock_1", (8, 4))):
        gains = [params[block][f"Dense_{i}"]["kernel"].shape for i in range(4)]
        assert gains == [(8, channels[0])] * 2 + [(8, channels[1])] * 2
        assert "BatchNorm_0" not in params[block]  # No scale or bias of its own: the gains'.
        assert set(variables["batch_stats"][block]["BatchNorm_0"]) == {"mean", "var"}
    run = lambda z: g.apply(variables, z, LABELS, train=False)
    for chunk in range(3):  # Each chunk of z reaches the image.
        moved = z.at[:, 4 * chunk : 4 * chunk + 4].add(1.0)
        assert not np.allclose(run(z), run(moved)), chunk
    with pytest.raises(ValueError, match="splits z into 3 chunks .*use gan.z_dim >= 3"):
        g.init(jax.random.PRNGKey(0), jnp.ones((2, 2)), LABELS, train=False)


def test_self_attention_is_sagans_and_starts_as_the_identity():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 3, 16))
    block = resnet.SelfAttention()
    variables = block.init(jax.random.PRNGKey(1), x, train=False)
    np.testing.assert_allclose(block.apply(variables, x, train=False), x)  # gamma = 0
    p = jax.tree.map(np.asarray, variables["params"])
    p["gamma"] = np.float32(0.5)
    flat = np.asarray(x).reshape(2, 9, 16)
    q, k = flat @ p["Dense_0"]["kernel"], flat @ p["Dense_1"]["kernel"]
    v = flat @ p["Dense_2"]["kernel"]
    assert q.shape[-1] == 2 and v.shape[-1] == 8  # C/8 and C/2.
    logits = q @ k.transpose(0, 2, 1)
    attn = np.exp(logits - logits.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    want = flat + 0.5 * (attn @ v) @ p["Dense_3"]["kernel"]
    got = block.apply({"params": p}, x, train=False)
    np.testing.assert_allclose(got, want.reshape(x.shape), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("role, side", [("g", 14), ("g", 28), ("d", 14), ("d", 7)])
def test_attention_goes_after_the_blocks_of_its_side(role, side):
    config = _config()
    config.model[role].attention = side
    g, d = build_models(config, (28, 28, 1))
    module, x = (g, jnp.ones((2, 12))) if role == "g" else (d, jnp.ones((2, 28, 28, 1)))
    variables, out = _shapes(module, x, train=True)
    assert "SelfAttention_0" in variables["params"] and out.shape[0] == 2
    if role == "d":  # Spectral norm (D's default) covers the attention's projections too.
        assert len(variables["spectral"]["SelfAttention_0"]) == 4


@pytest.mark.parametrize(
    "keys, match",
    [
        (
            {"g.conditioning": "cbn", "d.conditioning": "projection", "g.norm": "none"},
            "conditioning='cbn' conditions G's BatchNorm .* needs model.g.norm='batch'",
        ),
        (
            {"g.conditioning": "biggan", "d.conditioning": "projection", "g.norm": "none"},
            "conditioning='biggan' conditions G's BatchNorm .* needs model.g.norm='batch'",
        ),
        ({"g.attention": 7}, r"model.g.attention=7: .* choose one of \[14, 28\]"),
        ({"d.attention": 28}, r"model.d.attention=28: .* choose one of \[7, 14\]"),
        ({"g.conditioning": "biggan"}, "condition both G and D on the labels, or neither"),
        ({"d.conditioning": "acgan"}, "model.d.conditioning='acgan' is not allowed"),
        ({"g.conditioning": "concat"}, "model.g.conditioning='concat' is not allowed"),
        ({"g.depth": 0}, "model.g.depth=0"),
    ],
)
def test_combinations_that_cannot_work_stop_at_start_up(keys, match):
    config = jaxgan.load_config(str(ROOT / "experiments" / "hinge_sngan.py"), "smoke")
    for key, value in keys.items():
        role, name = key.split(".")
        config.model[role][name] = value
    with pytest.raises(ConfigError, match=match):
        recipes.prepare(config)  # The embedded digits: 28x28x1, labelled.


@pytest.mark.parametrize(
    "role, shape, attention, match",
    [
        ("g", (32, 32, 3), 4, r"model.g.attention=4: .* choose one of \[8, 16, 32\]"),
        ("d", (64, 64, 3), 64, r"model.d.attention=64: .* choose one of \[4, 8, 16, 32\]"),
        ("g", (20, 20, 1), 0, r"4 \* 2\^n or 7 \* 2\^n"),
        ("d", (28, 14, 1), 0, "need square images"),
    ],
)
def test_shapes_the_models_cannot_take_are_refused(role, shape, attention, match):
    cfg = _config().model[role]
    cfg.attention = attention
    with pytest.raises(ValueError, match=match):
        jaxgan.models.architecture(role, cfg).check(cfg, shape)


def test_biggan_with_fewer_latent_dims_than_chunks_stops_at_start_up():
    config = jaxgan.load_config(str(ROOT / "experiments" / "biggan.py"), "smoke")
    config.gan.z_dim = 2  # 28x28: two up-blocks and the dense layer need 3 chunks.
    with pytest.raises(ConfigError, match=r"gan.z_dim=2 is too small .* use gan.z_dim >= 3"):
        recipes.prepare(config)
    config.gan.z_dim = 3
    recipes.prepare(config)
