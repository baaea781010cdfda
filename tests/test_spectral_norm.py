"""Spectral normalisation (Miyato et al. 2018): the power iteration finds the largest singular
value, its vector u lives in the players' non-param variables (train-mode calls update it,
inference calls do not), checkpoints carry it exactly, and G and D train, load and export
with it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan import checkpoint, data, recipes, train
from jaxgan import generator as gen_lib
from jaxgan.models import layers

from conftest import ROOT

SPECTRAL = layers.SPECTRAL


class Normalised(nn.Module):
    """One layer through layers.spectral_norm, as the architectures use it."""

    layer: nn.Module

    @nn.compact
    def __call__(self, x, train: bool):
        return layers.spectral_norm(self.layer, True, train)(x)


def _matrix(shape, singular_values, seed=0):
    """A matrix [m, n] with the given singular values (descending) and random singular vectors."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    v, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    s = np.zeros(shape)
    s[np.arange(len(singular_values)), np.arange(len(singular_values))] = singular_values
    return (u @ s @ v.T).astype(np.float32)


def _sigma(variables):
    (sigma,) = [v for k, v in _flat(variables[SPECTRAL]).items() if k.endswith("sigma")]
    return float(sigma)


def _flat(tree):
    return {
        "/".join(str(getattr(p, "key", p)) for p in path): v
        for path, v in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


@pytest.mark.parametrize(
    "layer, kernel_shape",
    [
        (nn.Dense(5), (8, 5)),
        # A conv kernel (k, k, in, out) is normalised as the [k * k * in, out] matrix.
        (layers.Conv2x(5, kernel_size=4), (4, 4, 2, 5)),
    ],
)
def test_power_iteration_converges_to_the_largest_singular_value(layer, kernel_shape):
    matrix = _matrix((int(np.prod(kernel_shape[:-1])), kernel_shape[-1]), [3.0, 2.0, 1.0, 0.5])
    want = np.linalg.svd(matrix, compute_uv=False)[0]
    x = jnp.asarray(
        np.random.default_rng(1).normal(size=(3, 8, 8, 2) if len(kernel_shape) == 4 else (3, 8)),
        jnp.float32,
    )
    module = Normalised(layer)
    variables = module.init(jax.random.PRNGKey(0), x, train=False)
    params = jax.tree.map(jnp.asarray, variables["params"])
    params["layer"]["kernel"] = jnp.asarray(matrix.reshape(kernel_shape))
    variables = {**variables, "params": params}
    assert _sigma(variables) == 1.0  # Not estimated yet.

    @jax.jit
    def call(variables):
        _, updates = module.apply(variables, x, train=True, mutable=[SPECTRAL])
        return {**variables, **updates}

    sigmas = []
    for _ in range(30):
        variables = call(variables)
        sigmas.append(_sigma(variables))
    assert sigmas[0] != pytest.approx(want, rel=1e-2)  # One step from a random u is not there.
    np.testing.assert_allclose(sigmas[-1], want, rtol=1e-4)
    # The layer computes with W / sigma_max (its bias is still zero).
    y = module.apply(variables, x, train=False)
    plain = layer.apply({"params": params["layer"]}, x)
    np.testing.assert_allclose(y, plain / want, rtol=1e-4, atol=1e-5)


def test_only_train_mode_calls_update_u():
    module = Normalised(nn.Dense(4))
    x = jnp.ones((2, 6))
    variables = module.init(jax.random.PRNGKey(0), x, train=False)
    u = variables[SPECTRAL]
    _, after_inference = module.apply(variables, x, train=False, mutable=True)
    jax.tree.map(np.testing.assert_array_equal, after_inference[SPECTRAL], u)
    module.apply(variables, x, train=False)  # Immutable variables: no write is attempted.
    _, after_train = module.apply(variables, x, train=True, mutable=True)
    key = "SpectralNorm_0/layer/kernel/u"
    assert not np.allclose(_flat(after_train[SPECTRAL])[key], _flat(u)[key])


@pytest.mark.parametrize("name", ["dcgan", "mlp", "resnet"])
def test_the_params_keep_their_names_and_u_sits_beside_them(name):
    """Spectral norm adds only the 'spectral' collection: checkpoints of the params are the same
    trees with or without it, and D's every weight matrix has its u."""
    from conftest import build_models

    config = jaxgan.default_config("gan", g=name, d=name)
    config.model.g.update(jaxgan.models.architecture("g", config.model.g).smoke)
    config.model.d.update(jaxgan.models.architecture("d", config.model.d).smoke)
    variables = {}
    for sn in (False, True):
        config.model.d.spectral_norm = sn
        _, d = build_models(config, (28, 28, 1))
        variables[sn] = d.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 1)), train=False)
    shapes = lambda tree: jax.tree.map(jnp.shape, tree)
    assert shapes(variables[True]["params"]) == shapes(variables[False]["params"])
    assert SPECTRAL not in variables[False]
    matrices = [k for k, v in _flat(variables[True]["params"]).items() if v.ndim >= 2]
    us = [k for k in _flat(variables[True][SPECTRAL]) if k.endswith("/u")]
    assert len(us) == len(matrices) > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir):
    """DCGAN's smoke run with spectral norm in G and D: 2 steps, then a checkpoint."""
    config = jaxgan.load_config(str(ROOT / "experiments" / "dcgan_plain.py"), "smoke")
    config.model.d.spectral_norm = config.model.g.spectral_norm = True
    recipe, spec = recipes.prepare(config)
    initial = recipes.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(recipe.make_train_step(config, spec))
    iterator = train.make_iterator(config)
    state = initial
    for _ in range(2):
        state, metrics = step(state, jax.tree.map(jnp.asarray, next(iterator)))
        assert all(np.isfinite(v) for v in jax.device_get(metrics).values()), metrics
    workdir = tmp_path_factory.mktemp("sn") / "run"
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", max_to_keep=1)
    ckpt.save(2, state, iterator, config)
    ckpt.wait()
    ckpt.close()
    return dict(config=config, initial=initial, state=state, workdir=workdir)


