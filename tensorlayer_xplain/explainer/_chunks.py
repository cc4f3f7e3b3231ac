"""How :meth:`~tensorlayer_xplain.ModelExplainer.explain` cuts inputs into chunks and joins their results."""
import itertools

import numpy as np

from ..explanation import Explanation
from ..scale.chunking import iter_chunks

__all__ = ["is_stream", "n_inputs", "chunks", "explain_chunks"]


def is_stream(inputs):
    """True for a ``tf.data.Dataset`` or a generator/iterator of batches (not an array)."""
    if isinstance(inputs, (np.ndarray, list, tuple, Explanation)) or hasattr(inputs, "shape"):
        return False
    return hasattr(inputs, "__iter__")


def n_inputs(adapter, inputs):
    """Samples in ``inputs``: its first dimension, or 1 for a single sample without a batch dimension."""
    shape = tuple(np.shape(inputs))
    if adapter.input_shape is None or not shape:
        return shape[0] if shape else 1
    samples = {adapter.input_shape, adapter.image_shape}
    if adapter.image_shape[-1] == 1:
        samples.add(adapter.image_shape[:-1])
    return 1 if shape in samples else max(1, shape[0])


def _check_finite(x, start):
    """NaN/inf in a streamed batch, reported at its index in the whole stream (``start`` samples came before)."""
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))
        index = (start + int(bad[0][0]),) + tuple(int(i) for i in bad[0][1:]) if x.ndim else (start,)
        raise ValueError("inputs: expected finite values, got %d NaN/inf entries in the streamed batch starting at "
                         "sample %d (first at index %s of the stream)" % (len(bad), start, index))


def chunks(adapter, inputs, targets):
    """Yield ``(x, targets)`` pieces of ``adapter.batch_size`` samples from arrays or datasets.

    The pieces come from the package's one chunker (:func:`~tensorlayer_xplain.scale.chunking.iter_chunks`):
    a dataset's batches are re-cut to ``batch_size`` whatever their own size (labels in
    ``(x, y)`` elements are not used here).
    """
    if not is_stream(inputs):
        x = inputs.numpy() if hasattr(inputs, "numpy") else np.asarray(inputs)
        if not (x.ndim and len(x) > adapter.batch_size and x.ndim > len(adapter.input_shape or ())):
            yield x, targets  # one piece (or a single sample without a batch dimension)
            return
        inputs = x
    per_row = isinstance(targets, (np.ndarray, list)) and np.ndim(targets)
    for chunk in iter_chunks(inputs, adapter.batch_size):
        _check_finite(chunk.x, chunk.start)
        yield chunk.x, (targets[chunk.start:chunk.start + len(chunk.x)] if per_row else targets)


def explain_chunks(pieces, explain_one, name, progress=None):
    """``explain_one(x, t)`` of one piece as is, of several concatenated (with a tqdm bar named ``name``)."""
    first = next(pieces, None)
    if first is None:
        raise ValueError("inputs: expected at least one batch, got an empty dataset or iterator")
    second = next(pieces, None)
    if second is None:
        return explain_one(*first)
    from tqdm.auto import tqdm

    parts = []
    bar = tqdm(desc=name, unit="batch", disable=None if progress is None else not progress, leave=False)
    try:
        for x, t in itertools.chain([first, second], pieces):
            parts.append(explain_one(x, t))
            bar.update()
    finally:
        bar.close()
    return Explanation.concatenate(parts)
