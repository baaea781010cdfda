"""Using a trained generator: loading, seeds, interpolation, truncation, projection, editing,
export, and launch.py's modes for them."""

import json
import textwrap

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxgan
from jaxgan import checkpoint, curves, images, train
from jaxgan import generator as gen_lib
from jaxgan.config import ConfigError

from conftest import ROOT, run_launch, run_python


def _trained(tmp_path_factory, experiment: str):
    """An experiment's smoke variant trained in-process (4 steps, checkpoints at 2 and 4)."""
    workdir = tmp_path_factory.mktemp(experiment) / "run"
    config = jaxgan.load_config(str(ROOT / "experiments" / f"{experiment}.py"), "smoke")
    train.train_and_evaluate(config, workdir)
    return workdir, config


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, cache_dir):
    return _trained(tmp_path_factory, "dcgan_plain")


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, cache_dir):
    """The label-concatenating conditional DCGAN."""
    return _trained(tmp_path_factory, "cgan")


def test_load_generator_needs_only_the_workdir_and_matches_sampling(dcgan_run):
    workdir, config = dcgan_run
    gen = jaxgan.load_generator(workdir)
    assert gen.step == 4 and gen.latent_dim == config.gan.z_dim and not gen.conditional
    assert "d" not in gen.state.players  # No discriminator kept.
    key = jax.random.PRNGKey(5)
    state = checkpoint.restore_state(config, workdir)
    np.testing.assert_allclose(
        gen(gen.inputs(6, key)), jaxgan.sample(state, config, key, 6), atol=1e-6
    )
    earlier = jaxgan.load_generator(workdir, checkpoint=2)
    assert earlier.step == 2
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint of step 3 .*\\[2, 4\\]"):
        jaxgan.load_generator(workdir, checkpoint=3)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint in .*best_checkpoint"):
        jaxgan.load_generator(workdir, checkpoint="best")


def test_a_seed_gives_the_same_image_wherever_it_is_drawn(dcgan_run):
    gen = jaxgan.load_generator(dcgan_run[0])
    assert gen_lib.parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    with pytest.raises(ConfigError, match="runs backwards"):
        gen_lib.parse_seeds("5-2")
    together = gen(gen.seed_inputs([7, 42, 3]))
    alone = gen(gen.seed_inputs([42]))
    np.testing.assert_allclose(together[1], alone[0], atol=1e-6)
    first = gen(gen.inputs(1, jax.random.PRNGKey(42)))
    np.testing.assert_allclose(first[0], alone[0], atol=1e-6)


