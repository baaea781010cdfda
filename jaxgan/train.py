"""The training loop: restore or initialise, step, log, sample, checkpoint; and sampling to a file.

Everything that determines a run's future (TrainState, data position, config) is checkpointed
together, so a run killed at any moment and restarted with the same command continues exactly.
"""

import contextlib
import functools
import pathlib
import signal
import threading
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import checkpoint, data, evaluate, images, parallel, sampling, writers
from jaxgan import config as config_lib
from jaxgan import state as state_lib
from jaxgan.steps import make_train_step

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


def _abstract_state(config, shape, mesh):
    init = functools.partial(state_lib.create_train_state, config, shape=shape)
    abstract = jax.eval_shape(init, jax.random.PRNGKey(config.seed))
    repl = parallel.replicated(mesh)
    return init, jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), abstract
    )


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
    config_lib.validate(config)
    workdir = pathlib.Path(workdir)
    spec = data.describe(config.data)
    shape = tuple(spec.shape)
    state_lib.build_models(config, shape)  # Shape errors before any work.
    mesh = parallel.make_mesh()
    per_device = parallel.check_batch_size(config.train.batch_size, mesh)
    enable_compilation_cache(config)
    t = config.train
    logging.info(
        "data %s %s | global batch %d over %d devices on %d processes (%d per device)",
        spec.name,
        shape,
        t.batch_size,
        mesh.size,
        jax.process_count(),
        per_device,
    )

    iterator = make_iterator(config)  # Data errors before anything is written.
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", max_to_keep=t.max_to_keep)
    init, abstract = _abstract_state(config, shape, mesh)
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
        make_train_step(config, shape=shape),
        in_shardings=(repl, batch_sharding),
        out_shardings=(repl, repl),
        donate_argnums=0,
    )
    draw_samples = _sample_drawer(config, shape)
    evaluation = _Evaluation(config, shape, workdir, start) if config.eval.every_steps else None
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
                state, metrics = compiled(state, batch)
                step += 1
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


def _sample_drawer(config, shape):
    """state -> the sample grid (or 2-D scatter) of a fixed latent batch, as a uint8 picture."""
    sampler = sampling.make_sampler(config, shape)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    z = sampling.latents(config, key, config.train.num_sample_images)
    reference = data.toy_means(config.data) if len(shape) == 1 else None

    def draw(state):
        params = state_lib.sampling_params(state, config)
        samples = np.asarray(jax.device_get(sampler(params, state.g_state, z)))
        return images.picture(samples, reference)

    return draw


class _Evaluation:
    """Evaluation during training: results as `eval/<name>` scalars, and the best checkpoint.

    The best value so far is read back from metrics.jsonl on resume (its rows past the restored
    step are already gone), so the best checkpoint is only replaced by a better evaluation.
    """

    def __init__(self, config, shape, workdir, start_step: int):
        self.config = config
        self.evaluator = evaluate.make_evaluator(config, shape)
        self.key = f"eval/{config.eval.primary}"
        directory = pathlib.Path(workdir) / CHECKPOINT_DIRS["best"]
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


CHECKPOINT_DIRS = {"latest": "checkpoints", "best": "best_checkpoint"}


def restore_state(
    config: ml_collections.ConfigDict, workdir, which: str = "latest"
) -> state_lib.TrainState:
    """The TrainState of the latest (or best-evaluated) checkpoint, without the data iterator."""
    config_lib.validate(config)
    if which not in CHECKPOINT_DIRS:
        raise ValueError(f"which={which!r}: choose one of {', '.join(CHECKPOINT_DIRS)}")
    shape = tuple(data.describe(config.data).shape)
    directory = pathlib.Path(workdir) / CHECKPOINT_DIRS[which]
    ckpt = checkpoint.Checkpointer(directory, max_to_keep=1_000_000)
    try:
        latest = ckpt.latest_step()
        if latest is None:
            raise checkpoint.CheckpointError(f"no checkpoint in {ckpt.directory}: train first")
        ckpt.check_compatible(latest, config)
        _, abstract = _abstract_state(config, shape, parallel.make_mesh())
        state, _ = ckpt.restore(latest, abstract, None)
    finally:
        ckpt.close()
    return state


def sample_to_file(config, workdir, *, num_samples: int, output, seed: int) -> pathlib.Path:
    """Writes `num_samples` samples (float32, NHWC in [-1, 1]) to an .npz under key 'images'."""
    state = restore_state(config, workdir)
    samples = sampling.generate(
        state, config, jax.random.PRNGKey(seed), num_samples, batch_size=config.eval.batch_size
    )
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp.npz")
    np.savez(tmp, images=samples)
    tmp.replace(output)
    logging.info("wrote %d samples %s to %s", num_samples, samples.shape[1:], output)
    return output
