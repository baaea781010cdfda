"""A training run's workdir: usable before any work starts, and one training process at a time.

The lock is an advisory `flock` on <workdir>/.lock, held for the life of the training process.
The kernel releases it when the process dies however it dies, so the lock of a killed run is
taken over by the next run without a stale-lock step. The file records who holds it, for the
message a second process gets.
"""

import contextlib
import fcntl
import os
import pathlib
import socket
import time

LOCK_FILE = ".lock"


class WorkdirError(RuntimeError):
    """The workdir cannot be used: not a directory, not writable, or in use."""


def prepare(workdir) -> pathlib.Path:
    """Creates the workdir if needed and proves a file can be written in it."""
    workdir = pathlib.Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"--workdir={str(workdir)!r} is a file, not a directory")
    probe = workdir / f".write_test.{os.getpid()}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise WorkdirError(
            f"--workdir={str(workdir)!r} is not writable ({e.strerror or type(e).__name__}): "
            "choose a directory this process can write"
        ) from e
    return workdir


@contextlib.contextmanager
def locked(workdir):
    """Holds <workdir>/.lock; a second holder gets a WorkdirError naming the first."""
    path = pathlib.Path(workdir) / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime.
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise WorkdirError(
                f"--workdir={str(workdir)!r} is in use by {holder}: one training process per "
                "workdir; wait for it to end or choose another --workdir"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} (since {started})\n")
        handle.flush()
        yield
    finally:
        handle.close()  # Closing releases the lock.
