"""The discriminator update every adversarial recipe shares: loss, penalties, clipping, metrics.

A recipe hands over D's module and `call(module, params, variables, images, cond, rng)`, which
runs D in train mode on `jaxgan.augment.d_view` of the images (DiffAugment, instance noise) with
a condition that is the same for real and fake rows (labels for a conditional GAN, the source
image for pix2pix, nothing for an unconditional GAN); `rng` draws the view and D's dropout.
D sees real and fake in one call; BatchNorm keeps the statistics of the two halves apart.

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

from jaxgan import augment, losses, regularizers
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


# Tags of the keys a D update derives from its regulariser key (WGAN-GP draws from the key
# itself).
DRAGAN_TAG, VIEW_TAG, PENALTY_VIEW_TAG = 1, 2, 3


def d_loss_fn(config):
    """D's adversarial loss (real logits, fake logits) -> scalar, one-sided label smoothing
    included: with smoothing s, real data's target is 1 - s (Salimans et al. 2016)."""
    s = config.loss.label_smoothing
    if s == 0:
        return losses.LOSSES[config.loss.name][0]
    return lambda real, fake: losses.bce_d_loss(real, fake, real_target=1.0 - s)


def penalties(d_fn, real, fake, rng, config) -> dict:
    """Each configured gradient penalty's value: {'gp': ..., 'r1': ...}."""
    loss = config.loss
    values = {}
    if loss.gp_weight > 0:
        values["gp"] = regularizers.gradient_penalty(d_fn, real, fake, rng)
    if loss.r1_weight > 0:
        values["r1"] = regularizers.r1_penalty(d_fn, real)
    if loss.r2_weight > 0:
        values["r2"] = regularizers.r2_penalty(d_fn, fake)
    if loss.dragan_weight > 0:
        dragan_rng = jax.random.fold_in(rng, DRAGAN_TAG)
        values["dragan"] = regularizers.dragan_penalty(d_fn, real, dragan_rng)
    return values


def penalty_weights(config) -> dict:
    """The weight each penalty's value has in D's loss (R1 and R2: gamma / 2)."""
    loss = config.loss
    return {
        "gp": loss.gp_weight,
        "r1": 0.5 * loss.r1_weight,
        "r2": 0.5 * loss.r2_weight,
        "dragan": loss.dragan_weight,
    }


def when_due(compute, skip, k: int, step, due=None):
    """compute() on steps 0, k, 2k, ... and skip() on the others (lazy regularisation).

    `due` (a Python bool) says which this step is, for a step compiled for it; None decides from
    the traced `step` with a lax.cond, so one compiled step serves every step. XLA:CPU runs
    convolutions inside a conditional many times slower than outside it (jax-ml/jax#12868), so
    the GAN recipe's loop-run steps pass `due` (see gan.phase)."""
    if k == 1 or due is True:
        return compute()
    if due is False:
        return skip()
    return jax.lax.cond(step % k == 0, compute, skip)


def lazy_penalties(d_fn, real, fake, rng, config, d_step, due=None) -> dict:
    """The penalties on D updates d_step = 0, k, 2k, ... only, k = loss.lazy_interval (Karras et
    al. 2020's lazy regularisation; the loss weighs them k times). In between: zeros from a step
    that decides inside (`due` None), none from a step compiled for an update without them
    (`due` False; the loop's logs then keep the last values). See when_due."""
    compute = lambda: penalties(d_fn, real, fake, rng, config)
    zeros = lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(compute))
    skip = dict if due is False else zeros
    return when_due(compute, skip, config.loss.lazy_interval, d_step, due)


