"""Adversarial losses on discriminator logits.

Each entry of `LOSSES` is a pair `(d_loss(real, fake), g_loss(fake))` of functions from logits to
scalars, minimised by their player; for the relativistic losses (`RELATIVISTIC`) G's loss also
reads D's logits of real data, `g_loss(fake, real)`. Written with softplus so that extreme
logits stay finite: log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l) for D(x) = sigmoid(l).
"""

import jax
import jax.numpy as jnp


def bce_d_loss(real, fake, real_target=1.0):
    """-E[log D(x)] - E[log(1 - D(G(z)))]: D's side of the minimax game. With real_target t < 1
    (one-sided label smoothing) the real term is the cross-entropy against t:
    -E[t log D(x) + (1 - t) log(1 - D(x))]."""
    real_term = jax.nn.softplus(-real)
    if real_target != 1.0:
        real_term = real_target * real_term + (1.0 - real_target) * jax.nn.softplus(real)
    return jnp.mean(real_term) + jnp.mean(jax.nn.softplus(fake))


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


def relativistic_d_loss(real, fake):
    """RpGAN (Jolicoeur-Martineau 2019), real and fake paired row by row:
    E[-log sigmoid(C(x_r) - C(x_f))]: D ranks each real above its paired fake."""
    return jnp.mean(jax.nn.softplus(-(real - fake)))


def relativistic_g_loss(fake, real):
    """RpGAN's generator: E[-log sigmoid(C(x_f) - C(x_r))], the same pairs ranked the other way."""
    return jnp.mean(jax.nn.softplus(-(fake - real)))


def relativistic_average_d_loss(real, fake):
    """RaGAN (Jolicoeur-Martineau 2019): -E_r[log sigmoid(C(x_r) - E_f C)]
    - E_f[log(1 - sigmoid(C(x_f) - E_r C))]: each sample against the other side's mean logit."""
    return jnp.mean(jax.nn.softplus(-(real - jnp.mean(fake)))) + jnp.mean(
        jax.nn.softplus(fake - jnp.mean(real))
    )


def relativistic_average_g_loss(fake, real):
    """RaGAN's generator: D's loss with the roles of real and fake swapped."""
    return relativistic_average_d_loss(fake, real)


LOSSES = {
    "minimax": (bce_d_loss, minimax_g_loss),
    "non_saturating": (bce_d_loss, non_saturating_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
    "least_squares": (least_squares_d_loss, least_squares_g_loss),
    "hinge": (hinge_d_loss, wasserstein_g_loss),
    "relativistic": (relativistic_d_loss, relativistic_g_loss),
    "relativistic_average": (relativistic_average_d_loss, relativistic_average_g_loss),
}

# Losses whose generator side reads D's logits of real data too.
RELATIVISTIC = ("relativistic", "relativistic_average")

# Losses whose logits are log-odds, so sigmoid(logit) is D's probability that the input is real.
PROBABILISTIC = ("minimax", "non_saturating")
