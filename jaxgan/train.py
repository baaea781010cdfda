"""The training loop of every recipe: restore or initialise, step, log, sample, evaluate,
checkpoint.

Everything that determines a run's future (TrainState, data position, config) is checkpointed
together, so a run killed at any moment and restarted with the same command continues exactly.
"""

import contextlib
import os
import pathlib
import signal
import sys
import threading
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import checkpoint, data, evaluate, parallel, recipes, workdirs, writers
from jaxgan import config as config_lib
from jaxgan import state as state_lib

EXIT_PREEMPTED = 75  # sysexits EX_TEMPFAIL: "try again later"; batch scripts requeue on it.
EXIT_INTERRUPTED = 130  # The shell's code for a process ended by Ctrl-C (128 + SIGINT).
PREEMPTION_SYNC_EVERY = 10  # Steps between multi-host agreements on a SIGTERM.
STOP_SIGNALS = {signal.SIGTERM: EXIT_PREEMPTED, signal.SIGINT: EXIT_INTERRUPTED}


class Preempted(Exception):
    """SIGTERM or SIGINT arrived; a checkpoint of `step` was written. Exit with `exit_code`."""

    def __init__(self, step: int, directory, signum=signal.SIGTERM):
        name = signal.Signals(signum).name
        what = "preempted" if signum == signal.SIGTERM else "interrupted"
        super().__init__(f"{what} ({name}): checkpoint of step {step} written to {directory}")
        self.step = step
        self.exit_code = STOP_SIGNALS[signum]


class DivergenceError(RuntimeError):
    """Too many consecutive steps had non-finite values."""


class LoopError(RuntimeError):
    """An error in the loop that was not the train step's (data, disk, a writer), after the last
    completed step was checkpointed."""


