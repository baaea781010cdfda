"""The translating recipes' folders (paired_folder, unpaired_folder): the reference code's
layouts, pairing by halves and by name, unpaired counts, bad files, aligned random crops,
start-up errors, and pix2pix / CycleGAN training on tiny folders."""

import json

import numpy as np
import pytest
from PIL import Image

from jaxgan import config as config_lib
from jaxgan import data, recipes
from jaxgan.data import translation_folders

from conftest import ROOT


def config(path, name="paired_folder", **overrides):
    c = data.default_config()
    c.name, c.path, c.image_size = name, str(path), 8
    c.num_threads, c.prefetch = 0, 0
    for key, value in overrides.items():
        c[key] = value
    return c


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Each test opens the folder caches as a new process would."""
    translation_folders._cache.cache_clear()
    yield
    translation_folders._cache.cache_clear()


def save(path, array):
    """Writes uint8 [H, W] (gray) or [H, W, 3] to `path` (its format by extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def solid(value, height=12, width=16, gray=False):
    return np.full((height, width) if gray else (height, width, 3), value, np.uint8)


def epoch(cfg) -> dict:
    """One un-augmented batch of every example: {'source', 'x'} uint8 [N, H, W, C]."""
    n = data.describe(cfg).num_examples
    batch = next(data.make_iterator(cfg, global_batch_size=n, seed=0, augmented=False))
    return {k: np.rint((v + 1.0) * 127.5).astype(np.int64) for k, v in batch.items()}


def levels(images) -> list[int]:
    """Each uniform image's value."""
    assert (images == images[:, :1, :1]).all(), "images are not uniform"
    return images[:, 0, 0, 0].tolist()


def side_by_side(root, split, values, offset=5):
    """`split`/ of 12x16 A|B pictures: pair i has A = values[i] and B = values[i] + offset."""
    for i, v in enumerate(values):
        save(
            root / split / f"{i}.png",
            np.concatenate([solid(v, width=8), solid(v + offset, width=8)], 1),
        )


def test_side_by_side_pictures_split_into_source_and_target(tmp_path):
    side_by_side(tmp_path, "train", [10, 50, 90, 130])
    side_by_side(tmp_path, "val", [200, 220])  # No test/: val/ is the held-out split.
    spec = data.describe(config(tmp_path))
    assert spec.shape == (8, 8, 3) and spec.fields["source"] == (8, 8, 3)
    assert spec.num_examples == 4 and spec.num_classes is None
    batch = epoch(config(tmp_path))
    assert sorted(levels(batch["source"])) == [10, 50, 90, 130]
    assert np.array_equal(levels(batch["x"]), np.add(levels(batch["source"]), 5))  # Pairs kept.
    held_out = epoch(config(tmp_path, split="test"))
    assert sorted(levels(held_out["source"])) == [200, 220]


def pairs_by_name(root, split, names, offset=5, corrupt=()):
    """`split`A/ (gray) and `split`B/ (RGB) of 12x16 pictures under `names` (A's as written, B's
    with other extensions); name i has A = 20 i + 10 and B = A + offset."""
    b_extension = {".png": ".bmp", ".jpg": ".png", ".bmp": ".png"}
    for i, name in enumerate(names):
        a_path = root / f"{split}A" / name
        b_path = (root / f"{split}B" / name).with_suffix(b_extension[a_path.suffix])
        save(a_path, solid(20 * i + 10, gray=True))
        save(b_path, solid(20 * i + 10 + offset))
        if name in corrupt:
            a_path.write_bytes(b"not a picture")


def test_pairs_match_by_name_whatever_the_extension_and_a_bad_side_drops_its_pair(tmp_path, caplog):
    """'b.jpg' pairs 'b.png', 'deep/c.bmp' pairs 'deep/c.png'; a corrupt A picture is left out
    with its partner (index pairing would shift every later pair) and counted."""
    names = ["d.png", "a.png", "b.jpg", "deep/c.bmp", "e.png", "f.png"]
    pairs_by_name(tmp_path, "train", names, corrupt=("a.png",))
    cfg = config(tmp_path)
    with caplog.at_level("WARNING"):
        spec = data.describe(cfg)
    assert spec.shape == (8, 8, 3) and spec.fields["source"] == (8, 8, 1)  # Per domain.
    assert spec.num_examples == 5
    assert "1 of 6 files cannot be read" in caplog.text and "a.png" in caplog.text
    assert "1 pairs of trainA/ and trainB/ are left out" in caplog.text
    batch = epoch(cfg)
    source, target = np.array(levels(batch["source"])), np.array(levels(batch["x"]))
    assert np.abs(target - source - 5).max() <= 2  # JPEG's uniform gray: within 2 levels.
    assert sorted(np.rint((source - 10) / 20).astype(int)) == [
        0,
        2,
        3,
        4,
        5,
    ]  # Every pair but a.png.


def test_mismatched_names_stop_at_start_up_naming_them(tmp_path):
    pairs_by_name(tmp_path, "train", ["a.png", "b.png"])
    for name in ("c.png", "d.png"):
        save(tmp_path / "trainA" / name, solid(0))
    save(tmp_path / "trainB" / "x.png", solid(0))
    with pytest.raises(
        data.DataError,
        match=r"2 pictures of trainA/ and 1 of trainB/ have no partner .* trainA/ only: c, d; "
        r"trainB/ only: x$",
    ):
        data.describe(config(tmp_path))
    save(tmp_path / "trainB" / "c.jpg", solid(0))
    save(tmp_path / "trainB" / "c.png", solid(0))
    with pytest.raises(data.DataError, match="trainB/ holds c.jpg and c.png, one name"):
        data.describe(config(tmp_path))


@pytest.mark.parametrize("count_a, count_b", [(3, 5), (5, 3)])
def test_unpaired_domains_of_any_counts_use_every_picture(tmp_path, count_a, count_b):
    for i in range(count_a):
        save(tmp_path / "trainA" / f"{i}.png", solid(10 + 10 * i))
    for i in range(count_b):
        save(tmp_path / "trainB" / f"{i}.jpeg", solid(130 + 10 * i))
    cfg = config(tmp_path, "unpaired_folder")
    assert data.describe(cfg).num_examples == max(count_a, count_b)
    batch = epoch(cfg)
    used_a = np.bincount(np.rint((np.array(levels(batch["source"])) - 10) / 10).astype(int))
    used_b = np.bincount(np.rint((np.array(levels(batch["x"])) - 130) / 10).astype(int))
    for used, count in ((used_a, count_a), (used_b, count_b)):
        assert len(used) == count and used.min() >= 1 and used.max() - used.min() <= 1


def ramp(offset=0, height=8, width=20):
    """A horizontal ramp: column c has value 10 c + offset."""
    return np.tile(10 * np.arange(width, dtype=np.uint8)[None, :, None] + offset, (height, 1, 3))


@pytest.mark.parametrize("layout", ["side_by_side", "by_name", "unpaired"])
def test_random_crops_take_one_window_from_a_pair_and_two_from_unpaired(tmp_path, layout):
    for i in range(2):
        if layout == "side_by_side":
            save(tmp_path / "train" / f"{i}.png", np.concatenate([ramp(), ramp(5)], 1))
        else:
            save(tmp_path / "trainA" / f"{i}.png", ramp())
            save(tmp_path / "trainB" / f"{i}.png", ramp(5))
    name = "unpaired_folder" if layout == "unpaired" else "paired_folder"
    cfg = config(tmp_path, name, crop="random")
    it = data.make_iterator(cfg, global_batch_size=2, seed=0)
    lefts = []
    for _ in range(12):
        batch = {k: np.rint((v + 1.0) * 127.5).astype(int) for k, v in next(it).items()}
        for source, x in zip(batch["source"], batch["x"], strict=True):
            assert (np.diff(source[0, :, 0]) == 10).all() and (np.diff(x[0, :, 0]) == 10).all()
            lefts.append((source[0, 0, 0] // 10, (x[0, 0, 0] - 5) // 10))
    assert len({left for left, _ in lefts}) > 3  # The windows move.
    same = sum(a == b for a, b in lefts)
    if layout == "unpaired":
        assert same < len(lefts) / 2  # Independent windows.
    else:
        assert same == len(lefts)  # Pixel-aligned pairs.


@pytest.mark.parametrize(
    "layout, overrides, message",
    [
        ({}, {"root": ""}, "data.name='paired_folder' needs data.path, a folder holding train/"),
        ({}, {"root": "/no/such/folder"}, "data.path='/no/such/folder' does not exist"),
        ({"trainA/a.png": 1}, {"name": "unpaired_folder"}, "has no trainB/ folder"),
        ({"val/a.png": 1}, {}, "holds no train/ or trainA/ folder"),
        ({"train/a.png": 1, "trainA/a.png": 1}, {}, "holds both train/ .* keep one layout"),
        ({"trainA/a.png": 1, "trainB/notes.txt": 0}, {}, r"trainB/ holds no images"),
        (
            {"trainA/a.png": 0, "trainA/b.png": 0, "trainB/a.png": 1, "trainB/b.png": 1},
            {},
            "none of the 2 image files of trainA/ can be read",
        ),
        ({"train/a.png": 1}, {"split": "test"}, "has no test/ or val/ .* pix2pix.eval_split"),
        (
            {"trainA/a.png": 1, "trainB/a.png": 1, "testA/a.png": 1},
            {"split": "test", "name": "unpaired_folder"},
            r"has no testB/ \(domain B's held-out pictures\).* cyclegan.eval_split='train'",
        ),
        ({"train/a.png": 1}, {"split": "fit"}, "data.split='fit' is not a split of paired_folder"),
        ({"train/a.png": 1}, {"image_size": 0}, "data.image_size=0 is not allowed for paired"),
        ({"train/a.png": 1}, {"labels_file": "x.csv"}, "is for data.name='image_folder', not"),
        ({"train/a.png": 3}, {}, "none of the 1 image files of train/ .* odd width: 15 pixels"),
    ],
)
def test_unusable_folders_fail_at_start_up_in_one_line(tmp_path, layout, overrides, message):
    """Files: 1 a picture, 3 one of odd width, 0 unreadable bytes."""
    for name, kind in layout.items():
        if kind == 0:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(b"")
        else:
            save(tmp_path / name, solid(0, width=16 if kind == 1 else 15))
    root = overrides.pop("root", tmp_path)
    with pytest.raises(data.DataError, match=message):
        data.describe(config(root, **overrides))


def test_options_and_identity(tmp_path, caplog):
    """data.crop works on the new folders; bad side-by-side files are counted, not fatal; the
    identity and cache names follow the split's files."""
    side_by_side(tmp_path, "train", [10, 50, 90])
    side_by_side(tmp_path, "test", [200])
    save(tmp_path / "train" / "odd.png", solid(0, width=15))
    (tmp_path / "train" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with caplog.at_level("WARNING"):
        spec = data.describe(config(tmp_path, crop="pad"))
    assert spec.num_examples == 3
    assert "2 of 5 files cannot be read" in caplog.text and "odd width" in caplog.text
    train, test = config(tmp_path), config(tmp_path, split="test")
    identity = data.identity(train)
    assert identity["files"] == 5 and data.identity(test)["files"] == 1
    assert data.cache_name(train).startswith("paired_folder_")
    assert data.cache_name(train) != data.cache_name(test)
    side_by_side(tmp_path, "train", [10, 50, 90, 99])  # A new file: a new identity.
    assert data.identity(train)["fingerprint"] != identity["fingerprint"]


def test_a_missing_held_out_folder_stops_the_recipe_at_start_up(tmp_path):
    pairs_by_name(tmp_path, "train", [f"{i}.png" for i in range(8)])
    c = config_lib.load_config(str(ROOT / "experiments" / "pix2pix_folder.py"), "smoke")
    c.data.path = str(tmp_path)
    with pytest.raises(data.DataError, match="has no testA/"):
        recipes.prepare(c)


def trained(tmp_path, experiment: str, root, **overrides):
    """The experiment's smoke variant on the folder at 8x8: (final state, metrics.jsonl rows)."""
    from jaxgan import train

    c = config_lib.load_config(str(ROOT / "experiments" / f"{experiment}.py"), "smoke")
    c.data.path, c.data.image_size = str(root), 8
    for key, value in overrides.items():
        section, name = key.split(".")
        c[section][name] = value
    state = train.train_and_evaluate(c, tmp_path / "run")
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    return state, rows


def test_pix2pix_trains_and_evaluates_on_pairs_by_name(tmp_path):
    """Gray sources, colour targets; evaluation every 2 steps compares with the held-out pairs."""
    pairs_by_name(tmp_path / "data", "train", [f"{i}.png" for i in range(8)])
    pairs_by_name(tmp_path / "data", "test", ["x.png", "y.jpg", "z.bmp"])
    state, rows = trained(tmp_path, "pix2pix_folder", tmp_path / "data", **{"eval.every_steps": 2})
    assert int(state.step) == 4
    evaluated = [r for r in rows if "eval/l1" in r]
    assert [r["step"] for r in evaluated] == [2, 4]
    assert all(np.isfinite([r["eval/l1"], r["eval/psnr"], r["eval/ssim"]]).all() for r in evaluated)
    assert (tmp_path / "run" / "best_checkpoint").is_dir()  # Kept by eval.primary='l1'.


def test_cyclegan_trains_on_unpaired_domains_of_different_counts(tmp_path):
    rng = np.random.default_rng(0)
    for split, count_a, count_b in (("train", 8, 11), ("test", 2, 3)):
        for domain, count in (("A", count_a), ("B", count_b)):
            for i in range(count):
                picture = rng.integers(0, 256, (12, 16, 3), np.uint8)
                save(tmp_path / "data" / f"{split}{domain}" / f"{i}.png", picture)
    state, rows = trained(tmp_path, "cyclegan_folder", tmp_path / "data")
    assert int(state.step) == 4
    assert all(np.isfinite(r["g_loss"]) for r in rows if "g_loss" in r)
