"""Writes a labelled folder of JPEG pictures cut from the photos that ship inside our packages.

Ten classes, one per photo (scikit-image's astronaut, coffee, chelsea, rocket, hubble, retina,
immunohistochemistry; scikit-learn's china and flower; matplotlib's grace_hopper): each picture
is a random square crop of its photo (side 25% to 60% of the photo's shorter side, mirrored half
the time) resized to --size, saved as JPEG quality 90 in <out>/<class>/<i>.jpg. A stand-in for a
user's folder of pictures, deterministic given --seed, with nothing downloaded.

    python benchmarks/photo_folder.py /tmp/photos --num 2000 --size 64
"""

import argparse
import pathlib

import numpy as np
from PIL import Image


def photos() -> dict[str, np.ndarray]:
    """{class name: uint8 RGB photo}."""
    import matplotlib.cbook
    import skimage.data
    import sklearn.datasets

    out = {
        name: getattr(skimage.data, name)()
        for name in (
            "astronaut",
            "coffee",
            "chelsea",
            "rocket",
            "hubble_deep_field",
            "retina",
            "immunohistochemistry",
        )
    }
    china, flower = sklearn.datasets.load_sample_images().images
    out["china"], out["flower"] = china, flower
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        out["grace_hopper"] = np.asarray(image.convert("RGB"))
    return out


def write(out: pathlib.Path, num: int, size: int, seed: int = 0) -> pathlib.Path:
    """Writes `num` pictures (as evenly over the classes as it divides) and returns `out`."""
    rng = np.random.default_rng(seed)
    sources = photos()
    for c, (name, photo) in enumerate(sorted(sources.items())):
        (out / name).mkdir(parents=True, exist_ok=True)
        height, width = photo.shape[:2]
        for i in range(c, num, len(sources)):
            side = int(min(height, width) * rng.uniform(0.25, 0.6))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            crop = Image.fromarray(photo[top : top + side, left : left + side])
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop = crop.resize((size, size), Image.Resampling.BICUBIC)
            crop.save(out / name / f"{i:05d}.jpg", quality=90)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.num, args.size, args.seed)
    print(f"wrote {args.num} pictures of {args.size}x{args.size} to {args.out}")


if __name__ == "__main__":
    main()
