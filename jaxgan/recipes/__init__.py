"""Recipes: one module per GAN task, chosen by `config.recipe`.

A recipe module provides:

    NAME, GENERATORS, DISCRIMINATORS    its name and the architectures it can train (first:
                                        the default)
    EXPERIMENT                          its reference experiment; tests run it with ':smoke'
    default_config() -> ConfigDict      its own section, config.<NAME>, with defaults
    validate(config)                    ConfigError for a bad value of its own keys
    SMOKE                               overrides of that section for tests
    check(config, spec)                 ConfigError for combinations that make no sense
    init(config, spec, rng) -> TrainState
    make_train_step(config, spec)       pure (state, batch) -> (state, metrics)
    phase(config, spec, step) (optional) which compiled step trains `step` (ProGAN's stage):
                                        make_train_step(config, spec, phase=...) builds it
    make_generate(config, spec)         pure (state, inputs, rng) -> images, inference mode
    sample_inputs(config, spec, num, rng, **given) -> inputs for the sample grid and
                                        --mode=sample (latents, labels, source images)
    eval_inputs(config, spec, num, rng) -> (inputs, reference data config): what evaluation
                                        feeds generate, and whose images it compares against
    picture(config, spec, inputs, images) -> uint8 picture of a sample grid

and may provide paired_crop(config) -> border pixels that the 'paired' metrics leave out
(super-resolution: its scale).

The loop, checkpointing, sampling and evaluation call these and never ask which recipe runs.
"""

import importlib

RECIPES = {
    "gan": "jaxgan.recipes.gan",
    "pix2pix": "jaxgan.recipes.pix2pix",
    "cyclegan": "jaxgan.recipes.cyclegan",
    "sr": "jaxgan.recipes.sr",
    "inpaint": "jaxgan.recipes.inpaint",
    "vae": "jaxgan.recipes.vae",
    "progan": "jaxgan.recipes.progan",
}


def get(name: str):
    """The recipe module registered under `name` (config validation names the bad value)."""
    return importlib.import_module(RECIPES[name])


def prepare(config):
    """(recipe module, DataSpec) of a config that is checked against its data: config keys,
    architecture shapes and the recipe's own rules. Reads no data; raises ConfigError/DataError."""
    from jaxgan import config as config_lib
    from jaxgan import data, models

    config_lib.validate(config)
    spec = data.describe(config.data)
    for role in ("g", "d"):
        cfg = config.model[role]
        try:
            models.architecture(role, cfg).check(cfg, tuple(spec.shape))
        except ValueError as e:
            raise config_lib.ConfigError(
                f"model.{role}.name={cfg.name!r} does not fit data.name={spec.name!r}: {e}"
            ) from e
    _check_penalties(config)
    recipe = get(config.recipe)
    recipe.check(config, spec)
    return recipe, spec


def _check_penalties(config) -> None:
    """Weight clipping and spectral norm are two ways to one end: one at a time. A gradient
    penalty differentiates each sample's logit by that sample alone: BatchNorm in D
    makes every logit depend on the whole batch, so the penalty would be of the wrong function."""
    from jaxgan import config as config_lib
    from jaxgan import regularizers

    if config.loss.clip > 0 and config.model.d.get("spectral_norm", False):
        raise config_lib.ConfigError(
            f"loss.clip={config.loss.clip} with model.d.spectral_norm=True: both bound D's "
            "Lipschitz constant, and clipping the normalised weights breaks spectral norm's "
            "power iteration; use one of them"
        )
    if config.loss.pl_weight > 0 and config.model.g.name != "stylegan2":
        raise config_lib.ConfigError(
            f"loss.pl_weight={config.loss.pl_weight} with model.g.name={config.model.g.name!r}: "
            "path-length regularisation needs StyleGAN2's styles; use model.g.name='stylegan2' "
            "or loss.pl_weight=0"
        )
    norm = config.model.d.get("norm")
    for key, name in regularizers.PENALTIES.items():
        if config.loss[key] > 0 and norm == "batch":
            raise config_lib.ConfigError(
                f"loss.{key}={config.loss[key]} with model.d.norm='batch': the {name} penalty "
                "needs each logit to depend on its own sample, and BatchNorm mixes the batch; "
                "use model.d.norm='none' (or 'instance' where D has it)"
            )


def create_train_state(config, rng):
    """The recipe's initial state for `config`, compiled as one function (not dozens of eager
    initialisers)."""
    import functools

    import jax

    from jaxgan import state as state_lib

    recipe, spec = prepare(config)
    return jax.jit(functools.partial(recipe.init, config, spec))(state_lib.raw_key(rng))


def make_train_step(config):
    """The recipe's pure (state, batch) -> (state, metrics) for `config`: jit (and shard) it."""
    recipe, spec = prepare(config)
    return recipe.make_train_step(config, spec)
