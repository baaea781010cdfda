"""Orbax checkpoints of a run: TrainState, data iterator position and config, saved as one unit.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
process killed mid-save leaves the previous checkpoint as the latest. Nothing here unpickles:
arrays are read by tensorstore and the config and iterator state are JSON, so loading a
checkpoint never runs code from it.
"""

import functools
import logging as std_logging
import pathlib
import re
import sys

import flax
import grain
import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from jaxgan import config as config_lib
from jaxgan import parallel, recipes
from jaxgan.state import all_finite

CHECKPOINT_DIRS = {"latest": "checkpoints", "best": "best_checkpoint"}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, foreign, or from an incompatible config."""


def _first_line(error: Exception) -> str:
    """The error's first line, without the object reprs TensorStore appends."""
    text = (str(error).strip().splitlines() or [""])[0]
    text = re.split(r"\s*See full TensorStore details|\s*<bound method ", text)[0]
    return f"{type(error).__name__}: {text}"[:300]


class Checkpointer:
    """Saves and restores (state, data position, config, data identity) as one checkpoint.

    `data_identity` (jaxgan.data.identity: dataset, split, a fingerprint of what is read) is
    saved with each checkpoint and compared by check_data on resume."""

    def __init__(self, directory, *, max_to_keep: int, data_identity: dict | None = None):
        _ignore_closed_loop_callbacks()
        self.directory = pathlib.Path(directory).absolute()
        self.data_identity = data_identity
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        handlers = {
            "state": ocp.StandardCheckpointHandler(),
            "data": grain.checkpoint.CheckpointHandler(),
            "config": ocp.JsonCheckpointHandler(),
            "dataset": ocp.JsonCheckpointHandler(),
        }
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=handlers
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, iterator, config: ml_collections.ConfigDict) -> None:
        """Starts an async save; refuses to write non-finite values."""
        if not bool(all_finite(state)):
            raise CheckpointError(f"refusing to save step {step}: the state has non-finite values")
        items = dict(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(iterator),
            config=ocp.args.JsonSave(config.to_dict()),
        )
        if self.data_identity is not None:
            items["dataset"] = ocp.args.JsonSave(self.data_identity)
        self.manager.save(step, args=ocp.args.Composite(**items), force=True)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()

    def saved_config(self, step: int) -> dict:
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(config=ocp.args.JsonRestore())
            )
        except Exception as e:  # noqa: BLE001 - any failure here means an unusable checkpoint.
            raise CheckpointError(self._unreadable(step, e)) from e
        return dict(restored.config)

    def check_compatible(self, step: int, config: ml_collections.ConfigDict) -> None:
        """Refuses to resume with a config that changes the run (model, shapes, maths)."""
        differ = config_lib.changed_keys(self.saved_config(step), config)
        if differ:
            raise CheckpointError(
                f"the checkpoint at step {step} in {self.directory} was written with a different "
                f"config; these keys differ: {'; '.join(differ)}. Use a new --workdir, or set them "
                "back to resume."
            )

    def saved_spec(self, step: int):
        """The DataSpec recorded with checkpoint `step`, or None for checkpoints without one."""
        from jaxgan.data import DataSpec

        if not (self.directory / str(step) / "dataset").exists():
            return None
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(dataset=ocp.args.JsonRestore())
            )
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(self._unreadable(step, e)) from e
        saved = dict(restored.dataset)
        if "shape" not in saved:
            return None
        extra = tuple((name, tuple(shape)) for name, shape in saved.get("extra", []))
        return DataSpec(
            tuple(saved["shape"]), saved["num_classes"], saved["num_examples"], saved["name"], extra
        )

    def check_data(self, step: int) -> None:
        """Refuses to resume on other data than the checkpoint's (another folder, split or
        dataset); checkpoints that predate the record are let through with a warning."""
        if self.data_identity is None:
            return
        if not (self.directory / str(step) / "dataset").exists():
            logging.warning("checkpoint %d records no data identity: not checked", step)
            return
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(dataset=ocp.args.JsonRestore())
            )
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(self._unreadable(step, e)) from e
        saved, now = dict(restored.dataset), self.data_identity
        differ = [
            f"{k}: {saved.get(k)!r} -> {now.get(k)!r}"
            for k in sorted(set(saved) | set(now))
            if saved.get(k) != now.get(k)
        ]
        if differ:
            raise CheckpointError(
                f"the checkpoint at step {step} in {self.directory} was trained on other data "
                f"({'; '.join(differ)}). Point data.* back at that data, or use a new --workdir."
            )

    def restore(self, step: int, abstract_state, iterator):
        """(state, iterator) at `step`. The iterator is restored when the process layout matches."""
        self._check_structure(step, abstract_state)
        items = {"state": ocp.args.StandardRestore(abstract_state)}
        data_file = self._data_file(step)
        if iterator is None:
            pass  # Sampling and evaluation need no data position.
        elif data_file.exists():
            items["data"] = grain.checkpoint.CheckpointRestore(iterator)
        else:
            logging.warning(
                "checkpoint %d has no data position for this process layout (%s missing): the "
                "iterator is rebuilt at the step instead",
                step,
                data_file.name,
            )
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(self._unreadable(step, e)) from e
        if not bool(all_finite(restored.state)):
            raise CheckpointError(f"checkpoint {step} in {self.directory} has non-finite values")
        return restored.state, (restored.data if "data" in items else None)

    def _data_file(self, step: int) -> pathlib.Path:
        name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
        return self.directory / str(step) / "data" / name

    def _check_structure(self, step: int, abstract_state) -> None:
        """Compares array shapes with the checkpoint's metadata before reading any data."""
        try:
            meta = self.manager.item_metadata(step)["state"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(self._unreadable(step, e)) from e
        if meta is None:
            raise CheckpointError(self._unreadable(step, ValueError("no state metadata")))
        expected = _shapes(abstract_state)
        found = _shapes(getattr(meta, "tree", meta))
        problems = [
            f"{k}: checkpoint {found.get(k)} vs model {expected.get(k)}"
            for k in sorted(set(expected) | set(found))
            if expected.get(k) != found.get(k)
        ]
        if problems:
            shown = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} was written by a different model "
                f"({len(problems)} arrays differ: {shown})"
            )

    def _unreadable(self, step: int, error: Exception) -> str:
        return (
            f"checkpoint {step} in {self.directory} cannot be read ({_first_line(error)}); it "
            f"may be truncated or foreign. Move {self.directory / str(step)} away to resume "
            "from an earlier checkpoint, or use a new --workdir."
        )


