"""Faithfulness metrics: deletion and insertion curves (Petsiuk et al., 2018) and mu-fidelity (Bhatt et al., 2020)."""
import warnings

import numpy as np

from ..methods._engine.sampling import pair_index, row_uniform
from ._common import (
    _baseline_images,
    _check_int,
    _check_seed,
    _flat_heat,
    _importance_order,
    _n_pixels,
    _pearson_rows,
    _score_pairs,
    _setup,
    _trapezoid,
)
from .results import CurveResult, FidelityResult

__all__ = ["deletion", "insertion", "mu_fidelity"]


def _curve(kind, model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma, seed):
    steps = _check_int("steps", steps, 1)
    seed = _check_seed(seed)
    adapter, x, images, targets, scorer = _setup(model, explanation, batch_size, score)
    base = _baseline_images(adapter, x, explanation.image_shape, baseline_value, blur_sigma, seed)
    n, n_pixels = images.shape[:2]
    order = _importance_order(_flat_heat(explanation, reduce), seed)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_pixels)[None, :], axis=1)  # rank[i, p]: position of pixel p
    counts = np.round(np.linspace(0, n_pixels, steps + 1)).astype(np.int64)

    def build(ib, kb):
        changed = (rank[ib] < counts[kb][:, None])[..., None]  # (B, P, 1): the first counts[k] pixels
        if kind == "deletion":
            return np.where(changed, base[ib], images[ib])
        return np.where(changed, images[ib], base[ib])

    i_all, k_all = pair_index(n, steps + 1)
    curve = _score_pairs(adapter, scorer, i_all, k_all, build, targets, batch_size).reshape(n, steps + 1)
    auc = _trapezoid(curve.astype(np.float64), 1.0 / steps)
    return CurveResult(kind, explanation.method, counts / float(n_pixels), curve, auc, float(auc.mean()))


def deletion(model, explanation, steps=25, baseline_value=0.0, batch_size=None, reduce="sum",
             score="probability", blur_sigma=3.0, seed=0):
    """Deletion curve and AUC: remove the most important pixels first; a faithful map makes the score fall fast.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation
    of Black-box Models", BMVC. Pixels are ranked by ``explanation.heatmap(reduce)``
    (descending: for signed maps, positive evidence first; ties in random order)
    and set, all channels together, to the baseline in ``steps`` equal steps;
    after each step the probability of the explained class is recorded. Lower
    AUC is better.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
        The model that was explained.
    explanation : Explanation
        Any method's explanation of ``N`` inputs; its ``targets`` are the explained
        classes (-1, a callable target, falls back to the predicted class).
    steps : int
        Number of removal steps; the curve has ``steps + 1`` points (0 to all pixels).
    baseline_value : float, 'blur', 'zeros', 'uniform' or array
        What removed pixels become: a constant (default 0, black), the input
        blurred with a Gaussian of ``blur_sigma`` pixels, uniform noise, or an
        array (one sample or one per input).
    batch_size : int, optional
        Perturbed images per model call (default: the adapter's); they are built
        per batch, so memory is bounded by it.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        How the heatmap combines channels (see :meth:`Explanation.heatmap`).
    score : {'probability', 'output'}
        Follow the softmax probability (default) or the adapter's raw output.
    blur_sigma : float
        Blur for ``baseline_value='blur'``.
    seed : int or None
        Seed of the random order among tied pixels (and of a ``'uniform'``
        baseline); a fixed seed gives the same result at any ``batch_size``.

    Returns
    -------
    CurveResult
        ``curve`` (N, steps + 1), ``auc`` (N,), ``mean_auc``, ``fractions`` (steps + 1,).

    Examples
    --------
    >>> exp = tlxp.explain(model, x_test[:16], 'gradcam')
    >>> res = tlxp.metrics.deletion(model, exp, steps=20)
    >>> res.curve.shape, round(res.mean_auc, 2)  # doctest: +IGNORE_RESULT
    ((16, 21), 0.18)
    """
    return _curve("deletion", model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma,
                  seed)


