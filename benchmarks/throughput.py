"""Train-step throughput of each recipe's model against this machine's matmul peak.

Models: DCGAN-28, DCGAN-64 and the MLP GAN; SNGAN and BigGAN (experiments/hinge_sngan.py,
biggan.py: ResNets at 28x28), StyleGAN2 (experiments/stylegan2.py, 32x32; its lazy R1 and
path-length passes are in the timed steps, in the FLOPs only as the G and D passes), ProGAN
(experiments/progan.py: its last stage, 32x32, FLOPs over the whole step); pix2pix
(experiments/pix2pix.py, 32x32 U-Net and PatchGAN), CycleGAN (experiments/cyclegan.py: two
generators, two Ds), SR (experiments/sr_photos.py, x4 from 64x64 crops) and inpainting
(experiments/inpaint_digits.py), each at --batch.

For each model, in its own subprocess (so peak RSS is its own): trace and compile time, the median
step time over timed windows after warm-up, images/s, peak RSS, the step's FLOPs and the fraction
of the float32 matmul peak measured in the same run (numpy and jax, before and after the models:
the best of the four), and the page faults per step (memory each step gets from the system anew
instead of reusing what the last step freed). Prints one line per model ending in
`NN.N% of peak`, and `--json FILE` writes everything for comparisons across commits.

FLOPs follow the usual convention: 3x the forward FLOPs of one G pass and three D passes per image
(D on real and fake for D's update, D on fake for G's), counted from the forward jaxpr of the models
(2 * MACs of every convolution and matrix product; a transposed convolution counts its nonzero
taps). For the translating recipes, whose steps have no single forward pass to multiply, the
FLOPs are counted the same way over the whole step's jaxpr (forward and backward passes as
traced). XLA's own cost analysis of the compiled step is printed beside it as a cross-check: it
counts the work XLA actually schedules, which differs from the convention's 3x.

    python benchmarks/throughput.py [--models dcgan28,sr,...] [--batch 64] [--json out.json]

`--torch PYTHON` times the DCGAN steps against the same step in PyTorch (torch_dcgan.py, run by
PYTHON, a virtualenv's interpreter with a CPU build of torch), alternating in each of `--rounds`
rounds, and prints their ratio.

`--baseline DIR` times another checkout of jaxgan (e.g. `git worktree add /tmp/base <commit>`)
in the same run: its worker and ours alternate for `--rounds` rounds per model, and each model's
line gives both medians and their ratio, so a change is judged against code timed minutes apart
on the same machine, not against a figure from another day.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from machine import cpu_model  # benchmarks/machine.py, beside this script

from jaxgan import malloc_settings, xla_defaults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAN_MODELS = ("dcgan28", "dcgan64", "mlp")
EXPERIMENTS = {  # Models timed as their experiments train them.
    "sngan": "hinge_sngan",
    "biggan": "biggan",
    "stylegan2": "stylegan2",
    "progan": "progan",
    "pix2pix": "pix2pix",
    "cyclegan": "cyclegan",
    "sr": "sr_photos",
    "inpaint": "inpaint_digits",
}
MODELS = GAN_MODELS + tuple(EXPERIMENTS)
TORCH_MODELS = ("dcgan28", "dcgan64")  # The models torch_dcgan.py writes in PyTorch.


def model_config(name: str, batch: int):
    """The benchmarked configs: DCGAN-28 and -64 as in the performance issue, the seed's MLP GAN."""
    from jaxgan import config as config_lib

    experiment = EXPERIMENTS.get(name, "gan_mlp" if name == "mlp" else "dcgan_plain")
    c = config_lib.load_config(os.path.join(ROOT, "experiments", f"{experiment}.py"))
    c.train.batch_size = batch
    if name == "dcgan28":  # G: z=64 -> 7x7x128 -> convT 64 -> convT 1; D: conv 64 -> conv 128 -> 1.
        c.gan.z_dim = 64
    elif name == "dcgan64":  # Radford et al.: ngf = ndf = 64, BatchNorm in G and D, 1 channel.
        c.data.image_size = 64
        c.model.d.norm = "batch"
    return c


