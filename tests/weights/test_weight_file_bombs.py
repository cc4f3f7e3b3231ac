"""Weights files that lie: every count, shape, dtype and size is checked from metadata before any array
is read, compressed members are bounded, HDF5 links / external storage / cycles are refused, and every
bad file is a one-line error (exit 2) in the CLI. The bomb files are built here, cheaply."""
import json
import os
import struct
import tracemalloc
import zlib

import h5py
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import cli
from tensorlayer_xplain.weights import MAX_NPY_HEADER, model_variables

from conftest import tiny_keras_cnn, tiny_mlp

MB = 1 << 20


def _values(model):
    return [w.numpy().copy() for w in model_variables(model)]


def _peak_of(fn):
    """Run ``fn`` (expected to raise ValueError); return (error message, peak traced bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            fn()
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(model, path, match, peak_mb=16):
    before = _values(model)
    message, peak = _peak_of(lambda: tlxp.load_weights(model, path))
    assert match in message, message
    assert peak < peak_mb * MB, "peak %.1f MB while refusing %s" % (peak / MB, path)
    for a, b in zip(before, _values(model)):
        np.testing.assert_array_equal(a, b)
    return message, peak


# ------------------------------------------------------------------ building bomb files cheaply
def _deflate_blocks(header, zero_mb):
    """A raw deflate stream: ``header`` then ``zero_mb`` MB of zeros, in about 1 KB per MB.

    Each 1 MB block is compressed once and repeated: a full flush makes it byte-aligned and free
    of references to earlier data, so copies can be concatenated."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zeros.compress(bytes(MB)) + zeros.flush(zlib.Z_FULL_FLUSH)
    return first + block * zero_mb + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _wrap(text, version=1):
    """An .npy header around ``text`` (any text: numpy's own writer checks what it writes)."""
    body = text.encode("latin1")
    fixed = 10 if version == 1 else 12
    body += b" " * (-(fixed + len(body) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


def _npy_header(shape, dtype="<f4"):
    """The bytes numpy writes before an array's data."""
    return _wrap("{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (dtype, tuple(shape)))


def _write_zip(path, members):
    """A zip written by hand so the directory may declare any size: members are
    ``(name, compressed bytes, declared uncompressed size, crc)`` (deflate)."""
    local_parts, central, offset = [], b"", 0
    for name, data, size, crc in members:
        raw = name.encode()
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(raw), 0) + raw
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
        local_parts.append(local + data)
        offset += len(local) + len(data)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), offset, 0)
    with open(path, "wb") as f:
        f.write(b"".join(local_parts) + central + end)
    return str(path)


def _member(name, shape, zero_mb=None, declared=None, dtype="<f4"):
    """One .npy member whose header says ``shape``; ``zero_mb`` MB of zeros really inflate from it."""
    header = _npy_header(shape, dtype)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if zero_mb is None:
        data = np.zeros(shape, dtype).tobytes()
        stream = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = stream.compress(header + data) + stream.flush()
        crc = zlib.crc32(header + data)
    else:
        payload, crc = _deflate_blocks(header, zero_mb), 0
    return (name + ".npy", payload, len(header) + nbytes if declared is None else declared, crc)


# ------------------------------------------------------------------ .npz
def test_npz_inflating_to_2gb_is_refused_from_its_header(tmp_path):
    model = tiny_mlp(seed=0)  # params_0 is (64, 16)
    n = 500_000_000  # 2 GB of float32 zeros, really in the deflate stream
    path = _write_zip(tmp_path / "bomb.npz", [_member("params_0", (n,), zero_mb=2000),
                                              _member("params_1", (16,)), _member("params_2", (16, 5)),
                                              _member("params_3", (5,))])
    assert os.path.getsize(path) < 4 * MB
    message, peak = _refused(model, path, "has shape (64, 16) in the model but (500000000,) in the file")
    print("npz 2 GB bomb: %.1f MB file, refused at a traced peak of %.2f MB" % (os.path.getsize(path) / MB, peak / MB))


def test_npz_whose_zip_directory_disagrees_with_its_header_is_refused_before_inflating(tmp_path):
    model = tiny_mlp(seed=0)
    path = _write_zip(tmp_path / "liar.npz", [_member("params_0", (64, 16), zero_mb=2000, declared=3_000_000_000),
                                              _member("params_1", (16,)), _member("params_2", (16, 5)),
                                              _member("params_3", (5,))])
    _refused(model, path, "declares 3000000000 bytes in the zip directory but its .npy header describes")


