"""Run outputs that people read: metrics.jsonl, TensorBoard events, sample PNGs, progress lines.

Only process 0 writes; on other processes every method is a no-op. A resumed run first drops
the metrics.jsonl rows and TensorBoard events past its checkpoint, so the logs read as if the run
had never been interrupted. Non-finite values are written to metrics.jsonl as null (strict JSON);
the row's `finite` says whether its step was applied.
"""

import contextlib
import json
import logging as std_logging
import math
import pathlib
import struct
import time

import numpy as np
from absl import logging

from jaxgan import images


def quiet_library_logs() -> None:
    """Orbax logs every save and restore at INFO: keep its warnings, drop the chatter."""
    logging.get_absl_handler().addFilter(
        lambda record: record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname
    )


def json_safe(value):
    """`value` with every non-finite float replaced by None, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, value: dict) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(value), indent=2, sort_keys=True, allow_nan=False) + "\n")
    tmp.replace(path)


def read_rows(path) -> list[dict]:
    """The rows of a metrics.jsonl, skipping a line torn by a kill."""
    path = pathlib.Path(path)
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


def _trim_jsonl(path: pathlib.Path, last_step: int) -> None:
    """Keeps rows with step <= last_step, atomically."""
    if not path.exists():
        return
    kept = [row for row in read_rows(path) if row.get("step", 0) <= last_step]
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in kept))
    tmp.replace(path)


def read_events(path) -> list[bytes]:
    """The serialized Event records of a TensorBoard event file (TFRecord framing: length,
    its CRC, data, its CRC), stopping at a record torn by a kill."""
    blob, records, at = pathlib.Path(path).read_bytes(), [], 0
    while at + 12 <= len(blob):
        (length,) = struct.unpack("<Q", blob[at : at + 8])
        end = at + 12 + length + 4
        if end > len(blob):
            break
        records.append(blob[at + 12 : at + 12 + length])
        at = end
    return records


def _trim_events(directory: pathlib.Path, last_step: int) -> None:
    """Rewrites the event files of `directory` as one that keeps events with step <= last_step,
    so TensorBoard shows a resumed run's steps once (every reader, not only those that honour
    a purge marker)."""
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    files = sorted(directory.glob("events.out.tfevents.*")) if directory.is_dir() else []
    if not files:
        return
    kept = []
    for path in files:
        for record in read_events(path):
            if event_pb2.Event.FromString(record).step <= last_step:
                kept.append(record)
    framed = b"".join(
        struct.pack("<Q", len(r))
        + struct.pack("<I", masked_crc32c(struct.pack("<Q", len(r))))
        + r
        + struct.pack("<I", masked_crc32c(r))
        for r in kept
    )
    merged = directory / f"events.out.tfevents.{files[0].name.split('.', 3)[3]}"
    tmp = directory / "trimmed.tmp"
    tmp.write_bytes(framed)
    tmp.replace(merged)
    for path in files:
        if path != merged:
            path.unlink()


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Writer:
    def __init__(self, workdir, *, enabled: bool, start_step: int, num_steps: int):
        self.enabled = enabled
        self.workdir = pathlib.Path(workdir)
        self.num_steps = num_steps
        self._tb = None
        self._jsonl = None
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "metrics.jsonl"
        _trim_jsonl(path, start_step)
        _trim_events(self.workdir / "tensorboard", start_step)
        self._jsonl = path.open("a")
        from tensorboardX import SummaryWriter

        # The suffix keeps a resumed run's file apart from (and sorted after) the trimmed one,
        # even within the same second.
        self._tb = SummaryWriter(
            str(self.workdir / "tensorboard"), filename_suffix=f".{start_step:010d}"
        )

    def scalars(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: float(v) for k, v in values.items()}}
        self._jsonl.write(json.dumps(json_safe(row), allow_nan=False) + "\n")
        self._jsonl.flush()
        for key, value in values.items():
            self._tb.add_scalar(key, float(value), int(step))

    def progress(self, step: int, values: dict, steps_per_sec: float) -> None:
        if not self.enabled:
            return
        eta = (self.num_steps - step) / steps_per_sec if steps_per_sec > 0 else float("nan")
        hidden = ("finite", "steps_per_sec", "images_per_sec")
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items() if k not in hidden)
        logging.info(
            "step %d/%d | %s | %.2f steps/s, %.0f images/s | ETA %s",
            step,
            self.num_steps,
            shown,
            steps_per_sec,
            values.get("images_per_sec", float("nan")),
            format_duration(eta) if np.isfinite(eta) else "?",
        )

    def samples(self, step: int, picture: np.ndarray) -> None:
        """A uint8 HxWx3 picture -> samples/step_XXXXXXX.png and TensorBoard."""
        if not self.enabled:
            return
        images.save_png(picture, self.workdir / "samples" / f"step_{step:07d}.png")
        self._tb.add_image("samples", picture, int(step), dataformats="HWC")

    def write_json(self, name: str, value: dict) -> None:
        if self.enabled:
            write_json(self.workdir / name, value)

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tb.close()


class Throughput:
    """Training steps per second between successive reads, not counting `excluded()` time
    (sampling, checkpointing, evaluation), so the figure is the loop's own speed."""

    def __init__(self, step: int):
        self._step, self._time, self._excluded = step, time.perf_counter(), 0.0

    @contextlib.contextmanager
    def excluded(self):
        began = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - began

    def read(self, step: int) -> float:
        now = time.perf_counter()
        rate = (step - self._step) / max(now - self._time - self._excluded, 1e-9)
        self._step, self._time, self._excluded = step, now, 0.0
        return rate
