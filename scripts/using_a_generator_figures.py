"""The pictures of docs/using_a_generator.md, from a trained DCGAN (gen_*.png) and a trained
conditional GAN (cgen_*.png: class interpolation, label edits).

    python launch.py --config=experiments/dcgan_plain.py --workdir=/tmp/dcgan
    python launch.py --config=experiments/cgan_projection.py --workdir=/tmp/cgan_projection
    python scripts/using_a_generator_figures.py --dcgan=/tmp/dcgan \
        --cgan=/tmp/cgan_projection --out=docs

Each picture is made by the same functions launch.py's modes call; the projection errors are
printed for the document.
"""

import argparse
import json
import pathlib
import shutil
import tempfile

import numpy as np
from PIL import Image

from jaxgan import generator, generator_modes, images, xla_defaults
from jaxgan.data import embedded_mnist
from jaxgan.metrics import classifier, features


def seeds_of_class(gen, digit: int, count: int) -> list[int]:
    """The first `count` seeds whose images the evaluation classifier reads as `digit`."""
    trained = classifier.load_or_train(features.digit_config(gen.config.data))
    seeds = list(range(200))
    pictures = gen(gen.seed_inputs(seeds))
    _, logits = classifier.predict(trained.params, pictures, trained.num_classes)
    return [s for s, c in zip(seeds, logits.argmax(-1), strict=True) if c == digit][:count]


def upscale(path: pathlib.Path, factor: int = 3) -> None:
    picture = Image.open(path)
    picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST).save(path)


def heldout(cfg, index: int) -> tuple[np.ndarray, int]:
    """A digit of the embedded test split (never seen by the GAN), uint8 [28, 28], and its label."""
    embedded_mnist.prepare(cfg)
    test_images, test_labels = embedded_mnist._load_split(str(embedded_mnist.data_dir(cfg)), "test")
    return np.asarray(test_images[index, ..., 0]), int(test_labels[index])


def figures(workdir: str, out: pathlib.Path, prefix: str, scratch: pathlib.Path) -> dict:
    """Interpolation, truncation sweep, projection, inpainting and a 3 -> 8 edit of one run.
    A conditional G interpolates between classes and is edited through its labels."""
    gen = generator.load_generator(workdir)
    written, facts = [], {f"{prefix}_step": gen.step}
    name = lambda what: out / f"{prefix}_{what}.png"
    classes = list(range(10))
    if gen.conditional:
        written += generator_modes.interpolate(
            workdir, seeds=[5], labels=classes, frames=4, output=name("interpolation")
        )
    else:
        written += generator_modes.interpolate(
            workdir, seeds=[1, 7, 42, 3], frames=8, output=name("interpolation")
        )

    seeds = classes if gen.conditional else list(range(8))
    keys = gen.seed_inputs(seeds, labels=classes) if gen.conditional else gen.seed_inputs(seeds)
    rows = [
        gen({**keys, "z": generator.truncate(keys["z"], psi)})
        for psi in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
    ]
    images.save_png(images.grid(np.concatenate(rows), columns=len(seeds)), name("truncation"))
    written.append(name("truncation"))

    digit, label = heldout(gen.config.data, 0)
    Image.fromarray(digit).save(scratch / "digit.png")
    hole = np.zeros_like(digit)
    hole[:, 14:] = 255  # The right half is missing.
    Image.fromarray(hole).save(scratch / "right_half.png")
    labels = [label] if gen.conditional else None
    for what, mask in (("projection", None), ("inpainting", scratch / "right_half.png")):
        files = generator_modes.project(
            workdir,
            image=scratch / "digit.png",
            mask=mask,
            labels=labels,
            output=scratch / f"{prefix}_{what}.png",
        )
        shutil.copy(files[0], name(what))
        written.append(name(what))
        facts[f"{prefix}_{what}"] = json.loads(files[2].read_text())

    if gen.conditional:
        edit_seeds = [0, 1, 2, 3]
    else:
        edit_seeds = facts[f"{prefix}_seeds_of_3"] = seeds_of_class(gen, 3, 4)
    written += generator_modes.edit(
        workdir, change="3:8", seeds=edit_seeds, strength=2.0, output=name("edit")
    )
    for path in written:
        if path.suffix == ".png":
            upscale(path)
    facts["written"] = [str(p) for p in written]
    return facts


def main():
    xla_defaults.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dcgan", help="workdir of experiments/dcgan_plain.py")
    parser.add_argument("--cgan", help="workdir of a conditional GAN (experiments/cgan_*.py)")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    scratch = pathlib.Path(tempfile.mkdtemp())
    facts = {}
    if args.dcgan:
        facts.update(figures(args.dcgan, out, "gen", scratch))
    if args.cgan:
        facts.update(figures(args.cgan, out, "cgen", scratch))
    print(json.dumps(facts, indent=2))


if __name__ == "__main__":
    main()
