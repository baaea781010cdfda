"""The CycleGAN recipe: its losses against their formulas, the history pool, the unpaired digit
domains, start-up refusals, and a run through launch.py with evaluation."""

import collections
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import checkpoint, data, recipes
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.data import digits_unpaired
from jaxgan.recipes import adversarial, cyclegan, image_pool

from conftest import ROOT, run_launch


def smoke():
    return config_lib.load_config(str(ROOT / "experiments" / "cyclegan.py"), "smoke")


@pytest.fixture(scope="module")
def stepped():
    """(config, models, state after 2 steps, a batch)."""
    config = smoke()
    _, spec = recipes.prepare(config)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(jaxgan.make_train_step(config))
    batches = jaxgan.make_iterator(config)
    for _ in range(2):
        state, metrics = step(state, next(batches))
        assert float(metrics["finite"]) == 1.0
    return config, cyclegan.build(config, spec), state, next(batches)


@pytest.mark.parametrize("identity_weight", [0.5, 0.0])
def test_generator_loss_is_the_papers_formula(stepped, identity_weight):
    _, m, state, batch = stepped
    config = smoke()  # A fresh copy: the fixture's config is shared.
    config.cyclegan.identity_weight = identity_weight
    a, b = jnp.asarray(batch["source"]), jnp.asarray(batch["x"])
    params = {name: state.players[name].params for name in ("g_ab", "g_ba")}
    g = lambda name, x: getattr(m, name).apply({"params": params[name]}, x)  # One call each.
    l1 = lambda x, y: float(jnp.mean(jnp.abs(x - y)))
    fake_b, fake_a = g("g_ab", a), g("g_ba", b)

    def d_logits(name, x):
        player = state.players[name]
        variables = {"params": player.params, **player.variables}
        return getattr(m, name).apply(variables, x, train=True, mutable=True)[0]

    adv_a = 0.5 * float(jnp.mean((d_logits("d_a", fake_a) - 1) ** 2))  # LSGAN's G loss.
    adv_b = 0.5 * float(jnp.mean((d_logits("d_b", fake_b) - 1) ** 2))
    cycle = l1(g("g_ba", fake_b), a) + l1(g("g_ab", fake_a), b)
    identity = l1(g("g_ab", b), b) + l1(g("g_ba", a), a)
    loss, (got_a, got_b, _, _, parts) = cyclegan.generator_objective(
        params,
        a,
        b,
        m=m,
        players=state.players,
        keys=(jax.random.key(0), jax.random.key(1)),
        call=adversarial.image_call(state.step, config),
        config=config,
    )
    np.testing.assert_allclose(got_a, fake_a, atol=1e-6)
    np.testing.assert_allclose(got_b, fake_b, atol=1e-6)
    assert float(parts["g_adv_a"]) == pytest.approx(adv_a, rel=1e-5)
    assert float(parts["g_adv_b"]) == pytest.approx(adv_b, rel=1e-5)
    assert float(parts["cycle_loss"]) == pytest.approx(cycle, rel=1e-5)
    want = 2.0 * (adv_a + adv_b) + 10.0 * cycle  # The experiment's adv_weight 2, cycle 10.
    if identity_weight:
        assert float(parts["identity_loss"]) == pytest.approx(identity, rel=1e-5)
        want += 10.0 * identity_weight * identity
    else:
        assert "identity_loss" not in parts
    assert float(loss) == pytest.approx(want, rel=1e-5)


def test_a_step_updates_all_four_players_and_fills_the_pools(stepped):
    config, _, state, _ = stepped
    fresh = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    assert set(state.players) == {"g_ab", "g_ba", "d_a", "d_b"}
    for name, player in state.players.items():
        before = fresh.players[name].params
        moved = jax.tree.map(lambda x, y: bool(jnp.any(x != y)), player.params, before)
        assert all(jax.tree.leaves(moved)), name
    for domain in ("a", "b"):
        pool = state.extras[f"pool_{domain}"]
        assert int(pool["count"]) == 3 and float(jnp.abs(pool["images"]).min()) >= 0
        assert float(jnp.abs(pool["images"]).max()) > 0  # Fakes, not the zeros it started with.


def _images(values) -> jax.Array:
    return jnp.asarray(values, jnp.float32).reshape(-1, 1, 1, 1)


