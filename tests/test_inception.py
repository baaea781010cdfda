"""FID InceptionV3: the torch-free state_dict reader/writer, preprocessing and the network.

References: fixtures written by real torch (scripts/make_torch_fixture.py), torch's published
InceptionV3 parameter count, and an NCHW/OIHW forward pass transcribed here from torchvision's
and pytorch-fid's modules, run on the torch-layout weights.
"""

import functools
import pathlib
import pickle
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.metrics import inception as inc
from jaxgan.metrics import torch_checkpoint as tc

DATA = pathlib.Path(__file__).parent / "data"
HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------- the torch state_dict reader


def _expected_fixture():
    return np.load(DATA / "torch_state_dict_expected.npz")


@pytest.mark.parametrize("name", ["torch_state_dict.pt", "torch_state_dict_legacy.pt"])
def test_reader_reproduces_torch_save_exactly(name):
    expected = _expected_fixture()
    got = tc.load_state_dict(DATA / name)
    assert list(got) == list(expected.files)  # order kept, BatchNorm's _metadata ignored
    for key in expected.files:
        value = got[key]
        if value.dtype.name == "bfloat16":
            value = value.astype(np.float32)  # the fixture stores bfloat16 as its exact float32
        assert value.dtype == expected[key].dtype, key
        assert value.shape == expected[key].shape, key
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
        assert value.flags.c_contiguous
    assert got["bfloat16"].dtype.name == "bfloat16"
    assert got["num_batches_tracked"].dtype == np.int64 and got["num_batches_tracked"] == 7


def test_reader_refuses_os_system_in_a_torch_file():
    with pytest.raises(tc.UnsafeCheckpointError, match=r"posix\.system|os\.system"):
        tc.load_state_dict(DATA / "torch_unsafe.pt")


class _CallsEval:
    def __reduce__(self):
        return eval, ("1 + 1",)


def _zip_with_pickle(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/byteorder", b"little")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_reader_refuses_globals_in_every_pickle_protocol(tmp_path, protocol):
    payload = pickle.dumps({"w": _CallsEval()}, protocol=protocol)
    _zip_with_pickle(tmp_path / "zip.pt", payload)
    with pytest.raises(tc.UnsafeCheckpointError, match=r"(__builtin__|builtins)\.eval"):
        tc.load_state_dict(tmp_path / "zip.pt")
    if protocol >= 2:  # a legacy-format file is a stream of binary pickles
        (tmp_path / "legacy.pt").write_bytes(payload)
        with pytest.raises(tc.UnsafeCheckpointError, match=r"(__builtin__|builtins)\.eval"):
            tc.load_state_dict(tmp_path / "legacy.pt")


def test_reader_rejects_files_that_are_not_tensor_state_dicts(tmp_path):
    _zip_with_pickle(tmp_path / "list.pt", pickle.dumps([1, 2], protocol=2))
    with pytest.raises(tc.CheckpointError, match="expected a state_dict"):
        tc.load_state_dict(tmp_path / "list.pt")
    _zip_with_pickle(tmp_path / "int.pt", pickle.dumps({"step": 3}, protocol=2))
    with pytest.raises(tc.CheckpointError, match="'step' is a int, expected a tensor"):
        tc.load_state_dict(tmp_path / "int.pt")
    (tmp_path / "text.pt").write_bytes(b"hello")
    with pytest.raises(tc.CheckpointError, match="neither a torch zip file"):
        tc.load_state_dict(tmp_path / "text.pt")


def _rewrite_records(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, edit(name, zin.read(name)))


def test_reader_bounds_checks_strides_and_storage_sizes(tmp_path):
    tc.save_state_dict({"w": np.arange(4, dtype=np.float32)}, tmp_path / "ok.pt")
    shape_and_stride = b"(J\x04\x00\x00\x00t(J\x01\x00\x00\x00t"
    bad_stride = b"(J\x04\x00\x00\x00t(J\x02\x00\x00\x00t"  # reads elements 0, 2, 4, 6 of 4

    def widen_stride(name, data):
        return data.replace(shape_and_stride, bad_stride) if name.endswith("data.pkl") else data

    _rewrite_records(tmp_path / "ok.pt", tmp_path / "stride.pt", widen_stride)
    with pytest.raises(tc.CheckpointError, match="reads past the end of its storage"):
        tc.load_state_dict(tmp_path / "stride.pt")

    def truncate(name, data):
        return data[:8] if name.endswith("data/0") else data

    _rewrite_records(tmp_path / "ok.pt", tmp_path / "short.pt", truncate)
    with pytest.raises(tc.CheckpointError, match="holds 8 bytes, needs 4 x 4"):
        tc.load_state_dict(tmp_path / "short.pt")


# ---------------------------------------------------------------- the writer


def test_writer_round_trips_every_supported_dtype(tmp_path):
    import ml_dtypes

    rng = np.random.default_rng(0)
    arrays = {
        "f32_transposed": rng.normal(size=(3, 4)).astype(np.float32).T,  # non-contiguous input
        "f64": rng.normal(size=(2, 1, 3)),
        "f16": rng.normal(size=5).astype(np.float16),
        "bf16": rng.normal(size=5).astype(ml_dtypes.bfloat16),
        "big_endian_i32": np.arange(6, dtype=">i4").reshape(2, 3),
        "i64": np.array([-(2**62), 5], np.int64),
        "i16": np.array([-3], np.int16),
        "i8": np.array([-128, 7], np.int8),
        "u8": np.array([255], np.uint8),
        "bool": np.array([True, False]),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 2), np.float32),
    }
    tc.save_state_dict(arrays, tmp_path / "w.pth")
    got = tc.load_state_dict(tmp_path / "w.pth")
    assert list(got) == list(arrays)
    for key, array in arrays.items():
        assert got[key].dtype == array.dtype.newbyteorder("="), key
        assert got[key].shape == array.shape, key
        np.testing.assert_array_equal(got[key], array, err_msg=key)


