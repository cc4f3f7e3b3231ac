"""The compiled input-gradient step (plain or through guided ReLUs) that the gradient methods share.

Gradients come from steps compiled once per adapter (:meth:`ModelAdapter.compiled`);
a block of rows is walked through in pieces inside the graph (:mod:`._graph`).
Guided backprop swaps the model's ReLU activations for :func:`guided_relu` only
while the step is traced.
"""
import contextlib

import numpy as np
import tensorflow as tf

from ...adapter import temporarily_set
from .blocks import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks

__all__ = ["input_gradients", "relu_sites", "guided_relu"]


def _differentiate(adapter, targets, fn_targets, inputs, tb, return_scores=False):
    """``(d selected / d inputs, selected[, scores])`` for a tensor of model inputs."""
    return adapter.differentiate(inputs, targets if fn_targets else tb, return_scores)


def _gradient_step(adapter, targets, sites=(), looped=True):
    """Compiled ``(d score[target] / d input, scores)`` for a block of rows.

    ``looped`` steps walk through the block in pieces inside the graph
    (:func:`~._graph.in_pieces`); the plain variant takes the block as one batch
    (used when it fits in a piece: no loop overhead). ``sites`` (``[(layer, attr)]``)
    are ReLU activations swapped for :func:`guided_relu` while the step is traced
    (guided backprop); the model is restored before the call returns. The scores
    ``(B, K)`` come from the same forward pass (they are the explanation's
    predictions; negative targets pick the arg-max in the graph, see
    :data:`~tensorlayer_xplain.adapter.PREDICTED`). One trace per (adapter,
    variant, target kind).
    """
    fn_targets = callable(targets)

    def grads_of(x_, t_):
        grads, _, scores = _differentiate(adapter, targets, fn_targets, x_, t_, return_scores=True)
        return grads, scores

    def step(xb, tb, piece):
        with _guided_relus(sites):
            if looped:
                return in_pieces(grads_of, piece, xb, tb, dtypes=(tf.float32, tf.float32))
            return grads_of(xb, tb)

    key = ("input_gradients", "guided" if sites else "plain", looped, adapter._target_key(targets))
    return adapter.compiled(key, step, extra_dtypes=[tf.TensorSpec((None,), tf.int32), PIECE_SPEC], rows=(0, 1))


def input_gradients(adapter, x, targets, batch_size=None, sites=(), return_scores=False):
    """Gradients of the target scores w.r.t. a prepared batch ``x`` (N, *input_shape).

    The same values as :meth:`ModelAdapter.gradients`, computed in large compiled
    calls that loop over pieces of ``batch_size // PARALLEL`` rows in the graph
    (:func:`~._graph.in_pieces`); a batch that fits in one piece skips the loop.
    ``sites`` turns it into guided backprop. ``return_scores`` also returns the
    model's scores ``(N, K)`` from the same forward pass.
    """
    x = np.asarray(x, np.float32)
    batch_size = adapter.batch_rows(batch_size, backward=True)
    piece = piece_rows(batch_size)
    looped = len(x) > piece
    compiled = _gradient_step(adapter, targets, tuple(sites), looped)
    t = np.zeros(len(x), np.int32) if callable(targets) else adapter.resolve_targets(targets, len(x))
    if not looped:
        with adapter.inference_mode():
            grads, scores = (v.numpy() for v in concrete(compiled)(tf.constant(x), tf.constant(t),
                                                                   tf.constant(piece)))
        return (grads, scores) if return_scores else grads
    out, scores = np.empty_like(x), {}

    def call(start, stop, piece):
        grads, rows = step(tf.constant(x[start:stop]), tf.constant(t[start:stop]), tf.constant(piece))
        out[start:stop] = grads.numpy()
        scores[start] = rows.numpy()  # a retried block overwrites its own entry

    with adapter.inference_mode():
        step = concrete(compiled)
        run_blocks(len(x), block_rows(batch_size, row_bytes(x)), piece, call)
    return (out, np.concatenate([scores[k] for k in sorted(scores)])) if return_scores else out



# ----------------------------------------------------------------------------- guided backprop
def _relu_functions():
    """The ReLU functions a layer may hold as its activation (TL: ``layer.act``; Keras: ``layer.activation``)."""
    found = [tf.nn.relu, tf.keras.activations.relu]
    try:
        import keras

        found += [keras.activations.relu, keras.ops.relu]
    except (ImportError, AttributeError):  # pragma: no cover - other Keras versions
        pass
    return tuple(found)


_ACTIVATION_ATTRS = ("act", "activation")


def _is_relu(fn, relus):
    return fn is not None and any(fn is r or getattr(fn, "__wrapped__", None) is r for r in relus)


def relu_sites(adapter):
    """``[(layer, attribute)]`` of every layer whose activation is a ReLU."""
    relus = _relu_functions()
    return [
        (layer, attr)
        for layer in adapter.iter_layers()
        for attr in _ACTIVATION_ATTRS
        if _is_relu(vars(layer).get(attr), relus)
    ]


@tf.custom_gradient
def _guided_relu_op(x):
    y = tf.nn.relu(x)

    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

    return y, grad


def guided_relu(x, *args, **kwargs):
    """ReLU whose gradient passes only positive gradients through positive inputs (guided backprop)."""
    return _guided_relu_op(x)


@contextlib.contextmanager
def _guided_relus(sites):
    """Swap every ReLU activation for :func:`guided_relu` for the block; restore exactly after."""
    with contextlib.ExitStack() as stack:
        for layer, attr in sites:
            stack.enter_context(temporarily_set(layer, attr, guided_relu))
        yield
