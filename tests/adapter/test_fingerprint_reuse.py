"""The weights fingerprint returns its last digest while every weight is in the buffer it hashed.

It must still see every kind of write (eager and compiled, in place or not, optimizers,
slices, scatters), and the digest it returns must always equal a from-scratch hash.
"""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import _fingerprint


def _fresh(model):
    return tlxp.ModelAdapter(model).weights_fingerprint()


class _NoHashing:
    """Stands in for ``hashlib``: hashing anything fails the test."""

    @staticmethod
    def sha1(*args):
        raise AssertionError("weights were hashed again although none changed")


def _big_keras_model():
    tf.keras.utils.set_random_seed(3)
    return tf.keras.Sequential([tf.keras.Input((600,)), tf.keras.layers.Dense(600)])  # 1.4 MB kernel: host sha1


@pytest.mark.slow
def test_unchanged_weights_are_not_hashed_again(monkeypatch, tiny_model_builders):
    for model in (tiny_model_builders[0](seed=1), _big_keras_model()):
        adapter = tlxp.ModelAdapter(model)
        before = adapter.weights_fingerprint()
        with monkeypatch.context() as patch:
            patch.setattr(_fingerprint, "hashlib", _NoHashing)
            assert adapter.weights_fingerprint() == before
            tlxp.ModelExplainer(adapter).explain(np.zeros((1,) + adapter.input_shape, np.float32))  # reads only
            assert adapter.weights_fingerprint() == before


@pytest.mark.parametrize("write", ["assign", "assign_add", "compiled_in_place", "slice", "scatter", "optimizer"])
def test_every_kind_of_write_after_a_reused_digest_is_seen(write):
    model = _big_keras_model()
    adapter = tlxp.ModelAdapter(model)
    first = adapter.weights_fingerprint()
    assert adapter.weights_fingerprint() == first  # now returning the kept digest
    kernel = model.weights[0]

    @tf.function
    def in_place():
        kernel.assign_sub(tf.ones_like(kernel))

    if write == "assign":
        kernel.assign(kernel.numpy() * np.float32(-1.0))
    elif write == "assign_add":
        kernel.assign_add(tf.ones_like(kernel))
    elif write == "compiled_in_place":
        in_place()
    elif write == "slice":
        kernel[0, 0].assign(5.0)
    elif write == "scatter":
        kernel.value.scatter_nd_update([[1, 1]], [3.0])  # Keras 3 keeps the tf.Variable in .value
    else:
        tf.keras.optimizers.SGD(0.1).apply_gradients([(tf.ones_like(kernel), kernel)])
    changed = adapter.weights_fingerprint()
    assert changed != first
    assert changed == _fresh(model)
    in_place()  # a second write, in place when nobody else held the buffer
    assert adapter.weights_fingerprint() not in (first, changed)
    assert adapter.weights_fingerprint() == _fresh(model)


@pytest.mark.slow
def test_the_reused_digest_is_the_full_hash(tiny_model_builders):
    """Stores compare fingerprints across processes and versions: the fast path returns the full hash."""
    for model in [build(seed=2) for build in tiny_model_builders] + [_big_keras_model()]:
        adapter = tlxp.ModelAdapter(model)
        first = adapter.weights_fingerprint()
        assert adapter.weights_fingerprint() == first == _fresh(model)
        assert first == _fingerprint_before_reuse(model)


def _fingerprint_before_reuse(model):
    """The digest as computed before the reuse (sha1 over the in-graph SipHashes of the small weights, then
    the bytes of the large ones): it must not change, stores written earlier compare against it."""
    import hashlib

    weights = list(getattr(model, "all_weights", None) or model.weights)
    small = [w for w in weights if _fingerprint._nbytes(w) <= _fingerprint._GRAPH_BYTES]
    h = hashlib.sha1()
    if small:
        hashes = [tf.strings.to_hash_bucket_strong(tf.io.serialize_tensor(tf.convert_to_tensor(w)), 2 ** 63 - 1,
                                                   _fingerprint._SIPHASH_KEY) for w in small]
        h.update(tf.stack(hashes).numpy().tobytes())
    for w in weights:
        if _fingerprint._nbytes(w) > _fingerprint._GRAPH_BYTES:
            h.update(np.ascontiguousarray(w.numpy()))
    return h.hexdigest()