def _record_layout(path):
    """Record names without the archive folder (a run of storage records as one "data/<key>")
    and the offset where each record's data starts."""
    raw = pathlib.Path(path).read_bytes()
    names, offsets = [], []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED, info.filename
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 :][:4])
            offsets.append(info.header_offset + 30 + name_len + extra_len)
            name = info.filename.split("/", 1)[1]
            names.append("data/<key>" if name.startswith("data/") else name)
    return [n for i, n in enumerate(names) if n != "data/<key>" or names[i - 1] != n], offsets


def test_writer_uses_torchs_zip_layout(tmp_path):
    tc.save_state_dict({"a": np.ones(3, np.float32), "b": np.ones(2)}, tmp_path / "mine.pth")
    torch_names, torch_offsets = _record_layout(DATA / "torch_state_dict.pt")
    our_names, our_offsets = _record_layout(tmp_path / "mine.pth")
    assert our_names == torch_names
    assert all(offset % 64 == 0 for offset in torch_offsets + our_offsets)
    with zipfile.ZipFile(tmp_path / "mine.pth") as zf:
        assert zf.namelist()[0] == "mine/data.pkl"  # the archive folder is the file's stem
        assert zf.read("mine/byteorder") == b"little"


def test_writer_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(ValueError, match="'z' has dtype complex64; supported"):
        tc.save_state_dict({"z": np.zeros(2, np.complex64)}, tmp_path / "z.pth")


# ---------------------------------------------------------------- preprocessing


def test_resize_matches_torch_interpolate():
    cases = np.load(DATA / "torch_resize.npz")
    for case in ("up", "down"):
        expected = cases[f"{case}_out"]
        got = inc.resize_bilinear(jnp.asarray(cases[f"{case}_in"]), expected.shape[1:3])
        np.testing.assert_allclose(np.asarray(got), expected, atol=2e-6, err_msg=case)


def test_resize_is_jax_resize_without_antialiasing():
    """Shrinking: jax.image.resize only matches pytorch-fid with antialias=False."""
    x = jnp.asarray(np.load(DATA / "torch_resize.npz")["down_in"])
    shape = (x.shape[0], 13, 11, x.shape[-1])
    ours = inc.resize_bilinear(x, shape[1:3])
    plain = jax.image.resize(x, shape, "bilinear", antialias=False)
    smoothed = jax.image.resize(x, shape, "bilinear", antialias=True)
    np.testing.assert_allclose(ours, plain, atol=1e-5)
    assert float(jnp.abs(ours - smoothed).max()) > 0.1


def test_preprocess_repeats_gray_and_resizes_to_299():
    gray = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 20, 30, 1)), jnp.float32)
    out = inc.preprocess(gray)
    assert out.shape == (2, 299, 299, 3) and out.dtype == jnp.float32
    np.testing.assert_array_equal(out, inc.preprocess(jnp.repeat(gray, 3, axis=-1)))
    assert float(out.min()) >= -1 and float(out.max()) <= 1  # convex weights keep the range


