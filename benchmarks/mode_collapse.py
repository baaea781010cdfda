"""Mode collapse, measured the way the papers measure it, beside their published rows.

Each row runs `launch.py --mode=seeds` (S seeds of one config trained as one vmapped program,
each evaluated) and records mean and standard error over the seeds, the wall-clock time of the
whole command on this machine, and the samples of its worst seed (fewest modes; a scatter over
the mixture's means, or a grid of Stacked-MNIST samples) in docs/mode_collapse/<row>.png. Rows go to
docs/mode_collapse.json as they finish, so they can be run a few at a time; docs/mode_collapse.md
is rewritten from everything measured so far.

    python benchmarks/mode_collapse.py                      # every row
    python benchmarks/mode_collapse.py --rows=ring_gan,ring_best [--seeds=10]
    python benchmarks/mode_collapse.py --table-only

Run nothing else meanwhile: the runtimes are part of the table.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from machine import cpu_model  # benchmarks/machine.py, beside this script

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MC2D = "experiments/mode_collapse_2d.py"
STACKED = "experiments/stacked_mnist.py"
# row -> (config, seeds, extra overrides)
ROWS = {
    **{
        f"{mixture}_{method}": (f"{MC2D}:{mixture},{method}", 10, ())
        for mixture in ("ring", "grid")
        for method in ("gan", "pacgan2", "pacgan3", "pacgan4", "unrolled", "best")
    },
    "gaussian": ("experiments/gaussian2d.py", 10, ()),
    "stacked_dcgan": (f"{STACKED}:dcgan", 1, ("--config.eval.every_steps=0",)),
    "stacked_pacdcgan2": (f"{STACKED}:pacdcgan2", 1, ("--config.eval.every_steps=0",)),
    "stacked_best": (f"{STACKED}:best", 1, ("--config.eval.every_steps=0",)),
    "stacked_real": (STACKED, 0, ()),  # No training: the real digits, counted alike.
}
# Published rows, as the issue quotes them (PacGAN Tables 1 and 2, VEEGAN Table 1, ProGAN, R3GAN):
# modes, high-quality share (%), reverse KL; 10 seeds where the paper used them.
PUBLISHED = {
    "ring": [
        ("GAN (PacGAN Table 1)", 6.3, 98.2, 0.45),
        ("PacGAN4", 7.8, 95.9, 0.07),
        ("Unrolled GAN (VEEGAN Table 1)", 7.6, 35.6, None),
    ],
    "grid": [
        ("GAN (PacGAN Table 1)", 17.3, 94.8, 0.70),
        ("PacGAN4", 24.8, 93.6, 0.04),
    ],
    "stacked": [
        ("DCGAN (PacGAN Table 2)", 78.9, None, 4.50),
        ("PacDCGAN2", 1000.0, None, 0.06),
        ("ProGAN: minibatch std (857 modes without it)", 881.0, None, None),
        ("RpGAN + R1 + R2 (R3GAN)", 1000.0, None, 0.078),
    ],
}


def worst_seed(record: dict) -> int:
    """The seed whose picture a row shows: the fewest modes captured, then the lowest
    high-quality share (the first seed where there is no mode count)."""
    score = lambda r: (r.get("modes", 0.0), r.get("high_quality", 0.0))
    results = list(zip(record["seeds"], record["results"], strict=True))
    return min(results, key=lambda pair: score(pair[1]))[0]


def real_stacked_row() -> dict:
    """The mode count of 26,000 real Stacked-MNIST digits (train split) read by the same
    classifier: the floor that sampling noise and the classifier's errors set for the KL."""
    import numpy as np

    from jaxgan import config as config_lib
    from jaxgan import data, evaluate
    from jaxgan.metrics import features

    start = time.perf_counter()
    config = config_lib.load_config(str(ROOT / STACKED))
    extractor = features.make_extractor(config, tuple(data.describe(config.data).shape))
    batches = data.make_iterator(config.data, global_batch_size=1000, seed=1, augmented=False)
    parts = [features.extract(extractor, next(batches)["x"], 500) for _ in range(26)]
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    counted = evaluate.image_metrics(joined, None, ("modes",))
    return {
        "config": STACKED,
        "seeds": 0,
        "num_steps": 0,
        "wall_seconds": time.perf_counter() - start,
        "summary": {k: {"mean": v, "stderr": 0.0} for k, v in counted.items()},
        "cpu": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run_row(row: str, seeds: int | None, workdirs: pathlib.Path) -> dict:
    if row == "stacked_real":
        return real_stacked_row()
    config, default_seeds, extra = ROWS[row]
    workdir = workdirs / row
    shutil.rmtree(workdir, ignore_errors=True)
    command = [
        sys.executable,
        str(ROOT / "launch.py"),
        f"--config={ROOT / config}",
        f"--workdir={workdir}",
        "--mode=seeds",
        f"--num_seeds={seeds or default_seeds}",
        *extra,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    record = json.loads((workdir / "seeds.json").read_text())
    (DOCS / "mode_collapse").mkdir(parents=True, exist_ok=True)
    shown = worst_seed(record)
    shutil.copy(workdir / "seeds" / f"seed_{shown}.png", DOCS / "mode_collapse" / f"{row}.png")
    return {
        "config": config,
        "seeds": len(record["seeds"]),
        "num_steps": record["num_steps"],
        "train_seconds": record["seconds"],
        "wall_seconds": wall,
        "summary": record["summary"],
        "per_seed": record["results"],
        "cpu": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _pm(summary: dict, key: str, scale: float = 1.0, digits: int = 1) -> str:
    if key not in summary:
        return ""
    s = summary[key]
    return f"{s['mean'] * scale:.{digits}f} ± {s['stderr'] * scale:.{digits}f}"


def _published(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_table(results: dict) -> str:
    lines = [
        "# Mode collapse",
        "",
        "Generated by `python benchmarks/mode_collapse.py` from `docs/mode_collapse.json`. Each "
        "of our rows is `launch.py --mode=seeds` on the row's config (see "
        "`experiments/mode_collapse_2d.py` and `experiments/stacked_mnist.py` for the settings): "
        "mean ± standard error over the seeds; time is the whole command (compilation, every "
        "seed's training as one vmapped program, evaluation) on the CPU named below the table. "
        "The 2-D rows use the protocol of `experiments/mode_collapse_2d.py` (smaller nets than "
        "PacGAN's and Adam 1e-3 decaying to 0 over the second half of the run, so that 10 seeds "
        "train in minutes on 2 CPU cores; the file says why), not PacGAN's exact setting. The "
        "grid's best row trains a wider G (3 x 512) and D (2 x 256) for 30,000 steps.",
        "",
        "2-D mixtures (2,500 samples per seed): a sample is high quality within 3 std of its "
        "nearest mean, a mode is captured when one high-quality sample is nearest to it, reverse "
        "KL is KL(high-quality histogram over modes || uniform).",
    ]
    for mixture, modes in (("ring", 8), ("grid", 25)):
        lines += [
            "",
            f"## {mixture.capitalize()} ({modes} modes)",
            "",
            "| row | modes | high quality (%) | reverse KL | seeds | steps | time (min) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, m, hq, kl in PUBLISHED[mixture]:
            lines.append(
                f"| published: {name} | {m} | {_published(hq)} | {_published(kl, 2)} | 10 | | |"
            )
        for row, r in results.items():
            if not row.startswith(mixture + "_"):
                continue
            s = r["summary"]
            lines.append(
                f"| ours: {row.split('_', 1)[1]} | {_pm(s, 'modes')} | "
                f"{_pm(s, 'high_quality', 100.0)} | {_pm(s, 'reverse_kl', digits=3)} | "
                f"{r['seeds']} | {r['num_steps']} | {r['wall_seconds'] / 60:.1f} |"
            )
        shown = [row for row in results if row.startswith(mixture + "_")]
        if shown:
            lines += ["", " ".join(f"![{row}](mode_collapse/{row}.png)" for row in shown)]
    lines += [
        "",
        "## Stacked MNIST (1,000 modes, 26,000 samples, each channel read by the evaluation "
        "classifier)",
        "",
        "| row | modes | reverse KL | seeds | steps | time (min) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, m, _, kl in PUBLISHED["stacked"]:
        lines.append(f"| published: {name} | {m:.1f} | {_published(kl, 2)} | | | |")
    for row, r in results.items():
        if row.startswith("stacked_"):
            s = r["summary"]
            real = row == "stacked_real"
            name = "real digits (no training)" if real else f"ours: {row.split('_', 1)[1]}"
            trained = "| |" if real else f"{r['seeds']} | {r['num_steps']} |"
            lines.append(
                f"| {name} | {_pm(s, 'modes')} | {_pm(s, 'reverse_kl', digits=2)} | "
                f"{trained} {r['wall_seconds'] / 60:.1f} |"
            )
    stacked = [row for row in results if row.startswith("stacked_") and row != "stacked_real"]
    if stacked:
        lines += [
            "",
            "Our rows train `experiments/stacked_mnist.py`: the DCGAN of `experiments/dcgan.py` "
            "at width 64 (BatchNorm in D), batch 64 (PacDCGAN2: 64 packs of 2), non-saturating "
            "loss, Adam 2e-4 / 0.5, 20,000 steps; 'best' adds minibatch standard deviation "
            "(groups of 4) to the packed D. The published DCGAN row is not a run of this "
            "config: PacGAN follows VEEGAN's networks and training length, and a DCGAN that "
            "collapses there need not collapse here. The real-digits row is the floor of the "
            "count: 26,000 real stacked digits read by the same classifier (sampling noise and "
            "its errors). Pictures: a sample grid of each row.",
            "",
            " ".join(f"![{row}](mode_collapse/{row}.png)" for row in stacked),
        ]
    if "gaussian" in results:
        r = results["gaussian"]
        s = r["summary"]
        lines += [
            "",
            "## One Gaussian with a full covariance",
            "",
            "`experiments/gaussian2d.py`: |mean - mu| and |cov - Sigma|_F / |Sigma|_F over "
            "10,000 samples per seed.",
            "",
            "| mean error | covariance error (relative) | seeds | steps | time (min) |",
            "| --- | --- | --- | --- | --- |",
            f"| {_pm(s, 'mean_error', digits=3)} | {_pm(s, 'cov_error', digits=3)} | "
            f"{r['seeds']} | {r['num_steps']} | {r['wall_seconds'] / 60:.1f} |",
            "",
            "![gaussian](mode_collapse/gaussian.png)",
        ]
    cpus = sorted({r["cpu"] for r in results.values()})
    lines += ["", f"CPU: {', '.join(cpus) or 'none yet'} ({os.cpu_count()} cores here)."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    parser.add_argument("--seeds", type=int, default=None, help="override every row's seeds")
    parser.add_argument("--workdirs", default="/tmp/jaxgan_mode_collapse")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    store = DOCS / "mode_collapse.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    if not args.table_only:
        rows = [r for r in args.rows.split(",") if r]
        unknown = [r for r in rows if r not in ROWS]
        if unknown:
            sys.exit(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")
        for row in rows:
            results[row] = run_row(row, args.seeds, pathlib.Path(args.workdirs))
            store.write_text(json.dumps(results, indent=2) + "\n")
            (DOCS / "mode_collapse.md").write_text(write_table(results))
            s = results[row]["summary"]
            print(row, {k: round(v["mean"], 3) for k, v in s.items()}, flush=True)
    ordered = {row: results[row] for row in ROWS if row in results}
    (DOCS / "mode_collapse.md").write_text(write_table(ordered))
    print(f"wrote {DOCS / 'mode_collapse.md'}")


if __name__ == "__main__":
    main()