def count_flops(fn, *args) -> float:
    """2 * MACs of the dot_generals and convolutions in fn's jaxpr (nested jaxprs included)."""
    import jax

    def walk(jaxpr) -> float:
        total = 0.0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (lc, _), (lb, _) = eqn.params["dimension_numbers"]
                lhs = eqn.invars[0].aval.shape
                contracted = np.prod([lhs[d] for d in lc]) if lc else 1
                total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * contracted
            elif eqn.primitive.name == "conv_general_dilated":
                dn = eqn.params["dimension_numbers"]
                rhs = eqn.invars[1].aval.shape
                taps = np.prod([rhs[d] for d in dn.rhs_spec[2:]]) * rhs[dn.rhs_spec[1]]
                dilation = np.prod(eqn.params["lhs_dilation"])  # Zeros a transposed conv skips.
                total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * taps / dilation
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    total += walk(inner)
        return total

    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


def time_step(config, seconds: float) -> dict:
    """Compiles the config's train step and times it on a fixed random batch (see module doc)."""
    import jax
    import jax.numpy as jnp

    import jaxgan
    from jaxgan import models, recipes
    from jaxgan.recipes import common

    batch = config.train.batch_size
    _, spec = recipes.prepare(config)
    state = jaxgan.create_train_state(config, jax.random.PRNGKey(0))
    batch_data = {  # Random images in every image field, class 0 in every label field.
        name: jax.random.uniform(jax.random.PRNGKey(i), (batch,) + shape, minval=-1, maxval=1)
        if shape
        else jnp.zeros((batch,), jnp.int32)
        for i, (name, shape) in enumerate(spec.fields.items())
    }
    x = batch_data["x"]
    recipe = recipes.get(config.recipe)
    phase_of = getattr(recipe, "phase", lambda config, spec, step: None)
    phases = {}  # As the loop runs them: one compiled step per phase (lazy regularisation).

    def step_at(count: int):
        phase = phase_of(config, spec, count)
        if phase not in phases:
            fn = recipe.make_train_step(config, spec, **({} if phase is None else {"phase": phase}))
            phases[phase] = jax.jit(fn, donate_argnums=0).lower(state, batch_data).compile()
        return phases[phase]

    train_step = jaxgan.make_train_step(config)
    began = time.perf_counter()
    lowered = jax.jit(train_step, donate_argnums=0).lower(state, batch_data)
    traced = time.perf_counter() - began
    began = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - began
    xla_flops = float((compiled.cost_analysis() or {}).get("flops", float("nan")))

    if config.recipe == "gan":
        g, d = common.build_pair(config, spec)
        z = jnp.zeros((1, config.gan.z_dim))
        g_vars = {"params": state.players["g"].params, **state.players["g"].variables}
        d_vars = {"params": state.players["d"].params, **state.players["d"].variables}
        label = lambda role: (  # Class 0 for a model that takes labels.
            jnp.zeros((1,), jnp.int32)
            if models.architecture(role, config.model[role]).takes_labels(config.model[role])
            else None
        )
        g_label, d_label = label("g"), label("d")
        g_fwd = count_flops(lambda v, z: g.apply(v, z, g_label, train=False), g_vars, z)
        d_fwd = count_flops(lambda v, x: d.apply(v, x, d_label, train=False), d_vars, x[:1])
        flops_per_image = 3.0 * (g_fwd + 3.0 * d_fwd)
    else:
        flops_per_image = count_flops(train_step, state, batch_data) / batch

    count = 0
    for _ in range(16):  # Warm-up; compiles every phase a short cycle of steps uses.
        state, metrics = step_at(count)(state, batch_data)
        count += 1
    jax.block_until_ready(state)
    began = time.perf_counter()
    state, metrics = step_at(count)(state, batch_data)
    count += 1
    jax.block_until_ready(state)
    per_window = max(1, int(seconds / 5 / max(time.perf_counter() - began, 1e-6)))
    times = []
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(per_window):
            state, metrics = step_at(count)(state, batch_data)
            count += 1
        jax.block_until_ready(state)
        times.append((time.perf_counter() - began) / per_window)
    step_s = float(np.median(times))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {
        "batch": batch,
        "step_ms": 1e3 * step_s,
        "images_per_sec": batch / step_s,
        "trace_s": traced,
        "compile_s": compile_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "page_faults_per_step": faults / (5 * per_window),
        "mflop_per_image": flops_per_image / 1e6,
        "xla_mflop_per_image": xla_flops / batch / 1e6,
        "gflops": flops_per_image * batch / step_s / 1e9,
        "finite": bool(metrics["finite"]),
    }


