"""Per-layer speed of the 2x convolutions of DCGAN-28 and DCGAN-64 (batch 64, NHWC f32) per impl.

For every stride-2 layer of both models and every impl in `jaxgan.models.layers`, prints the median
time of the forward pass and of forward + backward (gradients w.r.t. input and kernel), the GFLOP/s
against the analytical count (2 * MACs forward, 3x that for forward + backward) and the percentage
of the float32 2048x2048 matmul peak measured in the same run, as throughput.py measures it (numpy
and jax, before and after: the best). Impls are timed in interleaved windows, so
their ratios are fair even on a shared machine.

    /tmp/venv/bin/python benchmarks/conv_ops.py [--impls phase,xla] [--json out.json]

`--sweep-flags` instead runs the forward + backward of every layer once per XLA:CPU setting below,
each in its own subprocess (XLA reads XLA_FLAGS once, when the backend starts), and also reports the
drift of the float32 gradients from a float64 reference: max |g32 - g64| / max |g64| per layer
(about 10 minutes a round on 2 cores; `--json` keeps the per-layer figures).

    /tmp/venv/bin/python benchmarks/conv_ops.py --sweep-flags --impls phase,xla --windows 3 \
        --rounds 2 --json sweep.json
"""

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import matmul_peak  # noqa: E402

from jaxgan import malloc_settings, xla_defaults  # noqa: E402
from jaxgan.models import layers  # noqa: E402

BATCH = 64
# (model, layer, kind, input side, in channels, out channels); every layer k=4, s=2, p=1.
LAYERS = [
    ("dcgan28", "G.up1", "up", 7, 128, 64),
    ("dcgan28", "G.up2", "up", 14, 64, 1),
    ("dcgan28", "D.down1", "down", 28, 1, 64),
    ("dcgan28", "D.down2", "down", 14, 64, 128),
    ("dcgan64", "G.up1", "up", 4, 512, 256),
    ("dcgan64", "G.up2", "up", 8, 256, 128),
    ("dcgan64", "G.up3", "up", 16, 128, 64),
    ("dcgan64", "G.up4", "up", 32, 64, 1),
    ("dcgan64", "G.up4rgb", "up", 32, 64, 3),  # the same layer for RGB images
    ("dcgan64", "D.down1", "down", 64, 1, 64),
    ("dcgan64", "D.down2", "down", 32, 64, 128),
    ("dcgan64", "D.down3", "down", 16, 128, 256),
    ("dcgan64", "D.down4", "down", 8, 256, 512),
]
SETTINGS = {
    "default": {},
    "ynn_off": {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="},
    "ynn_no_conv": {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"},
    "xnn_conv": {
        "XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type= "
        "--xla_cpu_experimental_xnn_fusion_type=individual_convolution,individual_dot"
    },
    "onednn": {"XLA_FLAGS": "--xla_cpu_use_onednn=true"},
    "fast_math": {"XLA_FLAGS": "--xla_cpu_enable_fast_math=true"},
    "eigen_1thread": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
    "1core": {"CORES": "0"},  # taskset: XLA sizes its thread pool by the CPUs it may use
}


def up_one_conv(x, kernel):
    """Candidate: the four phases from ONE stride-1 convolution with 4 * features outputs.

    The input is padded by hand (padding inside the convolution makes XLA:CPU lower the kernel
    gradient to a slow reversed convolution); the output window is one pixel larger than H x W
    (k = 4), each phase is cut at its own offset, then interleaved.
    """
    k, _, _, features = kernel.shape
    n, h, w, _ = x.shape
    taps = layers._phase_taps(k)
    lo, hi = -min(d for _, d in taps), max(d for _, d in taps) + k // 2 - 1
    e = lo + hi - (k // 2 - 1)
    x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    y = layers._conv(x, jnp.concatenate(layers._phase_kernels(kernel), -1), (1, 1), "VALID")
    y = y.reshape(n, h + e, w + e, 4, features)
    offsets = [(dr + lo, ds + lo) for _, dr in taps for _, ds in taps]
    return layers._interleave([y[:, i : i + h, j : j + w, p] for p, (i, j) in enumerate(offsets)])


# Formulations measured against the library's impls but not kept there (they did not pay).
CANDIDATES = {"up": {"one_conv": up_one_conv}, "down": {}}


def table(kind):
    return {**(layers.UP_IMPLS if kind == "up" else layers.DOWN_IMPLS), **CANDIDATES[kind]}


def all_impls():
    return sorted(set(table("up")) | set(table("down")))


def _macs(kind, h, cin, cout):
    """Analytical MACs of the forward pass: each input (up) / output (down) pixel meets k^2 taps."""
    pixels = h * h if kind == "up" else (h // 2) ** 2
    return BATCH * pixels * cin * cout * 16


def make_inputs(kind, h, cin, cout, dtype=np.float32):
    rng = np.random.default_rng(0)
    side = 2 * h if kind == "up" else h // 2
    x = rng.normal(size=(BATCH, h, h, cin)).astype(dtype)
    kernel = (rng.normal(size=(4, 4, cin, cout)) / np.sqrt(16 * cin)).astype(dtype)
    ct = rng.normal(size=(BATCH, side, side, cout)).astype(dtype)
    return x, kernel, ct


def grads_fn(fn):
    """(x, kernel, ct) -> (d<ct, fn(x, kernel)>/dx, .../dkernel)."""

    def grads(x, kernel, ct):
        _, vjp = jax.vjp(fn, x, kernel)
        return vjp(ct)

    return grads


def forward_backward_fn(fn):
    """(x, kernel, ct) -> (fn(x, kernel), dx, dkernel): what a training step computes.

    The output is returned so that XLA cannot drop the forward pass (a convolution's vjp does not
    need it), which would time the backward pass alone.
    """

    def both(x, kernel, ct):
        y, vjp = jax.vjp(fn, x, kernel)
        return (y, *vjp(ct))

    return both


def time_interleaved(fns, args, windows, target_s):
    """Median seconds per call of each fn, timing windows of the fns in turn after a warm-up."""
    reps, todo = {}, {}
    for name, fn in fns.items():
        jax.block_until_ready(fn(*args))  # compile + first run
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        once = time.perf_counter() - t0
        reps[name] = max(1, int(target_s / max(once, 1e-6)))
        todo[name] = windows if once < 0.5 else min(windows, 3)  # keep slow ones affordable
    times = {name: [] for name in fns}
    for w in range(windows):
        for name, fn in fns.items():
            if w >= todo[name]:
                continue
            t0 = time.perf_counter()
            for _ in range(reps[name]):
                out = fn(*args)
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - t0) / reps[name])
    return {name: float(np.median(t)) for name, t in times.items()}


def matmul_gflops(windows=5, target_s=0.1):
    """jax's float32 2048x2048 matmul alone: how an XLA flag setting changes it (the sweep)."""
    a = jnp.asarray(np.random.default_rng(1).normal(size=(2048, 2048)), jnp.float32)
    t = time_interleaved({"mm": jax.jit(lambda a: a @ a)}, (a,), windows, target_s)["mm"]
    return 2 * 2048**3 / t / 1e9


def reference_grads_f64(kind, x, kernel, ct):
    """Float64 gradients from shifted slices and dots only (no convolution op), for the drift."""

    def up(x, kernel):  # y[2m + r] = sum_j x[m + d_r + j] kernel[a0_r + 2j]
        n, h, w, _ = x.shape
        taps = layers._phase_taps(4)
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        phases = []
        for a0, dr in taps:
            for b0, ds in taps:
                phase = 0.0
                for i in range(2):
                    for j in range(2):
                        window = xp[:, 1 + dr + i : 1 + dr + i + h, 1 + ds + j : 1 + ds + j + w]
                        phase = phase + window @ kernel[a0 + 2 * i, b0 + 2 * j]
                phases.append(phase)
        return layers._interleave(phases)

    def down(x, kernel):
        n, h, w, _ = x.shape
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        y = 0.0
        for a in range(4):
            for b in range(4):
                y = y + xp[:, a : a + h - 1 : 2, b : b + w - 1 : 2] @ kernel[a, b]
        return y

    fn = up if kind == "up" else down
    with jax.enable_x64(True):
        args = [jnp.asarray(v, jnp.float64) for v in (x, kernel, ct)]
        return [np.asarray(g) for g in jax.jit(grads_fn(fn))(*args)]


def rel_err(a, ref):
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref)) / np.max(np.abs(ref)))


