"""--mode=translate: a trained translating generator on files and folders of any size, tiling
that matches the untiled output, refusals of bad input, and the launch.py command."""

import jax
import numpy as np
import pytest
from PIL import Image

import jaxgan
from jaxgan import checkpoint, data, images, recipes
from jaxgan import config as config_lib
from jaxgan import generator as gen_lib
from jaxgan import translate as tr
from jaxgan.config import ConfigError
from jaxgan.data import DataError, folder_cache, transforms
from jaxgan.recipes import common, cyclegan, pix2pix

from conftest import ROOT, run_launch


def smoke(name: str):
    return config_lib.load_config(str(ROOT / "experiments" / f"{name}.py"), "smoke")


def lively(params, seed: int):
    """Weights of unit gain (kernels N(0, 1 / fan_in), biases N(0, 0.1^2)): the init's 0.02 makes
    a norm-free G output about 1e-6 everywhere, against which tiling errors would not show."""
    rng = np.random.default_rng(seed)
    leaves, tree = jax.tree.flatten(params)
    scale = lambda leaf: 1 / np.sqrt(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else 0.1
    new = [rng.normal(0, scale(leaf), leaf.shape).astype(np.float32) for leaf in leaves]
    return jax.tree.unflatten(tree, new)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, cache_dir):
    """A CycleGAN workdir (smoke, model.g.norm='none': tiling is then exact) whose step-0
    checkpoint holds lively generators; no training step is needed to translate."""
    config = smoke("cyclegan")
    config.model.g.norm = "none"
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    players = {
        name: player.replace(params=lively(player.params, seed)) if name.startswith("g") else player
        for seed, (name, player) in enumerate(state.players.items())
    }
    path = tmp_path_factory.mktemp("translate") / "run"
    saver = checkpoint.Checkpointer(
        path / "checkpoints", max_to_keep=1, data_identity=data.identity(config.data)
    )
    saver.save(0, state.replace(players=players), jaxgan.make_iterator(config), config)
    saver.wait()
    saver.close()
    return path


@pytest.fixture(scope="module")
def gen(workdir):
    return jaxgan.load_generator(workdir)


