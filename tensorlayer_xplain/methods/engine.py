"""The batching engine every built-in method uses, public for your own methods.

A method that evaluates the model many times per input (integration steps,
noise samples, masks, windows) hands large *blocks* of rows to one compiled
call; inside the graph a ``tf.while_loop`` walks through each block in
*pieces* of ``batch_size // PARALLEL`` rows, ``PARALLEL`` pieces in flight.
So memory is bounded by the adapter's byte budget (``batch_size`` rows,
capped by ``max_batch_bytes``), Python runs once per block (at most
:data:`BLOCK_BYTES` of inputs), out-of-memory halves the piece and retries,
and a deadline (:func:`tensorlayer_xplain._deadline.deadline`) is checked
between blocks. All of that is written once, here and in
:func:`run_blocks`; a method only says what one row computes.

Two entry points cover the built-ins:

* :func:`sum_over_samples` -- ``fn`` on every (input, sample) pair, summed per
  input inside the graph (integrated gradients, expected gradients, SmoothGrad
  of a gradient...);
* :func:`map_rows` -- ``fn`` on every row, concatenated (plain gradients, masks,
  windows).

The lower-level pieces (:func:`in_pieces`, :func:`run_blocks`,
:func:`block_rows`, :func:`piece_rows`, ``adapter.compiled``) are exported too.

Examples
--------
Integrated gradients from a zero baseline, written by a user (the built-in
``integrated_gradients`` runs the same engine, so it is as fast):

>>> import numpy as np, tensorflow as tf
>>> from tensorlayer_xplain import register_method
>>> from tensorlayer_xplain.methods import engine
>>> @register_method("my_ig", signed=True, cost=lambda adapter, n, steps=32, **_: (n * steps, n * steps))
... def my_ig(adapter, inputs, targets, steps=32):
...     x = np.asarray(inputs, np.float32)
...     alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps      # midpoint rule
...     def one_pair(xb, alpha, t):                                       # rows: (input, step) pairs
...         grads, _ = adapter.differentiate(engine.expand(alpha, xb) * xb, t)
...         return grads / steps
...     return x * engine.sum_over_samples(adapter, "my_ig", one_pair, (x,), (alphas,), targets)
>>> exp = tlxp.explain(model, x, "my_ig", steps=16)
>>> exp.attributions.shape == x.shape
True
>>> tlxp.unregister_method("my_ig")
"""
import numpy as np
import tensorflow as tf

from ..adapter._steps import run_blocks
from ._engine.blocks import (
    BLOCK_BYTES,
    PARALLEL,
    PIECE_SPEC,
    block_rows,
    concrete,
    in_pieces,
    pair_rectangles,
    piece_rows,
    row_bytes,
)

__all__ = ["sum_over_samples", "map_rows", "expand", "run_blocks", "in_pieces", "block_rows", "piece_rows",
           "row_bytes", "concrete", "PARALLEL", "BLOCK_BYTES", "PIECE_SPEC"]


