"""Localisation metrics (model-free): does the attribution fall inside a ground-truth region?

Each takes ``masks=`` (nonzero inside the region: object masks, bounding boxes,
or the regions :mod:`~tensorlayer_xplain.diagnosis` finds), one per input with
the map's number of values, and computes what Quantus 0.6.0 computes
(``quantus.PointingGame``, ``AttributionLocalisation``, ``TopKIntersection``,
``RelevanceRankAccuracy``, ``RelevanceMassAccuracy``, ``AUC``) with its defaults,
all inputs at once. An input whose mask is empty scores NaN.
"""
import numbers
import warnings

import numpy as np
from scipy.stats import rankdata

from .._utils.docstrings import shared_docstring
from ._maps import attribution_maps, mask_rows, prepare_rows
from .registry import register_metric, scored

__all__ = ["pointing_game", "attribution_localisation", "top_k_intersection", "relevance_rank_accuracy",
           "relevance_mass_accuracy", "auc"]


def _rows_and_masks(attributions, masks, absolute, normalise, reduce):
    maps, method = attribution_maps(attributions, reduce)
    rows = prepare_rows(maps, absolute, normalise)
    inside = mask_rows(masks, len(rows), rows.shape[1])
    return rows, inside, inside.sum(axis=1), method


def _empty_to_nan(scores, sizes):
    scores = np.asarray(scores, np.float64)
    scores[sizes == 0] = np.nan
    return scores


@register_metric("pointing_game", direction="higher", family="localisation")
@shared_docstring
def pointing_game(attributions, masks=None, weighted=False, abs=False, normalise=True, reduce="sum"):
    """1 when the map's maximum lies inside the mask, else 0 (a tie counts if any maximum is inside).

    Zhang et al. (2018), "Top-down Neural Attention by Excitation Backprop", IJCV.
    Higher is better.

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    weighted : bool
        Score a hit ``1 - mask area / map area`` instead of 1 (small regions are
        harder to hit). Quantus 0.6.0 stores that score in a boolean array, so its
        weighted scores come back as True/False; here they are the numbers.
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in {0, 1} (or the weighted score); NaN for an empty mask
        (Quantus 0.6.0 returns True there: its NaN is cast to bool).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> pointing_game(mask * 2.0, masks=mask).scores
    array([1.])
    """
    weighted = bool(weighted)
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    peak = rows == rows.max(axis=1, keepdims=True)
    hit = (peak & inside).any(axis=1).astype(np.float64)
    if weighted:
        hit = np.where(hit > 0, 1.0 - sizes / float(rows.shape[1]), 0.0)
    return scored("pointing_game", _empty_to_nan(hit, sizes), method, weighted=weighted, abs=abs,
                  normalise=normalise)


@register_metric("attribution_localisation", direction="higher", family="localisation")
@shared_docstring
def attribution_localisation(attributions, masks=None, weighted=False, max_size=1.0, positive_attributions=False,
                             abs=True, normalise=True, reduce="sum"):
    """Share of the (absolute) attribution mass inside the mask.

    Kohlbrenner et al. (2020), "Towards Best Practice in Explaining Neural Network
    Decisions with LRP", IJCNN. Per input ``sum(a * mask) / (sum(a) + 1e-9)``.
    Higher is better.

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    weighted : bool
        Multiply by the mask's area ratio ``mask area / map area``. Quantus 0.6.0
        divides by ``x_batch[2:].size`` (the whole batch after its first two
        inputs, a bug), so weighted scores differ from Quantus's.
    max_size : float
        Warn when a mask covers more than this fraction of the map (Quantus's 1.0).
    positive_attributions : bool
        Clip negative attributions to 0 first.
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1]; NaN for an empty mask, or where the ratio
        exceeds 1 (negative attributions outside the mask, as in Quantus).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> attribution_localisation(mask, masks=mask).scores.round(6)
    array([1.])
    """
    weighted, positive_attributions = bool(weighted), bool(positive_attributions)
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    if positive_attributions:
        rows = np.clip(rows, 0, None)
    ratio = sizes / float(rows.shape[1])
    if np.any(ratio > max_size):
        warnings.warn("masks: %d mask(s) cover more than max_size=%g of the map; the score rewards them"
                      % (int((ratio > max_size).sum()), max_size), UserWarning, stacklevel=2)
    scores = (rows * inside).sum(axis=1) / (rows.sum(axis=1) + 1e-9)
    scores[scores > 1] = np.nan
    if weighted:
        scores = scores * ratio
    return scored("attribution_localisation", _empty_to_nan(scores, sizes), method, weighted=weighted,
                  max_size=max_size, positive_attributions=positive_attributions, abs=abs, normalise=normalise)


