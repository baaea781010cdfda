"""Single-image super-resolution: SRResNet trained with L1 (the PSNR baseline), and SRGAN /
ESRGAN-style adversarial training (Ledig et al. 2017; Wang et al. 2018).

The data is high-resolution images `x` of any image dataset (photo crops, digits, a folder);
each step makes their low-resolution inputs itself: bicubic downscaling by the generator's
`model.g.scale` (Keys' cubic, a = -0.5, antialiased: MATLAB imresize's kernel, the SR
literature's degradation), rounded to 8-bit levels, as a saved low-resolution file would be.
G (model.g, `srresnet`) maps the inputs back up. Its loss is

    pixel_weight * E|G(lr) - x|  +  perceptual_weight * E||F(G(lr)) - F(x)||^2 / dim F
        +  adv_weight * (G's adversarial loss of G(lr) through D)

With adv_weight = 0 the recipe has no discriminator (pixel_weight alone: the L1 baseline). With
adv_weight > 0 D (model.d) judges high-resolution images, real x against G(lr), with the
configured loss: loss.name='relativistic_average' is ESRGAN's relativistic D, and G's
relativistic loss reads D's logits of the x its outputs were made from. The perceptual term's
F is a network we can ship: for the embedded digits, the 128 hidden features of their evaluation
classifier (jaxgan.metrics.classifier), frozen. For photos there is none (no pretrained photo
network ships offline, and a VGG download is not allowed), so photo runs have no perceptual term
and the adversarial term alone trades PSNR for sharpness (docs/translation.md). Each step: one
D update, then one G update through the updated D, reusing G's forward pass.

Evaluation downsamples the held-out split's images the same way and compares G's outputs with
them ('paired': PSNR and SSIM on the luma channel with `scale` pixels of border cropped, the SR
convention; see jaxgan.metrics.paired). `bicubic(lr, scale)` is the baseline every table lists.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data, images
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import adversarial, common

NAME = "sr"
GENERATORS = ("srresnet",)
DISCRIMINATORS = ("patchgan", "dcgan", "resnet")
SMOKE = {}
EXPERIMENT = "sr_photos"
LATENT = False  # Its generator upscales images; there is no latent to walk.
PENALTY_TAG, G_VIEW_TAG = 1, 2  # Step keys: D's penalties and view, G's view.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.pixel_weight = 1.0  # Weight of the L1 distance to the high-resolution image.
    c.adv_weight = 0.0  # 0: the L1 baseline (no discriminator).
    c.perceptual_weight = 0.0  # Feature distance in the digit classifier (embedded digits only).
    c.eval_split = "test"  # Held-out images that evaluation and the sample grid upscale.
    return c


class Models(NamedTuple):
    g: object
    d: object


def validate(config) -> None:
    p = config.sr
    for key in ("pixel_weight", "adv_weight", "perceptual_weight"):
        if p[key] < 0:
            raise ConfigError(f"sr.{key}={p[key]!r} is out of range: it must be >= 0")
    if p.pixel_weight == 0 and p.adv_weight == 0 and p.perceptual_weight == 0:
        raise ConfigError(
            "sr.pixel_weight, adv_weight and perceptual_weight are all 0: G learns nothing"
        )
    if config.train.n_critic != 1:
        raise ConfigError(f"train.n_critic={config.train.n_critic}: sr trains D once a step")


def scale(config) -> int:
    return int(config.model.g.scale)


def source_shape(config, spec) -> tuple:
    """One low-resolution input's shape: the images' sides divided by the scale."""
    height, width, channels = spec.shape
    return (height // scale(config), width // scale(config), channels)


def check(config, spec) -> None:
    if len(spec.shape) != 3:
        raise ConfigError(f"recipe 'sr' upscales images; dataset {spec.name!r} holds points")
    if config.sr.perceptual_weight > 0 and not _digits(config, spec):
        raise ConfigError(
            f"sr.perceptual_weight={config.sr.perceptual_weight} needs the embedded digits (their "
            f"classifier gives the features); dataset {spec.name!r} has none that ship offline: "
            "set sr.perceptual_weight=0"
        )
    data.describe(_eval_data(config))  # The held-out split must exist.


def _digits(config, spec) -> bool:
    name = config.data.name
    return spec.shape[-1] == 1 and (name == "embedded_mnist" or data.embedded_digits(config.data))


def perceptual_features(config):
    """images -> the digit classifier's hidden features (its trained weights, frozen)."""
    from jaxgan.metrics import classifier, features

    trained = classifier.load_or_train(features.digit_config(config.data))
    model = classifier.Classifier(trained.num_classes)
    params = jax.tree.map(jnp.asarray, trained.params)
    return lambda images: model.apply({"params": params}, images)[0]


def adversarial_on(config) -> bool:
    return config.sr.adv_weight > 0


def build(config, spec, groups: int | None = None) -> Models:
    g, d = common.build_pair(config, spec, groups)
    return Models(g, d if adversarial_on(config) else None)


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    g_tx, d_tx = common.optimizers(config)
    source = jnp.zeros((1,) + source_shape(config, spec), jnp.float32)
    players = {"g": state_lib.init_player(m.g, g_tx, g_rng, source)}
    if m.d is not None:
        x = jnp.zeros((1,) + tuple(spec.shape), jnp.float32)
        players["d"] = state_lib.init_player(m.d, d_tx, d_rng, x)
    return state_lib.initial_state(rng, players)


