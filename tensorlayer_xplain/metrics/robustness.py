"""Robustness metrics: max- and avg-sensitivity (Yeh et al., 2019), re-explaining noisy inputs in batches."""
import numbers
import warnings

import numpy as np

from .._utils.docstrings import shared_docstring
from ._common import _check_int, _check_seed
from ._maps import prepare_rows
from ._model_inputs import model_setup, reexplain, rerun_method, step_chunks
from .registry import METRICS, register_metric, scored

__all__ = ["max_sensitivity", "avg_sensitivity"]


def check_bounds(lower_bound, upper_bound):
    """Quantus's uniform noise bounds: ``U(-lower, lower)``, or ``U(lower, upper)`` when ``upper_bound`` is given."""
    for name, value in (("lower_bound", lower_bound), ("upper_bound", upper_bound)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number))
                                  or not np.isfinite(value) or value < 0):
            raise ValueError("%s: expected a finite number >= 0, got %r" % (name, value))
    if upper_bound is not None and upper_bound <= lower_bound:
        raise ValueError("upper_bound: expected more than lower_bound=%r, got %r" % (lower_bound, upper_bound))
    return (-lower_bound, lower_bound) if upper_bound is None else (lower_bound, upper_bound)


def reexplain_setup(metric, attributions, model, inputs, targets, method, method_params):
    """``(adapter, x, targets, attributions (N, D), method, params)`` of a metric that re-explains inputs."""
    adapter, x, targets, attr, exp_method = model_setup(metric, attributions, model, inputs, targets)
    method, params = rerun_method(metric, attributions, method, method_params, exp_method)
    return adapter, x, targets, attr, method, params


def prepare_copies(attr, abs, normalise):
    """Quantus's preprocessing of re-explained copies ``(k, N, D)``: 'batch' normalises each copy's batch of N."""
    k, n, d = attr.shape
    if normalise == "batch":
        return np.stack([prepare_rows(block, abs, normalise) for block in attr])
    return prepare_rows(attr.reshape(k * n, d), abs, normalise).reshape(k, n, d)


def noisy_explanations(adapter, x, targets, method, params, nr_samples, noise, batch_size):
    """Re-explain ``nr_samples`` noisy copies of every input, the copies of all inputs stacked per call.

    ``noise(k) -> (k, N, *input_shape)`` draws the noise of ``k`` copies (called
    in copy order, so a seeded stream gives Quantus's sample-by-sample draws).
    Yields ``(start, noisy (k, N, D) float64, attributions (k, N, D) float64,
    outputs (k, N, K))`` chunk by chunk, memory bounded by
    :data:`~._model_inputs.MAX_VALUES_PER_CALL`.
    """
    n = len(x)
    for start, k in step_chunks(nr_samples, n, x[0].size):
        noisy = x[None].astype(np.float64) + noise(k)
        stacked = noisy.astype(np.float32).reshape((k * n,) + x.shape[1:])  # sample-major
        exp = reexplain(adapter, stacked, method, np.tile(targets, k), batch_size, **params)
        yield (start, noisy.reshape(k, n, -1), np.asarray(exp.attributions, np.float64).reshape(k, n, -1),
               np.asarray(exp.predictions, np.float64).reshape(k, n, -1))


