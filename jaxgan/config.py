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

from jaxgan import augment, data, losses, models, recipes

# Keys that may change when a run resumes: they steer logging and bookkeeping, not the maths.
RESUMABLE_KEYS = (
    "train.num_steps",
    "train.log_every_steps",
    "train.sample_every_steps",
    "train.checkpoint_every_steps",
    "train.max_to_keep",
    "train.max_bad_steps",
    "train.profile_steps",
    "data.num_threads",
    "data.prefetch",
    "data.cache_dir",
    "data.tfds_data_dir",
    "data.path",
    "model.g.psi",  # StyleGAN2's inference truncation: samples and evaluation only.
    "compile_cache_dir",
    "eval.",
)

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "linear", "cosine")
DTYPES = ("float32", "bfloat16")
BN_MODES = ("sync", "per_device")
EVAL_METRICS = ("fid", "kid", "is", "prdc", "modes", "moments", "paired", "accuracy")
# Each result an evaluation reports -> the metric in eval.metrics that computes it (eval.primary
# may be any of them; 'high_quality' exists for toy 2-D mixtures only, 'moments' for
# toy2d_gaussian only; 'paired' for recipes whose
# outputs have targets; 'accuracy' for class-conditional generators). Lower is better for fid,
# kid, reverse_kl and l1, higher for the rest
# (jaxgan.evaluate.better).
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
    "mean_error": "moments",
    "cov_error": "moments",
    "l1": "paired",
    "psnr": "paired",
    "ssim": "paired",
    "accuracy": "accuracy",
}


class ConfigError(ValueError):
    """A config value that is not allowed; the message names the key, value and what is allowed."""


def default_config(
    recipe: str = "gan", g: str | None = None, d: str | None = None
) -> ml_collections.ConfigDict:
    """Every key a run of `recipe` with generator `g` and discriminator `d` understands (the
    recipe's first architectures when not given), with its default."""
    r = recipes.get(recipe)
    c = ml_collections.ConfigDict()
    c.recipe = recipe
    c.seed = 0
    # Persistent XLA compilation cache: '' = <cache>/xla_cache, 'none' = off.
    c.compile_cache_dir = ""

    c.data = data.default_config()

    c.model = ml_collections.ConfigDict()
    # Each player's architecture: `name` and that architecture's own keys (jaxgan.models).
    c.model.g = models.model_config("g", g or r.GENERATORS[0])
    c.model.d = models.model_config("d", d or r.DISCRIMINATORS[0])
    c.model.bn_mode = "sync"  # BatchNorm statistics over the global batch, or per device.
    c.model.conv_impl = "auto"  # Stride-2 convs of G and D: "auto", "phase", "xla".
    c.model.dtype = "float32"  # Compute dtype; params and optimizer states stay float32.

    c[recipe] = r.default_config()  # The recipe's own section.

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "non_saturating"
    c.loss.gp_weight = 0.0  # WGAN-GP gradient penalty on per-sample interpolates.
    c.loss.r1_weight = 0.0  # R1 penalty on real data (gamma: the loss adds gamma / 2 x R1).
    c.loss.r2_weight = 0.0  # R2 penalty on generated data (gamma / 2 x R2).
    c.loss.dragan_weight = 0.0  # DRAGAN penalty around the real data (lambda, the paper's 10).
    c.loss.clip = 0.0  # WGAN weight clipping of D's params to [-clip, clip]; 0 = off.
    c.loss.drift_weight = 0.0  # ProGAN's drift: weight x E[D(x)^2] on the real logits.
    c.loss.class_weight = 1.0  # AC-GAN: weight of the class loss (a D with conditioning='acgan').
    # One-sided label smoothing (Salimans et al. 2016): D's target for real data is 1 - this.
    c.loss.label_smoothing = 0.0
    # Lazy regularisation (Karras et al. 2020): penalties on every k-th D update, weight x k.
    c.loss.lazy_interval = 1
    # StyleGAN2's path-length regularisation of G (gan recipe, model.g.name='stylegan2'): weight,
    # applied every pl_interval-th G update (weight x interval), the running mean's rate, and the
    # batch shrink of its extra pass.
    c.loss.pl_weight = 0.0
    c.loss.pl_interval = 4
    c.loss.pl_decay = 0.01
    c.loss.pl_batch_shrink = 2

    c.augment = augment.default_config()  # What D sees: DiffAugment, instance noise.

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.g_lr = 2e-4  # Generators' learning rate.
    c.optim.d_lr = 2e-4  # Discriminators' learning rate.
    c.optim.b1 = 0.5  # adam, adamw.
    c.optim.b2 = 0.999  # adam, adamw.
    c.optim.weight_decay = 0.0  # adamw's decoupled weight decay.
    c.optim.momentum = 0.0  # sgd, rmsprop.
    c.optim.rmsprop_decay = 0.9  # rmsprop's squared-gradient average.
    # Learning-rate schedule over optim.decay_steps (0 = train.num_steps) G updates: constant,
    # linear decay to 0 from step optim.decay_start, or cosine decay to 0; after a linear warm-up
    # of optim.warmup_steps.
    c.optim.schedule = "constant"
    c.optim.warmup_steps = 0
    c.optim.decay_start = 0
    c.optim.decay_steps = 0

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
    c.train.num_sample_images = 64  # Images in each sample grid (fixed inputs).
    # A trained workdir whose generators (its players named g*, by name) start this run, with
    # fresh optimizer states: ESRGAN's GAN stage starts from its L1 model. Read at step 0 only.
    c.train.init_from = ""
    c.train.profile_steps = ()  # (first, last): a jax.profiler trace of these steps.

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


