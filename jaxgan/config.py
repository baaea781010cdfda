"""Config defaults, loading and validation.

Every experiment starts from `default_config()` and changes fields; `validate` then checks the
result against the defaults (no unknown keys, the defaults' types), the registries (loss, model,
dataset names) and ranges, so that a typo stops a run before anything is compiled or written.
"""

import difflib
import importlib.util
import json
import pathlib

import ml_collections

from jaxgan import data, losses, models

# Keys that may change when a run resumes: they steer logging and bookkeeping, not the maths.
RESUMABLE_KEYS = (
    "train.num_steps",
    "train.log_every_steps",
    "train.sample_every_steps",
    "train.checkpoint_every_steps",
    "train.max_to_keep",
    "train.max_bad_steps",
    "train.profile",
    "data.num_threads",
    "data.prefetch",
    "data.cache_dir",
    "data.tfds_data_dir",
    "data.path",
    "compile_cache_dir",
    "eval.",
)

OPTIMIZERS = ("adam", "rmsprop")
DTYPES = ("float32", "bfloat16")
BN_MODES = ("sync", "per_device")
EVAL_METRICS = ("fid", "kid", "is", "prdc", "modes")
# Each result an evaluation reports -> the metric in eval.metrics that computes it (eval.primary
# may be any of them; 'high_quality' exists for toy 2-D data only). Lower is better for fid, kid
# and reverse_kl, higher for the rest (jaxgan.evaluate.better).
EVAL_RESULTS = {
    "fid": "fid",
    "kid": "kid",
    "is": "is",
    "precision": "prdc",
    "recall": "prdc",
    "density": "prdc",
    "coverage": "prdc",
    "modes": "modes",
    "reverse_kl": "modes",
    "high_quality": "modes",
}


class ConfigError(ValueError):
    """A config value that is not allowed; the message names the key, value and what is allowed."""


def default_config() -> ml_collections.ConfigDict:
    """Every key a run understands, with its default."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    # Persistent XLA compilation cache: '' = <cache>/xla_cache, 'none' = off.
    c.compile_cache_dir = ""

    c.data = data.default_config()

    c.model = ml_collections.ConfigDict()
    c.model.generator = "dcgan"
    c.model.discriminator = "dcgan"
    c.model.z_dim = 100
    c.model.g_width = 64  # DCGAN: channels of G's last hidden layer (ngf).
    c.model.d_width = 64  # DCGAN: channels of D's first layer (ndf).
    c.model.g_hidden = (256, 128)  # MLP: hidden widths of G.
    c.model.d_hidden = (128,)  # MLP: hidden widths of D.
    c.model.g_norm = "batch"  # 'batch' or 'none'.
    c.model.d_norm = "none"  # 'batch' or 'none'.
    c.model.bn_mode = "sync"  # BatchNorm statistics over the global batch, or per device.
    c.model.conv_impl = "auto"  # Stride-2 convs of G and D: "auto", "phase", "xla".
    c.model.dtype = "float32"  # Compute dtype; params and optimizer states stay float32.

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "non_saturating"
    c.loss.gp_weight = 0.0  # WGAN-GP gradient penalty on per-sample interpolates.
    c.loss.r1_weight = 0.0  # R1 penalty on real data.
    c.loss.clip = 0.0  # WGAN weight clipping of D's params to [-clip, clip]; 0 = off.

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.999

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 64  # Global batch, split over all devices of all hosts.
    c.train.num_steps = 2000
    c.train.n_critic = 1  # D updates per G update; each uses its own real batch.
    c.train.ema_decay = 0.999  # Generator EMA; 0 = off (samples use the live generator).
    c.train.log_every_steps = 50
    c.train.sample_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.max_to_keep = 3
    c.train.max_bad_steps = 5  # Consecutive non-finite steps before the run stops.
    c.train.num_sample_images = 64  # Images in each sample grid (fixed latents).
    c.train.profile = False

    c.eval = ml_collections.ConfigDict()
    c.eval.every_steps = 0  # 0 = no evaluation during training.
    c.eval.num_samples = 10000
    c.eval.batch_size = 500
    c.eval.features = "classifier"  # 'classifier' (dataset's own) or 'inception'.
    c.eval.inception_weights = ""  # Path to pt_inception-2015-12-05-6726825d.pth.
    # Any of EVAL_METRICS; 'modes' is mode counting (toy 2-D data: the only metric; stacked_mnist).
    c.eval.metrics = ("fid", "kid", "is", "prdc")
    c.eval.primary = "fid"  # Best checkpoint is kept by this result (a key of EVAL_RESULTS).
    c.eval.prdc_k = 3  # k-NN radii for precision/recall/density/coverage (Kynkaanniemi et al.: 3).
    return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks an experiment to seconds for tests: tiny widths, batch 8, 4 steps."""
    c.model.z_dim = 8
    c.model.g_width = c.model.d_width = 4
    c.model.g_hidden = (16,)
    c.model.d_hidden = (16,)
    c.train.batch_size = 8
    c.train.num_steps = 4
    c.train.log_every_steps = c.train.sample_every_steps = c.train.checkpoint_every_steps = 2
    c.train.num_sample_images = 4
    c.eval.every_steps = 0
    c.eval.num_samples = 64
    c.eval.batch_size = 32
    return c


