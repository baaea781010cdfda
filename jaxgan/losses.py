"""Adversarial losses on discriminator logits.

Each entry of `LOSSES` is a pair `(d_loss(real, fake), g_loss(fake))` of functions from logits to
scalars, minimised by their player. Written with softplus so that extreme logits stay finite:
log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l) for D(x) = sigmoid(l).
"""

import jax
import jax.numpy as jnp


def bce_d_loss(real, fake):
    """-E[log D(x)] - E[log(1 - D(G(z)))]: D's side of the minimax game."""
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


def minimax_g_loss(fake):
    """E[log(1 - D(G(z)))]: the saturating generator loss of the original minimax game."""
    return -jnp.mean(jax.nn.softplus(fake))


def non_saturating_g_loss(fake):
    """-E[log D(G(z))]: same fixed point, strong gradients when D rejects the samples."""
    return jnp.mean(jax.nn.softplus(-fake))


def wasserstein_d_loss(real, fake):
    return jnp.mean(fake) - jnp.mean(real)


def wasserstein_g_loss(fake):
    return -jnp.mean(fake)


def least_squares_d_loss(real, fake):
    """LSGAN with targets b=1 (real), a=0 (fake)."""
    return 0.5 * jnp.mean(jnp.square(real - 1.0)) + 0.5 * jnp.mean(jnp.square(fake))


def least_squares_g_loss(fake):
    return 0.5 * jnp.mean(jnp.square(fake - 1.0))


def hinge_d_loss(real, fake):
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


LOSSES = {
    "minimax": (bce_d_loss, minimax_g_loss),
    "non_saturating": (bce_d_loss, non_saturating_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
    "least_squares": (least_squares_d_loss, least_squares_g_loss),
    "hinge": (hinge_d_loss, wasserstein_g_loss),
}

# Losses whose logits are log-odds, so sigmoid(logit) is D's probability that the input is real.
PROBABILISTIC = ("minimax", "non_saturating")
