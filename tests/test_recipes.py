"""Every registered recipe trains, samples and evaluates through the same loop; parametrised
tests that a new recipe joins by being registered, then the recipes' own behaviour."""

import json
import textwrap

import jax
import ml_collections
import numpy as np
import pytest

import jaxgan
from jaxgan import config as config_lib
from jaxgan import recipes
from jaxgan.config import ConfigError

from conftest import ROOT, run_launch, run_python

RECIPES = sorted(recipes.RECIPES)


def smoke(recipe: str):
    path = ROOT / "experiments" / f"{recipes.get(recipe).EXPERIMENT}.py"
    return config_lib.load_config(str(path), "smoke")


def test_gan_recipe_reproduces_the_pre_recipe_steps():
    """tests/data/gan_reference_metrics.json: six steps of five GAN variants recorded with the
    code before the recipe restructure (float.hex of every metric). Equal to float32 rounding:
    XLA's fusion choices move the last bits when unrelated code around the step changes (the
    divergence guard's lax.cond moved them by up to 2e-8); a change in the maths moves them
    by orders of magnitude more."""
    reference = json.loads((ROOT / "tests" / "data" / "gan_reference_metrics.json").read_text())
    renamed = {"model.d_norm": "model.d.norm"}  # Keys that moved in the restructure.
    for name, run in reference.items():
        config = config_lib.load_config(
            str(ROOT / "experiments" / f"{run['experiment']}.py"), "smoke"
        )
        for key, value in run["overrides"].items():
            *path, last = renamed.get(key, key).split(".")
            node = config
            for part in path:
                node = node[part]
            node[last] = value
        state = jaxgan.create_train_state(config, jax.random.PRNGKey(config.seed))
        step = jax.jit(jaxgan.make_train_step(config))
        batches = jaxgan.make_iterator(config)
        for i, want in enumerate(run["steps"]):
            state, metrics = step(state, next(batches))
            got = {k: float(v) for k, v in jax.device_get(metrics).items()}
            assert sorted(got) == sorted(want), f"{name}, step {i + 1}"
            for key, value in got.items():
                expected = float.fromhex(want[key])
                np.testing.assert_allclose(
                    value, expected, rtol=1e-5, atol=1e-7, err_msg=f"{name}, step {i + 1}, {key}"
                )


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_validates_its_own_section(recipe):
    config = smoke(recipe)
    config[recipe]["not_a_key"] = 1
    with pytest.raises(ConfigError, match=f"unknown config key '{recipe}.not_a_key'"):
        config_lib.validate(config)
    config = smoke(recipe)  # An experiment file that rebuilt the section by hand:
    key = sorted(config[recipe])[0]
    config[recipe] = ml_collections.ConfigDict({**config[recipe].to_dict(), key: "many"})
    with pytest.raises(ConfigError, match=f"{recipe}.{key}='many' has type str"):
        config_lib.validate(config)


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_typo_in_a_recipe_key_is_one_line_from_launch(recipe, tmp_path):
    key = sorted(smoke(recipe)[recipe])[0]
    done = run_launch(
        f"--config=experiments/{recipes.get(recipe).EXPERIMENT}.py:smoke",
        f"--config.{recipe}.{key}x=1",
        f"--workdir={tmp_path}",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert f"unknown config key '{recipe}.{key}x'" in line and f"'{recipe}.{key}'" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_samples_and_draws_its_grid(recipe):
    config = smoke(recipe)
    recipe_module, spec = recipes.prepare(config)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    images = jaxgan.sample(state, config, jax.random.PRNGKey(1), 5, batch_size=2)
    assert images.shape == (5,) + tuple(spec.shape) and images.dtype == np.float32
    assert np.all(np.abs(images) <= 1.0)
    again = jaxgan.sample(state, config, jax.random.PRNGKey(1), 5, batch_size=4)
    np.testing.assert_allclose(images, again, atol=1e-6)  # Independent of the chunking.
    fewer = jaxgan.sample(state, config, jax.random.PRNGKey(1), 3, batch_size=2)
    np.testing.assert_allclose(fewer, images[:3], atol=1e-6)  # The first 3 of 5 are the 3.
    inputs = recipe_module.sample_inputs(config, spec, 4, jax.random.PRNGKey(2))
    generate = jax.jit(recipe_module.make_generate(config, spec))
    outputs = generate(state, {k: v for k, v in inputs.items() if k != "x"}, jax.random.key(0))
    picture = recipe_module.picture(config, spec, inputs, jax.device_get(outputs))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[-1] == 3


DEVICES_WORKER = textwrap.dedent(
    r"""
    import json, sys
    import jax, numpy as np
    from jaxgan import config as config_lib, parallel, recipes, train

    c = config_lib.load_config(sys.argv[1], "smoke")
    c.train.batch_size = 8
    mesh = parallel.make_mesh()
    repl, rows = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    step = jax.jit(
        recipes.make_train_step(c), in_shardings=(repl, rows), out_shardings=(repl, repl)
    )
    state = jax.device_put(recipes.create_train_state(c, jax.random.PRNGKey(0)), repl)
    batches = train.make_iterator(c)
    history = []
    for _ in range(3):
        state, metrics = step(state, parallel.to_global(next(batches), mesh))
        history.append({k: float(v) for k, v in metrics.items()})
    weights = jax.device_get((state.players, state.ema))
    weights = [{k: (p.params, p.variables) for k, p in weights[0].items()}, weights[1]]
    leaves = [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(weights)]
    print(json.dumps({"history": history, "state": np.concatenate(leaves).tolist()[::97]}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_steps_alike_on_1_and_2_devices(recipe):
    """The global batch, not the device count, fixes the maths (sync BatchNorm, all-reduces)."""
    path = str(ROOT / "experiments" / f"{recipes.get(recipe).EXPERIMENT}.py")
    results = {}
    for devices in (1, 2):
        done = run_python(DEVICES_WORKER.replace("sys.argv[1]", repr(path)), devices=devices)
        assert done.returncode == 0, done.stderr[-3000:]
        results[devices] = json.loads(done.stdout.strip().splitlines()[-1])
    one, two = results[1], results[2]
    assert [sorted(r) for r in one["history"]] == [sorted(r) for r in two["history"]]
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["finite"] == b["finite"] == 1.0
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6, err_msg=key)
    # Parameters, BatchNorm statistics and EMA. Not the optimizer moments: pix2pix's L1 term has
    # gradient l1_weight * sign(output - target) / n, and a pixel where output ~ target can flip
    # its sign under another summation order, moving Adam's first moment by up to 1e-3 while the
    # parameters move by 1e-5 (measured: 1.3e-5 after 3 steps).
    np.testing.assert_allclose(two["state"], one["state"], rtol=1e-4, atol=5e-5)


# ------------------------------------------------------------------------ gan: labels


def _conditional_mlp():
    config = config_lib.load_config(str(ROOT / "experiments" / "gan_mlp.py"), "smoke")
    config.model.g.conditioning = config.model.d.conditioning = "concat"
    return config


def test_a_conditional_generator_draws_the_labels_it_is_given():
    config = _conditional_mlp()
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    state, metrics = jax.jit(jaxgan.make_train_step(config))(
        state, next(jaxgan.make_iterator(config))
    )
    assert float(metrics["finite"]) == 1.0
    key = jax.random.PRNGKey(3)
    threes = jaxgan.sample(state, config, key, 4, labels=[3])
    sevens = jaxgan.sample(state, config, key, 4, labels=[7])
    again = jaxgan.sample(state, config, key, 4, labels=[3, 3])
    np.testing.assert_array_equal(threes, again)
    assert np.abs(threes - sevens).max() > 1e-4  # Same latents, other label, other images.
    with pytest.raises(ConfigError, match="label 12 is out of range"):
        jaxgan.sample(state, config, key, 2, labels=[12])


def test_labels_for_an_unconditional_generator_are_refused(smoke_config):
    config = smoke_config("gan_mlp")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    with pytest.raises(ConfigError, match="is not conditional"):
        jaxgan.sample(state, config, jax.random.PRNGKey(0), 2, labels=[1])
    with pytest.raises(ConfigError, match="recipe 'gan' takes no source"):
        jaxgan.sample(state, config, jax.random.PRNGKey(0), 2, source="edges/")


def test_a_conditional_model_needs_labelled_data():
    unlabelled = jaxgan.data.DataSpec((28, 28, 1), None, 100, "my_folder")
    with pytest.raises(ConfigError, match="needs labelled data.*'my_folder' has no labels"):
        recipes.get("gan").check(_conditional_mlp(), unlabelled)


def test_evaluation_labels_follow_the_class_frequencies():
    config = _conditional_mlp()
    recipe, spec = recipes.prepare(config)
    inputs, reference = recipe.eval_inputs(config, spec, 5000, jax.random.PRNGKey(0))
    counts = np.bincount(np.asarray(inputs["label"]), minlength=10) / 5000
    np.testing.assert_allclose(counts, 0.1, atol=0.02)  # embedded_mnist: 450 of each digit.
    assert reference.split == config.data.split
