"""launch.py's modes that use a trained generator from its checkpoint alone (no experiment file,
no dataset): interpolate, project, edit, export, plot. Each writes files and returns their paths.
"""

import json
import pathlib

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
from absl import logging
from PIL import Image

from jaxgan import curves, data, images
from jaxgan import generator as gen_lib
from jaxgan.config import ConfigError


def _output(workdir, output, default: str) -> pathlib.Path:
    path = pathlib.Path(output) if output else pathlib.Path(workdir) / default
    if path.is_dir() and path.suffix:
        raise ConfigError(f"--output={str(path)!r} is a directory: give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile


def _key_inputs(gen, seeds, labels, latents, truncation: float) -> dict:
    """Key points: the latents of --latents .npy files (projections), then those of --seeds;
    labels (conditional G) one per key point or one for all; all truncated."""
    parts = []
    if latents:
        z = np.concatenate(
            [np.asarray(np.load(p), np.float32).reshape(-1, gen.latent_dim) for p in latents]
        )
        parts.append({"z": jnp.asarray(z)})
    if seeds:
        parts.append(gen.seed_inputs(seeds))
    if not parts:
        raise ConfigError("give key points: --seeds=1,7,42 and/or --latents=a.npy,b.npy")
    keys = {"z": gen_lib.truncate(jnp.concatenate([p["z"] for p in parts]), truncation)}
    if gen.conditional:
        keys["label"] = jnp.asarray(gen_lib._per_seed(labels or [0], len(keys["z"])), jnp.int32)
    elif labels:
        raise ConfigError("--labels given, but this generator is not conditional")
    return keys


def interpolate(
    workdir,
    *,
    seeds=(0, 1, 2, 3),
    labels=None,
    latents=None,
    frames: int = 8,
    method: str = "slerp",
    truncation: float = 1.0,
    output=None,
    checkpoint="latest",
) -> list[pathlib.Path]:
    """A strip per segment between key latents (seeds, projected latents, or for a conditional
    G the same seed through --labels classes) as a PNG grid, and an animated GIF that runs there
    and back."""
    gen = gen_lib.load_generator(workdir, checkpoint)
    gen.require_latents("--mode=interpolate")
    if gen.conditional and labels and len(labels) > 1 and seeds and len(seeds) == 1:
        seeds = list(seeds) * len(labels)  # One seed through several classes.
    keys = _key_inputs(gen, seeds, labels, latents, truncation)
    if len(keys["z"]) < 2:
        raise ConfigError("interpolation needs at least 2 key points: give --seeds=1,7 or more")
    inputs = gen_lib.interpolation_inputs(gen, keys, frames, method)
    pictures = gen(inputs)
    rows = [pictures[i * frames : i * frames + frames + 1] for i in range(len(keys["z"]) - 1)]
    grid = images.grid(np.concatenate([_pad_row(r, frames + 1) for r in rows]), columns=frames + 1)
    png = _output(workdir, output, "interpolation.png").with_suffix(".png")
    images.save_png(grid, png)
    frames_out = [_rgb(p) for p in images.to_uint8(pictures)]
    gif = png.with_suffix(".gif")
    scale = max(1, 128 // pictures.shape[1])
    big = [np.kron(f, np.ones((scale, scale, 1), np.uint8)) for f in frames_out]
    iio.imwrite(gif, big + big[-2:0:-1], duration=80, loop=0)
    logging.info("interpolation of %d key points: %s and %s", len(keys["z"]), png, gif)
    return [png, gif]


def _pad_row(row: np.ndarray, width: int) -> np.ndarray:
    if len(row) == width:
        return row
    return np.concatenate([row, np.zeros((width - len(row),) + row.shape[1:], row.dtype)])


def _load_target(path, shape) -> np.ndarray:
    """The image at `path` fitted to the generator's shape, with a notice when it changes."""
    try:
        with Image.open(path) as image:
            native = (image.size[1], image.size[0], 1 if image.mode in ("1", "L", "I", "F") else 3)
    except (OSError, ValueError) as e:
        raise data.DataError(f"--image={str(path)!r} cannot be read: {e}") from e
    if native != tuple(shape):
        logging.warning(
            "--image=%s is %dx%d with %d channel(s): center-cropped, resized and converted to %s",
            path,
            native[0],
            native[1],
            native[2],
            tuple(shape),
        )
    return data.load_images(path, shape)[0]


def project(
    workdir,
    *,
    image,
    mask=None,
    labels=None,
    steps: int = 300,
    output=None,
    checkpoint="latest",
) -> list[pathlib.Path]:
    """Finds the latent of --image (with --mask: white pixels are a hole to fill); writes
    <output>.png (target, masked target, reconstruction, |error|), <output>.npy (the latent, for
    --mode=interpolate/edit --latents=) and <output>.json (errors)."""
    gen = gen_lib.load_generator(workdir, checkpoint)
    gen.require_latents("--mode=project")
    shape = tuple(gen.spec.shape)
    target = _load_target(image, shape)
    hole = None
    if mask is not None:
        hole = (_load_target(mask, shape[:2] + (1,))[..., 0] > 0.0).astype(np.float32)
    result = gen_lib.project(gen, target, mask=hole, labels=labels, steps=steps)
    keep = 1.0 if hole is None else (1.0 - hole)[..., None]
    shown = [target, target * keep + (1.0 - keep) * -1.0, result["image"]]
    error = np.abs(np.asarray(result["image"]) - target) - 1.0  # [0, 2] shown as [-1, 1].
    tiles = np.stack(shown + [error])
    stem = _output(workdir, output, "projection/projection.png").with_suffix("")
    png = stem.with_suffix(".png")
    images.save_png(images.grid(tiles, columns=4), png)
    np.save(stem.with_suffix(".npy"), np.asarray(result["z"]))
    mse_all = float(np.mean((np.asarray(result["image"]) - target) ** 2))
    record = {
        "image": str(image),
        "mask": None if mask is None else str(mask),
        "step": gen.step,
        "mse_kept_pixels": result["mse"],
        "mse_all_pixels": mse_all,
        "psnr_kept_pixels_db": float(10 * np.log10(4.0 / max(result["mse"], 1e-12))),
    }
    if "label" in result:
        record["label"] = int(result["label"][0])
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    logging.info("projection: MSE %.4g over the kept pixels; %s", result["mse"], png)
    return [png, stem.with_suffix(".npy"), stem.with_suffix(".json")]


def edit(
    workdir,
    *,
    change: str,
    seeds=(0,),
    labels=None,
    latents=None,
    strength: float = 1.5,
    truncation: float = 1.0,
    output=None,
    checkpoint="latest",
) -> list[pathlib.Path]:
    """Moves each key latent from class a to class b (--edit=a:b) in 7 steps of strength 0 ..
    --strength: along the class-mean direction, or for a conditional G by its label."""
    gen = gen_lib.load_generator(workdir, checkpoint)
    gen.require_latents("--mode=edit")
    try:
        source, target = (int(c) for c in change.split(":"))
    except ValueError:
        raise ConfigError(f"--edit={change!r}: give two classes as FROM:TO, e.g. 3:8") from None
    classes = gen.spec.num_classes or 0
    for c in (source, target):
        if not 0 <= c < classes:
            raise ConfigError(f"--edit={change!r}: classes run from 0 to {classes - 1}")
    keys = _key_inputs(
        gen, seeds, labels or ([source] if gen.conditional else None), latents, truncation
    )
    means = None if gen.conditional else gen_lib.class_directions(gen)
    top = min(strength, 1.0) if gen.conditional else strength
    strengths = np.linspace(0.0, top, 7)
    rows = []
    for i in range(len(keys["z"])):
        start = {k: v[i : i + 1] for k, v in keys.items()}
        rows.append(gen(gen_lib.edit_inputs(gen, start, source, target, strengths, means)))
    png = _output(workdir, output, "edit.png").with_suffix(".png")
    images.save_png(images.grid(np.concatenate(rows), columns=len(strengths)), png)
    logging.info("edit %d -> %d, strengths %s: %s", source, target, strengths.round(2), png)
    return [png]


def export(workdir, *, output=None, checkpoint="latest", onnx: bool = False) -> list[pathlib.Path]:
    """The generator as a jax.export artifact with its loader (see generator.export); with
    onnx=True also generator.onnx (the 'onnx' extra)."""
    gen = gen_lib.load_generator(workdir, checkpoint)
    directory = pathlib.Path(output) if output else pathlib.Path(workdir) / "export"
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--output={str(directory)!r} is a file: give a directory to export to")
    gen_lib.export(gen, directory)
    written = [directory / n for n in ("generator.jax_export", "generator.json", "load.py")]
    if onnx:
        written.append(gen_lib.export_onnx(gen, directory / "generator.onnx"))
    logging.info("exported the generator of step %d to %s", gen.step, directory)
    return written


def plot(workdir, *, output=None) -> list[pathlib.Path]:
    metrics = pathlib.Path(workdir) / "metrics.jsonl"
    if not metrics.exists():
        raise ConfigError(f"no metrics in {metrics}: train first")
    return [curves.plot(workdir, _output(workdir, output, "curves.png"))]


MODES = {
    "interpolate": interpolate,
    "project": project,
    "edit": edit,
    "export": export,
    "plot": plot,
}


def sample_seeds(
    workdir, *, seeds, labels=None, truncation=1.0, checkpoint="latest", batch_size=500
) -> np.ndarray:
    """--mode=sample with --seeds or --truncation: one image per seed (the same image for a seed
    in every mode), latents pulled toward the mean by psi = truncation."""
    gen = gen_lib.load_generator(workdir, checkpoint)
    gen.require_latents("--seeds and --truncation")
    if seeds is None:
        seeds = list(range(100))
    inputs = _key_inputs(gen, seeds, labels, None, truncation)
    return gen(inputs, batch_size=batch_size)
