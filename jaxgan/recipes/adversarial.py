"""The discriminator update every adversarial recipe shares: loss, penalties, clipping, metrics.

A recipe hands over D's module and `call(module, params, variables, images, cond)`, which runs
D in train mode on images with a condition that is the same for real and fake rows (labels for
a conditional GAN, the source image for pix2pix, nothing for an unconditional GAN). D sees real
and fake in one call; BatchNorm keeps the statistics of the two halves apart.

A D that classifies (AC-GAN, Odena et al. 2017) outputs [N, 1 + classes]: column 0 is the
adversarial logit, the rest class logits. D adds loss.class_weight * cross-entropy of its class
logits on the real rows; G adds the same weight times the cross-entropy of its fakes' class
logits against the labels they were made for. D learns classes from real rows only (Odena et
al. also train it on fakes): classifying fakes as their intended class would reward D for
agreeing with G.
"""

import functools

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses, regularizers
from jaxgan import state as state_lib


def discriminator_metrics(loss_name: str, real_logits, fake_logits) -> dict:
    """D_x = mean D(x) and D_G_z = mean D(G(z)) (probabilities, or raw critic values)."""
    if loss_name in losses.PROBABILISTIC:
        real_logits, fake_logits = jax.nn.sigmoid(real_logits), jax.nn.sigmoid(fake_logits)
    return {"D_x": jnp.mean(real_logits), "D_G_z": jnp.mean(fake_logits)}


def split_logits(out) -> tuple:
    """(adversarial logits [N], class logits [N, classes] or None) of D's output."""
    return (out[:, 0], out[:, 1:]) if out.ndim == 2 else (out, None)


def class_loss(class_logits, labels):
    """Mean cross-entropy of class logits against integer labels (AC-GAN's L_C)."""
    return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


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
    logits, classes = split_logits(logits)
    real_logits, fake_logits = jnp.split(logits, 2)
    loss = losses.LOSSES[config.loss.name][0](real_logits, fake_logits)
    penalised = any(config.loss[k] for k in regularizers.PENALTIES) or classes is not None
    aux = {"d_adv_loss": loss} if penalised else {}
    if classes is not None:
        aux["d_class_loss"] = class_loss(jnp.split(classes, 2)[0], cond["label"])
        loss = loss + config.loss.class_weight * aux["d_class_loss"]
    d_fn = lambda v: split_logits(call(d, params, variables, v, cond)[0])[0]
    if config.loss.gp_weight > 0:
        aux["gp"] = regularizers.gradient_penalty(d_fn, real, fake, reg_rng)
        loss = loss + config.loss.gp_weight * aux["gp"]
    if config.loss.r1_weight > 0:
        aux["r1"] = regularizers.r1_penalty(d_fn, real)
        loss = loss + 0.5 * config.loss.r1_weight * aux["r1"]
    if config.loss.r2_weight > 0:
        aux["r2"] = regularizers.r2_penalty(d_fn, fake)
        loss = loss + 0.5 * config.loss.r2_weight * aux["r2"]
    if config.loss.dragan_weight > 0:
        aux["dragan"] = regularizers.dragan_penalty(d_fn, real, jax.random.fold_in(reg_rng, 1))
        loss = loss + config.loss.dragan_weight * aux["dragan"]
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


def g_adversarial_loss(fake, cond, player, *, d, call, config, real=None) -> tuple:
    """(G's adversarial loss of `fake` through D, D's updated non-param variables). The
    relativistic losses compare with D's logits of `real` (the rows `fake` was paired with)."""
    relativistic = config.loss.name in losses.RELATIVISTIC
    if relativistic:
        both = jnp.concatenate([jax.lax.stop_gradient(real), fake])
        logits, variables = call(paired(d), player.params, player.variables, both, twice(cond))
    else:
        logits, variables = call(d, player.params, player.variables, fake, cond)
    logits, classes = split_logits(logits)
    if relativistic:
        real_logits, logits = jnp.split(logits, 2)
        classes = None if classes is None else jnp.split(classes, 2)[1]
        loss = losses.LOSSES[config.loss.name][1](logits, real_logits)
    else:
        loss = losses.LOSSES[config.loss.name][1](logits)
    if classes is not None:
        loss = loss + config.loss.class_weight * class_loss(classes, cond["label"])
    return loss, variables