def test_a_gan_step_updates_u_and_a_checkpoint_restores_it_exactly(trained):
    config, state = trained["config"], trained["state"]
    for name in ("g", "d"):
        u = _flat(state.players[name].variables[SPECTRAL])
        u0 = _flat(trained["initial"].players[name].variables[SPECTRAL])
        assert u and all(not np.array_equal(u[k], u0[k]) for k in u if k.endswith("/u")), name
    restored = checkpoint.restore_state(config, trained["workdir"])
    for name in ("g", "d"):
        saved = _flat(state.players[name].variables[SPECTRAL])
        got = _flat(restored.players[name].variables[SPECTRAL])
        assert sorted(saved) == sorted(got)
        for k in saved:
            np.testing.assert_array_equal(got[k], saved[k])
    # And the rest of the state too: a resumed run continues exactly where this one stood.
    jax.tree.map(np.testing.assert_array_equal, restored, state)


def test_a_spectrally_normalised_generator_samples_loads_and_exports(trained, tmp_path):
    config, state = trained["config"], trained["state"]
    key = jax.random.PRNGKey(3)
    images = jaxgan.sample(state, config, key, 4)  # Inference mode: immutable variables.
    gen = jaxgan.load_generator(trained["workdir"])
    assert SPECTRAL in gen.state.players["g"].variables
    inputs = gen.inputs(4, key)
    np.testing.assert_allclose(gen(inputs), images, atol=1e-6)
    gen_lib.export(gen, tmp_path)
    exported = jax.export.deserialize((tmp_path / "generator.jax_export").read_bytes())
    np.testing.assert_allclose(exported.call(inputs["z"]), images, atol=1e-5)


def test_an_mlp_gan_with_spectral_norm_in_d_trains(smoke_config):
    config = smoke_config("gan_mlp")
    config.model.d.spectral_norm = True
    recipe, spec = recipes.prepare(config)
    state = recipes.create_train_state(config, jax.random.PRNGKey(0))
    step = jax.jit(recipe.make_train_step(config, spec))
    batches = data.make_iterator(config.data, global_batch_size=config.train.batch_size, seed=0)
    before = state.players["d"].variables[SPECTRAL]
    for _ in range(2):
        state, metrics = step(state, jax.tree.map(jnp.asarray, next(batches)))
    assert float(metrics["finite"]) == 1.0
    changed = jax.tree.map(
        lambda a, b: not np.array_equal(a, b), state.players["d"].variables[SPECTRAL], before
    )
    assert all(jax.tree.leaves(changed))
