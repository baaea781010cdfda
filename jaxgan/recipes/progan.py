"""Progressive growing of GANs (Karras et al. 2018): latents to images, trained from 4x4 up.

Schedule (`progan.stage_steps` = S): stage 0 (4x4) trains for S steps; every later stage first
fades in over S steps (alpha rising linearly from 0 to 1), then trains stable for S steps; the
last stage (the data's side) stays. Stage and alpha are functions of the step, so a run killed
mid-fade resumes exactly where it was. Each stage compiles its own step (`phase`: the loop
compiles a stage's step when the run reaches it).

One step: one D update and one G update, as the GAN recipe's with n_critic = 1 (G's forward
pass reused for its own update), at the stage's side: the real images are 2x average-pooled
down to it and, while the stage fades in, blended with their pooled-and-upsampled version by the
same alpha, as the paper fades the reals. The loss and penalties are the `loss` section's (the
paper's: Wasserstein, gradient penalty 10, and `loss.drift_weight` 0.001 x E[D(x)^2]).

Samples and evaluation use the stage the state is at (its alpha too), upsampled to the data's
side (nearest), so a grid drawn at 8x8 shows 8x8 blocks.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import images
from jaxgan import state as state_lib
from jaxgan.config import ConfigError
from jaxgan.models import equalized, progan
from jaxgan.recipes import adversarial, common

NAME = "progan"
GENERATORS = ("progan",)
DISCRIMINATORS = ("progan",)
SMOKE = {"z_dim": 8, "stage_steps": 1}
EXPERIMENT = "progan"
LATENT = True  # Its generator maps latents z to images.
STAGE_TAG = 2**16  # step_key tags: 0 the latents and D's regulariser, this one G's view.


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.z_dim = 128  # Latent size; z ~ N(0, I), pixel-normalised by G.
    c.stage_steps = 1000  # Steps of each fade-in and each stable phase (the paper: 800k images).
    return c


def validate(config) -> None:
    for key in ("z_dim", "stage_steps"):
        if config.progan[key] < 1:
            raise ConfigError(
                f"progan.{key}={config.progan[key]!r} is out of range: it must be >= 1"
            )
    if config.train.n_critic != 1:
        raise ConfigError(
            f"train.n_critic={config.train.n_critic} with recipe 'progan': it takes one D "
            "update per G update (the paper's); use train.n_critic=1"
        )


def check(config, spec) -> None:
    if spec.num_classes and config.data.clusters:
        raise ConfigError("data.clusters labels a conditional GAN; ProGAN is unconditional")


def last_stage(spec) -> int:
    return equalized.num_steps(spec.shape[0])


def stage_of(config, step, last: int):
    """The stage at `step` (an int, or traced)."""
    s = config.progan.stage_steps
    grown = 1 + (step - s) // (2 * s)
    if isinstance(step, int):
        return 0 if step < s else min(last, grown)
    return jnp.clip(jnp.where(step < s, 0, grown), 0, last)


def alpha_of(config, step, stage: int):
    """The fade-in of `stage` at `step`: 0 -> 1 over its first stage_steps steps."""
    if stage == 0:
        return jnp.float32(1.0)
    s = config.progan.stage_steps
    begins = s + (stage - 1) * 2 * s
    return jnp.clip((jnp.asarray(step, jnp.float32) - begins) / s, 0.0, 1.0)


def phase(config, spec, step: int) -> int:
    """The stage whose compiled step trains `step` (the loop's hook)."""
    return stage_of(config, step, last_stage(spec))


def reals_at(x, stage: int, last: int, alpha):
    """The real images at the stage's side, faded like G's output while the stage grows."""
    for _ in range(last - stage):
        x = progan.pool(x)
    if stage > 0:
        x = progan.fade(progan.upsample(progan.pool(x)), x, alpha)
    return x


def init(config, spec, rng) -> state_lib.TrainState:
    g, d = common.build_pair(config, spec, groups=1)
    rng, g_rng, d_rng = jax.random.split(state_lib.raw_key(rng), 3)
    g_tx, d_tx = common.optimizers(config)
    z = jnp.zeros((1, config.progan.z_dim), jnp.float32)
    x = jnp.zeros((1,) + tuple(spec.shape), jnp.float32)
    players = {
        "g": state_lib.init_player(g, g_tx, g_rng, z),
        "d": state_lib.init_player(d, d_tx, d_rng, x),
    }
    return state_lib.initial_state(rng, players)


def train_step(state, batch, *, g_module, d_module, g_tx, d_tx, config, stage: int, last: int):
    """One step at `stage` (see the module docstring). Bound by `make_train_step`."""
    alpha = alpha_of(config, state.step, stage)
    kwargs = {"stage": stage, "alpha": alpha}
    g, d = state.players["g"], state.players["d"]
    z_rng, reg_rng = jax.random.split(state_lib.step_key(state, 0))
    real = reals_at(batch["x"], stage, last, alpha)
    z = jax.random.normal(z_rng, (real.shape[0], config.progan.z_dim), jnp.float32)

    def call(module, params, variables, x, cond, rng):
        del cond
        (x,) = adversarial.d_view((x,), rng, state.step, config)
        return adversarial.apply_d(module, params, variables, x, rng, **kwargs)

    generate = lambda p: state_lib.apply_train(g_module, p, g.variables, z, **kwargs)
    fake, g_vjp, g_vars = jax.vjp(generate, g.params, has_aux=True)
    d, metrics = adversarial.d_update(
        d, real, fake, {}, reg_rng, d=d_module, tx=d_tx, call=call, config=config, d_step=state.step
    )
    g_loss_of = functools.partial(
        adversarial.g_adversarial_loss,
        cond={},
        player=d,
        rng=state_lib.step_key(state, STAGE_TAG),
        d=d_module,
        call=call,
        config=config,
        real=real,
    )
    (g_loss, d_vars), fake_grad = jax.value_and_grad(g_loss_of, has_aux=True)(fake)
    (g_grads,) = g_vjp(fake_grad)
    g = state_lib.apply_updates(g.replace(variables=g_vars), g_grads, g_tx)
    players = {"g": g, "d": d.replace(variables=d_vars)}
    metrics = {**metrics, "g_loss": g_loss, "alpha": alpha}
    return state_lib.advance(state, players, metrics, config.train.ema_decay)


def make_train_step(config, spec, phase: int | None = None):
    """The pure step of stage `phase` (default: the last), hyperparameters bound."""
    g, d = common.build_pair(config, spec)
    g_tx, d_tx = common.optimizers(config)
    last = last_stage(spec)
    stage = last if phase is None else phase
    return functools.partial(
        train_step,
        g_module=g,
        d_module=d,
        g_tx=g_tx,
        d_tx=d_tx,
        config=config,
        stage=stage,
        last=last,
    )


def make_generate(config, spec):
    """Pure (state, {'z'}, rng) -> images: G (EMA weights) at the state's stage and alpha, at the
    data's side."""
    g, _ = common.build_pair(config, spec, groups=1)
    last = last_stage(spec)

    def at_stage(k, variables, z, step):
        out = g.apply(variables, z, train=False, stage=k, alpha=alpha_of(config, step, k))
        for _ in range(last - k):
            out = progan.upsample(out)
        return out

    def generate(state, inputs, rng):
        del rng  # The latents carry all the randomness.
        params = state_lib.sampling_params(state, "g", config)
        variables = {"params": params, **state.players["g"].variables}
        branches = [functools.partial(at_stage, k) for k in range(last + 1)]
        stage = stage_of(config, state.step, last)
        return jax.lax.switch(stage, branches, variables, inputs["z"], state.step)

    return generate


def sample_inputs(config, spec, num: int, rng, *, labels=None) -> dict:
    """Latents for grids and sampling: row i's from fold_in(rng, i)."""
    if labels is not None:
        raise ConfigError(f"labels={labels!r} given, but ProGAN's generator is unconditional")
    return {"z": common.row_latents(rng, num, config.progan.z_dim)}


def eval_inputs(config, spec, num: int, rng) -> tuple:
    return {"z": jax.random.normal(rng, (num, config.progan.z_dim), jnp.float32)}, config.data


def picture(config, spec, inputs, outputs):
    return images.picture(outputs)