def test_npz_member_longer_than_its_header_stops_at_the_declared_size(tmp_path):
    # header and zip directory both say (64, 16) float32; the stream goes on with 1 GB of zeros
    model = tiny_mlp(seed=0)
    members = [_member("params_0", (64, 16), zero_mb=1024), _member("params_1", (16,)),
               _member("params_2", (16, 5)), _member("params_3", (5,))]
    path = _write_zip(tmp_path / "long.npz", members)
    _refused(model, path, "member 'params_0' is corrupt (Bad CRC-32", peak_mb=16)


def test_npz_with_a_huge_or_nested_npy_header_is_one_line(tmp_path):
    model = tiny_mlp(seed=0)
    huge = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 31) + b" " * 100_000  # declares a 2 GB header
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    path = _write_zip(tmp_path / "header.npz", [("params_0.npy", stream.compress(huge) + stream.flush(), 1 << 31, 0)])
    _refused(model, path, "the header declares 2147483648 bytes; at most %d are read" % MAX_NPY_HEADER)
    nested = "{'descr': '<f4', 'fortran_order': False, 'shape': %s1%s, }" % ("(" * 3000, ",)" * 3000)
    body = _wrap(nested, 2) if len(nested) < MAX_NPY_HEADER else None
    assert body is not None
    member = ("params_0.npy", zlib.compress(body)[2:-4], len(body), zlib.crc32(body))
    path = _write_zip(tmp_path / "nested.npz", [member])
    _refused(model, path, "has no readable .npy header")


def test_npz_member_count_is_checked_before_reading(tmp_path):
    model = tiny_mlp(seed=0)
    members = [_member("params_%d" % i, (1,)) for i in range(6)]
    path = _write_zip(tmp_path / "six.npz", members)
    _refused(model, path, "the file holds 6 weights, the model has 4")


# ------------------------------------------------------------------ .h5
def _h5_ours(path, shapes, count=None):
    with h5py.File(path, "w") as f:
        f.attrs["tensorlayer_xplain_weights"] = len(shapes) if count is None else count
        for i, shape in enumerate(shapes):
            f.create_dataset("%05d" % i, shape=shape, dtype="f4", chunks=True).attrs["name"] = "w%d" % i
    return str(path)


def test_h5_declaring_an_8gb_dataset_is_refused_from_metadata(tmp_path):
    model = tiny_mlp(seed=0)
    path = _h5_ours(tmp_path / "big.h5", [(2 ** 31,), (16,), (16, 5), (5,)])  # 8 GB of float32, never written
    assert os.path.getsize(path) < MB
    message, peak = _refused(model, path, "has shape (64, 16) in the model but (2147483648,) in the file")
    print("h5 8 GB dataset: %d KB file, refused at a traced peak of %.2f MB" % (os.path.getsize(path) // 1024,
                                                                              peak / MB))


def test_h5_with_a_count_of_a_billion_is_refused_at_once(tmp_path):
    path = _h5_ours(tmp_path / "count.h5", [(64, 16), (16,), (16, 5), (5,)], count=10 ** 9)
    _refused(tiny_mlp(seed=0), path, "declares 1000000000 weights but holds 4 objects", peak_mb=4)


