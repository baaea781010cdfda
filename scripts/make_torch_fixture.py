"""Writes the small torch-made fixtures under tests/data/ that tests/test_inception.py reads.

Needs real torch (not a project dependency), so run it from a throwaway virtualenv:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python scripts/make_torch_fixture.py

Outputs (all written by torch, expected values written by numpy from the same torch tensors):
- torch_state_dict.pt          zip format (torch >= 1.6 default)
- torch_state_dict_legacy.pt   legacy format (_use_new_zipfile_serialization=False)
- torch_state_dict_expected.npz the exact values every tensor must read back as
- torch_unsafe.pt              a zip checkpoint whose pickle calls os.system via __reduce__
- torch_resize.npz             F.interpolate(bilinear, align_corners=False) inputs and outputs

Finally it checks that torch.load(weights_only=True) reads our writer's output exactly.
"""

import collections
import importlib.util
import os
import pathlib
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def state_dict() -> collections.OrderedDict:
    """A module state_dict (with _metadata and num_batches_tracked) plus awkward tensors."""
    g = torch.Generator().manual_seed(0)
    bn = torch.nn.BatchNorm2d(3)
    bn.running_mean.copy_(torch.randn(3, generator=g))
    bn.running_var.copy_(torch.rand(3, generator=g) + 0.5)
    bn.num_batches_tracked.fill_(7)
    sd = bn.state_dict()  # an OrderedDict carrying a _metadata attribute
    base = torch.randn(4, 5, generator=g)
    sd["float32"] = torch.randn(2, 3, 3, generator=g)
    sd["float64"] = torch.randn(5, generator=g, dtype=torch.float64)
    sd["float16"] = torch.randn(6, generator=g).half()
    sd["bfloat16"] = torch.randn(6, generator=g).bfloat16()
    sd["int64"] = torch.tensor([-(2**40), -1, 0, 3, 2**62], dtype=torch.int64)
    sd["int32"] = torch.tensor([-7, 2**31 - 1], dtype=torch.int32)
    sd["int8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["uint8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["base"] = base
    sd["transposed"] = base.t()  # shares base's storage, strides (1, 5)
    sd["row"] = base[2]  # shares base's storage, offset 10
    sd["strided"] = base[1:, 1::2]  # offset 6, strides (5, 2)
    return sd


def expected_arrays(sd) -> dict:
    out = {}
    for name, tensor in sd.items():
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: store its exact float32
            tensor = tensor.float()
        out[name] = tensor.numpy()
    return out


class RunsShell:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __reduce__(self):
        return os.system, ("echo this-should-never-run",)


def resize_cases() -> dict:
    g = torch.Generator().manual_seed(1)
    up = torch.rand(2, 3, 5, 7, generator=g)  # NCHW
    down = torch.rand(1, 3, 40, 33, generator=g)
    kw = dict(mode="bilinear", align_corners=False)
    nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()
    return {
        "up_in": nhwc(up),
        "up_out": nhwc(F.interpolate(up, size=(12, 17), **kw)),
        "down_in": nhwc(down),
        "down_out": nhwc(F.interpolate(down, size=(13, 11), **kw)),
    }


def check_our_writer() -> None:
    spec = importlib.util.spec_from_file_location(
        "torch_checkpoint", ROOT / "jaxgan" / "metrics" / "torch_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    arrays = {
        "w": np.random.default_rng(0).normal(size=(3, 2, 5, 5)).astype(np.float32),
        "n": np.array(9, np.int64),
        "e": np.zeros((0, 4), np.float64),
        "h": np.arange(4, dtype=np.float16),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ours.pth")
        module.save_state_dict(arrays, path)
        loaded = torch.load(path, weights_only=True)
    assert list(loaded) == list(arrays), list(loaded)
    for name, array in arrays.items():
        assert loaded[name].shape == array.shape and np.array_equal(loaded[name].numpy(), array)
    print("torch.load(weights_only=True) reads our writer's output exactly")


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    sd = state_dict()
    torch.save(sd, DATA / "torch_state_dict.pt")
    torch.save(sd, DATA / "torch_state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    np.savez(DATA / "torch_state_dict_expected.npz", **expected_arrays(sd))
    torch.save({"weight": torch.ones(2), "payload": RunsShell()}, DATA / "torch_unsafe.pt")
    np.savez(DATA / "torch_resize.npz", **resize_cases())
    check_our_writer()
    for path in sorted(DATA.glob("torch_*")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
