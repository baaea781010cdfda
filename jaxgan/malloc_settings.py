"""glibc malloc settings, set at process start so each XLA:CPU step reuses the last one's memory.

XLA:CPU mallocs a step's activations and gradients and frees them when the step ends. By default
glibc gives big blocks (32 MiB and up) their own mmap and unmaps them at free, and returns freed
memory at the top of the heap to the system, so every step faults its memory in again, 4 KiB at a
time: about 12,000 page faults per DCGAN-28 step and 90,000 per DCGAN-64 step here. `TUNABLES`
keep freed memory in the heap for reuse (no mmap, no trimming) and ask for transparent huge pages
for what still faults in: 2-230 faults per DCGAN-28 step and 370-900 per DCGAN-64 step remain
(glibc's per-thread arenas still map blocks over 64 MiB, and in some runs unmap a heap that each
step empties: then about 2,400 per DCGAN-28 step). `benchmarks/throughput.py` prints the faults
per step.

glibc reads `GLIBC_TUNABLES` only when a process starts, so `launch.py` and the benchmarks
re-execute themselves with it (`reexec`). The price: a process keeps its peak heap instead of
giving it back. `JAXGAN_MALLOC=system` opts out; malloc tunables already in `GLIBC_TUNABLES` are
kept as given. Other C libraries ignore the variable. In a notebook, start the kernel with
`GLIBC_TUNABLES` set to `TUNABLES` for the same effect.
"""

import os
import sys

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:glibc.malloc.hugetlb=1"
CHOICES = ("jaxgan", "system")


def environment(environ=os.environ) -> dict | None:
    """environ with `TUNABLES` added to GLIBC_TUNABLES; None where opted out or already set."""
    choice = environ.get("JAXGAN_MALLOC", "jaxgan")
    if choice not in CHOICES:
        raise ValueError(f"JAXGAN_MALLOC={choice!r} is not one of: {', '.join(CHOICES)}")
    given = environ.get("GLIBC_TUNABLES", "")
    if choice == "system" or "glibc.malloc." in given or not sys.platform.startswith("linux"):
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [given, TUNABLES]))}


def reexec() -> None:
    """Restarts this process (same PID, interpreter options, arguments) with `environment()`.

    Returns without restarting where `environment()` is None, so the restarted process goes on.
    """
    environ = environment()
    if environ is not None:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)


def describe(environ=os.environ) -> str:
    """The malloc settings this process started with, for the run's log."""
    if environ.get("JAXGAN_MALLOC") == "system":
        return "the system's malloc settings (JAXGAN_MALLOC=system)"
    return f"GLIBC_TUNABLES={environ.get('GLIBC_TUNABLES', '')!r}"
