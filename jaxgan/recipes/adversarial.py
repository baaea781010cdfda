"""The discriminator update every adversarial recipe shares: loss, penalties, clipping, metrics.

A recipe hands over D's module and `call(module, params, variables, images, cond)`, which runs
D in train mode on images with a condition that is the same for real and fake rows (labels for
a conditional GAN, the source image for pix2pix, nothing for an unconditional GAN). D sees real
and fake in one call; BatchNorm keeps the statistics of the two halves apart.
"""

import functools

import jax
import jax.numpy as jnp

from jaxgan import losses, regularizers
from jaxgan import state as state_lib


def discriminator_metrics(loss_name: str, real_logits, fake_logits) -> dict:
    """D_x = mean D(x) and D_G_z = mean D(G(z)) (probabilities, or raw critic values)."""
    if loss_name in losses.PROBABILISTIC:
        real_logits, fake_logits = jax.nn.sigmoid(real_logits), jax.nn.sigmoid(fake_logits)
    return {"D_x": jnp.mean(real_logits), "D_G_z": jnp.mean(fake_logits)}


def paired(d):
    """D for one call on [real; fake]: BatchNorm keeps separate statistics for the two halves."""
    return d.clone(bn_groups=2 * d.bn_groups) if hasattr(d, "bn_groups") else d


def twice(cond):
    """The condition of [real; fake] rows: each leaf stacked on itself."""
    return jax.tree.map(lambda c: jnp.concatenate([c, c]), cond)


def d_objective(params, variables, real, fake, cond, reg_rng, *, d, call, config):
    """D's loss (plus penalties) on one real batch and one (constant) fake batch."""
    logits, new_vars = call(
        paired(d), params, variables, jnp.concatenate([real, fake]), twice(cond)
    )
    real_logits, fake_logits = jnp.split(logits, 2)
    loss = losses.LOSSES[config.loss.name][0](real_logits, fake_logits)
    aux = {"d_adv_loss": loss} if config.loss.gp_weight or config.loss.r1_weight else {}
    d_fn = lambda v: call(d, params, variables, v, cond)[0]
    if config.loss.gp_weight > 0:
        aux["gp"] = regularizers.gradient_penalty(d_fn, real, fake, reg_rng)
        loss = loss + config.loss.gp_weight * aux["gp"]
    if config.loss.r1_weight > 0:
        aux["r1"] = regularizers.r1_penalty(d_fn, real)
        loss = loss + 0.5 * config.loss.r1_weight * aux["r1"]
    return loss, (new_vars, real_logits, fake_logits, aux)


def d_update(player, real, fake, cond, reg_rng, *, d, tx, call, config) -> tuple:
    """(player after one D update, metrics). `fake` is treated as a constant."""
    objective = functools.partial(d_objective, d=d, call=call, config=config)
    (loss, (variables, real_logits, fake_logits, aux)), grads = jax.value_and_grad(
        objective, has_aux=True
    )(player.params, player.variables, real, jax.lax.stop_gradient(fake), cond, reg_rng)
    player = state_lib.apply_updates(player.replace(variables=variables), grads, tx)
    if config.loss.clip > 0:
        clip = config.loss.clip
        player = player.replace(
            params=jax.tree.map(lambda p: jnp.clip(p, -clip, clip), player.params)
        )
    metrics = {
        "d_loss": loss,
        **aux,
        **discriminator_metrics(config.loss.name, real_logits, fake_logits),
    }
    return player, metrics


def g_adversarial_loss(fake, cond, player, *, d, call, config) -> tuple:
    """(G's adversarial loss of `fake` through D, D's updated non-param variables)."""
    logits, variables = call(d, player.params, player.variables, fake, cond)
    return losses.LOSSES[config.loss.name][1](logits), variables
