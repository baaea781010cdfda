"""Evaluation of a generator: sample, extract features, compare with cached real-data statistics.

    evaluator = make_evaluator(config)          # once: feature network, reference statistics
    results = evaluator(state)                  # {'fid': .., 'kid': .., 'is': .., ...} floats
    evaluate_workdir(config, workdir, 'best')   # restores, evaluates, writes <workdir>/eval.json

Images: the recipe's generator runs on eval.num_samples fixed inputs (`recipe.eval_inputs`:
latents from PRNGKey(seed) folded with EVAL_RNG_TAG, so every evaluation of a run sees the same
z; or the source images of held-out pairs); its images go through the feature extractor of
eval.features (jaxgan.metrics.features) and are compared with the features of the real data the
recipe names (config.data's split, or the held-out targets): its first min(size,
eval.num_samples) examples of the seed-0 stream, i.e. all of it when it is smaller. Paired
recipes also compare each output with its own target: l1, psnr and ssim (metric 'paired').
Results by metric: fid; kid, kid_std (unbiased MMD^2, 100 subsets of <= 1,000);
is, is_std (10 splits, of the extractor's logits); precision, recall, density, coverage (k =
eval.prdc_k, on equally many real and fake samples); modes, reverse_kl (stacked_mnist: the
digit of each channel from the MNIST classifier); accuracy (conditional generators: the share of
samples that the dataset's classifier puts in the class they were generated for).

Toy 2-D data: mode counting against the mixture's means and std only: modes, high_quality,
reverse_kl (jaxgan.metrics.mode_counting); for toy2d_gaussian its moments only (metric
'moments'): mean_error, cov_error (`mode_counting.moment_errors`).

Reference statistics (mu, sigma and the real features for KID and PRDC) are computed once and
cached as .npz under <cache>/reference_stats/, keyed by dataset, split, image shape, feature
network and version, and sample count. A file whose stored key differs from its name's key, or
that cannot be read, is an error naming the file, never silently reused.
"""

import hashlib
import os
import pathlib
import re
import tempfile

import jax
import ml_collections
import numpy as np

from jaxgan import checkpoint, data, recipes, sampling, writers
from jaxgan import config as config_lib
from jaxgan.data import toy2d
from jaxgan.metrics import (
    classifier,
    frechet,
    inception_score,
    kid,
    mode_counting,
    paired,
    prdc,
    stats,
)
from jaxgan.metrics import features as features_lib

EVAL_RNG_TAG = 0xE7A1  # Keeps evaluation latents apart from the sample grid's and training's.
REFERENCE_SEED = 0  # The real examples compared against are the same for every run.
REFERENCE_VERSION = 1  # Bump when what a reference file holds changes.
LOWER_IS_BETTER = ("fid", "kid", "reverse_kl", "l1", "mean_error", "cov_error")
KID_SUBSETS, KID_SUBSET_SIZE, IS_SPLITS = 100, 1000, 10


def better(primary: str, new: float, old: float | None) -> bool:
    """True when `new` beats `old` on result `primary` (old None: anything finite beats it)."""
    if primary not in config_lib.EVAL_RESULTS:
        raise ValueError(
            f"primary={primary!r} is not an evaluation result: choose one of "
            f"{', '.join(config_lib.EVAL_RESULTS)}"
        )
    if new is None or not np.isfinite(new):
        return False
    if old is None or not np.isfinite(old):
        return True
    return new < old if primary in LOWER_IS_BETTER else new > old


def eval_rng(config: ml_collections.ConfigDict) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(config.seed), EVAL_RNG_TAG)


# ------------------------------------------------------------------------ reference statistics


def reference_key(cfg: ml_collections.ConfigDict, shape: tuple, extractor, num: int) -> str:
    size = "x".join(map(str, shape))
    return f"{data.cache_name(cfg)}-{cfg.split}-{size}-{extractor.key}-n{num}-r{REFERENCE_VERSION}"


