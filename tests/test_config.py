"""Config validation names the bad key, the bad value and what is allowed."""

import ml_collections
import pytest

from jaxgan import config as config_lib
from jaxgan.config import ConfigError

from conftest import ROOT


@pytest.mark.parametrize(
    "key, value, needles",
    [
        ("loss.name", "hinje", ["loss.name='hinje'", "'hinge'", "did you mean 'hinge'"]),
        ("model.g.name", "vae", ["model.g.name='vae'", "'dcgan'", "'mlp'"]),
        ("model.d.width", 0, ["model.d.width=0", ">= 1"]),
        ("model.g.norm", "group", ["model.g.norm='group'", "'batch'", "'none'"]),
        ("gan.z_dim", 0, ["gan.z_dim=0", ">= 1"]),
        ("recipe", "pix2px", ["recipe='pix2px'", "'gan'"]),
        ("optim.g_lr", -1.0, ["optim.g_lr=-1.0", "> 0"]),
        ("train.ema_decay", 1.5, ["train.ema_decay=1.5", "[0, 1)"]),
        ("train.batch_size", 0, ["train.batch_size=0", ">= 1"]),
        ("model.dtype", "float16", ["'float16'", "'bfloat16'"]),
    ],
)
def test_bad_values_are_named_with_what_is_allowed(key, value, needles):
    config = config_lib.default_config()
    *path, name = key.split(".")
    node = config
    for part in path:
        node = node[part]
    node[name] = value
    with pytest.raises(ConfigError) as error:
        config_lib.validate(config)
    for needle in needles:
        assert needle in str(error.value)


def test_unknown_and_mistyped_keys_are_refused():
    config = config_lib.default_config()
    config.train.batchsize = 3
    with pytest.raises(
        ConfigError, match="unknown config key 'train.batchsize'.*'train.batch_size'"
    ):
        config_lib.validate(config)
    config = config_lib.default_config()  # An experiment file that rebuilt a section by hand:
    config.train = ml_collections.ConfigDict({**config.train.to_dict(), "num_steps": "many"})
    with pytest.raises(ConfigError, match="train.num_steps='many' has type str, expected int"):
        config_lib.validate(config)


def test_experiments_validate_and_smoke_shrinks_them():
    for path in sorted((ROOT / "experiments").glob("*.py")):
        full = config_lib.load_config(str(path))
        smoke = config_lib.load_config(str(path), "smoke")
        assert smoke.train.num_steps < full.train.num_steps
    with pytest.raises(ConfigError, match="unknown config argument 'big'"):
        config_lib.load_config(str(ROOT / "experiments" / "dcgan.py"), "big")


def test_changed_keys_allows_bookkeeping_and_names_the_rest():
    old = config_lib.default_config()
    new = config_lib.default_config()
    new.train.num_steps = 10_000
    new.train.log_every_steps = 7
    new.eval.num_samples = 100
    assert config_lib.changed_keys(old.to_dict(), new) == []
    new.model.g.width = 32
    new.optim.d_lr = 1e-3
    assert config_lib.changed_keys(old.to_dict(), new) == [
        "model.g.width: 64 -> 32",
        "optim.d_lr: 0.0002 -> 0.001",
    ]
