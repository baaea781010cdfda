"""Labels from k-means clusters of a split's images (`data.clusters=K`), in place of its own.

A class-conditional GAN trained on them (fake labels drawn with the clusters' frequencies) is
still an unconditional generator of the data, but its G no longer has to cover every mode with
one continuous map from z: each cluster, a rough mode of the data, gets its own input. This is
the cluster conditioning of Logo-GAN (Sage et al. 2018) and the self-conditioned GAN (Liu et al.
2020), with clusters of pixels fitted once before training instead of features of D refitted
during it.

The fit is scikit-learn's KMeans on at most MAX_FIT images of the split (unaugmented, centred
crops, pixels in [0, 1]), seeded; every image then gets its nearest centre. Labels are written to
`<cache>/clusters/` on first use and read from there afterwards, so a resumed run, and every
process on a machine, reads the very same labels.
"""

import hashlib
import re

import numpy as np
from absl import logging

from jaxgan.data.spec import DataError, cache_lock, cache_root

MAX_FIT = 20_000  # Images the centres are fitted on; the rest are only assigned.
CHUNK = 2_000  # Images read and assigned at a time.
SEED = 0
N_INIT = 4  # k-means++ restarts; the fit with the lowest inertia is kept.


def check(cfg, num_examples: int | None) -> None:
    """DataError unless data.clusters is 0 (off) or a cluster count the split can fill."""
    k = cfg.clusters
    if isinstance(k, bool) or not isinstance(k, int) or k < 0 or k == 1:
        raise DataError(
            f"data.clusters={k!r} is not allowed: use 0 (the data's own labels) or >= 2"
        )
    if k and num_examples is not None and k > num_examples:
        raise DataError(
            f"data.clusters={k} is more than the {num_examples} examples of split {cfg.split!r}"
        )


def cache_path(cfg, name: str, shape: tuple):
    key = hashlib.sha256(f"{name}\t{cfg.split}\t{tuple(shape)}".encode()).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(cfg.name))  # TFDS names may hold '/' or ':'.
    return cache_root(cfg) / "clusters" / f"{safe}-k{cfg.clusters}-{key}.npy"


def labels(cfg, read, num_examples: int, shape: tuple, name: str) -> np.ndarray:
    """int32 [num_examples]: each example's cluster, fitted once and cached (see module doc).
    `read(indices, draws)` is the dataset's reader; `name` its cache name."""
    path = cache_path(cfg, name, shape)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with cache_lock(path.with_name(path.name + ".lock")):
            if not path.exists():  # Another process may have fitted them while we waited.
                found = fit(read, num_examples, cfg.clusters)
                partial = path.with_name(path.name + ".partial.npy")
                np.save(partial, found)
                partial.replace(path)  # Readers see the whole file or none.
    found = np.load(path)
    if found.shape != (num_examples,) or found.min() < 0 or found.max() >= cfg.clusters:
        raise DataError(
            f"cached cluster labels {path} do not fit the data ({num_examples} examples, "
            f"{cfg.clusters} clusters): delete the file to fit them again"
        )
    return found


def _pixels(read, indices: np.ndarray) -> np.ndarray:
    images = read(indices, np.full(len(indices), 0.5))["image"]
    return images.reshape(len(indices), -1).astype(np.float32) / 255.0


def fit(read, num_examples: int, k: int) -> np.ndarray:
    """Each example's nearest k-means centre, the centres fitted on up to MAX_FIT examples."""
    from sklearn.cluster import KMeans

    order = np.random.default_rng(SEED).permutation(num_examples)
    fitted_on = np.sort(order[:MAX_FIT])
    logging.info("fitting %d k-means clusters to %d images, once", k, len(fitted_on))
    kmeans = KMeans(k, n_init=N_INIT, random_state=SEED).fit(_pixels(read, fitted_on))
    found = np.concatenate(
        [
            kmeans.predict(_pixels(read, np.arange(start, min(start + CHUNK, num_examples))))
            for start in range(0, num_examples, CHUNK)
        ]
    )
    sizes = np.bincount(found, minlength=k)
    logging.info("cluster sizes: smallest %d, largest %d", sizes.min(), sizes.max())
    return found.astype(np.int32)
