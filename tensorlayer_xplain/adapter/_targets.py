"""Target resolution: what to explain per sample (class indices, a callable, PREDICTED) and picking its score."""
import numpy as np
import tensorflow as tf

from ._common import _describe


class _PredictedClass:
    """The type of :data:`PREDICTED`."""

    def __repr__(self):
        return "PREDICTED"


#: Target marker: explain each input's predicted class, found inside the compiled step from the same
#: forward pass that is differentiated (no separate prediction pass). ``resolve_targets(PREDICTED, n)``
#: gives ``-1`` per row, and :meth:`ModelAdapter.select` picks the arg-max score for negative rows.
PREDICTED = _PredictedClass()


def resolve_targets(adapter, targets, n, predictions=None, name="targets"):
    """Turn a target specification into one class index per sample (or a callable).

    Parameters
    ----------
    targets : None, int, array-like of int, or callable
        None means the predicted class (``predictions`` must then be given);
        a callable maps the score tensor ``(N, K)`` to one value per sample.
    n : int
        Batch size.
    predictions : ndarray (N, K), optional

    Returns
    -------
    ndarray of int32, shape (N,), or the callable.
    """
    if callable(targets):
        return targets
    if targets is PREDICTED:
        return np.full(n, -1, np.int32)
    if targets is None:
        if predictions is None:
            raise ValueError("%s: None (the predicted class) needs the model's predictions" % name)
        return np.argmax(predictions, axis=1).astype(np.int32)
    t = np.asarray(targets)
    if t.dtype == object or not (np.issubdtype(t.dtype, np.integer) or t.dtype == bool):
        if np.issubdtype(t.dtype, np.floating) and np.all(np.mod(t, 1) == 0):
            t = t.astype(np.int64)
        else:
            raise TypeError("%s: expected None, an int, a sequence of ints or a callable, got %s"
                            % (name, _describe(targets)))
    if t.ndim == 0 or t.shape == (1,):
        t = np.full(n, int(t.reshape(-1)[0]))
    if t.shape != (n,):
        raise ValueError("%s: expected one class index per input (%d), got shape %s" % (name, n, t.shape))
    n_classes = adapter.n_classes if predictions is None else predictions.shape[1]
    if n_classes is None and (t < 0).any():  # negative rows would mean PREDICTED to select()
        raise ValueError("%s: class index %d is out of range (expected 0..K-1)" % (name, int(t[t < 0][0])))
    if n_classes is not None:
        bad = (t < 0) | (t >= n_classes)
        if bad.any():
            raise ValueError(
                "%s: class index %d is out of range for a model with %d outputs (expected 0..%d)"
                % (name, int(t[bad][0]), n_classes, n_classes - 1)
            )
    return t.astype(np.int32)


def select(scores, targets):
    """Pick one score per sample: ``scores[i, targets[i]]`` or ``targets(scores)``.

    A negative ``targets[i]`` (see :data:`PREDICTED`) picks the sample's largest score.
    """
    if callable(targets):
        return tf.reshape(targets(scores), (-1,))
    targets = tf.cast(targets, tf.int32)
    targets = tf.where(targets < 0, tf.argmax(scores, axis=-1, output_type=tf.int32), targets)
    return tf.gather(scores, targets, batch_dims=1)


def target_key(adapter, targets):
    return ("fn", targets) if callable(targets) else "index"
