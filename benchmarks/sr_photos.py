"""Super-resolution on whole held-out photos: bicubic against trained SR generators.

Each held-out photo of data.name='photos' (chelsea, coffee, flower), cropped to a multiple of
the scale, is downscaled as training downscales (bicubic, antialiased, 8-bit) and upscaled back
by bicubic interpolation and by each workdir's generator, whole (no tiles). PSNR and SSIM on
the luma channel with `scale` pixels of border cropped (jaxgan.metrics.paired), per photo and
their mean, and a sharpness figure: the energy of the luma's gradient relative to the
original's (1: as much fine detail as the photo; blur lowers it, invented texture raises it);
a markdown table on stdout and, with --picture, one crop of each photo side by side (low
resolution, bicubic, each model, original).

    python benchmarks/sr_photos.py --runs=L1:/tmp/sr_l1,ESRGAN-style:/tmp/sr_gan \\
        --picture=docs/sr_photos.png
"""

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np
from PIL import Image
from scipy import ndimage

from jaxgan import images, load_generator, translate
from jaxgan.data import photos
from jaxgan.metrics import paired
from jaxgan.recipes import sr

CROPS = {"chelsea": (56, 152), "coffee": (88, 200), "flower": (152, 296)}  # (top, left) shown.
SHOWN = 96


def window(image, top: int, left: int, side: int):
    return image[top : top + side, left : left + side]


def detail(image, crop: int) -> float:
    """Mean squared gradient (Sobel) of the luma (ITU-R BT.601) inside the border."""
    y = paired.to_luma(jnp.asarray((image[None] + 1) / 2))[0, crop:-crop, crop:-crop, 0]
    y = np.asarray(y, np.float64)
    return float(np.mean(ndimage.sobel(y, 0) ** 2 + ndimage.sobel(y, 1) ** 2))


def held_out(scale: int) -> dict:
    """{photo name: [-1, 1] float32 [H, W, 3], sides cropped to multiples of scale}."""
    out = {}
    for name in photos.SPLITS["test"]:
        image = photos.photo(name)
        h, w = image.shape[0] // scale * scale, image.shape[1] // scale * scale
        out[name] = image[:h, :w].astype(np.float32) / 127.5 - 1
    return out


def upscalers(runs: list[tuple[str, str]]) -> tuple[int, dict]:
    """(scale, {label: low-resolution [h, w, 3] -> [-1, 1] image}) for bicubic and each run."""
    scales, found = set(), {}
    for label, workdir in runs:
        gen = load_generator(workdir)
        found_t = gen.recipe.translator(gen.config, gen.spec, "ab")
        run = translate.make_run(gen, found_t)
        found[label] = lambda lr, run=run, t=found_t: translate.translate_array(run, t, lr, tile=0)
        scales.add(found_t.scale)
    if len(scales) != 1:
        raise SystemExit(f"the runs upscale by different factors {sorted(scales)}")
    (scale,) = scales
    bicubic = lambda lr: np.asarray(sr.bicubic(jnp.asarray(lr[None]), scale))[0]
    return scale, {"bicubic": bicubic, **found}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="LABEL:WORKDIR,... of trained sr runs")
    parser.add_argument("--picture", default="", help="write the side-by-side crops here")
    args = parser.parse_args()
    runs = [tuple(item.split(":", 1)) for item in args.runs.split(",")]
    scale, methods = upscalers(runs)
    table = {label: {} for label in methods}
    rows = []
    for name, x in held_out(scale).items():
        lr = np.asarray(sr.downscale(jnp.asarray(x[None]), scale))[0]
        outs = {label: up(lr) for label, up in methods.items()}
        original = detail(x, scale)
        for label, out in outs.items():
            table[label][name] = paired.paired_metrics(out[None], x[None], crop=scale)
            table[label][name]["detail"] = detail(out, scale) / original
        top, left = CROPS[name]
        small = window(lr, top // scale, left // scale, SHOWN // scale)
        shown = [window(im, top, left, SHOWN) for im in (*outs.values(), x)]
        rows.append([small.repeat(scale, 0).repeat(scale, 1), *shown])
    names = list(photos.SPLITS["test"])
    print(f"x{scale} on whole held-out photos; PSNR (dB) / SSIM, Y channel, {scale}-px border")
    print("| method | " + " | ".join(names) + " | mean PSNR | mean SSIM | detail |")
    print("|---" * (len(names) + 4) + "|")
    for label, per in table.items():
        cells = [f"{per[n]['psnr']:.2f} / {per[n]['ssim']:.4f}" for n in names]
        psnr = np.mean([per[n]["psnr"] for n in names])
        ssim = np.mean([per[n]["ssim"] for n in names])
        sharp = np.mean([per[n]["detail"] for n in names])
        print(f"| {label} | " + " | ".join(cells) + f" | {psnr:.2f} | {ssim:.4f} | {sharp:.2f} |")
    if args.picture:
        tiles = np.stack([t for row in rows for t in row])
        picture = images.grid(tiles, columns=len(rows[0]))
        pathlib.Path(args.picture).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(args.picture)
        print(f"columns: low resolution, {', '.join(methods)}, original -> {args.picture}")


if __name__ == "__main__":
    main()