def downscale(x, factor: int):
    """High-resolution images [N, H, W, C] in [-1, 1] -> their bicubic, antialiased
    low-resolution versions [N, H/factor, W/factor, C], rounded to 8-bit levels."""
    n, height, width, channels = x.shape
    small = jax.image.resize(
        x, (n, height // factor, width // factor, channels), "bicubic", antialias=True
    )
    return jnp.round((jnp.clip(small, -1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


def bicubic(source, factor: int):
    """The bicubic baseline: low-resolution images upscaled by `factor`, clipped to [-1, 1]."""
    n, height, width, channels = source.shape
    big = jax.image.resize(source, (n, height * factor, width * factor, channels), "bicubic")
    return jnp.clip(big, -1.0, 1.0)


def train_step(state, batch, *, m: Models, g_tx, d_tx, config, features=None):
    """One SR step; see the module docstring. Bound by `make_train_step`."""
    p = config.sr
    x = batch["x"]
    source = downscale(x, scale(config))
    g = state.players["g"]
    upscale = lambda params: state_lib.apply_train(m.g, params, g.variables, source)
    fake, g_vjp, g_vars = jax.vjp(upscale, g.params, has_aux=True)
    players, metrics = {}, {}
    call = adversarial.image_call(state.step, config)
    if m.d is not None:
        players["d"], metrics = adversarial.d_update(
            state.players["d"],
            x,
            fake,
            {},
            state_lib.step_key(state, PENALTY_TAG),
            d=m.d,
            tx=d_tx,
            call=call,
            config=config,
            d_step=state.step,
        )

    def g_objective(fake):
        l1 = jnp.mean(jnp.abs(fake - x))
        loss, parts = p.pixel_weight * l1, {"l1": l1}
        if features is not None:
            target = jax.lax.stop_gradient(features(x))
            parts["perceptual"] = jnp.mean(jnp.square(features(fake) - target))
            loss = loss + p.perceptual_weight * parts["perceptual"]
        if m.d is None:
            return loss, ((), parts)
        adv, d_vars = adversarial.g_adversarial_loss(
            fake,
            {},
            players["d"],
            state_lib.step_key(state, G_VIEW_TAG),
            d=m.d,
            call=call,
            config=config,
            real=x,
        )
        return loss + p.adv_weight * adv, (d_vars, {**parts, "g_adv_loss": adv})

    (g_loss, (d_vars, parts)), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    players["g"] = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    if m.d is not None:
        players["d"] = players["d"].replace(variables=d_vars)
    metrics = {**metrics, **parts, "g_loss": g_loss}
    return state_lib.advance(state, players, metrics, config.train.ema_decay)


def make_train_step(config, spec):
    g_tx, d_tx = common.optimizers(config)
    features = perceptual_features(config) if config.sr.perceptual_weight > 0 else None
    return functools.partial(
        train_step, m=build(config, spec), g_tx=g_tx, d_tx=d_tx, config=config, features=features
    )


def make_generate(config, spec):
    """Pure (state, {'source'}, rng) -> upscaled images in [-1, 1] (EMA weights when
    configured)."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # Upscaling is deterministic.
        return jnp.clip(common.translate(m.g, state, "g", config, inputs["source"]), -1.0, 1.0)

    return generate


def translator(config, spec, direction: str = "ab") -> common.Translator:
    """G for --mode=translate: any input size, output `scale` times larger."""
    if direction != "ab":
        raise ConfigError(
            f"--direction={direction!r}: recipe 'sr' has one generator (low -> high "
            "resolution); use 'ab'"
        )
    return common.Translator(
        module=build(config, spec, groups=1).g,
        player="g",
        scale=scale(config),
        channels=spec.shape[-1],
    )


def paired_crop(config) -> int:
    """Border pixels that paired metrics leave out: the scale, as the SR literature does."""
    return scale(config)


def _eval_data(config) -> ml_collections.ConfigDict:
    return common.split_data(config, config.sr.eval_split)


@functools.partial(jax.jit, static_argnums=1)
def _downscale_jit(x, factor):
    return downscale(x, factor)


def held_out_pairs(config, num: int) -> dict:
    """The first `num` held-out images 'x' with their low-resolution 'source' versions."""
    found = common.held_out(config, config.sr.eval_split, num, {"x": "x"})
    found["source"] = np.asarray(_downscale_jit(found["x"], scale(config)))
    return found


def sample_inputs(config, spec, num: int, rng, *, source=None) -> dict:
    """The given low-resolution images (a path: image, folder or .npz), fitted to the
    generator's input shape, else the first `num` held-out pairs."""
    del rng
    if source is None:
        return held_out_pairs(config, num)
    return {"source": data.load_images(source, source_shape(config, spec))[:num]}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """The held-out low-resolution images (targets under 'x'), and the held-out split."""
    del rng
    return held_out_pairs(config, num), _eval_data(config)


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """Rows of (low-resolution input enlarged by pixel repetition, bicubic, output, target)
    quadruples, the target left out when the inputs have none."""
    factor = scale(config)
    source = np.asarray(inputs["source"])
    columns = [
        source.repeat(factor, axis=1).repeat(factor, axis=2),
        np.asarray(bicubic(jnp.asarray(source), factor)),
        np.asarray(outputs),
    ]
    if "x" in inputs:
        columns.append(np.asarray(inputs["x"]))
    tiles = np.stack(columns, axis=1).reshape((-1,) + columns[0].shape[1:])
    return images.grid(tiles, columns=len(columns) * max(1, 8 // len(columns)))
