"""Using a trained generator without its training run: load it from a checkpoint, draw samples by
seed, walk its latent space (interpolation, truncation), project images into it (inpainting with
a mask), edit along class directions, and export it for programs that are not jaxgan.

    gen = jaxgan.load_generator("/tmp/dcgan")            # EMA weights; no data, no D needed
    images = gen(gen.seed_inputs([1, 7, 42]))            # float32 [3, H, W, C] in [-1, 1]
"""

import dataclasses
import functools
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config as config_lib
from jaxgan import data, recipes, sampling
from jaxgan.config import ConfigError

CHECKPOINTS = ("latest", "best")
INTERPOLATIONS = ("slerp", "lerp")


@dataclasses.dataclass(frozen=True)
class Generator:
    """A trained generator with its EMA weights bound: `gen(inputs, rng)` -> images in [-1, 1]."""

    config: ml_collections.ConfigDict
    spec: data.DataSpec
    state: object  # The TrainState with G's player and EMA only.
    step: int
    generate: object  # The recipe's jitted generate(state, inputs, rng).

    def __call__(self, inputs: dict, rng=None, *, batch_size: int = 500) -> np.ndarray:
        return sampling.generate(
            self.state, self.config, inputs, rng, batch_size=batch_size, sampler=self.generate
        )

    @property
    def recipe(self):
        return recipes.get(self.config.recipe)

    @property
    def conditional(self) -> bool:
        return "label" in self.inputs(1, jax.random.PRNGKey(0))

    @property
    def latent_dim(self) -> int | None:
        """The latent size of a latent-based generator; None for translation recipes."""
        z = self.inputs(1, jax.random.PRNGKey(0)).get("z")
        return None if z is None else int(z.shape[-1])

    def inputs(self, num: int, rng, **given) -> dict:
        """The recipe's own inputs: `num` rows drawn with rng (given: labels=, source=)."""
        return self.recipe.sample_inputs(self.config, self.spec, num, rng, **given)

    def seed_inputs(self, seeds, labels=None) -> dict:
        """One row per seed: row i is the first sample drawn with PRNGKey(seeds[i]), so seed s
        gives the same image in every command (labels: one, or one per seed)."""
        self.require_latents("seeds")
        labels = _per_seed(labels, len(seeds))
        rows = [
            self.inputs(1, jax.random.PRNGKey(s), **({"labels": [lab]} if lab is not None else {}))
            for s, lab in zip(seeds, labels, strict=True)
        ]
        return {k: jnp.concatenate([r[k] for r in rows]) for k in rows[0]}

    def require_latents(self, what: str) -> None:
        if self.latent_dim is None:
            latent = [r for r in recipes.RECIPES if recipes.get(r).LATENT]
            raise ConfigError(
                f"{what} needs a latent-based generator; this checkpoint's recipe "
                f"{self.config.recipe!r} translates images. Recipes that can: {', '.join(latent)}"
            )


def _per_seed(labels, num: int) -> list:
    if labels is None:
        return [None] * num
    labels = list(labels)
    if len(labels) not in (1, num):
        raise ConfigError(f"--labels gives {len(labels)} classes for {num} seeds: give 1 or {num}")
    return labels * num if len(labels) == 1 else labels


# ------------------------------------------------------------------------------ loading


def load_generator(workdir, checkpoint="latest") -> Generator:
    """The generator of `workdir`'s checkpoint: 'latest', 'best' or a step number.

    The config is the one saved in the checkpoint and the data's shape comes from its record, so
    neither the experiment file nor the dataset is needed; the discriminator is dropped.
    """
    workdir = pathlib.Path(workdir)
    if isinstance(checkpoint, str) and checkpoint.isdigit():
        checkpoint = int(checkpoint)
    if checkpoint in CHECKPOINTS:
        directory = workdir / checkpoint_lib.CHECKPOINT_DIRS[checkpoint]
    elif isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        directory = workdir / checkpoint_lib.CHECKPOINT_DIRS["latest"]
    else:
        raise ConfigError(f"checkpoint={checkpoint!r}: use 'latest', 'best' or a step number")
    if not directory.is_dir():
        raise checkpoint_lib.CheckpointError(f"no checkpoint in {directory}: train first")
    ckpt = checkpoint_lib.Checkpointer(directory, max_to_keep=1_000_000)
    try:
        steps = ckpt.manager.all_steps()
        step = max(steps, default=None) if checkpoint in CHECKPOINTS else checkpoint
        if step not in steps:
            raise checkpoint_lib.CheckpointError(
                f"no checkpoint of step {step} in {directory} (it has {sorted(steps) or 'none'})"
            )
        config = config_lib.from_saved(ckpt.saved_config(step))
        spec = ckpt.saved_spec(step) or recipes.prepare(config)[1]
        recipe = recipes.get(config.recipe)
        init = functools.partial(recipe.init, config, spec)
        abstract = jax.eval_shape(init, jax.random.PRNGKey(config.seed))
        state, _ = ckpt.restore(step, abstract, None)
    finally:
        ckpt.close()
    generators = [name for name in state.players if name.startswith("g")]  # g, or g_ab, g_ba
    kept = state.replace(
        players={k: state.players[k].replace(opt_state=()) for k in generators},
        ema={k: v for k, v in state.ema.items() if k in generators},
    )
    generate = jax.jit(recipe.make_generate(config, spec))
    return Generator(config, spec, kept, int(step), generate)


