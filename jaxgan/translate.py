"""--mode=translate: a trained translating generator (pix2pix, CycleGAN, super-resolution) on
image files of any size, each written as a PNG of its own size times the network's scale.

    python launch.py --workdir=/tmp/cyclegan --mode=translate --input=my_digits/ \\
        --output=/tmp/translated --direction=ab

Each image is read at its native size with the generator's input channels, converted as the data
pipeline converts (EXIF rotation, gray as luma, gray repeated to RGB, transparency onto white),
mapped to [-1, 1], reflection-padded at its bottom and right to a multiple of the network's
downsampling, translated in inference mode (EMA weights when configured, running BatchNorm
statistics, no dropout; one compile per padded shape) and cropped back.

Tiling bounds the memory of large images: an image with a side over `tile` is cut into cores
that do not overlap, each run inside a `tile`-pixel window that adds `overlap` pixels (rounded up
to a multiple of the downsampling) of real image context on every side where the image has
pixels; only the core of each window's output is kept. At the image border a window sees what
the untiled run sees, and windows start on multiples of the downsampling, so for a fully
convolutional network without global statistics whose receptive-field radius is at most the
overlap (CycleGAN's ResNet with model.g.norm='none' and few blocks) tiling gives the untiled
output exactly. It is an approximation otherwise: instance norm (CycleGAN's default) normalises
each window by its own statistics, and a U-Net's receptive field spans its whole input, so tile
seams may show; raise `tile` (or use tile=0) when memory allows.
"""

import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from PIL import Image

from jaxgan import generator as gen_lib
from jaxgan import images, recipes
from jaxgan.config import ConfigError
from jaxgan.data import DataError, folder_cache, image_folder, transforms
from jaxgan.recipes import common

DIRECTIONS = ("ab", "ba")
DEFAULT_OUTPUT = "translated"  # Under the workdir when --output is not given.


def translate(
    workdir,
    *,
    input,
    output=None,
    direction: str = "ab",
    checkpoint="latest",
    tile: int = 512,
    overlap: int = 32,
) -> list[pathlib.Path]:
    """Translates `input` (an image file, or a folder searched recursively as image_folder
    lists it) with `workdir`'s generator; writes each result as <output>/<relative name>.png
    and returns the written paths. Bad arguments and inputs are refused before any image is
    translated; unreadable files inside a folder are skipped and counted in one warning."""
    _check_arguments(direction, tile, overlap)
    source = pathlib.Path(input).expanduser()
    if not source.exists():
        raise DataError(f"--input={str(input)!r} does not exist: give an image or a folder")
    out_dir = _output_dir(workdir, output)
    gen = gen_lib.load_generator(workdir, checkpoint)
    translator = translator_of(gen, direction)
    check_tiling(translator, tile, overlap)
    jobs, bad = _inputs(source, out_dir, translator)
    total = len(jobs) + len(bad)
    run = make_run(gen, translator)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, name in jobs:
        try:
            pixels = folder_cache.load_pixels(path, translator.channels)
        except DataError as e:
            if source.is_file():
                raise
            bad.append((_relative(path, source), _reason(e)))
            continue
        result = translate_array(
            run, translator, transforms.to_unit_range(pixels), tile=tile, overlap=overlap
        )
        written.append(_write(result, out_dir / name))
    _say_skipped(input, bad, total)
    logging.info("translated %d images (%s) to %s", len(written), translator.player, out_dir)
    return written


# ------------------------------------------------------------------------------ checks


def _check_arguments(direction: str, tile: int, overlap: int) -> None:
    """What can be refused before the checkpoint is read."""
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"--direction={direction!r}: use 'ab' (source domain -> target) or 'ba' (back)"
        )
    if overlap < 0:
        raise ConfigError(f"--overlap={overlap}: give 0 or more pixels of context per tile")
    if tile < 0:
        raise ConfigError(f"--tile={tile}: give a tile side in pixels, or 0 for no tiling")


