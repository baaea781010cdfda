"""CycleGAN on the digits: translated 8x8 digits against held-out MNIST, beside the baselines.

For each trained cyclegan run (digits_unpaired) translates the held-out 8x8 digits (A) to MNIST
(B) and scores them as training's evaluation does: classifier FID against the held-out MNIST
digits, and how often the MNIST classifier reads a translated digit as the class it had. Two
rows frame the figures: the 8x8 digits untranslated (only upscaled and padded, what G starts
from) and real MNIST training digits (the floor a perfect translation approaches). Prints a
markdown table; with --picture draws rows of (8x8 digit, each run's translation).

    python benchmarks/cyclegan_digits.py --runs=CycleGAN:/tmp/cyclegan \\
        --picture=docs/cyclegan_digits.png
"""

import argparse
import pathlib

import jax
import numpy as np
from PIL import Image

from jaxgan import evaluate, images, load_generator
from jaxgan.metrics import classifier
from jaxgan.metrics import features as features_lib
from jaxgan.recipes import common, cyclegan


def scores(config, extractor, reference, x, labels) -> dict:
    found = features_lib.extract(extractor, x, config.eval.batch_size)
    return evaluate.image_metrics(found, reference, ("fid", "accuracy"), labels=labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="LABEL:WORKDIR,... of trained cyclegan runs")
    parser.add_argument("--num", type=int, default=500, help="held-out 8x8 digits to translate")
    parser.add_argument("--picture", default="", help="write 8x8 digit / translations here")
    parser.add_argument("--shown", type=int, default=40, help="digits in the picture")
    args = parser.parse_args()
    runs = [tuple(item.split(":", 1)) for item in args.runs.split(",")]
    gens = {label: load_generator(workdir) for label, workdir in runs}
    for (_, workdir), gen in zip(runs, gens.values(), strict=True):
        if gen.config.recipe != "cyclegan" or gen.config.data.name != "digits_unpaired":
            raise SystemExit(f"{workdir} is not a cyclegan run on digits_unpaired")
    first = next(iter(gens.values()))
    config, shape = first.config, tuple(first.spec.shape)
    extractor = features_lib.make_extractor(config, shape, "classifier")
    held_out = common.split_data(config, config.cyclegan.eval_split)
    reference = evaluate.reference_statistics(config, shape, extractor, held_out)
    inputs = cyclegan.held_out_sources(config, args.num)
    labels = inputs["label"]
    real = next(classifier.split_batches(common.split_data(config, "train"), args.num, args.num, 1))

    print(f"held-out 8x8 digits translated to MNIST ({len(labels)}), against held-out MNIST")
    print("| images | steps | classifier FID | class kept |")
    print("|---|---|---|---|")
    found = scores(config, extractor, reference, inputs["source"], labels)
    print(f"| 8x8 digits, untranslated | | {found['fid']:.2f} | {found['accuracy']:.1%} |")
    translated = {}
    for label, gen in gens.items():
        translated[label] = gen({"source": inputs["source"]}, jax.random.PRNGKey(0))
        found = scores(config, extractor, reference, translated[label], labels)
        print(f"| {label} | {gen.step} | {found['fid']:.2f} | {found['accuracy']:.1%} |")
    found = scores(config, extractor, reference, real["x"], real["label"])
    print(f"| real MNIST training digits | | {found['fid']:.2f} | {found['accuracy']:.1%} |")
    if args.picture:
        n = args.shown
        columns = [inputs["source"][:n], *(t[:n] for t in translated.values())]
        pairs = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
        picture = images.grid(pairs, columns=8 * len(columns))  # 8 digits a row.
        pathlib.Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(args.picture)
        print(f"pairs of (8x8 digit, {', '.join(translated)}) -> {args.picture}")


if __name__ == "__main__":
    main()
