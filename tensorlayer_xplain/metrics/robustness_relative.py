"""Robustness metrics that relate the explanation's change to the input's: local Lipschitz estimate, relative stability.

``local_lipschitz_estimate`` (Alvarez-Melis & Jaakkola, 2018) and
``relative_input_stability`` / ``relative_output_stability`` (Agarwal et al.,
2022), as Quantus 0.6.0 computes them; every noisy copy of every input is
re-explained through the same method and parameters, the copies of all inputs
stacked into few batched calls (:func:`~.robustness.noisy_explanations`).
"""
import warnings

import numpy as np

from .._utils.docstrings import shared_docstring
from ._common import _check_int, _check_seed
from ._maps import check_fraction, prepare_rows
from .registry import METRICS, register_metric, scored
from .robustness import check_bounds, noisy_explanations, prepare_copies, reexplain_setup

__all__ = ["local_lipschitz_estimate", "relative_input_stability", "relative_output_stability"]


def _max_over_copies(values, skip_nan):
    """Max over the copies ``(N, nr_samples)``: ``np.nanmax`` when ``skip_nan``, else ``np.max`` (NaN wins)."""
    with warnings.catch_warnings():  # an input whose every copy is NaN stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanmax if skip_nan else np.max)(values, axis=1)


def _relative(values, reference, eps_min):
    """Quantus's ``(reference - values) / (reference + (reference == 0) * eps_min)``, elementwise."""
    return (reference - values) / (reference + (reference == 0) * eps_min)


def _stability(metric, attributions, model, inputs, targets, method, method_params, nr_samples, lower_bound,
               upper_bound, eps_min, abs, normalise, seed, batch_size, return_nan_when_prediction_changes):
    """Per-copy relative stabilities ``(N, nr_samples)``; the denominator from the inputs or the logits."""
    nr_samples = _check_int("nr_samples", nr_samples, 1)
    low, high = check_bounds(lower_bound, upper_bound)
    eps_min = check_fraction("eps_min", eps_min, 0.0, 1.0)
    seed = _check_seed(seed)
    adapter, x, targets, attr, method, params = reexplain_setup(metric, attributions, model, inputs, targets, method,
                                                                method_params)
    rows = prepare_rows(attr, abs, normalise)
    flat = x.reshape(len(x), -1).astype(np.float64)
    logits = np.asarray(adapter.predict(x, batch_size=batch_size), np.float64)
    rng = np.random.RandomState(seed)
    out = np.empty((len(x), nr_samples), np.float64)
    for start, noisy, perturbed, outputs in noisy_explanations(adapter, x, targets, method, params, nr_samples,
                                                               lambda k: rng.uniform(low, high, (k,) + x.shape),
                                                               batch_size):
        numerator = np.linalg.norm(_relative(prepare_copies(perturbed, abs, normalise), rows[None], eps_min), axis=2)
        if metric == "relative_input_stability":
            denominator = np.linalg.norm(_relative(noisy, flat[None], eps_min), axis=2)
        else:
            denominator = np.linalg.norm(logits[None] - outputs, axis=2)
        denominator = denominator + (denominator == 0) * eps_min
        ratio = numerator / denominator
        if return_nan_when_prediction_changes:
            ratio = np.where(outputs.argmax(axis=2) != logits.argmax(axis=1)[None], np.nan, ratio)
        out[:, start:start + len(ratio)] = ratio.T
    return out, method, dict(nr_samples=nr_samples, lower_bound=lower_bound, upper_bound=upper_bound,
                             eps_min=eps_min, seed=seed)


_STABILITY_DOC = """
    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    nr_samples : int
        Noisy copies per input (Quantus's default 200).
    lower_bound, upper_bound : float
        Noise ``U(lower_bound, upper_bound)`` added to every input value
        (Quantus's defaults 0.02 and 0.2: always positive); with
        ``upper_bound=None``, ``U(-lower_bound, lower_bound)``.
    eps_min : float
        Replaces zeros in the divisions (Quantus's default 1e-6).
    %(metric_preprocess)s
        Both off by default, as Quantus.
    seed : int
        Seed of the noise, drawn from ``np.random.RandomState(seed)`` in
        Quantus's order (one ``(N, D)`` draw per copy): Quantus after
        ``np.random.seed(seed)`` draws the same (for at most its ``batch_size``
        inputs).
    %(metric_batch_size)s
    return_nan_when_prediction_changes : bool
        A copy whose predicted class differs from the input's gives NaN
        (Quantus's default True); the maximum over the copies is NaN then too,
        as Quantus's ``np.max``: the input is not scored.

    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0 (NaN, see above), ``direction`` 'lower'.
"""


@register_metric("relative_input_stability", direction="lower", family="robustness")
def relative_input_stability(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                             nr_samples=200, lower_bound=0.02, upper_bound=0.2, eps_min=1e-6, abs=False,
                             normalise=False, seed=0, batch_size=None, return_nan_when_prediction_changes=True):
    """Relative input stability: the largest relative change of the map per relative change of the input.

    Agarwal et al. (2022), "Rethinking Stability for Attribution-based
    Explanations", ICLR workshop; ``quantus.RelativeInputStability``. Over noisy
    copies ``x'`` of each input: ``max ||(e_x - e_x') / e_x|| / max(||(x - x') /
    x||, eps_min)`` (elementwise ratios, zeros replaced by ``eps_min``). Lower is
    better. ``nr_samples`` re-explanations per input, stacked over inputs.
    %(stability)s
    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.relative_input_stability(exp, model=model, nr_samples=20).scores   # doctest: +IGNORE_RESULT
    """
    ratios, method, params = _stability("relative_input_stability", attributions, model, inputs, targets, method,
                                        method_params, nr_samples, lower_bound, upper_bound, eps_min, abs, normalise,
                                        seed, batch_size, return_nan_when_prediction_changes)
    return scored("relative_input_stability", _max_over_copies(ratios, False), method, **params)


