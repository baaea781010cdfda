"""StyleGAN2: demodulation, equalised learning rates, the mapping network's multiplier, style
mixing, truncation, path-length regularisation (its formula, laziness, exact resume) and the
start-up errors of its config. The experiment's smoke run is in test_conditioning.py."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import checkpoint, recipes, regularizers, train
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.models import equalized as eq
from jaxgan.models import stylegan2 as sg
from jaxgan.recipes import gan

from conftest import ROOT


def _normal(seed, shape):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def test_demodulated_convolution_is_the_convolution_with_each_samples_normalised_kernel():
    x, kernel = _normal(0, (3, 6, 6, 5)), _normal(1, (3, 3, 5, 4))
    styles = 1.0 + 0.5 * _normal(2, (3, 5))

    def reference(x, kernel, styles):
        out = []
        for n in range(x.shape[0]):  # The paper's per-sample kernel, then a plain convolution.
            w = kernel * styles[n][None, None, :, None]
            w = w / jnp.sqrt(jnp.sum(jnp.square(w), axis=(0, 1, 2), keepdims=True) + 1e-8)
            out.append(
                jax.lax.conv_general_dilated(
                    x[n : n + 1], w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                )
            )
        return jnp.concatenate(out)

    np.testing.assert_allclose(
        sg.modulated_conv(x, kernel, styles), reference(x, kernel, styles), rtol=1e-5, atol=1e-5
    )
    loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))
    got = jax.grad(loss(sg.modulated_conv), argnums=(0, 1, 2))(x, kernel, styles)
    want = jax.grad(loss(reference), argnums=(0, 1, 2))(x, kernel, styles)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_demodulation_keeps_unit_output_variance_for_unit_variance_inputs():
    x = _normal(0, (64, 12, 12, 32))
    kernel = 3.0 * _normal(1, (3, 3, 32, 16))  # Any scale: demodulation removes it.
    styles = jnp.exp(_normal(2, (64, 32)))  # Styles of very different sizes per channel.
    y = sg.modulated_conv(x, kernel, styles)[:, 1:-1, 1:-1]  # Inside the zero padding.
    variance = jnp.var(y, axis=(0, 1, 2))
    np.testing.assert_allclose(variance, 1.0, atol=0.08)
    plain = sg.modulated_conv(x, kernel, styles, demodulate=False)[:, 1:-1, 1:-1]
    assert float(jnp.min(jnp.var(plain, axis=(0, 1, 2)))) > 10.0  # What it would have been.


@pytest.mark.parametrize("lr_mul", [1.0, 0.01])
def test_equalised_dense_and_conv_scale_their_weights_by_hes_constant(lr_mul):
    x = _normal(0, (256, 48))
    dense = eq.EqualDense(32, lr_mul=lr_mul, bias_init=0.5)
    params = dense.init(jax.random.PRNGKey(1), x)["params"]
    np.testing.assert_allclose(jnp.std(params["kernel"]), 1.0 / lr_mul, rtol=0.05)
    want = x @ (params["kernel"] * lr_mul / math.sqrt(48)) + params["bias"] * lr_mul
    np.testing.assert_allclose(dense.apply({"params": params}, x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(params["bias"] * lr_mul, 0.5, rtol=1e-6)
    # He's constant keeps unit variance through a linear layer at initialisation.
    np.testing.assert_allclose(jnp.var(want - 0.5), 1.0, rtol=0.1)

    images = _normal(2, (16, 10, 10, 24))
    conv = eq.EqualConv(8, 3)
    params = conv.init(jax.random.PRNGKey(3), images)["params"]
    kernel = params["kernel"] / math.sqrt(3 * 3 * 24)
    want = eq.conv(images, kernel) + params["bias"]
    np.testing.assert_allclose(conv.apply({"params": params}, images), want, rtol=1e-5, atol=1e-5)


def test_the_mapping_networks_learning_rate_multiplier_shows_in_its_gradient():
    """Two mappings computing the same function, one at multiplier 0.01: its stored weights'
    gradients are 0.01 times the other's, so Adam (which normalises step sizes) moves its used
    weights 0.01 times as fast."""
    z = _normal(0, (8, 16))
    slow, fast = sg.Mapping(16, layers=3, lr_mul=0.01), sg.Mapping(16, layers=3, lr_mul=1.0)
    fast_vars = fast.init(jax.random.PRNGKey(1), z, train=False)
    slow_params = jax.tree.map(lambda p: p / 0.01, fast_vars["params"])  # Same used weights.
    slow_vars = {**fast_vars, "params": slow_params}
    np.testing.assert_allclose(
        slow.apply(slow_vars, z, train=False), fast.apply(fast_vars, z, train=False), rtol=1e-5
    )

    def grads(module, variables):
        loss = lambda p: jnp.sum(jnp.sin(module.apply({**variables, "params": p}, z, False)))
        return jax.grad(loss)(variables["params"])

    ratio = jax.tree.map(lambda a, b: a / b, grads(slow, slow_vars), grads(fast, fast_vars))
    for leaf in jax.tree.leaves(ratio):
        np.testing.assert_allclose(leaf, 0.01, rtol=1e-3)


def _generator(**keys):
    g = sg.StyleGAN2Generator(
        shape=(16, 16, 1), w_dim=8, mapping_layers=2, width=4, max_width=8, **keys
    )
    z = _normal(0, (6, 8))
    return g, g.init(jax.random.PRNGKey(1), z, train=False), z


def test_style_mixing_hands_the_later_layers_to_a_second_latent():
    g, variables, z = _generator(mixing_prob=1.0)
    rngs = {"noise": jax.random.PRNGKey(2)}
    ws, _ = g.apply(variables, z, True, method="style", rngs=rngs, mutable=True)
    own = g.apply(variables, z, False, method="style")[:, 0]  # psi = 1: the plain w.
    count = sg.num_ws(16)
    assert ws.shape == (6, count, 8)
    cuts = []
    for n in range(6):
        same = np.all(np.isclose(ws[n], own[n]), axis=-1)
        cut = int(np.argmin(same))
        assert 1 <= cut < count and same[:cut].all() and not same[cut:].any(), same
        np.testing.assert_array_equal(ws[n, cut:], jnp.broadcast_to(ws[n, cut], ws[n, cut:].shape))
        cuts.append(cut)
    assert len(set(cuts)) > 1  # Random cut-offs.
    g, variables, z = _generator(mixing_prob=0.0)
    ws, _ = g.apply(variables, z, True, method="style", rngs=rngs, mutable=True)
    np.testing.assert_allclose(ws, jnp.broadcast_to(ws[:, :1], ws.shape))


def test_truncation_pulls_samples_to_the_image_of_the_tracked_mean_w():
    g, variables, z = _generator()
    # Training moves w_avg toward the batch's mean w.
    _, updates = g.apply(variables, z, rngs={"noise": jax.random.PRNGKey(2)}, mutable=True)
    assert float(jnp.abs(updates["w_avg"]["mapping"]["w_avg"]).sum()) > 0
    variables = {**variables, **updates}
    at_mean = g.clone(psi=0.0).apply(variables, z, train=False)
    np.testing.assert_allclose(at_mean, jnp.broadcast_to(at_mean[:1], at_mean.shape), atol=1e-6)
    full = g.apply(variables, z, train=False)
    half = g.clone(psi=0.5).apply(variables, z, train=False)
    spread = lambda x: float(jnp.mean(jnp.std(x, axis=0)))
    assert spread(full) > spread(half) > 1e-4
    np.testing.assert_array_equal(full, g.apply(variables, z, train=False))  # Constant noise.


def test_path_lengths_match_the_closed_form_of_a_linear_synthesis():
    """For images A ws (a fixed linear map), the path length is sqrt(mean_l ||A_l^T y||^2)."""
    ws = _normal(0, (3, 4, 5))  # [N, layers, w_dim]
    a = _normal(1, (4, 5, 6 * 6))
    synthesize = lambda w: jnp.einsum("nlw,lwp->np", w, a).reshape(-1, 6, 6, 1)
    y = _normal(2, (3, 6, 6, 1)) / 6.0
    got = regularizers.path_lengths(synthesize, ws, y)
    a_np, y_np = np.asarray(a, np.float64), np.asarray(y, np.float64).reshape(3, -1)
    want = [np.sqrt(np.mean(np.sum((a_np @ y_np[n]) ** 2, axis=-1))) for n in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)

    penalty, mean = regularizers.path_length_penalty(jnp.array([1.0, 3.0]), 1.0, 0.5)
    assert float(mean) == 1.5  # 1 + 0.5 * (2 - 1)
    assert float(penalty) == pytest.approx(((1.0 - 1.5) ** 2 + (3.0 - 1.5) ** 2) / 2)


def _smoke(**loss):
    config = config_lib.load_config(str(ROOT / "experiments" / "stylegan2.py"), "smoke")
    config.data.image_size = 8
    config.loss.update(loss)
    return config


def _batches(config, count):
    shape = (config.train.batch_size, 8, 8, 1)
    return [
        {"x": jax.random.uniform(jax.random.PRNGKey(i), shape, minval=-1), "label": jnp.zeros(8)}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def lazy_run(cache_dir):
    """Six steps with path length every 3rd G update and R1 every 2nd D update."""
    config = _smoke(pl_interval=3, lazy_interval=2)
    recipe, spec = recipes.prepare(config)
    step = jax.jit(recipe.make_train_step(config, spec))
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    states, rows = [state], []
    for batch in _batches(config, 6):
        state, metrics = step(state, batch)
        states.append(state)
        rows.append(jax.device_get(metrics))
    return dict(config=config, step=step, states=states, rows=rows)


def test_path_length_applies_every_kth_g_update_and_moves_its_mean_then(lazy_run):
    rows, states = lazy_run["rows"], lazy_run["states"]
    for i, row in enumerate(rows):
        assert row["finite"] == 1.0
        mean_moved = float(states[i + 1].extras["pl_mean"]) != float(states[i].extras["pl_mean"])
        assert (row["pl_penalty"] > 0) == (i % 3 == 0) == mean_moved, (i, row)
        assert (row["r1"] > 0) == (i % 2 == 0), (i, row)
    assert lazy_run["step"]._cache_size() == 1, "one compiled step for applying and skipping"


def test_steps_compiled_per_phase_equal_the_step_that_decides_inside(lazy_run):
    """The loop runs a step compiled for each pattern of due regularisers (gan.phase): the same
    numbers as the single step whose lax.conds decide, without convolutions inside a cond."""
    config, states = lazy_run["config"], lazy_run["states"]
    recipe, spec = recipes.prepare(config)
    phases = [gan.phase(config, spec, i) for i in range(6)]
    assert phases[:4] == [((True,), True), ((False,), False), ((True,), False), ((False,), True)]
    for i, batch in enumerate(_batches(config, 6)):
        step = jax.jit(recipe.make_train_step(config, spec, phase=phases[i]))
        got, metrics = step(states[i], batch)
        (r1_due,), pl_due = phases[i]
        assert ("r1" in metrics, "pl_penalty" in metrics) == (r1_due, pl_due), "only what applied"
        if pl_due:
            np.testing.assert_allclose(
                metrics["pl_penalty"], lazy_run["rows"][i]["pl_penalty"], rtol=1e-4
            )
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(states[i + 1]), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)


def test_a_run_stopped_between_lazy_steps_resumes_bit_identically(lazy_run, tmp_path):
    """Checkpointed after G update 4 (path length at 3, next at 6), restored, two more steps:
    every leaf equals the uninterrupted run's (pl_mean, w_avg, noise maps, EMA, optimizers)."""
    config, states = lazy_run["config"], lazy_run["states"]
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=1)
    ckpt.save(4, states[4], train.make_iterator(config), config)
    ckpt.wait()
    ckpt.close()
    state = checkpoint.restore_state(config, tmp_path)
    for batch in _batches(config, 6)[4:]:
        state, _ = lazy_run["step"](state, batch)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state), states[6])


