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


def _graph_hasher(weights):
    """A ``tf.function`` returning one 63-bit SipHash per weight (of its serialized value, shape and dtype)."""
    import tensorflow as tf

    def hashes():
        out = []
        for w in weights:  # one after another: at most one serialized copy of a weight exists at a time
            with tf.control_dependencies(out[-1:]):
                out.append(tf.strings.to_hash_bucket_strong(tf.io.serialize_tensor(tf.convert_to_tensor(w)),
                                                            2 ** 63 - 1, _SIPHASH_KEY))
        return tf.stack(out)

    return tf.function(hashes, autograph=False)


def weights_fingerprint(adapter):
    """A hash of all weight values; changes whenever a weight changes.

    The small weights (up to 1 MB: biases, BatchNorm statistics, most
    kernels of a small CNN) are read and hashed in one compiled TensorFlow
    call (SipHash of each serialized tensor), not one eager read per weight:
    a server's explanation worker computes this once per batch, and each
    eager op gives the GIL away to the event loop and waits to get it back
    (25 reads of a small CNN took 5 ms under load for 0.5 ms of work). Larger
    weights, and weights that cannot be read in a graph, are hashed from
    their numpy buffers with sha1.

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
    ids = tuple(id(w) for w in weights)  # weights a dynamic model creates later get a new hasher
    cached = getattr(adapter, "_weights_hasher", None)
    if cached is None or cached[0] != ids:
        small = [w for w in weights if _nbytes(w) is not None and _nbytes(w) <= _GRAPH_BYTES]
        cached = adapter._weights_hasher = (ids, _graph_hasher(small) if small else None,
                                            {id(w) for w in small})
    h, on_host = hashlib.sha1(), weights
    if cached[1] is not None:
        try:
            h.update(cached[1]().numpy().tobytes())
            on_host = [w for w in weights if id(w) not in cached[2]]
        except Exception:  # a weight the graph cannot read or serialize: all on the host
            adapter._weights_hasher = (ids, None, set())
            h = hashlib.sha1()
    for w in on_host:
        h.update(np.ascontiguousarray(w.numpy()))  # the buffer itself: no bytes copy
    return h.hexdigest()
