"""Mode-collapse remedies (packing, unrolling, minibatch std), many seeds as one vmapped program,
and the single full-covariance Gaussian."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import config as config_lib
from jaxgan import data, recipes, seeds
from jaxgan import state as state_lib
from jaxgan import train as train_lib
from jaxgan.config import ConfigError
from jaxgan.data import toy2d
from jaxgan.metrics import mode_counting
from jaxgan.models import dcgan, layers, mlp, resnet
from jaxgan.recipes import adversarial, common, gan

from conftest import ROOT

MODE_COLLAPSE = str(ROOT / "experiments" / "mode_collapse_2d.py")


def ring_config(method="gan", **overrides):
    config = config_lib.load_config(MODE_COLLAPSE, f"ring,{method},smoke")
    for key, value in overrides.items():
        section, name = key.rsplit(".", 1)
        config[section][name] = value
    config_lib.validate(config)
    return config


def test_pack_stacks_consecutive_rows_along_the_last_axis_and_unpack_inverts_it():
    x = jnp.arange(6 * 3 * 3 * 2, dtype=jnp.float32).reshape(6, 3, 3, 2)
    packed = gan.pack(x, 3)
    assert packed.shape == (2, 3, 3, 6)
    # Pack 1 holds rows 3, 4, 5: channels (row 3's c0, c1, row 4's c0, c1, row 5's c0, c1).
    np.testing.assert_array_equal(
        packed[1, 2, 0], np.concatenate([x[3, 2, 0], x[4, 2, 0], x[5, 2, 0]])
    )
    np.testing.assert_array_equal(gan.unpack(packed, 3), x)
    points = jnp.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(gan.pack(points, 2), [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_minibatch_std_is_the_group_std_averaged_and_never_mixes_groups():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(8, 3, 3, 5)).astype(np.float32)
    out = np.asarray(layers.minibatch_std(jnp.asarray(h), 4))
    assert out.shape == (8, 3, 3, 6)
    np.testing.assert_array_equal(out[..., :5], h)
    for g in range(2):
        group = h[4 * g : 4 * g + 4].astype(np.float64)
        expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[4 * g : 4 * g + 4, ..., 5], expected, rtol=1e-5)
    # Changing the second group (the fakes of a [real; fake] call) leaves the first alone.
    h2 = h.copy()
    h2[4:] *= 10
    out2 = np.asarray(layers.minibatch_std(jnp.asarray(h2), 4))
    np.testing.assert_array_equal(out2[:4], out[:4])
    assert not np.allclose(out2[4:, ..., 5], out[4:, ..., 5])
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        layers.minibatch_std(jnp.zeros((6, 2)), 4)


@pytest.mark.parametrize(
    "module, shape, readers",
    [
        (mlp.MLPDiscriminator(hidden=(8,), minibatch_std=2), (4, 2), 1),
        (dcgan.DCGANDiscriminator(width=2, minibatch_std=2), (4, 28, 28, 1), 1),
        # The last block's convolution and its shortcut both read the extra feature.
        (
            resnet.ResNetDiscriminator(width=2, minibatch_std=2, spectral_norm=False),
            (4, 28, 28, 1),
            2,
        ),
    ],
    ids=["mlp", "dcgan", "resnet"],
)
def test_each_discriminator_sees_its_group_through_minibatch_std(module, shape, readers):
    """A sample's logit depends on the other members of its group of 2, and on no one else."""
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    variables = module.init(jax.random.PRNGKey(1), x, train=False)
    logits = lambda v: module.apply(variables, v, train=False)
    base = logits(x)
    moved = logits(x.at[1].multiply(3.0))  # Row 1 is in group {0, 1}.
    assert not np.isclose(base[0], moved[0])
    np.testing.assert_array_equal(base[2:], moved[2:])
    plain = module.clone(minibatch_std=0)
    without = plain.init(jax.random.PRNGKey(1), x, train=False)
    grew = [
        a.shape != b.shape
        for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(without), strict=True)
    ]
    assert sum(grew) == readers  # The kernels that take the extra feature.


def _one_step(config, state=None, batch=None):
    recipe, spec = recipes.prepare(config)
    if state is None:
        state = recipe.init(config, spec, jax.random.PRNGKey(0))
    if batch is None:
        rows = config.train.batch_size * config.train.n_critic
        batch = next(data.make_iterator(config.data, global_batch_size=rows, seed=0))
    step = jax.jit(recipe.make_train_step(config, spec))
    return state, batch, step(state, jax.tree.map(jnp.asarray, batch))


