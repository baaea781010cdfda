"""Times one evaluation of 10,000 28x28 samples: sampling, classifier features, the metrics.

  python benchmarks/evaluation.py                      # random DCGAN of experiments/dcgan_plain.py
  python benchmarks/evaluation.py --workdir=/tmp/dcgan # its latest checkpoint
  python benchmarks/evaluation.py --config=experiments/folder.py --data_path=/tmp/photos \
      --num_samples=50000 --peak_only                  # peak memory of 50k samples at 64x64x3

Prints the one-time setup (classifier load or training, reference statistics) and a breakdown
of a warm evaluation (compiled functions, cached references): what a training run pays at each
eval.every_steps. Set JAXGAN_CACHE_DIR to time a cold cache. `--peak_only` skips the breakdown
(which holds every sample to time the stages apart) and prints the process's peak resident
memory over setup and one whole evaluation, beside what the samples alone would take as one
float32 array.
"""

import argparse
import resource
import time

import jax
import numpy as np

from jaxgan import checkpoint, evaluate, malloc_settings, recipes, sampling, xla_defaults
from jaxgan import config as config_lib
from jaxgan.metrics import classifier, features


def timed(label, fn, times):
    began = time.perf_counter()
    out = fn()  # Numpy results: the work is done when it returns.
    times[label] = time.perf_counter() - began
    return out


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py.
    xla_defaults.apply()  # The same XLA flags as launch.py.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/dcgan_plain.py")
    parser.add_argument("--workdir", default="", help="evaluate this run's latest checkpoint")
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--data_path", default="", help="data.path (experiments/folder.py)")
    parser.add_argument("--peak_only", action="store_true", help="peak memory, no breakdown")
    args = parser.parse_args()

    config = config_lib.load_config(args.config)
    config.eval.num_samples = args.num_samples
    config.eval.features = "classifier"
    if args.data_path:
        config.data.path = args.data_path
    _, spec = recipes.prepare(config)
    shape = tuple(spec.shape)
    setup = {}
    cached = classifier.cache_path(config.data).exists()
    timed(
        "classifier " + ("load (cached)" if cached else "training"),
        lambda: classifier.load_or_train(config.data),
        setup,
    )
    evaluator = timed(
        "make_evaluator (reference stats, compile)",
        lambda: evaluate.make_evaluator(config),
        setup,
    )
    if args.workdir:
        train_state = checkpoint.restore_state(config, args.workdir)
    else:
        train_state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    timed("first evaluation (compiles)", lambda: evaluator(train_state), setup)
    print(f"setup on {jax.devices()[0].platform}, {args.num_samples} samples of {shape}:")
    for label, seconds in setup.items():
        print(f"  {label:45s} {seconds:7.2f} s")
    if args.peak_only:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        array = args.num_samples * int(np.prod(shape)) * 4 / 2**30
        print(
            f"peak resident memory {peak:.2f} GiB over setup and one evaluation of "
            f"{args.num_samples} samples of {shape} (the samples as one float32 array: "
            f"{array:.2f} GiB)"
        )
        return

    e = config.eval
    extractor = features.make_extractor(config, shape)
    reference = evaluate.reference_statistics(config, shape, extractor)
    sampler = sampling.make_sampler(config)
    rng = evaluate.eval_rng(config)
    recipe, _ = recipes.prepare(config)
    inputs, _ = recipe.eval_inputs(config, spec, e.num_samples, rng)
    inputs.pop("x", None)
    first = jax.tree.map(lambda v: v[: e.batch_size], inputs)
    warmup = sampling.generate(train_state, config, first, rng, sampler=sampler)
    features.extract(extractor, warmup, e.batch_size)  # Compiles both for one batch shape.
    warm = {}
    images = timed(
        "sampling",
        lambda: sampling.generate(
            train_state,
            config,
            inputs,
            rng,
            batch_size=e.batch_size,
            sampler=sampler,
        ),
        warm,
    )
    fake = timed(
        "classifier features", lambda: features.extract(extractor, images, e.batch_size), warm
    )
    for metric in e.metrics:
        timed(
            metric, lambda m=metric: evaluate.image_metrics(fake, reference, (m,), e.prdc_k), warm
        )
    results = timed("whole evaluator(state)", lambda: evaluator(train_state), warm)
    print("warm evaluation:")
    for label, seconds in warm.items():
        print(f"  {label:45s} {seconds:7.2f} s")
    print("results:", {k: round(v, 4) for k, v in results.items()})


if __name__ == "__main__":
    main()