def experiment_arg(c: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies an experiment's optional `get_config(arg)` argument (only 'smoke' exists)."""
    if arg == "smoke":
        return smoke(c)
    if arg is not None:
        raise ConfigError(f"unknown config argument {arg!r}: use 'smoke' or nothing")
    return c


def load_config(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """Loads `get_config(arg)` from an experiment file and validates it."""
    file = pathlib.Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"jaxgan_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(arg) if arg is not None else module.get_config()
    validate(config)
    return config


def flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
    """{'train.batch_size': 64, ...} for a nested config."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _choice(flat, key, allowed):
    value = flat[key]
    if value not in allowed:
        raise ConfigError(
            f"{key}={value!r} is not allowed: choose one of {', '.join(map(repr, allowed))}"
            + _suggest(str(value), allowed)
        )


def _at_least(flat, key, low, inclusive=True):
    value = flat[key]
    if value < low or (not inclusive and value == low):
        op = ">=" if inclusive else ">"
        raise ConfigError(f"{key}={value!r} is out of range: it must be {op} {low}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first key whose value is unknown, mistyped or out of range."""
    flat, defaults = flatten(config), flatten(default_config())
    for key, value in flat.items():
        if key not in defaults:
            raise ConfigError(f"unknown config key {key!r}" + _suggest(key, defaults))
        expected = type(defaults[key])
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ConfigError(
                f"{key}={value!r} has type {type(value).__name__}, expected {expected.__name__}"
            )
    missing = sorted(set(defaults) - set(flat))
    if missing:
        raise ConfigError(f"config is missing key(s) {', '.join(missing)}")

    _choice(flat, "model.generator", tuple(models.GENERATORS))
    _choice(flat, "model.discriminator", tuple(models.DISCRIMINATORS))
    _choice(flat, "model.g_norm", models.NORMS)
    _choice(flat, "model.d_norm", models.NORMS)
    _choice(flat, "model.bn_mode", BN_MODES)
    _choice(flat, "model.conv_impl", models.CONV_IMPLS)
    _choice(flat, "model.dtype", DTYPES)
    _choice(flat, "loss.name", tuple(losses.LOSSES))
    _choice(flat, "optim.name", OPTIMIZERS)
    _choice(flat, "eval.features", ("classifier", "inception"))
    for key in ("model.z_dim", "model.g_width", "model.d_width", "train.batch_size"):
        _at_least(flat, key, 1)
    for key in ("model.g_hidden", "model.d_hidden"):
        if not flat[key] or any(not isinstance(w, int) or w < 1 for w in flat[key]):
            raise ConfigError(f"{key}={flat[key]!r} must be a non-empty tuple of positive ints")
    for key in ("optim.g_lr", "optim.d_lr"):
        _at_least(flat, key, 0.0, inclusive=False)
    for key in ("optim.b1", "optim.b2", "train.ema_decay"):
        if not 0.0 <= flat[key] < 1.0:
            raise ConfigError(f"{key}={flat[key]!r} is out of range: it must be in [0, 1)")
    for key in ("loss.gp_weight", "loss.r1_weight", "loss.clip"):
        _at_least(flat, key, 0.0)
    for key in ("train.num_steps", "eval.every_steps"):
        _at_least(flat, key, 0)
    for key in (
        "train.n_critic",
        "train.log_every_steps",
        "train.sample_every_steps",
        "train.checkpoint_every_steps",
        "train.max_to_keep",
        "train.max_bad_steps",
        "train.num_sample_images",
        "eval.num_samples",
        "eval.batch_size",
    ):
        _at_least(flat, key, 1)
    metrics = tuple(flat["eval.metrics"])
    unknown = sorted(set(metrics) - set(EVAL_METRICS))
    if unknown or not metrics:
        raise ConfigError(
            f"eval.metrics={metrics!r} has unknown metric(s) {unknown or 'none given'}: choose "
            f"one or more of {', '.join(EVAL_METRICS)}"
        )
    _choice(flat, "eval.primary", tuple(EVAL_RESULTS))
    producer = EVAL_RESULTS[flat["eval.primary"]]
    if producer not in metrics:
        raise ConfigError(
            f"eval.primary={flat['eval.primary']!r} is computed by metric {producer!r}, which "
            f"eval.metrics={metrics!r} does not include"
        )
    _at_least(flat, "eval.prdc_k", 1)
    if "prdc" in metrics and flat["eval.num_samples"] <= flat["eval.prdc_k"]:
        raise ConfigError(
            f"eval.num_samples={flat['eval.num_samples']} must exceed eval.prdc_k="
            f"{flat['eval.prdc_k']} for metric 'prdc'"
        )


def changed_keys(saved: dict, current: ml_collections.ConfigDict) -> list[str]:
    """Keys whose values differ between a saved run's config and this one, except resumable ones."""
    old = flatten(ml_collections.ConfigDict(saved))
    new = flatten(current)
    keys = sorted(set(old) | set(new))
    differ = []
    for key in keys:
        if any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            a, b = list(a), list(b)
        if a != b:
            differ.append(f"{key}: {a!r} -> {b!r}")
    return differ


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)
