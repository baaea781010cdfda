"""Read and write PyTorch ``torch.save`` tensor state_dicts without importing torch.

Why: the standard FID Inception weights ship as a torch state_dict, and unpickling a downloaded
file with ``pickle`` runs whatever code the file names. The reader unpickles with an allow-list
of the few globals a plain tensor state_dict uses (``collections.OrderedDict``, the
``torch._utils._rebuild_tensor*`` functions, the ``torch.<Type>Storage`` classes) and refuses any
other global with :class:`UnsafeCheckpointError`, so reading a file never executes code from it.
The allowed names resolve to ``collections.OrderedDict`` and to our own functions that only
record a tensor's storage, offset, size and stride; tensors become bounds-checked numpy copies.

Both on-disk formats ``torch.load`` reads are read:

- zip (torch >= 1.6): ``<prefix>/data.pkl`` holds the pickled dict; tensors name their storage by
  key and the storage's raw bytes are the record ``<prefix>/data/<key>``; ``<prefix>/byteorder``
  says ``little`` or ``big`` (older files lack it and are little-endian).
- legacy (torch < 1.6, or ``_use_new_zipfile_serialization=False``): a stream of pickles (magic
  number, protocol version, system info, the dict, the sorted storage keys), then each storage
  as an int64 element count followed by its raw bytes.

The writer produces the zip format with torch's record names, uncompressed records and the
64-byte data alignment torch uses; it exists to synthesise test files.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping

import numpy as np

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "load_state_dict",
    "save_state_dict",
]

# torch.serialization constants of the legacy format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_ALIGNMENT = 64  # torch aligns each zip record's data to 64 bytes (".storage_alignment").


class CheckpointError(ValueError):
    """The file is not a readable torch state_dict of tensors."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle names a global outside the allow-list (it could run code)."""


def _bfloat16() -> np.dtype:
    import ml_dtypes  # a jax dependency; imported lazily so plain numpy suffices otherwise

    return np.dtype(ml_dtypes.bfloat16)


# torch storage class name -> numpy dtype (a callable for dtypes numpy lacks).
_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype(np.float64),
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": _bfloat16,
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """Stands in for a ``torch.<Type>Storage`` class named in the pickle (never callable)."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        dtype = _STORAGE_DTYPES[self.name]
        return dtype if isinstance(dtype, np.dtype) else dtype()


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """A storage named by a persistent id: key, dtype and the element window it may address."""

    key: str
    dtype: np.dtype
    offset: int  # legacy storage views start inside their root storage
    numel: int


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it; turned into an array once storages are read."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _ints(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int for v in value):
        raise CheckpointError(f"tensor {what} must be a tuple of ints, got {value!r}")
    return value


def _rebuild_tensor(storage, storage_offset, size, stride) -> _TensorRef:
    if not isinstance(storage, _StorageRef) or type(storage_offset) is not int:
        raise CheckpointError(
            f"malformed tensor record: storage {storage!r}, offset {storage_offset!r}"
        )
    return _TensorRef(storage, storage_offset, _ints(size, "size"), _ints(stride, "stride"))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_unused) -> _TensorRef:
    # _unused: requires_grad, backward_hooks and optional metadata; none matter for arrays.
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_unused) -> _TensorRef:
    if not isinstance(data, _TensorRef):
        raise CheckpointError(f"malformed parameter record: {data!r}")
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; storages through ``storage_ref(persistent_id)``."""

    def __init__(self, file, storage_ref=None):
        super().__init__(file, encoding="utf-8")
        self._storage_ref = storage_ref

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS if m != "torch"))
            raise UnsafeCheckpointError(
                f"refusing to load global '{module}.{name}': a tensor state_dict needs only "
                f"{allowed} and torch.<Type>Storage; this file could execute code"
            ) from None

    def persistent_load(self, pid):
        if self._storage_ref is None:
            raise CheckpointError(f"unexpected persistent id {pid!r} outside the tensor pickle")
        return self._storage_ref(pid)


def _unpickle(file, storage_ref=None):
    try:
        return _RestrictedUnpickler(file, storage_ref).load()
    except CheckpointError:
        raise
    except Exception as e:  # malformed pickles raise anything from EOFError to TypeError
        raise CheckpointError(f"malformed pickle: {type(e).__name__}: {e}") from e


def _ascii(value) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


