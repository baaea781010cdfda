"""The pictures of docs/using_a_generator.md, from a trained DCGAN (and, given --cgan, from a
trained conditional GAN: class interpolation and label edits).

    python launch.py --config=experiments/dcgan.py --workdir=/tmp/dcgan
    python scripts/using_a_generator_figures.py --dcgan=/tmp/dcgan --out=docs

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


def heldout_digit(cfg, index: int) -> np.ndarray:
    """A digit of the embedded test split (never seen by the GAN), uint8 [28, 28]."""
    embedded_mnist.prepare(cfg)
    test_images, _ = embedded_mnist._load_split(str(embedded_mnist.data_dir(cfg)), "test")
    return np.asarray(test_images[index, ..., 0])


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


def main():
    xla_defaults.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dcgan", required=True, help="workdir of experiments/dcgan.py")
    parser.add_argument("--cgan", help="workdir of a conditional GAN (experiments/cgan.py)")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    scratch = pathlib.Path(tempfile.mkdtemp())
    written = []

    written += generator_modes.interpolate(
        args.dcgan, seeds=[1, 7, 42, 3], frames=8, output=out / "gen_interpolation.png"
    )

    gen = generator.load_generator(args.dcgan)
    seeds = list(range(8))
    rows = [
        gen({"z": generator.truncate(gen.seed_inputs(seeds)["z"], psi)})
        for psi in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
    ]
    images.save_png(images.grid(np.concatenate(rows), columns=8), out / "gen_truncation.png")
    written.append(out / "gen_truncation.png")

    digit = heldout_digit(gen.config.data, 0)
    Image.fromarray(digit).save(scratch / "digit.png")
    hole = np.zeros_like(digit)
    hole[:, 14:] = 255  # The right half is missing.
    Image.fromarray(hole).save(scratch / "right_half.png")
    errors = {}
    for name, mask in (("projection", None), ("inpainting", scratch / "right_half.png")):
        files = generator_modes.project(
            args.dcgan, image=scratch / "digit.png", mask=mask, output=scratch / f"{name}.png"
        )
        shutil.copy(files[0], out / f"gen_{name}.png")
        written.append(out / f"gen_{name}.png")
        errors[name] = json.loads(files[2].read_text())

    threes = seeds_of_class(gen, 3, 4)
    written += generator_modes.edit(
        args.dcgan, change="3:8", seeds=threes, strength=2.0, output=out / "gen_edit.png"
    )
    if args.cgan:
        written += generator_modes.interpolate(
            args.cgan, seeds=[5], labels=list(range(10)), frames=4, output=out / "gen_classes.png"
        )
        written += generator_modes.edit(
            args.cgan, change="3:8", seeds=[0, 1, 2, 3], output=out / "gen_cgan_edit.png"
        )
    for path in written:
        if path.suffix == ".png":
            upscale(path)
    print(json.dumps({"dcgan_step": gen.step, "heldout_seeds_of_3": threes, **errors}, indent=2))
    print("\n".join(str(p) for p in written))


if __name__ == "__main__":
    main()
