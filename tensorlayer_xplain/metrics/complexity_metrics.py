"""Complexity metrics (model-free): how concentrated an attribution map is.

Sparseness (Chalasani et al., 2020, Gini index), complexity (Bhatt et al., 2020,
entropy) and effective complexity (Nguyen & Martinez, 2020), computed as Quantus
0.6.0 computes them (``quantus.Sparseness``, ``quantus.Complexity``,
``quantus.EffectiveComplexity``) with its defaults (``abs=True``, normalised by
the maximum absolute value), all inputs at once.

(The module is not called ``complexity.py``: ``tlxp.metrics.complexity`` is the
function.)
"""
import numbers

import numpy as np

from ._maps import attribution_maps, prepare_rows
from .registry import register_metric, scored

__all__ = ["sparseness", "complexity", "effective_complexity"]


@register_metric("sparseness", direction="higher", family="complexity")
def sparseness(attributions, abs=True, normalise=True, reduce="sum"):
    """Gini index of the attribution map: 1 when one feature holds all the relevance, 0 for a constant map.

    Chalasani et al. (2020), "Concise Explanations of Neural Networks using
    Adversarial Training", ICML. Per input, with ``a`` sorted ascending (after
    ``abs`` and ``+1e-7``, as Quantus) over ``d`` values:
    ``sum_i (2i - d - 1) a_i / (d * sum_i a_i)``. Higher is better (sparser).

    Parameters
    ----------
    attributions : Explanation or ndarray, shape (N, ...)
        An explanation (its heatmap ``(N, H, W)``, channels combined by
        ``reduce``) or attributions, one row per input.
    abs : bool
        Take absolute values (Quantus's default, True).
    normalise : bool or 'batch'
        Divide each input's map by its maximum absolute value (True); ``'batch'``
        divides by the maximum over all inputs, as Quantus's ``normalise_by_max``
        does; no effect on this scale-free score beyond the ``1e-7`` offset.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        Channel reduction of an Explanation's heatmap.

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1], ``direction`` 'higher'.

    Examples
    --------
    >>> import numpy as np
    >>> peak = np.zeros((1, 8, 8)); peak[0, 3, 3] = 1.0
    >>> round(float(sparseness(peak).scores[0]), 3), round(float(sparseness(np.ones((1, 8, 8))).scores[0]), 3)
    (0.984, 0.0)
    """
    maps, method = attribution_maps(attributions, reduce)
    rows = prepare_rows(maps, abs, normalise) + 1e-7
    rows.sort(axis=1)
    d = rows.shape[1]
    weights = 2.0 * np.arange(1, d + 1) - d - 1
    scores = (weights * rows).sum(axis=1) / (d * rows.sum(axis=1))
    return scored("sparseness", scores, method, abs=abs, normalise=normalise)


@register_metric("complexity", direction="lower", family="complexity")
def complexity(attributions, abs=True, normalise=True, reduce="sum"):
    """Entropy of the attribution map seen as a distribution over features: low for a concentrated map.

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model
    Explanations", IJCAI. Per input, ``p = |a| / sum |a|`` and the score is
    ``-sum p log(p + 1e-12)``; its maximum, ``log(d)``, is reached by a constant
    map of ``d`` values. Lower is better. An all-zero map has no distribution:
    its score is NaN (as in Quantus).

    Parameters
    ----------
    attributions : Explanation or ndarray, shape (N, ...)
    abs : bool
        Take absolute values (Quantus's default, True).
    normalise : bool or 'batch'
        Per-input (True) or Quantus's whole-batch (``'batch'``) max normalisation;
        the score does not depend on it.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, log(d)], ``direction`` 'lower'.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(complexity(np.ones((1, 4, 4))).scores[0]), 4) == round(float(np.log(16)), 4)
    True
    """
    maps, method = attribution_maps(attributions, reduce)
    rows = prepare_rows(maps, abs, normalise)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = rows / np.abs(rows).sum(axis=1, keepdims=True)
        scores = -(p * np.log(p + 1e-12)).sum(axis=1)
    return scored("complexity", scores, method, abs=abs, normalise=normalise)


@register_metric("effective_complexity", direction="lower", family="complexity")
def effective_complexity(attributions, eps=1e-5, abs=True, normalise=True, reduce="sum"):
    """Number of features whose (normalised, absolute) attribution exceeds ``eps``: fewer is simpler.

    Nguyen & Martinez (2020), "On quantitative aspects of model interpretability",
    arXiv:2007.07584. Lower is better.

    Parameters
    ----------
    attributions : Explanation or ndarray, shape (N, ...)
    eps : float
        Threshold (Quantus's default 1e-5) on the map after normalisation.
    abs : bool
        Take absolute values (Quantus's default, True).
    normalise : bool or 'batch'
        Divide each input's map by its own maximum absolute value (True, so the
        threshold means the same for every input), or by the maximum over all
        inputs (``'batch'``, what Quantus's ``normalise_by_max`` does over the
        whole ``a_batch``). The counts differ between the two when inputs have
        different peaks.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}

    Returns
    -------
    MetricResult
        ``scores`` (N,) counts in [0, d], ``direction`` 'lower'.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 4, 4)); a[0, :2, :2] = 1.0
    >>> float(effective_complexity(a).scores[0])
    4.0
    """
    if isinstance(eps, bool) or not isinstance(eps, (numbers.Real, np.number)) or not np.isfinite(eps):
        raise TypeError("eps: expected a finite number, got %r" % (eps,))
    maps, method = attribution_maps(attributions, reduce)
    rows = prepare_rows(maps, abs, normalise)
    scores = (rows > float(eps)).sum(axis=1)
    return scored("effective_complexity", scores, method, eps=float(eps), abs=abs, normalise=normalise)
