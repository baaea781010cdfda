"""Input-pipeline speed on a folder of JPEGs: the cache's build (cold) and the loader from the
cache (warm), against the DCGAN-64 training step it feeds, and the cache's size.

Makes a labelled folder of --num pictures (benchmarks/photo_folder.py: JPEG crops of the bundled
photos) unless --folder is given, then in one run:
- cold: the first run's decode of every file into a fresh cache (images/s, seconds);
- open: a later run's start-up on the built cache (seconds);
- warm: images/s of the iterator a training run uses (grain threads and prefetch from the data
  config, batch --batch, --steps batches), and of the bare reader (one thread, no prefetch);
- step: images/s of the DCGAN-64 RGB train step of experiments/folder.py on this machine;
- the ratio warm / step (the loader should be far ahead, so the step never waits), and the cache
  against the raw pixels (N x 64 x 64 x 3 bytes) and the JPEG files.

    python benchmarks/loader.py [--num 2000] [--size 64] [--folder DIR] [--batch 64]
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import photo_folder  # noqa: E402 - benchmarks/photo_folder.py, beside this script
from machine import cpu_model  # noqa: E402
from throughput import time_step  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402
from jaxgan import data, malloc_settings, xla_defaults  # noqa: E402
from jaxgan.data import image_folder  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    malloc_settings.reexec()
    xla_defaults.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64, help="training resolution")
    parser.add_argument("--picture_size", type=int, default=128, help="size of the JPEGs")
    parser.add_argument("--folder", default="", help="a folder of your own instead")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300, help="batches timed per loader")
    parser.add_argument("--step_seconds", type=float, default=20.0)
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="jaxgan_loader_"))
    folder = pathlib.Path(args.folder) if args.folder else work / "pictures"
    if not args.folder:
        photo_folder.write(folder, args.num, args.picture_size)
    config = config_lib.load_config(str(ROOT / "experiments" / "folder.py"))
    config.data.path, config.data.image_size = str(folder), args.size
    config.data.cache_dir = str(work / "cache")
    config.train.batch_size = args.batch
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; folder {folder}")

    began = time.perf_counter()
    spec = data.describe(config.data)
    cold = time.perf_counter() - began
    image_folder._cache.cache_clear()  # As a new process would.
    began = time.perf_counter()
    data.describe(config.data)
    opened = time.perf_counter() - began
    n = spec.num_examples
    cache = image_folder.open_cache(config.data)
    meta = cache.meta
    print(f"cold  build: {n} images in {cold:.2f} s = {n / cold:,.0f} images/s")
    print(f"open  built cache: {opened * 1000:.1f} ms")
    stored, raw = meta["pixel_bytes"], meta["raw_pixel_bytes"]
    print(
        f"cache {stored / 2**20:.1f} MiB = {stored / raw:.3f}"
        f" x raw pixels ({meta['raw_pixel_bytes'] / 2**20:.1f} MiB); JPEG files "
        f"{meta['source_bytes'] / 2**20:.1f} MiB"
    )

    def loader_rate(cfg) -> float:
        it = data.make_iterator(cfg, global_batch_size=args.batch, seed=0)
        next(it)  # Threads started, first batch ready.
        began = time.perf_counter()
        for _ in range(args.steps):
            next(it)
        return args.steps * args.batch / (time.perf_counter() - began)

    warm = loader_rate(config.data)
    bare_cfg = config.data.copy_and_resolve_references()
    bare_cfg.num_threads, bare_cfg.prefetch = 0, 0
    bare = loader_rate(bare_cfg)
    print(
        f"warm  loader: {warm:,.0f} images/s (threads {config.data.num_threads}, prefetch "
        f"{config.data.prefetch}; flip on); bare reader {bare:,.0f} images/s"
    )
    step = time_step(config, args.step_seconds)
    step_rate = step["images_per_sec"]
    print(
        f"step  DCGAN-64 RGB (experiments/folder.py), batch {args.batch}: {step_rate:,.0f} images/s"
    )
    print(f"ratio warm loader / step = {warm / step_rate:.1f}x (target >= 10x)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
