"""Inpainting: the holes, the fill that keeps every known pixel, the hole-only metrics, the
L1 baseline, and sampling a user's images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import config as config_lib
from jaxgan import recipes
from jaxgan.config import ConfigError
from jaxgan.recipes import inpaint

from conftest import ROOT


def smoke(name="inpaint_digits"):
    return config_lib.load_config(str(ROOT / "experiments" / f"{name}.py"), "smoke")


def test_each_image_gets_one_rectangle_within_the_side_bounds():
    masks = np.asarray(inpaint.holes(jax.random.PRNGKey(0), 200, 32, 24, 0.25, 0.5))[..., 0]
    for mask in masks:
        rows, cols = np.nonzero(mask)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert mask.sum() == height * width  # One filled rectangle.
        assert 8 <= height <= 16 and 6 <= width <= 12
    tops = np.array([np.nonzero(m)[0].min() for m in masks])
    assert tops.min() == 0 and tops.max() >= 14  # Anywhere, the edges included.
    again = inpaint.holes(jax.random.PRNGKey(0), 200, 32, 24, 0.25, 0.5)
    np.testing.assert_array_equal(np.asarray(again)[..., 0], masks)


def test_fill_keeps_every_known_pixel_and_takes_g_in_the_hole():
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 3), minval=-1, maxval=1)
    mask = inpaint.holes(jax.random.PRNGKey(2), 4, 8, 8, 0.25, 0.5)
    source = inpaint.masked(x, mask)
    assert source.shape == (4, 8, 8, 4)
    np.testing.assert_array_equal(source[..., :3] * mask, 0.0)  # The hole hides the image.
    output = jnp.full_like(x, 0.25)
    filled = np.asarray(inpaint.fill(source, output))
    m = np.asarray(mask) > 0
    np.testing.assert_array_equal(filled[~m[..., 0]], np.asarray(x)[~m[..., 0]])
    np.testing.assert_array_equal(filled[m[..., 0]], 0.25)


def test_hole_metrics_score_the_hole_alone():
    x = np.zeros((2, 4, 4, 1), np.float32)
    mask = np.zeros_like(x)
    mask[:, :2, :2] = 1
    inputs = {"source": np.asarray(inpaint.masked(x, mask)), "x": x}
    out = x + 0.2 * mask - 0.6 * (1 - mask)  # Outside errors must not count.
    found = inpaint.hole_metrics(inputs, np.asarray(inpaint.fill(inputs["source"], out)))
    assert found["hole_l1"] == pytest.approx(0.2)
    assert found["hole_psnr"] == pytest.approx(10 * np.log10(1 / 0.1**2))


def test_l1_baseline_leaves_d_alone_and_weighs_the_hole_l1():
    config = smoke("inpaint_digits_l1")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    new, metrics = jax.jit(jaxgan.make_train_step(config))(
        state, next(jaxgan.make_iterator(config))
    )
    assert "d_loss" not in metrics
    assert float(metrics["g_loss"]) == pytest.approx(100 * float(metrics["hole_l1"]), rel=1e-5)
    jax.tree.map(np.testing.assert_array_equal, new.players["d"], state.players["d"])


def test_sampling_fills_holes_in_a_users_images_and_bad_holes_are_refused(tmp_path):
    from PIL import Image

    config = smoke()
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "a.png")
    out = jaxgan.sample(state, config, jax.random.PRNGKey(0), 4, source=str(tmp_path / "a.png"))
    assert out.shape == (1, 32, 32, 1)
    known = np.isclose(out[0, ..., 0], 200 / 127.5 - 1, atol=1e-6)
    assert 1 / 16 <= 1 - known.mean() <= 1 / 4  # The hole: a quarter to a half of each side.
    config.inpaint.hole_min, config.inpaint.hole_max = 0.6, 0.4
    with pytest.raises(ConfigError, match="0 < hole_min <= hole_max < 1"):
        config_lib.validate(config)
    config = smoke()
    config.inpaint.hole_min = 0.01
    with pytest.raises(ConfigError, match="holes under 1 pixel"):
        recipes.prepare(config)
