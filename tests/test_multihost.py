"""Two real processes on localhost (gloo CPU collectives, two forced devices each) train as one.

They share a workdir and write one checkpoint; a single 4-device process restores it and goes
on. The losses match a 4-device single-process run of the same config, and only process 0 wrote
logs and images.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_launch, xla_flags

# The smoke DCGAN with BatchNorm in D too and steps large enough that the losses move.
ARGS = (
    "--config=experiments/dcgan.py:smoke",
    "--config.train.log_every_steps=1",
    "--config.model.d.norm=batch",
    "--config.optim.g_lr=2e-3",
    "--config.optim.d_lr=2e-3",
)
TOGETHER, TOTAL = 2, 4  # Steps the two processes train; steps after the single-process resume.
RTOL = 1e-4  # Float reassociation; tests/test_parallel.py shows a different seed is far outside.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_processes(workdir, logs, num_steps: int, count: int = 2, timeout: float = 600):
    """`count` launch.py processes of one job; returns their exit codes (all killed on failure)."""
    address = f"localhost:{_free_port()}"
    env = dict(os.environ, **xla_flags(2), JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    procs = []
    for i in range(count):
        command = [
            sys.executable,
            str(ROOT / "launch.py"),
            *ARGS,
            f"--workdir={workdir}",
            f"--config.train.num_steps={num_steps}",
            f"--coordinator_address={address}",
            f"--num_processes={count}",
            f"--process_id={i}",
        ]
        with open(logs[i], "w") as log:
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=log, text=True))
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            failed = any(p.poll() not in (None, 0) for p in procs)  # The others would wait on it.
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return [p.returncode for p in procs]


def _rows(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _losses(rows) -> np.ndarray:
    keys = ("d_loss", "g_loss", "D_x", "D_G_z")
    return np.array([[row[k] for k in keys] for row in rows])


@pytest.mark.slow
def test_two_processes_train_checkpoint_and_a_single_process_resumes(tmp_path):
    reference = tmp_path / "reference"
    done = run_launch(*ARGS, f"--workdir={reference}", env=xla_flags(4))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "global batch 8 over 4 devices on 1 processes (2 per device)" in done.stderr
    want = _rows(reference)
    assert [row["step"] for row in want] == list(range(1, TOTAL + 1))

    shared = tmp_path / "shared"
    logs = [tmp_path / f"process{i}.log" for i in range(2)]
    codes = _run_processes(shared, logs, TOGETHER)
    assert codes == [0, 0], "\n".join(f"{p.name}:\n{p.read_text()[-3000:]}" for p in logs)
    first = logs[0].read_text()
    assert "global batch 8 over 4 devices on 2 processes (2 per device)" in first
    assert "process 1 of 2" in logs[1].read_text()

    # Only process 0 wrote logs and images; orbax wrote one checkpoint from both processes.
    rows = _rows(shared)
    assert [row["step"] for row in rows] == list(range(1, TOGETHER + 1))
    assert len(list((shared / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert [p.name for p in (shared / "samples").iterdir()] == [f"step_{TOGETHER:07d}.png"]
    step_dir = shared / "checkpoints" / str(TOGETHER)
    assert sorted(p.name for p in (step_dir / "data").glob("*.json")) == [
        "process_0-of-2.json",
        "process_1-of-2.json",
    ]
    np.testing.assert_allclose(_losses(rows), _losses(want[:TOGETHER]), rtol=RTOL)

    # One process with four devices restores the two-process checkpoint and continues.
    done = run_launch(
        *ARGS, f"--workdir={shared}", f"--config.train.num_steps={TOTAL}", env=xla_flags(4)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from step {TOGETHER}" in done.stderr
    rows = _rows(shared)
    assert [row["step"] for row in rows] == list(range(1, TOTAL + 1))
    got = _losses(rows)
    np.testing.assert_allclose(got, _losses(want), rtol=RTOL)
    assert np.all(np.abs(got[-1, :2] - got[0, :2]) > 100 * RTOL), "the losses should move"


SBATCH = ROOT / "scripts" / "slurm" / "train.sbatch"
FAKE_SRUN = """#!/bin/bash
echo "$@" > "$FAKE_LOG/srun"
echo "${JAX_LOCAL_DEVICE_IDS:-unset}" > "$FAKE_LOG/local_devices"
exit $FAKE_STATUS
"""
FAKE_SCONTROL = '#!/bin/bash\necho "$@" > "$FAKE_LOG/scontrol"\n'


def _sbatch(tmp_path, status: int, **slurm) -> subprocess.CompletedProcess:
    """Runs the batch script as SLURM would, with srun and scontrol replaced by recorders."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        FAKE_LOG=str(tmp_path),
        FAKE_STATUS=str(status),
        SLURM_JOB_ID="42",
        SLURM_JOB_NAME="dcgan",
        SLURM_JOB_NODELIST="node[1-2]",
        WORKDIR="/shared/dcgan",
        **slurm,
    )
    env.pop("JAX_LOCAL_DEVICE_IDS", None)
    return subprocess.run(
        ["bash", str(SBATCH), "--config.train.num_steps=7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("status, requeued", [(0, False), (75, True), (2, False), (3, False)])
def test_sbatch_script_requeues_only_after_a_preemption_checkpoint(tmp_path, status, requeued):
    done = _sbatch(tmp_path, status, SLURM_NTASKS_PER_NODE="4", SLURM_GPUS_ON_NODE="4")
    assert done.returncode == status, done.stderr
    assert (tmp_path / "srun").read_text().split() == [
        "--kill-on-bad-exit=1",
        "python",
        "launch.py",
        "--config=experiments/dcgan.py",
        "--workdir=/shared/dcgan",
        "--config.train.num_steps=7",
    ]
    assert (tmp_path / "local_devices").read_text().strip() == "unset"  # JAX: one GPU per task.
    scontrol = tmp_path / "scontrol"
    assert scontrol.exists() == requeued
    if requeued:
        assert scontrol.read_text().split() == ["requeue", "42"]


def test_sbatch_script_gives_one_task_per_host_all_its_gpus(tmp_path):
    done = _sbatch(tmp_path, 0, SLURM_NTASKS_PER_NODE="1", SLURM_GPUS_ON_NODE="4")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "local_devices").read_text().strip() == "0,1,2,3"
