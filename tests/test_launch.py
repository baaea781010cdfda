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