def test_a_packed_discriminator_judges_packs_of_m_samples():
    config = ring_config("pacgan3")
    state, _, (new, metrics) = _one_step(config)
    first = state.players["d"].params["Dense_0"]["kernel"]
    assert first.shape[0] == 3 * 2  # Three 2-D points per pack.
    assert config.train.batch_size % 3 == 0 and float(metrics["finite"]) == 1.0
    # Penalties see packs as samples: R1 is the mean over packs of |grad D(pack)|^2.
    config = ring_config("pacgan2", **{"loss.r1_weight": 1.0})
    state, batch, (_, metrics) = _one_step(config)
    recipe, spec = recipes.prepare(config)
    d, player = gan.build(config, spec).d, state.players["d"]
    packed = gan.pack(jnp.asarray(batch["x"]), 2)
    logit = lambda p: d.apply({"params": player.params}, p[None], train=False)[0]
    expected = np.mean([np.sum(np.square(jax.grad(logit)(p))) for p in packed])
    np.testing.assert_allclose(metrics["r1"], expected, rtol=1e-4)


def test_unrolled_g_looks_through_k_differentiable_d_updates():
    """One step with gan.unroll_steps=2 moves G exactly as the gradient of G's loss through two
    explicit D updates (the D updates differentiated, not held constant) says."""
    k = 2
    config = ring_config("gan", **{"gan.unroll_steps": k})
    recipe, spec = recipes.prepare(config)
    state, batch, (new, metrics) = _one_step(config)
    m = gan.build(config, spec)
    g_tx, d_tx = common.optimizers(config)
    call = gan._call(m, state.step, config)
    z_rng, reg_rng = gan.critic_keys(state, 0)
    z = jax.random.normal(z_rng, (config.train.batch_size, config.gan.z_dim))
    real = jnp.asarray(batch["x"])
    g, d = state.players["g"], state.players["d"]
    update = functools.partial(adversarial.d_update, d=m.d, tx=d_tx, call=call, config=config)
    d, _ = update(d, real, m.g.apply({"params": g.params}, z), {}, reg_rng)

    def g_loss(params, constant_fake):
        fake = m.g.apply({"params": params}, z)
        player = d
        for j in range(k):
            key = jax.random.fold_in(state_lib.step_key(state, gan.UNROLL_TAG), j)
            player = update(player, real, fake, {}, key, constant_fake=constant_fake)[0]
        return adversarial.g_adversarial_loss(
            fake,
            {},
            player,
            state_lib.step_key(state, gan.G_VIEW_TAG),
            d=m.d,
            call=call,
            config=config,
            real=real,
        )[0]

    loss, grads = jax.value_and_grad(g_loss)(g.params, False)
    np.testing.assert_allclose(metrics["g_loss"], loss, rtol=1e-5)
    expected = state_lib.apply_updates(g, grads, g_tx).params
    got = new.players["g"].params
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # Holding the unrolled updates constant gives another G: the gradient goes through them.
    first_order = jax.grad(g_loss)(g.params, True)
    assert not all(
        np.allclose(a, b, rtol=1e-3)
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(first_order), strict=True)
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"gan.pack": 3, "train.batch_size": 8}, r"gan.pack=3 does not divide train.batch_size=8"),
        ({"gan.pack": 0}, r"gan.pack=0 is out of range: it must be >= 1"),
        ({"gan.unroll_steps": -1}, r"gan.unroll_steps=-1 is out of range"),
        (
            {"model.d.minibatch_std": 3, "train.batch_size": 8},
            r"model.d.minibatch_std=3 does not divide the 8 samples D sees",
        ),
    ],
)
def test_bad_mode_collapse_settings_are_one_line_errors(overrides, message):
    config = config_lib.load_config(MODE_COLLAPSE, "ring,gan,smoke")
    for key, value in overrides.items():
        section, name = key.rsplit(".", 1)
        config[section][name] = value
    with pytest.raises(ConfigError, match=message):
        recipes.prepare(config)


def test_packing_a_conditional_discriminator_is_refused(smoke_config):
    config = smoke_config("cgan")
    config.gan.pack = 2
    with pytest.raises(ConfigError, match="a pack holds samples of different classes"):
        recipes.prepare(config)


