"""A convolutional VAE (Kingma & Welling 2014): the non-adversarial baseline beside the GANs.

Players: `g`, the decoder p(x | z), is the DCGAN generator (`model.g`, so load_generator,
sampling, interpolation and export treat it as any generator), with an EMA copy; `encoder`,
q(z | x) = N(mean, diag(exp(logvar))), is the DCGAN discriminator's body with a Gaussian head
(`model.d`, architecture 'dcgan_encoder'). Each has its own Adam: `optim.g_lr` for the decoder,
`optim.d_lr` for the encoder. One step minimises the negative ELBO of the batch,

    loss = recon + beta * kl,   recon = -E_q log p(x | z) (one reparameterised z per image),
                                kl = KL(q(z | x) || N(0, I)) in closed form,

both summed over pixels / latent dimensions and averaged over the batch (nats per image). The
noise of the reparameterisation comes from step_key(state), so a resumed run is exact.

Likelihood (`vae.likelihood`): 'bernoulli' (default) reads the decoder's tanh output y as the
pixel probability p = (y + 1) / 2 and the image as targets (x + 1) / 2 in [0, 1], the usual
cross-entropy on grey MNIST levels (not a normalised density for grey targets); with tanh, its
gradient is that of the cross-entropy on logits 2 atanh(y), and p is clipped to [1e-6, 1 - 1e-6].
Its per-pixel precision is high where the digit is near black or white, which should keep
strokes sharper than a fixed unit-variance Gaussian, whose squared error a KL term of tens of nats
swamps (blurry averages). 'gaussian' is a Gaussian with one variance shared by all pixels, set to
its maximum-likelihood value, the batch's mean squared error (Rybkin et al. 2021, sigma-VAE):
no variance to tune, but the KL grows as the variance shrinks and prior samples suffer (the
README has the comparison), hence the Bernoulli default.

Samples, the sample grid and evaluation are the decoder on z ~ N(0, I). There is no adversarial
loss: the keys of `loss` and `augment` (what a discriminator sees) must stay at their defaults,
and `train.n_critic` must be 1; a conditional decoder is refused (the VAE is unconditional).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import images
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.recipes import common

NAME = "vae"
GENERATORS = ("dcgan",)  # The decoder.
DISCRIMINATORS = ("dcgan_encoder",)  # model.d: the encoder.
SMOKE = {"z_dim": 8}
EXPERIMENT = "vae"
LATENT = True  # Its decoder maps latents z to images.
ENCODER = "encoder"  # The encoder's player name; the decoder is "g".
LIKELIHOODS = ("bernoulli", "gaussian")
GAN_ONLY = ("loss", "augment")  # Config sections of adversarial training.
NOISE_TAG = 0  # Step key of the reparameterisation noise.
EPS = 1e-6  # Bernoulli probabilities are clipped to [EPS, 1 - EPS].
MIN_VARIANCE = 1e-6  # Floor of the Gaussian likelihood's variance.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.z_dim = 32  # Latent size; prior N(0, I).
    c.beta = 1.0  # Weight of the KL term (1: the ELBO; beta-VAE otherwise).
    c.likelihood = "bernoulli"  # p(x | z): one of LIKELIHOODS (see the module docstring).
    return c


class Models(NamedTuple):
    decoder: object
    encoder: object


def build(config, spec, groups: int | None = None) -> Models:
    decoder, encoder = common.build_pair(config, spec, groups)
    return Models(decoder, encoder.clone(z_dim=config.vae.z_dim))


def validate(config) -> None:
    from jaxgan import config as config_lib

    v = config.vae
    if v.z_dim < 1:
        raise ConfigError(f"vae.z_dim={v.z_dim!r} is out of range: it must be >= 1")
    if v.beta < 0:
        raise ConfigError(f"vae.beta={v.beta!r} is out of range: it must be >= 0")
    if v.likelihood not in LIKELIHOODS:
        raise ConfigError(
            f"vae.likelihood={v.likelihood!r} is not allowed: choose one of "
            f"{', '.join(map(repr, LIKELIHOODS))}"
        )
    if config.train.n_critic != 1:
        raise ConfigError(
            f"train.n_critic={config.train.n_critic}: recipe 'vae' has no critic; it must be 1"
        )
    defaults = config_lib.flatten(config_lib.for_config(config))
    for section in GAN_ONLY:
        if section not in config:
            continue
        for key, value in config_lib.flatten(config[section], f"{section}.").items():
            default = defaults[key]
            if value != default:
                raise ConfigError(
                    f"{key}={value!r}: recipe 'vae' has no discriminator or adversarial loss "
                    f"(it minimises the negative ELBO), so this would be ignored; leave it at "
                    f"{default!r}"
                )


def check(config, spec) -> None:
    if config.model.g.get("conditioning", "none") != "none":
        raise ConfigError(
            f"model.g.conditioning={config.model.g.conditioning!r}: recipe 'vae' is "
            "unconditional; use conditioning='none'"
        )


def init(config, spec, rng) -> state_lib.TrainState:
    m = build(config, spec, groups=1)
    rng, g_rng, e_rng = jax.random.split(state_lib.raw_key(rng), 3)
    g_tx, e_tx = common.optimizers(config)
    z = jnp.zeros((1, config.vae.z_dim), jnp.float32)
    x = jnp.zeros((1,) + tuple(spec.shape), jnp.float32)
    g = state_lib.init_player(m.decoder, g_tx, g_rng, z)
    encoder = state_lib.init_player(m.encoder, e_tx, e_rng, x)
    return state_lib.initial_state(rng, {"g": g, ENCODER: encoder})


def kl_divergence(mean, logvar):
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) of each row, in nats: [N, D] -> [N]."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + jnp.square(mean) - 1.0 - logvar, axis=-1)


def reconstruction_nll(x, y, likelihood: str):
    """-log p(x | z) of each image, in nats, for data x and decoder output y (both [N, ...] in
    [-1, 1]); see the module docstring. The Gaussian's variance is the batch's mean squared error
    (its maximum-likelihood value)."""
    axes = tuple(range(1, x.ndim))
    if likelihood == "bernoulli":
        t = (x + 1.0) / 2.0
        log_p = jnp.log(jnp.clip((1.0 + y) / 2.0, EPS, 1.0))
        log_not_p = jnp.log(jnp.clip((1.0 - y) / 2.0, EPS, 1.0))
        return -jnp.sum(t * log_p + (1.0 - t) * log_not_p, axis=axes)
    squared = jnp.square(x - y)
    variance = jnp.maximum(jnp.mean(squared), MIN_VARIANCE)
    pixels = np.prod(x.shape[1:])
    return 0.5 * (jnp.sum(squared, axis=axes) / variance + pixels * jnp.log(2 * jnp.pi * variance))


def negative_elbo(x, y, mean, logvar, *, beta: float, likelihood: str) -> tuple:
    """(recon + beta * kl, {'recon', 'kl'}), each a batch mean of nats per image."""
    recon = jnp.mean(reconstruction_nll(x, y, likelihood))
    kl = jnp.mean(kl_divergence(mean, logvar))
    return recon + beta * kl, {"recon": recon, "kl": kl}


def train_step(state, batch, *, m: Models, g_tx, e_tx, config):
    """One step on the negative ELBO; see the module docstring. Bound by `make_train_step`."""
    v = config.vae
    x = batch["x"]
    g, encoder = state.players["g"], state.players[ENCODER]
    noise = jax.random.normal(state_lib.step_key(state, NOISE_TAG), (x.shape[0], v.z_dim))

    def objective(params):
        (mean, logvar), e_vars = state_lib.apply_train(
            m.encoder, params[ENCODER], encoder.variables, x
        )
        z = mean + jnp.exp(0.5 * logvar) * noise  # The reparameterisation trick.
        y, g_vars = state_lib.apply_train(m.decoder, params["g"], g.variables, z)
        loss, parts = negative_elbo(x, y, mean, logvar, beta=v.beta, likelihood=v.likelihood)
        return loss, (g_vars, e_vars, parts)

    params = {"g": g.params, ENCODER: encoder.params}
    (loss, (g_vars, e_vars, parts)), grads = jax.value_and_grad(objective, has_aux=True)(params)
    players = {
        "g": state_lib.apply_updates(g.replace(variables=g_vars), grads["g"], g_tx),
        ENCODER: state_lib.apply_updates(encoder.replace(variables=e_vars), grads[ENCODER], e_tx),
    }
    metrics = {"loss": loss, **parts}
    return state_lib.advance(state, players, metrics, config.train.ema_decay)


def make_train_step(config, spec):
    """The pure step for this config, hyperparameters bound: jit it (and shard it) yourself."""
    g_tx, e_tx = common.optimizers(config)
    return functools.partial(train_step, m=build(config, spec), g_tx=g_tx, e_tx=e_tx, config=config)


def make_generate(config, spec):
    """Pure (state, {'z'}, rng) -> images: the decoder in inference mode, EMA weights."""
    m = build(config, spec, groups=1)

    def generate(state, inputs, rng):
        del rng  # The latents carry all the randomness.
        params = state_lib.sampling_params(state, "g", config)
        variables = {"params": params, **state.players["g"].variables}
        return m.decoder.apply(variables, inputs["z"], train=False)

    return generate


def encode(state, config, spec, x):
    """(mean, logvar) of q(z | x) for images x [N, H, W, C] in [-1, 1] (inference mode)."""
    m = build(config, spec, groups=1)
    encoder = state.players[ENCODER]
    return m.encoder.apply({"params": encoder.params, **encoder.variables}, x, train=False)


def sample_inputs(config, spec, num: int, rng) -> dict:
    """Latents z ~ N(0, I); row i from fold_in(rng, i), so the first n of N samples drawn with a
    seed are the n drawn with it."""
    return {"z": common.row_latents(rng, num, config.vae.z_dim)}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    """Latents from the prior; compared with config.data."""
    return {"z": jax.random.normal(rng, (num, config.vae.z_dim), jnp.float32)}, config.data


def picture(config, spec, inputs, outputs) -> np.ndarray:
    """A grid of the decoder's samples."""
    return images.picture(np.asarray(outputs))
