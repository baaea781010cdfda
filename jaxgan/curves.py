"""A picture of a run's metrics.jsonl: losses, D's outputs and evaluation results over steps."""

import pathlib

import numpy as np

from jaxgan import writers

PANELS = (
    ("losses", ("d_loss", "g_loss", "l1", "loss", "recon", "kl")),  # GANs, pix2pix, VAE.
    ("discriminator outputs", ("D_x", "D_G_z")),
)


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    steps, values = zip(*points, strict=True) if points else ((), ())
    return np.asarray(steps), np.asarray(values, np.float64)


def plot(workdir, output=None) -> pathlib.Path:
    """Writes <workdir>/curves.png (or `output`): one panel for the losses, one for D's outputs,
    one per evaluation result; steps that were not applied (finite = 0) are marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    workdir = pathlib.Path(workdir)
    rows = writers.read_rows(workdir / "metrics.jsonl")
    if not rows:
        raise FileNotFoundError(f"no metrics in {workdir / 'metrics.jsonl'}: train first")
    evals = sorted({k for r in rows for k in r if k.startswith("eval/")})
    panels = [(title, [k for k in keys if any(k in r for r in rows)]) for title, keys in PANELS]
    panels = [p for p in panels if p[1]] + [(k.removeprefix("eval/"), [k]) for k in evals]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    skipped = [r["step"] for r in rows if r.get("finite") == 0.0]
    for ax, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            steps, values = _series(rows, key)
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
        for step in skipped:
            ax.axvline(step, color="red", alpha=0.2)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    output = pathlib.Path(output) if output else workdir / "curves.png"
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
