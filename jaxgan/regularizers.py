"""Gradient penalties on the discriminator's input.

Both take `d_fn(x) -> logits [B]` with D's parameters bound, and need a D without cross-sample
interactions (no batch statistics): then the gradient of sum(D(x)) w.r.t. x is, row by row, the
gradient of each sample's own logit.
"""

import jax
import jax.numpy as jnp


def _per_sample_grad_sq_norm(d_fn, x):
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    return jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=tuple(range(1, x.ndim)))


def gradient_penalty(d_fn, real, fake, rng):
    """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2], x_hat on per-sample random real-fake segments."""
    eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    norms = jnp.sqrt(_per_sample_grad_sq_norm(d_fn, x_hat) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def r1_penalty(d_fn, real):
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; weighted by gamma / 2."""
    return jnp.mean(_per_sample_grad_sq_norm(d_fn, real))