# ------------------------------------------------------------------------------ latents


def parse_seeds(text: str) -> list[int]:
    """'1,7,42' or '0-99' or '0-3,10' -> the seeds, in order."""
    seeds = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ConfigError(f"--seeds={text!r}: give seeds like 1,7,42 or a range 0-99")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ConfigError(f"--seeds={text!r}: the range {part.strip()} runs backwards")
        seeds.extend(range(first, last + 1))
    return seeds


def lerp(a, b, t):
    """(1 - t) a + t b, row by row."""
    t = jnp.asarray(t, jnp.float32)[..., None]
    return (1.0 - t) * a + t * b


def slerp(a, b, t):
    """Spherical interpolation (Shoemake): along the great circle from a to b, the norm moving
    linearly between theirs, so every point keeps the typical norm of Gaussian latents."""
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    t = jnp.asarray(t, jnp.float32)[..., None]
    na = jnp.linalg.norm(a, axis=-1, keepdims=True)
    nb = jnp.linalg.norm(b, axis=-1, keepdims=True)
    ua, ub = a / jnp.maximum(na, 1e-12), b / jnp.maximum(nb, 1e-12)
    omega = jnp.arccos(jnp.clip(jnp.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0))
    sin = jnp.sin(omega)
    parallel = sin < 1e-6
    safe = jnp.where(parallel, 1.0, sin)
    direction = jnp.where(
        parallel,
        (1.0 - t) * ua + t * ub,
        (jnp.sin((1.0 - t) * omega) * ua + jnp.sin(t * omega) * ub) / safe,
    )
    return direction * ((1.0 - t) * na + t * nb)


def path(points, frames: int, method: str = "slerp"):
    """[K, ...] key points -> [(K - 1) * frames + 1, ...]: `frames` steps between each pair."""
    if method not in INTERPOLATIONS:
        raise ConfigError(f"--interpolation={method!r}: choose one of {', '.join(INTERPOLATIONS)}")
    if frames < 1:
        raise ConfigError(f"--frames={frames}: give at least 1 step between key points")
    points = jnp.asarray(points, jnp.float32)
    flat = points.reshape(len(points), -1)
    ts = jnp.arange(frames, dtype=jnp.float32) / frames
    step = slerp if method == "slerp" else lerp
    segments = [
        step(jnp.broadcast_to(a, (frames, a.size)), jnp.broadcast_to(b, (frames, b.size)), ts)
        for a, b in zip(flat[:-1], flat[1:], strict=True)
    ]
    out = jnp.concatenate([*segments, flat[-1:]])
    return out.reshape((len(out),) + points.shape[1:])


def truncate(z, psi: float, mean=None):
    """mean + psi (z - mean): psi = 1 is the identity, psi = 0 the mean latent (zero for
    Gaussian z), values between trade variety for typical images."""
    z = jnp.asarray(z, jnp.float32)
    mean = jnp.zeros_like(z) if mean is None else jnp.asarray(mean, jnp.float32)
    return mean + psi * (z - mean)


def interpolation_inputs(gen: Generator, keys: dict, frames: int, method: str) -> dict:
    """Inputs along a path through key inputs {'z': [K, D], 'label'?: [K]}: latents by `method`;
    labels of a conditional G as one-hot vectors moving linearly from class to class."""
    gen.require_latents("interpolation")
    inputs = {"z": path(keys["z"], frames, method)}
    if "label" in keys:
        onehot = jax.nn.one_hot(keys["label"], gen.spec.num_classes)
        inputs["label"] = path(onehot, frames, "lerp")
    return inputs


# ------------------------------------------------------------------------------ projection


def digit_features(gen: Generator):
    """images -> the evaluation classifier's 128 features, when the data are the embedded digits
    (its classifier exists offline); else None."""
    cfg = gen.config.data
    digits = cfg.name == "embedded_mnist" or data.embedded_digits(cfg)
    if len(gen.spec.shape) != 3 or gen.spec.shape[-1] != 1 or not digits:
        return None
    from jaxgan.metrics import classifier, features

    trained = classifier.load_or_train(features.digit_config(gen.config.data))
    model = classifier.Classifier(trained.num_classes)
    params = jax.device_put(trained.params)
    return lambda images: model.apply({"params": params}, images)[0]


