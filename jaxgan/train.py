"""The training loop of every recipe: restore or initialise, step, log, sample, evaluate,
checkpoint.

Everything that determines a run's future (TrainState, data position, config) is checkpointed
together, so a run killed at any moment and restarted with the same command continues exactly.
"""

import contextlib
import pathlib
import signal
import threading
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import checkpoint, data, evaluate, parallel, recipes, writers
from jaxgan import state as state_lib

EXIT_PREEMPTED = 75  # sysexits EX_TEMPFAIL: "try again later"; batch scripts requeue on it.
PREEMPTION_SYNC_EVERY = 10  # Steps between multi-host agreements on a SIGTERM.


class Preempted(Exception):
    """SIGTERM arrived; a checkpoint of `step` was written. Exit with EXIT_PREEMPTED."""

    def __init__(self, step: int, directory):
        super().__init__(f"preempted: checkpoint of step {step} written to {directory}")
        self.step = step


class DivergenceError(RuntimeError):
    """Too many consecutive steps had non-finite values."""


@contextlib.contextmanager
def sigterm_flag():
    """Yields a dict whose 'set' turns True once SIGTERM arrives (the loop polls it)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag  # Signals can only be handled on the main thread (e.g. some notebook runners).
        return

    def handle(signum, frame):
        logging.warning("SIGTERM received: finishing the current step and checkpointing")
        flag["set"] = True

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def _preemption_requested(flag, step: int) -> bool:
    if jax.process_count() == 1:
        return flag["set"]
    if step % PREEMPTION_SYNC_EVERY:
        return False
    votes = multihost_utils.process_allgather(np.array(flag["set"], np.int32))
    return bool(np.any(votes))


def enable_compilation_cache(config: ml_collections.ConfigDict) -> None:
    """Persistent XLA cache: a repeated run skips compilation."""
    if config.compile_cache_dir == "none":
        return
    directory = config.compile_cache_dir or str(data.cache_root(config.data) / "xla_cache")
    jax.config.update("jax_compilation_cache_dir", directory)


def make_iterator(config: ml_collections.ConfigDict, *, start_step: int = 0):
    """This process's batches for the config: dicts of numpy arrays, 'x' in [-1, 1]."""
    return data.make_iterator(
        config.data,
        global_batch_size=config.train.batch_size * config.train.n_critic,
        seed=config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        start_step=start_step,
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir) -> state_lib.TrainState:
    """Trains until `config.train.num_steps`, resuming from `workdir`'s latest checkpoint."""
    recipe, spec = recipes.prepare(config)  # Config, shape and recipe errors before any work.
    workdir = pathlib.Path(workdir)
    shape = tuple(spec.shape)
    mesh = parallel.make_mesh()
    per_device = parallel.check_batch_size(config.train.batch_size, mesh)
    enable_compilation_cache(config)
    t = config.train
    logging.info(
        "recipe %s | data %s %s | global batch %d over %d devices on %d processes (%d per device)",
        config.recipe,
        spec.name,
        shape,
        t.batch_size,
        mesh.size,
        jax.process_count(),
        per_device,
    )

    iterator = make_iterator(config)  # Data errors before anything is written.
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", max_to_keep=t.max_to_keep)
    init, abstract = checkpoint.abstract_state(config, mesh)
    latest = ckpt.latest_step()
    if latest is None:
        state = jax.jit(init, out_shardings=parallel.replicated(mesh))(
            jax.random.PRNGKey(config.seed)
        )
    else:
        ckpt.check_compatible(latest, config)
        state, restored = ckpt.restore(latest, abstract, iterator)
        iterator = restored if restored is not None else make_iterator(config, start_step=latest)
        logging.info("resumed from step %d in %s", latest, ckpt.directory)
    start = int(state.step)
    position = data.iterator_position(iterator)
    if position is not None and position != start:
        raise checkpoint.CheckpointError(
            f"data position {position} does not match the restored step {start}"
        )

    writer = writers.Writer(
        workdir, enabled=jax.process_index() == 0, start_step=start, num_steps=t.num_steps
    )
    writer.write_json("config.json", config.to_dict())
    repl, batch_sharding = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    step_fn = jax.jit(
        recipe.make_train_step(config, spec),
        in_shardings=(repl, batch_sharding),
        out_shardings=(repl, repl),
        donate_argnums=0,
    )
    draw_samples = _sample_drawer(config, recipe, spec)
    evaluation = _Evaluation(config, workdir, start) if config.eval.every_steps else None
    profile = _Profile(config, workdir)
    due = lambda every: step % every == 0 or step == t.num_steps

    compiled = None
    saved_step = latest
    bad_steps = 0
    pending = None  # The previous step's metrics, read one step late to keep the device busy.
    throughput = writers.Throughput(start)
    step = start

    def check_finite(metrics, at_step):
        nonlocal bad_steps
        if float(metrics["finite"]) == 1.0:
            bad_steps = 0
            return
        bad_steps += 1
        logging.warning("step %d had non-finite values and was not applied", at_step)
        if bad_steps >= t.max_bad_steps:
            raise DivergenceError(
                f"training diverged: {bad_steps} consecutive steps up to step {at_step} had "
                f"non-finite losses or parameters and were not applied; the last good checkpoint "
                f"is step {saved_step} in {ckpt.directory}"
            )

    try:
        with sigterm_flag() as sigterm:
            while step < t.num_steps:
                batch = parallel.to_global(next(iterator), mesh)
                if compiled is None:
                    began = time.perf_counter()
                    compiled = step_fn.lower(state, batch).compile()
                    logging.info("train step compiled in %.1fs", time.perf_counter() - began)
                    throughput = writers.Throughput(start)
                    loop_began = time.perf_counter()
                profile.before(step + 1)
                state, metrics = compiled(state, batch)
                step += 1
                profile.after(step, metrics)
                if pending is not None:
                    check_finite(pending, step - 1)
                pending = metrics
                row = {}
                if due(t.log_every_steps):
                    row = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    row["steps_per_sec"] = throughput.read(step)
                    row["images_per_sec"] = row["steps_per_sec"] * t.batch_size
                    writer.progress(step, row, row["steps_per_sec"])
                with throughput.excluded():
                    if due(t.sample_every_steps):
                        writer.samples(step, draw_samples(state))
                    if evaluation is not None and due(config.eval.every_steps):
                        row.update(evaluation(step, state, iterator))
                if row:
                    writer.scalars(step, row)
                preempt = _preemption_requested(sigterm, step)
                if due(t.checkpoint_every_steps) or preempt:
                    check_finite(pending, step)
                    pending = None
                    with throughput.excluded():
                        ckpt.save(step, state, iterator, config)
                    saved_step = step
                if preempt:
                    ckpt.wait()
                    raise Preempted(step, ckpt.directory)
            if pending is not None:
                check_finite(pending, step)
    finally:
        profile.close()
        ckpt.wait()
        ckpt.close()
        if evaluation is not None:
            evaluation.close()
        writer.close()
    if compiled is not None:
        seconds = time.perf_counter() - loop_began
        logging.info(
            "loop: steps %d-%d in %.1fs, %.2f steps/s with data, logs, samples and checkpoints",
            start + 1,
            step,
            seconds,
            (step - start) / seconds,
        )
    return state


