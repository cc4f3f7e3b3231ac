"""Run one registered method on a batch and wrap the result in an :class:`Explanation`.

This is the single path from inputs to an explanation shared by
:class:`~tensorlayer_xplain.ModelExplainer` and the figure functions.
"""
import inspect
import time

import numpy as np

from ._utils.map_checks import flag_maps
from .adapter import PREDICTED, ModelAdapter, as_adapter
from .explanation import Explanation
from .methods.costs import check_ranges
from .methods.registry import check_params, method_info

__all__ = ["explain"]

#: Adapter options given to :func:`explain` with the method's parameters: token models (see TokenAdapter).
_TOKEN_OPTIONS = ("embedding_layer", "pad_id")


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


def _is_seq2seq(model, params):
    """An encoder-decoder to explain position by position (see :mod:`tensorlayer_xplain.methods.seq2seq`)."""
    from .adapter._seq2seq import Seq2seqAdapter, is_keras_encoder_decoder, is_seq2seq_model
    from .methods.seq2seq import SEQ2SEQ_PARAMETERS

    inner = model.model if isinstance(model, ModelAdapter) else model
    return (isinstance(model, Seq2seqAdapter) or is_seq2seq_model(inner) or is_keras_encoder_decoder(inner)
            or any(params.get(k) is not None for k in SEQ2SEQ_PARAMETERS))


def explain(model, inputs, method="gradient", targets=None, *, output=None, batch_size=None,
            image_shape=None, max_batch_bytes=None, **params):
    """Explain ``model``'s decisions on ``inputs`` with one registered method.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : array-like, shape (N, *input_shape) or (N, H, W, C)
    method : str
        A name from :func:`available_methods` (aliases allowed).
    targets : None, int, array-like of int (N,), or callable
        Class to explain per input; None explains the predicted class.
    output, batch_size, image_shape, max_batch_bytes
        Passed to the adapter (ignored when ``model`` is already an adapter):
        ``max_batch_bytes`` is the memory budget of one model call (default 1 GiB; see
        :class:`ModelAdapter`, and :class:`~tensorlayer_xplain.adapter.Seq2seqAdapter` for
        encoder-decoders).
    **params
        The method's own parameters. For an encoder-decoder (``tl.models.Seq2seq``,
        ``Seq2seqLuongAttention``, or any model given ``decoder_inputs=`` / ``sos=``):
        ``decoder_inputs``, ``sos``, ``seq_length`` and the rest of
        :func:`~tensorlayer_xplain.methods.seq2seq.explain_seq2seq`.

    Returns
    -------
    Explanation
        ``attributions`` in the shape of ``inputs`` (a
        :class:`~tensorlayer_xplain.methods.seq2seq.Seq2seqExplanation` ``(N, T_out, T_src)``
        for an encoder-decoder).

    Examples
    --------
    >>> exp = explain(model, x_test[:4], 'gradient')
    >>> exp.heatmap().shape
    (4, 28, 28)
    """
    if _is_seq2seq(model, params):
        from .methods.seq2seq import explain_seq2seq

        return explain_seq2seq(model, inputs, method, targets=targets, output=output or "logits",
                               batch_size=batch_size, max_batch_bytes=max_batch_bytes, **params)
    spec = method_info(method)
    token_options = {k: params.pop(k) for k in _TOKEN_OPTIONS if k in params}
    check_ranges(spec.name, dict(params, **({} if batch_size is None else {"batch_size": batch_size})))
    adapter = as_adapter(model, output=output, batch_size=batch_size, image_shape=image_shape,
                         max_batch_bytes=max_batch_bytes, **token_options)
    fn = spec.fn
    if getattr(adapter, "token_inputs", False):
        from .methods.tokens import token_method

        fn = token_method(spec.name)  # the same method on token ids (one score per token)
        check_params(spec.name, params, fn)
    else:
        check_params(spec.name, params)
    if getattr(adapter, "n_inputs", 1) > 1:
        from .methods.multi_input import explain_multi

        return explain_multi(adapter, inputs, method, targets, **params)
    x, batch_shape = adapter.prepare(inputs)
    check_ranges(spec.name, params, adapter.image_shape)  # sizes bounded by the image, now that it is known
    traces = adapter.trace_count
    start = time.perf_counter()
    predictions = None
    if spec.predicts and (targets is None or callable(targets) or adapter.n_classes is not None):
        # the method's own forward pass gives the predictions (and, for None, the predicted class)
        resolved = PREDICTED if targets is None else adapter.resolve_targets(targets, len(x))
    else:
        predictions = adapter.predict(x)
        resolved = adapter.resolve_targets(targets, len(x), predictions)
    call_params = dict(params)
    if batch_size is not None and "batch_size" in inspect.signature(fn).parameters:
        # also honoured when `model` is already an adapter (whose batch size is fixed)
        call_params.setdefault("batch_size", batch_size)
    result = fn(adapter, x, resolved, **call_params)
    attributions, meta = result if isinstance(result, tuple) else (result, {})
    meta = dict(meta)
    scores = meta.pop("scores", None)
    if predictions is None:
        if scores is None:
            raise TypeError("method %r is registered with predicts=True but returned no meta['scores']" % spec.name)
        predictions = np.asarray(scores, np.float32)
        adapter.n_classes = predictions.shape[1]
    if resolved is PREDICTED:
        resolved = np.argmax(predictions, axis=1).astype(np.int32)
    spatial = np.ndim(attributions) == 3 and np.size(attributions) != x.size
    attributions = _to_input_shape(attributions, x, adapter)
    total = time.perf_counter() - start
    if spatial:
        meta.setdefault("spatial", True)  # one value per pixel, repeated over the channels
    meta.update(flag_maps(spec.name, predictions, attributions))  # warns about all-equal outputs, flat maps
    meta.setdefault("signed", spec.signed)
    meta.setdefault("family", spec.family)
    if getattr(adapter, "token_inputs", False):
        meta.setdefault("pad_id", adapter.pad_id)  # figures leave the padding out
    stored_targets = np.full(len(x), -1, np.int32) if callable(resolved) else resolved
    timings = {"total": total, "per_sample": total / len(x)}
    traced = adapter.trace_count - traces
    if traced:
        timings["traces"] = traced  # this call compiled steps: its time includes tracing (see steady_timings)
    return Explanation(
        spec.name,
        attributions.reshape(batch_shape),
        x.reshape(batch_shape),
        stored_targets,
        predictions,
        adapter.image_shape,
        params=params,
        timings=timings,
        meta=meta,
    )


def pick_targets(targets, target_class):
    """Accept the tutorial's ``target_class`` as another name for ``targets``."""
    if target_class is not None:
        if targets is not None:
            raise TypeError("targets: pass either targets or target_class, not both")
        return target_class
    return targets
