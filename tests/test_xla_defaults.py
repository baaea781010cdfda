"""jaxgan's default XLA flags: added when absent, never overriding what the user set."""

import subprocess
import sys

from jaxgan import xla_defaults

from conftest import ROOT

YNN = "--xla_cpu_experimental_ynn_fusion_type"


def test_defaults_are_added_to_the_users_flags():
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    flags = xla_defaults.apply(environ).split()
    assert flags[0] == "--xla_force_host_platform_device_count=2"
    assert f"{YNN}=-individual_convolution" in flags
    assert environ["XLA_FLAGS"] == " ".join(flags)


def test_a_flag_the_user_set_is_kept_as_given():
    environ = {"XLA_FLAGS": f"{YNN}="}
    assert xla_defaults.apply(environ) == f"{YNN}="
    assert xla_defaults.apply({}) == f"{YNN}=-individual_convolution"


def test_importing_launch_leaves_jax_unstarted_so_its_flags_take_effect():
    code = (
        "import launch; from jax._src import xla_bridge;"
        "print(xla_bridge.backends_are_initialized())"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_adding_flags_after_jax_started_warns(recwarn, monkeypatch):
    import jax.numpy as jnp

    jnp.ones(1).block_until_ready()
    xla_defaults.apply()  # Already set (by conftest): nothing to add, nothing to say.
    xla_defaults.apply({})  # Another process's environment: fine.
    assert not recwarn.list
    monkeypatch.setenv("XLA_FLAGS", "")
    xla_defaults.apply()
    assert "take no effect now" in str(recwarn.pop(UserWarning).message)