def run_layers(impls, windows, target_s, backward_only=False, drift=False):
    rows = []
    for model, name, kind, h, cin, cout in LAYERS:
        names = [i for i in impls if i in table(kind)]
        x, kernel, ct = (jnp.asarray(v) for v in make_inputs(kind, h, cin, cout))
        fwd = {i: jax.jit(table(kind)[i]) for i in names}
        expected = fwd["xla"](x, kernel)
        for i in names:  # every formulation must compute the same function before it is timed
            np.testing.assert_allclose(fwd[i](x, kernel), expected, rtol=1e-4, atol=1e-4)
        both = {i: jax.jit(forward_backward_fn(table(kind)[i])) for i in names}
        t_fwd = {} if backward_only else time_interleaved(fwd, (x, kernel), windows, target_s)
        t_both = time_interleaved(both, (x, kernel, ct), windows, target_s)
        ref = reference_grads_f64(kind, x, kernel, ct) if drift else None
        flops = 2 * _macs(kind, h, cin, cout)
        for i in names:
            row = dict(model=model, layer=name, kind=kind, shape=f"{h}x{h}x{cin}->{cout}", impl=i)
            row.update(fwd_ms=t_fwd[i] * 1e3 if t_fwd else None, fwd_bwd_ms=t_both[i] * 1e3)
            row.update(fwd_gflops=flops / t_fwd[i] / 1e9 if t_fwd else None)
            row.update(fwd_bwd_gflops=3 * flops / t_both[i] / 1e9)
            if drift:
                _, dx, dk = both[i](x, kernel, ct)
                row.update(drift_dx=rel_err(dx, ref[0]), drift_dkernel=rel_err(dk, ref[1]))
            rows.append(row)
    return rows


