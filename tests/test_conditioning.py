"""Class conditioning: conditional BatchNorm, the projection discriminator, AC-GAN's class loss,
the combinations refused at start-up, and every experiment file training a few steps."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import data, evaluate, losses, recipes
from jaxgan.config import ConfigError
from jaxgan.data import DataSpec
from jaxgan.models import dcgan
from jaxgan.models.norms import BatchNorm
from jaxgan.recipes import adversarial

from conftest import ROOT

EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py"))


def test_conditional_batchnorm_scales_and_shifts_by_each_examples_class():
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 2, 2, 3)) * 3.0 + 1.0
    label = jnp.array([0, 1, 2, 0, 1, 2])
    bn = BatchNorm(num_classes=3)
    variables = bn.init(jax.random.PRNGKey(1), x, True, label)
    scale = jnp.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [-1.0, 0.0, 4.0]])
    bias = jnp.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-2.0, 0.5, 0.0]])
    params = {"params": {"scale": scale, "bias": bias}}
    y, _ = bn.apply({**variables, **params}, x, True, label, mutable=["batch_stats"])
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    normed = (x - mean) / jnp.sqrt(var + 1e-5)
    want = normed * scale[label][:, None, None] + bias[label][:, None, None]
    np.testing.assert_allclose(y, want, atol=1e-5)
    # A float label mixes the classes' scales and biases (interpolation between classes).
    soft = jnp.tile(jnp.array([[0.5, 0.5, 0.0]]), (6, 1))
    y, _ = bn.apply({**variables, **params}, x, True, soft, mutable=["batch_stats"])
    mix = lambda t: (0.5 * (t[0] + t[1]))[None, None, None]
    np.testing.assert_allclose(y, normed * mix(scale) + mix(bias), atol=1e-5)


def test_the_projection_logit_adds_the_class_embedding_dotted_with_ds_features():
    """With embed(0) = 0 and embed(1) = 2 w (w: the unconditional output weights), the logits
    are w.h + b and 3 w.h + b for the same image."""
    d = dcgan.DCGANDiscriminator(width=4, conditioning="projection", num_classes=2)
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1), minval=-1, maxval=1)
    params = d.init(jax.random.PRNGKey(1), x, jnp.zeros(3, jnp.int32))["params"]
    w, b = params["Dense_0"]["kernel"][:, 0], params["Dense_0"]["bias"][0]
    params["Embed_0"]["embedding"] = jnp.stack([jnp.zeros_like(w), 2 * w])
    logit = lambda y: d.apply({"params": params}, x, jnp.full(3, y, jnp.int32))
    np.testing.assert_allclose(logit(1) - b, 3 * (logit(0) - b), rtol=1e-4, atol=1e-5)
    assert not np.allclose(logit(0), logit(1))


def test_acgan_losses_add_the_class_cross_entropy_to_each_players_loss():
    """D: adversarial loss + w CE(class logits of the real rows, labels); G: its adversarial
    loss + w CE(class logits of its fakes, the labels they were made for)."""
    config = config_lib.default_config("gan", g="dcgan", d="dcgan")
    config.loss.class_weight = 0.7
    real = jnp.array([[0.3, 2.0, -1.0, 0.0], [-0.5, 0.1, 0.2, 3.0]])  # [adv, 3 class logits]
    fake = jnp.array([[-1.2, 0.0, 1.0, 0.5], [0.8, 1.0, 1.0, 1.0]])
    labels = jnp.array([0, 2])
    # D's train-mode call on [real; fake] rows (4) or on fakes alone (2): fixed outputs.
    call = lambda d, params, variables, x, cond, rng: (
        jnp.concatenate([real, fake]) if len(x) == 4 else fake,
        {},
    )
    x = jnp.zeros((2, 1))
    loss, (_, real_logits, _, aux) = adversarial.d_objective(
        {},
        {},
        x,
        x,
        {"label": labels},
        jax.random.PRNGKey(0),
        0,
        d=object(),
        call=call,
        config=config,
    )

    def ce(logits):
        logp = np.asarray(jax.nn.log_softmax(logits))
        return -np.mean(logp[np.arange(len(labels)), np.asarray(labels)])

    adv = losses.LOSSES["non_saturating"][0](real[:, 0], fake[:, 0])
    np.testing.assert_allclose(aux["d_class_loss"], ce(real[:, 1:]), rtol=1e-6)
    np.testing.assert_allclose(loss, adv + 0.7 * ce(real[:, 1:]), rtol=1e-6)
    np.testing.assert_allclose(real_logits, real[:, 0])
    player = types.SimpleNamespace(params={}, variables={})
    g_loss, _ = adversarial.g_adversarial_loss(
        x, {"label": labels}, player, jax.random.PRNGKey(1), d=object(), call=call, config=config
    )
    want = losses.LOSSES["non_saturating"][1](fake[:, 0]) + 0.7 * ce(fake[:, 1:])
    np.testing.assert_allclose(g_loss, want, rtol=1e-6)


UNLABELLED = DataSpec((28, 28, 1), None, None, "a folder of images")


@pytest.mark.parametrize(
    "g_cond, d_cond, g_norm, spec, match",
    [
        ("concat", "none", "batch", None, "condition both G and D on the labels, or neither"),
        ("none", "acgan", "batch", None, "condition both G and D on the labels, or neither"),
        ("cbn", "projection", "none", None, "conditioning='cbn' .* needs model.g.norm='batch'"),
        ("film", "projection", "batch", None, "model.g.conditioning='film' is not allowed"),
        ("concat", "projection", "batch", UNLABELLED, "conditioning='concat' needs labelled"),
        ("concat", "acgan", "batch", UNLABELLED, "conditioning='concat' needs labelled"),
        ("none", "acgan", "batch", UNLABELLED, "conditioning='acgan' needs labelled"),
    ],
)
def test_conditioning_that_cannot_work_stops_at_start_up(g_cond, d_cond, g_norm, spec, match):
    config = config_lib.load_config(str(ROOT / "experiments" / "dcgan.py"), "smoke")
    config.model.g.conditioning, config.model.d.conditioning = g_cond, d_cond
    config.model.g.norm = g_norm
    with pytest.raises(ConfigError, match=match):
        if spec is None:  # The embedded digits: labelled.
            recipes.prepare(config)
        else:
            recipes.get("gan").check(config, spec)


def test_class_accuracy_is_refused_for_an_unconditional_generator():
    config = config_lib.load_config(str(ROOT / "experiments" / "dcgan_plain.py"), "smoke")
    config.eval.metrics = ("fid", "accuracy")
    with pytest.raises(ConfigError, match="'accuracy', which needs a class-conditional generator"):
        evaluate.make_evaluator(config)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_trains_a_few_steps(experiment, request):
    """The smoke variant of each experiment file: two jitted steps on its own data, finite
    (TFDS catalog data from the locally prepared records of the `catalog` fixture)."""
    config = config_lib.load_config(str(ROOT / "experiments" / f"{experiment}.py"), "smoke")
    if config.data.name in ("mnist", "cifar10"):
        config.data.tfds_data_dir = request.getfixturevalue("catalog").dir
    recipe, _ = recipes.prepare(config)
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(recipe.make_train_step(config, data.describe(config.data)))
    rows = config.train.batch_size * config.train.n_critic  # One batch per critic update.
    batches = data.make_iterator(config.data, global_batch_size=rows, seed=0)
    for _ in range(2):
        state, metrics = step(state, jax.tree.map(jnp.asarray, next(batches)))
    assert int(state.step) == 2
    assert all(np.isfinite(v) for v in jax.device_get(metrics).values()), metrics
