"""Fingerprints: a hash of a model's weight values."""
import hashlib

import numpy as np

# SipHash key of the in-graph weight hashes (any fixed value: fingerprints must agree across processes).
_SIPHASH_KEY = (0x746C78, 0x706C6169)
# Weights up to this size are hashed in the compiled call, where per-op overhead dominates; larger ones
# on the host, where sha1 is bandwidth-bound and no serialized copy is made (VGG16's 392 MB kernel
# took 3.4x longer and 800 MB more memory in the graph).
_GRAPH_BYTES = 1 << 20


def _weights(adapter):
    weights = getattr(adapter.model, "all_weights", None)
    if weights is None:
        weights = getattr(adapter.model, "weights", [])
    return list(weights)


def _nbytes(weight):
    """Bytes of a weight from its shape and dtype; None when it declares neither."""
    try:
        dtype = getattr(weight.dtype, "as_numpy_dtype", weight.dtype)
        return int(np.prod(tuple(weight.shape), dtype=np.int64)) * np.dtype(dtype).itemsize
    except (AttributeError, TypeError, ValueError):
        return None


def _concrete(python_function, *signature):
    """A traced ``tf.function``, called as a concrete function.

    Calling the concrete function keeps these per-model functions out of
    TensorFlow's retracing detector, which counts the traces of every
    ``tf.function`` made from the same code: from the fifth model explained in
    one process on, it warned "triggered tf.function retracing".
    """
    import tensorflow as tf

    return tf.function(python_function, input_signature=list(signature), autograph=False).get_concrete_function()


def _reader(weights):
    """Concrete function returning every weight's current value (on CPU: the variable's own buffer, no copy)."""
    import tensorflow as tf

    return _concrete(lambda: [tf.identity(w) for w in weights])


def _graph_hasher(values):
    """Concrete function of weight values -> one 63-bit SipHash per value (of its serialized value, shape, dtype)."""
    import tensorflow as tf

    def hashes(*values):
        out = []
        for v in values:  # one after another: at most one serialized copy of a weight exists at a time
            with tf.control_dependencies(out[-1:]):
                out.append(tf.strings.to_hash_bucket_strong(tf.io.serialize_tensor(v), 2 ** 63 - 1, _SIPHASH_KEY))
        return tf.stack(out)

    return _concrete(hashes, *(tf.TensorSpec(v.shape, v.dtype) for v in values))


def _buffer_keys(values):
    """The address of each value's buffer, or None when one is not a CPU tensor (no zero-copy view)."""
    keys = []
    for v in values:
        if "CPU" not in getattr(v, "device", ""):
            return None
        keys.append(np.asarray(memoryview(v)).__array_interface__["data"][0])
    return tuple(keys)


def _host_buffer(value):
    """A weight's bytes for sha1: a zero-copy view of a CPU tensor, else its numpy value."""
    try:
        return memoryview(value) if "CPU" in getattr(value, "device", "") else np.ascontiguousarray(value.numpy())
    except (TypeError, ValueError):
        return np.ascontiguousarray(value.numpy())


def _setup(adapter, weights, ids):
    """``adapter._weights_hasher``: ``(ids, graph hasher or None, ids of the weights it hashes, reader or None)``."""
    try:
        reader = _reader(weights) if weights else None
        values = reader() if reader is not None else []
    except Exception:  # (a weight the graph cannot read: hashed from numpy, every call)
        reader, values = None, []
    small = [i for i, w in enumerate(weights[:len(values)]) if _nbytes(w) is not None and _nbytes(w) <= _GRAPH_BYTES]
    hasher = None
    if small:
        try:
            hasher = _graph_hasher([values[i] for i in small])
        except Exception:  # (a value the graph cannot serialize: all on the host)
            hasher, small = None, []
    adapter._weights_hasher = (ids, hasher, {id(weights[i]) for i in small}, reader, tuple(small))
    adapter._weights_seen = None
    return adapter._weights_hasher


def weights_fingerprint(adapter):
    """A hash of all weight values; changes whenever a weight changes.

    All weights are read in one compiled call. When every value is still in
    the very buffer the last call hashed, the last digest is returned without
    reading the values again. That test is exact: the adapter holds the
    values it hashed, and TensorFlow never writes into a buffer that is
    shared (copy on write), so any assignment or optimizer update puts the
    variable in a new buffer. The cost of holding them: after a weight
    changes, its old value stays in memory until the next fingerprint (at
    most one copy of the weights, only when training between explanations),
    and the first update after a fingerprint copies the weight once. VGG16's
    528 MB of weights took 0.5-1.2 s to hash per call; unchanged, they take
    about a millisecond.

    Otherwise (changed weights, the first call, tensors not on the CPU) the
    small weights (up to 1 MB: biases, BatchNorm statistics, most kernels of
    a small CNN) are hashed in one compiled TensorFlow call (SipHash of each
    serialized tensor), not one eager read per weight: a server's explanation
    worker computes this once per batch, and each eager op gives the GIL
    away to the event loop and waits to get it back (25 reads of a small CNN
    took 5 ms under load for 0.5 ms of work). Larger weights, and weights
    that cannot be read in a graph, are hashed from their buffers with sha1
    (CPU tensors without a copy).

    Returns
    -------
    str
        A hex digest; equal for equal weights, in any process.

    Examples
    --------
    >>> before = adapter.weights_fingerprint()
    >>> model.all_weights[0].assign_add(tf.ones_like(model.all_weights[0]))
    >>> adapter.weights_fingerprint() != before
    True
    """
    weights = _weights(adapter)
    ids = tuple(id(w) for w in weights)  # weights a dynamic model creates later get a new reader and hasher
    state = getattr(adapter, "_weights_hasher", None)
    if state is None or state[0] != ids:
        state = _setup(adapter, weights, ids)
    _, hasher, _, reader, small = state
    values, keys = list(weights), None
    if reader is not None:
        try:
            values = reader()
            keys = _buffer_keys(values)
        except Exception:  # (cannot be read any more: hash from numpy from now on)
            state = adapter._weights_hasher = (ids, None, set(), None, ())
            hasher, small, values = None, (), list(weights)
    seen = getattr(adapter, "_weights_seen", None)
    if keys is not None and seen is not None and seen[0] == keys:
        return seen[2]
    h, on_host = hashlib.sha1(), range(len(values))
    if hasher is not None:
        try:
            h.update(hasher(*[values[i] for i in small]).numpy().tobytes())
            on_host = sorted(set(on_host) - set(small))
        except Exception:  # (a value the graph cannot serialize: all on the host)
            adapter._weights_hasher = (ids, None, set(), reader, ())
            h = hashlib.sha1()
    for i in on_host:
        h.update(_host_buffer(values[i]))
    digest = h.hexdigest()
    # keep the hashed values alive: while held, no write can reuse their buffers (see above)
    adapter._weights_seen = (keys, values, digest) if keys is not None else None
    return digest
