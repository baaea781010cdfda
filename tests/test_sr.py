"""Super-resolution: the metrics against scikit-image, the degradation against PIL, the
generator's sub-pixel shuffle, the L1 and adversarial recipes, and the warm start of ESRGAN's
second stage."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxgan
from jaxgan import config as config_lib
from jaxgan import data, recipes
from jaxgan.config import ConfigError
from jaxgan.data import photos
from jaxgan.metrics import paired
from jaxgan.models import srresnet
from jaxgan.recipes import sr

from conftest import ROOT


def smoke(name="sr_photos"):
    return config_lib.load_config(str(ROOT / "experiments" / f"{name}.py"), "smoke")


def _luma(rgb01):
    """MATLAB rgb2ycbcr's Y of [0, 1] RGB, on [0, 1]: the reference for the metrics' Y."""
    return (16 + 65.481 * rgb01[..., 0] + 128.553 * rgb01[..., 1] + 24.966 * rgb01[..., 2]) / 255


def test_psnr_and_ssim_match_scikit_image_on_the_luma_channel_with_the_border_cropped():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    target = photos.photo("astronaut")[100:164, 200:264].astype(np.float64) / 255
    rng = np.random.default_rng(0)
    outputs = [np.clip(target + rng.normal(0, s, target.shape), 0, 1) for s in (0.02, 0.05, 0.1)]
    crop = 4
    for output in outputs:
        found = paired.paired_metrics(
            (output[None] * 2 - 1).astype(np.float32),
            (target[None] * 2 - 1).astype(np.float32),
            crop=crop,
        )
        a, b = (_luma(im)[crop:-crop, crop:-crop] for im in (output, target))
        assert found["psnr"] == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1), abs=2e-3)
        ssim = structural_similarity(
            b, a, data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert found["ssim"] == pytest.approx(ssim, abs=2e-4)
    # Closed form: a constant offset d on [0, 1] gray images has PSNR 10 log10(1 / d^2).
    gray = np.full((1, 16, 16, 1), -0.5, np.float32)
    offset = paired.paired_metrics(gray + 2 * 0.1, gray)
    assert offset["psnr"] == pytest.approx(20.0, abs=1e-3)
    assert offset["ssim"] == pytest.approx(
        (2 * 0.25 * 0.35 + 1e-4) / (0.25**2 + 0.35**2 + 1e-4), abs=1e-5
    )


def test_downscaling_is_antialiased_bicubic_as_pil_and_rounded_to_8_bits():
    image = photos.photo("chelsea")[:128, :128]
    x = jnp.asarray(image[None].astype(np.float32) / 127.5 - 1)
    small = np.asarray(sr.downscale(x, 4))[0]
    assert small.shape == (32, 32, 3)
    levels = (small + 1) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    reference = np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BICUBIC))
    inner = np.abs(levels - reference.astype(np.float64))[2:-2, 2:-2]
    assert inner.mean() < 0.6 and inner.max() <= 3  # PIL rounds its weights to fixed point.
    up = np.asarray(sr.bicubic(jnp.asarray(small[None]), 4))
    assert up.shape == (1, 128, 128, 3) and up.min() >= -1 and up.max() <= 1


def test_pixel_shuffle_places_each_channel_group_at_its_sub_pixel():
    x = jnp.arange(2 * 3 * 4 * 8, dtype=jnp.float32).reshape(2, 3, 4, 8)
    out = np.asarray(srresnet.pixel_shuffle(x, 2))
    assert out.shape == (2, 6, 8, 2)
    for a in range(2):
        for b in range(2):
            np.testing.assert_array_equal(out[:, a::2, b::2], x[..., (2 * a + b) * 2 :][..., :2])


@pytest.mark.parametrize("block,scale", [("residual", 4), ("rrdb", 2)])
def test_srresnet_upscales_by_its_scale_and_is_the_same_function_in_both_modes(block, scale):
    model = srresnet.SRResNet(out_channels=3, scale=scale, width=4, num_blocks=1, block=block)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7, 3))
    params = model.init(jax.random.PRNGKey(1), x)
    out = model.apply(params, x, train=True)
    assert out.shape == (2, 5 * scale, 7 * scale, 3)
    np.testing.assert_array_equal(out, model.apply(params, x, train=False))


def test_l1_baseline_has_no_discriminator_and_minimises_l1_to_the_original():
    config = smoke()
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    assert set(state.players) == {"g"}
    batch = next(jaxgan.make_iterator(config))
    step = jax.jit(jaxgan.make_train_step(config))
    new, metrics = step(state, batch)
    assert float(metrics["g_loss"]) == pytest.approx(float(metrics["l1"]), rel=1e-6)
    assert "d_loss" not in metrics
    # The step's L1 is the generator's on the batch's own bicubic downscaling.
    _, spec = recipes.prepare(config)
    m = sr.build(config, spec)
    g = state.players["g"]
    out = m.g.apply({"params": g.params, **g.variables}, sr.downscale(batch["x"], 4))
    assert float(metrics["l1"]) == pytest.approx(float(jnp.mean(jnp.abs(out - batch["x"]))), 1e-5)


def test_adversarial_run_trains_a_relativistic_discriminator():
    config = smoke("sr_photos_gan")
    assert config.loss.name == "relativistic_average"
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    assert set(state.players) == {"g", "d"}
    new, metrics = jax.jit(jaxgan.make_train_step(config))(
        state, next(jaxgan.make_iterator(config))
    )
    assert {"d_loss", "g_adv_loss", "l1"} <= set(metrics)
    expected = float(metrics["l1"]) + config.sr.adv_weight * float(metrics["g_adv_loss"])
    assert float(metrics["g_loss"]) == pytest.approx(expected, rel=1e-5)


def test_bad_scales_and_photo_sizes_are_one_line_errors():
    config = smoke()
    config.model.g.scale = 3
    with pytest.raises(ConfigError, match="model.g.scale=3 is not allowed: choose one of 2, 4, 8"):
        config_lib.validate(config)
    config = smoke()
    config.data.image_size = 60
    config.model.g.scale = 8
    with pytest.raises(ConfigError, match="60x60 do not divide by scale 8"):
        recipes.prepare(config)
    config = smoke()
    config.data.image_size = 400
    with pytest.raises(data.DataError, match="image_size=400 is larger than the smallest"):
        recipes.prepare(config)
    config = smoke()
    config.sr.pixel_weight = config.sr.adv_weight = config.sr.perceptual_weight = 0.0
    with pytest.raises(ConfigError, match="are all 0: G learns nothing"):
        config_lib.validate(config)


def test_photos_hold_out_whole_photos_and_the_stream_moves_its_crops():
    cfg = data.default_config()
    cfg.name, cfg.image_size = "photos", 64
    assert not set(photos.SPLITS["train"]) & set(photos.SPLITS["test"])
    test = data.describe(dict_config(cfg, split="test"))
    assert test.shape == (64, 64, 3) and test.num_examples == len(photos.grid("test", 64))
    fixed = next(data.make_iterator(cfg, global_batch_size=8, seed=0, augmented=False))["x"]
    moved = next(data.make_iterator(cfg, global_batch_size=8, seed=0))["x"]
    assert fixed.shape == moved.shape == (8, 64, 64, 3)
    assert not np.array_equal(fixed, moved)
    # A reference read is the grid itself: its first crop is a grid cell of its photo.
    num, read = photos.reader(cfg, (64, 64, 3))
    p, top, left = photos.grid("train", 64)[5]
    cell = photos.photo(photos.SPLITS["train"][p])[top : top + 64, left : left + 64]
    np.testing.assert_array_equal(read(np.array([5]), np.array([0.5]))["image"][0], cell)


def dict_config(cfg, **changes):
    out = cfg.copy_and_resolve_references()
    out.update(changes)
    return out


def test_warm_start_takes_the_generator_of_a_trained_run(tmp_path):
    source = tmp_path / "l1"
    config = smoke()
    jaxgan.run(config, source)
    trained = jaxgan.load_generator(source).state.players["g"].params
    gan = smoke("sr_photos_gan")
    gan.train.init_from = str(source)
    assert int(jaxgan.run(gan, tmp_path / "gan").step) == gan.train.num_steps
    from jaxgan.train import warm_start

    fresh = jaxgan.create_train_state(gan, jax.random.PRNGKey(0))
    started = warm_start(fresh, source)
    jax.tree.map(np.testing.assert_array_equal, started.players["g"].params, trained)
    jax.tree.map(
        np.testing.assert_array_equal, started.players["d"].params, fresh.players["d"].params
    )
    wider = smoke("sr_photos_gan")
    wider.model.g.width = 8
    with pytest.raises(ConfigError, match="player 'g' has other shapes there"):
        warm_start(jaxgan.create_train_state(wider, jax.random.PRNGKey(0)), source)


def test_digit_runs_add_the_classifier_feature_distance_and_photos_refuse_it(mnist_classifier):
    config = smoke("sr_digits_gan")
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    _, metrics = jax.jit(jaxgan.make_train_step(config))(state, next(jaxgan.make_iterator(config)))
    p = config.sr
    expected = (
        float(metrics["l1"])
        + p.perceptual_weight * float(metrics["perceptual"])
        + p.adv_weight * float(metrics["g_adv_loss"])
    )
    assert float(metrics["perceptual"]) > 0
    assert float(metrics["g_loss"]) == pytest.approx(expected, rel=1e-5)
    photo = smoke()
    photo.sr.perceptual_weight = 1.0
    with pytest.raises(ConfigError, match="perceptual_weight=1.0 needs the embedded digits"):
        recipes.prepare(photo)


def test_translate_upscales_a_file_of_any_size_and_tiles_exactly(tmp_path):
    from jaxgan import translate

    workdir = tmp_path / "run"
    jaxgan.run(smoke(), workdir)
    small = photos.photo("coffee")[100:137, 200:250]  # 37x50: no multiple of anything.
    Image.fromarray(small).save(tmp_path / "small.png")
    (written,) = translate.translate(workdir, input=tmp_path / "small.png", output=tmp_path / "o")
    assert written.name == "small.png"
    assert np.asarray(Image.open(written)).shape == (148, 200, 3)
    gen = jaxgan.load_generator(workdir)
    t = translate.translator_of(gen)
    run = translate.make_run(gen, t)
    image = small.astype(np.float32) / 127.5 - 1
    whole = translate.translate_array(run, t, image, tile=0)
    # Cores of 32 - 2 x 10 = 12 pixels: 4 x 5 windows; the receptive radius is under 10.
    tiled = translate.translate_array(run, t, image, tile=32, overlap=10)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    with pytest.raises(ConfigError, match="recipe 'sr' has one generator"):
        translate.translator_of(gen, "ba")


def test_the_bicubic_skip_makes_an_untrained_generator_start_as_bicubic():
    """A fresh G over bicubic is bicubic exactly (its last layer starts at 0) and its PReLUs
    start at slope 0.25, so no unit starts silenced (a trained G once kept a dead last layer)."""
    model = srresnet.SRResNet(out_channels=3, scale=4, width=4, num_blocks=1)
    x = jax.random.uniform(jax.random.PRNGKey(0), (1, 6, 5, 3), minval=-1, maxval=1)
    params = model.init(jax.random.PRNGKey(1), x)
    np.testing.assert_allclose(jnp.clip(model.apply(params, x), -1, 1), sr.bicubic(x, 4), atol=1e-6)
    slopes = [v for k, v in flax.traverse_util.flatten_dict(params).items() if "PReLU" in k[-2]]
    assert slopes and all(float(v) == 0.25 for v in slopes)
    plain = srresnet.SRResNet(out_channels=3, scale=4, width=4, num_blocks=1, skip="none")
    assert np.abs(plain.apply(plain.init(jax.random.PRNGKey(1), x), x)).max() > 0.01
