"""The VAE recipe: its ELBO terms against closed forms, learning, the refused GAN-only settings,
and a trained workdir through launch.py, load_generator, sampling and evaluation."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxgan
from jaxgan import checkpoint, evaluate, models, recipes
from jaxgan import config as config_lib
from jaxgan import generator as gen_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import vae

from conftest import ROOT, run_launch


def smoke():
    return config_lib.load_config(str(ROOT / "experiments" / "vae.py"), "smoke")


def test_kl_term_is_the_closed_form_gaussian_kl():
    mean = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 0.0]])
    var = np.array([[1.0, 1.0], [4.0, 0.25], [1.0, 0.1]])
    got = np.asarray(vae.kl_divergence(jnp.asarray(mean), jnp.log(jnp.asarray(var))))
    # KL(N(m, v) || N(0, 1)) = -log(sd) + (v + m^2) / 2 - 1/2, per dimension.
    want = np.sum(-0.5 * np.log(var) + (var + mean**2) / 2 - 0.5, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[0] == 0.0 and want[1] == pytest.approx(3.6250, abs=1e-4)
    # And by Monte Carlo: E_q[log q(z) - log p(z)] of the second row.
    z = np.random.default_rng(0).normal(mean[1], np.sqrt(var[1]), size=(400_000, 2))
    log_ratio = stats.norm.logpdf(z, mean[1], np.sqrt(var[1])) - stats.norm.logpdf(z)
    assert log_ratio.sum(1).mean() == pytest.approx(got[1], abs=0.03)


def test_bernoulli_reconstruction_is_the_cross_entropy_of_pixel_probabilities():
    x = jnp.array([[-1.0, 1.0, 0.0, 1.0]]).reshape(1, 2, 2, 1)  # Targets t = 0, 1, 0.5, 1.
    y = jnp.array([[0.0, 0.8, -0.5, -1.0]]).reshape(1, 2, 2, 1)  # p = 0.5, 0.9, 0.25, 0 (clipped).
    want = math.log(2) - math.log(0.9) - 0.5 * (math.log(0.25) + math.log(0.75)) - math.log(1e-6)
    got = vae.reconstruction_nll(x, y, "bernoulli")
    assert got.shape == (1,)
    np.testing.assert_allclose(got, [want], rtol=1e-5)
    # Through tanh, the gradient is the cross-entropy's on logits 2a: 2 (sigmoid(2a) - t).
    a = jnp.array([-3.0, 0.2, 1.5, -0.7]).reshape(1, 2, 2, 1)
    grad = jax.grad(lambda a: vae.reconstruction_nll(x, jnp.tanh(a), "bernoulli").sum())(a)
    np.testing.assert_allclose(grad, 2 * (jax.nn.sigmoid(2 * a) - (x + 1) / 2), rtol=1e-4)


def test_gaussian_reconstruction_uses_the_maximum_likelihood_variance():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1).astype(np.float32)
    got = np.asarray(vae.reconstruction_nll(jnp.asarray(x), jnp.asarray(y), "gaussian"))
    sd = np.sqrt(np.mean((x - y) ** 2))
    want = -stats.norm.logpdf(x, y, sd).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for other in (0.8 * sd, 1.25 * sd):  # Any other shared variance explains the batch worse.
        assert -stats.norm.logpdf(x, y, other).sum() > want.sum()


def test_the_negative_elbo_falls_and_both_networks_learn():
    config = smoke()
    config.vae.beta = 0.5  # The loss weighs the KL term by beta.
    _, spec = recipes.prepare(config)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    start = jax.device_get(state)
    step = jax.jit(jaxgan.make_train_step(config))
    batches = jaxgan.make_iterator(config)
    # The reparameterisation noise is a function of the step: the same numbers again from the
    # same state (exact resume), other ones at the next step.
    batch = next(batches)
    run = lambda state: {k: float(v) for k, v in step(state, batch)[1].items()}
    assert run(state) == run(state)
    assert run(state.replace(step=state.step + 1))["recon"] != run(state)["recon"]
    history = []
    for _ in range(30):
        state, metrics = step(state, next(batches))
        history.append({k: float(v) for k, v in metrics.items()})
    assert all(h["finite"] == 1.0 for h in history)
    for h in history:
        assert h["loss"] == pytest.approx(h["recon"] + config.vae.beta * h["kl"], rel=1e-5)
    first, last = (np.mean([h["loss"] for h in part]) for part in (history[:5], history[-5:]))
    assert last < 0.9 * first, (first, last)
    assert history[-1]["kl"] > 10 * history[0]["kl"]  # The posterior leaves the prior.
    moved = lambda a, b: max(
        float(np.abs(u - v).max()) for u, v in zip(*map(jax.tree.leaves, (a, b)), strict=True)
    )
    assert moved(state.players["encoder"].params, start.players["encoder"].params) > 1e-3
    assert moved(state.ema["g"], start.ema["g"]) > 1e-3
    x = next(batches)["x"][:3]
    mean, logvar = vae.encode(state, config, spec, jnp.asarray(x))
    assert mean.shape == logvar.shape == (3, config.vae.z_dim)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("loss.gp_weight", 10.0, "loss.gp_weight=10.0: recipe 'vae' has no discriminator"),
        ("loss.name", "hinge", "loss.name='hinge': recipe 'vae' has no discriminator"),
        ("train.n_critic", 2, "train.n_critic=2: recipe 'vae' has no critic"),
        ("vae.likelihood", "laplace", "vae.likelihood='laplace' is not allowed"),
        ("vae.beta", -1.0, "vae.beta=-1.0 is out of range"),
        ("vae.z_dim", 0, "vae.z_dim=0 is out of range"),
        ("model.g.conditioning", "concat", "recipe 'vae' is unconditional"),
    ],
)
def test_settings_the_vae_would_ignore_or_cannot_use_are_refused(key, value, match):
    config = smoke()
    section, name = key.rsplit(".", 1)
    node = config
    for part in section.split("."):
        node = node[part]
    node[name] = value
    with pytest.raises(ConfigError, match=match):
        recipes.prepare(config)


def test_the_encoder_is_the_vaes_alone():
    config = smoke()
    config.model.d = models.model_config("d", "dcgan")
    with pytest.raises(ConfigError, match="model.d.name='dcgan' is not allowed for recipe 'vae'"):
        config_lib.validate(config)
    gan = config_lib.load_config(str(ROOT / "experiments" / "dcgan.py"), "smoke")
    gan.model.d = models.model_config("d", "dcgan_encoder")
    with pytest.raises(ConfigError, match="'dcgan_encoder' is not allowed for recipe 'gan'"):
        config_lib.validate(gan)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, cache_dir):
    """The smoke experiment trained by launch.py (4 steps, checkpoints at 2 and 4)."""
    workdir = tmp_path_factory.mktemp("vae") / "run"
    done = run_launch("--config=experiments/vae.py:smoke", f"--workdir={workdir}")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_launch_trains_logs_and_draws_the_vae(vae_run):
    rows = [json.loads(line) for line in (vae_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert all({"loss", "recon", "kl", "finite"} <= set(r) for r in rows)
    assert (vae_run / "samples" / "step_0000004.png").exists()
    assert (vae_run / "curves.png").exists()
    saved = json.loads((vae_run / "config.json").read_text())
    assert saved["recipe"] == "vae" and saved["model"]["d"]["name"] == "dcgan_encoder"


def test_a_vae_workdir_loads_samples_and_walks_like_a_generator(vae_run, tmp_path):
    gen = jaxgan.load_generator(vae_run)
    config = smoke()
    assert gen.step == 4 and gen.latent_dim == config.vae.z_dim and not gen.conditional
    assert set(gen.state.players) == {"g"}  # The encoder is dropped with the optimizers.
    key = jax.random.PRNGKey(3)
    state = checkpoint.restore_state(config, vae_run)
    np.testing.assert_allclose(
        gen(gen.inputs(5, key)), jaxgan.sample(state, config, key, 5), atol=1e-6
    )
    inputs = gen_lib.interpolation_inputs(gen, gen.seed_inputs([1, 2]), 4, "slerp")
    assert gen(inputs).shape == (5, 28, 28, 1)
    with pytest.raises(ConfigError, match="recipe 'vae' takes no labels"):
        jaxgan.sample(state, config, key, 2, labels=[1])
    output = tmp_path / "samples.npz"
    done = run_launch(
        "--config=experiments/vae.py:smoke",
        f"--workdir={vae_run}",
        "--mode=sample",
        "--num_samples=6",
        f"--output={output}",
        "--seed=3",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    images = np.load(output)["images"]
    np.testing.assert_allclose(images, gen(gen.inputs(6, key)), atol=1e-5)


def test_a_vae_workdir_evaluates_its_prior_samples(vae_run, mnist_classifier):
    results = evaluate.evaluate_workdir(smoke(), vae_run)
    for key in ("fid", "kid", "is", "precision", "recall"):
        assert np.isfinite(results[key]), key
    assert results["step"] == 4 and results["num_samples"] == 64
    assert json.loads((vae_run / "eval.json").read_text())["fid"] == results["fid"]