def project(
    gen: Generator,
    target,
    *,
    mask=None,
    labels=None,
    steps: int = 300,
    restarts: int = 8,
    learning_rate: float = 0.05,
    feature_weight: float = 0.01,
    prior_weight: float = 1e-3,
    seed: int = 0,
) -> dict:
    """The latent whose image best matches `target` [H, W, C] in [-1, 1].

    Minimises the mean squared pixel error over the pixels the mask keeps (mask [H, W] or
    [H, W, C], 1 = ignore: those pixels are filled in by the generator, i.e. inpainted), plus
    `feature_weight` times the squared distance of the evaluation classifier's features where
    the data have one, plus a Gaussian prior on z. Adam from `restarts` random starts at once;
    the best is returned: {'z': [1, D], 'label'?, 'image': [H, W, C], 'mse': error over the kept
    pixels}. Our generators take no noise inputs, so there is no noise to regularise.
    """
    gen.require_latents("projection")
    target = jnp.asarray(target, jnp.float32)
    if target.shape != tuple(gen.spec.shape):
        raise ConfigError(
            f"the image has shape {target.shape}; the generator makes {gen.spec.shape}"
        )
    keep = jnp.ones(target.shape, jnp.float32)
    if mask is not None:
        mask = jnp.asarray(mask, jnp.float32)
        mask = mask[..., None] if mask.ndim == 2 else mask
        keep = jnp.broadcast_to(1.0 - (mask > 0.5), target.shape).astype(jnp.float32)
    start = gen.inputs(restarts, jax.random.PRNGKey(seed))
    fixed = {}
    if "label" in start:
        fixed["label"] = start["label"] if labels is None else jnp.full((restarts,), int(labels[0]))
    features = digit_features(gen) if feature_weight else None
    target_features = None if features is None else features((target * keep)[None])
    generate = gen.generate
    state = gen.state

    def losses(z):
        images = generate(state, {"z": z, **fixed}, jax.random.PRNGKey(0))
        pixel = jnp.sum(keep * (images - target) ** 2, axis=(1, 2, 3)) / jnp.sum(keep)
        total = pixel + prior_weight * jnp.mean(z**2, axis=-1)
        if features is not None:
            f = features(images * keep)
            total = total + feature_weight * jnp.sum((f - target_features) ** 2, axis=-1)
        return total, pixel

    tx = optax.adam(learning_rate)

    @jax.jit
    def run(z):
        def body(carry, _):
            z, opt = carry
            grads = jax.grad(lambda z: jnp.sum(losses(z)[0]))(z)
            updates, opt = tx.update(grads, opt, z)
            return (optax.apply_updates(z, updates), opt), None

        (z, _), _ = jax.lax.scan(body, (z, tx.init(z)), None, length=steps)
        return z, losses(z)

    z, (total, pixel) = run(start["z"])
    best = int(jnp.argmin(total))
    chosen = {"z": z[best : best + 1], **{k: v[best : best + 1] for k, v in fixed.items()}}
    image = gen(chosen)[0]
    return {**chosen, "image": image, "mse": float(pixel[best])}


# ------------------------------------------------------------------------------ editing


def class_directions(gen: Generator, num: int = 2000, seed: int = 0) -> np.ndarray:
    """[C, D]: the mean latent of the samples the evaluation classifier puts in each class; the
    direction from class a to b is row b - row a. Classes with no sample get NaN."""
    gen.require_latents("editing")
    if gen.conditional:
        raise ConfigError("a conditional generator is edited by its --labels, not by directions")
    features = digit_features(gen)
    if features is None:
        raise ConfigError(
            "class directions need the evaluation classifier, which exists for the embedded "
            f"digits only (this generator was trained on {gen.config.data.name!r})"
        )
    from jaxgan.metrics import classifier
    from jaxgan.metrics import features as features_lib

    inputs = gen.inputs(num, jax.random.PRNGKey(seed))
    images = gen(inputs)
    trained = classifier.load_or_train(features_lib.digit_config(gen.config.data))
    _, logits = classifier.predict(trained.params, images, trained.num_classes)
    classes = logits.argmax(-1)
    z = np.asarray(inputs["z"])
    means = np.full((trained.num_classes, z.shape[-1]), np.nan, np.float32)
    for c in range(trained.num_classes):
        if np.any(classes == c):
            means[c] = z[classes == c].mean(0)
    logging.info("class directions from %d samples: %s per class", num, np.bincount(classes))
    return means


