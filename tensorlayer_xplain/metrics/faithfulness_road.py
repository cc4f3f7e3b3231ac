"""ROAD, RemOve And Debias (Rong et al., 2022): noisy linear imputation of the most relevant pixels, batched."""
import numpy as np

from .._utils.docstrings import shared_docstring
from ._common import _check_seed
from ._maps import check_fraction
from ._model_inputs import perturbed_outputs
from .faithfulness_curves import _image_geometry, _setup_curve
from .registry import register_metric, scored

__all__ = ["road", "noisy_linear_imputation"]

#: Neighbour offsets and weights of ROAD's imputation (Rong et al.'s and Quantus's table).
_NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
               ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))


def noisy_linear_imputation(images, removed, noise, rng):
    """Replace the ``removed`` pixels of each image by the solution of ROAD's neighbour-average system, plus noise.

    Each removed pixel becomes the weighted mean of its 8 neighbours (weights
    1/6 for the 4 direct, 1/12 for the diagonal ones, renormalised at the
    border), known neighbours entering the right-hand side; one sparse system per
    image, all images solved together as one block-diagonal system. Then
    ``noise * N(0, 1)`` is added per channel and pixel, drawn in Quantus's order
    (image by image, ``(C, k)`` in the order of ``removed``).

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    removed : list of N int arrays
        Pixel indices (row-major in H x W) to impute, per image.
    noise : float
    rng : numpy.random.RandomState

    Returns
    -------
    ndarray, shape (N, H, W, C)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    n, h, w, c = images.shape
    out = images.reshape(n, h * w, c).astype(np.float64)
    rows, cols, vals, rhs, offsets = [], [], [], [], [0]
    for i, idx in enumerate(removed):
        idx = np.asarray(idx, np.int64)
        k = len(idx)
        unknown = np.full(h * w, -1, np.int64)
        unknown[idx] = np.arange(k)
        b = np.zeros((k, c))
        diagonal = np.ones(k)
        r, q = idx // w, idx % w
        for (dr, dq), weight in _NEIGHBOURS:
            rr, qq = r + dr, q + dq
            valid = (rr >= 0) & (qq >= 0) & (rr < h) & (qq < w)
            diagonal[~valid] -= weight
            var = np.flatnonzero(valid)
            neighbour = (rr * w + qq)[valid]
            known = unknown[neighbour] < 0
            b[var[known]] -= weight * out[i, neighbour[known]]
            rows.append(offsets[-1] + var[~known])
            cols.append(offsets[-1] + unknown[neighbour[~known]])
            vals.append(np.full(int((~known).sum()), weight))
        rows.append(offsets[-1] + np.arange(k))
        cols.append(offsets[-1] + np.arange(k))
        vals.append(-diagonal)
        rhs.append(b)
        offsets.append(offsets[-1] + k)
    total = offsets[-1]
    solution = np.zeros((0, c))
    if total:
        matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(total, total)).tocsc()
        solution = np.asarray(spsolve(matrix, np.concatenate(rhs))).reshape(total, c)
    for i, idx in enumerate(removed):
        res = solution[offsets[i]:offsets[i + 1]].T  # (C, k), Quantus's layout
        out[i, np.asarray(idx, np.int64)] = (res + noise * rng.randn(*res.shape)).T
    return out.reshape(n, h, w, c)


@register_metric("road", direction="lower", family="faithfulness")
@shared_docstring
def road(attributions, model=None, inputs=None, targets=None, percentages=None, noise=0.01, abs=False,
         normalise=True, seed=0, batch_size=None):
    """ROAD (MoRF): is the explained class still predicted after the most relevant pixels are imputed away?

    Rong, Leemann, Borisov, Kasneci & Kasneci (2022), "A Consistent and Efficient
    Evaluation Strategy for Attribution Methods", ICML; ``quantus.ROAD``. For each
    percentage ``p``, the ``int(H * W * p / 100)`` pixels of highest attribution
    are replaced by a noisy linear imputation of their neighbours
    (:func:`noisy_linear_imputation`), which hides them without the
    out-of-distribution edges a constant baseline leaves (the 'debias'). The
    curve per input is 1 while the prediction stays the explained class, else 0;
    the score is its mean over the percentages. Lower is better (the prediction
    is lost early when the removed pixels mattered). ``len(percentages)`` model
    calls per input, all batched; one sparse solve per percentage for all inputs.

    Differences from Quantus 0.6.0: Quantus returns ``{percentage: accuracy over
    the inputs}``; that is ``details['curves'].mean(axis=0)`` here. Quantus ranks
    and indexes single values, which is the pixel ranking for one channel; with
    several channels pixels are ranked by their attribution summed over the
    channels and imputed in every channel (as the paper does; Quantus 0.6.0
    indexes past the image there).

    Parameters
    ----------
    %(metric_attributions)s
    percentages : sequence of float, optional
        Percentages of pixels removed (Quantus's default ``range(1, 100, 2)``).
    noise : float
        Standard deviation of the noise added to the imputed values (Quantus's
        default 0.01).
    %(metric_preprocess)s
    seed : int
        Seed of the noise (``np.random.RandomState(seed).randn``, drawn in
        Quantus's order: Quantus after ``np.random.seed(seed)`` draws the same).
    %(metric_batch_size)s

    Returns
    -------
    MetricResult
        ``scores`` (N,) in [0, 1], ``details['curves']`` ``(N, len(percentages))``
        of 0/1, ``direction`` 'lower'.

    Examples
    --------
    >>> exp = tlxp.explain(model, x[:8], 'gradient')
    >>> tlxp.metrics.road(exp, model=model, percentages=[10, 50, 90]).scores   # doctest: +IGNORE_RESULT
    """
    adapter, x, flat, targets, rows, method = _setup_curve("road", attributions, model, inputs, targets, abs,
                                                           normalise)
    n = len(x)
    h, w, c = _image_geometry(attributions, adapter, flat.shape[1])
    percentages = list(range(1, 100, 2)) if percentages is None else list(np.atleast_1d(percentages))
    if not percentages:
        raise ValueError("percentages: expected at least one percentage in [0, 100], got none")
    for p in percentages:
        check_fraction("percentages", p, 0.0, 100.0)
    noise = check_fraction("noise", noise, 0.0, np.inf)
    rng = np.random.RandomState(_check_seed(seed))
    pixel_scores = rows.reshape(n, h * w, c).sum(axis=2)
    order = np.argsort(-pixel_scores, axis=1)
    images = flat.reshape(n, h, w, c)

    def build(start, k):
        return np.stack([noisy_linear_imputation(images, list(order[:, :int(h * w * p / 100)]), noise, rng)
                         for p in percentages[start:start + k]])

    outputs = perturbed_outputs(adapter, x, len(percentages), build, batch_size)
    curves = (outputs.argmax(axis=2) == targets[:, None]).astype(np.float64)
    return scored("road", curves.mean(axis=1), method, details={"curves": curves, "percentages": percentages},
                  percentages=percentages, noise=noise, seed=seed)
