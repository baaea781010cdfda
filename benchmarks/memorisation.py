"""Does a generator of the embedded digits copy its training digits? Nearest neighbours in pixels.

A generator that memorised its 4,500 training digits would score a low FID against them by
reproducing them. For each of --num samples (labels, if any, drawn with the data's class or
cluster frequencies, as evaluation draws them) this finds the nearest training digit (L2 over
pixels in [-1, 1]); the 500 held-out test digits, real digits the generator never saw, give the
distances a new digit has to its nearest training digit. The script prints, per workdir, the
median distance of samples against that of held-out digits, and the share of samples closer to
a training digit than 99% of held-out digits are (about 1% for a generator that makes new digits
as far from the training set as real ones; near 100% for one that copies). `--picture` draws the
eight samples closest to the training set, each above its nearest training digit.

    python benchmarks/memorisation.py --runs=dcgan:/tmp/zoo/dcgan,cgan:/tmp/zoo/cgan \
        [--num=2000] [--picture=docs/zoo/nearest.png]
"""

import argparse

import jax
import numpy as np

from jaxgan import data, images
from jaxgan.generator import load_generator
from jaxgan.metrics import classifier


def split(name: str) -> np.ndarray:
    cfg = data.default_config()
    cfg.split = name
    num = data.describe(cfg).num_examples
    return np.concatenate([b["x"] for b in classifier.split_batches(cfg, num, 500)])


def nearest(queries: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest training image, L2 over pixels."""
    q, t = queries.reshape(len(queries), -1), train.reshape(len(train), -1)
    squared = (q**2).sum(1)[:, None] - 2 * q @ t.T + (t**2).sum(1)[None, :]
    index = squared.argmin(1)
    return np.sqrt(np.maximum(squared[np.arange(len(q)), index], 0)), index


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="NAME:WORKDIR,... of embedded-digit runs")
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--picture", help="PNG: each run's closest samples over their neighbours")
    args = parser.parse_args()
    train, test = split("train"), split("test")
    held_out, _ = nearest(test, train)
    threshold = np.quantile(held_out, 0.01)
    print(
        f"held-out digits: median distance to the nearest training digit {np.median(held_out):.2f}"
        f" (1st percentile {threshold:.2f})"
    )
    rows = []
    for item in args.runs.split(","):
        name, workdir = item.split(":", 1)
        gen = load_generator(workdir)
        inputs, _ = gen.recipe.eval_inputs(gen.config, gen.spec, args.num, jax.random.PRNGKey(1))
        samples = np.asarray(gen(inputs))
        distance, index = nearest(samples, train)
        closer = float(np.mean(distance < threshold))
        print(
            f"{name} (step {gen.step}): median distance {np.median(distance):.2f} "
            f"({np.median(distance) / np.median(held_out):.2f} of held-out digits'); "
            f"{100 * closer:.1f}% of samples closer than 99% of held-out digits"
        )
        closest = np.argsort(distance)[:8]
        rows += [samples[closest], train[index[closest]]]
    if args.picture:
        images.save_png(images.grid(np.concatenate(rows), columns=8), args.picture)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