def translator_of(gen, direction: str = "ab") -> common.Translator:
    """The recipe's Translator for `direction`; ConfigError for a latent recipe's generator."""
    _check_arguments(direction, 0, 0)
    recipe = gen.recipe
    if not hasattr(recipe, "translator"):
        can = [name for name in recipes.RECIPES if hasattr(recipes.get(name), "translator")]
        raise ConfigError(
            f"--mode=translate needs a translating generator; this checkpoint's recipe "
            f"{gen.config.recipe!r} does not map one image file to another (it generates from "
            f"latents, or fills holes it must be told). Recipes that can: {', '.join(can)}"
        )
    translator = recipe.translator(gen.config, gen.spec, direction)
    if translator.channels is None:
        translator = translator._replace(channels=common.source_shape(gen.spec)[-1])
    return translator


def _context(overlap: int, multiple: int) -> int:
    """The overlap rounded up to a multiple of the downsampling, so windows stay aligned."""
    return -(-overlap // multiple) * multiple


def check_tiling(translator: common.Translator, tile: int, overlap: int) -> None:
    """ConfigError unless tile is 0 (off) or a multiple of the downsampling, at least the
    network's minimum side, and wider than twice the (rounded) overlap."""
    _check_arguments("ab", tile, overlap)
    if not tile:
        return
    m, minimum = translator.multiple, _minimum(translator)
    context = _context(overlap, m)
    if tile % m:
        raise ConfigError(
            f"--tile={tile}: give a multiple of {m} (this generator downsamples by {m}), e.g. "
            f"{-(-tile // m) * m}, or 0 for no tiling"
        )
    if tile <= 2 * context:
        raise ConfigError(
            f"--tile={tile} must exceed twice --overlap={overlap} (rounded up to a multiple of "
            f"{m}: {context}) to leave each tile a core: give --tile={2 * context + m} or more, "
            "or a smaller --overlap"
        )
    if tile < minimum:
        raise ConfigError(f"--tile={tile} is below this generator's minimum side {minimum}")


def _minimum(translator: common.Translator) -> int:
    return max(translator.minimum, translator.multiple)


def _check_side(translator: common.Translator, height: int, width: int, what: str) -> None:
    if min(height, width) < _minimum(translator):
        raise DataError(
            f"{what} is {height}x{width} pixels: this generator needs sides of at least "
            f"{_minimum(translator)}"
        )


def _output_dir(workdir, output) -> pathlib.Path:
    default = pathlib.Path(workdir) / DEFAULT_OUTPUT
    out_dir = pathlib.Path(output).expanduser() if output else default
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--output={str(out_dir)!r} is a file: give a folder to write into")
    return out_dir


def _relative(path: pathlib.Path, source: pathlib.Path) -> str:
    return path.relative_to(source).as_posix()


def _reason(error: DataError) -> str:
    cause = error.__cause__
    return f"{type(cause).__name__}: {cause}" if cause else str(error)


def _header_size(path: pathlib.Path) -> tuple[int, int]:
    """(height, width) from the file's header alone (EXIF rotation swaps them, and the minimum
    side does not care); DataError if it is not an image."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as e:  # noqa: BLE001 - any failure makes it a bad file.
        raise DataError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e
    return height, width


def _listing(source: pathlib.Path, out_dir: pathlib.Path) -> list[tuple[pathlib.Path, str]]:
    """[(image path, relative name of its .png)], sorted; a folder as image_folder lists it,
    leaving out what lies in the output folder (earlier translations)."""
    if source.is_file():
        return [(source, source.with_suffix(".png").name)]
    try:
        paths, _ = image_folder.list_images(ml_collections.ConfigDict({"path": str(source)}))
    except DataError:
        paths = []
    inside = out_dir.resolve()
    paths = [p for p in paths if inside not in p.resolve().parents]
    if not paths:
        raise DataError(
            f"--input={str(source)!r} holds no images (looked for "
            f"{', '.join(image_folder.EXTENSIONS)} files, recursively)"
        )
    return [(p, p.relative_to(source).with_suffix(".png").as_posix()) for p in paths]


def _inputs(source: pathlib.Path, out_dir: pathlib.Path, translator) -> tuple[list, list]:
    """(jobs [(path, output name)], unreadable files [(relative path, reason)]) of `source`: every
    readable image's size checked and no two writing the same name."""
    jobs, bad, names = [], [], {}
    for path, name in _listing(source, out_dir):
        if name in names:
            raise DataError(
                f"--input={str(source)!r}: {_relative(names[name], source)} and "
                f"{_relative(path, source)} would both be written as {name}: rename one"
            )
        names[name] = path
        try:
            height, width = _header_size(path)
        except DataError as e:
            if source.is_file():
                raise
            bad.append((_relative(path, source), _reason(e)))
            continue
        _check_side(translator, height, width, f"image {str(path)!r}")
        jobs.append((path, name))
    if not jobs:
        first = bad[0]
        raise DataError(
            f"--input={str(source)!r}: none of its {len(bad)} image files can be read (first: "
            f"{first[0]}: {first[1]})"
        )
    return jobs, bad


def _say_skipped(input, bad: list, total: int) -> None:
    if not bad:
        return
    shown = ", ".join(f"{name} ({why.split(':')[0]})" for name, why in bad[:5])
    logging.warning(
        "--input=%r: %d of %d files cannot be read and are skipped: %s%s",
        str(input),
        len(bad),
        total,
        shown,
        " ..." if len(bad) > 5 else "",
    )


def _write(result: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    pixels = images.to_uint8(result)
    images.save_png(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, path)
    return path


# ------------------------------------------------------------------------------ arrays


def make_run(gen, translator: common.Translator):
    """x [1, H, W, C] in [-1, 1] -> the player's translation, jitted (one compile per shape)."""
    module, player, config, state = translator.module, translator.player, gen.config, gen.state
    apply = jax.jit(
        lambda state, x: jnp.clip(common.translate(module, state, player, config, x), -1.0, 1.0)
    )
    return lambda x: apply(state, jnp.asarray(x, jnp.float32))


def spans(side: int, tile: int, context: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, window start, window end) along one padded side: one window of
    the whole side when it fits in `tile`, else cores of tile - 2 * context, each in a `tile`
    window that reaches `context` past it where the side allows (moved inward at the ends)."""
    if not tile or side <= tile:
        return [(0, side, 0, side)]
    core = tile - 2 * context
    out = []
    for start in range(0, side, core):
        lo = min(max(start - context, 0), side - tile)
        out.append((start, min(start + core, side), lo, lo + tile))
    return out


def translate_array(
    run, translator: common.Translator, image, *, tile: int = 512, overlap: int = 32
) -> np.ndarray:
    """One image [H, W, C] in [-1, 1] -> its translation [H * scale, W * scale, C_out] float32:
    reflection-padded to the downsampling, tiled when a side exceeds `tile` (module doc)."""
    image = np.asarray(image, np.float32)
    height, width = image.shape[:2]
    check_tiling(translator, tile, overlap)
    _check_side(translator, height, width, "the image")
    m, s = translator.multiple, translator.scale
    padded = np.pad(image, ((0, -height % m), (0, -width % m), (0, 0)), mode="reflect")
    context = _context(overlap, m)
    out = None
    for y0, y1, wy0, wy1 in spans(padded.shape[0], tile, context):
        for x0, x1, wx0, wx1 in spans(padded.shape[1], tile, context):
            piece = np.asarray(run(padded[None, wy0:wy1, wx0:wx1]))[0]
            if out is None:
                out = np.empty(
                    (padded.shape[0] * s, padded.shape[1] * s, piece.shape[-1]), np.float32
                )
            out[y0 * s : y1 * s, x0 * s : x1 * s] = piece[
                (y0 - wy0) * s : (y1 - wy0) * s, (x0 - wx0) * s : (x1 - wx0) * s
            ]
    return out[: height * s, : width * s]