def for_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The defaults of the recipe and architectures that `config` names."""
    _check_names(config)
    return default_config(config.recipe, config.model.g.name, config.model.d.name)


def known_keys() -> set:
    """Every key of every recipe and architecture (for command-line override hints)."""
    keys = set()
    for recipe in recipes.RECIPES:
        r = recipes.get(recipe)
        for g in r.GENERATORS:
            for d in r.DISCRIMINATORS:
                keys |= set(flatten(default_config(recipe, g, d)))
    return keys


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks an experiment to seconds for tests: tiny models, batch 8 (or what packing needs),
    4 steps."""
    for role in ("g", "d"):
        c.model[role].update(models.architecture(role, c.model[role]).smoke)
    c[c.recipe].update(recipes.get(c.recipe).SMOKE)
    # 8 rows, or the next count that still splits into D's packs and minibatch-std groups.
    unit = c.get("gan", {}).get("pack", 1) * max(1, c.model.d.get("minibatch_std", 0))
    c.train.batch_size = -(-8 // unit) * unit
    c.train.num_steps = 4
    if c.optim.decay_start:  # A linear decay that starts inside the 4 steps.
        c.optim.decay_start = 2
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


EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"


def base_experiment(name: str) -> ml_collections.ConfigDict:
    """`experiments/<name>.py`'s full config, for a variant file to start from and override."""
    return _load(EXPERIMENTS / f"{name}.py", None)


def _load(file: pathlib.Path, arg: str | None) -> ml_collections.ConfigDict:
    if not file.is_file():
        raise ConfigError(f"config file {str(file)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"jaxgan_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg is not None else module.get_config()


def load_config(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """Loads `get_config(arg)` from an experiment file and validates it."""
    config = _load(pathlib.Path(path), arg)
    validate(config)
    return config


def from_saved(saved: dict) -> ml_collections.ConfigDict:
    """The config a checkpoint saved (JSON: lists for tuples), as a validated ConfigDict."""
    config = for_config(ml_collections.ConfigDict(saved))
    defaults = flatten(config)
    for key, value in flatten(ml_collections.ConfigDict(saved)).items():
        if key not in defaults:
            raise ConfigError(f"the saved config has a key {key!r} this jaxgan does not know")
        if isinstance(defaults[key], tuple) and isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        section, _, name = key.rpartition(".")
        target = config
        for part in section.split(".") if section else []:
            target = target[part]
        target[name] = value
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
    words = [a for a in allowed if isinstance(a, str)]  # Numbers have no near misses.
    close = difflib.get_close_matches(key, words, n=1)
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


def _check_names(config) -> None:
    """The recipe and architecture names, checked first: they decide which keys exist."""
    try:
        recipe = config.recipe  # A config file that failed to load raises its own error here.
    except (AttributeError, KeyError):
        recipe = None
    if not isinstance(recipe, str) or recipe not in recipes.RECIPES:
        raise ConfigError(
            f"recipe={recipe!r} is not allowed: choose one of "
            f"{', '.join(map(repr, recipes.RECIPES))}" + _suggest(str(recipe), recipes.RECIPES)
        )
    r = recipes.get(recipe)
    model = config.get("model")
    for role, allowed in (("g", r.GENERATORS), ("d", r.DISCRIMINATORS)):
        section = model.get(role) if isinstance(model, ml_collections.ConfigDict) else None
        if not isinstance(section, ml_collections.ConfigDict) or "name" not in section:
            raise ConfigError(
                f"config.model.{role} must be a section with a 'name' (one of "
                f"{', '.join(map(repr, allowed))}) and that architecture's keys"
            )
        if section.name not in allowed:
            raise ConfigError(
                f"model.{role}.name={section.name!r} is not allowed for recipe {recipe!r}: "
                f"choose one of {', '.join(map(repr, allowed))}"
                + _suggest(str(section.name), allowed)
            )


def _check_architecture(flat, role: str, arch) -> None:
    prefix = f"model.{role}."
    for key, allowed in arch.choices.items():
        _choice(flat, prefix + key, allowed)
    for key, low in arch.minimum.items():
        _at_least(flat, prefix + key, low)
    for key in arch.tuples:
        value = flat[prefix + key]
        if not value or any(not isinstance(w, int) or w < 1 for w in value):
            raise ConfigError(f"{prefix}{key}={value!r} must be a non-empty tuple of positive ints")


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first key whose value is unknown, mistyped or out of range."""
    defaults = flatten(for_config(config))
    flat = flatten(config)
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

    for role in ("g", "d"):
        _check_architecture(flat, role, models.architecture(role, config.model[role]))
    _choice(flat, "model.bn_mode", BN_MODES)
    _choice(flat, "model.conv_impl", models.CONV_IMPLS)
    _choice(flat, "model.dtype", DTYPES)
    _choice(flat, "loss.name", tuple(losses.LOSSES))
    _choice(flat, "optim.name", OPTIMIZERS)
    _choice(flat, "eval.features", ("classifier", "inception"))
    _at_least(flat, "train.batch_size", 1)
    for key in ("optim.g_lr", "optim.d_lr"):
        _at_least(flat, key, 0.0, inclusive=False)
    for key in ("optim.b1", "optim.b2", "train.ema_decay"):
        if not 0.0 <= flat[key] < 1.0:
            raise ConfigError(f"{key}={flat[key]!r} is out of range: it must be in [0, 1)")
    for key in (
        "gp_weight",
        "r1_weight",
        "r2_weight",
        "dragan_weight",
        "clip",
        "class_weight",
        "drift_weight",
    ):
        _at_least(flat, f"loss.{key}", 0.0)
    _check_tricks(config, flat)
    augment.validate(config)
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
    profile = tuple(flat["train.profile_steps"])
    if profile and not (
        len(profile) == 2
        and all(isinstance(s, int) for s in profile)
        and 1 <= profile[0] <= profile[1]
    ):
        raise ConfigError(
            f"train.profile_steps={profile!r} must be () or (first, last) with 1 <= first <= last"
        )
    recipes.get(config.recipe).validate(config)
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


def _check_tricks(config, flat) -> None:
    """Optimizer, schedule and loss-trick keys: ranges, and combinations that make no sense."""
    _choice(flat, "optim.schedule", SCHEDULES)
    for key in ("weight_decay", "momentum", "warmup_steps", "decay_start", "decay_steps"):
        _at_least(flat, f"optim.{key}", 0)
    if not 0.0 <= flat["optim.rmsprop_decay"] < 1.0:
        raise ConfigError(
            f"optim.rmsprop_decay={flat['optim.rmsprop_decay']!r} is out of range: it must be in "
            "[0, 1)"
        )
    o = config.optim
    if o.weight_decay > 0 and o.name != "adamw":
        raise ConfigError(
            f"optim.weight_decay={o.weight_decay} with optim.name={o.name!r}: weight decay is "
            "adamw's; use optim.name='adamw'"
        )
    if o.momentum > 0 and o.name not in ("sgd", "rmsprop"):
        raise ConfigError(
            f"optim.momentum={o.momentum} with optim.name={o.name!r}: momentum is for 'sgd' and "
            "'rmsprop' (adam's is optim.b1)"
        )
    horizon = o.decay_steps or config.train.num_steps
    if o.schedule != "constant" and o.warmup_steps + o.decay_start >= horizon:
        raise ConfigError(
            f"optim.schedule={o.schedule!r}: optim.warmup_steps={o.warmup_steps} + "
            f"optim.decay_start={o.decay_start} must be below the decay horizon {horizon} "
            "(optim.decay_steps, or train.num_steps when it is 0)"
        )
    if o.decay_start and o.schedule != "linear":
        raise ConfigError(
            f"optim.decay_start={o.decay_start} is for optim.schedule='linear' (got {o.schedule!r})"
        )
    loss = config.loss
    if not 0.0 <= loss.label_smoothing < 0.5:
        raise ConfigError(
            f"loss.label_smoothing={loss.label_smoothing!r} is out of range: it must be in [0, 0.5)"
        )
    if loss.label_smoothing > 0 and loss.name not in losses.PROBABILISTIC:
        raise ConfigError(
            f"loss.label_smoothing={loss.label_smoothing} with loss.name={loss.name!r}: smoothing "
            f"moves a probability target; use it with {' or '.join(losses.PROBABILISTIC)}"
        )
    _at_least(flat, "loss.lazy_interval", 1)
    _at_least(flat, "loss.pl_weight", 0.0)
    _at_least(flat, "loss.pl_interval", 1)
    _at_least(flat, "loss.pl_batch_shrink", 1)
    if not 0.0 < flat["loss.pl_decay"] <= 1.0:
        raise ConfigError(
            f"loss.pl_decay={flat['loss.pl_decay']!r} is out of range: it must be in (0, 1]"
        )


def _schedule_reads_num_steps(config: dict) -> bool:
    optim = config.get("optim", {})
    return optim.get("schedule", "constant") != "constant" and not optim.get("decay_steps", 0)


def changed_keys(saved: dict, current: ml_collections.ConfigDict) -> list[str]:
    """Keys whose values differ between a saved run's config and this one, except resumable ones."""
    old = flatten(ml_collections.ConfigDict(saved))
    new = flatten(current)
    keys = sorted(set(old) | set(new))
    differ = []
    for key in keys:
        resumable = any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)
        if key == "train.num_steps" and _schedule_reads_num_steps(saved):
            resumable = False  # The learning-rate schedule decays over it.
        if resumable:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            a, b = list(a), list(b)
        if a != b:
            differ.append(f"{key}: {a!r} -> {b!r}")
    return differ


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)
