"""XLA flags jaxgan runs with unless the user sets them: applied before JAX starts its backend.

XLA reads XLA_FLAGS once, when the first computation starts the backend, so `apply()` must run
before any array is created (launch.py and the benchmarks call it first thing). A flag the user
already put in XLA_FLAGS is left as given.

- `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`: on CPU, convolutions go to
  XLA's own (Eigen) kernels instead of YNNPACK, whose convolutions and their gradients are about
  1.5x slower for DCGAN shapes on 2 cores (benchmarks/conv_ops.py, benchmarks/throughput.py).
  Matrix products keep YNNPACK. Experimental in XLA: re-measure on upgrades.
"""

import os
import warnings

from jax._src import xla_bridge

DEFAULTS = {"--xla_cpu_experimental_ynn_fusion_type": "-individual_convolution"}


def apply(environ=os.environ) -> str:
    """Adds each default flag the user has not set to XLA_FLAGS; returns the resulting value."""
    flags = environ.get("XLA_FLAGS", "").split()
    given = {flag.split("=", 1)[0] for flag in flags}
    added = [f"{name}={value}" for name, value in DEFAULTS.items() if name not in given]
    if added and environ is os.environ and xla_bridge.backends_are_initialized():
        message = f"jaxgan.xla_defaults.apply() after JAX started: {added} take no effect now"
        warnings.warn(message, stacklevel=2)
    environ["XLA_FLAGS"] = " ".join(flags + added)
    return environ["XLA_FLAGS"]
