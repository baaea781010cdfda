"""Running a recipe's generator (EMA weights, inference mode) over inputs of any size."""

import inspect
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from jaxgan import recipes
from jaxgan.config import ConfigError


def make_sampler(config: ml_collections.ConfigDict):
    """jitted (state, inputs, rng) -> images of the config's recipe."""
    recipe, spec = recipes.prepare(config)
    return jax.jit(recipe.make_generate(config, spec))


def generate(
    state,
    config: ml_collections.ConfigDict,
    inputs: dict,
    rng=None,
    *,
    batch_size=500,
    sampler=None,
) -> np.ndarray:
    """The images of `inputs` (arrays with one row per sample) as float32 numpy in [-1, 1].

    Runs in chunks of batch_size rows, the last one padded, so one shape compiles and row i
    depends only on row i of the inputs (and rng), never on batch_size.
    """
    chunks = generate_chunks(state, config, inputs, rng, batch_size=batch_size, sampler=sampler)
    return np.concatenate(list(chunks))


def generate_chunks(
    state,
    config: ml_collections.ConfigDict,
    inputs: dict,
    rng=None,
    *,
    batch_size=500,
    sampler=None,
):
    """`generate`'s images one chunk of batch_size rows at a time (the last may be shorter), so
    a caller that reduces them (evaluation) never holds all of them."""
    num = len(jax.tree.leaves(inputs)[0])
    if num < 1:
        raise ValueError(f"inputs must hold at least one sample, got {num}")
    sampler = sampler or make_sampler(config)
    rng = jax.random.PRNGKey(0) if rng is None else rng
    for i in range(0, num, batch_size):
        chunk = jax.tree.map(lambda v, i=i: jnp.asarray(v[i : i + batch_size]), inputs)
        rows = len(jax.tree.leaves(chunk)[0])
        if rows < batch_size and num > batch_size:  # Keep one compiled shape.
            pad = lambda v, rows=rows: jnp.concatenate(
                [v, jnp.zeros((batch_size - rows,) + v.shape[1:], v.dtype)]
            )
            out = sampler(state, jax.tree.map(pad, chunk), jax.random.fold_in(rng, i))[:rows]
        else:
            out = sampler(state, chunk, jax.random.fold_in(rng, i))
        yield np.asarray(jax.device_get(out), np.float32)


def sample(state, config, rng, num: int, *, batch_size: int = 500, **given) -> np.ndarray:
    """`num` samples of the recipe's own inputs drawn with `rng` (given: labels=, source=)."""
    if num < 1:
        raise ValueError(f"num must be a positive number of samples, got {num}")
    recipe, spec = recipes.prepare(config)
    accepted = [
        name
        for name, p in inspect.signature(recipe.sample_inputs).parameters.items()
        if p.kind == p.KEYWORD_ONLY
    ]
    for name in given:
        if name not in accepted:
            raise ConfigError(
                f"recipe {config.recipe!r} takes no {name} (--{name}) as input: it takes "
                + (", ".join(accepted) or "nothing but the random seed")
            )
    inputs = recipe.sample_inputs(config, spec, num, rng, **given)
    return generate(state, config, inputs, rng, batch_size=batch_size)


def check_output(output) -> pathlib.Path:
    """The --output path, its folder created; a ConfigError before any work if it cannot be one."""
    output = pathlib.Path(output)
    if output.is_dir():
        raise ConfigError(
            f"--output={str(output)!r} is a directory: give a file, e.g. {output / 'samples.npz'}"
        )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"--output={str(output)!r}: cannot create its folder ({e.strerror or e})"
        ) from e
    return output


def sample_to_file(config, workdir, *, num_samples: int, output, seed: int, **given):
    """Writes samples (float32, NHWC in [-1, 1]) to an .npz under key 'images'.

    `given` are the recipe's inputs from the command line (labels=, source=)."""
    from jaxgan import checkpoint

    output = check_output(output)
    state = checkpoint.restore_state(config, workdir)
    samples = sample(
        state,
        config,
        jax.random.PRNGKey(seed),
        num_samples,
        batch_size=config.eval.batch_size,
        **given,
    )
    return write_samples(samples, output)


def write_samples(samples: np.ndarray, output: pathlib.Path) -> pathlib.Path:
    """samples -> output .npz under key 'images', atomically."""
    tmp = output.with_name(output.name + ".tmp.npz")
    try:
        np.savez(tmp, images=samples)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    logging.info("wrote %d samples %s to %s", len(samples), samples.shape[1:], output)
    return output