def reference_path(config: ml_collections.ConfigDict, key: str) -> pathlib.Path:
    """A file name from the key (unsafe characters of TFDS split slices replaced, plus a hash of
    the exact key so two keys never share a file)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return data.cache_root(config.data) / "reference_stats" / f"{safe}-{digest}.npz"


def reference_statistics(
    config: ml_collections.ConfigDict, shape: tuple, extractor, data_cfg=None
) -> dict:
    """{'mu', 'sigma', 'features'} of the real data (data_cfg, default config.data) under
    `extractor`, cached (see module doc)."""
    data_cfg = config.data if data_cfg is None else data_cfg
    spec = data.describe(data_cfg)
    if tuple(spec.shape) != tuple(shape):
        raise ValueError(f"shape {tuple(shape)} is not the data's shape {tuple(spec.shape)}")
    num = min(spec.num_examples or config.eval.num_samples, config.eval.num_samples)
    key = reference_key(data_cfg, shape, extractor, num)
    path = reference_path(config, key)
    if not path.exists():
        real = _real_features(data_cfg, config.eval.batch_size, extractor, num)
        mu, sigma = stats.feature_stats(real["pool"])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        stats.save_stats(tmp, mu, sigma, features=real["pool"], key=np.str_(key))
        os.replace(tmp, path)  # Atomic: parallel writers write the same content.
    try:
        mu, sigma, meta = stats.load_stats(path)
    except ValueError as e:
        raise data.DataError(f"{e}; delete {path} to recompute it") from e
    stored = str(meta.get("key", ""))
    if stored != key or "features" not in meta:
        raise data.DataError(
            f"reference statistics {path} hold {stored!r}, not {key!r}: delete the file to "
            "recompute it"
        )
    return {"mu": mu, "sigma": sigma, "features": meta["features"], "path": path}


def _real_features(data_cfg, batch_size: int, extractor, num: int) -> dict:
    parts = [
        features_lib.extract(extractor, batch["x"], batch_size)
        for batch in classifier.split_batches(data_cfg, num, batch_size, REFERENCE_SEED)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("pool", "logits")}


# ------------------------------------------------------------------------ metrics


def image_metrics(
    fake: dict, reference: dict, metrics, prdc_k: int = 3, labels=None
) -> dict[str, float]:
    """The results of `metrics` for fake {'pool', 'logits'} against reference {'mu', 'sigma',
    'features'} (see module doc); 'modes' reads the stacked-MNIST joint digit logits and
    'accuracy' the dataset classifier's logits against the requested `labels`."""
    out = {}
    if "fid" in metrics:
        mu, sigma = stats.feature_stats(fake["pool"])
        out["fid"] = frechet.frechet_distance(mu, sigma, reference["mu"], reference["sigma"])
    if "kid" in metrics:
        out["kid"], out["kid_std"] = kid.kid_from_features(
            reference["features"], fake["pool"], KID_SUBSETS, KID_SUBSET_SIZE
        )
    if "is" in metrics:
        splits = min(IS_SPLITS, len(fake["logits"]))
        out["is"], out["is_std"] = inception_score.inception_score(fake["logits"], splits)
    if "prdc" in metrics:
        m = min(len(reference["features"]), len(fake["pool"]))
        out.update(prdc.prdc(reference["features"][:m], fake["pool"][:m], k=prdc_k))
    if "modes" in metrics:
        joint = fake["logits"].argmax(axis=1)
        digits = np.stack([joint // 100, joint // 10 % 10, joint % 10], axis=1)
        counted = mode_counting.count_stacked_modes(digits)
        out["modes"], out["reverse_kl"] = counted["modes_captured"], counted["reverse_kl"]
    if "accuracy" in metrics:
        out["accuracy"] = np.mean(fake["logits"].argmax(axis=1) == np.asarray(labels))
    return {k: float(v) for k, v in out.items()}


def _check_metrics(config: ml_collections.ConfigDict, shape: tuple) -> None:
    metrics, primary = tuple(config.eval.metrics), config.eval.primary
    toy = len(shape) == 1
    gaussian = config.data.name == "toy2d_gaussian"
    if toy and metrics != (("moments",) if gaussian else ("modes",)):
        what, allowed = ("its moments", "moments") if gaussian else ("mode counting", "modes")
        raise config_lib.ConfigError(
            f"eval.metrics={metrics!r}: toy 2-D data ({config.data.name}) is evaluated by "
            f"{what} only; set eval.metrics=('{allowed}',)"
        )
    if not toy and "moments" in metrics:
        raise config_lib.ConfigError(
            f"eval.metrics includes 'moments', which is for toy2d_gaussian (data.name="
            f"{config.data.name!r})"
        )
    if not toy and "modes" in metrics and config.data.name != features_lib.STACKED:
        raise config_lib.ConfigError(
            f"eval.metrics includes 'modes', which needs toy 2-D data or {features_lib.STACKED} "
            f"(data.name={config.data.name!r})"
        )
    if "accuracy" in metrics and config.data.clusters:
        raise config_lib.ConfigError(
            f"eval.metrics includes 'accuracy', the share of samples in the requested class; with "
            f"data.clusters={config.data.clusters} the labels are k-means clusters, not the "
            "classifier's classes: leave 'accuracy' out"
        )
    if not toy and primary == "high_quality":
        raise config_lib.ConfigError(
            "eval.primary='high_quality' exists for toy 2-D data only: use 'modes' or 'reverse_kl'"
        )


# ------------------------------------------------------------------------ evaluators


def make_evaluator(config: ml_collections.ConfigDict):
    """A function state -> results (a flat dict of floats); see the module doc.

    Everything that can fail for a reason other than the state is checked here, before any
    sampling: metrics that do not fit the data, missing Inception weights, an unlabelled dataset
    for 'classifier' features, an unsupported shape. Its `info` attribute holds facts for
    eval.json (feature extractor, sample count, classifier test accuracy).
    """
    recipe, spec = recipes.prepare(config)
    shape = tuple(spec.shape)
    _check_metrics(config, shape)
    e = config.eval
    sampler = sampling.make_sampler(config)
    rng = eval_rng(config)
    inputs, reference_data = recipe.eval_inputs(config, spec, e.num_samples, rng)
    # The reference is the whole split, also when training used only its first
    # data.max_examples: runs on subsets of different sizes are measured against one reference.
    reference_data = reference_data.copy_and_resolve_references()
    reference_data.max_examples = 0
    targets = inputs.pop("x", None)  # Paired recipes: each output's own target.
    if "paired" in e.metrics and targets is None:
        raise config_lib.ConfigError(
            f"eval.metrics includes 'paired', which needs outputs with targets; recipe "
            f"{config.recipe!r} generates from {sorted(inputs)}"
        )
    labels = inputs.get("label")
    if "accuracy" in e.metrics and labels is None:
        raise config_lib.ConfigError(
            "eval.metrics includes 'accuracy', which needs a class-conditional generator "
            f"(model.g={config.model.g.name!r} takes no labels)"
        )
    num_samples = len(jax.tree.leaves(inputs)[0])
    generate = lambda state: sampling.generate(
        state, config, inputs, rng, batch_size=e.batch_size, sampler=sampler
    )
    if config.data.name == "toy2d_gaussian":

        def evaluator(state):
            return mode_counting.moment_errors(
                generate(state), toy2d.GAUSSIAN_MEAN, toy2d.GAUSSIAN_COV
            )

        evaluator.info = {"num_samples": num_samples}
        return evaluator
    if len(shape) == 1:
        means = data.toy_means(config.data)
        _, std, _ = toy2d.params(config.data)

        def evaluator(state):
            counted = mode_counting.count_modes(generate(state), means, std)
            return {
                "modes": float(counted["modes_captured"]),
                "high_quality": counted["high_quality_fraction"],
                "reverse_kl": counted["reverse_kl"],
            }

        evaluator.info = {"num_samples": num_samples, "num_modes": len(means)}
        return evaluator

    metrics = tuple(m for m in dict.fromkeys(e.metrics) if m != "paired")
    # Paired metrics alone need no feature network (photos have no classifier to train).
    extractor = features_lib.make_extractor(config, shape) if metrics else None
    digits, by_class = None, tuple(m for m in metrics if m in ("modes", "accuracy"))
    if by_class and extractor.name != "classifier":  # Classes need the dataset's classifier.
        digits = features_lib.make_extractor(config, shape, "classifier")
        metrics = tuple(m for m in metrics if m not in by_class)
    reference = extractor and reference_statistics(config, shape, extractor, reference_data)
    crop = recipe.paired_crop(config) if hasattr(recipe, "paired_crop") else 0

    def evaluator(state):
        fake, fake_digits, paired_sums = [], [], {}
        chunks = sampling.generate_chunks(
            state, config, inputs, rng, batch_size=e.batch_size, sampler=sampler
        )
        start = 0
        for images in chunks:  # Reduce each chunk to features: no full sample array in memory.
            if extractor is not None:
                fake.append(features_lib.extract(extractor, images, e.batch_size))
            if digits is not None:
                fake_digits.append(features_lib.extract(digits, images, e.batch_size))
            if "paired" in e.metrics:
                part = paired.paired_metrics(
                    images,
                    targets[start : start + len(images)],
                    crop=crop,
                    batch_size=e.batch_size,
                )
                for k, v in part.items():
                    paired_sums[k] = paired_sums.get(k, 0.0) + v * len(images)
            start += len(images)
        results = {}
        if extractor is not None:
            results = image_metrics(_joined(fake), reference, metrics, e.prdc_k, labels)
        if digits is not None:
            results.update(image_metrics(_joined(fake_digits), reference, by_class, labels=labels))
        results.update({k: v / start for k, v in paired_sums.items()})
        return results

    evaluator.info = {"num_samples": num_samples}
    if extractor is not None:
        evaluator.info.update(
            features=extractor.key,
            num_reference=len(reference["features"]),
            **extractor.info,
            **(digits.info if digits is not None else {}),
        )
    return evaluator


def _joined(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def evaluate_workdir(config: ml_collections.ConfigDict, workdir, which: str = "latest") -> dict:
    """Evaluates the latest or best checkpoint of `workdir` and writes <workdir>/eval.json."""
    state = checkpoint.restore_state(config, workdir, which)
    evaluator = make_evaluator(config)
    results = evaluator(state)
    record = {**results, **evaluator.info, "step": int(state.step), "which": which}
    if jax.process_index() == 0:
        writers.write_json(pathlib.Path(workdir) / "eval.json", record)
    return record