def test_the_loops_logs_show_lazy_penalties_from_the_last_step_that_applied_them(tmp_path):
    """Logged every 2nd step with both penalties due every 2nd update from update 0: no logged
    step applies them, and the rows still show their last values, not zeros."""
    config = _smoke(pl_interval=2, lazy_interval=2)
    config.train.num_steps = config.train.log_every_steps = 2
    config.eval.every_steps, config.train.sample_every_steps = 0, 1000
    train.train_and_evaluate(config, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [row for row in rows if "d_loss" in row]
    assert [row["step"] for row in logged] == [2]
    assert logged[0]["r1"] > 0 and logged[0]["pl_penalty"] > 0, logged


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data.image_size": 28}, "side 4 \\* 2\\^n .* not 28"),
        ({"loss.pl_interval": 0}, "loss.pl_interval=0 is out of range: it must be >= 1"),
        ({"loss.lazy_interval": 0}, "loss.lazy_interval=0 is out of range: it must be >= 1"),
        ({"loss.pl_decay": 0.0}, "loss.pl_decay=0.0 is out of range"),
        ({"model.g.mixing_prob": 1.5}, "mixing_prob=1.5 is a probability"),
    ],
)
def test_bad_stylegan2_settings_are_one_line_errors_at_start_up(overrides, message):
    config = _smoke()
    for key, value in overrides.items():
        section, name = key.rsplit(".", 1)
        parent = config
        for part in section.split("."):
            parent = parent[part]
        parent[name] = value
    with pytest.raises(ConfigError, match=message) as error:
        recipes.prepare(config)
    assert "\n" not in str(error.value)


def test_path_length_on_another_generator_is_refused():
    config = jaxgan.load_config(str(ROOT / "experiments" / "dcgan_plain.py"), "smoke")
    config.loss.pl_weight = 2.0
    with pytest.raises(ConfigError, match="path-length regularisation needs StyleGAN2's styles"):
        recipes.prepare(config)
