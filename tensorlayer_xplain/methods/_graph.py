"""In-graph helpers for the methods' compiled steps.

:func:`in_branches` runs a batch as a few independent sub-batches inside one
compiled step. On CPU, TensorFlow's intra-op parallelism uses the cores poorly
for the small convolutions of typical TL models; independent branches of the
same graph run concurrently (inter-op parallelism) and finish a batch of
integration steps, noise samples or masks faster — the same effect a
hand-written ``tf.range`` loop gets from its parallel iterations. Memory stays
bounded by the batch: the slices are pieces of it.
"""
import tensorflow as tf

__all__ = ["in_branches", "BRANCHES"]

#: Concurrent slices per compiled call of the batched steps (gradients, IG pairs, masked scores).
BRANCHES = 4


def in_branches(fn, *tensors, dtypes=(tf.float32,), branches=None):
    """``fn(*tensors)`` computed on ``branches`` slices of the batch that run concurrently, concatenated.

    The slices go through one ``tf.while_loop`` with ``parallel_iterations=branches``
    (so ``fn`` is traced once), each a contiguous piece of the batch: memory stays
    that of the whole batch.

    Parameters
    ----------
    fn : callable
        Maps batch tensors (same first dimension) to one tensor, or a tuple of
        tensors, each with that first dimension and computed row by row.
    *tensors : tf.Tensor
        Batch tensors, sliced alike.
    dtypes : tuple of tf.DType
        Dtypes of ``fn``'s outputs (one entry: ``fn`` returns a single tensor).
    branches : int, optional
        Number of slices (default :data:`BRANCHES`); a batch smaller than this is
        cut in fewer slices (no slice is empty: some layers cannot take an empty batch).

    Returns
    -------
    tf.Tensor, or tuple of tf.Tensor when ``len(dtypes) > 1``

    Examples
    --------
    >>> in_branches(lambda x: 2.0 * x, tf.range(5.0)).numpy()
    array([0., 2., 4., 6., 8.], dtype=float32)
    """
    branches = BRANCHES if branches is None else int(branches)
    if branches <= 1:
        return fn(*tensors)
    n = tf.shape(tensors[0])[0]
    pieces = tf.minimum(n, branches)

    def body(k, arrays):
        start, stop = (n * k) // pieces, (n * (k + 1)) // pieces
        outs = fn(*(t[start:stop] for t in tensors))
        outs = tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)
        return k + 1, tuple(a.write(k, o) for a, o in zip(arrays, outs))

    arrays = tuple(tf.TensorArray(dt, size=pieces, infer_shape=False) for dt in dtypes)
    _, arrays = tf.while_loop(lambda k, _: k < pieces, body, (tf.constant(0), arrays),
                              parallel_iterations=branches)
    merged = tuple(a.concat() for a in arrays)
    return merged if len(dtypes) > 1 else merged[0]
