"""data.clusters: k-means cluster labels in place of the data's own (cluster-conditioned GANs)."""

import numpy as np
import pytest
from PIL import Image

from jaxgan import config as config_lib
from jaxgan import data, evaluate
from jaxgan.data import clusters, image_folder
from jaxgan.metrics import classifier


def folder_config(path, **overrides):
    c = data.default_config()
    c.name, c.path, c.image_size, c.num_threads, c.prefetch = "image_folder", str(path), 8, 0, 0
    c.update(overrides)
    return c


@pytest.fixture
def three_colours(tmp_path):
    """An unlabelled folder of 8x8 pictures in three flat colours (6 each, names shuffled so the
    colours are not in file order): the colour of each file by its name."""
    colours = {"red": (230, 10, 10), "green": (10, 230, 10), "blue": (10, 10, 230)}
    names = np.random.default_rng(0).permutation(18)
    truth = {}
    for i, (name, rgb) in enumerate((n, c) for n, c in colours.items() for _ in range(6)):
        picture = np.clip(np.array(rgb) + 8 * (i % 3), 0, 255).astype(np.uint8)
        file = f"{names[i]:02d}.png"
        Image.fromarray(np.broadcast_to(picture, (8, 8, 3)).copy()).save(tmp_path / file)
        truth[file] = name
    image_folder._cache.cache_clear()
    yield tmp_path, truth
    image_folder._cache.cache_clear()


def all_labels(cfg, num):
    batch = next(data.make_iterator(cfg, global_batch_size=num, seed=0, augmented=False))
    return batch


def test_clusters_label_an_unlabelled_folder_by_its_modes(three_colours, cache_dir):
    path, truth = three_colours
    cfg = folder_config(path, clusters=3)
    spec = data.describe(cfg)
    assert spec.num_classes == 3  # The folder itself has no labels.
    assert data.describe(folder_config(path)).num_classes is None
    batch = all_labels(cfg, 18)
    colour = np.argmax(batch["x"].mean(axis=(1, 2)), axis=-1)  # 0 red, 1 green, 2 blue
    # Every cluster is one colour and every colour one cluster (cluster ids are arbitrary).
    pairs = set(zip(colour.tolist(), batch["label"].tolist(), strict=True))
    assert len(pairs) == 3 and len({c for c, _ in pairs}) == 3 and len({k for _, k in pairs}) == 3


def test_cluster_labels_are_cached_and_read_back_identically(three_colours, cache_dir, monkeypatch):
    path, _ = three_colours
    cfg = folder_config(path, clusters=2)
    first = all_labels(cfg, 18)["label"]
    files = list((cache_dir / "clusters").glob("image_folder-k2-*.npy"))
    assert len(files) == 1
    monkeypatch.setattr(clusters, "fit", lambda *a: pytest.fail("refitted instead of reading"))
    np.testing.assert_array_equal(all_labels(cfg, 18)["label"], first)


def test_corrupt_cluster_cache_names_the_file(three_colours, cache_dir):
    path, _ = three_colours
    cfg = folder_config(path, clusters=2)
    all_labels(cfg, 18)
    (file,) = (cache_dir / "clusters").glob("image_folder-k2-*.npy")
    np.save(file, np.full(18, 7, np.int32))  # Labels outside the 2 clusters.
    with pytest.raises(data.DataError, match=f"{file}.*delete the file"):
        all_labels(cfg, 18)


def test_embedded_digits_clusters_follow_the_stream(cache_dir):
    cfg = data.default_config()
    cfg.clusters, cfg.num_threads, cfg.prefetch = 10, 0, 0
    it = data.make_iterator(cfg, global_batch_size=500, seed=3)
    labels = np.concatenate([next(it)["label"] for _ in range(9)])  # One epoch of 4,500.
    assert labels.dtype == np.int32 and set(labels.tolist()) == set(range(10))
    # The evaluation classifier still learns (and scores) the digits' own ten classes.
    own = classifier.own_split(cfg, "test")
    assert own.clusters == 0 and data.describe(own).num_classes == 10


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"clusters": 1}, r"data.clusters=1 is not allowed: use 0 .* or >= 2"),
        ({"clusters": -2}, r"data.clusters=-2 is not allowed"),
        ({"clusters": True}, r"data.clusters=True is not allowed"),
        ({"clusters": 5000}, r"data.clusters=5000 is more than the 4500 examples of split 'train'"),
        ({"name": "toy2d_ring", "clusters": 4}, r"data.clusters=4 clusters images; 'toy2d_ring'"),
    ],
)
def test_bad_clusters_are_one_line_errors(overrides, message):
    cfg = data.default_config()
    cfg.update(overrides)
    with pytest.raises(data.DataError, match=message) as e:
        data.describe(cfg)
    assert "\n" not in str(e.value)


def test_requested_class_accuracy_is_refused_with_clusters(smoke_config):
    c = smoke_config("cgan")
    c.data.clusters = 10
    with pytest.raises(config_lib.ConfigError, match=r"'accuracy'.*data.clusters=10.*k-means"):
        evaluate.make_evaluator(c)
