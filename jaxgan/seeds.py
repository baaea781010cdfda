"""Many seeds as one program: S runs of one config that differ only in `config.seed`, trained by
one `jax.vmap`-ped step and evaluated seed by seed, for tables of mean and standard error.

Seed s's run is the run `launch.py --config.seed=s` makes: its initial state from PRNGKey(s),
its batches from seed s's data stream, its step keys from its own state. The vmapped step is the
same function of the same inputs (tests/test_seeds.py compares the result with separate runs).
It runs on one device and writes no checkpoints: it is meant for small models whose runs take
minutes (2-D mixtures, small Stacked MNIST GANs), where S processes would each pay the compile
and the per-step dispatch that one program pays once.
"""

import pathlib
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from jaxgan import evaluate, images, recipes, writers
from jaxgan import train as train_lib


def seed_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """A copy of `config` with config.seed = seed."""
    config = ml_collections.ConfigDict(config.to_dict())
    config.seed = int(seed)
    return config


def init(config: ml_collections.ConfigDict, seeds) -> object:
    """The initial TrainStates of `seeds`, stacked along a leading seed axis."""
    recipe, spec = recipes.prepare(config)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    return jax.jit(jax.vmap(lambda key: recipe.init(config, spec, key)))(keys)


def batches(config: ml_collections.ConfigDict, seeds):
    """An iterator of the seeds' batches of steps 0, 1, ..., stacked along a leading seed axis."""
    iterators = [train_lib.make_iterator(seed_config(config, s)) for s in seeds]
    while True:
        rows = [next(it) for it in iterators]
        yield {key: np.stack([r[key] for r in rows]) for key in rows[0]}


def make_step(config: ml_collections.ConfigDict):
    """jitted (stacked states, stacked batches) -> (states, metrics [S]): the recipe's step,
    vmapped over the seed axis."""
    recipe, spec = recipes.prepare(config)
    return jax.jit(jax.vmap(recipe.make_train_step(config, spec)), donate_argnums=0)


def train(config: ml_collections.ConfigDict, seeds, *, log=True) -> tuple:
    """(stacked final states, {'seconds', 'steps_per_sec'}) after train.num_steps steps."""
    seeds = list(seeds)
    states = init(config, seeds)
    step_fn = make_step(config)
    data = batches(config, seeds)
    t = config.train
    start = time.perf_counter()
    metrics = None
    for step in range(1, t.num_steps + 1):
        states, metrics = step_fn(states, next(data))
        if log and (step % t.log_every_steps == 0 or step == t.num_steps):
            means = {k: float(np.mean(v)) for k, v in jax.device_get(metrics).items()}
            rate = step / (time.perf_counter() - start)
            shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(means.items()))
            logging.info(
                "step %d/%d (%d seeds) | %s | %.1f steps/s",
                step,
                t.num_steps,
                len(seeds),
                shown,
                rate,
            )
    jax.block_until_ready(states)
    seconds = time.perf_counter() - start
    if metrics is not None and not np.all(jax.device_get(metrics["finite"]) == 1.0):
        bad = [s for s, f in zip(seeds, jax.device_get(metrics["finite"]), strict=True) if f != 1.0]
        logging.warning("seeds %s had non-finite values at the last step", bad)
    return states, {"seconds": seconds, "steps_per_sec": t.num_steps / max(seconds, 1e-9)}


def select(states, i: int):
    """Seed i's TrainState out of stacked states."""
    return jax.tree.map(lambda x: x[i], states)


def evaluate_seeds(config: ml_collections.ConfigDict, states, seeds, evaluator=None) -> list:
    """Each seed's evaluation results (config.eval's metrics, as `launch.py --mode=evaluate`);
    `evaluator`: evaluate.make_evaluator(config), when the caller already has it."""
    evaluator = evaluator or evaluate.make_evaluator(config)
    return [evaluator(select(states, i)) for i in range(len(list(seeds)))]


def summarize(results: list[dict]) -> dict:
    """metric -> {'mean', 'stderr' (std / sqrt(S), ddof 1; 0 for one seed), 'min', 'max'}."""
    summary = {}
    for key in results[0]:
        values = np.array([r[key] for r in results], np.float64)
        stderr = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        summary[key] = {
            "mean": float(values.mean()),
            "stderr": float(stderr),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return summary


def pictures(config: ml_collections.ConfigDict, states, seeds, num: int | None = None) -> list:
    """One uint8 picture per seed of `num` samples: by default a scatter of 2,500 points over
    the means for 2-D data (the benchmarks' count), an 8 x 8 grid for images."""
    from jaxgan import sampling

    recipe, spec = recipes.prepare(config)
    if num is None:
        num = 2500 if len(spec.shape) == 1 else 64
    sampler = sampling.make_sampler(config)
    inputs = recipe.sample_inputs(config, spec, num, jax.random.PRNGKey(0))
    out = []
    for i in range(len(list(seeds))):
        samples = sampling.generate(select(states, i), config, inputs, sampler=sampler)
        out.append(recipe.picture(config, spec, inputs, samples))
    return out


def run(config: ml_collections.ConfigDict, workdir, num_seeds: int) -> dict:
    """Trains seeds config.seed .. config.seed + num_seeds - 1 as one program, evaluates each and
    writes <workdir>/seeds.json (per seed and summarised) and seeds/seed_<s>.png."""
    if num_seeds < 1:
        raise ValueError(f"num_seeds={num_seeds!r} must be >= 1")
    evaluator = evaluate.make_evaluator(config)  # Config and evaluation errors before any work.
    seeds = list(range(config.seed, config.seed + num_seeds))
    train_lib.enable_compilation_cache(config)
    states, timing = train(config, seeds)
    results = evaluate_seeds(config, states, seeds, evaluator)
    record = {
        "seeds": seeds,
        "num_steps": config.train.num_steps,
        **timing,
        "results": results,
        "summary": summarize(results),
    }
    workdir = pathlib.Path(workdir)
    (workdir / "seeds").mkdir(parents=True, exist_ok=True)
    writers.write_json(workdir / "seeds.json", record)
    writers.write_json(workdir / "config.json", config.to_dict())
    for seed, picture in zip(seeds, pictures(config, states, seeds), strict=True):
        images.save_png(picture, workdir / "seeds" / f"seed_{seed}.png")
    return record