def worker(name: str, batch: int, seconds: float) -> dict:
    return {"model": name, **time_step(model_config(name, batch), seconds)}


def matmul_peak(n: int = 2048, repeats: int = 20) -> dict:
    """Median GFLOP/s of a float32 n x n matmul in numpy and in jax; the peak is the better one."""
    import jax
    import jax.numpy as jnp

    def gflops(run) -> float:
        run()
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            run()
            times.append(time.perf_counter() - began)
        return 2.0 * n**3 / float(np.median(times)) / 1e9

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = jnp.asarray(a)
    matmul = jax.jit(lambda a, b: a @ b)
    return {"numpy": gflops(lambda: a @ a), "jax": gflops(lambda: matmul(b, b).block_until_ready())}


def run_worker(root: str, name: str, args) -> dict:
    """One model's worker from the checkout at `root` (its own jaxgan first on the path)."""
    script = os.path.join(root, "benchmarks", "throughput.py")
    command = [sys.executable, script, f"--worker={name}", f"--batch={args.batch}"]
    command.append(f"--seconds={args.seconds}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env)
    if done.returncode:
        sys.exit(f"{name} ({root}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args) -> None:
    """This checkout against --baseline, alternating workers (see module doc)."""
    baseline = os.path.abspath(args.baseline)
    print(f"malloc: {malloc_settings.describe()}")
    summary = []
    for name in args.models.split(","):
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(run_worker(baseline, name, args)["step_ms"])
            ours.append(run_worker(ROOT, name, args)["step_ms"])
        a, b = float(np.median(ours)), float(np.median(theirs))
        summary.append({"model": name, "ours_ms": ours, "baseline_ms": theirs})
        print(
            f"{name}: this checkout {a:.1f} ms/step ({', '.join(f'{t:.1f}' for t in ours)}) | "
            f"baseline {b:.1f} ms/step ({', '.join(f'{t:.1f}' for t in theirs)}) | "
            f"baseline / this = {b / a:.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"baseline": baseline, "results": summary}, f, indent=2)


def run_torch(python: str, name: str, args, malloc: str) -> dict:
    """torch_dcgan.py's step in the interpreter `python`, with jaxgan's malloc settings (this
    process's environment) or glibc's defaults."""
    env = dict(os.environ)
    if malloc == "glibc":
        env.pop("GLIBC_TUNABLES", None)
    script = os.path.join(ROOT, "benchmarks", "torch_dcgan.py")
    command = [python, script, f"--model={name}", f"--batch={args.batch}"]
    command.append(f"--seconds={args.seconds}")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"PyTorch {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def versus_torch(args) -> None:
    """jaxgan's DCGAN steps against the PyTorch reference (torch_dcgan.py, run by --torch),
    alternating within each round: PyTorch with glibc's malloc, with jaxgan's, then jaxgan."""
    names = args.models.split(",")
    unknown = [n for n in names if n not in TORCH_MODELS]
    if unknown:
        sys.exit(f"--torch times {', '.join(TORCH_MODELS)}; not {', '.join(unknown)}")
    peak = max(matmul_peak().values())
    print(f"CPU: {cpu_model()} | matmul peak {peak:.1f} GFLOP/s | batch {args.batch}")
    summary = []
    for name in names:
        runs = {"glibc": [], "jaxgan_malloc": [], "jaxgan": []}
        for _ in range(args.rounds):
            runs["glibc"].append(run_torch(args.torch, name, args, "glibc"))
            runs["jaxgan_malloc"].append(run_torch(args.torch, name, args, "jaxgan"))
            runs["jaxgan"].append(run_worker(ROOT, name, args))
        rate = {k: [r["images_per_sec"] for r in v] for k, v in runs.items()}
        best_torch = max(np.median(rate["glibc"]), np.median(rate["jaxgan_malloc"]))
        ours = float(np.median(rate["jaxgan"]))
        percent = 100.0 * np.median([r["gflops"] for r in runs["jaxgan"]]) / peak
        fmt = lambda v: f"{np.median(v):.0f} ({', '.join(f'{x:.0f}' for x in v)})"
        print(
            f"{name}: jaxgan {fmt(rate['jaxgan'])} images/s, {percent:.1f}% of peak | PyTorch "
            f"{runs['glibc'][0]['torch']} glibc malloc {fmt(rate['glibc'])}, jaxgan's malloc "
            f"{fmt(rate['jaxgan_malloc'])} | jaxgan / best PyTorch = {ours / best_torch:.2f}"
        )
        summary.append({"model": name, "images_per_sec": rate, "percent_of_peak": percent})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "peak_gflops": peak, "results": summary}, f, indent=2)


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py.
    xla_defaults.apply()  # The same XLA flags as launch.py.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per model")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="another jaxgan checkout to time alternately with this")
    parser.add_argument("--rounds", type=int, default=3, help="--baseline, --torch: rounds")
    parser.add_argument("--torch", help="python of a venv with torch: time torch_dcgan.py too")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.seconds)))
        return
    if args.torch:
        versus_torch(args)
        return
    if args.baseline:
        compare(args)
        return

    peak_before = matmul_peak()
    results = []
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
        command = [sys.executable, __file__, f"--worker={name}", f"--batch={args.batch}"]
        command.append(f"--seconds={args.seconds}")
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    peak_after = matmul_peak()  # Measured before and after the models: the best of all four.
    peak = max(*peak_before.values(), *peak_after.values())
    print(
        f"matmul peak (float32 2048x2048, median): {peak:.1f} GFLOP/s "
        f"(numpy {peak_before['numpy']:.1f} / {peak_after['numpy']:.1f}, "
        f"jax {peak_before['jax']:.1f} / {peak_after['jax']:.1f}, before / after)"
    )
    malloc = malloc_settings.describe()
    print(f"malloc: {malloc}")
    for r in results:
        r["peak_gflops"] = peak
        r["percent_of_peak"] = 100.0 * r["gflops"] / peak
        print(
            f"{r['model']}: batch {r['batch']} | {r['step_ms']:.1f} ms/step | "
            f"{r['images_per_sec']:.0f} images/s | trace {r['trace_s']:.2f}s compile "
            f"{r['compile_s']:.2f}s | peak RSS {r['peak_rss_mb']:.0f} MB | "
            f"{r['page_faults_per_step']:.0f} page faults/step | "
            f"{r['mflop_per_image']:.1f} MFLOP/image (XLA cost analysis "
            f"{r['xla_mflop_per_image']:.1f}) | {r['gflops']:.1f} GFLOP/s | "
            f"{r['percent_of_peak']:.1f}% of peak"
        )
    if args.json:
        with open(args.json, "w") as f:
            matmul = {"before": peak_before, "after": peak_after}
            summary = {"peak_gflops": peak, "matmul": matmul, "malloc": malloc, "results": results}
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
