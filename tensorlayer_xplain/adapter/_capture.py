"""Capture: recording layer outputs during a forward pass, and their gradients, in a compiled step."""
import contextlib
from collections import namedtuple

import numpy as np
import tensorflow as tf

from ._common import temporarily_set

CaptureResult = namedtuple("CaptureResult", ["outputs", "gradients", "scores", "combined"], defaults=(None,))
CaptureResult.__doc__ = """What :meth:`ModelAdapter.capture` returns.

outputs : dict of str -> ndarray
    Each requested layer's output for the whole batch.
gradients : dict of str -> ndarray or None
    d score[target] / d layer output, same shapes as ``outputs`` (None unless asked).
scores : ndarray, shape (N, K)
    The model's scores (logits or probabilities, as the adapter's ``output``).
combined : ndarray or None
    What ``capture(..., combine=fn)`` computed from the outputs and gradients in the graph.
"""


def forward_attr(adapter):
    return "call" if adapter.kind == "keras" else "forward"


@contextlib.contextmanager
def recording(adapter, layers, records, order=None):
    """Wrap each layer's forward so its output lands in ``records[name]``; restore after."""
    attr = adapter._forward_attr()
    with contextlib.ExitStack() as stack:
        for layer in layers:
            original = getattr(layer, attr)

            def recorder(*args, _original=original, _name=layer.name, **kwargs):
                out = _original(*args, **kwargs)
                records[_name] = out
                if order is not None and _name not in order:
                    order.append(_name)
                return out

            stack.enter_context(temporarily_set(layer, attr, recorder))
        yield


def capture(adapter, inputs, layer_names, targets=None, gradients=False, batch_size=None, combine=None):
    """Intermediate outputs of named layers (and gradients of the target w.r.t. them).

    The layers' ``forward`` methods are wrapped only while the compiled step is
    traced, and restored in ``finally``: the model is unchanged afterwards,
    also when the forward pass raises.

    Parameters
    ----------
    inputs : ndarray, shape (N, *input_shape)
    layer_names : str or list of str
    targets : array of int (N,) or callable, optional
        Needed when ``gradients=True``.
    gradients : bool
        Also return d score[target] / d layer output.
    combine : callable, optional
        ``combine(outputs, grads) -> tf.Tensor`` with one row per input, on the
        lists of captured tensors (one per layer), evaluated inside the compiled
        step (e.g. a CAM: no copy of the activations out of the graph). Its
        result is ``combined``; ``outputs`` and ``gradients`` are then None. One
        trace per ``combine`` object: reuse the same function for the same work.

    Returns
    -------
    CaptureResult
        ``outputs`` and ``gradients`` dicts keyed by layer name, ``scores`` (N, K),
        and ``combined`` when ``combine`` is given.

    Examples
    --------
    >>> name = [n for n in adapter.layer_names() if n.startswith('conv2d')][0]
    >>> res = adapter.capture(x, [name], targets=t, gradients=True)
    >>> res.outputs[name].shape == res.gradients[name].shape
    True
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    if not names:
        raise ValueError("layer_names: expected at least one layer name, got an empty list")
    layers = [adapter.layer(name) for name in names]
    x, _ = adapter.prepare(inputs)
    if gradients and targets is None:
        raise ValueError("targets: needed to capture gradients, got None")
    fn_targets = callable(targets)
    t = np.zeros(len(x), np.int32) if (fn_targets or targets is None) else adapter.resolve_targets(targets, len(x))

    def step(xb, tb):
        records = {}
        with adapter._recording(layers, records):
            with tf.GradientTape() as tape:
                tape.watch(xb)  # so an input layer's output (x itself) has a gradient too
                scores = adapter.scores(xb)
                selected = adapter.select(scores, targets if fn_targets else tb) if gradients else None
        missing = [n for n in names if n not in records]
        if missing:
            raise KeyError("layer_names: layers %s were not called in the forward pass" % missing)
        outs = [records[n] for n in names]
        if isinstance(outs[0], (list, tuple)):
            raise TypeError("layer_names: layer %r returns several tensors; capture needs one" % names[0])
        grads = tape.gradient(selected, outs) if gradients else []
        for name, grad in zip(names, grads):
            if grad is None:
                raise ValueError("layer_names: the target score does not depend on the output of layer %r "
                                 "(no gradient); pick a layer on the path to the output" % name)
        if combine is not None:
            return scores, [combine(outs, grads)], []
        return scores, outs, grads

    from ._compile import concrete  # (no binding of arguments per call)

    key = ("capture", tuple(names), gradients, adapter._target_key(targets), combine)
    compiled = adapter.compiled(key, step, n_extra=1, rows=(0, 1))

    def run(xb, tb):
        scores, outs, grads = concrete(compiled)(tf.constant(xb), tf.constant(tb))
        return tuple([scores.numpy()] + [o.numpy() for o in outs] + [g.numpy() for g in grads])

    with adapter.inference_mode():
        merged = adapter.map_batches(run, x, t, batch_size=adapter.batch_rows(batch_size, backward=gradients))
    if combine is not None:
        return CaptureResult(None, None, merged[0], merged[1])
    k = len(names)
    outputs = dict(zip(names, merged[1:1 + k]))
    grads = dict(zip(names, merged[1 + k:])) if gradients else None
    return CaptureResult(outputs, grads, merged[0])
