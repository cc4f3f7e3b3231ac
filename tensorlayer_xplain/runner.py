"""Run one registered method on a batch and wrap the result in an :class:`Explanation`.

This is the single path from inputs to an explanation shared by
:class:`~tensorlayer_xplain.ModelExplainer` and the figure functions.
"""
import time

import numpy as np

from .adapter import as_adapter
from .explanation import Explanation
from .methods.registry import check_params, method_info

__all__ = ["explain"]


def _to_input_shape(attributions, x, adapter):
    """Bring a method's output to the model-input shape of ``x``."""
    attributions = np.asarray(attributions, dtype=np.float32)
    if attributions.size == x.size:
        return attributions.reshape(x.shape)
    h, w, c = adapter.image_shape
    if attributions.shape == (len(x), h, w):
        # spatial map (e.g. CAM): one value per pixel, shared by every channel
        return np.broadcast_to(attributions[..., None], (len(x), h, w, c)).reshape(x.shape).copy()
    raise ValueError(
        "method returned attributions of shape %s; expected %s or spatial (%d, %d, %d)"
        % (attributions.shape, x.shape, len(x), h, w)
    )


def explain(model, inputs, method="gradient", targets=None, *, output=None, batch_size=None,
            image_shape=None, **params):
    """Explain ``model``'s decisions on ``inputs`` with one registered method.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : array-like, shape (N, *input_shape) or (N, H, W, C)
    method : str
        A name from :func:`available_methods` (aliases allowed).
    targets : None, int, array-like of int (N,), or callable
        Class to explain per input; None explains the predicted class.
    output, batch_size, image_shape
        Passed to the adapter (ignored when ``model`` is already an adapter).
    **params
        The method's own parameters.

    Returns
    -------
    Explanation
        ``attributions`` in the shape of ``inputs``.

    Examples
    --------
    >>> exp = explain(model, x_test[:4], 'gradient')      # doctest: +SKIP
    >>> exp.heatmap().shape                              # doctest: +SKIP
    (4, 28, 28)
    """
    spec = method_info(method)
    check_params(spec.name, params)
    adapter = as_adapter(model, output=output, batch_size=batch_size, image_shape=image_shape)
    if getattr(adapter, "n_inputs", 1) > 1:
        from .multi_input import explain_multi

        return explain_multi(adapter, inputs, method, targets, **params)
    x, batch_shape = adapter.prepare(inputs)
    start = time.perf_counter()
    predictions = adapter.predict(x)
    resolved = adapter.resolve_targets(targets, len(x), predictions)
    call_params = dict(params)
    if batch_size is not None and "batch_size" in spec.parameters:
        # also honoured when `model` is already an adapter (whose batch size is fixed)
        call_params.setdefault("batch_size", batch_size)
    result = spec.fn(adapter, x, resolved, **call_params)
    attributions, meta = result if isinstance(result, tuple) else (result, {})
    spatial = np.ndim(attributions) == 3 and np.size(attributions) != x.size
    attributions = _to_input_shape(attributions, x, adapter)
    total = time.perf_counter() - start
    meta = dict(meta)
    if spatial:
        meta.setdefault("spatial", True)  # one value per pixel, repeated over the channels
    meta.setdefault("signed", spec.signed)
    meta.setdefault("family", spec.family)
    stored_targets = np.full(len(x), -1, np.int32) if callable(resolved) else resolved
    return Explanation(
        spec.name,
        attributions.reshape(batch_shape),
        x.reshape(batch_shape),
        stored_targets,
        predictions,
        adapter.image_shape,
        params=params,
        timings={"total": total, "per_sample": total / len(x)},
        meta=meta,
    )
