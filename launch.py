"""Trains, samples from or evaluates a jaxgan experiment.

  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --config.train.batch_size=128
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --mode=sample \
      --num_samples=1000 --output=/tmp/samples.npz
  python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan --mode=evaluate
  python launch.py --config=experiments/pix2pix.py --workdir=/tmp/p2p --mode=sample \
      --source=edges/ --output=/tmp/translated.npz
  python launch.py --workdir=/tmp/cyclegan --mode=translate --input=my_digits/ \
      --output=/tmp/translated --direction=ab

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
flags.DEFINE_integer(
    "num_seeds", 10, "--mode=seeds: train seeds config.seed + 0..N-1 as one program.", lower_bound=1
)
flags.DEFINE_integer("num_samples", 1000, "--mode=sample: number of samples.", lower_bound=1)
flags.DEFINE_string(
    "output",
    None,
    "Where a mode writes: sample: an .npz (default samples.npz); interpolate, project, edit, "
    "plot: a .png (default in the workdir); export: a directory (default <workdir>/export); "
    "translate: a folder (default <workdir>/translated).",
)
flags.DEFINE_integer("seed", 0, "--mode=sample: latent seed (training's seed is --config.seed).")
flags.DEFINE_list("labels", None, "Conditional generators: a class or a list of them.")
flags.DEFINE_string(
    "source", None, "--mode=sample, translation recipes: an image, a folder of them, or an .npz."
)
flags.DEFINE_string(
    "checkpoint", "latest", "Which checkpoint: latest, best, or a step number (generator modes)."
)
flags.DEFINE_string("seeds", None, "One image per seed: 1,7,42 or a range 0-99 (or both).")
flags.DEFINE_float("truncation", 1.0, "psi: latents pulled toward the mean latent (1 = off).")
flags.DEFINE_list("latents", None, "--mode=interpolate/edit: .npy latents (from --mode=project).")
flags.DEFINE_integer("frames", 8, "--mode=interpolate: steps between key points.", lower_bound=1)
flags.DEFINE_enum("interpolation", "slerp", ["slerp", "lerp"], "--mode=interpolate: the path.")
flags.DEFINE_string("image", None, "--mode=project: the image to find the latent of.")
flags.DEFINE_string("mask", None, "--mode=project: white pixels of this image are a hole to fill.")
flags.DEFINE_integer("project_steps", 300, "--mode=project: Adam steps.", lower_bound=1)
flags.DEFINE_string("edit", None, "--mode=edit: FROM:TO classes, e.g. 3:8.")
flags.DEFINE_bool("onnx", False, "--mode=export: also generator.onnx (the 'onnx' extra).")
flags.DEFINE_string(
    "input", None, "--mode=translate: an image, or a folder of them (searched recursively)."
)
flags.DEFINE_enum(
    "direction", "ab", ["ab", "ba"], "--mode=translate: CycleGAN's A -> B (ab) or B -> A (ba)."
)
flags.DEFINE_integer(
    "tile", 512, "--mode=translate: tile side for large images (0 = whole images).", lower_bound=0
)
flags.DEFINE_integer(
    "overlap", 32, "--mode=translate: pixels of context around each tile.", lower_bound=0
)
flags.DEFINE_float("strength", 1.5, "--mode=edit: how far along the class direction to go.")
flags.DEFINE_string("coordinator_address", "", "Multi-host: host:port of process 0.")
flags.DEFINE_integer("num_processes", 0, "Multi-host: number of processes.")
flags.DEFINE_integer("process_id", -1, "Multi-host: this process's index.")
FLAGS = flags.FLAGS


# The flags each mode reads (besides --config, --workdir and the multi-host ones).
MODE_FLAGS = {
    "train": (),
    "sample": (
        "num_samples",
        "output",
        "seed",
        "labels",
        "source",
        "seeds",
        "truncation",
        "checkpoint",
    ),
    "evaluate": ("checkpoint",),
    "seeds": ("num_seeds",),
    "interpolate": (
        "seeds",
        "labels",
        "latents",
        "frames",
        "interpolation",
        "truncation",
        "output",
        "checkpoint",
    ),
    "project": ("image", "mask", "labels", "project_steps", "output", "checkpoint"),
    "edit": (
        "edit",
        "seeds",
        "labels",
        "latents",
        "strength",
        "truncation",
        "output",
        "checkpoint",
    ),
    "export": ("output", "checkpoint", "onnx"),
    "plot": ("output",),
    "translate": ("input", "direction", "tile", "overlap", "output", "checkpoint"),
}
GENERATOR_MODES = ("interpolate", "project", "edit", "export", "plot", "translate")


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
    """Class indices, or class names of data with named classes (image folders)."""
    from jaxgan import data

    try:
        return data.class_indices(FLAGS.config.data, values)
    except data.DataError as e:
        _fail(f"--labels={','.join(values)}: {e}")


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


def _mode_kwargs(mode: str) -> dict:
    """The keyword arguments of jaxgan.run for the mode, from its flags."""
    from jaxgan import generator

    labels = _labels(FLAGS.labels) if FLAGS.labels is not None else None
    seeds = generator.parse_seeds(FLAGS.seeds) if FLAGS.seeds is not None else None
    checkpoint_flag = int(FLAGS.checkpoint) if FLAGS.checkpoint.isdigit() else FLAGS.checkpoint
    if mode == "sample":
        kwargs = dict(
            num_samples=FLAGS.num_samples, output=FLAGS.output or "samples.npz", seed=FLAGS.seed
        )
        if labels is not None:
            kwargs["labels"] = labels
        if FLAGS.source is not None:
            kwargs["source"] = FLAGS.source
        if seeds is not None or FLAGS["truncation"].present or FLAGS["checkpoint"].present:
            kwargs.update(seeds=seeds, truncation=FLAGS.truncation, checkpoint=checkpoint_flag)
        return kwargs
    if mode == "evaluate":
        if FLAGS.checkpoint not in ("latest", "best"):
            _fail(f"--checkpoint={FLAGS.checkpoint}: --mode=evaluate takes latest or best")
        return dict(which=FLAGS.checkpoint)
    common = dict(output=FLAGS.output, checkpoint=checkpoint_flag)
    if mode == "interpolate":
        if seeds is None and not FLAGS.latents:
            seeds = [0, 1, 2, 3]
        return dict(
            common,
            seeds=seeds,
            labels=labels,
            latents=FLAGS.latents,
            frames=FLAGS.frames,
            method=FLAGS.interpolation,
            truncation=FLAGS.truncation,
        )
    if mode == "project":
        if not FLAGS.image:
            _fail("--mode=project needs --image=PATH, the picture to find the latent of")
        return dict(
            common, image=FLAGS.image, mask=FLAGS.mask, labels=labels, steps=FLAGS.project_steps
        )
    if mode == "edit":
        if not FLAGS.edit:
            _fail("--mode=edit needs --edit=FROM:TO, e.g. --edit=3:8")
        return dict(
            common,
            change=FLAGS.edit,
            seeds=seeds if seeds or FLAGS.latents else [0],
            labels=labels,
            latents=FLAGS.latents,
            strength=FLAGS.strength,
            truncation=FLAGS.truncation,
        )
    if mode == "export":
        return dict(common, onnx=FLAGS.onnx)
    if mode == "translate":
        if not FLAGS.input:
            _fail("--mode=translate needs --input=PATH, an image or a folder of images")
        return dict(
            common,
            input=FLAGS.input,
            direction=FLAGS.direction,
            tile=FLAGS.tile,
            overlap=FLAGS.overlap,
        )
    if mode == "seeds":
        return dict(num_seeds=FLAGS.num_seeds)
    if mode == "plot":
        return dict(output=FLAGS.output)
    return {}


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
    mode = FLAGS.mode
    from_workdir = mode in GENERATOR_MODES or (mode == "sample" and FLAGS["seeds"].present)
    if FLAGS.config is None and not from_workdir:
        _fail(
            f"--config is required for --mode={mode}, e.g. --config=experiments/dcgan.py"
            + (" (or --seeds, which samples from the workdir alone)" if mode == "sample" else "")
        )
    config = None
    if FLAGS.config is not None:
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
    if mode == "train" and FLAGS["seed"].present:
        _fail(
            f"--seed={FLAGS.seed} sets the seed of --mode=sample; training's seed is "
            f"--config.seed={FLAGS.seed}"
        )
    for name in sorted({f for names in MODE_FLAGS.values() for f in names}):
        if FLAGS[name].present and name not in MODE_FLAGS[mode]:
            users = [m for m, names in MODE_FLAGS.items() if name in names]
            _fail(f"--{name} is for --mode={'/'.join(users)}, not --mode={mode}")
    try:
        parallel.initialize_distributed(
            FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id
        )
        result = jaxgan.run(config, FLAGS.workdir, mode, **_mode_kwargs(mode))
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
    if mode == "evaluate":
        shown = " ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, float))
        print(f"step {result['step']} ({FLAGS.checkpoint}): {shown}")
    elif mode == "seeds":
        shown = " ".join(
            f"{k}={v['mean']:.4g}+-{v['stderr']:.2g}" for k, v in result["summary"].items()
        )
        print(f"{len(result['seeds'])} seeds, {result['seconds']:.0f} s: {shown}")
    elif mode == "translate":
        where = os.path.commonpath([p.parent for p in result]) if result else "nowhere"
        print(f"wrote {len(result)} translated images to {where}")
    elif mode in GENERATOR_MODES:
        print("wrote " + ", ".join(str(p) for p in result))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
