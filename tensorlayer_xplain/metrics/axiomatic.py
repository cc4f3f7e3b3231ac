"""Axiomatic metrics that call the model: completeness, non-sensitivity, input invariance."""
import numbers
import warnings

import numpy as np

from .._utils.docstrings import shared_docstring
from ..adapter import ModelAdapter
from ._common import _check_int
from ._maps import prepare_rows
from ._model_inputs import model_outputs, model_setup, perturbed_outputs, reexplain, target_outputs
from .faithfulness_curves import _fill, _setup_curve
from .registry import register_metric, scored
from .robustness import reexplain_setup

__all__ = ["completeness", "non_sensitivity", "input_invariance"]

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
    >>> exp = tlxp.explain(model, x[:8], 'integrated_gradients', steps=128)
    >>> bool(tlxp.metrics.completeness(exp, model=model).scores.max() < 1e-2)
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


def _check_number(name, value, minimum=None):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)) or not np.isfinite(value) \
            or (minimum is not None and value < minimum):
        bound = "" if minimum is None else " >= %g" % minimum
        raise ValueError("%s: expected a finite number%s, got %r" % (name, bound, value))
    return float(value)


@register_metric("non_sensitivity", direction="lower", family="axiomatic")
@shared_docstring
def non_sensitivity(attributions, model=None, inputs=None, targets=None, eps=1e-5, features_in_step=1,
                    perturb_baseline="black", abs=True, normalise=True, softmax=True, batch_size=None):
    """Non-sensitivity: how many features break "zero attribution if and only if the output ignores the feature".

    Nguyen & Rodriguez Martinez (2020), "On Quantitative Aspects of Model
    Interpretability"; ``quantus.NonSensitivity``. Each group of
    ``features_in_step`` input values (in input order) is set to the baseline
    alone; the group counts as a violation when the output (softmax probability
    of the explained class) changes by less than ``eps`` but the attribution is
    not below ``eps``, or the other way round. The score is the number of
    violations per input: 0 for a map that is zero exactly where the model
    does not look. Lower is better. ``ceil(D / features_in_step)`` model calls per
    input, all batched.

    Quantus 0.6.0 compares value by value and fails for ``features_in_step >
    1`` (its arrays do not broadcast); here a group is a non-feature when all
    its attributions are below ``eps`` (the same at 1).

    Parameters
    ----------
    %(metric_attributions)s
    eps : float
        Threshold for "no attribution" and "no change" (Quantus's default 1e-5).
    features_in_step : int
        Input values perturbed together (Quantus's default 1).
    perturb_baseline : {'black', 'white', 'mean'} or float
        What a perturbed group becomes (Quantus's default 'black', each input's
        minimum: a value already at the minimum is not changed by it).
    %(metric_preprocess)s
        Quantus's defaults: ``abs=True``, ``normalise=True``.
    %(metric_softmax)s
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) counts of violations, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.non_sensitivity(exp, model=model, features_in_step=4).scores   # doctest: +IGNORE_RESULT
    """
    adapter, x, flat, targets, rows, method = _setup_curve("non_sensitivity", attributions, model, inputs, targets,
                                                           abs, normalise)
    n, d = flat.shape
    eps = _check_number("eps", eps, 0.0)
    step = _check_int("features_in_step", features_in_step, 1)
    if step > d:
        raise ValueError("features_in_step: expected at most the %d input values, got %d" % (d, step))
    fill = _fill(flat, perturb_baseline)
    n_steps = -(-d // step)
    group = np.arange(d) // step

    def build(start, k):
        return np.where(group[None, None] == np.arange(start, start + k)[:, None, None], fill[None, :, None],
                        flat[None])

    y = model_outputs(adapter, x, softmax, batch_size)[np.arange(n), targets]
    unchanged = np.abs(perturbed_outputs(adapter, x, n_steps, build, batch_size, softmax=softmax, targets=targets)
                       - y[:, None]) < eps
    ignored = np.pad(rows < eps, ((0, 0), (0, n_steps * step - d)), constant_values=True)
    ignored = ignored.reshape(n, n_steps, step).all(axis=2)
    return scored("non_sensitivity", (unchanged ^ ignored).sum(axis=1), method, eps=eps, features_in_step=step,
                  perturb_baseline=perturb_baseline)


@register_metric("input_invariance", direction="higher", family="axiomatic")
@shared_docstring
def input_invariance(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                     input_shift=-1.0, atol=1e-4, abs=False, normalise=False, batch_size=None):
    """Input invariance: is the map unchanged for a model that absorbs a constant shift of its input?

    Kindermans et al. (2019), "The (Un)reliability of Saliency Methods",
    Explainable AI (LNCS 11700); ``quantus.InputInvariance``. The shifted model
    ``g(z) = f(z - input_shift)`` gives on ``x + input_shift`` exactly the
    outputs ``f`` gives on ``x``; a method is input invariant when it explains
    ``g`` at ``x + input_shift`` with the map it gave for ``f`` at ``x``. The
    gradient is (the shift does not change it); gradient x input and integrated
    gradients with a zero baseline are not (the input is in their formula).
    Score 1 when every value agrees within ``atol`` (``np.isclose``), else 0.
    Higher is better. One re-explanation per input, all batched.

    Difference from Quantus 0.6.0: Quantus shifts the bias of the model's first
    layer (``add_mean_shift_to_first_layer``, Keras and PyTorch models whose first
    layer has a bias; on Keras 3 models it fails in 0.6.0); here the shift is
    subtracted in front of the model, which
    is the same function for any model, TensorLayer included. A method that
    reads the model's layers (CAM family) cannot see through that wrapper: its
    scores are NaN, with a warning.

    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    input_shift : float
        The constant added to every input value (Quantus's default -1).
    atol : float
        Absolute tolerance of the comparison (Quantus's 1e-4; relative 1e-5 as
        ``np.isclose``). The float32 shift rounds the input (``(x + s) - s``
        differs from ``x`` by ~3e-8), which a deep model can amplify past 1e-4
        (VGG16 with random weights: 4.5e-4 on gradients): raise it there.
    %(metric_preprocess)s
        Both off by default, as Quantus.
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in {0, 1}, ``direction`` 'higher'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.input_invariance(exp, model=model).scores   # doctest: +IGNORE_RESULT
    array([1., 1., 1., 1., 1., 1., 1., 1.])
    """
    shift = _check_number("input_shift", input_shift)
    atol = _check_number("atol", atol, 0.0)
    adapter, x, targets, attr, method, params = reexplain_setup("input_invariance", attributions, model, inputs,
                                                                targets, method, method_params)
    if adapter.output == "probabilities":
        raise ValueError("model: input_invariance shifts the model's logits path; pass the model (or an adapter "
                         "with output='logits'), got an adapter with output='probabilities'")

    def shifted_model(z):
        return adapter.scores(z - shift)

    shifted = ModelAdapter(shifted_model, input_shape=adapter.input_shape, image_shape=adapter.image_shape)
    try:
        with adapter.inference_mode():
            exp = reexplain(shifted, x + np.float32(shift), method, targets, batch_size, **params)
    except TypeError as error:
        if "plain callable" not in str(error):
            raise
        warnings.warn("input_invariance: %s reads the model's layers and cannot explain the shifted model "
                      "(a function in front of the model): scores are NaN" % method, RuntimeWarning, stacklevel=2)
        return scored("input_invariance", np.full(len(x), np.nan), method, input_shift=shift, atol=atol)
    rows = prepare_rows(attr, abs, normalise)
    other = prepare_rows(np.asarray(exp.attributions, np.float64).reshape(len(x), -1), abs, normalise)
    return scored("input_invariance", np.isclose(rows, other, atol=atol).all(axis=1).astype(np.float64), method,
                  input_shift=shift, atol=atol)