def edit_inputs(gen: Generator, start: dict, source: int, target: int, strengths, means=None):
    """Rows of `start` ({'z': [1, D], 'label'?}) moved from class `source` toward `target`, one
    row per strength: z + s (mean_target - mean_source), or for a conditional G the label moving
    from source to target as a one-hot mix (s in [0, 1])."""
    strengths = jnp.asarray(strengths, jnp.float32)
    z = jnp.broadcast_to(start["z"], (len(strengths), start["z"].shape[-1]))
    if gen.conditional:
        onehot = jax.nn.one_hot(jnp.array([source, target]), gen.spec.num_classes)
        return {"z": z, "label": lerp(onehot[:1], onehot[1:], jnp.clip(strengths, 0.0, 1.0))}
    direction = means[target] - means[source]
    if not np.all(np.isfinite(direction)):
        raise ConfigError(f"no sample of class {source} or {target} to take a direction from")
    return {"z": z + strengths[:, None] * direction[None]}


# ------------------------------------------------------------------------------ export

LOADER = '''"""Loads the exported jaxgan generator with JAX alone (no jaxgan, no flax).

    import load
    generate, info = load.load()
    images = generate(z=np.random.default_rng(0).normal(size=(4, info["inputs"][0]["shape"][1])))
"""

import json
import pathlib

import jax
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def load(directory=HERE):
    directory = pathlib.Path(directory)
    exported = jax.export.deserialize(bytearray((directory / "generator.jax_export").read_bytes()))
    info = json.loads((directory / "generator.json").read_text())

    def generate(**inputs):
        """Inputs by name (see generator.json), any batch size -> images in [-1, 1]."""
        args = [np.asarray(inputs[i["name"]], i["dtype"]) for i in info["inputs"]]
        return np.asarray(exported.call(*args))

    return generate, info
'''


def _export_inputs(gen: Generator) -> tuple[list[str], dict]:
    """The generator's input names in call order (latents or sources, then labels) and an
    example batch of them."""
    example = gen.inputs(2, jax.random.PRNGKey(0))
    example.pop("x", None)  # Targets shown in grids; the generator does not read them.
    names = sorted(example, key=lambda n: (n == "label", n))
    return names, example


def export(gen: Generator, directory) -> pathlib.Path:
    """Writes `generator.jax_export` (serialized StableHLO, weights inside, batch dimension
    symbolic), `generator.json` (inputs, output, provenance) and `load.py` to `directory`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names, example = _export_inputs(gen)
    batch = jax.export.symbolic_shape("batch")[0]
    specs = [
        jax.ShapeDtypeStruct((batch,) + tuple(example[n].shape[1:]), example[n].dtype)
        for n in names
    ]
    state = gen.state
    rng = jax.random.PRNGKey(0)

    def generate(*arrays):
        return gen.generate(state, dict(zip(names, arrays, strict=True)), rng)

    exported = jax.export.export(jax.jit(generate))(*specs)
    (directory / "generator.jax_export").write_bytes(exported.serialize())
    info = {
        "recipe": gen.config.recipe,
        "step": gen.step,
        "inputs": [
            {"name": n, "shape": ["batch", *example[n].shape[1:]], "dtype": str(example[n].dtype)}
            for n in names
        ],
        "output": {"shape": ["batch", *gen.spec.shape], "dtype": "float32", "range": [-1, 1]},
        "platforms": list(exported.platforms),
    }
    (directory / "generator.json").write_text(json.dumps(info, indent=2) + "\n")
    (directory / "load.py").write_text(LOADER)
    return directory


def export_onnx(gen: Generator, path) -> pathlib.Path:
    """The generator as an ONNX model (jax2onnx, the 'onnx' extra), inputs named as in
    generator.json, batch dimension symbolic ('B').

    Convolutions are traced in the 'phase' form (model.conv_impl), which computes the same
    function from the same parameters: jax2onnx 0.13, the newest release that installs beside
    orbax-checkpoint 0.12, gives strided transposed convolutions written as lax.conv_transpose
    ('xla') the wrong output shape.
    """
    try:
        from jax2onnx import to_onnx
    except ImportError as e:
        raise ConfigError(
            'ONNX export needs the optional extra: pip install -e ".[onnx]" (jax2onnx, onnxruntime)'
        ) from e
    config = ml_collections.ConfigDict(gen.config.to_dict())
    config.model.conv_impl = "phase"
    generate = gen.recipe.make_generate(config, gen.spec)
    names, example = _export_inputs(gen)
    state = gen.state
    rng = jax.random.PRNGKey(0)

    def fn(*arrays):
        return generate(state, dict(zip(names, arrays, strict=True)), rng)

    batch = jax.export.symbolic_shape("B")[0]
    specs = [
        jax.ShapeDtypeStruct((batch,) + tuple(example[n].shape[1:]), example[n].dtype)
        for n in names
    ]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_onnx(
        fn,
        inputs=specs,
        model_name="jaxgan_generator",
        return_mode="file",
        output_path=str(path),
        input_names=names,
        output_names=["images"],
    )
    return path
