"""Inpainting on held-out images: PSNR and L1 in the hole of trained inpaint runs.

Each run fills the evaluation's fixed holes in the first --num held-out images (the holes its
training evaluation used); prints a markdown table of hole L1 (on [-1, 1]) and hole PSNR (data
range 1, over every hole pixel of every image) per run, beside the classic baseline that fills
each hole with its image's mean known colour, and with --picture draws rows of (image with its
hole, each run's fill, original).

    python benchmarks/inpaint.py --runs=L1:/tmp/inpaint_l1,GAN:/tmp/inpaint \\
        --picture=docs/inpaint_digits.png
"""

import argparse
import pathlib

import jax
import numpy as np
from PIL import Image

from jaxgan import images, load_generator
from jaxgan.recipes import inpaint


def mean_fill(inputs) -> np.ndarray:
    """Each image with its hole filled by the mean of its known pixels, per channel."""
    source = np.asarray(inputs["source"], np.float64)
    known = 1 - (source[..., -1:] + 1) / 2
    mean = np.sum(source[..., :-1] * known, (1, 2), keepdims=True) / np.sum(
        known, (1, 2), keepdims=True
    )
    return source[..., :-1] * known + mean * (1 - known)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="LABEL:WORKDIR,... of trained inpaint runs")
    parser.add_argument("--num", type=int, default=500, help="held-out images to fill")
    parser.add_argument("--picture", default="", help="write masked / filled / original here")
    parser.add_argument(
        "--shown", type=int, default=8, help="rows in the picture, spread over the held-out images"
    )
    args = parser.parse_args()
    runs = [tuple(item.split(":", 1)) for item in args.runs.split(",")]
    filled = {}
    for label, workdir in runs:
        gen = load_generator(workdir)
        if gen.config.recipe != "inpaint":
            raise SystemExit(f"{workdir} is a {gen.config.recipe!r} run, not 'inpaint'")
        inputs = inpaint.held_out_pairs(gen.config, args.num)
        if not filled:  # The first run: the header, and the baseline on the same images.
            print(f"{len(inputs['x'])} held-out images with the evaluation's holes")
            print("| run | steps | hole L1 | hole PSNR (dB) |")
            print("|---|---|---|---|")
            found = inpaint.hole_metrics(inputs, mean_fill(inputs))
            print(f"| mean known colour | | {found['hole_l1']:.4f} | {found['hole_psnr']:.2f} |")
        filled[label] = gen(inputs, jax.random.PRNGKey(0))
        found = inpaint.hole_metrics(inputs, filled[label])
        print(f"| {label} | {gen.step} | {found['hole_l1']:.4f} | {found['hole_psnr']:.2f} |")
    if args.picture:
        shown = np.linspace(0, len(inputs["x"]) - 1, args.shown).round().astype(int)
        source = inputs["source"][shown]
        hole = np.clip(source[..., :-1] + (source[..., -1:] + 1) / 2, -1, 1)
        columns = [hole, *(f[shown] for f in filled.values()), inputs["x"][shown]]
        tiles = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
        picture = images.grid(tiles, columns=len(columns))
        pathlib.Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(args.picture)
        print(f"columns: hole, {', '.join(filled)}, original -> {args.picture}")


if __name__ == "__main__":
    main()