def expand(values, like):
    """``values`` (B,) reshaped to broadcast against ``like`` (B, ...), inside a compiled step.

    Examples
    --------
    >>> expand(tf.constant([1.0, 2.0]), tf.zeros((2, 3, 4))).shape
    TensorShape([2, 1, 1])
    """
    return tf.reshape(values, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def _target_rows(adapter, targets, n):
    """Targets as int32 rows (a callable keeps zeros: the step calls it on the scores)."""
    if callable(targets):
        return np.zeros(n, np.int32)
    return np.asarray(targets, np.int32).reshape(n)


def _spec(array):
    return tf.TensorSpec((None,) + tuple(np.shape(array)[1:]), tf.as_dtype(np.asarray(array).dtype))


def sum_over_samples(adapter, key, fn, rows, samples, targets, outputs=None, batch_size=None, backward=True,
                     what="samples"):
    """Per input ``i``: ``sum_k fn(rows[i], samples[k], targets[i])``, computed in the graph in pieces.

    The ``N * S`` (input, sample) pairs are enumerated inside one compiled call
    per block; ``fn`` sees a piece of pairs at once (each argument gathered per
    pair, a leading dimension of up to ``batch_size // PARALLEL``) and its
    outputs are summed per input as the pieces complete, so neither the pairs
    nor their per-pair results leave the graph.

    Parameters
    ----------
    adapter : ModelAdapter
    key : hashable
        Names the compiled step (one trace per adapter, key and target kind).
    fn : callable
        ``fn(*row_values, *sample_values, t) -> tensor or tuple of tensors``, one
        row per pair; ``t`` is the int32 targets of the pairs or the targets
        callable (``adapter.differentiate(points, t)`` takes either).
    rows : tuple of ndarray
        Per-input arrays, each ``(N, ...)`` (the inputs, their baselines...).
    samples : tuple of ndarray
        Per-sample arrays shared by all inputs, each ``(S, ...)`` (alphas,
        weights, noise patterns...).
    targets : ndarray of int (N,) or callable
    outputs : tuple of tuple, optional
        Shape of one input's sum of each output of ``fn`` (default: one output
        shaped like ``rows[0]``'s rows).
    batch_size : int, optional
        Pairs in flight at once (default the adapter's, capped by its byte budget).
    backward : bool
        ``fn`` differentiates (the byte budget counts the backward pass).
    what : str
        What the samples are, for the out-of-memory warning.

    Returns
    -------
    ndarray or tuple of ndarray
        ``(N, *outputs[j])`` float32 per output.
    """
    rows = tuple(np.asarray(r) for r in rows)
    samples = tuple(np.asarray(s) for s in samples)
    n, s = len(rows[0]), len(samples[0])
    outputs = tuple(tuple(o) for o in (outputs or (rows[0].shape[1:],)))
    fn_targets = callable(targets)
    t = _target_rows(adapter, targets, n)
    n_rows, n_samples = len(rows), len(samples)

    def step(*args):
        row_t, sample_t = args[:n_rows], args[n_rows:n_rows + n_samples]
        tb, piece = args[-2], args[-1]
        g, m = tf.shape(row_t[0])[0], tf.shape(sample_t[0])[0]
        pair_i = tf.repeat(tf.range(g), m)
        pair_k = tf.tile(tf.range(m), [g])

        def one_piece(i, k):
            out = fn(*(tf.gather(r, i) for r in row_t), *(tf.gather(v, k) for v in sample_t),
                     targets if fn_targets else tf.gather(tb, i))
            return (tuple(out) if isinstance(out, (tuple, list)) else (out,)) + (i,)

        def reduce(acc, outs, _):
            i = outs[-1]
            return tuple(a + tf.math.unsorted_segment_sum(tf.cast(o, tf.float32), i, g)
                         for a, o in zip(acc, outs[:-1]))

        reduce.initial = tuple(tf.zeros(tf.concat([[g], tf.constant(shape, tf.int32)], 0)) for shape in outputs)
        return in_pieces(one_piece, piece, pair_i, pair_k, reduce=reduce)

    signature = [_spec(v) for v in rows[1:] + samples] + [tf.TensorSpec((None,), tf.int32), PIECE_SPEC]
    if rows[0].dtype != np.float32 or tuple(rows[0].shape[1:]) != tuple(adapter.input_shape or ()):
        raise ValueError("rows: expected the inputs (N, *input_shape) float32 first, got %s %s"
                         % (rows[0].dtype, rows[0].shape))
    compiled = adapter.compiled((key, "sum_over_samples", adapter._target_key(targets)), step,
                                extra_dtypes=signature, rows=tuple(range(n_rows)) + (n_rows + n_samples,))
    batch_size = adapter.batch_rows(batch_size, backward=backward)
    sums = tuple(np.zeros((n,) + shape, np.float32) for shape in outputs)
    sample_t = tuple(tf.constant(v) for v in samples)

    def call(start, stop, piece):
        # a block of (input, sample) pairs numbered input-major: at most three rectangles of inputs x samples
        outs = [(i0, i1, step_fn(*(tf.constant(r[i0:i1]) for r in rows), *(v[k0:k1] for v in sample_t),
                                 tf.constant(t[i0:i1]), tf.constant(piece)))
                for i0, i1, k0, k1 in pair_rectangles(start, stop, s)]
        for i0, i1, out in outs:  # committed once every call of the block returned (it may be retried)
            for total, value in zip(sums, out):
                total[i0:i1] += value.numpy()

    with adapter.inference_mode():
        step_fn = concrete(compiled)
        # blocks of pairs, not of inputs: a deadline is checked between blocks however many samples an input has
        run_blocks(n * s, block_rows(batch_size, row_bytes(rows[0])), piece_rows(batch_size), call, what=what)
    return sums if len(outputs) > 1 else sums[0]


def map_rows(adapter, key, fn, rows, targets, dtypes=(tf.float32,), batch_size=None, backward=True, what="rows"):
    """``fn`` on every row of ``rows`` (with its target), concatenated: a compiled call per block, pieces in the graph.

    Parameters
    ----------
    adapter : ModelAdapter
    key : hashable
        Names the compiled step.
    fn : callable
        ``fn(*row_values, t) -> tensor or tuple of tensors`` with one row per input row.
    rows : tuple of ndarray
        Aligned arrays ``(N, ...)``, the inputs first.
    targets : ndarray of int (N,) or callable
    dtypes : tuple of tf.DType
        Dtypes of ``fn``'s outputs.
    batch_size : int, optional
        Rows in flight at once (default the adapter's, capped by its byte budget).
    backward : bool
        ``fn`` differentiates.

    Returns
    -------
    ndarray or tuple of ndarray

    Examples
    --------
    >>> adapter = tlxp.as_adapter(model)
    >>> grads = map_rows(adapter, "grad", lambda xb, t: adapter.differentiate(xb, t)[0], (x,), np.zeros(len(x)))
    >>> grads.shape == x.shape
    True
    """
    rows = tuple(np.asarray(r) for r in rows)
    n = len(rows[0])
    fn_targets = callable(targets)
    t = _target_rows(adapter, targets, n)

    def step(*args):
        row_t, tb, piece = args[:-2], args[-2], args[-1]

        def one_piece(*sliced):
            return fn(*sliced[:-1], targets if fn_targets else sliced[-1])

        return in_pieces(one_piece, piece, *row_t, tb, dtypes=tuple(dtypes))

    if rows[0].dtype != np.float32 or tuple(rows[0].shape[1:]) != tuple(adapter.input_shape or ()):
        raise ValueError("rows: expected the inputs (N, *input_shape) float32 first, got %s %s"
                         % (rows[0].dtype, rows[0].shape))
    signature = [_spec(v) for v in rows[1:]] + [tf.TensorSpec((None,), tf.int32), PIECE_SPEC]
    compiled = adapter.compiled((key, "map_rows", adapter._target_key(targets)), step, extra_dtypes=signature,
                                rows=tuple(range(len(rows) + 1)))
    batch_size = adapter.batch_rows(batch_size, backward=backward)
    parts = {}

    def call(start, stop, piece):
        block = slice(start, stop)
        out = step_fn(*(tf.constant(r[block]) for r in rows), tf.constant(t[block]), tf.constant(piece))
        parts[start] = tuple(v.numpy() for v in (out if isinstance(out, (tuple, list)) else (out,)))

    with adapter.inference_mode():
        step_fn = concrete(compiled)
        run_blocks(n, block_rows(batch_size, row_bytes(rows[0])), piece_rows(batch_size), call, what=what)
    merged = tuple(np.concatenate([parts[k][j] for k in sorted(parts)]) for j in range(len(dtypes)))
    return merged if len(dtypes) > 1 else merged[0]
