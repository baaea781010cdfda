"""Side by side translations of held-out sources by several trained runs of a paired recipe.

    python scripts/compare_translations.py --out docs/pix2pix_edges.png \
        experiments/pix2pix_l1.py=/tmp/pix2pix_l1 experiments/pix2pix.py=/tmp/pix2pix

Writes one grid whose rows are held-out examples and whose columns are the source, each run's
output (in the order given) and the target, and prints each run's held-out metrics (the
recipe's evaluation of its latest checkpoint, as `--mode=evaluate` computes it).
"""

import argparse

import jax
import numpy as np

from jaxgan import checkpoint, evaluate, images, recipes, sampling, xla_defaults
from jaxgan import config as config_lib


def main():
    xla_defaults.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="CONFIG=WORKDIR, one per run")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--scale", type=int, default=3, help="pixels per image pixel in the PNG")
    args = parser.parse_args()

    columns, targets = [], None
    for run in args.runs:
        path, workdir = run.split("=", 1)
        config = config_lib.load_config(path)
        recipe, spec = recipes.prepare(config)
        state = checkpoint.restore_state(config, workdir)
        results = evaluate.make_evaluator(config)(state)
        print(
            f"{path} ({workdir}, step {int(state.step)}): "
            + ", ".join(f"{k} {v:.4g}" for k, v in sorted(results.items()))
        )
        inputs = recipe.sample_inputs(config, spec, args.rows, jax.random.PRNGKey(0))
        targets = inputs.pop("x")
        if not columns:
            columns.append(inputs["source"])
        columns.append(sampling.generate(state, config, inputs))
    columns.append(targets)
    tiles = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
    picture = images.grid(tiles, columns=len(columns))
    picture = picture.repeat(args.scale, axis=0).repeat(args.scale, axis=1)  # Nearest neighbour.
    images.save_png(picture, args.out)
    print(f"wrote {args.out}: rows of source, {', '.join(args.runs)}, target")


if __name__ == "__main__":
    main()
