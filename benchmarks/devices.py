"""Step time of the DCGAN-28 train step (global batch 64) on 1 vs 2 forced CPU devices.

Each device count runs in its own interpreter (XLA fixes the device count when its backend
starts), one after the other, set up as `train_and_evaluate` does: the batch sharded on `data`,
the state replicated, the step jitted with donation. A window of steps is timed per device count,
alternating between counts for `--rounds` rounds, so that the ratio is fair on a shared machine.

    /tmp/venv/bin/python benchmarks/devices.py [--devices 1,2] [--steps 10] [--rounds 3]

Prints per device count: per-device batch, compile time, median step time over all rounds (and
each round's median, to show the noise), images/s, and the ratio to the first count. Forced CPU
devices share the machine's cores: a second device adds no compute and costs the gradient
all-reduces, but can still win where a single XLA:CPU device leaves a core idle, since the two
halves of the batch run at once.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

from jaxgan import malloc_settings, xla_defaults

ROOT = pathlib.Path(__file__).resolve().parents[1]


def worker(batch_size: int, steps: int) -> dict:
    """Compiles and times the step in this interpreter; returns figures as a dict."""
    import jax

    from jaxgan import config as config_lib
    from jaxgan import parallel, recipes, train

    config = config_lib.load_config(str(ROOT / "experiments" / "dcgan_plain.py"))
    config.train.batch_size = batch_size
    config.compile_cache_dir = "none"  # Time the compilation itself.
    mesh = parallel.make_mesh()
    per_device = parallel.check_batch_size(batch_size, mesh)
    repl, rows = parallel.replicated(mesh), parallel.batch_sharding(mesh)
    state = jax.device_put(recipes.create_train_state(config, jax.random.PRNGKey(0)), repl)
    batch = parallel.to_global(next(train.make_iterator(config)), mesh)
    step = jax.jit(
        recipes.make_train_step(config),
        in_shardings=(repl, rows),
        out_shardings=(repl, repl),
        donate_argnums=0,
    )
    began = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    compile_s = time.perf_counter() - began
    for _ in range(2):  # Warm-up: first executions allocate buffers and thread pools.
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - began)
    return {
        "devices": jax.device_count(),
        "per_device": per_device,
        "compile_s": compile_s,
        "step_s": times,
    }


def run_worker(devices: int, batch_size: int, steps: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    command = [sys.executable, __file__, "--worker", f"--batch_size={batch_size}"]
    done = subprocess.run(
        [*command, f"--steps={steps}"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{devices} devices failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(values) -> float:
    return sorted(values)[len(values) // 2]


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py.
    xla_defaults.apply()  # The same XLA flags as launch.py.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2", help="comma-separated device counts")
    parser.add_argument("--batch_size", type=int, default=64, help="global batch")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per count")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.batch_size, args.steps)))
        return

    counts = [int(n) for n in args.devices.split(",")]
    results = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            results[n].append(run_worker(n, args.batch_size, args.steps))
    print(
        f"DCGAN-28 train step, global batch {args.batch_size}, {args.rounds} rounds x "
        f"{args.steps} steps per device count ({os.cpu_count()} CPU cores)"
    )
    print(
        f"{'devices':>7} {'per-device':>10} {'compile s':>9} {'step ms':>8} {'img/s':>7} "
        f"{'ratio':>6}  rounds (median ms)"
    )
    base = None
    for n in counts:
        median = _median([t for r in results[n] for t in r["step_s"]])
        compile_s = min(r["compile_s"] for r in results[n])
        base = base or median
        rounds = " ".join(f"{_median(r['step_s']) * 1e3:.0f}" for r in results[n])
        print(
            f"{n:>7} {results[n][0]['per_device']:>10} {compile_s:>9.1f} {median * 1e3:>8.1f} "
            f"{args.batch_size / median:>7.0f} {median / base:>5.2f}x  {rounds}"
        )


if __name__ == "__main__":
    main()
