"""Image folders: the decoded cache, bad files, conversions, orientation, crops, labels files,
augmentation of the stream, and a short training run on a folder of mixed files."""

import json
import os
import pathlib
import textwrap
import threading

import numpy as np
import pytest
from PIL import Image

from jaxgan import config as config_lib
from jaxgan import data
from jaxgan.data import folder_cache, image_folder

from conftest import ROOT, run_launch, run_python

RED, BLUE = (220, 20, 20), (20, 20, 220)


def config(path, **overrides):
    c = data.default_config()
    c.name, c.path, c.image_size = "image_folder", str(path), 8
    c.num_threads, c.prefetch = 0, 0
    for key, value in overrides.items():
        c[key] = value
    return c


def take(cfg, steps, *, batch, seed=0, index=0, count=1, **kwargs):
    it = data.make_iterator(
        cfg, global_batch_size=batch, seed=seed, process_index=index, process_count=count, **kwargs
    )
    return [next(it) for _ in range(steps)]


def to_uint8(x):
    return np.rint((x + 1.0) * 127.5).astype(np.uint8)


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Each test sees the folder cache as a new process would (no in-memory handles)."""
    image_folder._cache.cache_clear()
    yield
    image_folder._cache.cache_clear()


def halves(height, width, top=RED, bottom=BLUE):
    """An RGB picture whose upper half is `top` and lower half `bottom`."""
    picture = np.empty((height, width, 3), np.uint8)
    picture[: height // 2], picture[height // 2 :] = top, bottom
    return picture


def write_mixed(root: pathlib.Path) -> dict:
    """A few dozen files of mixed formats, modes and sizes, three of them unreadable, in two
    class subfolders. Returns facts the tests check."""
    rng = np.random.default_rng(0)
    (root / "cat").mkdir(parents=True)
    (root / "dog" / "deep").mkdir(parents=True)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(root / "cat" / f"{i}.png")
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(
            root / "dog" / "deep" / f"{i}.jpg", quality=95
        )
    # RGBA: left half opaque red, right half fully transparent (shows white).
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8] = (*RED, 255)
    rgba[:, 8:] = (0, 0, 0, 0)
    Image.fromarray(rgba).save(root / "cat" / "rgba.png")
    # 16-bit gray: 65535 and 32896 map to 255 and 128.
    sixteen = np.full((16, 16), 65535, np.uint16)
    sixteen[8:] = 32896
    Image.fromarray(sixteen).save(root / "dog" / "sixteen.png")
    # Stored 32 wide x 16 high, red left / blue right; EXIF orientation 6 = rotate 90 clockwise
    # to display, giving 16 wide x 32 high with red on top.
    stored = np.empty((16, 32, 3), np.uint8)
    stored[:, :16], stored[:, 16:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "cat" / "exif.jpg", exif=exif, quality=95)
    # Non-square: 16 high x 48 wide, blue | red | blue thirds.
    wide = np.empty((16, 48, 3), np.uint8)
    wide[:], wide[:, 16:32] = BLUE, RED
    Image.fromarray(wide).save(root / "dog" / "wide.png")
    # Palette GIF.
    Image.fromarray(np.full((16, 16, 3), RED, np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE
    ).save(root / "cat" / "p.gif")
    # Bad: truncated PNG, zero bytes, not an image.
    good = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "dog" / "zero.jpg").write_bytes(b"")
    (root / "dog" / "text.png").write_bytes(b"this is not a picture")
    return {"files": 12 * 2 + 5 + 3, "bad": 3}


@pytest.fixture
def mixed(tmp_path):
    facts = write_mixed(tmp_path / "pictures")
    return tmp_path / "pictures", facts


def cached_image(cfg, relative: str) -> np.ndarray:
    cache = image_folder.open_cache(cfg)
    return np.asarray(cache.image(cache.files.index(relative)))


def test_bad_files_are_skipped_and_counted_in_one_warning(mixed, caplog):
    root, facts = mixed
    with caplog.at_level("WARNING"):
        spec = data.describe(config(root))
    assert spec == data.DataSpec(
        (8, 8, 3), 2, facts["files"] - facts["bad"], "image_folder", class_names=("cat", "dog")
    )
    warnings = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1
    assert (
        f"{facts['bad']} of {facts['files']} files cannot be read and are left out" in warnings[0]
    )
    for name in ("cat/truncated.png", "dog/zero.jpg", "dog/text.png"):
        assert name in warnings[0]
    (batch,) = take(config(root), 1, batch=spec.num_examples)  # One epoch: every readable file.
    assert np.bincount(batch["label"]).tolist() == [15, 14]  # Labelled by first subfolder.


def test_the_cache_is_built_once_and_rebuilt_when_a_file_changes(mixed, monkeypatch):
    root, facts = mixed
    decoded = []
    prepare = folder_cache._prepare
    monkeypatch.setattr(
        folder_cache, "_prepare", lambda path, *a: decoded.append(path) or prepare(path, *a)
    )
    cfg = config(root)
    first = take(cfg, 2, batch=8)
    assert len(decoded) == facts["files"]
    image_folder._cache.cache_clear()  # As a new process: only the files on disk remain.
    again = take(cfg, 2, batch=8)
    assert len(decoded) == facts["files"]  # Reused, nothing decoded.
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
    cache = image_folder.open_cache(cfg)
    assert cache.meta["raw_pixel_bytes"] == cache.meta["pixel_bytes"] == spec_bytes(cfg)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "cat" / "new.png")
    image_folder._cache.cache_clear()
    assert data.describe(cfg).num_examples == facts["files"] - facts["bad"] + 1
    assert len(decoded) == 2 * facts["files"] + 1  # A new file list: a new cache.


def spec_bytes(cfg) -> int:
    spec = data.describe(cfg)
    return spec.num_examples * int(np.prod(spec.shape))


def test_conversions_orientation_and_crops(mixed):
    root, _ = mixed
    cfg = config(root, image_size=16)
    exif = cached_image(cfg, "cat/exif.jpg")  # Displayed 16 x 32, centre square 16 x 16.
    assert exif.shape == (16, 16, 3)
    top, bottom = exif[:4].reshape(-1, 3).mean(0), exif[-4:].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(top, RED, atol=12)  # Red on top: the orientation was applied
    np.testing.assert_allclose(bottom, BLUE, atol=12)  # (raw pixels have red on the left).
    rgba = cached_image(cfg, "cat/rgba.png")
    assert (rgba[:, :8] == RED).all() and (rgba[:, 8:] == 255).all()  # Transparent -> white.
    sixteen = cached_image(cfg, "dog/sixteen.png")
    assert (sixteen[:8] == 255).all() and (sixteen[8:] == 128).all()  # Scaled, not clipped.
    assert (cached_image(cfg, "cat/p.gif") == RED).all()
    assert (cached_image(cfg, "dog/wide.png") == RED).all()  # 'center': the red middle third.
    pad = cached_image(config(root, image_size=12, crop="pad"), "dog/wide.png")
    assert (pad[:4] == 0).all() and (pad[-4:] == 0).all()  # 48x16 -> 12x4, black bands.
    assert (pad[4:8, 5:7] == RED).all() and (pad[4:8, :2] == BLUE).all()  # Filter: 8 px wide.
    strip = cached_image(config(root, image_size=8, crop="random"), "dog/wide.png")
    assert strip.shape == (8, 16, 3)  # Longer side kept up to MAX_ASPECT = 2: 16x48 -> 8x16.


def test_random_crops_move_their_window_per_step_and_centre_when_not_augmented(tmp_path):
    wide = np.tile(np.arange(40, dtype=np.uint8)[None, :, None] * 6, (20, 1, 3))  # 20 x 40 ramp
    Image.fromarray(wide).save(tmp_path / "ramp.png")
    cfg = config(tmp_path, image_size=10, crop="random")
    lefts = set()
    for batch in take(cfg, 12, batch=1):
        row = to_uint8(batch["x"])[0, 0, :, 0].astype(int)
        lefts.add(row[0])
        assert (np.diff(row) > 0).all()  # One contiguous window of the ramp.
    assert len(lefts) > 3
    (centred,) = take(cfg, 1, batch=1, augmented=False)
    np.testing.assert_array_equal(to_uint8(centred["x"])[0], cached_image(cfg, "ramp.png")[:, 5:15])


def test_flips_and_shifts_are_a_pure_function_of_seed_and_step(mixed):
    root, _ = mixed
    plain = config(root)
    augmented = config(root, flip=True, translate=2)
    a = take(augmented, 3, batch=16)
    b = take(augmented, 3, batch=16)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["x"], y["x"])
    # Two processes see their halves of the same global batches.
    halves_ = [take(augmented, 3, batch=16, index=i, count=2) for i in range(2)]
    for whole, first, second in zip(a, *halves_, strict=True):
        np.testing.assert_array_equal(whole["x"], np.concatenate([first["x"], second["x"]]))
    # Flip only: each image is the plain one, mirrored or not, and both happen.
    flipped = take(config(root, flip=True), 3, batch=16)
    unflipped = take(plain, 3, batch=16)
    mirrored = same = 0
    for f, u in zip(flipped, unflipped, strict=True):
        for fi, ui in zip(f["x"], u["x"], strict=True):
            if np.array_equal(fi, ui[:, ::-1]) and not np.array_equal(fi, ui):
                mirrored += 1
            elif np.array_equal(fi, ui):
                same += 1
    assert mirrored > 5 and mirrored + same == 48


def test_labels_file_json_and_csv(mixed, caplog):
    root, facts = mixed
    (root / "labels.json").write_text(
        json.dumps({"cat/0.png": "tabby", "cat/1.png": "tabby", "dog/wide.png": "hound"})
    )
    cfg = config(root, labels_file="labels.json")
    with caplog.at_level("WARNING"):
        spec = data.describe(cfg)
    assert spec.num_classes == 2 and spec.num_examples == 3
    assert spec.class_names == ("hound", "tabby")
    assert f"gives no class for {facts['files'] - facts['bad'] - 3} images" in caplog.text
    (batch,) = take(cfg, 1, batch=3)
    assert sorted(batch["label"]) == [0, 1, 1]
    assert data.class_indices(cfg, ["tabby", "0"]) == [1, 0]
    with pytest.raises(data.DataError, match="'siamese' is not a class of the data: use one of"):
        data.class_indices(cfg, ["siamese"])
    assert data.identity(cfg)["class_names"] == ["hound", "tabby"]
    (root / "labels.csv").write_text("file,class\ncat/2.png,tabby\n./dog/deep/3.jpg,hound\n")
    spec = data.describe(config(root, labels_file=str(root / "labels.csv")))
    assert spec.num_examples == 2 and spec.class_names == ("hound", "tabby")
    (root / "broken.csv").write_text("cat/2.png\n")
    with pytest.raises(data.DataError, match=r"broken.csv'.*every row must be 'path,class'"):
        data.describe(config(root, labels_file="broken.csv"))
    with pytest.raises(data.DataError, match="labels_file='missing.json': no such file"):
        data.describe(config(root, labels_file="missing.json"))


def test_fit_and_heldout_divide_the_folder_for_the_evaluation_classifier(mixed):
    from jaxgan.metrics import classifier

    root, facts = mixed
    readable = facts["files"] - facts["bad"]
    sizes = {}
    for split in ("fit", "heldout"):
        cfg = classifier.own_split(config(root), "train" if split == "fit" else "test")
        assert cfg.split == split
        (batch,) = take(cfg, 1, batch=data.describe(cfg).num_examples)
        sizes[split] = {x.tobytes() for x in to_uint8(batch["x"])}
    assert len(sizes["heldout"]) >= 1 and not sizes["fit"] & sizes["heldout"]
    assert (
        data.describe(config(root, split="fit")).num_examples
        + data.describe(config(root, split="heldout")).num_examples
        == readable
    )
    with pytest.raises(data.DataError, match="data.split='test' is not a split of an image"):
        data.describe(config(root, split="test"))


def test_channels_follow_the_majority_of_files(tmp_path, caplog):
    for i in range(3):
        Image.fromarray(np.full((9, 9, 3), RED, np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "gray.png")
    with caplog.at_level("WARNING"):
        assert data.describe(config(tmp_path, image_size=4)).shape == (4, 4, 3)
    assert "1 gray and 3 colour images: training on RGB (1 converted)" in caplog.text
    assert data.describe(config(tmp_path, image_size=4, channels=1)).shape == (4, 4, 1)
    (batch,) = take(config(tmp_path, image_size=4, channels=1), 1, batch=4)
    assert sorted(np.unique(to_uint8(batch["x"])).tolist()) == [
        0,
        int(np.asarray(Image.new("RGB", (1, 1), RED).convert("L"))[0, 0]),
    ]


@pytest.mark.parametrize(
    "files, overrides, message",
    [
        ({"notes.txt": b"no pictures"}, {}, "holds no images"),
        ({"a.png": b"", "b.jpg": b"garbage"}, {}, "none of its 2 image files can be read"),
        ({"a.png": None}, {"image_size": 0}, "data.image_size=0 is not allowed for image_folder"),
        ({"a.png": None}, {"crop": "fill"}, "data.crop='fill' is not allowed"),
    ],
)
def test_unusable_folders_fail_at_start_up_in_one_line(tmp_path, files, overrides, message):
    for name, content in files.items():
        if content is None:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    with pytest.raises(data.DataError, match=message):
        data.describe(config(tmp_path, **overrides))


def test_folder_options_on_other_datasets_are_refused():
    c = data.default_config()
    c.crop = "pad"
    with pytest.raises(data.DataError, match="data.crop='pad' is for data.name='image_folder'"):
        data.describe(c)


def test_two_builders_at_once_decode_every_file_once(mixed, monkeypatch):
    root, facts = mixed
    count, prepare = [], folder_cache._prepare
    monkeypatch.setattr(
        folder_cache, "_prepare", lambda path, *a: count.append(path) or prepare(path, *a)
    )
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(image_folder.open_cache(config(root))))
        for _ in range(2)
    ]
    image_folder._cache.cache_clear()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(count) == facts["files"] and len(results) == 2
    assert results[0].path == results[1].path


def test_a_run_killed_while_building_the_cache_recovers(mixed, tmp_path):
    """launch.py SIGKILLed after 10 decodes leaves an unfinished cache; the same command again
    deletes it, builds the whole cache and trains."""
    root, facts = mixed
    cache_dir, workdir = tmp_path / "cache", tmp_path / "run"
    args = [
        "--config=experiments/folder.py:smoke",
        f"--config.data.path={root}",
        f"--config.data.cache_dir={cache_dir}",
        f"--workdir={workdir}",
    ]
    killed = run_python(
        textwrap.dedent(f"""
        import os, runpy, signal, sys
        from jaxgan.data import folder_cache
        prepare, done = folder_cache._prepare, []
        def dying(path, *args):
            done.append(path)
            if len(done) == 10:
                os.kill(os.getpid(), signal.SIGKILL)
            return prepare(path, *args)
        folder_cache._prepare = dying
        sys.argv = ["launch.py", *{args!r}]
        runpy.run_path("launch.py", run_name="__main__")
        """)
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert list((cache_dir / "folders").glob("*.partial"))  # Killed mid-build, left unfinished.
    done = run_launch(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "removing the unfinished folder cache" in done.stderr
    assert not list((cache_dir / "folders").glob("*.partial"))
    (cache,) = [p for p in (cache_dir / "folders").iterdir() if p.is_dir()]
    meta = json.loads((cache / "meta.json").read_text())
    assert len(meta["files"]) == facts["files"] - facts["bad"]
    assert (workdir / "checkpoints").is_dir()


def test_training_on_a_folder_of_mixed_files(mixed, tmp_path):
    """experiments/folder.py:smoke on the mixed folder: trains, checkpoints, samples by name."""
    import jax

    import jaxgan
    from jaxgan import train

    root, _ = mixed
    c = config_lib.load_config(str(ROOT / "experiments" / "folder.py"), "smoke")
    c.data.path = str(root)
    c.data.translate = 1
    state = train.train_and_evaluate(c, tmp_path / "run")
    assert int(state.step) == c.train.num_steps
    images = jaxgan.sample(state, c, jax.random.PRNGKey(0), 2)
    assert images.shape == (2, 16, 16, 3) and np.isfinite(images).all()
    assert os.path.exists(tmp_path / "run" / "checkpoints")