class _Storages:
    """Collects the storages named while unpickling: key -> (dtype, numel)."""

    def __init__(self):
        self.specs: dict[str, tuple[np.dtype, int]] = {}

    def __call__(self, pid) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and _ascii(pid[0]) == "storage"):
            raise CheckpointError(f"unsupported persistent id {pid!r}: only tensor storages load")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        key = _ascii(key)
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise CheckpointError(f"malformed storage id {pid!r}")
        if type(numel) is not int or numel < 0:
            raise CheckpointError(f"storage {key!r} has invalid size {numel!r}")
        dtype = storage_type.dtype
        if self.specs.setdefault(key, (dtype, numel)) != (dtype, numel):
            raise CheckpointError(f"storage {key!r} is named with two dtypes or sizes")
        if view is None:
            return _StorageRef(key, dtype, 0, numel)
        _view_key, offset, view_numel = view  # storage views of torch < 1.0 legacy files
        if not (offset >= 0 and view_numel >= 0 and offset + view_numel <= numel):
            raise CheckpointError(f"storage view {view!r} lies outside storage {key!r}")
        return _StorageRef(key, dtype, offset, view_numel)


def _materialize(name: str, ref: _TensorRef, buffers: Mapping[str, np.ndarray]) -> np.ndarray:
    """Copies the strided window ``ref`` describes out of its storage, bounds-checked."""
    storage = ref.storage
    if len(ref.shape) != len(ref.stride) or min((*ref.shape, *ref.stride, ref.offset, 0)) < 0:
        raise CheckpointError(
            f"tensor {name!r} has invalid size {ref.shape}, stride {ref.stride} or offset "
            f"{ref.offset}"
        )
    if math.prod(ref.shape) == 0:
        return np.zeros(ref.shape, storage.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if last >= storage.numel:
        raise CheckpointError(
            f"tensor {name!r} (size {ref.shape}, stride {ref.stride}, offset {ref.offset}) reads "
            f"past the end of its storage of {storage.numel} elements"
        )
    flat = buffers[storage.key][storage.offset + ref.offset :]
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat, ref.shape, [s * itemsize for s in ref.stride], writeable=False
    )
    return np.array(view, order="C")


def _as_state_dict(obj, buffers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"expected a state_dict (a dict of tensors), got {type(obj).__name__}"
        )
    out = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise CheckpointError(
                f"state_dict entry {name!r} is a {type(value).__name__}, expected a tensor"
            )
        out[name] = _materialize(name, value, buffers)
    return out


def _storage_array(key: str, raw: bytes, dtype: np.dtype, numel: int, little: bool) -> np.ndarray:
    if len(raw) < numel * dtype.itemsize:
        raise CheckpointError(
            f"storage {key!r} holds {len(raw)} bytes, needs {numel} x {dtype.itemsize}"
        )
    # Read as unsigned ints of the file's byte order, then reinterpret: works for every dtype,
    # including bfloat16, whose dtype has no byte-order variants.
    order = "<" if little else ">"
    words = np.frombuffer(raw, f"{order}u{dtype.itemsize}", count=numel)
    return words.astype(f"=u{dtype.itemsize}", copy=False).view(dtype)


def _load_zip(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: expected one '<name>/data.pkl' record, found {pickles}")
        prefix = pickles[0].removesuffix("data.pkl")
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"{path}: unknown byteorder record {byteorder!r}")
        storages = _Storages()
        obj = _unpickle(io.BytesIO(zf.read(pickles[0])), storages)
        buffers = {}
        for key, (dtype, numel) in storages.specs.items():
            record = f"{prefix}data/{key}"
            if record not in names:
                raise CheckpointError(f"{path}: storage record {record!r} is missing")
            raw = zf.read(record)
            buffers[key] = _storage_array(key, raw, dtype, numel, byteorder == "little")
    return _as_state_dict(obj, buffers)


def _load_legacy(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        if _unpickle(f) != _LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a torch.save file (bad magic number)")
        if (version := _unpickle(f)) != _LEGACY_PROTOCOL:
            raise CheckpointError(f"{path}: unsupported legacy protocol version {version!r}")
        sys_info = _unpickle(f)
        little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
        storages = _Storages()
        obj = _unpickle(f, storages)
        keys = _unpickle(f)
        if not isinstance(keys, list) or set(keys) != set(storages.specs):
            raise CheckpointError(f"{path}: storage key list does not match the tensors")
        buffers = {}
        for key in keys:
            dtype, numel = storages.specs[key]
            (count,) = struct.unpack("<q" if little else ">q", f.read(8))
            if count != numel:
                raise CheckpointError(f"{path}: storage {key!r} has {count} elements, not {numel}")
            raw = f.read(numel * dtype.itemsize)
            buffers[key] = _storage_array(key, raw, dtype, numel, little)
    return _as_state_dict(obj, buffers)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a ``torch.save``d state_dict into ``{name: numpy array}`` without running code.

    Raises FileNotFoundError for a missing file, UnsafeCheckpointError when the pickle names
    any global outside the allow-list, and CheckpointError for anything else that is not a
    plain dict of tensors (C-contiguous copies are returned, whatever the saved strides).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] != b"\x80":  # every torch legacy file starts with a binary pickle
        raise CheckpointError(f"{path}: neither a torch zip file nor a legacy torch.save file")
    return _load_legacy(path)


