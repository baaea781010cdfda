"""The FID InceptionV3 feature extractor in Flax, loaded from the standard FID weights file.

FID, KID and precision/recall compare 2048-d pool3 features of the Inception graph of 2015-12-05
that TTUR's reference FID code uses; Inception Score uses its 1008 logits. pytorch-fid ships that
graph's weights as the torch state_dict ``pt_inception-2015-12-05-6726825d.pth``. This module is
the same network in NHWC Flax (torchvision's InceptionV3 blocks with the FID patches: Mixed_5*,
6b-e and 7b average-pool without counting padding, Mixed_7c max-pools, BatchNorm eps 1e-3, no
aux head, a 1008-way fc) and reads that file safely (``torch_checkpoint``, no torch needed).

``ARCHITECTURE`` is the single source of truth: the Flax modules read their conv shapes from it
and ``torch_state_dict_shapes`` derives the expected state_dict from it.

Input preprocessing follows pytorch-fid: images are resized to 299x299 by bilinear interpolation
with ``align_corners=False`` and no antialiasing (``F.interpolate``'s defaults), then the network
sees values in [-1, 1]. pytorch-fid resizes [0, 1] images and then maps them to [-1, 1]; bilinear
weights sum to one, so resizing our [-1, 1] images directly is the same map. ``jax.image.resize``
antialiases by default when downsampling, which pytorch-fid does not; we build the interpolation
matrices from torch's formula instead (and test them against torch's own outputs).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics import torch_checkpoint

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILENAME
)
INPUT_SIZE = 299  # pytorch-fid resizes every image to this
MIN_INPUT_SIZE = 75  # smallest square input the strided convs and pools leave non-empty
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3


class ConvSpec(NamedTuple):
    """One torchvision BasicConv2d: bias-free conv, BatchNorm(eps=1e-3), ReLU."""

    cin: int
    cout: int
    kernel: tuple[int, int]
    stride: int
    padding: tuple[int, int]


def _conv(cin, cout, kernel, stride=1, padding=0) -> ConvSpec:
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    return ConvSpec(cin, cout, pair(kernel), stride, pair(padding))


def _block_a(cin: int, pool_features: int) -> dict[str, ConvSpec]:
    return {
        "branch1x1": _conv(cin, 64, 1),
        "branch5x5_1": _conv(cin, 48, 1),
        "branch5x5_2": _conv(48, 64, 5, padding=2),
        "branch3x3dbl_1": _conv(cin, 64, 1),
        "branch3x3dbl_2": _conv(64, 96, 3, padding=1),
        "branch3x3dbl_3": _conv(96, 96, 3, padding=1),
        "branch_pool": _conv(cin, pool_features, 1),
    }


def _block_b(cin: int) -> dict[str, ConvSpec]:
    return {
        "branch3x3": _conv(cin, 384, 3, stride=2),
        "branch3x3dbl_1": _conv(cin, 64, 1),
        "branch3x3dbl_2": _conv(64, 96, 3, padding=1),
        "branch3x3dbl_3": _conv(96, 96, 3, stride=2),
    }


def _block_c(cin: int, c7: int) -> dict[str, ConvSpec]:
    return {
        "branch1x1": _conv(cin, 192, 1),
        "branch7x7_1": _conv(cin, c7, 1),
        "branch7x7_2": _conv(c7, c7, (1, 7), padding=(0, 3)),
        "branch7x7_3": _conv(c7, 192, (7, 1), padding=(3, 0)),
        "branch7x7dbl_1": _conv(cin, c7, 1),
        "branch7x7dbl_2": _conv(c7, c7, (7, 1), padding=(3, 0)),
        "branch7x7dbl_3": _conv(c7, c7, (1, 7), padding=(0, 3)),
        "branch7x7dbl_4": _conv(c7, c7, (7, 1), padding=(3, 0)),
        "branch7x7dbl_5": _conv(c7, 192, (1, 7), padding=(0, 3)),
        "branch_pool": _conv(cin, 192, 1),
    }


def _block_d(cin: int) -> dict[str, ConvSpec]:
    return {
        "branch3x3_1": _conv(cin, 192, 1),
        "branch3x3_2": _conv(192, 320, 3, stride=2),
        "branch7x7x3_1": _conv(cin, 192, 1),
        "branch7x7x3_2": _conv(192, 192, (1, 7), padding=(0, 3)),
        "branch7x7x3_3": _conv(192, 192, (7, 1), padding=(3, 0)),
        "branch7x7x3_4": _conv(192, 192, 3, stride=2),
    }


def _block_e(cin: int) -> dict[str, ConvSpec]:
    return {
        "branch1x1": _conv(cin, 320, 1),
        "branch3x3_1": _conv(cin, 384, 1),
        "branch3x3_2a": _conv(384, 384, (1, 3), padding=(0, 1)),
        "branch3x3_2b": _conv(384, 384, (3, 1), padding=(1, 0)),
        "branch3x3dbl_1": _conv(cin, 448, 1),
        "branch3x3dbl_2": _conv(448, 384, 3, padding=1),
        "branch3x3dbl_3a": _conv(384, 384, (1, 3), padding=(0, 1)),
        "branch3x3dbl_3b": _conv(384, 384, (3, 1), padding=(1, 0)),
        "branch_pool": _conv(cin, 192, 1),
    }


# (name, kind, convs) in forward order; names are pytorch-fid's module names. kind 'conv' is a
# single BasicConv2d (convs is its ConvSpec), 'maxpool' a 3x3/2 max pool, the rest Inception
# blocks (convs maps branch names to ConvSpecs) wired by _BLOCKS below.
ARCHITECTURE: tuple[tuple[str, str, Any], ...] = (
    ("Conv2d_1a_3x3", "conv", _conv(3, 32, 3, stride=2)),
    ("Conv2d_2a_3x3", "conv", _conv(32, 32, 3)),
    ("Conv2d_2b_3x3", "conv", _conv(32, 64, 3, padding=1)),
    ("maxpool1", "maxpool", None),
    ("Conv2d_3b_1x1", "conv", _conv(64, 80, 1)),
    ("Conv2d_4a_3x3", "conv", _conv(80, 192, 3)),
    ("maxpool2", "maxpool", None),
    ("Mixed_5b", "A", _block_a(192, pool_features=32)),
    ("Mixed_5c", "A", _block_a(256, pool_features=64)),
    ("Mixed_5d", "A", _block_a(288, pool_features=64)),
    ("Mixed_6a", "B", _block_b(288)),
    ("Mixed_6b", "C", _block_c(768, c7=128)),
    ("Mixed_6c", "C", _block_c(768, c7=160)),
    ("Mixed_6d", "C", _block_c(768, c7=160)),
    ("Mixed_6e", "C", _block_c(768, c7=192)),
    ("Mixed_7a", "D", _block_d(768)),
    ("Mixed_7b", "E_avgpool", _block_e(1280)),
    ("Mixed_7c", "E_maxpool", _block_e(2048)),
)


def conv_layers() -> Iterator[tuple[str, ConvSpec]]:
    """Every BasicConv2d as (torch module path such as 'Mixed_5b.branch1x1', spec)."""
    for name, kind, convs in ARCHITECTURE:
        if kind == "conv":
            yield name, convs
        elif kind != "maxpool":
            for branch, spec in convs.items():
                yield f"{name}.{branch}", spec


def torch_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """The FID weights file's required keys and shapes (``*.bn.num_batches_tracked`` optional)."""
    shapes = {}
    for path, s in conv_layers():
        shapes[f"{path}.conv.weight"] = (s.cout, s.cin, *s.kernel)
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{path}.bn.{field}"] = (s.cout,)
    shapes["fc.weight"] = (NUM_LOGITS, FEATURE_DIM)
    shapes["fc.bias"] = (NUM_LOGITS,)
    return shapes


