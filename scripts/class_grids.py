"""Class grids of trained conditional GANs for the README: per run, seeds 0-59 with labels cycling
0-9 (a column per class), panels side by side in the order given.

    python scripts/class_grids.py --out=docs/conditional_digits.png \\
        /tmp/cgan /tmp/acgan /tmp/cgan_projection
"""

import argparse

import numpy as np

from jaxgan import generator, images, xla_defaults

ROWS = 6


def class_grid(workdir: str) -> np.ndarray:
    gen = generator.load_generator(workdir)
    classes = gen.spec.num_classes
    if not gen.conditional:
        raise SystemExit(f"{workdir}: the generator is not class-conditional")
    seeds = list(range(ROWS * classes))
    labels = [s % classes for s in seeds]
    return images.grid(gen(gen.seed_inputs(seeds, labels=labels)), columns=classes)


def main():
    xla_defaults.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("workdirs", nargs="+")
    args = parser.parse_args()
    panels = [class_grid(w) for w in args.workdirs]
    gap = np.full((panels[0].shape[0], 12, 3), 255, np.uint8)
    row = [p for panel in panels for p in (panel, gap)][:-1]
    images.save_png(np.concatenate(row, axis=1), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
