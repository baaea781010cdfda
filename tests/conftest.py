"""Shared fixtures: a private cache directory, tiny configs, subprocess runners."""

import os
import pathlib
import subprocess
import sys
import types

import pytest

from jaxgan import xla_defaults

ROOT = pathlib.Path(__file__).resolve().parents[1]
# LLVM -O0 for the tests' tiny programs: XLA:CPU otherwise spends most of each compile optimising
# the random-number code (init 14 s -> 2.5 s). Set before JAX starts, so in-process tests get it
# too; subprocesses inherit it. Benchmarks and real runs keep the default.
FAST_COMPILE = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()
xla_defaults.apply()  # jaxgan's own XLA defaults on top, as launch.py applies them.


def optimised() -> dict:
    """Environment for a subprocess whose time is run time, not compile time (long training,
    the evaluation classifier): XLA's default code optimisation instead of the tests' -O0."""
    return {"XLA_FLAGS": os.environ.get("XLA_FLAGS", "").replace(FAST_COMPILE, "").strip()}


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
    """The embedded-MNIST evaluation classifier, trained once per session (~1 minute) and cached.

    Trained in a subprocess with XLA's default code optimisation: its 1,500 steps are run time,
    not compile time, and the tests' -O0 makes them 1.5x slower. Workers share the cache (the
    training holds its lock), so the later ones load the file."""
    from jaxgan import data
    from jaxgan.metrics import classifier

    cfg = data.default_config()
    if not classifier.cache_path(cfg).exists():
        flags = os.environ.get("XLA_FLAGS", "").replace(FAST_COMPILE, "").strip()
        code = "from jaxgan import data; from jaxgan.metrics import classifier\n"
        code += "classifier.load_or_train(data.default_config())"
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            cwd=ROOT,
            env={**os.environ, "XLA_FLAGS": flags},
        )
    return classifier.load_or_train(cfg)


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


# A TFDS data dir holding small catalog datasets written with the catalog builders' own features.


def png(image) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="png")
    return buffer.getvalue()


def prepare_catalog(name: str, data_dir, splits: dict) -> None:
    """Writes `splits` ({split: [example dict]}) as a prepared array_record TFDS dataset, with the
    catalog builder's own features and dataset_info, so tfds reads it as the real prepared one.

    Only the raw-data step is replaced: `_split_generators` yields our examples (images as PNG
    bytes, which Image features accept without TensorFlow), and the download manager, which has
    nothing to fetch, is a stub (building it needs `importlib_resources`, not installed here).
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir))
    builder._split_generators = lambda dl_manager: {
        split: list(enumerate(examples)) for split, examples in splits.items()
    }
    builder._make_download_manager = lambda **kwargs: types.SimpleNamespace(downloaded_size=0)
    builder.download_and_prepare(file_format="array_record")


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    """TFDS data dir with 'mnist' (40 train, 10 test) and 'cifar10' (40 train) prepared."""
    import numpy as np

    root = tmp_path_factory.mktemp("tfds")
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (50, 28, 28, 1), dtype=np.uint8)
    labels = np.arange(50) % 10
    mnist = [{"image": png(im), "label": int(y)} for im, y in zip(digits, labels, strict=True)]
    prepare_catalog("mnist", root, {"train": mnist[:40], "test": mnist[40:]})
    colour = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    cifar = [
        {"id": f"train_{i:05d}", "image": png(im), "label": i % 10} for i, im in enumerate(colour)
    ]
    prepare_catalog("cifar10", root, {"train": cifar})
    return types.SimpleNamespace(
        dir=str(root), digits=digits[:40], labels=labels[:40], colour=colour
    )
