"""Evaluation: the evaluator's results on known generators, reference-statistics caching, config
checks, stacked MNIST, and `launch.py --mode=evaluate`."""

import json
import math

import jax
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import data, evaluate
from jaxgan.data import embedded_mnist, stacked_mnist
from jaxgan.metrics import classifier, features, inception, stats
from jaxgan.recipes import create_train_state

from conftest import run_launch

IMAGE_RESULTS = {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density"}
IMAGE_RESULTS |= {"coverage"}


@pytest.fixture(scope="module")
def trained_classifier(mnist_classifier):
    return mnist_classifier


# ------------------------------------------------------------------------ better / config


def test_better_follows_each_metrics_direction():
    assert evaluate.better("fid", 3.0, 4.0) and not evaluate.better("fid", 4.0, 3.0)
    assert evaluate.better("kid", 0.01, 0.02)
    assert evaluate.better("reverse_kl", 0.1, 0.5)
    assert evaluate.better("is", 9.0, 8.0) and not evaluate.better("is", 8.0, 9.0)
    assert evaluate.better("modes", 990.0, 900.0)
    assert not evaluate.better("fid", 3.0, 3.0)  # A tie keeps the old best.
    assert evaluate.better("fid", 100.0, None)
    assert not evaluate.better("fid", math.nan, 4.0)
    assert evaluate.better("fid", 4.0, math.nan)
    with pytest.raises(ValueError, match="'fdi' is not an evaluation result.*fid"):
        evaluate.better("fdi", 1.0, 2.0)


@pytest.mark.parametrize(
    "metrics, primary, message",
    [
        (("fid", "bogus"), "fid", r"unknown metric\(s\) \['bogus'\]"),
        ((), "fid", "none given"),
        (("kid",), "fid", "'fid' is computed by metric 'fid'.*does not include"),
        (("fid", "kid"), "coverage", "'coverage' is computed by metric 'prdc'"),
        (("fid",), "fidd", "eval.primary='fidd' is not allowed.*did you mean 'fid'"),
    ],
)
def test_validate_rejects_bad_eval_metrics_and_primary(metrics, primary, message):
    config = config_lib.default_config()
    config.eval.metrics, config.eval.primary = metrics, primary
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_metrics_that_do_not_fit_the_data_are_config_errors(smoke_config):
    config = smoke_config("dcgan")
    config.eval.metrics = ("fid", "modes")
    with pytest.raises(config_lib.ConfigError, match="'modes'.*stacked_mnist"):
        evaluate.make_evaluator(config)
    toy = smoke_config("toy2d_ring")
    toy.eval.metrics, toy.eval.primary = ("fid", "modes"), "fid"
    with pytest.raises(config_lib.ConfigError, match=r"mode counting only.*\('modes',\)"):
        evaluate.make_evaluator(toy)


def test_missing_inception_weights_is_one_config_error_line(smoke_config, tmp_path):
    config = smoke_config("dcgan")
    config.eval.features = "inception"
    missing = tmp_path / "nowhere" / inception.FID_WEIGHTS_FILENAME
    config.eval.inception_weights = str(missing)
    with pytest.raises(config_lib.ConfigError) as error:
        evaluate.make_evaluator(config)
    message = str(error.value)
    assert "\n" not in message and str(missing) in message
    config.eval.inception_weights = ""
    with pytest.raises(config_lib.ConfigError, match="needs eval.inception_weights"):
        evaluate.make_evaluator(config)


# ------------------------------------------------------------------------ toy 2-D


def _constant_generator(config, point):
    """A state whose generator outputs `point` for every z (all kernels 0, last bias = point)."""
    state = create_train_state(config, jax.random.PRNGKey(0))
    g = state.players["g"]
    last = max(g.params, key=lambda name: int(name.split("_")[-1]))

    def constant(params):
        params = jax.tree.map(np.zeros_like, params)
        params[last]["bias"] = np.asarray(point, np.float32)
        return params

    players = {**state.players, "g": g.replace(params=constant(g.params))}
    return state.replace(players=players, ema={"g": constant(g.params)})


def test_toy_mode_counting_through_the_evaluator(smoke_config):
    config = smoke_config("toy2d_ring")
    evaluator = evaluate.make_evaluator(config)
    means = data.toy_means(config.data)
    std = 0.02  # The standard ring's std (config.data.toy_std = 0).
    on_mode = evaluator(_constant_generator(config, means[3]))
    assert on_mode == {"modes": 1.0, "high_quality": 1.0, "reverse_kl": pytest.approx(np.log(8))}
    # 2.5 std from a mean is high quality, 3.5 std is not (the 3-std rule, with the data's std).
    near = evaluator(_constant_generator(config, means[5] + [2.5 * std, 0]))
    far = evaluator(_constant_generator(config, means[5] + [3.5 * std, 0]))
    assert (near["modes"], near["high_quality"]) == (1.0, 1.0)
    assert (far["modes"], far["high_quality"]) == (0.0, 0.0)
    assert far["reverse_kl"] == pytest.approx(np.log(8))
    assert evaluator.info == {"num_samples": config.eval.num_samples, "num_modes": 8}


# ------------------------------------------------------------------------ images


@pytest.mark.slow
def test_evaluator_on_a_random_dcgan_gives_finite_results(smoke_config, trained_classifier):
    config = smoke_config("dcgan")
    state = create_train_state(config, jax.random.PRNGKey(0))
    evaluator = evaluate.make_evaluator(config)
    results = evaluator(state)
    assert set(results) == IMAGE_RESULTS
    assert all(isinstance(v, float) and np.isfinite(v) for v in results.values())
    assert results["fid"] > 0 and 1.0 <= results["is"] <= 10.0
    assert evaluator.info["classifier_test_accuracy"] == trained_classifier.test_accuracy
    assert evaluator.info["num_reference"] == 64  # min(4,500 train digits, eval.num_samples)
    # Fixed latents: evaluating the same state again gives the same numbers.
    assert evaluator(state) == results


@pytest.mark.slow
def test_reference_statistics_are_cached_and_a_stale_file_is_an_error(
    smoke_config, trained_classifier, monkeypatch
):
    config = smoke_config("dcgan")
    config.eval.num_samples = 100
    shape = (28, 28, 1)
    extractor = features.make_extractor(config, shape)
    first = evaluate.reference_statistics(config, shape, extractor)
    real = next(classifier.split_batches(config.data, 100, 100))["x"]  # The same 100 digits.
    mu, sigma = stats.feature_stats(features.extract(extractor, real)["pool"])
    # Equal up to float32 round-off: the cache computed them in batches of 32, here of 100.
    np.testing.assert_allclose(first["mu"], mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first["sigma"], sigma, rtol=1e-5, atol=1e-5)

    def refuse(*args):
        raise AssertionError("reference features were recomputed")

    monkeypatch.setattr(evaluate, "_real_features", refuse)
    again = evaluate.reference_statistics(config, shape, extractor)
    np.testing.assert_array_equal(again["sigma"], first["sigma"])

    path = first["path"]
    stats.save_stats(path, mu, sigma, features=first["features"], key=np.str_("other"))
    with pytest.raises(data.DataError, match="hold 'other', not 'embedded_mnist-train-28x28x1-"):
        evaluate.reference_statistics(config, shape, extractor)
    path.write_bytes(b"junk")
    with pytest.raises(data.DataError, match="cannot read .*delete"):
        evaluate.reference_statistics(config, shape, extractor)


def test_reference_key_names_everything_that_changes_the_statistics(smoke_config):
    config = smoke_config("dcgan")
    ext = features.Extractor(None, "classifier", "classifier-embedded_mnist-28x1-v1", {})
    key = evaluate.reference_key(config.data, (28, 28, 1), ext, 64)
    assert key.startswith("embedded_mnist-train-28x28x1-classifier-embedded_mnist-28x1-v1-n64")
    config.data.split = "train[:50%]"  # TFDS slicing characters stay out of the file name...
    sliced = evaluate.reference_path(
        config, evaluate.reference_key(config.data, (28, 28, 1), ext, 64)
    )
    assert "[" not in sliced.name and "%" not in sliced.name
    config.data.split = "train[_50_]"  # ...yet a name that sanitises the same stays distinct.
    other = evaluate.reference_path(
        config, evaluate.reference_key(config.data, (28, 28, 1), ext, 64)
    )
    assert other != sliced


# ------------------------------------------------------------------------ stacked MNIST


def _stacked_config(split="train"):
    cfg = data.default_config()
    cfg.name, cfg.split = "stacked_mnist", split
    return cfg


def test_stacked_mnist_examples_stack_three_labelled_digits():
    cfg = _stacked_config()
    spec = data.describe(cfg)
    assert (tuple(spec.shape), spec.num_classes, spec.num_examples) == ((28, 28, 3), 1000, 100_000)
    digits, labels = embedded_mnist.read_csv()
    train_digits = digits[embedded_mnist.split_rows(labels)["train"]]
    train_labels = labels[embedded_mnist.split_rows(labels)["train"]]
    batch = next(data.make_iterator(cfg, global_batch_size=16, seed=5))
    assert batch["x"].shape == (16, 28, 28, 3) and batch["x"].dtype == np.float32
    pixels = np.round((batch["x"] + 1) * 127.5).astype(np.uint8)
    for image, label in zip(pixels, batch["label"], strict=True):
        # Find each channel among the raw training digits: its label is that digit's class.
        found = [
            train_labels[np.flatnonzero((train_digits[..., 0] == image[..., c]).all(axis=(1, 2)))]
            for c in range(3)
        ]
        assert all(len(f) >= 1 and len(set(f)) == 1 for f in found)
        assert label == 100 * found[0][0] + 10 * found[1][0] + found[2][0]


def test_stacked_mnist_is_a_pure_function_of_the_index():
    cfg = _stacked_config()
    rows = stacked_mnist.source_rows("train").copy()
    stacked_mnist.source_rows.cache_clear()
    np.testing.assert_array_equal(stacked_mnist.source_rows("train"), rows)
    _, read = stacked_mnist.reader(cfg, (28, 28, 3))
    a, b = read(np.array([7, 99_999, 7])), read(np.array([99_999]))
    np.testing.assert_array_equal(a["image"][0], a["image"][2])
    np.testing.assert_array_equal(a["image"][1], b["image"][0])
    first = next(data.make_iterator(cfg, global_batch_size=8, seed=1, start_step=3))
    again = next(data.make_iterator(cfg, global_batch_size=8, seed=1, start_step=3))
    np.testing.assert_array_equal(first["x"], again["x"])
    test_rows = stacked_mnist.source_rows("test")
    assert test_rows.shape == (10_000, 3) and test_rows.max() < 500
    with pytest.raises(data.DataError, match="'val' is not a split of stacked_mnist"):
        data.describe(_stacked_config("val"))


@pytest.mark.slow
def test_stacked_modes_of_real_data_through_the_classifier(trained_classifier):
    config = config_lib.default_config()
    config.data = _stacked_config("test")
    extractor = features.make_extractor(config, (28, 28, 3))
    assert extractor.key == f"classifier-embedded_mnist-28x1-v{classifier.VERSION}-per_channel"
    batches = list(classifier.split_batches(config.data, 10_000, 1000))
    images = np.concatenate([b["x"] for b in batches])
    labels = np.concatenate([b["label"] for b in batches])
    out = features.extract(extractor, images, 1000)
    assert out["pool"].shape == (10_000, 384) and out["logits"].shape == (10_000, 1000)
    results = evaluate.image_metrics(out, {}, ("modes",))
    joint_accuracy = (out["logits"].argmax(axis=1) == labels).mean()
    truth = np.bincount(labels, minlength=1000)
    print(f"stacked: {results}, triple accuracy {joint_accuracy:.3f}, true modes {truth.sum()}")
    assert joint_accuracy > trained_classifier.test_accuracy**3 - 0.03
    assert results["modes"] >= 990 and (truth > 0).sum() >= 995
    assert results["reverse_kl"] < 0.1  # ~(K - 1) / 2N = 0.05 for uniform counts.


@pytest.mark.slow
def test_evaluator_on_stacked_mnist_adds_modes(smoke_config, trained_classifier):
    config = smoke_config("stacked_mnist")
    state = create_train_state(config, jax.random.PRNGKey(0))
    results = evaluate.make_evaluator(config)(state)
    assert set(results) == IMAGE_RESULTS | {"modes", "reverse_kl"}
    assert all(np.isfinite(v) for v in results.values())
    assert 1 <= results["modes"] <= config.eval.num_samples
    assert 1.0 <= results["is"] <= 1000.0


# ------------------------------------------------------------------------ launch.py


@pytest.mark.slow
def test_launch_evaluate_writes_eval_json(tmp_path, trained_classifier):
    workdir = str(tmp_path / "run")
    common = ["--config=experiments/dcgan.py:smoke", f"--workdir={workdir}"]
    trained = run_launch(*common)
    assert trained.returncode == 0, trained.stderr[-2000:]
    done = run_launch(*common, "--mode=evaluate")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert set(record) >= IMAGE_RESULTS
    assert record["step"] == 4 and record["which"] == "latest" and record["num_samples"] == 64
    assert record["classifier_test_accuracy"] == trained_classifier.test_accuracy
    assert record["features"].startswith("classifier-embedded_mnist-28x1")
    printed = done.stdout.strip().splitlines()[-1]  # The results, not only the file.
    assert printed.startswith("step 4 (latest): ") and f"fid={record['fid']:.4g}" in printed

    missing = tmp_path / "weights" / inception.FID_WEIGHTS_FILENAME
    failed = run_launch(
        *common,
        "--mode=evaluate",
        "--config.eval.features=inception",
        f"--config.eval.inception_weights={missing}",
    )
    assert failed.returncode == 2, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("launch.py: error:")]
    assert len(errors) == 1 and str(missing) in errors[0], failed.stderr
    assert failed.stderr.strip().splitlines()[-1] == errors[0]
