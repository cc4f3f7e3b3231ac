"""The compiled-step cache (one trace per adapter and key) and batched application with out-of-memory retries."""
import warnings

import numpy as np
import tensorflow as tf

from .._utils import deadline as _deadline
from ._compile import CompiledStep


def compiled(adapter, key, python_function, n_extra=0, extra_dtypes=None, rows=None):
    """Return a ``tf.function`` of ``python_function``, traced once per adapter and key.

    The signature is ``(x, *extra)`` with ``x`` of shape ``(None, *input_shape)``
    float32 and ``extra`` tensors with an open leading dimension, so new batch
    sizes do not retrace. Plain callables run eagerly (they may not be traceable);
    a model that cannot be traced runs eagerly too, after one
    :class:`~tensorlayer_xplain.adapter._compile.CompileWarning` naming the layer that failed.

    Parameters
    ----------
    key : hashable
        Identifies the step; one trace per key.
    python_function : callable
        ``f(x, *extra) -> tensors``; may patch layers while it runs (the patch
        is then baked into the trace and the model is restored right after).
    n_extra : int
        Number of extra arguments (int32 vectors ``(None,)`` unless
        ``extra_dtypes`` says otherwise).
    rows : sequence of int, optional
        Positions of the arguments with one row per sample (``x`` is 0): with a
        ``strategy``, those are split across its replicas and the outputs
        concatenated (:class:`~tensorlayer_xplain.adapter._distribute.ReplicatedStep`).
        Steps that do not say run on one device.
    """
    if adapter.kind == "callable":
        return python_function
    fn = adapter._functions.get(key)
    if fn is None:
        dtypes = extra_dtypes or [tf.int32] * n_extra
        signature = adapter._input_specs()
        signature += [tf.TensorSpec(None, dt) if isinstance(dt, tf.DType) else dt for dt in dtypes]
        if adapter.strategy is not None and rows is not None:
            from ._distribute import ReplicatedStep

            fn = ReplicatedStep(adapter.strategy, tf.function(python_function, input_signature=signature), rows)
        else:
            fn = CompiledStep(python_function, signature)
        adapter._functions[key] = fn
    return fn


def trace_count(adapter):
    """Total number of traces of this adapter's compiled steps (for retracing checks)."""
    return sum(fn.experimental_get_tracing_count() for fn in adapter._functions.values())


def map_batches(adapter, fn, *arrays, batch_size=None, desc=None):
    """Apply ``fn`` to aligned slices of ``arrays`` and concatenate the results.

    ``fn`` returns an array or a tuple of arrays (each with a leading batch
    dimension). On ``tf.errors.ResourceExhaustedError`` the batch is halved
    and the same slice retried, with a warning.

    Parameters
    ----------
    fn : callable
        ``fn(*slices) -> ndarray or tuple of ndarray``.
    *arrays : ndarray
        Arrays with the same first dimension N.
    batch_size : int, optional
        Defaults to the adapter's ``batch_size``.

    Returns
    -------
    ndarray or tuple of ndarray
        Results concatenated along axis 0.
    """
    n = len(arrays[0])
    size = int(batch_size or adapter.batch_size)
    pieces, start, single = [], 0, None
    while start < n:
        _deadline.check()  # stop between pieces past a deadline (see tensorlayer_xplain._utils.deadline)
        stop = min(n, start + size)
        try:
            out = fn(*(a[start:stop] for a in arrays))
        except tf.errors.ResourceExhaustedError:
            if size == 1:
                raise
            size = max(1, size // 2)
            warnings.warn(
                "out of memory at batch size %d; retrying with batch size %d" % (size * 2, size),
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        single = not isinstance(out, (tuple, list))
        pieces.append((out,) if single else tuple(out))
        start = stop
    merged = tuple(np.concatenate([np.asarray(p[i]) for p in pieces], axis=0) for i in range(len(pieces[0])))
    return merged[0] if single else merged
