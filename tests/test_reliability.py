"""Preemption safety, with real processes: SIGKILL, SIGTERM, mid-save kills, NaNs, corruption.

The resume, SIGTERM and divergence tests run for every registered recipe (its EXPERIMENT's
smoke config): a new recipe joins them by being registered."""

import contextlib
import json
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from jaxgan import checkpoint, losses, parallel, recipes, sampling, train, workdirs, writers
from jaxgan import config as config_lib
from jaxgan import state as state_lib
from jaxgan.recipes import gan

from conftest import ROOT, run_launch, run_python, start_launch

SMOKE = ["--config=experiments/dcgan.py:smoke"]
LOSS_KEYS = ("d_loss", "g_loss", "D_x", "D_G_z", "finite")
TIMING_KEYS = ("steps_per_sec", "images_per_sec")  # Differ between runs.
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
    settings = dict(num_steps=30, checkpoint_every_steps=3, log_every_steps=1)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    done = run_launch(*flags(recipe, **settings), f"--workdir={reference}")
    assert done.returncode == 0, done.stderr[-3000:]

    kill_at = random.Random().randint(4, 14)
    print(f"killing at step >= {kill_at}")  # Shown when the test fails.
    process = start_launch(*flags(recipe, **settings), f"--workdir={resumed}")
    wait_for(lambda: any(r["step"] >= kill_at for r in logged_rows(resumed)), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert max(r["step"] for r in logged_rows(resumed)) < 30
    done = run_launch(*flags(recipe, **settings), f"--workdir={resumed}")
    assert done.returncode == 0, done.stderr[-3000:]

    config = smoke_config(recipe, **settings)
    assert_states_equal(
        checkpoint.restore_state(config, reference), checkpoint.restore_state(config, resumed)
    )
    keys = sorted(set(logged_rows(reference)[0]) - set(TIMING_KEYS))  # The recipe's metrics.
    want = [{k: r[k] for k in keys if k in r} for r in logged_rows(reference)]
    got = [{k: r[k] for k in keys if k in r} for r in logged_rows(resumed)]
    assert got == want and len(got) == 30 and {"step", "finite"} < set(want[0])
    if recipe == "gan":
        assert set(want[0]) == {"step", *LOSS_KEYS}


EXIT_CODES = {signal.SIGTERM: train.EXIT_PREEMPTED, signal.SIGINT: train.EXIT_INTERRUPTED}


@pytest.mark.slow
@pytest.mark.parametrize("signum", sorted(EXIT_CODES), ids=lambda s: s.name)
@pytest.mark.parametrize("recipe", RECIPES)
def test_sigterm_or_ctrl_c_checkpoints_and_exits_with_its_code(tmp_path, recipe, signum):
    settings = dict(num_steps=100_000, checkpoint_every_steps=100_000, log_every_steps=1)
    process = start_launch(*flags(recipe, **settings), f"--workdir={tmp_path}")
    wait_for(lambda: len(logged_rows(tmp_path)) >= 3, process)
    sent = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=60) == EXIT_CODES[signum]
    elapsed = time.monotonic() - sent
    assert elapsed < 10, f"took {elapsed:.1f}s to checkpoint and exit"
    stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr[-3000:]
    saved = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=3).latest_step()
    assert saved is not None and saved >= 3
    assert stderr.strip().splitlines()[-1].startswith("launch.py: ")
    assert f"checkpoint of step {saved} written" in stderr.strip().splitlines()[-1]
    state = checkpoint.restore_state(smoke_config(recipe, **settings), tmp_path)
    assert int(state.step) == saved


@pytest.mark.parametrize("signum", sorted(EXIT_CODES), ids=lambda s: s.name)
def test_a_signal_during_start_up_exits_with_its_code_and_one_line(tmp_path, signum):
    process = start_launch(*flags(), f"--workdir={tmp_path}")
    time.sleep(random.uniform(0.3, 2.5))  # Imports, config, data: before the first step.
    process.send_signal(signum)
    assert process.wait(timeout=60) == EXIT_CODES[signum]
    stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert f"{signum.name} before training started" in stderr.strip().splitlines()[-1]


def test_a_second_ctrl_c_exits_at_once():
    code = """
import os, signal, time
from jaxgan import train
with train.stop_signals() as flag:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    print("first:", flag["signal"].name, flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
print("not reached")
"""
    done = run_python(code, timeout=60)
    assert done.returncode == train.EXIT_INTERRUPTED, done.stderr[-2000:]
    assert done.stdout.strip() == "first: SIGINT"
    assert "second Ctrl-C: exiting now" in done.stderr


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
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=100)
    steps = ckpt.manager.all_steps()
    assert "training diverged: 3 consecutive steps" in line
    if steps:  # The last checkpoint before the streak is named; else the line says none.
        assert f"last good checkpoint is step {max(steps)} in" in line
    else:
        assert "no checkpoint was written before that" in line
    for text in (tmp_path / "metrics.jsonl").read_text().splitlines():  # Strict JSON.
        json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.jsonl"))
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


