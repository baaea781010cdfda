"""What people read of a run: strict-JSON metrics and TensorBoard events without duplicates."""

import json

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from jaxgan import writers


def scalar_steps(directory, tag: str) -> list[int]:
    steps = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for record in writers.read_events(path):
            event = event_pb2.Event.FromString(record)
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


def test_a_resumed_run_shows_each_step_once_in_tensorboard(tmp_path):
    first = writers.Writer(tmp_path, enabled=True, start_step=0, num_steps=8)
    for step in range(1, 7):
        first.scalars(step, {"loss": step})
    first.close()
    resumed = writers.Writer(tmp_path, enabled=True, start_step=4, num_steps=8)  # Killed at 6.
    for step in range(5, 9):
        resumed.scalars(step, {"loss": step})
    resumed.close()
    assert scalar_steps(tmp_path / "tensorboard", "loss") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r["step"] for r in writers.read_rows(tmp_path / "metrics.jsonl")] == list(range(1, 9))


def test_non_finite_values_are_strict_json_nulls(tmp_path):
    writer = writers.Writer(tmp_path, enabled=True, start_step=0, num_steps=1)
    writer.scalars(1, {"d_loss": np.nan, "g_loss": np.inf, "finite": 0.0})
    writer.close()
    writers.write_json(tmp_path / "eval.json", {"fid": float("nan"), "kid": 1.5})

    def refuse(name):
        pytest.fail(f"{name} is not JSON")

    (line,) = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(line, parse_constant=refuse) == {
        "step": 1,
        "d_loss": None,
        "g_loss": None,
        "finite": 0.0,
    }
    saved = json.loads((tmp_path / "eval.json").read_text(), parse_constant=refuse)
    assert saved == {"fid": None, "kid": 1.5}