def _sample_drawer(config, recipe, spec):
    """state -> the recipe's sample grid of fixed inputs, as a uint8 picture."""
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    inputs = recipe.sample_inputs(config, spec, config.train.num_sample_images, key)
    sampler = jax.jit(recipe.make_generate(config, spec))

    def draw(state):
        outputs = jax.device_get(sampler(state, inputs, key))
        return recipe.picture(config, spec, inputs, outputs)

    return draw


class _Profile:
    """A jax.profiler trace of steps train.profile_steps = (first, last), under <workdir>/profile
    (TensorBoard's profile plugin or Perfetto read it)."""

    def __init__(self, config, workdir):
        steps = tuple(config.train.profile_steps)
        self.first, self.last = steps if steps else (0, -1)
        self.directory = pathlib.Path(workdir) / "profile"
        self.active = False

    def before(self, step: int) -> None:
        if step == self.first and jax.process_index() == 0:
            jax.profiler.start_trace(str(self.directory))
            self.active = True

    def after(self, step: int, metrics) -> None:
        if self.active and step >= self.last:
            jax.block_until_ready(metrics)
            self.close()
            logging.info("profile of steps %d-%d written to %s", self.first, step, self.directory)

    def close(self) -> None:
        if self.active:
            jax.profiler.stop_trace()
            self.active = False


class _Evaluation:
    """Evaluation during training: results as `eval/<name>` scalars, and the best checkpoint.

    The best value so far is read back from metrics.jsonl on resume (its rows past the restored
    step are already gone), so the best checkpoint is only replaced by a better evaluation.
    """

    def __init__(self, config, workdir, start_step: int):
        self.config = config
        self.evaluator = evaluate.make_evaluator(config)
        self.key = f"eval/{config.eval.primary}"
        directory = pathlib.Path(workdir) / checkpoint.CHECKPOINT_DIRS["best"]
        self.best = checkpoint.Checkpointer(directory, max_to_keep=1)
        rows = writers.read_rows(pathlib.Path(workdir) / "metrics.jsonl")
        self.best_value = None
        for row in rows:
            earlier = row.get("step", 0) <= start_step and self.key in row
            if earlier and evaluate.better(config.eval.primary, row[self.key], self.best_value):
                self.best_value = row[self.key]

    def __call__(self, step: int, state, iterator) -> dict:
        began = time.perf_counter()
        results = self.evaluator(state)
        logging.info(
            "evaluation at step %d (%.1fs): %s",
            step,
            time.perf_counter() - began,
            " ".join(f"{k}={v:.4g}" for k, v in results.items()),
        )
        value = results.get(self.config.eval.primary)
        if evaluate.better(self.config.eval.primary, value, self.best_value):
            self.best_value = value
            self.best.wait()
            if step in self.best.manager.all_steps():
                self.best.manager.delete(step)  # Re-evaluated after a resume: same state.
            self.best.save(step, state, iterator, self.config)
        return {f"eval/{k}": v for k, v in results.items()}

    def close(self):
        self.best.wait()
        self.best.close()