def print_rows(rows, peak):
    print(
        f"float32 matmul 2048^2 peak: {peak:.1f} GFLOP/s (numpy and jax, start and end: the best)"
    )
    head = f"{'model':8} {'layer':8} {'shape':18} {'impl':7} {'fwd ms':>8} {'GF/s':>6} {'%pk':>4}"
    print(head + f" {'f+b ms':>9} {'GF/s':>6} {'%pk':>4} {'f x':>6} {'f+b x':>6}")
    base = {(r["model"], r["layer"]): r for r in rows if r["impl"] == "xla"}
    for r in rows:
        b = base[(r["model"], r["layer"])]
        fx = b["fwd_ms"] / r["fwd_ms"] if r["fwd_ms"] else float("nan")
        line = f"{r['model']:8} {r['layer']:8} {r['shape']:18} {r['impl']:7}"
        if r["fwd_ms"] is not None:
            line += (
                f" {r['fwd_ms']:8.2f} {r['fwd_gflops']:6.1f} {100 * r['fwd_gflops'] / peak:4.0f}"
            )
        line += f" {r['fwd_bwd_ms']:9.2f} {r['fwd_bwd_gflops']:6.1f}"
        line += f" {100 * r['fwd_bwd_gflops'] / peak:4.0f} {fx:6.2f}"
        line += f" {b['fwd_bwd_ms'] / r['fwd_bwd_ms']:6.2f}"
        print(line)
    print(
        "f x, f+b x: speedup over impl 'xla' (its time / this time), forward and forward+backward"
    )


def sweep(impls, windows, target_s, rounds, json_path):
    """Runs every setting in its own subprocess, `rounds` times round-robin; keeps the best time."""
    results = {}
    for _ in range(rounds):
        for setting, env in SETTINGS.items():
            child_env = dict(os.environ)
            child_env.pop("XLA_FLAGS", None)
            child_env.update({k: v for k, v in env.items() if k != "CORES"})
            cmd = [sys.executable, __file__, "--child", "--impls", ",".join(impls)]
            cmd += ["--windows", str(windows), "--target-s", str(target_s)]
            if "CORES" in env:
                cmd = ["taskset", "-c", env["CORES"], *cmd]
            out = subprocess.run(cmd, env=child_env, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            if setting in results:  # best of the rounds, layer by layer
                best = results[setting]
                best["peak"] = max(best["peak"], res["peak"])
                for old, new in zip(best["rows"], res["rows"], strict=True):
                    old["fwd_bwd_ms"] = min(old["fwd_bwd_ms"], new["fwd_bwd_ms"])
            else:
                results[setting] = res
    for setting, res in results.items():
        flags = SETTINGS[setting].get("XLA_FLAGS", "")
        print(f"{setting:12} mm {res['peak']:4.0f} GF/s {flags}")
        for kind in ("up", "down"):
            for i in impls:
                mine = [r for r in res["rows"] if r["impl"] == i and r["kind"] == kind]
                if mine:
                    total = sum(r["fwd_bwd_ms"] for r in mine)
                    drift = max(max(r["drift_dx"], r["drift_dkernel"]) for r in mine)
                    print(f"{'':12} {kind:4} {i:6} f+b {total:7.0f} ms  drift {drift:.1e}")
    print("mm: float32 matmul peak; f+b: summed forward+backward time of all layers of that kind;")
    print("drift: largest max|g32 - g64| / max|g64| of the input and kernel gradients among them")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py (the sweep's children too).
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", default="", help="comma-separated impls (default: all)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows per function")
    parser.add_argument("--target-s", type=float, default=0.1, help="seconds per timed window")
    parser.add_argument("--json", default="", help="write the results to this JSON file")
    parser.add_argument("--sweep-flags", action="store_true", help="one subprocess per setting")
    parser.add_argument("--rounds", type=int, default=1, help="sweep rounds (best time is kept)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    impls = args.impls.split(",") if args.impls else all_impls()
    for i in impls:
        if i not in all_impls():
            parser.error(f"unknown impl {i!r}; choose from {all_impls()}")
    if args.sweep_flags:
        return sweep(impls, args.windows, args.target_s, args.rounds, args.json)
    if "xla" not in impls:
        impls.append("xla")  # the baseline of the speedups and of the consistency check
    if args.child:
        peak = matmul_gflops()
        rows = run_layers(impls, args.windows, args.target_s, backward_only=True, drift=True)
        print(json.dumps({"peak": max(peak, matmul_gflops()), "rows": rows}))
        return
    xla_defaults.apply()  # The same XLA flags as launch.py (the sweep sets its own per child).
    t0 = time.perf_counter()
    peak = max(matmul_peak().values())
    rows = run_layers(impls, args.windows, args.target_s)
    peak = max(peak, *matmul_peak().values())
    print_rows(rows, peak)
    print(
        f"backend {jax.default_backend()}, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"{os.cpu_count()} cpus, total {time.perf_counter() - t0:.0f} s"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_gflops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