def test_slerp_keeps_endpoints_and_moves_the_norm_linearly():
    a = jnp.array([[3.0, 0.0, 0.0]])
    b = jnp.array([[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(gen_lib.slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(gen_lib.slerp(a, b, 1.0), b, atol=1e-6)
    mid = gen_lib.slerp(a, b, 0.5)
    np.testing.assert_allclose(jnp.linalg.norm(mid), 2.0, rtol=1e-6)  # (3 + 1) / 2.
    np.testing.assert_allclose(mid / 2.0, [[2**-0.5, 0.0, 2**-0.5]], atol=1e-6)  # 45 degrees.
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(2, 1, 64)) * 8.0
    v = v / np.linalg.norm(v) * np.linalg.norm(u)
    for t in np.linspace(0, 1, 7):
        np.testing.assert_allclose(
            np.linalg.norm(gen_lib.slerp(u, v, t)), np.linalg.norm(u), rtol=1e-5
        )
    np.testing.assert_allclose(gen_lib.slerp(a, 2 * a, 0.25), 1.25 * a, atol=1e-6)  # Parallel.
    points = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    walk = gen_lib.path(points, 4, "slerp")
    assert walk.shape == (9, 5)
    np.testing.assert_allclose(walk[::4], points, atol=1e-5)  # Through every key point.


def test_truncation_psi_1_is_the_identity_and_psi_0_the_mean_image(dcgan_run):
    gen = jaxgan.load_generator(dcgan_run[0])
    inputs = gen.seed_inputs([1, 2, 3])
    z = inputs["z"]
    np.testing.assert_array_equal(gen_lib.truncate(z, 1.0), z)
    mean_images = gen({"z": gen_lib.truncate(z, 0.0)})
    np.testing.assert_allclose(mean_images, gen({"z": jnp.zeros_like(z)}), atol=1e-6)
    np.testing.assert_allclose(mean_images[0], mean_images[2], atol=1e-6)
    half = gen_lib.truncate(z, 0.5)
    np.testing.assert_allclose(half, 0.5 * z, atol=1e-6)


def test_projection_recovers_a_latent_the_generator_made(dcgan_run):
    gen = jaxgan.load_generator(dcgan_run[0])
    target = gen(gen.seed_inputs([11]))[0]
    result = gen_lib.project(gen, target, steps=200, restarts=4, feature_weight=0.0)
    assert result["mse"] < 1e-3, result["mse"]  # Pixels in [-1, 1]: RMSE below 0.032.
    np.testing.assert_allclose(result["image"], target, atol=0.15)


def test_masked_projection_ignores_the_pixels_under_the_mask(dcgan_run):
    gen = jaxgan.load_generator(dcgan_run[0])
    target = np.asarray(gen(gen.seed_inputs([11]))[0])
    hole = np.zeros(target.shape[:2], np.float32)
    hole[8:20, 8:20] = 1.0
    results = []
    for fill in (1.0, -1.0):
        damaged = target.copy()
        damaged[8:20, 8:20] = fill
        results.append(
            gen_lib.project(gen, damaged, mask=hole, steps=60, restarts=2, feature_weight=0.0)
        )
    np.testing.assert_array_equal(results[0]["z"], results[1]["z"])  # The hole is not read.
    assert results[0]["mse"] < 1e-2


def test_the_exported_generator_runs_in_a_process_without_jaxgan(dcgan_run, tmp_path):
    gen = jaxgan.load_generator(dcgan_run[0])
    gen_lib.export(gen, tmp_path / "export")
    inputs = gen.seed_inputs([1, 2, 3])  # Batch 3: the exported batch dimension is symbolic.
    np.savez(tmp_path / "inputs.npz", z=np.asarray(inputs["z"]), want=gen(inputs))
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(tmp_path / "export")!r})
        import load
        generate, info = load.load()
        data = np.load({str(tmp_path / "inputs.npz")!r})
        got = generate(z=data["z"])
        assert not any(m.split(".")[0] in ("jaxgan", "flax") for m in sys.modules), "imported"
        print(np.abs(got - data["want"]).max(), got.shape, info["inputs"][0]["shape"])
        """
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    diff, *rest = done.stdout.split(maxsplit=1)
    assert float(diff) < 1e-5 and "(3, 28, 28, 1)" in rest[0] and "'batch'" in rest[0]


def test_a_conditional_generator_interpolates_and_edits_through_its_labels(cgan_run):
    gen = jaxgan.load_generator(cgan_run[0])
    assert gen.conditional
    keys = gen.seed_inputs([4, 4], labels=[1, 7])
    inputs = gen_lib.interpolation_inputs(gen, keys, 4, "slerp")
    assert inputs["label"].shape == (5, 10)
    np.testing.assert_allclose(inputs["label"][2], 0.5 * (jnp.eye(10)[1] + jnp.eye(10)[7]))
    ends = gen(inputs)[[0, -1]]
    np.testing.assert_allclose(ends, gen(keys), atol=1e-6)  # One-hot ends = integer labels.
    edited = gen_lib.edit_inputs(gen, {k: v[:1] for k, v in keys.items()}, 1, 7, [0.0, 1.0])
    np.testing.assert_allclose(gen(edited), gen(gen.seed_inputs([4, 4], labels=[1, 7])), atol=1e-6)


def test_translation_checkpoints_refuse_latent_modes_naming_the_recipes_that_can(smoke_config):
    config = smoke_config("pix2pix")
    recipe, spec = jaxgan.recipes.prepare(config)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    gen = gen_lib.Generator(config, spec, state, 0, jax.jit(recipe.make_generate(config, spec)))
    with pytest.raises(
        ConfigError, match="recipe 'pix2pix' translates images. Recipes that can: gan"
    ):
        gen.require_latents("--mode=interpolate")


def test_the_curves_picture_has_a_panel_per_series(dcgan_run, tmp_path):
    path = curves.plot(dcgan_run[0], tmp_path / "curves.png")
    picture = np.asarray(Image.open(path))
    assert picture.shape[0] >= 2 * 200 and picture.std() > 0  # Losses and D outputs panels.


def test_launch_interpolates_projects_edits_and_exports(cgan_run, dcgan_run, tmp_path):
    workdir = dcgan_run[0]
    common = [f"--workdir={workdir}"]
    gen = jaxgan.load_generator(workdir)
    digit = ((np.asarray(gen(gen.seed_inputs([3])))[0, ..., 0] + 1) * 127.5).round()
    Image.fromarray(np.kron(digit.astype(np.uint8), np.ones((2, 2), np.uint8))).save(
        tmp_path / "digit.png"
    )  # 56x56: resized with a notice.
    mask = np.zeros((28, 28), np.uint8)
    mask[10:18, 10:18] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    done = run_launch(
        *common,
        "--mode=project",
        f"--image={tmp_path / 'digit.png'}",
        f"--mask={tmp_path / 'mask.png'}",
        f"--output={tmp_path / 'proj.png'}",
        "--project_steps=40",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is 56x56 with 1 channel(s): center-cropped, resized" in done.stderr
    record = json.loads((tmp_path / "proj.json").read_text())
    assert record["mse_kept_pixels"] < 0.05
    assert np.load(tmp_path / "proj.npy").shape == (1, gen.latent_dim)

    done = run_launch(
        *common,
        "--mode=interpolate",
        f"--latents={tmp_path / 'proj.npy'}",
        "--seeds=1,7",
        "--frames=4",
        f"--output={tmp_path / 'walk.png'}",
    )  # From the projected digit to seed 1, then to seed 7.
    assert done.returncode == 0, done.stderr[-3000:]
    strip = np.asarray(Image.open(tmp_path / "walk.png"))
    seed_1 = images.grid(gen(gen.seed_inputs([1])), columns=1)
    height, width = seed_1.shape[:2]  # Row 2 starts at seed 1 (tiles overlap by the padding).
    np.testing.assert_array_equal(strip[height - 2 : 2 * height - 2, :width], seed_1)
    gif = iio.imread(tmp_path / "walk.gif", index=None)  # Pillow merges repeated frames.
    assert len(gif) > 1 and gif.shape[1:] == (112, 112, 3)  # 28 x 4 pixels, RGB.

    done = run_launch(
        f"--workdir={cgan_run[0]}",
        "--mode=edit",
        "--edit=1:7",
        "--seeds=2,3",
        f"--output={tmp_path / 'edit.png'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cgan = jaxgan.load_generator(cgan_run[0])
    rows = [
        cgan(gen_lib.edit_inputs(cgan, start, 1, 7, np.linspace(0.0, 1.0, 7)))
        for start in (
            {k: v[i : i + 1] for k, v in cgan.seed_inputs([2, 3], [1]).items()} for i in range(2)
        )
    ]
    want = images.grid(np.concatenate(rows), columns=7)  # Seeds 2 and 3, class 1 -> 7.
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "edit.png")), want)

    done = run_launch(*common, "--mode=export", f"--output={tmp_path / 'exported'}")
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((tmp_path / "exported" / "generator.json").read_text())
    assert info["inputs"] == [{"name": "z", "shape": ["batch", gen.latent_dim], "dtype": "float32"}]


def test_the_onnx_export_matches_under_onnxruntime(dcgan_run, tmp_path):
    pytest.importorskip("jax2onnx", reason="the optional 'onnx' extra is not installed")
    ort = pytest.importorskip("onnxruntime")
    gen = jaxgan.load_generator(dcgan_run[0])
    path = gen_lib.export_onnx(gen, tmp_path / "generator.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = gen.seed_inputs([1, 2, 3, 4, 5])
    (got,) = session.run(None, {"z": np.asarray(inputs["z"])})
    np.testing.assert_allclose(got, gen(inputs), atol=1e-5)


def test_sample_mode_draws_one_image_per_seed_with_truncation(dcgan_run, tmp_path):
    workdir, config = dcgan_run
    out = jaxgan.run(
        config,
        workdir,
        "sample",
        num_samples=1000,
        output=tmp_path / "seeds.npz",
        seed=0,
        seeds=gen_lib.parse_seeds("3-5,9"),
        truncation=0.5,
        checkpoint="latest",
    )
    gen = jaxgan.load_generator(workdir)
    inputs = gen.seed_inputs([3, 4, 5, 9])
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["images"], gen({"z": 0.5 * inputs["z"]}), atol=1e-6)
