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

Exit codes: 0 done; 2 bad input (config, data, checkpoint), one line on stderr; 3 training
diverged; 75 preempted by SIGTERM after writing a checkpoint (requeue the job).
"""

import difflib
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

import jaxgan
from jaxgan import checkpoint, malloc_settings, modes, parallel, train, writers, xla_defaults
from jaxgan import config as config_lib

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with an argument: path.py[:arg]."
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
flags.DEFINE_enum("mode", "train", list(modes.MODES), "What to do.")
flags.DEFINE_integer("num_samples", 1000, "--mode=sample: number of samples.")
flags.DEFINE_string("output", "samples.npz", "--mode=sample: output .npz file (key 'images').")
flags.DEFINE_integer("seed", 0, "--mode=sample: latent seed.")
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
    print(f"launch.py: error: {message}", file=sys.stderr)
    sys.exit(code)


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


def parse_flags(argv):
    try:
        return FLAGS(argv)
    except flags.Error as e:
        _fail(str(e).splitlines()[0])
    except (KeyError, AttributeError, TypeError, ValueError) as e:
        _fail(_unknown_override(argv) or f"bad command line: {e}")


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
        jaxgan.run(config, FLAGS.workdir, FLAGS.mode, **kwargs)
    except train.Preempted as e:
        logging.warning("%s", e)
        sys.exit(train.EXIT_PREEMPTED)
    except train.DivergenceError as e:
        _fail(str(e), EXIT_DIVERGED)
    except (config_lib.ConfigError, checkpoint.CheckpointError, jaxgan.data.DataError) as e:
        _fail(str(e))


if __name__ == "__main__":
    try:
        malloc_settings.reexec()  # glibc reads its malloc settings at process start only.
    except ValueError as e:
        _fail(str(e))
    app.run(main, flags_parser=parse_flags)