# --------------------------------------------------------------------------------------------
# The network.

Precision = Any  # jax.lax.Precision or a string such as 'highest'


class BasicConv(nn.Module):
    """Bias-free conv, inference BatchNorm (running statistics), ReLU."""

    spec: ConvSpec
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        s = self.spec
        padding = [(s.padding[0], s.padding[0]), (s.padding[1], s.padding[1])]
        conv = nn.Conv(
            features=s.cout,
            kernel_size=s.kernel,
            strides=s.stride,
            padding=padding,
            use_bias=False,
            precision=self.precision,
            name="conv",
        )
        x = conv(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3(x):
    """3x3/1 average pool, padding 1, averaging only real pixels (TF's and pytorch-fid's rule)."""
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x, stride: int = 1):
    padding = ((1, 1), (1, 1)) if stride == 1 else "VALID"
    return nn.max_pool(x, (3, 3), (stride, stride), padding)


def _block_a_forward(conv, x):
    return [
        conv("branch1x1")(x),
        conv("branch5x5_2")(conv("branch5x5_1")(x)),
        conv("branch3x3dbl_3")(conv("branch3x3dbl_2")(conv("branch3x3dbl_1")(x))),
        conv("branch_pool")(_avg_pool_3x3(x)),
    ]


def _block_b_forward(conv, x):
    return [
        conv("branch3x3")(x),
        conv("branch3x3dbl_3")(conv("branch3x3dbl_2")(conv("branch3x3dbl_1")(x))),
        _max_pool_3x3(x, stride=2),
    ]


