"""The zoo: every image-generation experiment on the embedded digits, trained for the same
wall-clock budget on this machine, evaluated alike, and tabulated in docs/zoo.md.

Each row trains `experiments/<row>.py` in its own process with evaluation off, is stopped by
SIGTERM when the budget is spent (jaxgan checkpoints the step it reached and exits 75), then
evaluates that checkpoint (`--mode=evaluate`: classifier FID, KID, IS, precision, recall, and for
class-conditional generators the share of samples the evaluation classifier puts in the requested
class) and draws a grid of seeds 0-63 (a column per class for conditional ones). Each row's figures
go to docs/zoo.json as it finishes, so rows can be run one at a time (`--rows=dcgan,wgan`) and
the table is regenerated from everything measured so far, with the CPU each row ran on.

    python benchmarks/zoo.py --budget=600 [--rows=dcgan,wgan_gp] [--workdirs=/tmp/zoo]
    python benchmarks/zoo.py --table-only   # docs/zoo.md from docs/zoo.json

`--table=style` does the same for the style-based and progressive generators beside DCGAN at
32x32 (docs/style.md, docs/style.json, docs/style/). A hand-written docs/<page>.notes.md, when
present, follows the table.

The budget counts from process start (compilation included). Run nothing else meanwhile: a row
that shares the cores reaches fewer steps.
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from typing import NamedTuple

from machine import cpu_model  # benchmarks/machine.py, beside this script

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ROWS = (
    "gan_mlp",
    "gan_mlp_leaky",
    "dcgan_plain",
    "dcgan",
    "keras_dcgan",
    "lsgan",
    "wgan",
    "wgan_gp",
    "rpgan_r1r2",
    "hinge_sngan",
    "vae",
    "cgan",
    "cgan_projection",
    "acgan",
    "biggan",
)
STYLE_ROWS = ("dcgan32", "stylegan2", "stylegan2_ada", "progan")
METRICS = ("fid", "kid", "is", "precision", "recall", "accuracy")
EXIT_PREEMPTED = 75


def launch(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, **kwargs)


def train_for(row: str, workdir: pathlib.Path, budget: float) -> dict:
    """Trains the row until the budget is spent (checkpointing where it got); its seconds."""
    log = workdir.with_suffix(".log")
    start = time.monotonic()
    with open(log, "w") as out:
        proc = launch(
            f"--config=experiments/{row}.py",
            f"--workdir={workdir}",
            "--config.eval.every_steps=0",
            "--config.train.num_steps=1000000",
            "--config.train.checkpoint_every_steps=1000000",
            "--config.train.sample_every_steps=1000000",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            code = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=600)
    seconds = time.monotonic() - start
    if code != EXIT_PREEMPTED:
        raise SystemExit(f"{row}: training exited with {code}; see {log}")
    return {"seconds": round(seconds, 1)}


def evaluate(row: str, workdir: pathlib.Path) -> dict:
    log = workdir.with_suffix(".eval.log")
    with open(log, "w") as out:
        args = (f"--config=experiments/{row}.py", f"--workdir={workdir}", "--mode=evaluate")
        code = launch(*args, stdout=out, stderr=subprocess.STDOUT).wait()
    if code:
        raise SystemExit(f"{row}: evaluation exited with {code}; see {log}")
    return json.loads((workdir / "eval.json").read_text())


def draw_grid(workdir: pathlib.Path, out: pathlib.Path) -> None:
    from jaxgan import generator, images

    gen = generator.load_generator(str(workdir))
    seeds = list(range(64))
    if gen.conditional:  # A column per class when that makes two rows or more.
        classes = gen.spec.num_classes
        columns = classes if 2 * classes <= len(seeds) else 8
        seeds = seeds[: (64 // columns) * columns]
        picture = images.grid(
            gen(gen.seed_inputs(seeds, labels=[s % classes for s in seeds])), columns=columns
        )
    else:
        picture = images.grid(gen(gen.seed_inputs(seeds)))
    images.save_png(picture, out)


class Table(NamedTuple):
    rows: tuple
    page: str  # docs/<page>.md, its figures in docs/<page>.json and grids in docs/<page>/.
    title: str
    intro: str  # What the rows have in common; the budget and CPUs are added.


TABLES = {
    "zoo": Table(
        ROWS,
        "zoo",
        "The zoo",
        "Every image-generation experiment on the 5,000 embedded MNIST digits,",
    ),
    "style": Table(
        STYLE_ROWS,
        "style",
        "Style-based and progressive generators",
        "DCGAN, StyleGAN2, StyleGAN2 with ADA on 500 digits (data.max_examples) and ProGAN on "
        "the embedded MNIST digits resized to 32x32, all evaluated against all 4,500 training "
        "digits,",
    ),
}


def run_row(row: str, budget: float, workdirs: pathlib.Path, table: Table) -> dict:
    workdir = workdirs / row
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    trained = train_for(row, workdir, budget)
    record = evaluate(row, workdir)
    grid = DOCS / table.page / f"{row}.png"
    grid.parent.mkdir(exist_ok=True)
    draw_grid(workdir, grid)
    return {
        "command": f"python launch.py --config=experiments/{row}.py --workdir=/tmp/{row}",
        "budget_s": budget,
        "seconds": trained["seconds"],
        "steps": record["step"],
        "metrics": {k: record[k] for k in METRICS if k in record},
        "cpu": cpu_model(),
        "grid": str(grid.relative_to(DOCS)),
    }


def _fmt(value, key) -> str:
    if value is None:
        return "-"
    if key == "accuracy":
        return f"{100 * value:.1f}%"
    if key == "kid":
        return f"{value:.3f}"
    return f"{value:.2f}" if key in ("precision", "recall") else f"{value:.1f}"


def write_table(results: dict, table: Table) -> str:
    head = "| experiment | steps | time (s) | FID | KID | IS | precision | recall | accuracy |"
    lines = [head, "|" + "---|" * 9]
    order = [r for r in table.rows if r in results] + sorted(set(results) - set(table.rows))
    for row in order:
        r = results[row]
        cells = [_fmt(r["metrics"].get(k), k) for k in METRICS]
        lines.append(
            f"| [`{row}`](#{row}) | {r['steps']:,} | {r['seconds']:.0f} | "
            + " | ".join(cells)
            + " |"
        )
    cpus = sorted({r["cpu"] for r in results.values()})
    budgets = sorted({r["budget_s"] for r in results.values()})
    intro = (
        f"{table.intro} trained for the "
        f"same wall-clock budget ({', '.join(f'{b:.0f} s' for b in budgets)}, compilation "
        f"included) on {' / '.join(cpus)}, 2 cores, then evaluated on 10,000 samples against "
        "the training digits with the evaluation classifier's features (FID, KID, precision "
        "and recall with k = 3) and logits (IS; accuracy: the share of a conditional "
        "generator's samples classified as the class asked for). EMA weights where the "
        f"experiment keeps them. Regenerate with `python benchmarks/zoo.py --table={table.page} "
        "--budget=SECONDS` "
        "(one row: `--rows=NAME`)."
    )
    text = [f"# {table.title}", "", textwrap.fill(intro, 96, break_on_hyphens=False), "", *lines]
    text.append("")
    missing = [row for row in table.rows if row not in results]
    if missing:
        text += ["Not measured yet: " + ", ".join(f"`{row}`" for row in missing) + ".", ""]
    notes = DOCS / f"{table.page}.notes.md"  # What the figures show, written by hand.
    if notes.exists():
        text += [notes.read_text().strip(), ""]
    for row in order:
        r = results[row]
        text += [f"### {row}", "", f"`{r['command']}`", "", f"![{row}]({r['grid']})", ""]
    (DOCS / f"{table.page}.md").write_text("\n".join(text))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds of training per row.")
    parser.add_argument("--table", default="zoo", choices=sorted(TABLES))
    parser.add_argument("--rows", default="", help="Comma-separated; default: the table's rows.")
    parser.add_argument("--workdirs", default="/tmp/zoo")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    table = TABLES[args.table]
    store = DOCS / f"{table.page}.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    if not args.table_only:
        rows = [r.strip() for r in (args.rows or ",".join(table.rows)).split(",") if r.strip()]
        unknown = [r for r in rows if not (ROOT / "experiments" / f"{r}.py").exists()]
        if unknown:
            raise SystemExit(f"unknown row(s) {unknown}: experiments/<row>.py must exist")
        for row in rows:
            results[row] = run_row(row, args.budget, pathlib.Path(args.workdirs), table)
            store.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
            print(row, json.dumps(results[row]), flush=True)
    print(write_table(results, table))


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