def test_preprocess_rejects_bad_images():
    with pytest.raises(ValueError, match=r"1 or 3 channels, got shape \(2, 8, 8, 2\)"):
        inc.preprocess(jnp.zeros((2, 8, 8, 2)))
    with pytest.raises(ValueError, match="got dtype uint8"):
        inc.preprocess(jnp.zeros((2, 8, 8, 3), jnp.uint8))
    with pytest.raises(ValueError, match=r">= 75, got shape \(1, 74, 80, 3\)"):
        inc.InceptionV3().init(jax.random.key(0), jnp.zeros((1, 74, 80, 3)))


# ---------------------------------------------------------------- architecture and weights


def test_shape_table_matches_published_parameter_count():
    # torchvision's inception_v3 has 27,161,264 parameters (its weights' "num_params"), with an
    # aux head and 1000 classes. The FID network drops the aux head (conv0 768->128 1x1 + BN,
    # conv1 128->768 5x5 + BN, fc 768->1000) and has 1008 classes.
    aux_head = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
    fid_inception = 27_161_264 - aux_head + 8 * (2048 + 1)
    assert fid_inception == 23_850_960
    assert inc.num_params() == fid_inception
    shapes = inc.torch_state_dict_shapes()
    assert len(shapes) == 94 * 5 + 2  # 94 BasicConv2d (conv weight + 4 BatchNorm tensors), fc


def test_flax_module_parameters_are_the_converted_state_dict():
    shapes = inc.torch_state_dict_shapes()
    state_dict = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    variables = inc.state_dict_to_variables(state_dict)
    init = jax.eval_shape(inc.InceptionV3().init, jax.random.key(0), jnp.zeros((1, 75, 75, 3)))
    assert jax.tree.map(lambda a: a.shape, init) == jax.tree.map(np.shape, variables)
    assert sum(a.size for a in jax.tree.leaves(variables["params"])) == inc.num_params()


def _random_state_dict(seed=0):
    """He-scaled random weights in torch layout, with num_batches_tracked like a real module."""
    rng = np.random.default_rng(seed)
    sd = {}
    for key, shape in inc.torch_state_dict_shapes().items():
        if key.endswith("conv.weight"):
            value = rng.normal(size=shape) * np.sqrt(2 / np.prod(shape[1:]))
        elif key.endswith(("bn.weight", "running_var")):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif key == "fc.weight":
            value = rng.normal(size=shape) / np.sqrt(shape[1])
        else:
            value = rng.normal(size=shape) * 0.1
        sd[key] = value.astype(np.float32)
        if key.endswith("running_var"):
            sd[key.replace("running_var", "num_batches_tracked")] = np.array(0, np.int64)
    return sd


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / inc.FID_WEIGHTS_FILENAME
    state_dict = _random_state_dict()
    tc.save_state_dict(state_dict, path)
    return path, state_dict


@pytest.fixture(scope="module")
def variables(weights):
    return inc.state_dict_to_variables(weights[1])


@pytest.fixture(scope="module")
def images():
    return jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, 40, 36, 1)), jnp.float32)


@pytest.fixture(scope="module")
def outputs(weights, images):
    """One jitted forward pass of the loaded network, run twice (compiled once)."""
    forward = inc.load_inception(weights[0])
    return forward(images), forward(images)


# The NCHW reference: torchvision's BasicConv2d and Inception blocks with pytorch-fid's patches,
# written against the torch state_dict directly.


def _ref_conv(sd, x, name, stride=1, pad=(0, 0)):
    y = jax.lax.conv_general_dilated(
        x,
        sd[f"{name}.conv.weight"],
        (stride, stride),
        [(pad[0], pad[0]), (pad[1], pad[1])],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
    )
    col = lambda field: sd[f"{name}.bn.{field}"][None, :, None, None]
    y = (y - col("running_mean")) / jnp.sqrt(col("running_var") + 1e-3) * col("weight")
    return jnp.maximum(y + col("bias"), 0.0)


def _ref_max_pool(x, stride, pad):
    pads = [(0, 0), (0, 0), (pad, pad), (pad, pad)]
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 1, 3, 3), (1, 1, stride, stride), pads
    )


