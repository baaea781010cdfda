"""Shared fixtures: a private cache directory, tiny configs, subprocess runners."""

import os
import pathlib
import subprocess
import sys

import pytest

from jaxgan import xla_defaults

ROOT = pathlib.Path(__file__).resolve().parents[1]
# LLVM -O0 for the tests' tiny programs: XLA:CPU otherwise spends most of each compile optimising
# the random-number code (init 14 s -> 2.5 s). Set before JAX starts, so in-process tests get it
# too; subprocesses inherit it. Benchmarks and real runs keep the default.
FAST_COMPILE = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()
xla_defaults.apply()  # jaxgan's own XLA defaults on top, as launch.py applies them.


def xla_flags(devices: int) -> dict:
    """Environment for a subprocess with `devices` forced CPU devices, compiled fast."""
    environ = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"}
    xla_defaults.apply(environ)
    return environ


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory, worker_id):
    """Every test (and subprocess) prepares datasets and caches compilations in one private dir,
    shared by the workers of `pytest -n` (preparation and the classifier take cache locks)."""
    if worker_id == "master":  # Not under pytest-xdist.
        path = tmp_path_factory.mktemp("jaxgan_cache")
    else:
        path = tmp_path_factory.getbasetemp().parent / "jaxgan_cache"
        path.mkdir(exist_ok=True)
    os.environ["JAXGAN_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def worker_id(request):
    """pytest-xdist's worker name ('gw0', ...), or 'master' in a plain run."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


@pytest.fixture(scope="session")
def mnist_classifier(cache_dir):
    """The embedded-MNIST evaluation classifier, trained once per session (~1 minute)."""
    from jaxgan import data
    from jaxgan.metrics import classifier

    return classifier.load_or_train(data.default_config())


@pytest.fixture
def smoke_config():
    """Loads an experiment's tiny 'smoke' variant: smoke_config('dcgan')."""
    from jaxgan import config as config_lib

    return lambda name: config_lib.load_config(str(ROOT / "experiments" / f"{name}.py"), "smoke")


def run_python(code: str, *, devices: int = 1, timeout: int = 600, env: dict | None = None):
    """Runs code in a fresh interpreter with `devices` forced CPU devices; returns the process."""
    full_env = dict(os.environ, **xla_flags(devices))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_launch(*args: str, timeout: int = 600, env: dict | None = None):
    """Runs launch.py with arguments; returns the completed process."""
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_launch(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Starts launch.py in the background (stderr to a pipe); the caller waits or kills it."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), *args],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def build_models(config, shape, groups=None):
    """(G, D) flax modules of config.model for data of `shape` (no dataset needed)."""
    from jaxgan.data import DataSpec
    from jaxgan.recipes import common

    return common.build_pair(config, DataSpec(tuple(shape), None, None, "test"), groups)