def d_objective(params, variables, real, fake, cond, reg_rng, d_step, *, d, call, config, due=None):
    """D's loss (plus penalties) on one real batch and one (constant) fake batch."""
    view_rng = jax.random.fold_in(reg_rng, VIEW_TAG)
    both = jnp.concatenate([real, fake])
    logits, new_vars = call(paired(d), params, variables, both, twice(cond), view_rng)
    logits, classes = split_logits(logits)
    real_logits, fake_logits = jnp.split(logits, 2)
    loss = d_loss_fn(config)(real_logits, fake_logits)
    penalised = any(config.loss[k] for k in regularizers.PENALTIES) or classes is not None
    aux = {"d_adv_loss": loss} if penalised or config.loss.drift_weight else {}
    if config.loss.drift_weight:  # ProGAN: keeps a Wasserstein critic's outputs near 0.
        aux["drift"] = jnp.mean(jnp.square(real_logits))
        loss = loss + config.loss.drift_weight * aux["drift"]
    if classes is not None:
        aux["d_class_loss"] = class_loss(jnp.split(classes, 2)[0], cond["label"])
        loss = loss + config.loss.class_weight * aux["d_class_loss"]
    penalty_view = jax.random.fold_in(reg_rng, PENALTY_VIEW_TAG)
    d_fn = lambda v: split_logits(call(d, params, variables, v, cond, penalty_view)[0])[0]
    values = lazy_penalties(d_fn, real, fake, reg_rng, config, d_step, due)
    weights = penalty_weights(config)
    for name, value in values.items():  # One add each, in a fixed order.
        loss = loss + config.loss.lazy_interval * weights[name] * value
    aux.update(values)
    return loss, (new_vars, real_logits, fake_logits, aux)


def d_update(
    player,
    real,
    fake,
    cond,
    reg_rng,
    *,
    d,
    tx,
    call,
    config,
    d_step=0,
    constant_fake=True,
    due=None,
) -> tuple:
    """(player after one D update, metrics). `d_step` counts D updates (for lazy
    regularisation; `due`: see when_due). `fake` is a constant unless `constant_fake` is
    False: then the new player is differentiable in `fake` (an unrolled GAN's G looks through
    D's updates)."""
    objective = functools.partial(d_objective, d=d, call=call, config=config, due=due)
    fake = jax.lax.stop_gradient(fake) if constant_fake else fake
    (loss, (variables, real_logits, fake_logits, aux)), grads = jax.value_and_grad(
        objective, has_aux=True
    )(player.params, player.variables, real, fake, cond, reg_rng, d_step)
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
    if config.augment.ada == "adaptive":  # ADA's overfitting heuristic r_t.
        metrics["ada_rt"] = jnp.mean(jnp.sign(real_logits))
    return player, metrics


def g_adversarial_loss(fake, cond, player, rng, *, d, call, config, real=None) -> tuple:
    """(G's adversarial loss of `fake` through D, D's updated non-param variables). The
    relativistic losses compare with D's logits of `real` (the rows `fake` was paired with).
    `rng` draws what D's view of the images needs (augmentation, noise, dropout)."""
    relativistic = config.loss.name in losses.RELATIVISTIC
    if relativistic:
        both = jnp.concatenate([jax.lax.stop_gradient(real), fake])
        logits, variables = call(paired(d), player.params, player.variables, both, twice(cond), rng)
    else:
        logits, variables = call(d, player.params, player.variables, fake, cond, rng)
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


def d_view(images: tuple, rng, step, config, ada_p=None) -> tuple:
    """`images` as D sees them at `step` (jaxgan.augment.d_view), drawn from a call's `rng`."""
    return augment.d_view(images, jax.random.fold_in(rng, 0), step, config, ada_p)


def image_call(step, config):
    """D's train-mode `call` on its view of images alone (no condition: CycleGAN, SR)."""

    def call(d, params, variables, x, cond, rng):
        del cond
        (x,) = d_view((x,), rng, step, config)
        return apply_d(d, params, variables, x, rng)

    return call


def pair_call(step, config):
    """D's train-mode `call` on (cond['source'], image) pairs: both seen alike (the same
    augmentation), then concatenated along channels (pix2pix, inpainting)."""

    def call(d, params, variables, x, cond, rng):
        source, x = d_view((cond["source"], x), rng, step, config)
        return apply_d(d, params, variables, jnp.concatenate([source, x], -1), rng)

    return call


def apply_d(d, params, variables, x, rng, **kwargs):
    """D's train-mode call, with the key of its dropout layers (if it has any) from `rng`."""
    return state_lib.apply_train(
        d, params, variables, x, rngs={"dropout": jax.random.fold_in(rng, 1)}, **kwargs
    )