def _block_c_forward(conv, x):
    b7 = x
    for name in ("branch7x7_1", "branch7x7_2", "branch7x7_3"):
        b7 = conv(name)(b7)
    b7dbl = x
    for i in range(1, 6):
        b7dbl = conv(f"branch7x7dbl_{i}")(b7dbl)
    return [conv("branch1x1")(x), b7, b7dbl, conv("branch_pool")(_avg_pool_3x3(x))]


def _block_d_forward(conv, x):
    b7x3 = x
    for i in range(1, 5):
        b7x3 = conv(f"branch7x7x3_{i}")(b7x3)
    return [conv("branch3x3_2")(conv("branch3x3_1")(x)), b7x3, _max_pool_3x3(x, stride=2)]


def _block_e_forward(conv, x, pool):
    b3 = conv("branch3x3_1")(x)
    b3dbl = conv("branch3x3dbl_2")(conv("branch3x3dbl_1")(x))
    return [
        conv("branch1x1")(x),
        conv("branch3x3_2a")(b3),
        conv("branch3x3_2b")(b3),
        conv("branch3x3dbl_3a")(b3dbl),
        conv("branch3x3dbl_3b")(b3dbl),
        conv("branch_pool")(pool(x)),
    ]


# Inception block kind -> forward(conv, x) returning the branches to concatenate, in channel order.
_BLOCKS: dict[str, Callable] = {
    "A": _block_a_forward,
    "B": _block_b_forward,
    "C": _block_c_forward,
    "D": _block_d_forward,
    "E_avgpool": functools.partial(_block_e_forward, pool=_avg_pool_3x3),
    "E_maxpool": functools.partial(_block_e_forward, pool=_max_pool_3x3),
}


class InceptionBlock(nn.Module):
    """One Inception (Mixed_*) block: ``kind`` picks the wiring, ``convs`` the branch convs."""

    kind: str
    convs: tuple[tuple[str, ConvSpec], ...]
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        specs = dict(self.convs)
        conv = lambda name: BasicConv(specs[name], self.precision, name=name)
        return jnp.concatenate(_BLOCKS[self.kind](conv, x), axis=-1)


