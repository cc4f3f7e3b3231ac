"""Axiomatic metrics that call the model: completeness (Sundararajan et al., 2017)."""
import numpy as np

from ._maps import prepare_rows
from ._model_inputs import model_setup, target_outputs
from .registry import register_metric, scored

__all__ = ["completeness"]

BASELINES = ("black", "zeros", "white")


@register_metric("completeness", direction="lower", family="axiomatic")
def completeness(attributions, model=None, inputs=None, targets=None, baseline="black", abs=False, normalise=False,
                 batch_size=None):
    """Completeness gap: ``|sum(a) - (f(x) - f(baseline))|`` per input; 0 for a complete attribution.

    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks",
    ICML. ``f`` is the adapter's output of the explained class (logits by
    default, as Quantus with ``softmax=False``). Two model calls per input, both
    batched (inputs and baselines stacked). Lower is better.

    Differences from ``quantus.Completeness`` (0.6.0): Quantus returns the bool
    ``sum(a) == f(x) - f(baseline)`` (exact float equality, almost always False)
    and by default normalises the attributions by their maximum first
    (``normalise=True``), which changes the sum the axiom is about. Here the gap
    is returned, unnormalised; Quantus's answer is ``scores == 0`` with
    ``normalise='batch'``.

    Parameters
    ----------
    attributions : Explanation or ndarray, shape (N, ...)
        An explanation (its inputs and targets are used) or attributions with the
        inputs' shape.
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : ndarray, shape (N, ...), optional
        Required with an attributions array.
    targets : int or ndarray (N,), optional
        Explained classes (an Explanation brings its own).
    baseline : {'black', 'zeros', 'white'} or float
        The reference input: 'black' is each input's minimum (Quantus's
        ``perturb_baseline='black'``), 'white' its maximum, 'zeros' 0.
    abs, normalise : bool
        Quantus's preprocessing of the attributions (both off by default here).
    batch_size : int, optional
        Inputs per model call.

    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'integrated_gradients', steps=128)    # doctest: +SKIP
    >>> tlxp.metrics.completeness(exp, model=model).scores.max() < 1e-2       # doctest: +SKIP
    True
    """
    adapter, x, targets, attr, method = model_setup("completeness", attributions, model, inputs, targets)
    flat = x.reshape(len(x), -1)
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError("baseline: expected one of %s or a number, got %r" % (BASELINES, baseline))
        value = {"black": flat.min(axis=1), "white": flat.max(axis=1), "zeros": np.zeros(len(x))}[baseline]
    elif isinstance(baseline, (int, float, np.number)) and not isinstance(baseline, bool):
        value = np.full(len(x), float(baseline))
    else:
        raise TypeError("baseline: expected one of %s or a number, got %r" % (BASELINES, baseline))
    base = np.broadcast_to(value.astype(np.float32)[:, None], flat.shape).reshape(x.shape)
    outputs = target_outputs(adapter, np.concatenate([x, base]), np.concatenate([targets, targets]), batch_size)
    delta = outputs[:len(x)] - outputs[len(x):]
    rows = prepare_rows(attr, abs, normalise)
    return scored("completeness", np.abs(rows.sum(axis=1) - delta), method, baseline=baseline, abs=abs,
                  normalise=normalise)