def test_the_history_pool_fills_then_swaps_half_the_time():
    pool = image_pool.empty(4, (1, 1, 1))
    pool, shown = image_pool.query(pool, _images([1, 2, 3]), jax.random.key(0))
    np.testing.assert_array_equal(shown.ravel(), [1, 2, 3])  # Filling: passed through, stored.
    assert int(pool["count"]) == 3
    np.testing.assert_array_equal(pool["images"].ravel()[:3], [1, 2, 3])
    pool, shown = image_pool.query(pool, _images([4]), jax.random.key(1))
    np.testing.assert_array_equal(shown.ravel(), [4])
    np.testing.assert_array_equal(np.sort(pool["images"].ravel()), [1, 2, 3, 4])

    swapped, count = 0, 0
    for batch in range(50):
        new = np.arange(10) + 100 * (batch + 1)  # Every image distinct.
        before = np.asarray(pool["images"]).ravel()
        pool, shown = image_pool.query(pool, _images(new), jax.random.key(10 + batch))
        shown, after = np.asarray(shown).ravel(), np.asarray(pool["images"]).ravel()
        # A swap hands out a stored image and keeps the new one: nothing is lost or duplicated.
        assert collections.Counter(after) + collections.Counter(shown) == collections.Counter(
            before
        ) + collections.Counter(new)
        from_pool = shown != new
        assert set(shown[from_pool]) <= set(before) | set(new[:-1])
        swapped += int(from_pool.sum())
        count += len(new)
    assert int(pool["count"]) == 4
    assert 0.43 < swapped / count < 0.57  # 500 draws of p = 1/2: std 0.022.


def test_no_pool_passes_the_fakes_through():
    pool = image_pool.empty(0, (1, 1, 1))
    new, shown = image_pool.query(pool, _images([5, 6]), jax.random.key(0))
    np.testing.assert_array_equal(shown.ravel(), [5, 6])
    assert new["images"].shape == (0, 1, 1, 1)


def test_the_pools_survive_a_checkpoint_round_trip(stepped, tmp_path):
    config, _, state, _ = stepped
    saved = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=1)
    saved.save(int(state.step), state, jaxgan.make_iterator(config), config)
    saved.wait()
    saved.close()
    restored = checkpoint.restore_state(config, tmp_path)
    for domain in ("a", "b"):
        for key in ("images", "count"):
            np.testing.assert_array_equal(
                restored.extras[f"pool_{domain}"][key], state.extras[f"pool_{domain}"][key]
            )


def test_unpaired_digits_hold_both_domains_with_their_labels():
    cfg = data.default_config()
    cfg.name = "digits_unpaired"
    spec = data.describe(cfg)
    assert spec.fields == {"x": (28, 28, 1), "label": (), "source": (28, 28, 1), "source_label": ()}
    batch = next(data.make_iterator(cfg, global_batch_size=64, seed=0))
    assert batch["source"].shape == batch["x"].shape == (64, 28, 28, 1)
    assert batch["source"].dtype == np.float32 and batch["source_label"].dtype == np.int32
    assert not np.array_equal(batch["source_label"], batch["label"])  # Unpaired.
    small, labels = digits_unpaired.small_digits()
    assert small.shape == (1797, 28, 28, 1) and small[:, :4].max() == 0  # MNIST's 4-pixel frame.
    for split, size in (("train", 1297), ("test", 500)):
        images, split_labels = digits_unpaired.small_digit_split(split)
        assert len(images) == size and set(np.bincount(split_labels)) == (
            {50} if split == "test" else set(np.bincount(labels) - 50)
        )
    uses = np.bincount(digits_unpaired.pair_index(4500, 1297), minlength=1297)
    assert uses.min() >= 3 and uses.max() <= 4  # Every A digit about equally often.


def test_cyclegan_needs_two_domains_and_fitting_shapes():
    config = smoke()
    config.data.name = "embedded_mnist"
    with pytest.raises(ConfigError, match="needs two image domains, A under 'source'"):
        recipes.prepare(config)
    config = smoke()
    gray_to_rgb = data.DataSpec(
        (28, 28, 3), 10, 100, "mine", extra=(("source", (28, 28, 1)), ("source_label", ()))
    )
    with pytest.raises(ConfigError, match="identity_weight=0.5 needs domains with the same"):
        cyclegan.check(config, gray_to_rgb)
    config.cyclegan.identity_weight = 0.0
    cyclegan.check(config, gray_to_rgb)
    small_a = data.DataSpec((28, 28, 1), 10, 100, "mine", extra=(("source", (6, 6, 1)),))
    with pytest.raises(ConfigError, match="does not fit domain A"):
        cyclegan.check(config, small_a)
    config = smoke()
    config.cyclegan.pool_size = -1
    with pytest.raises(ConfigError, match="cyclegan.pool_size=-1 is out of range"):
        config_lib.validate(config)


@pytest.mark.slow
def test_cyclegan_end_to_end_train_and_evaluate(tmp_path, mnist_classifier):
    workdir = tmp_path / "run"
    done = run_launch(
        "--config=experiments/cyclegan.py:smoke",
        f"--workdir={workdir}",
        "--config.eval.every_steps=4",
        "--config.eval.num_samples=64",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in rows if "eval/fid" in r]
    assert evaluated and 0.0 <= evaluated[-1]["eval/accuracy"] <= 1.0
    assert {"cycle_loss", "identity_loss", "d_loss_a", "d_loss_b"} <= set(rows[0])
    assert (workdir / "samples" / "step_0000004.png").exists()
    generator = jaxgan.load_generator(workdir)
    assert set(generator.state.players) == {"g_ab", "g_ba"}