@contextlib.contextmanager
def stop_signals():
    """Yields a dict whose 'signal' becomes the SIGTERM or SIGINT that arrived (the loop polls it
    and checkpoints); a second SIGINT ends the process at once."""
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag  # Signals can only be handled on the main thread (e.g. some notebook runners).
        return

    def handle(signum, frame):
        if signum == signal.SIGINT and flag["signal"] == signal.SIGINT:
            print("second Ctrl-C: exiting now, without a checkpoint", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        name = signal.Signals(signum).name
        logging.warning("%s received: finishing the current step and checkpointing", name)
        flag["signal"] = flag["signal"] or signal.Signals(signum)

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_requested(flag, step: int):
    """The signal every process agrees to stop on, or None."""
    if jax.process_count() == 1:
        return flag["signal"]
    if step % PREEMPTION_SYNC_EVERY:
        return None
    votes = multihost_utils.process_allgather(np.array(flag["signal"] or 0, np.int32))
    return signal.Signals(int(np.max(votes))) if np.any(votes) else None


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
    """Trains until `config.train.num_steps`, resuming from `workdir`'s latest checkpoint.

    One training process per workdir: process 0 holds its lock while it runs."""
    recipe, spec = recipes.prepare(config)  # Config, shape and recipe errors before any work.
    mesh = parallel.make_mesh()
    per_device = parallel.check_batch_size(config.train.batch_size, mesh)
    workdir = workdirs.prepare(workdir)
    lock = workdirs.locked(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
    with lock:
        return _train(config, workdir, recipe, spec, mesh, per_device)


def warm_start(state: state_lib.TrainState, workdir) -> state_lib.TrainState:
    """`state` whose players named like the generators of `workdir`'s latest checkpoint take
    their params and model variables (and EMA weights, the loaded params); optimizer states stay
    fresh. ConfigError when no player matches or shapes differ."""
    from jaxgan import generator

    loaded = generator.load_generator(workdir)
    found = loaded.state
    shared = [name for name in found.players if name in state.players]
    if not shared:
        raise config_lib.ConfigError(
            f"train.init_from={str(workdir)!r}: its generators {sorted(found.players)} are not "
            f"players of this run ({sorted(state.players)})"
        )
    players, ema = dict(state.players), dict(state.ema)
    for name in shared:
        old, new = state.players[name], found.players[name]
        shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)
        if shapes((old.params, old.variables)) != shapes((new.params, new.variables)):
            raise config_lib.ConfigError(
                f"train.init_from={str(workdir)!r}: player {name!r} has other shapes there; "
                "its model.g must be this run's"
            )
        put = lambda mine, theirs: jax.tree.map(
            lambda a, b: jax.device_put(np.asarray(b), a.sharding), mine, theirs
        )
        players[name] = old.replace(
            params=put(old.params, new.params), variables=put(old.variables, new.variables)
        )
        if name in ema:
            ema[name] = put(ema[name], new.params)
    logging.info("players %s start from %s (step %d)", ", ".join(shared), workdir, loaded.step)
    return state.replace(players=players, ema=ema)


def _train(config, workdir: pathlib.Path, recipe, spec, mesh, per_device: int):
    shape = tuple(spec.shape)
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
    identity = data.identity(config.data)
    ckpt = checkpoint.Checkpointer(
        workdir / "checkpoints", max_to_keep=t.max_to_keep, data_identity=identity
    )
    init, abstract = checkpoint.abstract_state(config, mesh)
    latest = ckpt.latest_step()
    if latest is None:
        state = jax.jit(init, out_shardings=parallel.replicated(mesh))(
            jax.random.PRNGKey(config.seed)
        )
        if t.init_from:
            state = warm_start(state, t.init_from)
    else:
        ckpt.check_compatible(latest, config)
        ckpt.check_data(latest)
        if latest >= t.num_steps:
            ckpt.close()
            logging.warning(
                "nothing to do: the latest checkpoint in %s is at step %d and "
                "train.num_steps=%d; raise --config.train.num_steps to train further",
                ckpt.directory,
                latest,
                t.num_steps,
            )
            return ckpt.restore(latest, abstract, None)[0]
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
    # A recipe whose step changes during training (ProGAN's stages, the GAN recipe's lazy
    # regularisation) names the phase of each step; each phase compiles its own step when the
    # run first reaches it.
    phase_of = getattr(recipe, "phase", lambda config, spec, step: None)
    phase = phase_of(config, spec, start)

    compiled_phases = {}  # phase -> compiled step (lazy regularisation alternates them).

    def compile_step(batch):
        if phase in compiled_phases:
            return compiled_phases[phase]
        make = recipe.make_train_step
        fn = make(config, spec) if phase is None else make(config, spec, phase=phase)
        jitted = jax.jit(
            fn, in_shardings=(repl, batch_sharding), out_shardings=(repl, repl), donate_argnums=0
        )
        began = time.perf_counter()
        compiled = jitted.lower(state, batch).compile()
        which = "" if phase is None else f" (phase {phase})"
        logging.info("train step%s compiled in %.1fs", which, time.perf_counter() - began)
        compiled_phases[phase] = compiled
        return compiled

    draw_samples = _sample_drawer(config, recipe, spec)
    evaluation = _Evaluation(config, workdir, start) if config.eval.every_steps else None
    profile = _Profile(config, workdir)
    due = lambda every: step % every == 0 or step == t.num_steps

    compiled = None
    saved_step = latest  # The last checkpoint whose every step was applied.
    bad_steps = 0
    save_owed = False  # A checkpoint fell due during a streak of skipped steps.
    pending = None  # The previous step's metrics, read one step late to keep the device busy.
    # Every metric's newest value: a step compiled without a lazy regulariser does not report
    # it, so a logged row shows the value from the last step that applied it.
    newest = {}
    throughput = writers.Throughput(start)
    step = start
    in_step = False  # While the jitted step runs: its input state is donated, so not saveable.

    def check_finite(metrics, at_step):
        nonlocal bad_steps
        if float(metrics["finite"]) == 1.0:
            bad_steps = 0
            return
        bad_steps += 1
        logging.warning("step %d had non-finite values and was not applied", at_step)
        if bad_steps >= t.max_bad_steps:
            if saved_step is None:
                last = (
                    "no checkpoint was written before that (the first was due at step "
                    f"{t.checkpoint_every_steps}), so there is none to go back to"
                )
            else:
                last = f"the last good checkpoint is step {saved_step} in {ckpt.directory}"
            raise DivergenceError(
                f"training diverged: {bad_steps} consecutive steps up to step {at_step} had "
                f"non-finite losses or parameters and were not applied; {last}"
            )

    def save(data_iterator) -> None:
        """Checkpoints `step`, saying so when its latest updates were skipped."""
        if bad_steps:
            logging.warning(
                "checkpoint of step %d holds the state of step %d: the %d steps after it had "
                "non-finite values and were not applied",
                step,
                step - bad_steps,
                bad_steps,
            )
        with throughput.excluded():
            ckpt.save(step, state, data_iterator, config)

    def save_before_exit() -> str:
        """Checkpoints the last completed step after an error outside the step; says what."""
        if in_step or compiled is None:
            return "no checkpoint written (the failure was inside the train step)"
        if step == saved_step:
            return f"the last checkpoint is step {step} in {ckpt.directory}"
        if pending is not None and float(pending["finite"]) != 1.0:
            return f"the last good checkpoint is step {saved_step} in {ckpt.directory}"
        try:
            fresh = make_iterator(config, start_step=step)
        except Exception:  # noqa: BLE001 - the data itself failed: keep the loop's iterator.
            fresh = iterator if data.iterator_position(iterator) == step else None
        if fresh is None:
            return f"the last checkpoint is step {saved_step} in {ckpt.directory}"
        save(fresh)
        ckpt.wait()
        return f"checkpoint of step {step} written to {ckpt.directory}"

    try:
        with stop_signals() as stop:
            try:
                while step < t.num_steps:
                    batch = parallel.to_global(next(iterator), mesh)
                    in_step = True
                    if compiled is None:
                        compiled = compile_step(batch)
                        throughput = writers.Throughput(start)
                        loop_began = time.perf_counter()
                    elif (now := phase_of(config, spec, step)) != phase:
                        phase = now
                        with throughput.excluded():
                            compiled = compile_step(batch)
                    profile.before(step + 1)
                    state, metrics = compiled(state, batch)
                    in_step = False
                    step += 1
                    profile.after(step, metrics)
                    if pending is not None:
                        check_finite(pending, step - 1)
                    pending = metrics
                    newest.update(metrics)
                    row = {}
                    if due(t.log_every_steps):
                        row = {k: float(v) for k, v in jax.device_get(newest).items()}
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
                    stop_signal = _stop_requested(stop, step)
                    if due(t.checkpoint_every_steps) or stop_signal or save_owed:
                        check_finite(pending, step)
                        pending = None
                        if bad_steps and not stop_signal:
                            if not save_owed:
                                logging.warning(
                                    "checkpoint of step %d postponed: the last %d steps had "
                                    "non-finite values and were not applied",
                                    step,
                                    bad_steps,
                                )
                            save_owed = True
                        else:
                            save(iterator)
                            saved_step, save_owed = step, False
                    if stop_signal:
                        ckpt.wait()
                        raise Preempted(step, ckpt.directory, stop_signal)
                if pending is not None:
                    check_finite(pending, step)
            except (Preempted, DivergenceError):
                raise
            except Exception as e:
                try:
                    outcome = save_before_exit()
                except Exception as again:  # noqa: BLE001 - e.g. the disk is full.
                    outcome = f"no checkpoint could be written either: {type(again).__name__}"
                if isinstance(e, data.DataError | checkpoint.CheckpointError):
                    raise type(e)(f"{e} (after step {step}; {outcome})") from e
                logging.exception("error after step %d", step)
                reason = (str(e).strip().splitlines() or [""])[0]
                raise LoopError(
                    f"training stopped after step {step}: {type(e).__name__}: {reason} "
                    f"({outcome}; the traceback is in the log above)"
                ) from e
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
    if jax.process_index() == 0 and step >= t.num_steps:
        _plot_curves(workdir)
    return state


def _plot_curves(workdir: pathlib.Path) -> None:
    """<workdir>/curves.png at the end of a run; a picture that fails costs a warning only."""
    from jaxgan import curves

    try:
        logging.info("curves of metrics.jsonl: %s", curves.plot(workdir))
    except Exception as e:  # noqa: BLE001 - the run itself is complete and saved.
        logging.warning("curves.png not written: %s: %s", type(e).__name__, e)


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
