"""Training tricks as config choices: DiffAugment, instance noise, one-sided label smoothing,
lazy regularisation, optimizers by name and learning-rate schedules."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment, losses, recipes
from jaxgan import config as config_lib
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial


def _images(n=6, size=16, channels=1, seed=0):
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, size, size, channels), minval=-1)


def test_translation_shifts_each_image_by_at_most_an_eighth_with_zero_fill():
    x = _images(n=32)
    (y,) = augment.translation((x,), jax.random.PRNGKey(1))
    x, y = np.asarray(x), np.asarray(y)
    shifts = set()
    for xi, yi in zip(x, y, strict=True):
        matches = []
        for dy in range(-2, 3):  # 16 * 0.125 = 2 pixels each way.
            for dx in range(-2, 3):
                want = np.zeros_like(xi)
                src = xi[max(dy, 0) : 16 + min(dy, 0), max(dx, 0) : 16 + min(dx, 0)]
                want[max(-dy, 0) : 16 + min(-dy, 0), max(-dx, 0) : 16 + min(-dx, 0)] = src
                if np.allclose(yi, want, atol=1e-6):
                    matches.append((dy, dx))
        assert len(matches) == 1, "each output is exactly one shift of its input"
        shifts.add(matches[0])
    assert len(shifts) > 5, "samples draw their own shifts"


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_border():
    x = _images(n=64) + 2.0  # No pixel is 0 before the cut.
    (y,) = augment.cutout((x,), jax.random.PRNGKey(2))
    x, y = np.asarray(x), np.asarray(y)
    full = 0
    for xi, yi in zip(x, y, strict=True):
        cut = yi[..., 0] == 0
        rows, cols = np.nonzero(cut)
        assert rows.size, "every image loses a patch"
        box = (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        assert box[0] <= 8 and box[1] <= 8 and cut.sum() == box[0] * box[1]  # One rectangle.
        np.testing.assert_array_equal(yi[~cut], xi[~cut])
        full += box == (8, 8)
    assert full > 10, "a cut away from the borders is the full 8 x 8"


def test_color_is_a_per_image_affine_map_with_the_papers_ranges():
    """Grayscale: saturation is the identity, so y = c (x + b) + (1 - c) mean(x + b), with
    b ~ U(-0.5, 0.5) and c ~ U(0.5, 1.5): per image, y is affine in x with slope c."""
    x = _images(n=16)
    (y,) = augment.color((x,), jax.random.PRNGKey(3))
    for xi, yi in zip(np.asarray(x).reshape(16, -1), np.asarray(y).reshape(16, -1), strict=True):
        slope, intercept = np.polyfit(xi, yi, 1)
        assert 0.5 <= slope <= 1.5
        np.testing.assert_allclose(yi, slope * xi + intercept, atol=1e-5)
        mean_shift = yi.mean() - xi.mean()  # Contrast keeps the mean: the shift is b.
        assert -0.5 <= mean_shift <= 0.5


def test_a_pair_gets_the_same_augmentation_and_gradients_flow_through_it():
    x = _images(n=8, channels=3)
    policy = augment.POLICIES
    a, b = augment.diffaugment((x, x), jax.random.PRNGKey(4), policy)
    np.testing.assert_array_equal(a, b)
    grad = jax.grad(lambda v: jnp.sum(augment.diffaugment((v,), jax.random.PRNGKey(4), policy)[0]))
    g = np.asarray(grad(x))
    assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_instance_noise_decays_linearly_to_zero():
    config = config_lib.default_config()
    config.augment.noise_std, config.augment.noise_decay_steps = 0.2, 100
    for step, want in ((0, 0.2), (50, 0.1), (100, 0.0), (400, 0.0)):
        np.testing.assert_allclose(augment.noise_std(config, step), want, rtol=1e-6, atol=1e-9)
    x = jnp.zeros((64, 16, 16, 1))
    (y,) = augment.d_view((x,), jax.random.PRNGKey(0), 50, config)
    np.testing.assert_allclose(np.std(np.asarray(y)), 0.1, rtol=0.05)
    config.augment.noise_std = 0.0
    (y,) = augment.d_view((x,), jax.random.PRNGKey(0), 50, config)
    np.testing.assert_array_equal(y, x)  # Nothing configured: D sees the images as they are.


def test_one_sided_label_smoothing_is_cross_entropy_against_the_smoothed_target():
    real, fake = jnp.array([2.0, -1.0, 0.3]), jnp.array([-0.5, 1.5, 0.0])
    sig = lambda v: 1 / (1 + np.exp(-np.asarray(v, np.float64)))
    want = -np.mean(0.9 * np.log(sig(real)) + 0.1 * np.log(1 - sig(real)))
    want += -np.mean(np.log(1 - sig(fake)))
    config = config_lib.default_config()
    config.loss.label_smoothing = 0.1
    np.testing.assert_allclose(adversarial.d_loss_fn(config)(real, fake), want, rtol=1e-6)
    np.testing.assert_allclose(losses.bce_d_loss(real, fake, 0.9), want, rtol=1e-6)


class _TinyD(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        h = nn.tanh(nn.Dense(8)(x.reshape((x.shape[0], -1))))
        return nn.Dense(1)(h)[:, 0]


def _d_objective(config):
    d = _TinyD()
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 3, 3, 1))
    params = d.init(jax.random.PRNGKey(1), x)["params"]

    def call(module, p, variables, v, cond, rng):
        return module.apply({"params": p}, v), {}

    def loss_and_grad(d_step):
        fn = functools.partial(adversarial.d_objective, d=d, call=call, config=config)
        rng = jax.random.PRNGKey(2)
        return jax.value_and_grad(lambda p: fn(p, {}, x, -x, {}, rng, d_step)[0])(params)

    return loss_and_grad


def _loss_config(**loss):
    config = config_lib.default_config()
    config.model.d.norm = "none"
    config.loss.update(loss)
    return config


def test_lazy_r1_is_eager_r1_times_k_where_it_applies_and_absent_elsewhere():
    lazy = jax.jit(_d_objective(_loss_config(r1_weight=3.0, lazy_interval=4)))
    eager_k = _d_objective(_loss_config(r1_weight=12.0))
    none = _d_objective(_loss_config())
    for d_step in range(9):
        want = eager_k(d_step) if d_step % 4 == 0 else none(d_step)
        got = lazy(d_step)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), got, want)
    assert lazy._cache_size() == 1, "one compiled step for applying and skipping updates"


def test_optimizers_by_name_update_their_params():
    config = config_lib.default_config()
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.array([1.0, -2.0, 0.5])}
    for name, extra in (("adam", {}), ("adamw", {"weight_decay": 0.1}), ("sgd", {"momentum": 0.9})):
        config.optim.name = name
        config.optim.weight_decay = config.optim.momentum = 0.0
        config.optim.update(extra)
        config_lib.validate(config)
        tx = state_lib.make_optimizer(config, "g")
        updates, _ = tx.update(grads, tx.init(params), params)
        assert np.all(np.sign(np.asarray(updates["w"])) == -np.sign(np.asarray(grads["w"])))
    config.optim.name, config.optim.momentum = "rmsprop", 0.5
    tx = state_lib.make_optimizer(config, "d")
    assert np.isfinite(np.asarray(tx.update(grads, tx.init(params), params)[0]["w"])).all()


def _lr(config, role, count):
    schedule = state_lib.learning_rate(config, role)
    return float(schedule(count)) if callable(schedule) else schedule


@pytest.mark.parametrize(
    "schedule, extra, role, points",
    [
        ("linear", {"decay_start": 500}, "g", {0: 1.0, 500: 1.0, 750: 0.5, 1000: 0.0}),
        ("cosine", {}, "g", {0: 1.0, 500: 0.5, 1000: 0.0}),
        ("cosine", {"warmup_steps": 100}, "g", {0: 0.0, 50: 0.5, 100: 1.0, 550: 0.5}),
        ("linear", {}, "d", {0: 1.0, 1500: 0.5, 3000: 0.0}),  # n_critic = 3: 3 D updates a step.
        ("constant", {"warmup_steps": 10}, "g", {0: 0.0, 5: 0.5, 10: 1.0, 900: 1.0}),
    ],
)
def test_learning_rate_schedules(schedule, extra, role, points):
    config = config_lib.default_config()
    config.train.num_steps, config.train.n_critic = 1000, 3
    config.optim.g_lr = config.optim.d_lr = 1.0
    config.optim.schedule = schedule
    config.optim.update(extra)
    config_lib.validate(config)
    for count, want in points.items():
        np.testing.assert_allclose(_lr(config, role, count), want, atol=1e-6)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"optim.weight_decay": 0.1}, "weight decay is adamw's"),
        ({"optim.momentum": 0.9}, "momentum is for 'sgd' and 'rmsprop'"),
        ({"optim.schedule": "step"}, "optim.schedule='step' is not allowed"),
        ({"optim.schedule": "cosine", "optim.warmup_steps": 5000}, "must be below the decay"),
        ({"loss.label_smoothing": 0.1, "loss.name": "hinge"}, "smoothing moves a probability"),
        ({"loss.label_smoothing": 0.6}, "must be in \\[0, 0.5\\)"),
        ({"loss.lazy_interval": 0}, "loss.lazy_interval=0 is out of range"),
        ({"augment.diffaugment": "color,flip"}, "unknown transform\\(s\\) \\['flip'\\]"),
        ({"augment.noise_std": -1.0}, "augment.noise_std=-1.0 is out of range"),
    ],
)
def test_tricks_that_make_no_sense_are_refused(overrides, match):
    config = config_lib.default_config()
    for key, value in overrides.items():
        section, name = key.split(".")
        config[section][name] = value
    with pytest.raises(ConfigError, match=match):
        config_lib.validate(config)


def test_a_schedule_over_num_steps_refuses_a_resume_with_other_num_steps():
    config = config_lib.default_config()
    config.optim.schedule = "linear"
    saved = config.to_dict()
    config.train.num_steps = 4000
    assert config_lib.changed_keys(saved, config) == ["train.num_steps: 2000 -> 4000"]
    config.optim.decay_steps = 2000  # An explicit horizon: num_steps may change again.
    saved = config.to_dict()
    config.train.num_steps = 8000
    assert config_lib.changed_keys(saved, config) == []


@pytest.mark.parametrize("experiment", ["dcgan", "pix2pix"])
def test_steps_with_every_trick_are_deterministic_and_differ_from_plain_steps(
    experiment, smoke_config
):
    """DiffAugment and instance noise inside the jitted step of each recipe with images: a
    function of the state (a resumed step draws the same), and D sees something else."""

    def two_steps(config):
        state = recipes.create_train_state(config, jax.random.PRNGKey(0))
        step = jax.jit(recipes.make_train_step(config))
        from jaxgan import data

        spec_rows = config.train.batch_size * config.train.n_critic
        batch = next(data.make_iterator(config.data, global_batch_size=spec_rows, seed=0))
        batch = jax.tree.map(jnp.asarray, batch)
        _, first = step(state, batch)
        _, again = step(state, batch)
        return jax.device_get(first), jax.device_get(again)

    plain, _ = two_steps(smoke_config(experiment))
    config = smoke_config(experiment)
    config.augment.diffaugment = "color,translation,cutout"
    config.augment.noise_std = 0.1
    config.loss.label_smoothing = 0.1
    config.optim.schedule, config.optim.warmup_steps = "cosine", 1
    first, again = two_steps(config)
    assert first == again
    assert all(np.isfinite(v) for v in first.values())
    assert first["d_loss"] != plain["d_loss"]
