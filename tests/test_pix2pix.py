"""The pix2pix recipe: paired data required, the L1-only baseline, translating a user's images,
and a whole run through launch.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import checkpoint, recipes
from jaxgan import config as config_lib
from jaxgan.config import ConfigError

from conftest import ROOT, run_launch


def smoke(name="pix2pix"):
    return config_lib.load_config(str(ROOT / "experiments" / f"{name}.py"), "smoke")


def test_pix2pix_without_paired_data_is_refused_at_start():
    config = smoke()
    config.data.name = "embedded_mnist"
    with pytest.raises(ConfigError, match="needs paired data with a 'source' field"):
        recipes.prepare(config)


def test_pix2pix_l1_baseline_trains_g_alone_and_dropout_is_the_noise():
    config = smoke("pix2pix_l1")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    batch = next(jaxgan.make_iterator(config))
    new, metrics = jax.jit(jaxgan.make_train_step(config))(state, batch)
    assert float(metrics["finite"]) == 1.0 and "d_loss" not in metrics
    assert float(metrics["g_loss"]) == pytest.approx(100 * float(metrics["l1"]), rel=1e-5)
    jax.tree.map(np.testing.assert_array_equal, new.players["d"], state.players["d"])
    moved = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), new.players["g"].params, state.players["g"].params
    )
    assert all(jax.tree.leaves(moved))


def test_pix2pix_translates_the_images_a_user_gives(tmp_path):
    from PIL import Image

    config = smoke()
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    folder = tmp_path / "edges"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 50), 60 * i, np.uint8)).save(folder / f"{i}.png")
    out = jaxgan.sample(state, config, jax.random.PRNGKey(0), 10, source=str(folder))
    assert out.shape == (3, 32, 32, 1)
    one = jaxgan.sample(state, config, jax.random.PRNGKey(0), 10, source=str(folder / "1.png"))
    np.testing.assert_allclose(one[0], out[1], atol=1e-6)
    with pytest.raises(ConfigError, match="recipe 'pix2pix' takes no labels .* it takes source"):
        jaxgan.sample(state, config, jax.random.PRNGKey(0), 1, labels=[3])
    with pytest.raises(jaxgan.data.DataError, match="is not an image file, a folder"):
        jaxgan.sample(state, config, jax.random.PRNGKey(0), 1, source=str(tmp_path / "none"))


@pytest.mark.slow
def test_pix2pix_end_to_end_train_and_evaluate(tmp_path, mnist_classifier):
    workdir = tmp_path / "run"
    # Native 28x28 digits (a 2-level U-Net, a 1-layer PatchGAN): the session's 28x28 classifier
    # serves FID, instead of training a 32x32 one for this test alone.
    at_28 = {"data.image_size": 28, "model.g.depth": 2, "model.d.num_layers": 1}
    done = run_launch(
        "--config=experiments/pix2pix.py:smoke",
        f"--workdir={workdir}",
        "--config.eval.every_steps=4",
        "--config.eval.num_samples=64",
        *(f"--config.{key}={value}" for key, value in at_28.items()),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in rows if "eval/fid" in r]
    assert evaluated and {"eval/l1", "eval/psnr", "eval/ssim"} <= set(evaluated[-1])
    assert (workdir / "samples" / "step_0000004.png").exists()
    config = smoke()
    config.data.image_size, config.model.g.depth, config.model.d.num_layers = 28, 2, 1
    state = checkpoint.restore_state(config, workdir)
    assert int(state.step) == 4 and set(state.players) == {"g", "d"}
