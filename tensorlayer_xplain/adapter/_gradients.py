"""Differentiation: gradients of the selected score with respect to the input, in a step and batched."""
import numpy as np
import tensorflow as tf


def differentiate(adapter, xb, targets, return_scores=False):
    """``(d selected / d xb, selected)`` for a batch tensor, for use inside compiled steps.

    Parameters
    ----------
    xb : tf.Tensor, shape (B, *input_shape)
    targets : tf.Tensor of int (B,) or callable
        As :meth:`select` takes them.
    return_scores : bool
        Also return every class's score from the same forward pass.

    Returns
    -------
    grads : tf.Tensor, shape (B, *input_shape)
    selected : tf.Tensor, shape (B,)
    scores : tf.Tensor, shape (B, K), only when ``return_scores``.

    Examples
    --------
    >>> with adapter.inference_mode():
    ...     grads, selected = adapter.differentiate(tf.constant(x), tf.constant(t))
    """
    with tf.GradientTape() as tape:
        tape.watch(xb)
        scores = adapter.scores(xb)
        selected = adapter.select(scores, targets)
    grads = tape.gradient(selected, xb)
    if grads is None:
        raise TypeError("model: the output is not differentiable with respect to the input")
    return (grads, selected, scores) if return_scores else (grads, selected)


def gradients(adapter, inputs, targets, batch_size=None, return_scores=False):
    """d score[target] / d input, batched and compiled.

    Parameters
    ----------
    inputs : ndarray, shape (N, *input_shape)
    targets : array of int (N,) or callable
        As returned by :meth:`resolve_targets`.
    return_scores : bool
        Also return the selected scores ``(N,)``.

    Returns
    -------
    grads : ndarray, float32, shape (N, *input_shape)
    selected : ndarray (N,), only when ``return_scores``.
    """
    x, _ = adapter.prepare(inputs)
    fn_targets = callable(targets)
    t = np.zeros(len(x), np.int32) if fn_targets else adapter.resolve_targets(targets, len(x))

    def step(xb, tb):
        return adapter.differentiate(xb, targets if fn_targets else tb)

    compiled = adapter.compiled(("gradients", adapter._target_key(targets)), step, n_extra=1, rows=(0, 1))
    with adapter.inference_mode():
        grads, selected = adapter.map_batches(
            lambda xb, tb: tuple(v.numpy() for v in compiled(tf.constant(xb), tf.constant(tb))),
            x, t, batch_size=adapter.batch_rows(batch_size, backward=True),
        )
    return (grads, selected) if return_scores else grads
