"""Preemption safety, with real processes: SIGKILL, SIGTERM, mid-save kills, NaNs, corruption.

The resume, SIGTERM and divergence tests run for every registered recipe (its EXPERIMENT's
smoke config): a new recipe joins them by being registered."""

import contextlib
import json
import pathlib
import random
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, parallel, recipes, train
from jaxgan import config as config_lib

from conftest import ROOT, run_launch, start_launch

SMOKE = ["--config=experiments/dcgan.py:smoke"]
LOSS_KEYS = ("d_loss", "g_loss", "D_x", "D_G_z", "finite")
RECIPES = sorted(recipes.RECIPES)


def experiment(recipe: str) -> str:
    return recipes.get(recipe).EXPERIMENT


def smoke_config(recipe="gan", **train):
    path = ROOT / "experiments" / f"{experiment(recipe)}.py"
    config = config_lib.load_config(str(path), "smoke")
    for key, value in train.items():
        config.train[key] = value
    return config


def flags(recipe="gan", **train):
    smoke = [f"--config=experiments/{experiment(recipe)}.py:smoke"]
    return smoke + [f"--config.train.{k}={v}" for k, v in train.items()]


def logged_rows(workdir) -> list[dict]:
    path = pathlib.Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # A line being written right now.
            rows.append(json.loads(line))
    return rows


def wait_for(condition, process, timeout=300.0, poll=0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"process ended early ({process.returncode}): {process.stderr.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(poll)


def last_error_line(done) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


def assert_states_equal(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_sigkill_at_a_random_step_then_resume_is_bit_identical(tmp_path, recipe):
    # Kill well before the end: at ~15 steps/s the run must still be going when the signal lands.
    settings = dict(num_steps=60, checkpoint_every_steps=3, log_every_steps=1)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    done = run_launch(*flags(recipe, **settings), f"--workdir={reference}")
    assert done.returncode == 0, done.stderr[-3000:]

    kill_at = random.Random().randint(4, 20)
    print(f"killing at step >= {kill_at}")  # Shown when the test fails.
    process = start_launch(*flags(recipe, **settings), f"--workdir={resumed}")
    wait_for(lambda: any(r["step"] >= kill_at for r in logged_rows(resumed)), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert max(r["step"] for r in logged_rows(resumed)) < 60
    done = run_launch(*flags(recipe, **settings), f"--workdir={resumed}")
    assert done.returncode == 0, done.stderr[-3000:]

    config = smoke_config(recipe, **settings)
    assert_states_equal(
        checkpoint.restore_state(config, reference), checkpoint.restore_state(config, resumed)
    )
    keys = ("step",) + LOSS_KEYS
    want = [{k: r[k] for k in keys if k in r} for r in logged_rows(reference)]
    got = [{k: r[k] for k in keys if k in r} for r in logged_rows(resumed)]
    assert got == want and len(got) == 60 and set(want[0]) == set(keys)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_sigterm_checkpoints_and_exits_with_the_requeue_code(tmp_path, recipe):
    process = start_launch(
        *flags(recipe, num_steps=100_000, checkpoint_every_steps=100_000, log_every_steps=1),
        f"--workdir={tmp_path}",
    )
    wait_for(lambda: len(logged_rows(tmp_path)) >= 3, process)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == train.EXIT_PREEMPTED
    elapsed = time.monotonic() - sent
    assert elapsed < 10, f"took {elapsed:.1f}s to checkpoint and exit"
    saved = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=3).latest_step()
    assert saved is not None and saved >= 3
    state = checkpoint.restore_state(smoke_config(recipe), tmp_path)
    assert int(state.step) == saved


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    ckpt_dir = tmp_path / "checkpoints"
    settings = dict(num_steps=10_000, checkpoint_every_steps=1, log_every_steps=1000, max_to_keep=2)
    process = start_launch(*flags(**settings), f"--workdir={tmp_path}")

    def writing():
        return ckpt_dir.exists() and any("tmp" in p.name for p in ckpt_dir.iterdir())

    wait_for(lambda: writing() and len(list(ckpt_dir.iterdir())) >= 2, process, poll=0.0005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = [p.name for p in ckpt_dir.iterdir() if "tmp" in p.name]
    assert partial, "the kill should land while a checkpoint is being written"

    config = smoke_config(**settings)
    state = checkpoint.restore_state(config, tmp_path)
    step = int(state.step)
    assert step >= 1 and str(step) in [p.name for p in ckpt_dir.iterdir()]
    done = run_launch(*flags(**dict(settings, num_steps=step + 2)), f"--workdir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(checkpoint.restore_state(config, tmp_path).step) == step + 2


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_divergence_is_caught_and_no_checkpoint_holds_non_finite_values(tmp_path, recipe):
    done = run_launch(
        *flags(recipe, num_steps=50, checkpoint_every_steps=1, max_bad_steps=3),
        "--config.optim.g_lr=1e30",
        "--config.optim.d_lr=1e30",
        f"--workdir={tmp_path}",
    )
    assert done.returncode == 3, done.stderr[-3000:]
    line = last_error_line(done)
    assert (
        "training diverged: 3 consecutive steps" in line and "last good checkpoint is step" in line
    )
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=100)
    steps = ckpt.manager.all_steps()
    assert steps and max(steps) < 50
    config = smoke_config(recipe)
    _, abstract = checkpoint.abstract_state(config, parallel.make_mesh())
    for step in steps:
        state, _ = ckpt.restore(step, abstract, None)  # Raises on non-finite values.
        assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state))


@pytest.fixture(scope="module")
def mlp_workdir(tmp_path_factory, cache_dir):
    workdir = tmp_path_factory.mktemp("mlp") / "run"
    done = run_launch("--config=experiments/gan_mlp.py:smoke", f"--workdir={workdir}")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_resume_refuses_a_different_model_and_allows_bookkeeping_changes(mlp_workdir):
    done = run_launch(*SMOKE, f"--workdir={mlp_workdir}")
    assert done.returncode == 2
    line = last_error_line(done)
    assert "different config" in line and "model.g.name: 'mlp' -> 'dcgan'" in line
    done = run_launch(
        "--config=experiments/gan_mlp.py:smoke",
        "--config.train.num_steps=6",
        f"--workdir={mlp_workdir}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["step"] for r in logged_rows(mlp_workdir)] == [2, 4, 6]


def test_truncated_checkpoint_files_give_one_clear_line(mlp_workdir, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(mlp_workdir, workdir)
    latest = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    for path in (workdir / "checkpoints" / str(latest) / "state").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    done = run_launch(
        "--config=experiments/gan_mlp.py:smoke",
        "--config.train.num_steps=8",
        f"--workdir={workdir}",
    )
    assert done.returncode == 2
    line = last_error_line(done)
    assert f"checkpoint {latest} in" in line and "cannot be read" in line


def test_a_checkpoint_of_other_shapes_is_refused_before_reading_data(tmp_path):
    small = smoke_config()
    big = smoke_config()
    big.model.g.width = 8
    mesh = parallel.make_mesh()
    init, _ = checkpoint.abstract_state(small, mesh)
    ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=1)
    iterator = train.make_iterator(small)
    ckpt.save(1, init(jax.random.PRNGKey(0)), iterator, small)
    ckpt.wait()
    _, abstract = checkpoint.abstract_state(big, mesh)
    with pytest.raises(checkpoint.CheckpointError, match="written by a different model"):
        ckpt.restore(1, abstract, None)
