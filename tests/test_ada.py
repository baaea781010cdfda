"""ADA: the transforms (identity at p = 0, exact pixel moves for the integer ones, colour
matrices), differentiability, the p controller and its state, and the start-up errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import ada, data, recipes
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial, common, gan

from conftest import ROOT


def _images(n=6, size=8, channels=3, seed=0):
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, size, size, channels), minval=-1)


@pytest.mark.parametrize("ops", [("blit",), ("geom",), ("color",), ("cutout",), ada.GROUPS])
def test_each_group_is_the_identity_at_p_0_and_changes_images_at_p_1(ops):
    x = _images()
    (same,) = ada.augment((x,), jax.random.PRNGKey(1), 0.0, ops)
    np.testing.assert_allclose(same, x, atol=1e-6)
    (changed,) = ada.augment((x,), jax.random.PRNGKey(1), 1.0, ops)
    assert float(jnp.mean(jnp.abs(changed - x))) > 0.05


def test_resampling_moves_pixels_exactly_for_flips_and_quarter_turns():
    x = _images(n=2, size=6)
    eye = jnp.broadcast_to(jnp.eye(3), (2, 3, 3))
    np.testing.assert_allclose(ada.resample(x, eye), x, atol=1e-6)
    flip = jnp.broadcast_to(jnp.diag(jnp.array([-1.0, 1.0, 1.0])), (2, 3, 3))
    np.testing.assert_allclose(ada.resample(x, flip), x[:, :, ::-1], atol=1e-6)
    quarter = jnp.broadcast_to(ada._rotate(jnp.array(math.pi / 2)), (2, 3, 3))
    np.testing.assert_allclose(ada.resample(x, quarter), np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    shift = jnp.broadcast_to(ada._translate(jnp.array(2.0), jnp.array(0.0)), (2, 3, 3))
    # Output column j reads input column j + 2; past the edge, the mirrored image.
    np.testing.assert_allclose(ada.resample(x, shift)[:, :, :4], x[:, :, 2:], atol=1e-6)
    np.testing.assert_allclose(ada.resample(x, shift)[:, :, 4:], x[:, :, [4, 3]], atol=1e-6)


def test_blit_transforms_only_move_pixels():
    x = _images(n=16)
    (y,) = ada.augment((x,), jax.random.PRNGKey(3), 1.0, ("blit",))
    for xi, yi in zip(np.asarray(x), np.asarray(y), strict=True):
        xi, yi = xi.reshape(-1, 1, 3), yi.reshape(1, -1, 3)
        nearest = np.abs(xi - yi).max(-1).min(0)  # Each output pixel to its closest input.
        assert nearest.max() < 1e-5


def test_colour_matrices_keep_the_luma_axis_and_saturation_0_greys_colours():
    v = ada._luma_axis()
    r = ada._rotate_about(v[:3], jnp.array([0.3, -2.0]))
    np.testing.assert_allclose(r @ v, jnp.stack([v, v]), atol=1e-6)  # Hue keeps grey grey.
    np.testing.assert_allclose(
        r[:, :3, :3] @ r[:, :3, :3].transpose(0, 2, 1), jnp.stack([jnp.eye(3)] * 2), atol=1e-6
    )
    colour = jnp.array([0.9, -0.2, 0.1, 1.0])
    grey = jnp.outer(v, v) @ colour  # Saturation 0.
    np.testing.assert_allclose(grey[:3], jnp.mean(colour[:3]), atol=1e-6)
    # Grey images take the mean of the RGB rows: a luma flip alone inverts them.
    flip = jnp.eye(4) - 2 * jnp.outer(v, v)
    x = _images(n=1, channels=1)
    np.testing.assert_allclose(ada.apply_color(x, flip[None]), -x, atol=1e-6)


def test_the_pipeline_is_differentiable_and_shared_by_a_pair():
    x = _images()
    grad = jax.grad(
        lambda x: jnp.sum(ada.augment((x,), jax.random.PRNGKey(1), 1.0, ada.GROUPS)[0] ** 2)
    )(x)
    assert np.isfinite(grad).all() and float(jnp.abs(grad).mean()) > 0
    a, b = ada.augment((x, x), jax.random.PRNGKey(4), 0.7, ada.GROUPS)
    np.testing.assert_array_equal(a, b)


def test_p_follows_the_sign_of_r_t_minus_the_target_within_0_and_1():
    config = config_lib.default_config()
    config.augment.ada_kimg = 1.0
    up = ada.adjust(jnp.float32(0.5), 0.9, 100, config)
    down = ada.adjust(jnp.float32(0.5), 0.1, 100, config)
    assert float(up) == pytest.approx(0.6) and float(down) == pytest.approx(0.4)
    assert float(ada.adjust(jnp.float32(0.95), 1.0, 100, config)) == 1.0
    assert float(ada.adjust(jnp.float32(0.05), -1.0, 100, config)) == 0.0


def _smoke(**augment):
    config = config_lib.load_config(str(ROOT / "experiments" / "stylegan2_ada.py"), "smoke")
    config.data.image_size = 8
    config.augment.update(augment)
    return config


def test_fixed_p_stays_and_adaptive_p_moves_in_the_state():
    for mode, moves in (("fixed", False), ("adaptive", True)):
        config = _smoke(ada=mode, ada_p=0.5, ada_kimg=0.1)
        recipe, spec = recipes.prepare(config)
        state = recipes.create_train_state(config, jax.random.PRNGKey(0))
        step = jax.jit(recipe.make_train_step(config, spec))
        batch = {"x": _images(n=config.train.batch_size, channels=1), "label": jnp.zeros(8)}
        new, metrics = step(state, batch)
        assert float(metrics["ada_p"]) == 0.5 and metrics["finite"] == 1.0
        assert (float(new.extras["ada_p"]) != 0.5) == moves, mode


def _p_after_d_learns(config, steps=300, batch=16):
    """p after `steps` D updates on the training digits against held-out real digits as the
    "fakes" (a perfect G): D can only tell them apart by memorising its training set."""
    recipe, spec = recipes.prepare(config)
    m = gan.build(config, spec)
    _, d_tx = common.optimizers(config)
    held_out = config.data.copy_and_resolve_references()
    held_out.split, held_out.max_examples = "test", 0
    reals = data.make_iterator(config.data, global_batch_size=batch, seed=0)
    fakes = data.make_iterator(held_out, global_batch_size=batch, seed=1)

    @jax.jit
    def update(d, p, real, fake, key):
        def call(module, params, variables, x, cond, rng):
            (x,) = adversarial.d_view((x,), rng, 0, config, p)
            return adversarial.apply_d(module, params, variables, x, rng)

        d, metrics = adversarial.d_update(
            d, real, fake, {}, key, d=m.d, tx=d_tx, call=call, config=config
        )
        return d, ada.adjust(p, metrics["ada_rt"], batch, config)

    d = recipes.create_train_state(config, jax.random.PRNGKey(0)).players["d"]
    p, highest = jnp.float32(0.0), 0.0
    for i in range(steps):
        real, fake = (jnp.asarray(next(it)["x"]) for it in (reals, fakes))
        d, p = update(d, p, real, fake, jax.random.PRNGKey(i))
        highest = max(highest, float(p))
    return float(p), highest


def test_p_rises_when_d_overfits_a_tiny_dataset_and_stays_near_0_on_a_large_one():
    config = _smoke(ada_kimg=1.0)  # p may move 0.016 per update of 16 reals.
    config.data.image_size = 16
    config.model.d.width, config.model.d.max_width = 16, 64
    config.data.max_examples = 16
    tiny, _ = _p_after_d_learns(config)
    config.data.max_examples = 0  # All 4,500 training digits.
    _, large_highest = _p_after_d_learns(config)
    assert tiny > 0.2 and large_highest < 0.1, (tiny, large_highest)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ada_target": 1.0}, "augment.ada_target=1.0 is out of range"),
        ({"ada_target": 0.0}, "augment.ada_target=0.0 is out of range"),
        ({"ada_p": 1.5}, "augment.ada_p=1.5 is a probability"),
        ({"ada_ops": "blit,zoom"}, "augment.ada_ops='blit,zoom'"),
        ({"ada": "auto"}, "augment.ada='auto' is not one of off, adaptive, fixed"),
        ({"diffaugment": "color"}, "both augment what D sees"),
    ],
)
def test_bad_ada_settings_are_one_line_errors_at_start_up(overrides, message):
    config = _smoke()
    config.augment.update(overrides)
    with pytest.raises(ConfigError, match=message) as error:
        recipes.prepare(config)
    assert "\n" not in str(error.value)
