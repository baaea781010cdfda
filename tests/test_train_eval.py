"""Inside the training loop: eval rows, the best checkpoint, FID falling, and profiling."""

import json

import numpy as np
import pytest

from jaxgan import checkpoint, evaluate, train, writers
from jaxgan import config as config_lib
from jaxgan.config import ConfigError

from conftest import optimised, run_launch


def test_training_logs_evaluations_and_keeps_the_best_checkpoint(
    smoke_config, mnist_classifier, tmp_path
):
    config = smoke_config("dcgan_plain")
    config.train.num_steps = 6
    config.eval.every_steps = 2
    config.eval.metrics = ("fid", "is")
    train.train_and_evaluate(config, tmp_path)

    rows = writers.read_rows(tmp_path / "metrics.jsonl")
    evals = {r["step"]: r["eval/fid"] for r in rows if "eval/fid" in r}
    assert sorted(evals) == [2, 4, 6] and all(np.isfinite(list(evals.values())))
    assert all("eval/is" in r for r in rows if "eval/fid" in r)
    best_step = min(evals, key=evals.get)
    best = checkpoint.Checkpointer(tmp_path / "best_checkpoint", max_to_keep=1)
    assert best.manager.all_steps() == [best_step]
    best.close()

    record = evaluate.evaluate_workdir(config, tmp_path, which="best")
    assert record["step"] == best_step and record["which"] == "best"
    assert record["fid"] == pytest.approx(evals[best_step], rel=1e-6)  # Same latents, same state.
    assert json.loads((tmp_path / "eval.json").read_text())["step"] == best_step

    # Resuming reads the best value back: a longer run only replaces it with a better one.
    config.train.num_steps = 8
    train.train_and_evaluate(config, tmp_path)
    rows = writers.read_rows(tmp_path / "metrics.jsonl")
    evals = {r["step"]: r["eval/fid"] for r in rows if "eval/fid" in r}
    assert sorted(evals) == [2, 4, 6, 8]
    best = checkpoint.Checkpointer(tmp_path / "best_checkpoint", max_to_keep=1)
    assert best.manager.all_steps() == [min(evals, key=evals.get)]
    best.close()


@pytest.mark.slow
def test_classifier_fid_of_a_training_dcgan_falls_between_the_references(
    mnist_classifier, tmp_path
):
    """Classifier FID: real halves (3.5) < DCGAN at 400 steps < at 100 steps < uniform noise (588,
    tests/test_classifier.py). Measured: 492, 374, 244, 218 at steps 100-400."""

    # In a subprocess with XLA's default optimisation: 400 steps are run time, not compile time.
    done = run_launch(
        "--config=experiments/dcgan_plain.py",
        f"--workdir={tmp_path}",
        "--config.model.g.width=32",
        "--config.model.d.width=32",
        "--config.train.num_steps=400",
        "--config.train.checkpoint_every_steps=400",
        "--config.train.sample_every_steps=400",
        "--config.eval.every_steps=100",
        "--config.eval.num_samples=4000",
        "--config.eval.metrics=('fid',)",
        env=optimised(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fid = {
        r["step"]: r["eval/fid"]
        for r in writers.read_rows(tmp_path / "metrics.jsonl")
        if "eval/fid" in r
    }
    assert sorted(fid) == [100, 200, 300, 400]
    assert 10.0 < fid[400] < 0.6 * fid[100] and fid[100] < 580.0, fid


def test_profile_steps_write_a_trace_of_that_window(smoke_config, tmp_path):
    config = smoke_config("gan_mlp")
    config.train.profile_steps = (2, 3)
    train.train_and_evaluate(config, tmp_path)
    traces = list((tmp_path / "profile").rglob("*.xplane.pb"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0
    config.train.profile_steps = (3, 2)
    with pytest.raises(ConfigError, match=r"train.profile_steps=\(3, 2\) must be \(\) or"):
        config_lib.validate(config)
