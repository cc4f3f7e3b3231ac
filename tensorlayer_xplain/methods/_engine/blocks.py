"""How the batched methods feed the model: large compiled calls, looping over pieces in the graph.

A method with many model evaluations (integration steps, noise samples, masks,
windows) hands one compiled call a large block of rows; inside the graph a
``tf.while_loop`` walks through it in *pieces* of ``batch_size // PARALLEL``
rows, ``PARALLEL`` pieces in flight at once. So

* memory for activations is bounded by ``batch_size`` rows (``PARALLEL`` pieces),
* TensorFlow overlaps the pieces (on CPU the small convolutions of typical TL
  models leave cores idle otherwise) — what a hand-written ``tf.range`` loop gets
  from its parallel iterations,
* Python runs once per block, not once per batch: no idle gaps between batches.

Blocks are capped at :data:`BLOCK_BYTES` of input rows. On out-of-memory the
piece size is halved (no retracing: it is an argument of the compiled step).
"""
import numpy as np
import tensorflow as tf

from ...adapter._compile import concrete  # lives with the adapter, which captures with it too
from ...adapter._steps import BLOCK_SECONDS, run_blocks  # the one block loop (out-of-memory halving, deadlines)

__all__ = ["in_pieces", "run_blocks", "piece_rows", "block_rows", "host_rows", "concrete", "PARALLEL",
           "BLOCK_BYTES", "BLOCK_SECONDS", "PIECE_SPEC", "pair_rectangles"]

#: Pieces of one block in flight at once.
PARALLEL = 4
#: Largest block of input rows handed to one compiled call, in bytes.
BLOCK_BYTES = 64 << 20
#: Signature of the ``piece`` argument of the compiled steps (rows per piece).
PIECE_SPEC = tf.TensorSpec((), tf.int32)


def piece_rows(batch_size):
    """Rows per piece for a ``batch_size``: ``PARALLEL`` pieces hold ``batch_size`` rows."""
    return max(1, int(batch_size) // PARALLEL)


def block_rows(batch_size, row_bytes):
    """Rows per compiled call: at least ``batch_size``, at most :data:`BLOCK_BYTES` of inputs."""
    return max(int(batch_size), BLOCK_BYTES // max(1, int(row_bytes)))


def host_rows(batch_size, row_bytes):
    """Rows of perturbed inputs built in numpy at once (LIME, SHAP): ``batch_size``, at most :data:`BLOCK_BYTES`.

    The model then takes them in byte-bounded pieces (:meth:`ModelAdapter.batch_rows`).

    Examples
    --------
    >>> host_rows(256, 224 * 224 * 3 * 8)
    55
    """
    return max(1, min(int(batch_size), BLOCK_BYTES // max(1, int(row_bytes))))


def in_pieces(fn, piece, *tensors, dtypes=(tf.float32,), reduce=None):
    """Apply ``fn`` to ``tensors`` piece by piece inside the graph, ``PARALLEL`` pieces at a time.

    Parameters
    ----------
    fn : callable
        ``fn(*slices)`` on row slices of ``tensors`` -> a tensor or a tuple of
        tensors with one row per input row (computed row by row).
    piece : tf.Tensor, int32 scalar
        Rows per piece.
    *tensors : tf.Tensor
        Row tensors with the same first dimension.
    dtypes : tuple of tf.DType
        Dtypes of ``fn``'s outputs.
    reduce : callable, optional
        ``reduce(accumulators, outputs, rows) -> accumulators`` folds each piece
        into loop-carried accumulators instead of concatenating the outputs;
        ``rows`` are the piece's row indices. Pass the initial accumulators as
        ``reduce.initial`` (a tuple of tensors).

    Returns
    -------
    tf.Tensor or tuple of tf.Tensor
        The concatenated outputs (one per entry of ``dtypes``), or the final
        accumulators when ``reduce`` is given.

    Examples
    --------
    >>> in_pieces(lambda x: 2.0 * x, tf.constant(2), tf.range(5.0)).numpy()
    array([0., 2., 4., 6., 8.], dtype=float32)
    """
    n = tf.shape(tensors[0])[0]
    piece = tf.maximum(piece, 1)
    count = (n + piece - 1) // piece

    def slice_out(k):
        start = k * piece
        stop = tf.minimum(n, start + piece)
        outs = fn(*(t[start:stop] for t in tensors))
        return (tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)), tf.range(start, stop)

    if reduce is None:
        def body(k, arrays):
            outs, _ = slice_out(k)
            return k + 1, tuple(a.write(k, o) for a, o in zip(arrays, outs))

        init = tuple(tf.TensorArray(dt, size=count, infer_shape=False) for dt in dtypes)
        _, arrays = tf.while_loop(lambda k, _: k < count, body, (tf.constant(0), init),
                                  parallel_iterations=PARALLEL)
        merged = tuple(a.concat() for a in arrays)
        return merged if len(dtypes) > 1 else merged[0]

    def body(k, acc):
        outs, rows = slice_out(k)
        return k + 1, tuple(reduce(acc, outs, rows))

    _, acc = tf.while_loop(lambda k, _: k < count, body, (tf.constant(0), tuple(reduce.initial)),
                           parallel_iterations=PARALLEL)
    return acc


def row_bytes(x):
    """Bytes of one row of ``x``."""
    return int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize


def pair_rectangles(start, stop, samples):
    """Pairs ``[start, stop)`` of an (inputs x ``samples``) grid numbered input-major, as rectangles.

    A block of pairs (not of inputs) keeps a compiled call short however many
    samples an input has, so a deadline is checked between blocks even for
    ``steps=10**6`` on one input.

    Returns
    -------
    list of (i0, i1, k0, k1)
        Inputs ``i0:i1`` times samples ``k0:k1``; at most three (a partial first
        input, whole inputs, a partial last input).

    Examples
    --------
    >>> pair_rectangles(3, 11, 4)
    [(0, 1, 3, 4), (1, 2, 0, 4), (2, 3, 0, 3)]
    """
    i_start, k_start = divmod(int(start), samples)
    i_stop, k_stop = divmod(int(stop), samples)
    if i_start == i_stop:
        return [(i_start, i_start + 1, k_start, k_stop)] if k_stop > k_start else []
    rects = []
    if k_start:
        rects.append((i_start, i_start + 1, k_start, samples))
        i_start += 1
    if i_stop > i_start:
        rects.append((i_start, i_stop, 0, samples))
    if k_stop:
        rects.append((i_stop, i_stop + 1, 0, k_stop))
    return rects
