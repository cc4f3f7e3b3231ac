"""The compiled-step cache (one trace per adapter and key) and batched application with out-of-memory retries."""
import time
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


#: Seconds one block should take under a deadline (blocks are then sized by time, see :func:`run_blocks`).
BLOCK_SECONDS = 0.5
#: Under a deadline the first block of a blocked computation holds this many pieces (then blocks are timed).
TIMED_FIRST_PIECES = 4


def run_blocks(n, rows, piece, call, what=None):
    """The one block loop: ``call(start, stop, piece)`` over blocks of ``range(n)``, halving on out-of-memory.

    Every batched computation of the package goes through this loop (the
    adapter's :func:`map_batches` and the methods' compiled blocks, see
    :mod:`tensorlayer_xplain.methods.engine`), so out-of-memory retries and
    deadlines are written once: before each block the current deadline is
    checked (:func:`tensorlayer_xplain._utils.deadline.check`), and on
    ``tf.errors.ResourceExhaustedError`` the piece size is halved and the same
    block retried, with a ``RuntimeWarning``. ``call`` must commit its results
    only after its compiled call returned.

    Under a deadline (e.g. in the HTTP service) blocks of ``rows`` rows are
    sized by time: the first holds :data:`TIMED_FIRST_PIECES` pieces, the next
    ones as many rows as ran in about :data:`BLOCK_SECONDS` (at most 4x the
    previous block, never more than ``rows``), so a request past its deadline
    frees its worker within about a second whatever the method's counts.

    Parameters
    ----------
    n : int
        Total rows (inputs, pairs...).
    rows : int or None
        Rows per block (one compiled call); None makes each block one piece,
        so halving the piece also halves the block (plain batching).
    piece : int
        Rows per piece (model rows in flight at once).
    call : callable
        ``call(start, stop, piece)``.
    what : str, optional
        What the rows are, for the warning (default: the batch size is meant).

    Examples
    --------
    >>> seen = []
    >>> run_blocks(5, None, 2, lambda start, stop, piece: seen.append((start, stop)))
    >>> seen
    [(0, 2), (2, 4), (4, 5)]
    """
    start, piece = 0, max(1, int(piece))
    timed = rows is not None and _deadline.remaining() is not None
    size = None if rows is None else (min(int(rows), piece * TIMED_FIRST_PIECES) if timed else int(rows))
    while start < n:
        _deadline.check()  # stop between compiled calls past a deadline
        stop = min(n, start + (piece if size is None else size))
        began = time.perf_counter()
        try:
            call(start, stop, piece)
        except tf.errors.ResourceExhaustedError:
            if piece == 1:
                raise
            piece = max(1, piece // 2)
            message = ("out of memory at batch size %d; retrying with batch size %d" % (piece * 2, piece)
                       if rows is None else "out of memory; retrying with %d %s per piece" % (piece, what or "rows"))
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            continue
        if timed:  # the next block: what runs in about BLOCK_SECONDS at this block's speed
            per_row = max(time.perf_counter() - began, 1e-6) / (stop - start)
            size = int(min(int(rows), 4 * size, max(1, BLOCK_SECONDS / per_row)))
        start = stop


def map_batches(adapter, fn, *arrays, batch_size=None, desc=None):
    """Apply ``fn`` to aligned slices of ``arrays`` and concatenate the results.

    ``fn`` returns an array or a tuple of arrays (each with a leading batch
    dimension). Batches go through :func:`run_blocks`: on
    ``tf.errors.ResourceExhaustedError`` the batch is halved and the same slice
    retried, with a warning; a deadline is checked between batches.

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
    pieces, single = [], []

    def call(start, stop, piece):
        out = fn(*(a[start:stop] for a in arrays))
        single[:] = [not isinstance(out, (tuple, list))]
        pieces.append((out,) if single[0] else tuple(out))

    run_blocks(len(arrays[0]), None, int(batch_size or adapter.batch_size), call)
    merged = tuple(np.concatenate([np.asarray(p[i]) for p in pieces], axis=0) for i in range(len(pieces[0])))
    return merged[0] if single[0] else merged
