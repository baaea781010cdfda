"""What the training loop costs beyond the bare train step, at the default logging intervals.

Runs `launch.py` on the default DCGAN experiment for `--steps` steps (input pipeline, metrics.jsonl
and TensorBoard every 50 steps, sample grids and checkpoints every 500, progress lines; evaluation
off: it is timed by benchmarks/evaluation.py) and reads
the loop's own steps/s (compile excluded) from its last log line; times the bare compiled step on
a fixed batch in this process; alternates the two (ABBA) for --rounds rounds and prints the loop's
overhead, from the medians, as a fraction of its time.

The loop's one-time costs count too (the first checkpoint takes about 1 s, the first sample grid
0.3 s): over 2,000 steps they add under 1%, over the default run's 5,000 about 0.3%, while a
500-step loop would charge them 3-4%.

    python benchmarks/loop_overhead.py [--steps 2000] [--rounds 2]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import ROOT, time_step  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402
from jaxgan import malloc_settings, xla_defaults  # noqa: E402


def loop_ms(steps: int) -> float:
    """ms per step of launch.py's loop (compile excluded) on a fresh workdir."""
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "launch.py"),
                "--config=experiments/dcgan_plain.py",
                f"--workdir={workdir}",
                f"--config.train.num_steps={steps}",
                "--config.eval.every_steps=0",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    match = re.search(r"loop: steps \d+-\d+ in ([\d.]+)s, ([\d.]+) steps/s", done.stderr)
    if done.returncode or not match:
        sys.exit(f"training failed:\n{done.stderr[-3000:]}")
    return 1e3 / float(match.group(2))


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py.
    xla_defaults.apply()  # The same XLA flags as launch.py.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="loop steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    config = config_lib.load_config(os.path.join(ROOT, "experiments", "dcgan_plain.py"))
    bare, loop = [], []
    for i in range(args.rounds):  # Interleaved ABBA: the machine's load drifts over minutes.
        for which in ("bare", "loop") if i % 2 == 0 else ("loop", "bare"):
            if which == "bare":
                bare.append(time_step(config, seconds=8.0)["step_ms"])
            else:
                loop.append(loop_ms(args.steps))
    print("bare step ms: " + ", ".join(f"{b:.1f}" for b in bare))
    print(
        "loop ms/step: " + ", ".join(f"{x:.1f}" for x in loop) + f" ({args.steps} steps each, "
        "data, logs every 50, samples and checkpoints every 500)"
    )
    paired = ", ".join(f"{100 * (1 - b / x):.1f}%" for b, x in zip(bare, loop, strict=True))
    b, x = statistics.median(bare), statistics.median(loop)
    print(
        f"loop overhead: {100 * (1 - b / x):.1f}% of the loop's time (medians {b:.1f} / {x:.1f}; "
        f"round by round {paired})"
    )


if __name__ == "__main__":
    main()