@pytest.mark.parametrize("which", ["every_file", "array_data", "manifest"])
def test_truncated_checkpoint_files_give_one_clear_line(mlp_workdir, tmp_path, which):
    workdir = tmp_path / "run"
    shutil.copytree(mlp_workdir, workdir)
    latest = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    state_dir = workdir / "checkpoints" / str(latest) / "state"
    chosen = {
        "every_file": [p for p in state_dir.rglob("*") if p.is_file()],
        "array_data": [p for p in state_dir.rglob("*") if p.is_file() and p.parent.name == "d"],
        "manifest": [state_dir / "manifest.ocdbt"],
    }[which]
    assert chosen
    for path in chosen:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    done = run_launch(
        "--config=experiments/gan_mlp.py:smoke",
        "--config.train.num_steps=8",
        f"--workdir={workdir}",
    )
    assert done.returncode == 2
    line = last_error_line(done)
    assert f"checkpoint {latest} in" in line and "cannot be read" in line
    assert "TensorStore details" not in line and "<bound method" not in line  # No reprs.
    assert len([t for t in done.stderr.splitlines() if t[:1] not in "IWE"]) == 1


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


# --------------------------------------------------------------------- divergence, in-process


def mlp_config(**train_settings):
    config = config_lib.load_config(str(ROOT / "experiments" / "gan_mlp.py"), "smoke")
    config.train.update(train_settings)
    return config


def poison_batches_from(monkeypatch, first_bad_step: int):
    """The gan recipe's step with real images made non-finite from state.step `first_bad_step`:
    a divergence that flows through D, the loss and every gradient, whatever the loss."""
    real = gan.make_train_step

    def poisoned(config, spec):
        step = real(config, spec)

        def run(state, batch):
            scale = jnp.where(state.step >= first_bad_step, jnp.inf, 1.0)
            return step(state, {**batch, "x": batch["x"] * scale})

        return run

    monkeypatch.setattr(gan, "make_train_step", poisoned)


def test_the_guard_skips_a_step_whose_optimizer_state_alone_overflows():
    params = {"w": jnp.ones(3)}
    tx = optax.adam(1.0)
    player = state_lib.Player(params=params, variables={}, opt_state=tx.init(params))
    state = state_lib.initial_state(jax.random.PRNGKey(0), {"g": player})
    overflowed = jax.tree.map(  # Adam's moments overflow; its step count stays an int.
        lambda x: x * jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else x, player.opt_state
    )
    new = state.replace(step=state.step + 1, players={"g": player.replace(opt_state=overflowed)})
    kept, metrics = state_lib.guarded(state, new, {"loss": jnp.float32(0.5)})
    assert float(metrics["finite"]) == 0.0 and int(kept.step) == 1
    assert_states_equal(kept.players, state.players)


@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
def test_a_divergence_through_each_loss_stops_at_a_good_checkpoint(tmp_path, monkeypatch, loss):
    poison_batches_from(monkeypatch, 4)  # Steps 1-4 are applied, 5 on are not.
    config = mlp_config(
        num_steps=20, checkpoint_every_steps=2, log_every_steps=1, max_bad_steps=3, max_to_keep=2
    )
    config.loss.name = loss
    with pytest.raises(train.DivergenceError) as caught:
        train.train_and_evaluate(config, tmp_path)
    message = str(caught.value)
    assert "3 consecutive steps up to step 7" in message
    assert f"the last good checkpoint is step 4 in {tmp_path / 'checkpoints'}" in message

    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", max_to_keep=2)
    assert ckpt.manager.all_steps() == [2, 4]  # Steps 6 (due mid-streak) never replaced one.
    ckpt.close()
    state = checkpoint.restore_state(config, tmp_path)
    images = sampling.sample(state, config, jax.random.PRNGKey(0), 8)
    assert np.all(np.isfinite(images))
    rows = {r["step"]: r for r in writers.read_rows(tmp_path / "metrics.jsonl")}
    assert [rows[s]["finite"] for s in range(1, 8)] == [1.0] * 4 + [0.0] * 3
    assert rows[5]["d_loss"] is None  # Non-finite values are null: strict JSON.


def test_a_divergence_before_any_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    poison_batches_from(monkeypatch, 0)
    config = mlp_config(num_steps=20, checkpoint_every_steps=10, max_bad_steps=3)
    with pytest.raises(train.DivergenceError, match="no checkpoint was written before that"):
        train.train_and_evaluate(config, tmp_path)
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))