def _ref_avg_pool_without_pad(x):
    pads = [(0, 0), (0, 0), (1, 1), (1, 1)]
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 1, 3, 3), (1, 1, 1, 1), pads)
    count = lambda n: np.array([min(i + 1, n - 1) - max(i - 1, 0) + 1 for i in range(n)])
    return total / np.outer(count(x.shape[2]), count(x.shape[3]))


def _ref_block(sd, x, name):
    c = lambda h, conv, **kw: _ref_conv(sd, h, f"{name}.{conv}", **kw)
    kind = dict((n, k) for n, k, _ in inc.ARCHITECTURE)[name]
    if kind == "A":
        return [
            c(x, "branch1x1"),
            c(c(x, "branch5x5_1"), "branch5x5_2", pad=(2, 2)),
            c(
                c(c(x, "branch3x3dbl_1"), "branch3x3dbl_2", pad=(1, 1)),
                "branch3x3dbl_3",
                pad=(1, 1),
            ),
            c(_ref_avg_pool_without_pad(x), "branch_pool"),
        ]
    if kind == "B":
        dbl = c(c(x, "branch3x3dbl_1"), "branch3x3dbl_2", pad=(1, 1))
        return [
            c(x, "branch3x3", stride=2),
            c(dbl, "branch3x3dbl_3", stride=2),
            _ref_max_pool(x, 2, 0),
        ]
    if kind == "C":
        b7 = c(c(c(x, "branch7x7_1"), "branch7x7_2", pad=(0, 3)), "branch7x7_3", pad=(3, 0))
        d = c(c(x, "branch7x7dbl_1"), "branch7x7dbl_2", pad=(3, 0))
        d = c(c(d, "branch7x7dbl_3", pad=(0, 3)), "branch7x7dbl_4", pad=(3, 0))
        d = c(d, "branch7x7dbl_5", pad=(0, 3))
        return [c(x, "branch1x1"), b7, d, c(_ref_avg_pool_without_pad(x), "branch_pool")]
    if kind == "D":
        b3 = c(c(x, "branch3x3_1"), "branch3x3_2", stride=2)
        b7 = c(c(x, "branch7x7x3_1"), "branch7x7x3_2", pad=(0, 3))
        b7 = c(c(b7, "branch7x7x3_3", pad=(3, 0)), "branch7x7x3_4", stride=2)
        return [b3, b7, _ref_max_pool(x, 2, 0)]
    b3 = c(x, "branch3x3_1")
    dbl = c(c(x, "branch3x3dbl_1"), "branch3x3dbl_2", pad=(1, 1))
    pool = _ref_avg_pool_without_pad(x) if kind == "E_avgpool" else _ref_max_pool(x, 1, 1)
    return [
        c(x, "branch1x1"),
        c(b3, "branch3x3_2a", pad=(0, 1)),
        c(b3, "branch3x3_2b", pad=(1, 0)),
        c(dbl, "branch3x3dbl_3a", pad=(0, 1)),
        c(dbl, "branch3x3dbl_3b", pad=(1, 0)),
        c(pool, "branch_pool"),
    ]