# ---------------------------------------------------------------------------------------------
# Writer: the zip format, pickle protocol 2, one contiguous little-endian storage per tensor.


def _op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL


def _op_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _op_int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)  # BININT
    data = pickle.encode_long(value)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def _op_tuple(values) -> bytes:
    return b"(" + b"".join(_op_int(v) for v in values) + b"t"  # MARK ... TUPLE


_EMPTY_ORDERED_DICT = _op_global("collections", "OrderedDict") + b")R"  # EMPTY_TUPLE REDUCE


def _pickle_state_dict(entries) -> bytes:
    """Pickle opcodes for OrderedDict{name: _rebuild_tensor_v2(storage, 0, shape, stride, ...)}."""
    out = [b"\x80\x02", _EMPTY_ORDERED_DICT, b"("]  # PROTO 2, the dict, MARK
    for name, storage_name, key, shape, numel in entries:
        stride = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
        storage_id = [_op_str("storage"), _op_global("torch", storage_name), _op_str(key)]
        out += [
            _op_str(name),
            _op_global("torch._utils", "_rebuild_tensor_v2"),
            b"((",  # MARK args, MARK persistent id
            *storage_id,
            _op_str("cpu"),
            _op_int(numel),
            b"tQ",  # TUPLE, BINPERSID
            _op_int(0),
            _op_tuple(shape),
            _op_tuple(stride),
            b"\x89",  # NEWFALSE: requires_grad
            _EMPTY_ORDERED_DICT,  # backward_hooks
            b"tR",  # TUPLE, REDUCE
        ]
    out.append(b"u.")  # SETITEMS, STOP
    return b"".join(out)


_STORAGE_NAMES = {np.dtype(d): n for n, d in _STORAGE_DTYPES.items() if isinstance(d, np.dtype)}


def _storage_name(name: str, array: np.ndarray) -> str:
    if array.dtype in _STORAGE_NAMES:
        return _STORAGE_NAMES[array.dtype]
    if array.dtype.name == "bfloat16":
        return "BFloat16Storage"
    allowed = sorted(d.name for d in _STORAGE_NAMES) + ["bfloat16"]
    raise ValueError(f"tensor {name!r} has dtype {array.dtype}; supported: {allowed}")


def _write_aligned_zip(path: str, records: list[tuple[str, bytes]]) -> None:
    """Stored (uncompressed) records whose data start on 64-byte boundaries, as torch writes."""
    offset = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in records:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            header = 30 + len(name.encode()) + 4  # local header, name, padding field header
            pad = -(offset + header) % _ALIGNMENT
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad  # torch's padding field
            zf.writestr(info, data)
            if info.header_offset != offset:
                raise RuntimeError(f"zip record {name!r} landed at {info.header_offset}")
            offset += header + pad + len(data)


def save_state_dict(
    state_dict: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    archive_name: str | None = None,
) -> None:
    """Writes ``{name: array}`` as a torch zip-format state_dict that ``torch.load`` reads.

    ``archive_name`` is the records' folder; torch uses the file's stem, and so do we by default.
    Each array gets its own contiguous storage; the output is deterministic.
    """
    path = os.fspath(path)
    prefix = (archive_name or os.path.splitext(os.path.basename(path))[0]) + "/"
    entries, storages = [], []
    for i, (name, value) in enumerate(state_dict.items()):
        array = np.asarray(value)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        storage_name = _storage_name(name, array)
        words = np.ascontiguousarray(array).view(f"=u{array.dtype.itemsize}")
        entries.append((name, storage_name, str(i), tuple(array.shape), array.size))
        storages.append((f"{prefix}data/{i}", words.astype(f"<u{array.dtype.itemsize}").tobytes()))
    data_pkl = _pickle_state_dict(entries)
    digest = hashlib.sha256(data_pkl + b"".join(d for _, d in storages)).hexdigest()
    records = [
        (prefix + "data.pkl", data_pkl),
        (prefix + ".format_version", b"1"),
        (prefix + ".storage_alignment", str(_ALIGNMENT).encode()),
        (prefix + "byteorder", b"little"),
        *storages,
        (prefix + "version", b"3\n"),
        (prefix + ".data/serialization_id", str(int(digest, 16))[:40].zfill(40).encode()),
    ]
    _write_aligned_zip(path, records)