# --------------------------------------------------------------- errors that are not the step's


def test_an_error_outside_the_step_checkpoints_the_last_completed_step(tmp_path, monkeypatch):
    config = mlp_config(num_steps=10, checkpoint_every_steps=100, sample_every_steps=1)
    reference = train.train_and_evaluate(config, tmp_path / "reference")
    real = writers.Writer.samples

    def disk_full_at_step_6(self, step, picture):
        if step == 6:
            raise OSError(28, "No space left on device")
        return real(self, step, picture)

    monkeypatch.setattr(writers.Writer, "samples", disk_full_at_step_6)
    workdir = tmp_path / "run"
    with pytest.raises(train.LoopError) as caught:
        train.train_and_evaluate(config, workdir)
    assert "training stopped after step 6: OSError: " in str(caught.value)
    assert "No space left on device" in str(caught.value)
    assert f"checkpoint of step 6 written to {workdir / 'checkpoints'}" in str(caught.value)
    assert int(checkpoint.restore_state(config, workdir).step) == 6

    monkeypatch.undo()  # The disk has room again: the rerun continues exactly.
    assert_states_equal(train.train_and_evaluate(config, workdir), reference)


# ------------------------------------------------------------------------ image folders


def write_digits_folder(root: pathlib.Path, count: int = 12) -> None:
    """`count` 8x8 gray PNGs of different brightness in two class folders."""
    for i in range(count):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.full((8, 8), 20 * i, np.uint8)
        pixels[2:6, 2:6] = 255 - 20 * i
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")


def folder_config(path, **train_settings):
    config = mlp_config(**train_settings)
    config.data.update(name="image_folder", path=str(path), image_size=8, channels=1)
    config.train.batch_size = 4
    return config


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, cache_dir):
    """A run on a folder with a truncated PNG (header fine, pixels cut) and a file that is not
    an image at all, long enough to read every file twice."""
    root = tmp_path_factory.mktemp("folder")
    write_digits_folder(root / "pictures")
    good = (root / "pictures" / "a" / "01.png").read_bytes()
    (root / "pictures" / "a" / "03.png").write_bytes(good[: len(good) // 2])
    (root / "pictures" / "b" / "04.png").write_bytes(b"not a picture at all")
    config = folder_config(root / "pictures", num_steps=6, checkpoint_every_steps=6)
    process = run_launch(
        "--config=experiments/gan_mlp.py:smoke",
        f"--workdir={root / 'run'}",
        *[f"--config.data.{k}={v}" for k, v in config.data.items() if k in ("name", "path")],
        "--config.data.image_size=8",
        "--config.data.channels=1",
        "--config.train.batch_size=4",
        "--config.train.num_steps=6",
        "--config.train.checkpoint_every_steps=6",
    )
    return root, config, process


def test_bad_images_are_skipped_and_counted_not_a_crash(folder_run):
    root, _, done = folder_run
    assert done.returncode == 0, done.stderr[-3000:]
    # Both are found while the folder's cache is built, before the first step.
    assert "2 of 12 files cannot be read and are left out: a/03.png" in done.stderr
    assert "b/04.png" in done.stderr
    assert [r["step"] for r in writers.read_rows(root / "run" / "metrics.jsonl")][-1] == 6


def test_resuming_on_other_data_is_refused_and_a_moved_folder_is_not(folder_run, tmp_path):
    root, config, _ = folder_run
    other = tmp_path / "other"
    write_digits_folder(other, count=10)
    workdir = tmp_path / "run"
    shutil.copytree(root / "run", workdir)
    config.train.num_steps = 8
    config.data.path = str(other)
    with pytest.raises(checkpoint.CheckpointError, match="was trained on other data .*files: 12"):
        train.train_and_evaluate(config, workdir)

    moved = tmp_path / "moved"
    shutil.copytree(root / "pictures", moved)
    config.data.path = str(moved)
    assert int(train.train_and_evaluate(config, workdir).step) == 8


# ------------------------------------------------------------------------ workdir lock


def test_one_training_process_per_workdir_and_a_dead_holders_lock_is_taken_over(tmp_path):
    with (
        workdirs.locked(tmp_path),
        pytest.raises(workdirs.WorkdirError, match=r"is in use by pid \d+ on "),
        workdirs.locked(tmp_path),
    ):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from jaxgan import workdirs\n"
            f"with workdirs.locked({str(tmp_path)!r}):\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with (
        pytest.raises(workdirs.WorkdirError, match=f"in use by pid {holder.pid} "),
        workdirs.locked(tmp_path),
    ):
        pass
    holder.kill()
    holder.wait()
    with workdirs.locked(tmp_path):  # The killed holder's lock is free.
        pass