def _check_k(k, n_values):
    if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)):
        raise TypeError("k: expected an int number of features, got %r" % (k,))
    if not 1 <= k <= n_values:
        raise ValueError("k: expected between 1 and the map's %d values, got %d (Quantus's default is 1000; "
                         "pass a smaller k for small inputs)" % (n_values, k))
    return int(k)


@register_metric("top_k_intersection", direction="higher", family="localisation")
@shared_docstring
def top_k_intersection(attributions, masks=None, k=1000, concept_influence=False, abs=False, normalise=True,
                       reduce="sum"):
    """Fraction of the ``k`` highest-attributed features that lie inside the mask.

    Theiner et al. (2021), "Interpretable Semantic Photo Geolocalization",
    WACV. Higher is better. Features are ranked by ``np.argsort(-a)`` as in
    Quantus (so ties break the same way).

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    k : int
        Number of top features (Quantus's default 1000; at most the map's size,
        e.g. 784 for MNIST).
    concept_influence : bool
        Divide by the mask's area fraction (how much better than chance).
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1] (without ``concept_influence``); NaN for an
        empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> top_k_intersection(mask + 0.1 * np.arange(16).reshape(1, 4, 4) / 16, masks=mask, k=4).scores
    array([1.])
    """
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    k = _check_k(k, rows.shape[1])
    top = np.argsort(-rows, axis=-1)[:, :k]
    scores = np.take_along_axis(inside, top, axis=1).mean(axis=1)
    if concept_influence:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = scores * rows.shape[1] / sizes
    return scored("top_k_intersection", _empty_to_nan(scores, sizes), method, k=k,
                  concept_influence=bool(concept_influence), abs=abs, normalise=normalise)


@register_metric("relevance_rank_accuracy", direction="higher", family="localisation")
@shared_docstring
def relevance_rank_accuracy(attributions, masks=None, abs=False, normalise=True, reduce="sum"):
    """Fraction of the ``K`` highest-attributed features inside the mask, ``K`` = the mask's size.

    Arras, Osman & Samek (2022), "CLEVR-XAI: A benchmark dataset for the ground
    truth evaluation of neural network explanations", Information Fusion.
    Higher is better; 1 when the mask's features are exactly the top ones.

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1]; NaN for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> relevance_rank_accuracy(mask, masks=mask).scores
    array([1.])
    """
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    order = np.argsort(-rows, axis=-1)
    in_top = np.arange(rows.shape[1])[None, :] < sizes[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (np.take_along_axis(inside, order, axis=1) & in_top).sum(axis=1) / sizes
    return scored("relevance_rank_accuracy", _empty_to_nan(scores, sizes), method, abs=abs, normalise=normalise)


@register_metric("relevance_mass_accuracy", direction="higher", family="localisation")
@shared_docstring
def relevance_mass_accuracy(attributions, masks=None, abs=False, normalise=True, reduce="sum"):
    """Share of the (signed, by default) attribution sum that falls inside the mask.

    Arras, Osman & Samek (2022), CLEVR-XAI. Per input ``sum(a * mask) / sum(a)``
    (no epsilon, as Quantus: an all-zero map gives NaN, a signed map can exceed
    [0, 1]). Higher is better.

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,); NaN for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> relevance_mass_accuracy(mask, masks=mask).scores
    array([1.])
    """
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (rows * inside).sum(axis=1) / rows.sum(axis=1)
    return scored("relevance_mass_accuracy", _empty_to_nan(scores, sizes), method, abs=abs, normalise=normalise)


@register_metric("auc", direction="higher", family="localisation")
@shared_docstring
def auc(attributions, masks=None, abs=False, normalise=True, reduce="sum"):
    """Area under the ROC curve of the map as a detector of the mask's features.

    Fawcett (2006), "An introduction to ROC analysis", Pattern Recognition
    Letters. Quantus computes ``sklearn.metrics.roc_curve`` + ``auc`` per input;
    here the same number comes from the rank-sum (Mann-Whitney) form, ties
    counted half, for all inputs at once. 1: every mask feature outranks every
    other; 0.5: chance. Higher is better.

    Parameters
    ----------
    %(metric_maps)s
    %(metric_masks)s
    %(metric_preprocess)s
    %(metric_reduce)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1]; NaN for an empty mask or a mask covering the
        whole map (no negatives, where scikit-learn also gives NaN).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2, :2] = 1
    >>> auc(mask, masks=mask).scores
    array([1.])
    """
    rows, inside, sizes, method = _rows_and_masks(attributions, masks, abs, normalise, reduce)
    ranks = rankdata(rows, axis=1)
    negatives = rows.shape[1] - sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = ((ranks * inside).sum(axis=1) - sizes * (sizes + 1) / 2.0) / (sizes * negatives)
    scores = np.where(negatives == 0, np.nan, scores)
    return scored("auc", _empty_to_nan(scores, sizes), method, abs=abs, normalise=normalise)