def _ignore_closed_loop_callbacks() -> None:
    """When a restore fails, TensorStore still completes the other arrays' reads and calls back
    into the asyncio loop orbax has already closed; each callback's 'RuntimeError: Event loop is
    closed' is reported as unraisable, a traceback around the user's one-line error. This
    process's unraisable hook drops exactly that error and passes on the rest."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_errors", False):
        return

    def hook(unraisable):
        value = unraisable.exc_value
        if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
            return
        previous(unraisable)

    hook.drops_closed_loop_errors = True
    sys.unraisablehook = hook
    std_logging.getLogger("asyncio").addFilter(_drop_unretrieved_read_errors)


def _drop_unretrieved_read_errors(record) -> bool:
    """The same failed restore's other reads: when one array read raises, the reads of the
    other arrays fail too and, never awaited, asyncio logs each as 'Future exception was never
    retrieved' with a traceback. The first is the user's one-line error; drop the echoes
    (TensorStore read errors only)."""
    message = record.getMessage()
    echo = "exception was never retrieved" in message and "tensorstore_spec" in message
    return not echo


def _shapes(tree) -> dict:
    """{'players/g/params/Dense_0/kernel': shape, ...} for a TrainState or orbax's metadata."""
    flat = flax.traverse_util.flatten_dict(flax.serialization.to_state_dict(tree), sep="/")
    return {k: tuple(v.shape) for k, v in flat.items() if hasattr(v, "shape")}


def abstract_state(config: ml_collections.ConfigDict, mesh) -> tuple:
    """(init: rng -> the recipe's initial state, its shapes replicated over `mesh`)."""
    recipe, spec = recipes.prepare(config)
    init = functools.partial(recipe.init, config, spec)
    abstract = jax.eval_shape(init, jax.random.PRNGKey(config.seed))
    repl = parallel.replicated(mesh)
    return init, jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), abstract
    )


def restore_state(config: ml_collections.ConfigDict, workdir, which: str = "latest"):
    """The TrainState of the latest (or best-evaluated) checkpoint, without the data iterator."""
    config_lib.validate(config)
    if which not in CHECKPOINT_DIRS:
        raise ValueError(f"which={which!r}: choose one of {', '.join(CHECKPOINT_DIRS)}")
    workdir = pathlib.Path(workdir)
    if not workdir.is_dir():
        what = "is not a directory" if workdir.exists() else "does not exist"
        raise CheckpointError(f"--workdir={str(workdir)!r} {what}: no checkpoint to load")
    directory = workdir / CHECKPOINT_DIRS[which]
    if which == "best" and not directory.exists():
        raise CheckpointError(
            f"no best checkpoint in {workdir}: it is kept only by runs that evaluate while "
            "training (eval.every_steps > 0); use --checkpoint=latest"
        )
    ckpt = Checkpointer(directory, max_to_keep=1_000_000)
    try:
        latest = ckpt.latest_step()
        if latest is None:
            raise CheckpointError(f"no checkpoint in {ckpt.directory}: train first")
        ckpt.check_compatible(latest, config)
        _, abstract = abstract_state(config, parallel.make_mesh())
        state, _ = ckpt.restore(latest, abstract, None)
    finally:
        ckpt.close()
    return state
