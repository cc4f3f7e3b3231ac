"""Integrated gradients: the trapezoid sum of path gradients, compiled and summed in the graph.

Sundararajan, Taly & Yan (2017). The ``steps + 1`` gradients per input are
(input, step) pairs enumerated inside one compiled step (:mod:`.engine`), so
memory is bounded by ``batch_size`` whatever ``steps``.
"""
import numpy as np

from .._utils.docstrings import shared_docstring
from ._engine.baselines import blur_passes, make_baseline
from ._engine.checks import positive_int, seed_value
from ._engine.utils import rng_for
from ._ranges import VALUES
from .engine import expand, sum_over_samples
from .registry import COUNT, Range, register_method

__all__ = ["integrated_gradients", "trapezoid_alphas"]


def trapezoid_alphas(steps):
    """Points and weights of the trapezoid rule on [0, 1] with ``steps`` intervals.

    Returns
    -------
    alphas, weights : ndarray, float32, shape (steps + 1,)
        ``alphas = k / steps``; weights ``1 / steps`` with halves at both ends.

    Examples
    --------
    >>> trapezoid_alphas(2)[1]
    array([0.25, 0.5 , 0.25], dtype=float32)
    """
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float64)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] *= 0.5
    return alphas.astype(np.float32), weights.astype(np.float32)


def _path_point(adapter):
    """``one_pair(x, x0, alpha, weight, at_end, t)``: one (input, step) pair's weighted gradient and end scores.

    Summed per input by :func:`~.engine.sum_over_samples`, it gives ``integral``
    = sum_k w_k grad f(x0 + a_k (x - x0)) and ``ends`` (2,) = the selected score
    at the baseline and at the input.
    """
    def one_pair(xb, bb, alpha, weight, at_end, t):
        grads, selected = adapter.differentiate(bb + expand(alpha, xb) * (xb - bb), t)
        return grads * expand(weight, grads), selected[:, None] * at_end

    return one_pair


def _completeness(attributions, f_x, f_base):
    """Per-input completeness check of integrated gradients (relative gap, sums, score differences)."""
    sums = attributions.reshape(len(attributions), -1).sum(axis=1, dtype=np.float64)
    delta = f_x.astype(np.float64) - f_base.astype(np.float64)
    gap = np.abs(sums - delta) / np.maximum(np.abs(delta), 1e-12)
    return gap, sums, delta


def _cost(adapter, n, steps, baseline, blur_sigma, **_):
    blurred = isinstance(baseline, str) and baseline == "blurred"
    return n * (steps + 1) + (blur_passes(adapter.image_shape, n, blur_sigma) if blurred else 0), n * (steps + 1)


def _rows_independent(params):
    """A ``'uniform'`` baseline draws one stream for the whole batch: rows depend on their position."""
    return not (isinstance(params["baseline"], str) and params["baseline"] == "uniform")


@register_method("integrated_gradients", aliases=("ig",), signed=True, family="gradient", cost=_cost,
                 batchable=_rows_independent, ranges={"steps": COUNT, "baseline": VALUES,
                         "blur_sigma": Range(0.0, float("inf"), low_open=True, bound="side", note="pixels")},
                 benchmark={"quick": {"steps": 16}, "work": ("steps",)})
@shared_docstring
def integrated_gradients(adapter, inputs, targets, steps=64, baseline="zeros", blur_sigma=3.0, seed=0,
                         batch_size=None):
    """Integrated gradients along the straight path from a baseline to the input.

    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks".
    ``attr = (x - x0) * integral_0^1 grad f(x0 + a (x - x0)) da``, the integral
    taken with the trapezoid rule on ``steps`` intervals. The ``steps + 1``
    gradients per input are (input, step) pairs, enumerated and summed inside the
    compiled step, at most ``batch_size`` pairs in flight at once.

    Completeness (``sum(attr) = f(x) - f(x0)``) is checked for every input and
    returned in the meta: ``completeness_gap`` (relative,
    ``|sum - delta| / |delta|``), ``attribution_sums`` and ``score_differences``.

    Parameters
    ----------
    %(method_inputs)s
    steps : int
        Trapezoid intervals (``steps + 1`` gradient evaluations per input).
    baseline : {'zeros', 'blurred', 'uniform'}, float or array
        The path's start (see :func:`~._baselines.make_baseline`).
    blur_sigma : float
        Gaussian blur in pixels for ``baseline='blurred'``.
    seed : int or None
        Seed of the ``'uniform'`` baseline.
    batch_size : int, optional
        (input, step) pairs in flight at once (bounds memory); default the adapter's.

    Returns
    -------
    attributions : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``completeness_gap``, ``attribution_sums``, ``score_differences`` (each (N,)),
        ``max_completeness_gap`` (float).

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'integrated_gradients', steps=128)
    >>> exp.meta['max_completeness_gap'] < 0.01
    True
    """
    steps = positive_int("steps", steps)
    seed = seed_value("seed", seed)
    x = np.asarray(inputs, np.float32)
    base = make_baseline(baseline, x, adapter, rng_for(seed), blur_sigma)
    alphas, weights = trapezoid_alphas(steps)
    at_end = np.zeros((steps + 1, 2), np.float32)
    at_end[0, 0] = at_end[-1, 1] = 1.0  # the selected score at the baseline (a=0) and at the input (a=1)
    integral, ends = sum_over_samples(adapter, "integrated_gradients", _path_point(adapter), (x, base),
                                      (alphas, weights, at_end), targets, outputs=(x.shape[1:], (2,)),
                                      batch_size=batch_size, what="integration steps")
    attributions = ((x - base) * integral).astype(np.float32)
    gap, sums, delta = _completeness(attributions, ends[:, 1], ends[:, 0])
    meta = {
        "signed": True,
        "completeness_gap": gap,
        "attribution_sums": sums,
        "score_differences": delta,
        "max_completeness_gap": float(gap.max()),
        "baseline": baseline if isinstance(baseline, str) else "array",
    }
    return attributions, meta