def test_h5_in_tensorlayer_layout_with_an_8gb_dataset_or_a_cycle_is_refused(tmp_path):
    model = tiny_mlp(seed=0)
    path = str(tmp_path / "tl.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = ["dense", "out"]
        for layer, shapes in (("dense", [(2 ** 31,), (16,)]), ("out", [(16, 5), (5,)])):
            g = f.create_group(layer)
            g.attrs["weight_names"] = ["W", "b"]
            for weight, shape in zip("Wb", shapes):
                g.create_dataset(weight, shape=shape, dtype="f4", chunks=True)
    _refused(model, path, "has shape (64, 16) in the model but (2147483648,) in the file")
    with h5py.File(path, "w") as f:  # a layer group that contains itself (a hard-link cycle)
        f.attrs["layer_names"] = ["dense"]
        g = f.create_group("dense")
        g.attrs["layer_names"] = ["loop"]
        g["loop"] = g
    _refused(model, path, "reachable under more than one name")
    with h5py.File(path, "w") as f:  # a layer list naming its own group, without any link
        f.attrs["layer_names"] = ["dense"]
        f.create_group("dense").attrs["layer_names"] = ["."]
    _refused(model, path, "refer to themselves")


def test_h5_links_and_external_storage_are_refused(tmp_path):
    model = tiny_mlp(seed=0)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.arange(64 * 16, dtype="f4").tobytes())
    cases = {
        "soft": lambda f: f.__setitem__("00000", h5py.SoftLink("/elsewhere")),
        "external link": lambda f: f.__setitem__("00000", h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")),
        "external storage": lambda f: f.create_dataset("00000", shape=(64, 16), dtype="f4",
                                                       external=[(str(outside), 0, 64 * 16 * 4)]),
    }
    expected = {"soft": "soft link", "external link": "link to another file", "external storage": "external files"}
    for kind, make in cases.items():
        path = str(tmp_path / ("%s.h5" % kind.replace(" ", "_")))
        with h5py.File(path, "w") as f:
            f.attrs["tensorlayer_xplain_weights"] = 4
            f.create_dataset("elsewhere", data=np.zeros((64, 16), "f4"))
            make(f)
            for i, shape in enumerate([(16,), (16, 5), (5,)], start=1):
                f.create_dataset("%05d" % i, data=np.zeros(shape, "f4"))
        _refused(model, path, expected[kind])


def test_keras_h5_with_a_dataset_larger_than_the_model_is_refused_before_keras_reads_it(tmp_path):
    model = tiny_keras_cnn(seed=0)
    path = str(tmp_path / "keras_bomb.weights.h5")
    with h5py.File(path, "w") as f:
        f.create_group("layers").create_dataset("vars", shape=(2 ** 31,), dtype="f4", chunks=True)
    _refused(model, path, "more than the model's largest weight")


# ------------------------------------------------------------------ .safetensors
def _safetensors(path, tensors):
    """``tensors``: name -> (dtype string, shape, bytes); written by hand (any dtype string)."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return str(path)


def test_float8_safetensors_is_refused_naming_its_dtype(tmp_path):
    model = tiny_mlp(seed=0)
    path = _safetensors(tmp_path / "f8.safetensors", {
        "00000:w0": ("F8_E4M3", (64, 16), bytes(64 * 16)), "00001:w1": ("F32", (16,), bytes(64)),
        "00002:w2": ("F32", (16, 5), bytes(320)), "00003:w3": ("F32", (5,), bytes(20))})
    _refused(model, path, "is stored as F8_E4M3; expected a numeric array")


# ------------------------------------------------------------------ values
def _save_values(tmp_path, name, arrays):
    path = str(tmp_path / name)
    np.savez(path, **{"params_%d" % i: a for i, a in enumerate(arrays)})
    return path


def test_nan_and_overflowing_weights_are_refused_and_rounding_warns(tmp_path):
    model = tiny_mlp(seed=0)
    good = [w.astype(np.float64) for w in _values(model)]
    nan = [a.copy() for a in good]
    nan[2][0, 0] = np.nan
    _refused(model, _save_values(tmp_path, "nan.npz", nan), "weight 2 ", peak_mb=16)
    huge = [a.copy() for a in good]
    huge[1][3] = 1e300  # finite in float64, inf in float32
    _refused(model, _save_values(tmp_path, "huge.npz", huge), "changes its values")
    exact = _save_values(tmp_path, "exact.npz", good)  # float64 copies of float32 values: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tlxp.load_weights(model, exact)
    rounded = [a + 1e-12 for a in good]
    with pytest.warns(UserWarning, match="4 weight\\(s\\) stored as float64 were rounded to the model's float32"):
        tlxp.load_weights(model, _save_values(tmp_path, "rounded.npz", rounded))


# ------------------------------------------------------------------ the CLI: one line, exit 2, for every bad file
@pytest.mark.slow
def test_cli_gives_one_line_and_exit_2_for_every_bad_file(tmp_path, capsys):
    files = {}
    files["bomb.npz"] = _write_zip(tmp_path / "bomb.npz", [_member("params_0", (500_000_000,), zero_mb=2000)])
    huge = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 31)
    files["header.npz"] = _write_zip(tmp_path / "header.npz", [("params_0.npy", zlib.compress(huge)[2:-4], 1 << 31, 0)])
    files["count.h5"] = _h5_ours(tmp_path / "count.h5", [(4,)], count=10 ** 9)
    cyclic = str(tmp_path / "cyclic.h5")
    with h5py.File(cyclic, "w") as f:
        f.attrs["layer_names"] = ["dense"]
        g = f.create_group("dense")
        g.attrs["layer_names"] = ["loop"]
        g["loop"] = g
    files["cyclic.h5"] = cyclic
    files["f8.safetensors"] = _safetensors(tmp_path / "f8.safetensors", {"00000:w": ("F8_E5M2", (4,), bytes(4))})
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    files["junk.safetensors"] = str(tmp_path / "junk.safetensors")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    files["junk.npz"] = str(tmp_path / "junk.npz")
    for name, path in files.items():
        rc = cli.main(["explain", "--model", "tensorlayer_xplain.models:mlp", "--weights", path,
                       "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        assert err.startswith("tensorlayer_xplain: error: --weights: "), (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
