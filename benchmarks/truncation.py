"""Truncation sweep of a trained StyleGAN2: classifier FID, precision and recall of samples whose
w is pulled toward the tracked mean w by psi (model.g.psi), for each psi, as a plot and JSON.

    python benchmarks/truncation.py --workdir=/tmp/zoo/stylegan2 \\
        --config=experiments/stylegan2.py --psis=0.5,0.6,0.7,0.8,0.9,1.0 \\
        --plot=docs/stylegan2_truncation.png --json=docs/stylegan2_truncation.json

Each psi evaluates the workdir's latest checkpoint as `--mode=evaluate` does (eval.num_samples
samples, the experiment's evaluation classifier), one compile per psi. Lower psi trades recall
(variety) for precision (typical-looking samples), as in the StyleGAN papers.
"""

import argparse
import json
import os
import pathlib
import time

from machine import cpu_model  # benchmarks/machine.py, beside this script


def sweep(config_path: str, workdir: str, psis: list[float]) -> list[dict]:
    from jaxgan import config as config_lib
    from jaxgan import evaluate

    rows = []
    for psi in psis:
        config = config_lib.load_config(config_path)
        config.model.g.psi = psi
        began = time.perf_counter()
        record = evaluate.evaluate_workdir(config, workdir)
        row = {"psi": psi, **{k: record[k] for k in ("fid", "precision", "recall", "step")}}
        rows.append(row)
        print(json.dumps(row), f"({time.perf_counter() - began:.0f} s)", flush=True)
    return rows


def plot(rows: list[dict], out: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    psis = [r["psi"] for r in rows]
    fig, fid_axis = plt.subplots(figsize=(6, 3.6), dpi=120)
    fid_axis.plot(psis, [r["fid"] for r in rows], "o-", color="black", label="FID")
    fid_axis.set_xlabel("truncation psi")
    fid_axis.set_ylabel("classifier FID")
    share = fid_axis.twinx()
    share.plot(psis, [r["precision"] for r in rows], "s--", color="tab:blue", label="precision")
    share.plot(psis, [r["recall"] for r in rows], "^--", color="tab:red", label="recall")
    share.set_ylabel("precision / recall")
    share.set_ylim(0, 1)
    lines = fid_axis.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    labels = fid_axis.get_legend_handles_labels()[1] + share.get_legend_handles_labels()[1]
    fid_axis.legend(lines, labels, loc="upper center", fontsize=8)
    fid_axis.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--config", default="experiments/stylegan2.py")
    parser.add_argument("--psis", default="0.5,0.6,0.7,0.8,0.9,1.0")
    parser.add_argument("--plot", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    psis = [float(p) for p in args.psis.split(",")]
    rows = sweep(args.config, args.workdir, psis)
    name = pathlib.Path(args.config).stem
    step = rows[0]["step"]
    if args.plot:
        plot(rows, args.plot, f"{name}, step {step:,}: truncation toward the mean w")
    if args.json:
        record = {"experiment": name, "step": step, "cpu": cpu_model(), "rows": rows}
        pathlib.Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
