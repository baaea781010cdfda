"""Trains, samples from or evaluates a jaxgan experiment.

  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --config.train.batch_size=128
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --mode=sample \
      --num_samples=1000 --output=/tmp/samples.npz
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --mode=evaluate
  python launch.py --config=experiments/pix2pix.py --workdir=/tmp/p2p --mode=sample \
      --source=edges/ --output=/tmp/translated.npz

It restarts itself once, first thing, with glibc malloc settings that let XLA:CPU reuse each
step's memory (`jaxgan/malloc_settings.py`; `JAXGAN_MALLOC=system` opts out).

Exit codes: 0 done; 1 an unexpected error (one line; the loop checkpoints first); 2 bad input
(config, data, checkpoint, workdir), one line on stderr; 3 training diverged; 75 SIGTERM
(preempted: a checkpoint is written when training had started; requeue the job); 130 SIGINT
(Ctrl-C: the same checkpoint; a second Ctrl-C exits at once).
"""

import os
import signal
import sys


def _exit_at_once(signum, frame):
    """Until the training loop takes over: nothing to save, so a signal ends the process now."""
    code = 75 if signum == signal.SIGTERM else 130
    print(
        f"launch.py: {signal.Signals(signum).name} before training started: nothing to save, "
        f"exiting with {code}",
        file=sys.stderr,
        flush=True,
    )
    os._exit(code)


