"""How long a checkpoint save and restore of a DCGAN run take (state + data position + config).

Prints the state's size, the time `save` blocks the training loop (orbax copies the arrays to host,
then writes in the background), the time until the save is complete on disk, and the restore time,
as medians over repeats, for the default DCGAN (28x28) and DCGAN-64.

    python benchmarks/checkpoint_io.py [--repeats 5]
"""

import argparse
import os
import shutil
import tempfile
import time

import jax
import numpy as np

from jaxgan import checkpoint, malloc_settings, parallel, train, xla_defaults
from jaxgan import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(config, repeats: int) -> dict:
    mesh = parallel.make_mesh()
    init, abstract = checkpoint.abstract_state(config, mesh)
    state = jax.jit(init)(jax.random.PRNGKey(0))
    iterator = train.make_iterator(config)
    size_mb = sum(x.nbytes for x in jax.tree.leaves(state)) / 2**20
    blocking, complete, restore = [], [], []
    for _ in range(repeats):
        directory = tempfile.mkdtemp()
        ckpt = checkpoint.Checkpointer(directory, max_to_keep=1)
        began = time.perf_counter()
        ckpt.save(1, state, iterator, config)
        blocking.append(time.perf_counter() - began)
        ckpt.wait()
        complete.append(time.perf_counter() - began)
        began = time.perf_counter()
        restored, _ = ckpt.restore(1, abstract, train.make_iterator(config))
        jax.block_until_ready(restored)
        restore.append(time.perf_counter() - began)
        ckpt.close()
        shutil.rmtree(directory)
    return {
        "state_mb": size_mb,
        "save_blocking_s": float(np.median(blocking)),
        "save_complete_s": float(np.median(complete)),
        "restore_s": float(np.median(restore)),
    }


def main():
    malloc_settings.reexec()  # The same malloc settings as launch.py.
    xla_defaults.apply()  # The same XLA flags as launch.py.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, image_size in (("dcgan28", 0), ("dcgan64", 64)):
        config = config_lib.load_config(os.path.join(ROOT, "experiments", "dcgan_plain.py"))
        config.data.image_size = image_size
        r = measure(config, args.repeats)
        print(
            f"{name}: state {r['state_mb']:.1f} MB | save blocks the loop "
            f"{r['save_blocking_s']:.3f}s, complete {r['save_complete_s']:.3f}s | "
            f"restore {r['restore_s']:.3f}s"
        )


if __name__ == "__main__":
    main()
