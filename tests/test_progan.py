"""ProGAN: the growth schedule, fade-in of G's output and of the reals, pixel norm, a stage's
own compiled step, exact resume mid-fade, and its start-up errors. The experiment's smoke run
(which passes through every stage) is in test_conditioning.py; the registry-wide resume and
SIGTERM tests run it too."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import checkpoint, recipes, train
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.models import progan as models
from jaxgan.recipes import progan

from conftest import ROOT


def _config(**progan_keys):
    config = config_lib.load_config(str(ROOT / "experiments" / "progan.py"), "smoke")
    config.data.image_size = 16
    config.progan.update(progan_keys)
    return config


def test_the_schedule_grows_a_stage_every_two_phases_and_fades_it_in():
    config = _config(stage_steps=4)  # 16x16: stages 0 (4x4), 1, 2; the last stays.
    spec = recipes.prepare(config)[1]
    stages = [progan.phase(config, spec, step) for step in range(24)]
    assert stages == [0] * 4 + [1] * 8 + [2] * 12
    alphas = [float(progan.alpha_of(config, step, stages[step])) for step in range(24)]
    assert alphas[:4] == [1.0] * 4
    assert alphas[4:12] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    assert alphas[12:16] == [0.0, 0.25, 0.5, 0.75] and alphas[16:] == [1.0] * 8
    traced = jax.jit(lambda s: progan.stage_of(config, s, 2))
    assert [int(traced(s)) for s in range(24)] == stages


def test_pixel_norm_gives_every_pixel_unit_mean_square():
    x = 5.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 3, 3, 16))
    np.testing.assert_allclose(jnp.mean(jnp.square(models.pixel_norm(x)), -1), 1.0, rtol=1e-5)


def test_fade_blends_the_upsampled_previous_stage_into_the_new_one():
    g = models.ProGANGenerator(shape=(16, 16, 1), width=4, max_width=8)
    z = jax.random.normal(jax.random.PRNGKey(0), (3, 8))
    variables = g.init(jax.random.PRNGKey(1), z, train=False)
    # train=True: the raw output (inference clips it to [-1, 1], and clipping and blending differ).
    at = lambda stage, alpha: g.apply(variables, z, train=True, stage=stage, alpha=alpha)
    assert at(0, 1.0).shape == (3, 4, 4, 1) and at(2, 1.0).shape == (3, 16, 16, 1)
    old = models.upsample(at(1, 1.0))
    np.testing.assert_allclose(at(2, 0.0), old, atol=1e-6)  # The new stage starts invisible.
    np.testing.assert_allclose(at(2, 0.3), old + 0.3 * (at(2, 1.0) - old), atol=1e-5)
    x = jax.random.uniform(jax.random.PRNGKey(2), (3, 16, 16, 1))
    half = models.upsample(models.pool(x))
    np.testing.assert_allclose(progan.reals_at(x, 2, 2, 0.0), half, atol=1e-6)
    np.testing.assert_allclose(progan.reals_at(x, 2, 2, 1.0), x, atol=1e-6)
    quarter = models.pool(models.pool(x))
    np.testing.assert_allclose(progan.reals_at(x, 0, 2, 0.5), quarter, atol=1e-6)


def test_every_stage_reads_the_same_params():
    """The state keeps one shape while the networks grow: init makes every stage's layers."""
    config = _config()
    recipe, spec = recipes.prepare(config)
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    shapes = jax.tree.map(jnp.shape, state.players)
    batch = {"x": jnp.zeros((8, 16, 16, 1)), "label": jnp.zeros(8, jnp.int32)}
    for stage in range(3):
        step = jax.jit(recipe.make_train_step(config, spec, phase=stage))
        new, metrics = step(state, batch)
        assert metrics["finite"] == 1.0
        assert jax.tree.map(jnp.shape, new.players) == shapes


@pytest.fixture(scope="module")
def grown(cache_dir):
    """Nine steps at stage_steps=2 (16x16: stage 0, fade 1, stable 1, fade 2, ...), each with
    the step of its stage, as the loop runs them."""
    config = _config(stage_steps=2)
    recipe, spec = recipes.prepare(config)
    steps = {s: jax.jit(recipe.make_train_step(config, spec, phase=s)) for s in range(3)}
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    iterator = train.make_iterator(config)
    batches = [jax.tree.map(jnp.asarray, next(iterator)) for _ in range(9)]
    states = [state]
    for i, batch in enumerate(batches):
        state, _ = steps[progan.phase(config, spec, i)](state, batch)
        states.append(state)
    return dict(config=config, spec=spec, steps=steps, batches=batches, states=states)


def test_a_run_stopped_mid_fade_resumes_bit_identically(grown, tmp_path):
    config, spec, states = grown["config"], grown["spec"], grown["states"]
    assert progan.phase(config, spec, 7) == 2 and float(progan.alpha_of(config, 7, 2)) == 0.5
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=1)
    ckpt.save(7, states[7], train.make_iterator(config, start_step=7), config)
    ckpt.wait()
    ckpt.close()
    state = checkpoint.restore_state(config, tmp_path)
    for i in (7, 8):
        state, _ = grown["steps"][progan.phase(config, spec, i)](state, grown["batches"][i])
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), states[9])


def test_samples_come_from_the_states_stage_at_the_datas_side(grown):
    config = grown["config"]
    recipe, spec = recipes.prepare(config)
    generate = jax.jit(recipe.make_generate(config, spec))
    inputs = recipe.sample_inputs(config, spec, 4, jax.random.PRNGKey(0))
    early = np.asarray(generate(grown["states"][1], inputs, None))  # Stage 0: 4x4 blocks.
    assert early.shape == (4, 16, 16, 1)
    np.testing.assert_array_equal(early, np.repeat(np.repeat(early[:, ::4, ::4], 4, 1), 4, 2))
    late = np.asarray(generate(grown["states"][9], inputs, None))
    assert not np.array_equal(late, np.repeat(np.repeat(late[:, ::2, ::2], 2, 1), 2, 2))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("data.image_size", 28, "side 4 \\* 2\\^n .* not 28"),
        ("progan.stage_steps", 0, "progan.stage_steps=0 is out of range"),
        ("train.n_critic", 2, "train.n_critic=2 with recipe 'progan'"),
    ],
)
def test_bad_progan_settings_are_one_line_errors_at_start_up(key, value, message):
    config = _config()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ConfigError, match=message) as error:
        recipes.prepare(config)
    assert "\n" not in str(error.value)