def insertion(model, explanation, steps=25, baseline_value="blur", batch_size=None, reduce="sum",
              score="probability", blur_sigma=3.0, seed=0):
    """Insertion curve and AUC: start from a baseline and insert the most important pixels first.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation
    of Black-box Models", BMVC. The mirror of :func:`deletion`: the image starts
    as the baseline (by default the input blurred, as in the paper) and its pixels
    are restored in descending attribution order in ``steps`` steps. A faithful
    map makes the probability of the explained class rise fast: higher AUC is
    better.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanation : Explanation
    steps : int
        Insertion steps; the curve has ``steps + 1`` points.
    baseline_value : 'blur', float, 'zeros', 'uniform' or array
        The starting image (default: the input blurred with ``blur_sigma``).
    batch_size : int, optional
        Perturbed images per model call.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
    score : {'probability', 'output'}
    blur_sigma : float
    seed : int or None
        Seed of the random order among tied pixels.

    Returns
    -------
    CurveResult
        ``curve`` (N, steps + 1), ``auc`` (N,), ``mean_auc``, ``fractions``.

    Examples
    --------
    >>> exp = tlxp.explain(model, x_test[:16], 'integrated_gradients')
    >>> tlxp.metrics.insertion(model, exp).mean_auc  # doctest: +IGNORE_RESULT
    0.74
    """
    return _curve("insertion", model, explanation, steps, baseline_value, batch_size, reduce, score, blur_sigma,
                  seed)


# ---------------------------------------------------------------------------- mu-fidelity
def mu_fidelity(model, explanation, n_subsets=128, subset_size=0.2, baseline_value=0.0, seed=0, batch_size=None,
                reduce="sum", score="probability", blur_sigma=3.0):
    """μ-fidelity: do the attributions of random pixel subsets predict the output drop when they are removed?

    Bhatt, Weller & Moura (2020), "Evaluating and Aggregating Feature-based Model
    Explanations", IJCAI. For each input, ``n_subsets`` random subsets ``S`` of
    ``subset_size`` pixels are drawn; the metric is the Pearson correlation,
    over the subsets, between ``sum_{p in S} heatmap[p]`` and
    ``f(x) - f(x with S set to the baseline)`` (``f``: probability of the explained
    class). Higher is better. Subsets are drawn from a counter-based stream per
    (input, subset), so a seed gives the same result at any ``batch_size``.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanation : Explanation
    n_subsets : int
        Random subsets per input (at least 2).
    subset_size : float or int
        Fraction of the pixels in (0, 1) (default 0.2, as Xplique's
        ``subset_percent``) or a number of pixels.
    baseline_value : float, 'blur', 'zeros', 'uniform' or array
        What removed pixels become.
    seed : int or None
        Seed of the subsets (None: fresh entropy, not reproducible).
    batch_size : int, optional
        Perturbed images per model call.
    reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
    score : {'probability', 'output'}
    blur_sigma : float

    Returns
    -------
    FidelityResult
        ``correlations`` (N,), ``mean``, ``attribution_sums`` and ``output_drops``
        (N, n_subsets).

    Examples
    --------
    >>> exp = tlxp.explain(model, x_test[:16], 'gradient_x_input')
    >>> tlxp.metrics.mu_fidelity(model, exp, n_subsets=64).mean  # doctest: +IGNORE_RESULT
    0.41
    """
    n_subsets = _check_int("n_subsets", n_subsets, 2)
    seed = _check_seed(seed)
    adapter, x, images, targets, scorer = _setup(model, explanation, batch_size, score)
    base = _baseline_images(adapter, x, explanation.image_shape, baseline_value, blur_sigma, seed)
    n, n_pixels = images.shape[:2]
    k = _n_pixels("subset_size", subset_size, n_pixels)
    heat = _flat_heat(explanation, reduce)
    i_all, s_all = pair_index(n, n_subsets)
    sums = np.empty(len(i_all), np.float64)

    def subsets(ib, sb):
        keys = row_uniform(seed, ib * n_subsets + sb, (n_pixels,))
        chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
        mask = np.zeros((len(ib), n_pixels), bool)
        np.put_along_axis(mask, chosen, True, axis=1)
        return mask

    def build(ib, sb):
        mask = subsets(ib, sb)
        sums[ib * n_subsets + sb] = (heat[ib] * mask).sum(axis=1)
        return np.where(mask[..., None], base[ib], images[ib])

    with adapter.inference_mode():
        full = adapter.map_batches(lambda xb, tb: scorer(xb, tb), x, targets, batch_size=batch_size)
    perturbed = _score_pairs(adapter, scorer, i_all, s_all, build, targets, batch_size)
    drops = (full[i_all] - perturbed).reshape(n, n_subsets).astype(np.float64)
    sums = sums.reshape(n, n_subsets)
    corr = _pearson_rows(sums, drops)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(np.nanmean(corr)) if np.isfinite(corr).any() else float("nan")
    return FidelityResult(explanation.method, corr, mean, sums, drops, k)