def _sensitivities(metric, attributions, model, inputs, targets, method, method_params, nr_samples, lower_bound,
                   upper_bound, abs, normalise, seed, batch_size, return_nan_when_prediction_changes):
    nr_samples = _check_int("nr_samples", nr_samples, 1)
    low, high = check_bounds(lower_bound, upper_bound)
    seed = _check_seed(seed)
    adapter, x, targets, attr, method, params = reexplain_setup(metric, attributions, model, inputs, targets, method,
                                                                method_params)
    rows = prepare_rows(attr, abs, normalise)
    denominator = np.linalg.norm(rows, axis=1)
    # numpy's legacy stream: the draws of np.random.seed(seed) then Quantus's one (N, D) draw per sample
    rng = np.random.RandomState(seed)
    original = np.argmax(adapter.predict(x, batch_size=batch_size), axis=1) if return_nan_when_prediction_changes \
        else None
    out = np.empty((len(x), nr_samples), np.float64)
    for start, _, perturbed, outputs in noisy_explanations(adapter, x, targets, method, params, nr_samples,
                                                           lambda k: rng.uniform(low, high, (k,) + x.shape),
                                                           batch_size):
        diff = np.linalg.norm(prepare_copies(perturbed, abs, normalise) - rows[None], axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            sens = diff / denominator[None]
        if return_nan_when_prediction_changes:
            sens = np.where(outputs.argmax(axis=2) != original[None], np.nan, sens)
        out[:, start:start + len(sens)] = sens.T
    return out, method, seed


_PARAMS_DOC = """
    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    nr_samples : int
        Noisy copies per input (Quantus's default 200).
    lower_bound, upper_bound : float
        Noise ``U(-lower_bound, lower_bound)`` per feature (Quantus's default
        0.2), or ``U(lower_bound, upper_bound)`` when ``upper_bound`` is given.
    abs, normalise : bool
        Quantus's preprocessing (both off by default, as in Quantus).
    seed : int or None
        Seed of the noise, drawn from ``np.random.RandomState(seed)`` in the
        order Quantus draws from the global state: ``np.random.seed(seed)``
        before a Quantus call (with at most its ``batch_size`` inputs) gives
        Quantus the same noise. The global state is not touched here.
    batch_size : int, optional
        Inputs per model call of the re-explanation.
    return_nan_when_prediction_changes : bool
        NaN for a noisy copy whose predicted class differs from the input's.
"""


def _sensitivity_result(name, reduce, sens, method, nr_samples, lower_bound, upper_bound, seed):
    """``reduce`` (``np.nanmax`` or ``np.nanmean``) of the per-copy sensitivities ``(N, nr_samples)``, as a result."""
    with warnings.catch_warnings():  # an input whose every copy is NaN (all-zero map, changed class) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = reduce(sens, axis=1)
    return scored(name, scores, method, nr_samples=nr_samples, lower_bound=lower_bound, upper_bound=upper_bound,
                  seed=seed)


@register_metric("max_sensitivity", direction="lower", family="robustness")
def max_sensitivity(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                    nr_samples=200, lower_bound=0.2, upper_bound=None, abs=False, normalise=False, seed=0,
                    batch_size=None, return_nan_when_prediction_changes=False):
    """Max-sensitivity: the largest relative change of the explanation under small uniform input noise.

    Yeh et al. (2019), "On the (In)fidelity and Sensitivity of Explanations",
    NeurIPS. Per input, over ``nr_samples`` noisy copies ``x + u``:
    ``max ||a(x + u) - a(x)|| / ||a(x)||`` (Frobenius norms, as
    ``quantus.MaxSensitivity``). The noisy copies of all inputs are stacked and
    re-explained together (``nr_samples * N`` explanations in as few calls as
    memory allows), not one sample per call. Lower is better.
    %(params)s
    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.max_sensitivity(exp, model=model, nr_samples=20).scores   # doctest: +IGNORE_RESULT
    """
    sens, method, seed = _sensitivities("max_sensitivity", attributions, model, inputs, targets, method,
                                        method_params, nr_samples, lower_bound, upper_bound, abs, normalise, seed,
                                        batch_size, return_nan_when_prediction_changes)
    return _sensitivity_result("max_sensitivity", np.nanmax, sens, method, nr_samples, lower_bound, upper_bound, seed)


@register_metric("avg_sensitivity", direction="lower", family="robustness")
def avg_sensitivity(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                    nr_samples=200, lower_bound=0.2, upper_bound=None, abs=False, normalise=False, seed=0,
                    batch_size=None, return_nan_when_prediction_changes=False):
    """Avg-sensitivity: the mean relative change of the explanation under small uniform input noise.

    Yeh et al. (2019), NeurIPS. As :func:`max_sensitivity`, averaged over the
    noisy copies (``quantus.AvgSensitivity``). Lower is better.
    %(params)s
    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.avg_sensitivity(exp, model=model, nr_samples=20).scores   # doctest: +IGNORE_RESULT
    """
    sens, method, seed = _sensitivities("avg_sensitivity", attributions, model, inputs, targets, method,
                                        method_params, nr_samples, lower_bound, upper_bound, abs, normalise, seed,
                                        batch_size, return_nan_when_prediction_changes)
    return _sensitivity_result("avg_sensitivity", np.nanmean, sens, method, nr_samples, lower_bound, upper_bound, seed)


for _fn in (max_sensitivity, avg_sensitivity):
    _fn.__doc__ = _fn.__doc__.replace("    %(params)s\n", _PARAMS_DOC + "\n")
    shared_docstring(_fn)
    METRICS[_fn.__name__].fn.__doc__ = _fn.__doc__  # the registry's wrapper copied the docstring before
