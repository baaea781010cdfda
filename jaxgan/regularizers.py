"""Gradient penalties on the discriminator's input.

Each takes `d_fn(x) -> logits [B]` with D's parameters bound, and need a D without cross-sample
interactions (no batch statistics): then the gradient of sum(D(x)) w.r.t. x is, row by row, the
gradient of each sample's own logit.
"""

import jax
import jax.numpy as jnp


def _per_sample_grad_sq_norm(d_fn, x):
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    return jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=tuple(range(1, x.ndim)))


def _unit_gradient_penalty(d_fn, x_hat):
    """E[(||grad D(x_hat)|| - 1)^2] over the samples of x_hat (WGAN-GP's and DRAGAN's form)."""
    norms = jnp.sqrt(_per_sample_grad_sq_norm(d_fn, x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def gradient_penalty(d_fn, real, fake, rng):
    """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2], x_hat on per-sample random real-fake segments."""
    eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    return _unit_gradient_penalty(d_fn, eps * real + (1.0 - eps) * fake)


def r1_penalty(d_fn, real):
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; weighted by gamma / 2."""
    return jnp.mean(_per_sample_grad_sq_norm(d_fn, real))


def r2_penalty(d_fn, fake):
    """R2 (Mescheder et al. 2018): E[||grad D(G(z))||^2] on generated data; weighted by gamma / 2.
    With R1 it is the regulariser of RpGAN + R1 + R2 (Huang et al. 2024)."""
    return jnp.mean(_per_sample_grad_sq_norm(d_fn, fake))


DRAGAN_SCALE = 0.5  # Kodali et al.'s perturbation: x + 0.5 std(x) u, u ~ U[0, 1).


def dragan_penalty(d_fn, real, rng):
    """DRAGAN (Kodali et al. 2017): E[(||grad D(x_hat)|| - 1)^2] at x_hat = x + a * delta, a
    ~ U[0, 1) per sample, delta = 0.5 std(x) u with u ~ U[0, 1) per pixel: the WGAN-GP penalty
    around the real data only, where mode collapse begins."""
    noise_rng, alpha_rng = jax.random.split(rng)
    delta = DRAGAN_SCALE * jnp.std(real) * jax.random.uniform(noise_rng, real.shape, real.dtype)
    alpha = jax.random.uniform(alpha_rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    return _unit_gradient_penalty(d_fn, real + alpha * delta)


def path_lengths(synthesize, ws, y):
    """StyleGAN2's path lengths (Karras et al. 2020), one per sample: ||J_w^T y|| with J_w the
    Jacobian of the images synthesize(ws) in the styles ws [N, layers, w_dim], its squared norm
    over w's dimensions averaged over the layers, then square-rooted. y is image-shaped N(0, 1)
    noise scaled by 1 / sqrt(H W), so the lengths do not depend on the resolution."""
    grads = jax.grad(lambda w: jnp.sum(synthesize(w).astype(jnp.float32) * y))(ws)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads.astype(jnp.float32)), -1), -1))


def path_length_penalty(lengths, running_mean, decay: float) -> tuple:
    """(E[(length - a)^2], a): a is the running mean moved toward this batch's mean length by
    `decay` (StyleGAN2's pl_mean; the penalty uses the moved mean, as its reference code does)."""
    mean = running_mean + decay * (jnp.mean(lengths) - running_mean)
    return jnp.mean(jnp.square(lengths - mean)), mean


# Penalty weight key in config.loss -> what it penalises (config validation names them).
PENALTIES = {
    "gp_weight": "WGAN-GP",
    "r1_weight": "R1",
    "r2_weight": "R2",
    "dragan_weight": "DRAGAN",
}
