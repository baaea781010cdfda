"""jaxgan: functional JAX/Flax GANs.

A notebook's own loop needs only these, whatever the recipe (gan, pix2pix, ...):

    jaxgan.xla_defaults.apply()  # launch.py's XLA flags; before JAX's first computation
    config = jaxgan.load_config("experiments/dcgan.py", "smoke")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    train_step = jax.jit(jaxgan.make_train_step(config))
    batches = jaxgan.make_iterator(config)
    for _ in range(100):
        state, metrics = train_step(state, next(batches))
    images = jaxgan.sample(state, config, jax.random.PRNGKey(1), 16)
"""

from jaxgan import xla_defaults
from jaxgan.checkpoint import restore_state
from jaxgan.config import ConfigError, default_config, load_config, validate
from jaxgan.generator import load_generator
from jaxgan.modes import run
from jaxgan.recipes import RECIPES, create_train_state, make_train_step
from jaxgan.sampling import generate, sample
from jaxgan.state import Player, TrainState
from jaxgan.train import make_iterator

__all__ = [
    "RECIPES",
    "ConfigError",
    "Player",
    "TrainState",
    "create_train_state",
    "default_config",
    "generate",
    "load_config",
    "load_generator",
    "make_iterator",
    "make_train_step",
    "restore_state",
    "run",
    "sample",
    "validate",
    "xla_defaults",
]