def gray(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), np.uint8)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_a_file_translates_as_inside_a_folder_at_its_own_odd_size(workdir, gen, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(gray(37, 50)).save(folder / "x.png")
    rgb = np.random.default_rng(1).integers(0, 256, (30, 41, 3), np.uint8)
    Image.fromarray(rgb).save(folder / "sub" / "y.bmp")  # Converted to gray as the data are.
    (folder / "notes.txt").write_text("not an image")
    out = folder / "out"  # Inside the input: a second run must not translate its own outputs.
    for _ in range(2):
        written = tr.translate(workdir, input=folder, output=out)
        assert [p.relative_to(out).as_posix() for p in written] == ["sub/y.png", "x.png"]
    assert read(out / "x.png").shape == (37, 50) and read(out / "sub" / "y.png").shape == (30, 41)
    (alone,) = tr.translate(workdir, input=folder / "x.png", output=tmp_path / "one")
    assert alone.name == "x.png"
    np.testing.assert_array_equal(read(alone), read(out / "x.png"))

    translator = tr.translator_of(gen, "ab")
    run = tr.make_run(gen, translator)
    pixels = folder_cache.load_pixels(folder / "sub" / "y.bmp", translator.channels)
    assert pixels.shape == (30, 41, 1)
    want = tr.translate_array(run, translator, transforms.to_unit_range(pixels))
    assert want.shape == (30, 41, 1) and want.std() > 0.01
    np.testing.assert_array_equal(read(out / "sub" / "y.png"), images.to_uint8(want)[..., 0])


def test_tiles_give_the_untiled_output_and_ba_is_the_other_generator(gen):
    translator = tr.translator_of(gen, "ab")
    assert translator[1:] == ("g_ab", 4, 1, 8, 1)  # num_down 2: sides of 4k, at least 8.
    run = tr.make_run(gen, translator)
    image = np.random.default_rng(0).uniform(-1, 1, (150, 131, 1)).astype(np.float32)
    whole = tr.translate_array(run, translator, image, tile=0)
    assert whole.shape == (150, 131, 1) and whole.std() > 0.01
    # The smoke G's receptive field reaches 21 pixels: an overlap of 24 leaves nothing to see.
    assert len(tr.spans(152, 96, 24)) == 4 and len(tr.spans(132, 96, 24)) == 3
    tiled = tr.translate_array(run, translator, image, tile=96, overlap=24)
    np.testing.assert_allclose(tiled, whole, atol=1e-6, rtol=0)
    short = tr.translate_array(run, translator, image, tile=64, overlap=4)
    assert np.abs(short - whole).max() > 1e-3  # Too little context shows: the check has teeth.

    back = tr.translator_of(gen, "ba")
    assert back.player == "g_ba" and back.module is not translator.module
    fits = image[:148, :128]  # Sides of 4k: no padding, so G_BA's own output.
    reverse = tr.translate_array(tr.make_run(gen, back), back, fits, tile=0)
    direct = common.translate(back.module, gen.state, "g_ba", gen.config, fits[None])[0]
    np.testing.assert_allclose(reverse, direct, atol=1e-6)
    assert np.abs(reverse - whole[:148, :128]).max() > 0.1


def test_tile_windows_cover_every_core_aligned_with_their_context():
    for side, tile, context in ((152, 96, 24), (200, 64, 8), (64, 32, 0), (40, 64, 8)):
        covered = np.zeros(side, int)
        for start, end, lo, hi in tr.spans(side, tile, context):
            covered[start:end] += 1
            assert lo % 4 == 0 and hi - lo == min(tile, side) and lo >= 0 and hi <= side
            assert lo <= max(start - context, 0) and hi >= min(end + context, side)
        assert (covered == 1).all()


def test_a_scaling_network_is_padded_tiled_and_cropped_at_its_scale():
    """Super-resolution's shape: a 3x nearest-neighbour upsampler that needs sides of 4k."""

    def run(x):
        assert x.shape[1] % 4 == 0 and x.shape[2] % 4 == 0
        return np.repeat(np.repeat(x, 3, axis=1), 3, axis=2)

    translator = common.Translator(module=None, player="g", multiple=4, scale=3)
    image = np.random.default_rng(0).uniform(-1, 1, (45, 30, 3)).astype(np.float32)
    want = np.repeat(np.repeat(image, 3, axis=0), 3, axis=1)
    for tile, overlap in ((0, 0), (16, 4), (12, 0)):
        got = tr.translate_array(run, translator, image, tile=tile, overlap=overlap)
        np.testing.assert_array_equal(got, want)


def test_pix2pix_translates_any_multiple_of_its_trained_depth():
    config = smoke("pix2pix")
    config.model.g.depth = 0  # log2 of the trained side 32: 5, kept for any input.
    _, spec = recipes.prepare(config)
    translator = pix2pix.translator(config, spec, "ab")
    assert (translator.player, translator.multiple, translator.minimum) == ("g", 32, 32)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    gen = gen_lib.Generator(config, spec, state, 0, None)
    image = np.zeros((40, 70, 1), np.float32)  # Padded to 64 x 96, where depth 0 means 5 still.
    assert tr.translate_array(tr.make_run(gen, translator), translator, image).shape == (40, 70, 1)
    with pytest.raises(ConfigError, match="--direction='ba': pix2pix has one generator"):
        pix2pix.translator(config, spec, "ba")
    with pytest.raises(ConfigError, match="--direction='x'"):
        cyclegan.translator(smoke("cyclegan"), spec, "x")


def test_a_latent_generator_is_refused_naming_the_recipes_that_translate():
    gen = gen_lib.Generator(smoke("dcgan"), None, None, 0, None)
    with pytest.raises(
        ConfigError, match="recipe 'gan' does not map .* can: pix2pix, cyclegan, sr"
    ):
        tr.translator_of(gen)


@pytest.mark.parametrize(
    "kwargs, error, needle",
    [
        (dict(input="none"), DataError, "--input='{tmp}/none' does not exist"),
        (dict(input="empty"), DataError, "--input='{tmp}/empty' holds no images"),
        (dict(input="small"), DataError, "small/tiny.png' is 6x9 pixels: this generator needs"),
        (dict(input="one/a.png", direction="xy"), ConfigError, "--direction='xy'"),
        (dict(input="one/a.png", overlap=-1), ConfigError, "--overlap=-1"),
        (dict(input="one/a.png", tile=50), ConfigError, "--tile=50: give a multiple of 4"),
        (dict(input="one/a.png", tile=64), ConfigError, "--tile=64 must exceed twice --overlap"),
        (dict(input="one/a.png", output="one/a.png"), ConfigError, "a.png' is a file: give a"),
        (dict(input="twins"), DataError, "a.jpg and a.png would both be written as a.png"),
        (dict(input="corrupt/bad.png"), DataError, "cannot read image file {tmp}/corrupt/bad"),
    ],
)
def test_bad_input_is_refused_before_any_work_naming_the_value(
    workdir, tmp_path, kwargs, error, needle
):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here")
    for folder, files in {
        "small": {"ok.png": gray(20, 20), "tiny.png": gray(6, 9)},
        "one": {"a.png": gray(16, 16)},
        "twins": {"a.png": gray(16, 16), "a.jpg": gray(16, 16)},
    }.items():
        (tmp_path / folder).mkdir()
        for name, pixels in files.items():
            Image.fromarray(pixels).save(tmp_path / folder / name)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "bad.png").write_bytes(b"\x89PNG not really")
    kwargs = {k: str(tmp_path / v) if k in ("input", "output") else v for k, v in kwargs.items()}
    kwargs.setdefault("output", str(tmp_path / "out"))
    with pytest.raises(error) as raised:
        tr.translate(workdir, **kwargs)
    assert needle.format(tmp=tmp_path) in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()  # Nothing was written, not even the folder.


def test_corrupt_files_in_a_folder_are_skipped_and_counted(workdir, tmp_path, caplog):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(gray(16, 20)).save(folder / "good.png")
    (folder / "sub" / "zero.jpg").write_bytes(b"")
    Image.fromarray(gray(16, 20)).save(folder / "cut.png")
    (folder / "cut.png").write_bytes((folder / "cut.png").read_bytes()[:60])  # Header only.
    with caplog.at_level("WARNING"):
        written = tr.translate(workdir, input=folder, output=tmp_path / "out")
    assert [p.name for p in written] == ["good.png"]
    warnings = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 3 files cannot be read and are skipped" in warnings[0]
    assert "sub/zero.jpg" in warnings[0] and "cut.png" in warnings[0]


def test_launch_translates_a_folder_from_the_workdir_alone(workdir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gray(44, 30)).save(folder / "a.png")
    Image.fromarray(gray(12, 16, seed=1)).save(folder / "b.png")
    done = run_launch(
        f"--workdir={workdir}",
        "--mode=translate",
        f"--input={folder}",
        f"--output={tmp_path / 'out'}",
        "--direction=ba",
        "--tile=32",
        "--overlap=8",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"wrote 2 translated images to {tmp_path / 'out'}" in done.stdout
    want = tr.translate(
        workdir, input=folder, output=tmp_path / "api", direction="ba", tile=32, overlap=8
    )
    for path in want:
        np.testing.assert_array_equal(read(tmp_path / "out" / path.name), read(path))
