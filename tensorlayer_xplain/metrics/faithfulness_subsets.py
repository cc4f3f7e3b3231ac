"""Faithfulness correlation (Bhatt et al., 2020) as Quantus computes it, all runs of all inputs stacked."""
import numpy as np

from ._common import _check_int, _check_seed, _pearson_rows
from ._maps import prepare_rows
from ._model_inputs import model_setup, target_outputs
from .registry import register_metric, scored

__all__ = ["faithfulness_correlation"]

_MAX_VALUES_PER_CALL = 2 ** 24


@register_metric("faithfulness_correlation", direction="higher", family="faithfulness")
def faithfulness_correlation(attributions, model=None, inputs=None, targets=None, nr_runs=100, subset_size=224,
                             baseline="black", abs=False, normalise=True, seed=0, batch_size=None):
    """Pearson correlation, over random feature subsets, of their attribution sum and the output drop.

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model
    Explanations", IJCAI; ``quantus.FaithfulnessCorrelation``. Per input, for
    ``nr_runs`` random subsets of ``subset_size`` input values (all channels
    counted separately, as Quantus), set to the baseline: correlate
    ``sum(a[subset])`` with ``f(x) - f(x perturbed)`` (``f``: the explained
    class's logit). Higher is better. All ``nr_runs * N`` perturbed inputs are
    built as arrays and scored in a few batched model calls.

    Differences from Quantus 0.6.0: Quantus returns the mean over inputs by
    default (``return_aggregate=True``; ``MetricResult.score`` is that mean, the
    scores are per input); attributions are normalised per input
    (``normalise='batch'`` for Quantus's whole-batch normalisation, which this
    scale-free correlation does not notice); an Explanation's attributions are
    used per input value (Quantus broadcasts a channel-summed ``(N, 1, H, W)``
    map over the channels: equal for one channel). The subsets are the ones
    Quantus draws after ``np.random.seed(seed)`` (``np.random.choice`` without
    replacement, run by run, input by input).

    Parameters
    ----------
    attributions : Explanation or ndarray, shape (N, ...)
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    inputs : ndarray, shape (N, ...), optional
    targets : int or ndarray (N,), optional
    nr_runs : int
        Random subsets per input (Quantus's default 100).
    subset_size : int
        Input values per subset (Quantus's default 224).
    baseline : {'black', 'zeros'}
        Each input's minimum (Quantus's ``perturb_baseline='black'``) or 0.
    abs, normalise : bool
        Quantus's preprocessing (``abs=False``, ``normalise=True`` by default).
    seed : int
        Seed of the subsets.
    batch_size : int, optional
        Inputs per model call.

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [-1, 1] (NaN for a constant map), ``direction`` 'higher'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'integrated_gradients')
    >>> tlxp.metrics.faithfulness_correlation(exp, model=model, nr_runs=50).score   # doctest: +IGNORE_RESULT
    """
    nr_runs = _check_int("nr_runs", nr_runs, 2)
    seed = _check_seed(seed)
    if baseline not in ("black", "zeros"):
        raise ValueError("baseline: expected 'black' or 'zeros', got %r" % (baseline,))
    adapter, x, targets, attr, method = model_setup("faithfulness_correlation", attributions, model, inputs,
                                                    targets)
    n = len(x)
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    subset_size = _check_int("subset_size", subset_size, 1)
    if subset_size > d:
        raise ValueError("subset_size: expected at most the %d input values, got %d" % (d, subset_size))
    rows = prepare_rows(attr, abs, normalise)
    if rows.shape[1] != d:
        raise ValueError("attributions: expected one value per input value (%d), got %d" % (d, rows.shape[1]))
    rng = np.random.RandomState(seed)

    def run_subsets():
        drawn = np.stack([rng.choice(d, subset_size, replace=False) for _ in range(n)])
        rng.uniform(size=n)  # Quantus's get_baseline_value draws its 'uniform' fill every run, used or not
        return drawn

    subsets = np.stack([run_subsets() for _ in range(nr_runs)])  # (runs, N, subset_size), Quantus's draw order
    sums = np.take_along_axis(rows[None], subsets, axis=2).sum(axis=2).T  # (N, runs)
    fill = flat.min(axis=1) if baseline == "black" else np.zeros(n, flat.dtype)
    full = target_outputs(adapter, x, targets, batch_size)
    drops = np.empty((n, nr_runs), np.float64)
    chunk = max(1, min(nr_runs, _MAX_VALUES_PER_CALL // max(1, n * d)))
    for start in range(0, nr_runs, chunk):
        k = min(chunk, nr_runs - start)
        perturbed = np.repeat(flat[None], k, axis=0)  # (k, N, D)
        np.put_along_axis(perturbed, subsets[start:start + k],
                          np.broadcast_to(fill[None, :, None], (k, n, subset_size)).astype(flat.dtype), axis=2)
        out = target_outputs(adapter, perturbed.reshape((k * n,) + x.shape[1:]), np.tile(targets, k), batch_size)
        drops[:, start:start + k] = (full[None] - out.reshape(k, n)).T
    return scored("faithfulness_correlation", _pearson_rows(sums, drops), method, nr_runs=nr_runs,
                  subset_size=subset_size, baseline=baseline, seed=seed)
