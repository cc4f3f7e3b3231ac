"""Tampered and corrupted stores (issue 29, rows 6, 10 and 11): every attribute and array shape is validated
on open, reads touch only the chunks asked for, and every chunk carries a checksum written with its done flag,
checked on read, on ``open_store(verify=True)`` and on resume (a bad or missing chunk is recomputed)."""
import json
import os
import time
import tracemalloc
import warnings

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.scale.store import StoreIntegrityError

from conftest import tiny_mlp

N, CHUNK = 20, 8  # three chunks: rows 0-7, 8-15, 16-19
X = np.random.default_rng(0).normal(size=(N, 64)).astype("f4")
Y = np.arange(N) % 5


@pytest.fixture(scope="module")
def explainer():
    return tlxp.ModelExplainer(tiny_mlp(seed=0), methods=["gradient"], image_shape=(8, 8, 1),
                               cache=False)


def _write(explainer, path, **kw):
    return explainer.explain_dataset(X, str(path), labels=Y, chunk_size=CHUNK, progress=False, **kw)


@pytest.fixture
def store_path(explainer, tmp_path):
    path = tmp_path / "run.zarr"
    _write(explainer, path)
    return path


def _edit_json(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def _edit_attrs(store_path, **changes):
    _edit_json(store_path / "zarr.json", lambda m: m["attributes"]["tensorlayer_xplain"].update(changes))


def _set_shape(store_path, array, shape):
    def fn(meta):
        meta["shape"] = list(shape)
    _edit_json(store_path / array / "zarr.json", fn)


# ------------------------------------------------------------------ rows 6 and 11: tampered metadata
@pytest.mark.parametrize("change, match", [
    ({"n_classes": 2_000_000}, "n_classes: expected 5"),
    ({"image_shape": [100_000, 100_000, 1]}, "image_shape: expected 1 to 4 positive ints"),
    ({"image_shape": [9, 9, 1]}, "image_shape: expected \\(H, W\\) or \\(H, W, C\\) holding the 64 values"),
    ({"chunk_size": -8}, "chunk_size: expected an int in 1"),
    ({"chunk_size": 0}, "chunk_size: expected an int in 1"),
    ({"chunk_size": 4}, "chunks: expected \\(4,"),
    ({"n": 10 ** 10}, "n: expected 20"),
    ({"methods": {"gradient": {"params": [], "signed": True, "family": "gradient"}}}, "methods\\['gradient'\\]"),
    ({"methods": {"../../etc": {"params": {}, "signed": True, "family": "x"}}}, "no group '../../etc'"),
    ({"format": 99}, "format: expected 1 or 2"),
])
def test_tampered_attributes_are_refused_on_open(store_path, change, match):
    _edit_attrs(store_path, **change)
    with pytest.raises(ValueError, match=match):
        tlxp.open_store(store_path)


@pytest.mark.parametrize("array, shape, match", [
    ("done", (10 ** 10,), "done shape: expected \\(3,\\)"),
    ("predictions", (N, 2_000_000), "predictions: expected 1..100000 classes"),
    ("gradient/attributions", (N, 10 ** 6), "gradient/attributions shape"),
    ("labels", (N + 1,), "labels shape"),
    ("checksums", (3, 2), "checksums: expected uint64 \\(3, 4\\)"),
])
def test_tampered_array_shapes_are_refused_on_open(store_path, array, shape, match):
    _set_shape(store_path, array, shape)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            tlxp.open_store(store_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_consistently_huge_store_reads_only_the_rows_asked_for(store_path, explainer):
    # every array (and the attrs) says 10^10 rows: valid, but a read must touch only its own chunks
    rows = 10 ** 10
    for array, tail in (("predictions", [5]), ("gradient/attributions", [64]), ("gradient/targets", []),
                        ("labels", []), ("done", None), ("checksums", [4])):
        _set_shape(store_path, array, [-(-rows // CHUNK)] + (tail or []) if tail is None or array == "checksums"
                   else [rows] + tail)
    _edit_attrs(store_path, n=rows)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        store = tlxp.open_store(store_path)
        assert len(store) == rows
        exp = store["gradient"][:5]
        last = store["gradient"][[12, 3]]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 10
    assert peak < 8 << 20, peak
    expected = explainer.explain(X[:5], "gradient").attributions
    np.testing.assert_allclose(exp.attributions.reshape(5, 64), expected.reshape(5, 64), rtol=1e-6, atol=1e-7)
    assert last.attributions.shape[0] == 2
    with pytest.raises(ValueError, match="not computed yet"):
        store["gradient"][10 ** 9:10 ** 9 + 2]


# ------------------------------------------------------------------ row 10: chunk integrity
def _chunk_file(store_path, array, index):
    """The file of chunk ``index`` (along rows) of ``array`` (Zarr v3 default keys: c/<i>/<j>...)."""
    root = store_path / array / "c" / str(index)
    if root.is_file():
        return str(root)
    files = [os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs]
    assert len(files) == 1, files
    return files[0]


def _corrupt(store_path, how, array="gradient/attributions", index=1):
    path = _chunk_file(store_path, array, index)
    if how == "change":  # a valid chunk with other values: chunk 0's file copied over chunk 1's
        other = _chunk_file(store_path, array, 0)
        with open(other, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
    elif how == "delete":
        os.remove(path)
    else:
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)


@pytest.mark.parametrize("how", ["change", "delete", "truncate"])
def test_a_bad_chunk_is_reported_on_read_and_by_verify(store_path, how):
    good = tlxp.open_store(store_path)["gradient"][:].attributions
    _corrupt(store_path, how)
    store = tlxp.open_store(store_path)  # metadata is fine: opening without verify works
    np.testing.assert_array_equal(store["gradient"][:8].attributions, good[:8])  # chunk 0 is intact
    with pytest.raises(StoreIntegrityError, match=r"chunk 1 \(rows 8\.\.15\) of 'gradient/attributions'"):
        store["gradient"][9]
    with pytest.raises(StoreIntegrityError, match=r"1 chunk\(s\) fail their checksums: \[1\]"):
        tlxp.open_store(store_path, verify=True)
    assert list(store.bad_chunks()) == [1]


@pytest.mark.parametrize("array", ["predictions", "labels", "gradient/targets"])
def test_deleted_chunks_of_other_arrays_are_caught(store_path, array):
    _corrupt(store_path, "delete", array=array, index=2)
    assert list(tlxp.open_store(store_path).bad_chunks()) == [2]
    if array == "labels":
        with pytest.raises(StoreIntegrityError, match="'labels'"):
            tlxp.open_store(store_path).summary(by="label")


@pytest.mark.parametrize("how", ["change", "delete", "truncate"])
def test_resume_recomputes_bad_chunks(store_path, explainer, how):
    good = tlxp.open_store(store_path)["gradient"][:].attributions
    _corrupt(store_path, how)
    _corrupt(store_path, "delete", array="predictions", index=2)
    with pytest.warns(UserWarning, match=r"2 chunk\(s\) of .* fail their checksums and are recomputed: \[1, 2\]"):
        store = _write(explainer, store_path)
    store.verify()
    assert store.complete
    np.testing.assert_array_equal(store["gradient"][:].attributions, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _write(explainer, store_path)  # nothing left to recompute: no warning


def test_intact_store_verifies_and_reads_unchanged(store_path, explainer):
    store = tlxp.open_store(store_path, verify=True)
    assert store.bad_chunks() == {} and store.complete
    np.testing.assert_allclose(store["gradient"][[19, 0, 8]].attributions.reshape(3, 64),
                               explainer.explain(X[[19, 0, 8]], "gradient").attributions.reshape(3, 64),
                               rtol=1e-6, atol=1e-7)
    means, counts = store.class_mean_heatmaps("gradient", by="label")
    assert counts.tolist() == [4] * 5 and means.shape == (5, 8, 8)
