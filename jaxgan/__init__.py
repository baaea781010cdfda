"""jaxgan: functional JAX/Flax GANs.

A notebook's own loop needs only these:

    jaxgan.xla_defaults.apply()  # launch.py's XLA flags; before JAX's first computation
    config = jaxgan.load_config("experiments/dcgan.py", "smoke")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    train_step = jax.jit(jaxgan.make_train_step(config))
    batches = jaxgan.make_iterator(config)
    for _ in range(100):
        state, metrics = train_step(state, next(batches))
    images = jaxgan.generate(state, config, jax.random.PRNGKey(1), 16)
"""

from jaxgan import xla_defaults
from jaxgan.config import ConfigError, default_config, load_config, validate
from jaxgan.modes import run
from jaxgan.sampling import generate
from jaxgan.state import TrainState, create_train_state
from jaxgan.steps import make_train_step
from jaxgan.train import make_iterator

__all__ = [
    "ConfigError",
    "TrainState",
    "create_train_state",
    "default_config",
    "generate",
    "load_config",
    "make_iterator",
    "make_train_step",
    "run",
    "validate",
    "xla_defaults",
]