class InceptionV3(nn.Module):
    """FID InceptionV3 on preprocessed NHWC input (3 channels, [-1, 1], at least 75x75).

    Returns ``(pool3, logits)``: the (N, 2048) features after the global average pool (FID,
    KID, precision/recall) and the (N, 1008) logits of the fc layer (Inception Score).
    Variables: ``{'params', 'batch_stats'}`` from ``load_inception_params``.
    """

    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x):
        if x.ndim != 4 or x.shape[-1] != 3 or min(x.shape[1:3]) < MIN_INPUT_SIZE:
            raise ValueError(
                f"InceptionV3 takes NHWC images with 3 channels and height and width >= "
                f"{MIN_INPUT_SIZE}, got shape {x.shape}; use preprocess() to resize"
            )
        for name, kind, convs in ARCHITECTURE:
            if kind == "conv":
                x = BasicConv(convs, self.precision, name=name)(x)
            elif kind == "maxpool":
                x = _max_pool_3x3(x, stride=2)
            else:
                x = InceptionBlock(kind, tuple(convs.items()), self.precision, name=name)(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(NUM_LOGITS, precision=self.precision, name="fc")(pool3)
        return pool3, logits


# --------------------------------------------------------------------------------------------
# Preprocessing.


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of torch's bilinear resize with align_corners=False.

    Output pixel i samples source coordinate (i + 0.5) * in/out - 0.5, clamped at 0, and mixes
    its two neighbours (the upper one clamped at the edge); no antialiasing when shrinking.
    """
    src = np.maximum((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights.astype(np.float32)


def resize_bilinear(images, size: tuple[int, int]):
    """Resizes NHWC images to ``size`` = (height, width) exactly as pytorch-fid does."""
    n, h, w, c = images.shape
    out_h, out_w = size
    hp = jax.lax.Precision.HIGHEST
    if (out_h, out_w) != (h, w):
        images = jnp.einsum("oh,nhwc->nowc", bilinear_matrix(h, out_h), images, precision=hp)
        images = jnp.einsum("pw,nowc->nopc", bilinear_matrix(w, out_w), images, precision=hp)
    return images


def preprocess(images, size: int = INPUT_SIZE):
    """NHWC float images in [-1, 1], any size, 1 or 3 channels -> (N, size, size, 3) float32.

    Grayscale is repeated to three channels, then the resize of ``resize_bilinear``.
    """
    images = jnp.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be NHWC with 1 or 3 channels, got shape {tuple(images.shape)}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(
            f"images must be floats in [-1, 1], got dtype {images.dtype} (for uint8 pixels "
            "use x / 127.5 - 1)"
        )
    images = images.astype(jnp.float32)
    if images.shape[-1] == 1:
        images = jnp.repeat(images, 3, axis=-1)
    return resize_bilinear(images, (size, size))


# --------------------------------------------------------------------------------------------
# Weights.


def _mismatch_message(state_dict: Mapping[str, np.ndarray]) -> str | None:
    expected = torch_state_dict_shapes()
    optional = {f"{path}.bn.num_batches_tracked" for path, _ in conv_layers()}
    problems = []
    for key, shape in expected.items():
        if key not in state_dict:
            problems.append(f"missing key '{key}' (expected shape {shape})")
        elif tuple(state_dict[key].shape) != shape:
            actual = tuple(state_dict[key].shape)
            problems.append(f"key '{key}' has shape {actual}, expected {shape}")
        elif not np.issubdtype(state_dict[key].dtype, np.floating):
            problems.append(f"key '{key}' has dtype {state_dict[key].dtype}, expected floats")
    for key in state_dict:
        if key not in expected and key not in optional:
            problems.append(f"unexpected key '{key}' (shape {tuple(state_dict[key].shape)})")
    if not problems:
        return None
    shown = "; ".join(problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return f"{len(problems)} problem(s): {shown}{more}"


def _set_path(tree: dict, path: list[str], value: np.ndarray) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def state_dict_to_variables(state_dict: Mapping[str, np.ndarray], source: str = "state_dict"):
    """Checks a torch-layout FID Inception state_dict and converts it to Flax variables.

    Conv weights OIHW -> HWIO, BatchNorm weight/bias -> params scale/bias, running
    mean/var -> batch_stats, fc weight transposed. Returns float32 numpy
    ``{'params': ..., 'batch_stats': ...}``; raises ValueError naming every missing,
    unexpected or misshapen key (``source`` names the file in the message).
    """
    if (problem := _mismatch_message(state_dict)) is not None:
        raise ValueError(
            f"{source} is not the FID Inception state_dict ({FID_WEIGHTS_FILENAME}): {problem}"
        )
    f32 = lambda key: np.ascontiguousarray(state_dict[key], dtype=np.float32)
    params, stats = {}, {}
    for path, _ in conv_layers():
        tree_path = path.split(".")
        kernel = np.ascontiguousarray(f32(f"{path}.conv.weight").transpose(2, 3, 1, 0))
        _set_path(params, [*tree_path, "conv", "kernel"], kernel)
        _set_path(params, [*tree_path, "bn", "scale"], f32(f"{path}.bn.weight"))
        _set_path(params, [*tree_path, "bn", "bias"], f32(f"{path}.bn.bias"))
        _set_path(stats, [*tree_path, "bn", "mean"], f32(f"{path}.bn.running_mean"))
        _set_path(stats, [*tree_path, "bn", "var"], f32(f"{path}.bn.running_var"))
    params["fc"] = {"kernel": np.ascontiguousarray(f32("fc.weight").T), "bias": f32("fc.bias")}
    return {"params": params, "batch_stats": stats}


def load_inception_params(path: str | os.PathLike):
    """Reads the FID weights file (``pt_inception-2015-12-05-6726825d.pth``) as Flax variables.

    The file is parsed without torch and without executing anything from it. A missing file
    raises FileNotFoundError with one line saying where to get it; nothing is downloaded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"FID Inception weights not found at '{path}': download {FID_WEIGHTS_FILENAME} from "
            f"{FID_WEIGHTS_URL}, place it on local disk and pass its path (config key "
            "eval.inception_weights); nothing is downloaded at run time"
        )
    return state_dict_to_variables(torch_checkpoint.load_state_dict(path), source=path)


def inception_apply(variables, images, precision: Precision = jax.lax.Precision.HIGHEST):
    """Pure forward pass: images (NHWC, [-1, 1], any size, 1 or 3 channels) -> (pool3, logits).

    Jit-able and shardable over the batch; preprocessing (gray to RGB, resize to 299) included.
    """
    return InceptionV3(precision).apply(variables, preprocess(images))


_inception_apply_jit = jax.jit(inception_apply, static_argnames="precision")


def load_inception(path: str | os.PathLike) -> Callable[[Any], tuple[jax.Array, jax.Array]]:
    """Loads the FID weights file and returns a jitted ``images -> (pool3, logits)`` function."""
    variables = jax.device_put(load_inception_params(path))
    return functools.partial(_inception_apply_jit, variables)


def num_params(shapes: Mapping[str, tuple[int, ...]] | None = None) -> int:
    """Trainable parameter count (conv, BatchNorm affine, fc), as torch's ``parameters()``."""
    shapes = torch_state_dict_shapes() if shapes is None else shapes
    return sum(math.prod(s) for k, s in shapes.items() if "running_" not in k)