@jax.jit
def _ref_network(sd, x):
    x = _ref_conv(sd, x, "Conv2d_1a_3x3", stride=2)
    x = _ref_conv(sd, x, "Conv2d_2a_3x3")
    x = _ref_max_pool(_ref_conv(sd, x, "Conv2d_2b_3x3", pad=(1, 1)), 2, 0)
    x = _ref_conv(sd, _ref_conv(sd, x, "Conv2d_3b_1x1"), "Conv2d_4a_3x3")
    x = _ref_max_pool(x, 2, 0)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c"):
        x = jnp.concatenate(_ref_block(sd, x, name), axis=1)
    for name in ("Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = jnp.concatenate(_ref_block(sd, x, name), axis=1)
    pool3 = x.mean(axis=(2, 3))
    return pool3, jnp.dot(pool3, sd["fc.weight"].T, precision=HIGHEST) + sd["fc.bias"]


def _sub_variables(variables, path):
    pick = lambda tree: functools.reduce(lambda t, k: t[k], path.split("."), tree)
    return {"params": pick(variables["params"]), "batch_stats": pick(variables["batch_stats"])}


def _sub_state_dict(state_dict, prefix):
    return {k: v for k, v in state_dict.items() if k.startswith(prefix + ".")}


def _assert_close(ours, ref, rtol=1e-5):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= rtol * np.abs(ref).max(), np.abs(ours - ref).max()


@pytest.mark.parametrize(
    "path, stride, pad",
    [
        ("Conv2d_1a_3x3", 2, (0, 0)),
        ("Mixed_6b.branch7x7_2", 1, (0, 3)),
        ("Mixed_7b.branch3x3_2b", 1, (1, 0)),
    ],
)
def test_conv_bn_relu_matches_nchw_reference(weights, variables, path, stride, pad):
    sd = _sub_state_dict(weights[1], path)
    spec = dict(inc.conv_layers())[path]
    x = np.random.default_rng(2).normal(size=(2, spec.cin, 11, 8)).astype(np.float32)
    ours = inc.BasicConv(spec).apply(_sub_variables(variables, path), x.transpose(0, 2, 3, 1))
    ref = _ref_conv(sd, x, path, stride, pad)
    _assert_close(ours, jnp.transpose(ref, (0, 2, 3, 1)))


@pytest.mark.parametrize(
    "name", ["Mixed_5b", "Mixed_6a", "Mixed_6b", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
)
def test_inception_block_matches_nchw_reference(weights, variables, name):
    sd = _sub_state_dict(weights[1], name)
    kind, convs = {n: (k, c) for n, k, c in inc.ARCHITECTURE}[name]
    cin = next(iter(convs.values())).cin
    x = np.random.default_rng(3).normal(size=(1, cin, 9, 7)).astype(np.float32)
    block = inc.InceptionBlock(kind, tuple(convs.items()))
    ours = jax.jit(block.apply)(_sub_variables(variables, name), x.transpose(0, 2, 3, 1))
    ref = jax.jit(lambda sd, x: jnp.concatenate(_ref_block(sd, x, name), axis=1))(sd, x)
    _assert_close(ours, jnp.transpose(ref, (0, 2, 3, 1)))


def test_loaded_network_outputs_are_shaped_finite_and_deterministic(outputs):
    (pool3, logits), (pool3_again, logits_again) = outputs
    assert pool3.shape == (2, inc.FEATURE_DIM) and logits.shape == (2, inc.NUM_LOGITS)
    assert np.isfinite(pool3).all() and np.isfinite(logits).all()
    assert float(pool3.min()) >= 0  # a mean of ReLU outputs
    np.testing.assert_array_equal(pool3, pool3_again)
    np.testing.assert_array_equal(logits, logits_again)


def test_loaded_network_matches_nchw_reference_end_to_end(weights, images, outputs):
    rgb = jnp.repeat(images, 3, axis=-1)
    resized = jax.image.resize(rgb, (2, 299, 299, 3), "bilinear", antialias=False)
    sd = {k: v for k, v in weights[1].items() if "num_batches_tracked" not in k}
    ref_pool3, ref_logits = _ref_network(sd, jnp.transpose(resized, (0, 3, 1, 2)))
    pool3, logits = outputs[0]
    _assert_close(pool3, ref_pool3, rtol=1e-4)
    _assert_close(logits, ref_logits, rtol=1e-4)


def test_wrong_weights_file_names_every_mismatch(tmp_path):
    sd = _random_state_dict()
    sd["fc.weight"] = np.zeros((1000, 2048), np.float32)  # torchvision's ImageNet head
    del sd["Mixed_7c.branch_pool.bn.running_var"]
    sd["AuxLogits.fc.bias"] = np.zeros(1000, np.float32)
    path = tmp_path / "inception_v3_google.pth"
    tc.save_state_dict(sd, path)
    with pytest.raises(ValueError) as error:
        inc.load_inception_params(path)
    message = str(error.value)
    assert str(path) in message and "3 problem(s)" in message
    assert "key 'fc.weight' has shape (1000, 2048), expected (1008, 2048)" in message
    assert "missing key 'Mixed_7c.branch_pool.bn.running_var' (expected shape (192,))" in message
    assert "unexpected key 'AuxLogits.fc.bias' (shape (1000,))" in message


def test_missing_weights_file_is_one_line_naming_the_download(tmp_path):
    missing = tmp_path / "nowhere" / inc.FID_WEIGHTS_FILENAME
    with pytest.raises(FileNotFoundError) as error:
        inc.load_inception(missing)
    message = str(error.value)
    assert "\n" not in message
    for part in (
        str(missing),
        inc.FID_WEIGHTS_FILENAME,
        inc.FID_WEIGHTS_URL,
        "eval.inception_weights",
    ):
        assert part in message