def test_a_vmapped_run_of_seeds_equals_separate_runs():
    """Each seed of one vmapped program ends where its own run (as launch.py's loop makes it:
    init from PRNGKey(seed), seed's data stream, the same jitted step) ends. vmap turns the
    dense layers into batched matmuls, which round differently, so equal means to float32
    rounding, not bit for bit."""
    remedies = {"gan.unroll_steps": 1, "model.d.minibatch_std": 2, "train.num_steps": 6}
    config = ring_config("pacgan2", **remedies)  # Packing, unrolling and minibatch std at once.
    chosen = [3, 11]
    stacked, timing = seeds.train(config, chosen, log=False)
    assert timing["seconds"] > 0
    recipe, spec = recipes.prepare(config)
    step = jax.jit(recipe.make_train_step(config, spec))
    for i, seed in enumerate(chosen):
        own = seeds.seed_config(config, seed)
        state = recipe.init(own, spec, jax.random.PRNGKey(seed))
        batches = train_lib.make_iterator(own)
        for _ in range(config.train.num_steps):
            state, _ = step(state, jax.tree.map(jnp.asarray, next(batches)))
        mine = seeds.select(stacked, i)
        assert int(mine.step) == config.train.num_steps
        for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(state), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    first, second = (jax.tree.leaves(seeds.select(stacked, i).players["g"].params) for i in (0, 1))
    assert not np.allclose(first[0], second[0])  # The seeds are different runs.


def test_summaries_are_mean_and_standard_error_over_seeds():
    results = [{"modes": 8.0}, {"modes": 6.0}, {"modes": 7.0}, {"modes": 3.0}]
    summary = seeds.summarize(results)["modes"]
    values = np.array([8.0, 6.0, 7.0, 3.0])
    assert summary["mean"] == pytest.approx(6.0)
    assert summary["stderr"] == pytest.approx(values.std(ddof=1) / 2.0)
    assert (summary["min"], summary["max"]) == (3.0, 8.0)
    assert seeds.summarize([{"modes": 5.0}])["modes"]["stderr"] == 0.0


def test_launch_mode_seeds_writes_each_seed_and_the_summary(tmp_path):
    config = ring_config("pacgan2", **{"train.num_steps": 3})
    record = jaxgan.run(config, tmp_path, "seeds", num_seeds=2)
    saved = json.loads((tmp_path / "seeds.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["num_steps"] == 3
    assert len(saved["results"]) == 2
    assert set(saved["results"][0]) == {"modes", "high_quality", "reverse_kl"}
    modes = [r["modes"] for r in saved["results"]]
    assert saved["summary"]["modes"]["mean"] == pytest.approx(np.mean(modes))
    assert record["summary"] == saved["summary"]
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == ["seed_0.png", "seed_1.png"]


def test_the_gaussian_has_the_stated_mean_and_covariance():
    cfg = data.default_config()
    cfg.name = "toy2d_gaussian"
    batch = toy2d.global_batch(
        toy2d.means(cfg), np.linalg.cholesky(toy2d.GAUSSIAN_COV), 0, 0, 200_000
    )
    x = batch["x"].astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), toy2d.GAUSSIAN_MEAN, atol=0.01)
    np.testing.assert_allclose(np.cov(x, rowvar=False), toy2d.GAUSSIAN_COV, atol=0.01)
    moments = mode_counting.moment_errors(x, toy2d.GAUSSIAN_MEAN, toy2d.GAUSSIAN_COV)
    assert moments["mean_error"] < 0.01 and moments["cov_error"] < 0.01
    shifted = mode_counting.moment_errors(x * 2.0, toy2d.GAUSSIAN_MEAN, toy2d.GAUSSIAN_COV)
    assert shifted["cov_error"] == pytest.approx(3.0, rel=0.02)  # ||4 S - S|| / ||S||.
    cfg.num_modes = 3
    with pytest.raises(data.DataError, match="data.num_modes=3 is for the mixtures"):
        data.describe(cfg)


def test_a_gan_learns_the_full_covariance_gaussian():
    """The seeds' own example: two seeds of experiments/gaussian2d.py, trained as one program,
    each match N(mu, Sigma)'s mean and covariance within the tolerances stated there."""
    config = config_lib.load_config(str(ROOT / "experiments" / "gaussian2d.py"), "test")
    stacked, _ = seeds.train(config, [0, 1], log=False)
    for result in seeds.evaluate_seeds(config, stacked, [0, 1]):
        assert result["mean_error"] < 0.1, result
        assert result["cov_error"] < 0.15, result
