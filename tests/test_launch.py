"""launch.py end to end: a short run writes every promised output; bad input gets one line."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_launch, xla_flags

DCGAN_SMOKE = "--config=experiments/dcgan.py:smoke"


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory, cache_dir):
    workdir = tmp_path_factory.mktemp("launch") / "run"
    done = run_launch(DCGAN_SMOKE, f"--workdir={workdir}")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_training_writes_logs_samples_checkpoints_and_config(trained_workdir):
    rows = [
        json.loads(line) for line in (trained_workdir / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [2, 4]
    for key in ("d_loss", "g_loss", "D_x", "D_G_z", "steps_per_sec", "images_per_sec"):
        assert all(np.isfinite(r[key]) for r in rows), key
    grid = Image.open(trained_workdir / "samples" / "step_0000004.png")
    assert grid.size[0] > 28 and grid.mode == "RGB"
    assert (trained_workdir / "checkpoints" / "4").is_dir()
    assert list((trained_workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert Image.open(trained_workdir / "curves.png").size[1] >= 400  # Losses, D outputs.
    config = json.loads((trained_workdir / "config.json").read_text())
    assert config["train"]["num_steps"] == 4 and config["model"]["g"]["name"] == "dcgan"


def test_sample_mode_writes_reproducible_samples(trained_workdir, tmp_path):
    outputs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / f"{name}.npz"
        done = run_launch(
            DCGAN_SMOKE,
            f"--workdir={trained_workdir}",
            "--mode=sample",
            "--num_samples=10",
            f"--output={out}",
            f"--seed={seed}",
        )
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(out) as f:
            assert list(f.keys()) == ["images"]
            outputs[name] = f["images"]
    images = outputs["a"]
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0
    np.testing.assert_array_equal(outputs["a"], outputs["b"])
    assert not np.array_equal(outputs["a"], outputs["c"])


def _one_line_error(done, *needles):
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("launch.py: error: "), last
    for needle in needles:
        assert needle in last, (needle, last)


@pytest.mark.parametrize(
    "override, needles",
    [
        ("--config.train.batchsize=3", ["'train.batchsize'", "did you mean 'train.batch_size'"]),
        ("--config.data.name=mnistt", ["'mnistt'", "embedded_mnist", "did you mean"]),
        ("--config.train.batch_size=abc", ["abc"]),
    ],
)
def test_bad_config_stops_with_one_line(tmp_path, override, needles):
    done = run_launch(DCGAN_SMOKE, f"--workdir={tmp_path}", override)
    _one_line_error(done, *needles)
    assert not (tmp_path / "checkpoints").exists()


def test_batch_size_not_dividing_over_devices_stops_with_one_line(tmp_path):
    done = run_launch(
        DCGAN_SMOKE,
        f"--workdir={tmp_path}",
        "--config.train.batch_size=6",
        env=xla_flags(4),
    )
    _one_line_error(done, "train.batch_size=6", "4 devices")


def test_missing_config_file_stops_with_one_line(tmp_path):
    done = run_launch("--config=experiments/nope.py", f"--workdir={tmp_path}")
    _one_line_error(done, "nope.py")


def _bad_config_file(tmp_path, text):
    path = tmp_path / "experiment.py"
    path.write_text(text)
    return [f"--config={path}"]


# Each case a user hit: what they ran -> what the one line must name.
USER_ERRORS = {
    "config_syntax": (
        lambda tmp, run: _bad_config_file(tmp, "def get_config(:\n    pass\n"),
        ["experiment.py", "SyntaxError", "line 1"],
    ),
    "config_import": (
        lambda tmp, run: _bad_config_file(tmp, "\nimport no_such_module\n"),
        ["experiment.py", "ModuleNotFoundError", "no_such_module", "line 2"],
    ),
    "config_argument": (
        lambda tmp, run: ["--config=experiments/gan_mlp.py:smok"],
        ["unknown config argument 'smok'", "'smoke'"],
    ),
    "workdir_is_a_file": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={tmp / 'file'}"],
        ["is a file, not a directory"],
    ),
    "workdir_not_writable": (
        lambda tmp, run: [DCGAN_SMOKE, "--workdir=/proc/jaxgan_run"],
        ["/proc/jaxgan_run", "not writable"],
    ),
    "num_samples_zero": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={run}", "--mode=sample", "--num_samples=0"],
        ["--num_samples=0", "positive"],
    ),
    "num_samples_negative": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={run}", "--mode=sample", "--num_samples=-3"],
        ["--num_samples=-3", "positive"],
    ),
    "num_seeds_zero": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={tmp / 'w'}", "--mode=seeds", "--num_seeds=0"],
        ["--num_seeds=0"],
    ),
    "num_seeds_without_mode_seeds": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={tmp / 'w'}", "--num_seeds=3"],
        ["--num_seeds is for --mode=seeds, not --mode=train"],
    ),
    "output_is_a_directory": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={run}", "--mode=sample", f"--output={tmp}"],
        ["--output=", "is a directory"],
    ),
    "dcgan_odd_image_size": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={tmp / 'w'}", "--config.data.image_size=30"],
        ["30"],
    ),
    "dcgan_on_2d_points": (
        lambda tmp, run: [
            "--config=experiments/dcgan_plain.py:smoke",
            f"--workdir={tmp / 'w'}",
            "--config.data.name=toy2d_ring",
        ],
        ["dcgan", "toy2d_ring"],
    ),
    "seed_in_training": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={tmp / 'w'}", "--seed=3"],
        ["--seed=3", "--config.seed"],
    ),
    "flag_of_another_mode": (
        lambda tmp, run: [f"--workdir={run}", "--mode=interpolate", f"--image={tmp / 'file'}"],
        ["--image is for --mode=project, not --mode=interpolate"],
    ),
    "missing_checkpoint_step": (
        lambda tmp, run: [f"--workdir={run}", "--mode=export", "--checkpoint=3"],
        ["no checkpoint of step 3", "[2, 4]"],
    ),
    "plot_without_metrics": (
        lambda tmp, run: [f"--workdir={tmp / 'w'}", "--mode=plot"],
        ["no metrics in", "train first"],
    ),
    "best_without_evaluation": (
        lambda tmp, run: [DCGAN_SMOKE, f"--workdir={run}", "--mode=evaluate", "--checkpoint=best"],
        ["no best checkpoint", "eval.every_steps", "--checkpoint=latest"],
    ),
}


@pytest.mark.parametrize("case", sorted(USER_ERRORS))
def test_user_errors_are_one_line_before_any_work(case, tmp_path, trained_workdir):
    make_args, needles = USER_ERRORS[case]
    (tmp_path / "file").write_text("")
    before = sorted(p.name for p in trained_workdir.rglob("*"))
    done = run_launch(*make_args(tmp_path, trained_workdir))
    _one_line_error(done, *needles)
    assert not (tmp_path / "w" / "checkpoints").exists()
    assert sorted(p.name for p in trained_workdir.rglob("*")) == before  # No stray files.
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_workdir_in_use_is_refused_with_one_line(tmp_path):
    from jaxgan import workdirs

    with workdirs.locked(workdirs.prepare(tmp_path)):
        done = run_launch(DCGAN_SMOKE, f"--workdir={tmp_path}")
    _one_line_error(done, "is in use by pid", "one training process per workdir")
    assert not (tmp_path / "checkpoints").exists()


def test_rerunning_a_finished_run_says_there_is_nothing_to_do(trained_workdir):
    done = run_launch(DCGAN_SMOKE, f"--workdir={trained_workdir}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nothing to do: the latest checkpoint" in done.stderr and "step 4" in done.stderr
    assert "train step compiled" not in done.stderr