@register_metric("relative_output_stability", direction="lower", family="robustness")
def relative_output_stability(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                              nr_samples=200, lower_bound=0.02, upper_bound=0.2, eps_min=1e-6, abs=False,
                              normalise=False, seed=0, batch_size=None, return_nan_when_prediction_changes=True):
    """Relative output stability: the largest relative change of the map per change of the logits.

    Agarwal et al. (2022); ``quantus.RelativeOutputStability``. As
    :func:`relative_input_stability` with the denominator ``max(||h(x) -
    h(x')||, eps_min)``, ``h`` the model's output (logits unless the adapter
    gives probabilities). Lower is better.
    %(stability)s
    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.relative_output_stability(exp, model=model, nr_samples=20).scores   # doctest: +IGNORE_RESULT
    """
    ratios, method, params = _stability("relative_output_stability", attributions, model, inputs, targets, method,
                                        method_params, nr_samples, lower_bound, upper_bound, eps_min, abs, normalise,
                                        seed, batch_size, return_nan_when_prediction_changes)
    return scored("relative_output_stability", _max_over_copies(ratios, False), method, **params)


for _fn in (relative_input_stability, relative_output_stability):
    _fn.__doc__ = _fn.__doc__.replace("    %(stability)s\n", _STABILITY_DOC + "\n")
    shared_docstring(_fn)
    METRICS[_fn.__name__].fn.__doc__ = _fn.__doc__  # the registry's wrapper copied the docstring before


@register_metric("local_lipschitz_estimate", direction="lower", family="robustness")
@shared_docstring
def local_lipschitz_estimate(attributions, model=None, inputs=None, targets=None, method=None, method_params=None,
                             nr_samples=200, perturb_mean=0.0, perturb_std=0.1, abs=False, normalise=True, seed=0,
                             batch_size=None, return_nan_when_prediction_changes=False):
    """Local Lipschitz estimate: the largest ``||a(x) - a(x')|| / ||x - x'||`` over Gaussian noisy copies ``x'``.

    Alvarez-Melis & Jaakkola (2018), "On the Robustness of Interpretability
    Methods", ICML workshop; ``quantus.LocalLipschitzEstimate`` (Euclidean norms,
    ``1e-10`` added to the denominator). Lower is better. ``nr_samples``
    re-explanations per input, stacked over inputs.

    Parameters
    ----------
    %(metric_attributions)s
    %(metric_rerun)s
    nr_samples : int
        Noisy copies per input (Quantus's default 200).
    perturb_mean, perturb_std : float
        Gaussian noise ``N(perturb_mean, perturb_std**2)`` added to every value
        (Quantus's defaults 0 and 0.1).
    %(metric_preprocess)s
        Quantus's defaults: ``abs=False``, ``normalise=True`` (per input here;
        'batch' normalises the maps and each batch of noisy maps as Quantus).
    seed : int
        Seed of the noise, drawn from ``np.random.RandomState(seed)`` in
        Quantus's order (one ``(N, D)`` draw per copy).
    %(metric_batch_size)s
    return_nan_when_prediction_changes : bool
        NaN for a copy whose predicted class changed (then ``np.max``: NaN for
        the input, as Quantus); by default such copies count (``np.nanmax``).

    Returns
    -------
    MetricResult
        ``scores`` (N,) >= 0, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.local_lipschitz_estimate(exp, model=model, nr_samples=20).scores   # doctest: +IGNORE_RESULT
    """
    nr_samples = _check_int("nr_samples", nr_samples, 1)
    perturb_std = check_fraction("perturb_std", perturb_std, 0.0, np.inf)
    if isinstance(perturb_mean, bool) or not isinstance(perturb_mean, (int, float, np.number)) \
            or not np.isfinite(perturb_mean):
        raise ValueError("perturb_mean: expected a finite number, got %r" % (perturb_mean,))
    seed = _check_seed(seed)
    adapter, x, targets, attr, method, params = reexplain_setup("local_lipschitz_estimate", attributions, model,
                                                                inputs, targets, method, method_params)
    rows = prepare_rows(attr, abs, normalise)
    flat = x.reshape(len(x), -1).astype(np.float64)
    original = np.argmax(adapter.predict(x, batch_size=batch_size), axis=1) if return_nan_when_prediction_changes \
        else None
    rng = np.random.RandomState(seed)
    out = np.empty((len(x), nr_samples), np.float64)
    for start, noisy, perturbed, outputs in noisy_explanations(
            adapter, x, targets, method, params, nr_samples,
            lambda k: rng.normal(perturb_mean, perturb_std, (k,) + x.shape), batch_size):
        numerator = np.linalg.norm(prepare_copies(perturbed, abs, normalise) - rows[None], axis=2)
        ratio = numerator / (np.linalg.norm(flat[None] - noisy, axis=2) + 1e-10)
        if return_nan_when_prediction_changes:
            ratio = np.where(outputs.argmax(axis=2) != original[None], np.nan, ratio)
        out[:, start:start + len(ratio)] = ratio.T
    scores = _max_over_copies(out, not return_nan_when_prediction_changes)
    return scored("local_lipschitz_estimate", scores, method, nr_samples=nr_samples, perturb_mean=perturb_mean,
                  perturb_std=perturb_std, seed=seed)
