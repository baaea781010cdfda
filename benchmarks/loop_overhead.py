"""What the training loop costs beyond the bare train step, at the default logging intervals.

Runs `launch.py` on the default DCGAN experiment for `--steps` steps (input pipeline, metrics.jsonl
and TensorBoard every 50 steps, sample grids and checkpoints every 500, progress lines) and reads
the loop's own steps/s from its last log line; times the bare compiled step on a fixed batch before
and after, in this process; prints the loop's overhead as a fraction of its time.

    python benchmarks/loop_overhead.py [--steps 1000]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import ROOT, time_step  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    config = config_lib.load_config(os.path.join(ROOT, "experiments", "dcgan.py"))
    bare = [time_step(config, seconds=10.0)["step_ms"]]
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "launch.py"),
                "--config=experiments/dcgan.py",
                f"--workdir={workdir}",
                f"--config.train.num_steps={args.steps}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    match = re.search(r"loop: steps \d+-\d+ in ([\d.]+)s, ([\d.]+) steps/s", done.stderr)
    if done.returncode or not match:
        sys.exit(f"training failed:\n{done.stderr[-3000:]}")
    bare.append(time_step(config, seconds=10.0)["step_ms"])
    loop_ms = 1e3 / float(match.group(2))
    bare_ms = min(bare)
    print(f"bare step: {bare[0]:.1f} / {bare[1]:.1f} ms (before / after the loop)")
    print(
        f"loop: {args.steps} steps in {float(match.group(1)):.1f}s = {loop_ms:.1f} ms/step "
        "with data, logs every 50, samples and checkpoints every 500"
    )
    print(f"loop overhead: {100 * (1 - bare_ms / loop_ms):.1f}% of the loop's time")


if __name__ == "__main__":
    main()