def _restart_with_malloc_settings():
    """malloc_settings.reexec() before the heavy imports, which the restart would repeat: the
    module is loaded from its file (stdlib only) without importing the jaxgan package."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jaxgan", "malloc_settings.py")
    spec = importlib.util.spec_from_file_location("_jaxgan_malloc_settings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Blocked signals stay blocked across exec: one sent during the restart waits for the
    # restarted process's handlers instead of killing it with the default action.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        module.reexec()  # glibc reads its malloc settings at process start only.
    except ValueError as e:
        print(f"launch.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # Not restarted: go on.


_SIGNALS = (signal.SIGTERM, signal.SIGINT)

if __name__ == "__main__":  # First things: a preemption while JAX imports still exits 75.
    for _signum in _SIGNALS:
        signal.signal(_signum, _exit_at_once)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # Blocked by the restart, if any.
    _restart_with_malloc_settings()

import difflib  # noqa: E402
import re  # noqa: E402
import traceback  # noqa: E402

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import jaxgan  # noqa: E402
from jaxgan import (  # noqa: E402
    checkpoint,
    malloc_settings,
    modes,
    parallel,
    train,
    workdirs,
    writers,
    xla_defaults,
)
from jaxgan import config as config_lib  # noqa: E402

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with an argument: path.py[:arg]."
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
flags.DEFINE_enum("mode", "train", list(modes.MODES), "What to do.")
flags.DEFINE_integer("num_samples", 1000, "--mode=sample: number of samples.", lower_bound=1)
flags.DEFINE_string("output", "samples.npz", "--mode=sample: output .npz file (key 'images').")
flags.DEFINE_integer("seed", 0, "--mode=sample: latent seed (training's seed is --config.seed).")
flags.DEFINE_list("labels", None, "--mode=sample, conditional recipes: a class or a list of them.")
flags.DEFINE_string(
    "source", None, "--mode=sample, translation recipes: an image, a folder of them, or an .npz."
)
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "--mode=evaluate: which one.")
flags.DEFINE_string("coordinator_address", "", "Multi-host: host:port of process 0.")
flags.DEFINE_integer("num_processes", 0, "Multi-host: number of processes.")
flags.DEFINE_integer("process_id", -1, "Multi-host: this process's index.")
FLAGS = flags.FLAGS


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    """One line on stderr, then exit. os._exit: by now every file is written and closed, and a
    normal interpreter exit would let orbax's leftover async tasks print tracebacks after it."""
    print(f"launch.py: error: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _unknown_override(argv) -> str | None:
    """The first --config.a.b=... override that names no config key, with a suggestion."""
    known = config_lib.known_keys()
    for arg in argv:
        match = re.match(r"--config\.([\w.]+)", arg)
        if match and match.group(1) not in known:
            key = match.group(1)
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown config key {key!r} in {arg!r}{hint}"
    return None


def _labels(values) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        _fail(f"--labels={','.join(values)!r}: give class indices, e.g. --labels=3 or 1,4,7")


def _config_file_error(argv, error: BaseException) -> str:
    """The reason a --config file failed to load, as one line: its own error, where it arose."""
    arg = next((a for a in argv if a.startswith("--config=")), "--config")
    path = arg.partition("=")[2].split(":")[0]
    root = error
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__
    if isinstance(root, SyntaxError):
        return f"cannot load {arg}: {type(root).__name__}: {root.msg} (line {root.lineno})"
    reason = (str(root).strip().splitlines() or [""])[0]
    if isinstance(root, config_lib.ConfigError):
        return f"cannot load {arg}: {reason}"
    frames = [
        f
        for f in traceback.extract_tb(root.__traceback__)
        if path and os.path.basename(f.filename) == os.path.basename(path)
    ]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"cannot load {arg}: {type(root).__name__}: {reason}{where}"


def parse_flags(argv):
    try:
        return FLAGS(argv)
    except flags.IllegalFlagValueError as e:
        if str(e).startswith("flag --config=") and (e.__cause__ or e.__context__):
            _fail(_config_file_error(argv, e))
        _fail(str(e).splitlines()[0])
    except flags.Error as e:
        _fail(str(e).splitlines()[0])
    except (KeyError, AttributeError, TypeError, ValueError) as e:
        _fail(_unknown_override(argv) or f"bad command line: {e}")
    except Exception as e:  # noqa: BLE001 - the config file itself raised (syntax, imports).
        _fail(_config_file_error(argv, e))


def main(argv):
    xla_defaults.apply()
    writers.quiet_library_logs()
    logging.info("malloc: %s", malloc_settings.describe())
    if len(argv) > 1:
        _fail(f"unexpected arguments {argv[1:]}")
    if FLAGS.config is None:
        _fail("--config is required, e.g. --config=experiments/dcgan.py")
    try:
        config = _CONFIG.value
        config_lib.validate(config)
    except config_lib.ConfigError as e:
        _fail(str(e))
    except Exception as e:  # noqa: BLE001 - a config file that failed to load.
        reason = str(e).strip().splitlines()[-1].strip() if str(e).strip() else type(e).__name__
        _fail(f"cannot load the --config file: {reason}")
    if not FLAGS.workdir:
        _fail("--workdir is required")
    if FLAGS.mode == "train" and FLAGS["seed"].present:
        _fail(
            f"--seed={FLAGS.seed} sets the seed of --mode=sample; training's seed is "
            f"--config.seed={FLAGS.seed}"
        )
    try:
        parallel.initialize_distributed(
            FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id
        )
        kwargs = {}
        if FLAGS.mode == "sample":
            kwargs = dict(num_samples=FLAGS.num_samples, output=FLAGS.output, seed=FLAGS.seed)
            if FLAGS.labels is not None:
                kwargs["labels"] = _labels(FLAGS.labels)
            if FLAGS.source is not None:
                kwargs["source"] = FLAGS.source
        elif FLAGS.mode == "evaluate":
            kwargs = dict(which=FLAGS.checkpoint)
        result = jaxgan.run(config, FLAGS.workdir, FLAGS.mode, **kwargs)
    except train.Preempted as e:
        print(f"launch.py: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except train.DivergenceError as e:
        _fail(str(e), EXIT_DIVERGED)
    except (
        config_lib.ConfigError,
        checkpoint.CheckpointError,
        jaxgan.data.DataError,
        workdirs.WorkdirError,
    ) as e:
        _fail(str(e))
    except train.LoopError as e:
        _fail(str(e), 1)
    if FLAGS.mode == "evaluate":
        shown = " ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float))
        print(f"step {result['step']} ({FLAGS.checkpoint}): {shown}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
