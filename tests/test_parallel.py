"""Data parallelism on forced CPU devices: the global batch, not the device count, fixes the maths.

Each device count runs in its own interpreter (XLA fixes the device count at start-up); the three
run at once and write their results as JSON and .npz for the tests to compare.
"""

import concurrent.futures
import json
import textwrap

import numpy as np
import pytest

from jaxgan import parallel
from jaxgan.config import ConfigError

from conftest import run_python

DEVICE_COUNTS = (1, 2, 8)
RTOL = 1e-4  # Float reassociation of the all-reduces; a different seed is ~10% away.
STEP_RTOL = 1e-5  # One step against a reference that computes the same sums.

WORKER = textwrap.dedent(
    r"""
    import functools, json, pathlib, re
    import jax, jax.numpy as jnp, numpy as np
    from jaxgan import config as config_lib, losses, parallel, recipes, train
    from jaxgan.recipes import common, gan

    STEPS = 3
    BN = {"mutable": ["batch_stats"], "train": True}

    def make_config(**model):
        c = config_lib.load_config("experiments/dcgan_plain.py", "smoke")
        c.train.batch_size = 16
        c.model.d.norm = "batch"  # BatchNorm in both players.
        c.optim.g_lr = c.optim.d_lr = 2e-3  # Steps large enough that the losses move.
        c.model.update(model)
        return c

    def run(c, seeds=(0,)):
        # As train_and_evaluate: this process's rows -> global batch on `data`, replicated state.
        mesh = parallel.make_mesh()
        parallel.check_batch_size(c.train.batch_size, mesh)
        repl, rows = parallel.replicated(mesh), parallel.batch_sharding(mesh)
        fn = recipes.make_train_step(c)
        step = jax.jit(fn, in_shardings=(repl, rows), out_shardings=(repl, repl))
        runs = []
        for seed in seeds:
            state = recipes.create_train_state(c, jax.random.PRNGKey(seed))
            iterator = train.make_iterator(c)
            batches = [parallel.to_global(next(iterator), mesh) for _ in range(STEPS)]
            states, history = [jax.device_put(state, repl)], []
            for batch in batches:
                state, metrics = step(states[-1], batch)
                states.append(state)
                history.append({k: float(v) for k, v in metrics.items()})
            runs.append(dict(states=states, batches=batches, history=history))
        return runs, fn

    def flat(tree):
        leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
        return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}

    def per_slice_reference(c, state, x, groups):
        # Step 1's D loss and G's new BatchNorm statistics with the batch cut into `groups`
        # slices, each run on its own through groups=1 models (D on real and fake separately).
        g, d = common.build_pair(c, recipes.prepare(c)[1], groups=1)
        z = jax.random.normal(gan.critic_keys(state, 0)[0], (x.shape[0], c.gan.z_dim))
        d_loss_fn, n = losses.LOSSES[c.loss.name][0], x.shape[0] // groups
        gp, dp = state.players["g"], state.players["d"]
        g_vars = {"params": gp.params, **gp.variables}
        d_vars = {"params": dp.params, **dp.variables}
        d_losses, g_states = [], []
        for part in (slice(i * n, (i + 1) * n) for i in range(groups)):
            fake, g_state = g.apply(g_vars, z[part], **BN)
            real_logits = d.apply(d_vars, x[part], **BN)[0]
            d_losses.append(d_loss_fn(real_logits, d.apply(d_vars, fake, **BN)[0]))
            g_states.append(g_state)
        return jnp.mean(jnp.stack(d_losses)), jax.tree.map(lambda *s: sum(s) / groups, *g_states)

    def bn_check(c, run_, arrays):
        # Step 1 of a run next to per_slice_reference for one group and one group per device.
        state, x = jax.device_get(run_["states"][0]), jax.device_get(run_["batches"][0]["x"])
        result = {"step_d_loss": run_["history"][0]["d_loss"]}
        g_vars = run_["states"][1].players["g"].variables
        arrays.update({"step_g_state" + k: v for k, v in flat(g_vars).items()})
        for groups in sorted({1, jax.device_count()}):
            ref = jax.jit(functools.partial(per_slice_reference, c, groups=groups))
            d_loss, g_state = ref(state, x)
            result[f"ref{groups}_d_loss"] = float(d_loss)
            arrays.update({f"ref{groups}_g_state" + k: v for k, v in flat(g_state).items()})
        return result

    def compute_dtypes(fn, run_):
        # Result dtypes of the convolutions and matrix products in the step's jaxpr, and count;
        # BatchNorm statistics are float32 dots by design and must stay so.
        jaxpr = jax.make_jaxpr(fn)(run_["states"][0], run_["batches"][0])
        text = jaxpr.pretty_print(name_stack=True)
        found = re.findall(
            r"(\w+)\[[^\]]*\] = (?:conv_general_dilated|dot_general)\[\s*# \[(.*)\]", text
        )
        stats = {t for t, scope in found if "batchnorm_moments" in scope}
        assert stats <= {"f32"}, f"BatchNorm statistics computed in {stats}"
        ops = [t for t, scope in found if "batchnorm_moments" not in scope]
        return sorted(set(ops)), len(ops)

    def startup_error(c, workdir):
        try:
            train.train_and_evaluate(c, workdir)
        except Exception as e:
            written = sorted(p.name for p in pathlib.Path(workdir).glob("*"))
            return [type(e).__name__, str(e), written]
        return None

    def main(out):
        out, n = pathlib.Path(out), jax.device_count()
        train.enable_compilation_cache(make_config())
        result, arrays = {}, {}
        runs, _ = run(make_config(bn_mode="sync"), seeds=(0, 1) if n == 1 else (0,))
        result["sync"] = [r["history"] for r in runs]
        arrays.update({"sync" + k: v for k, v in flat(runs[0]["states"][-1]).items()})
        if n > 1:
            c = make_config(bn_mode="per_device")
            (per_device,), _ = run(c)
            result["per_device"] = per_device["history"]
            result.update(bn_check(c, per_device, arrays))
        if n == 1:
            (half,), fn = run(make_config(dtype="bfloat16"))
            result["bf16"] = half["history"]
            dtypes = {str(v.dtype) for v in flat(half["states"][-1]).values()}
            result["bf16_state_dtypes"] = sorted(dtypes)
            result["bf16_ops"] = compute_dtypes(fn, half)
            result["f32_ops"] = compute_dtypes(recipes.make_train_step(make_config()), half)
        if n == 8:
            bad = make_config()
            bad.train.batch_size = 12
            result["bad_batch"] = startup_error(bad, out / "bad_batch")
            small = make_config()
            small.data.split, small.train.batch_size, small.train.n_critic = "test", 256, 2
            result["small_data"] = startup_error(small, out / "small_data")
        (out / f"result{n}.json").write_text(json.dumps(result))
        np.savez(out / f"arrays{n}.npz", **arrays)
    """
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{devices: (json result, npz arrays)} for 1, 2 and 8 forced CPU devices, run concurrently."""
    out = tmp_path_factory.mktemp("parallel")

    def launch(n):
        done = run_python(WORKER + f"\nmain({str(out)!r})\n", devices=n)
        assert done.returncode == 0, f"{n} devices:\n{done.stderr[-4000:]}"
        return n

    with concurrent.futures.ThreadPoolExecutor(len(DEVICE_COUNTS)) as pool:
        list(pool.map(launch, DEVICE_COUNTS))
    return {
        n: (
            json.loads((out / f"result{n}.json").read_text()),
            dict(np.load(out / f"arrays{n}.npz")),
        )
        for n in DEVICE_COUNTS
    }


def losses(history) -> np.ndarray:
    return np.array([[row["d_loss"], row["g_loss"]] for row in history])


def test_sync_batchnorm_gives_the_same_losses_and_state_on_1_2_and_8_devices(results):
    one, one_arrays = results[1]
    want = losses(one["sync"][0])
    other_seed = losses(one["sync"][1])
    assert not np.allclose(other_seed, want, rtol=10 * RTOL), "the tolerance must tell seeds apart"
    assert np.all(np.abs(want[-1] - want[0]) > 100 * RTOL * np.abs(want[0])), "losses should move"
    for n in DEVICE_COUNTS[1:]:
        got, arrays = results[n]
        np.testing.assert_allclose(losses(got["sync"][0]), want, rtol=RTOL, err_msg=f"{n} devices")
        sync = {k: v for k, v in arrays.items() if k.startswith("sync")}
        assert sync.keys() == {k for k in one_arrays if k.startswith("sync")}
        for key, value in sync.items():  # Params, optimizer states, BN statistics, EMA, step.
            np.testing.assert_allclose(value, one_arrays[key], rtol=RTOL, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("n", [2, 8])
def test_per_device_batchnorm_equals_each_device_slice_run_separately(results, n):
    got, arrays = results[n]
    np.testing.assert_allclose(got["step_d_loss"], got[f"ref{n}_d_loss"], rtol=STEP_RTOL)
    stats = [k.removeprefix("step_g_state") for k in arrays if k.startswith("step_g_state")]
    assert len(stats) == 4, "G has two BatchNorm layers, each with running mean and variance"
    for key in stats:  # Running statistics ~0.9 after one step: 2e-7 is about 3 ulp.
        step = arrays["step_g_state" + key]
        np.testing.assert_allclose(step, arrays[f"ref{n}_g_state" + key], rtol=0, atol=2e-7)
    # Sync statistics (one group over the whole batch) are not what per-device mode computes ...
    assert abs(got[f"ref{n}_d_loss"] - got["ref1_d_loss"]) > 10 * STEP_RTOL * got["ref1_d_loss"]
    gap = max(np.abs(arrays["step_g_state" + k] - arrays["ref1_g_state" + k]).max() for k in stats)
    assert gap > 10 * 2e-7
    # ... and the whole run follows different losses than the sync (1-device) run.
    sync = losses(results[1][0]["sync"][0])
    assert not np.allclose(losses(got["per_device"]), sync, rtol=RTOL)


def test_bfloat16_computes_in_bfloat16_keeps_float32_state_and_trains(results):
    one, _ = results[1]
    assert one["bf16_state_dtypes"] == ["float32", "int32", "uint32"]  # params, opt, EMA; step; rng
    bf16_types, count = one["bf16_ops"]
    assert count > 0 and bf16_types == ["bf16"], "every conv and matmul should run in bfloat16"
    assert one["f32_ops"][0] == ["f32"]
    history = one["bf16"]
    assert all(row["finite"] == 1.0 for row in history)
    # bfloat16 keeps ~3 significant digits: close to, but not exactly, the float32 run.
    np.testing.assert_allclose(losses(history), losses(one["sync"][0]), rtol=3e-2)
    assert not np.array_equal(losses(history), losses(one["sync"][0]))


def test_bad_batch_size_and_too_small_data_fail_at_start_up(results):
    eight, _ = results[8]
    kind, message, written = eight["bad_batch"]
    assert kind == "ConfigError" and "train.batch_size=12" in message and "8 devices" in message
    assert written == []  # Nothing was written before the check.
    kind, message, _ = eight["small_data"]
    assert kind == "DataError" and "500 examples" in message and "512" in message


SLURM_STEP = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "node[01-02]", "SLURM_PROCID": "1"}


@pytest.mark.parametrize(
    "environ, want",
    [
        ({}, None),
        ({**SLURM_STEP, "SLURM_STEP_NUM_TASKS": "8", "SLURM_NTASKS": "8"}, "slurm"),
        ({**SLURM_STEP, "SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "1"}, None),  # One task.
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}, None),  # The batch script, not srun's tasks.
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "0"}, "openmpi"),
        ({"OMPI_COMM_WORLD_SIZE": "1"}, None),
        ({"TPU_WORKER_HOSTNAMES": "t1,t2,t3,t4", "TPU_WORKER_ID": "2"}, "tpu"),
        ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),
    ],
)
def test_cluster_detection_starts_multi_process_runs_only(environ, want):
    assert parallel.detect_cluster(environ) == want


@pytest.mark.parametrize(
    "address, processes, index", [("localhost:1234", 0, -1), ("", 2, 0), ("h:1", 2, 2)]
)
def test_incomplete_multi_process_flags_are_refused(address, processes, index):
    with pytest.raises(ConfigError, match="--coordinator_address=host:port"):
        parallel.initialize_distributed(address, processes, index)
