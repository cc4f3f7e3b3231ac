"""Perturbation methods: occlusion and RISE.

Both only call the model forward, on masked copies of the inputs, through the
shared masked-scoring engine (:func:`~._masking.masked_scores`): one compiled
step scores blocks of (input, mask) pairs, building the masked inputs in the
graph, so memory does not grow with the number of windows or masks. Pairs run
mask by mask, and each block's maps are accumulated with one matrix product
while its masks are at hand. Both return spatial maps ``(N, H, W)`` (the runner
broadcasts them over channels).
"""
import numpy as np
import tensorflow as tf

from .._utils.docstrings import shared_docstring
from ._engine.checks import fraction, positive_int, seed_value, window_pair
from ._engine.masking import masked_scores
from ._engine.sampling import pair_index, row_generators
from ._ranges import VALUES
from .costs import per_input
from .registry import COUNT, Range, count, register_method

__all__ = ["occlusion", "rise", "occlusion_windows", "rise_masks", "RISE_NORMALIZATIONS"]


# ----------------------------------------------------------------------------- occlusion
def _starts(size, window, stride):
    """Window start positions covering ``range(size)``, the last one flush with the end."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return np.asarray(starts)


def occlusion_windows(image_hw, window, stride):
    """Which pixels each occlusion window covers.

    Parameters
    ----------
    image_hw : tuple of int
        ``(H, W)``.
    window, stride : tuple of int
        ``(h, w)`` sizes.

    Returns
    -------
    rows, cols : ndarray of bool, shapes (P, H) and (P, W)
        Window ``p`` covers ``rows[p][:, None] & cols[p][None, :]``; ``P`` windows in all.

    Examples
    --------
    >>> rows, cols = occlusion_windows((4, 4), (2, 2), (2, 2))
    >>> rows.shape, cols.shape
    ((4, 4), (4, 4))
    """
    (h, w), (wh, ww), (sh, sw) = image_hw, window, stride
    r0, c0 = _starts(h, wh, sh), _starts(w, ww, sw)
    rr, cc = np.meshgrid(r0, c0, indexing="ij")
    rows = (np.arange(h)[None, :] >= rr.reshape(-1, 1)) & (np.arange(h)[None, :] < rr.reshape(-1, 1) + wh)
    cols = (np.arange(w)[None, :] >= cc.reshape(-1, 1)) & (np.arange(w)[None, :] < cc.reshape(-1, 1) + ww)
    return rows, cols


def _occlusion_cost(adapter, n, window, stride, **_):
    """One forward pass per window, plus the unoccluded input."""
    h, w, _ = adapter.image_shape
    rows, _ = occlusion_windows((h, w), window_pair("window", window, (h, w)), window_pair("stride", stride, (h, w)))
    return n * (len(rows) + 1), 0


@register_method("occlusion", family="perturbation", signed=True, cost=_occlusion_cost, batchable=True,
                 ranges={"window": count(pairs=True), "stride": count(pairs=True), "baseline_value": VALUES},
                 benchmark={"quick": {"stride": 4}, "work": ("window", "stride")})
@shared_docstring
def occlusion(adapter, inputs, targets, window=4, stride=2, baseline_value=0.0, batch_size=None):
    """Occlusion: how much the target score drops when a window of the input is replaced.

    Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional
    Networks". A ``window`` (all channels) slides with ``stride``; each pixel's
    attribution is the mean of ``f(x) - f(x with the window set to
    baseline_value)`` over the windows covering it. All (input, window) pairs are
    scored in one compiled step, at most ``batch_size`` in flight at once.

    Parameters
    ----------
    %(method_inputs)s
    window : int or (int, int)
        Window height and width in pixels.
    stride : int or (int, int)
        Step between windows, at most ``window``; the last window is placed flush
        with the border so every pixel is covered.
    baseline_value : float
        Value the occluded pixels take.
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W), signed
        Positive where hiding the pixels lowers the target score.
    meta : dict
        ``n_windows``.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'occlusion', window=6, stride=3)
    """
    h, w, _ = adapter.image_shape
    window = window_pair("window", window, (h, w))
    stride = window_pair("stride", stride, (h, w))
    if stride[0] > window[0] or stride[1] > window[1]:
        raise ValueError("stride: expected at most the window size %s so that every pixel is occluded, got %s"
                         % (window, stride))
    baseline_value = float(baseline_value)
    if not np.isfinite(baseline_value):
        raise ValueError("baseline_value: expected a finite number, got %r" % baseline_value)
    rows, cols = occlusion_windows((h, w), window, stride)
    covered = lambda j: rows[j][:, :, None] & cols[j][:, None, :]  # noqa: E731  (B, H, W) bool
    x = np.asarray(inputs, np.float32)
    n = len(x)
    full = masked_scores(adapter, x, targets, (np.arange(n), np.zeros(n, np.int64)),
                         lambda j: np.ones((len(j), h, w), np.float32), batch_size=batch_size)
    total = np.zeros((n, h * w), np.float64)
    i_all, j_all = pair_index(n, len(rows), major="sample")
    masked_scores(adapter, x, targets, (i_all, j_all), lambda j: (~covered(j)).astype(np.float32),
                  on_block=_accumulator(total, n, lambda i, scores: full[i] - scores, invert=True),
                  baseline=baseline_value, batch_size=batch_size)
    counts = covered(np.arange(len(rows))).sum(axis=0)
    return (total.reshape(n, h, w) / np.maximum(counts, 1)).astype(np.float32), {"n_windows": int(len(rows))}


def _accumulator(total, n, value, invert=False):
    """An ``on_block`` callback adding ``sum_j value(i, scores) * mask_j`` to ``total`` (N, H * W).

    The block's pair values are laid out as an (N, masks) matrix and multiplied
    with the flattened masks (or ``1 - masks``): one matrix product per block.
    """
    def on_block(i, local, masks, scores):
        weights = np.zeros((n, len(masks)))
        weights[i, local] = value(i, scores)
        flat = masks.reshape(len(masks), -1).astype(np.float64)
        np.add(total, weights @ (1.0 - flat if invert else flat), out=total)

    return on_block


# ----------------------------------------------------------------------------- RISE
def rise_masks(seed, indices, image_hw, mask_size, p_keep):
    """RISE masks number ``indices``: random binary grids, upsampled bilinearly and randomly shifted.

    Mask ``j`` depends only on ``(seed, j)`` (its own random stream), so a mask set
    is the same however it is split into batches.

    Parameters
    ----------
    seed : int or None
    indices : array of int
        Mask numbers.
    image_hw : tuple of int
        ``(H, W)``.
    mask_size : int
        Grid cells per side (``s``); each cell is ``ceil(H / s)`` pixels.
    p_keep : float
        Probability that a grid cell is kept (1).

    Returns
    -------
    ndarray, float32, shape (len(indices), H, W), values in [0, 1]
    """
    h, w = image_hw
    cell_h, cell_w = int(np.ceil(h / mask_size)), int(np.ceil(w / mask_size))
    grids = np.empty((len(indices), mask_size, mask_size, 1), np.float32)
    shifts = np.empty((len(indices), 2), np.int64)
    for k, gen in enumerate(row_generators(seed, indices)):
        grids[k, ..., 0] = gen.random((mask_size, mask_size)) < p_keep
        shifts[k] = gen.integers(0, (cell_h, cell_w))
    big = tf.image.resize(grids, ((mask_size + 1) * cell_h, (mask_size + 1) * cell_w), method="bilinear")
    big = big.numpy()[..., 0]
    r = shifts[:, :1] + np.arange(h)[None, :]
    c = shifts[:, 1:] + np.arange(w)[None, :]
    return big[np.arange(len(indices))[:, None, None], r[:, :, None], c[:, None, :]]


#: RISE normalizations: each pixel by its own mask coverage, or by ``n_masks * p_keep`` (the paper).
RISE_NORMALIZATIONS = ("coverage", "paper")


def _rise_normalized(saliency, coverage, normalization, n_masks, p_keep):
    """Divide the summed ``score * mask`` (N, H * W) by each pixel's coverage or by ``n_masks * p_keep``."""
    if normalization == "paper":
        return saliency / (n_masks * p_keep)
    return np.divide(saliency, coverage, out=np.zeros_like(saliency), where=coverage > 0)


@register_method("rise", family="perturbation", cost=per_input("n_masks"), batchable=False,
                 ranges={"n_masks": COUNT, "mask_size": count(bound="side"), "p_keep": Range(0.0, 1.0, low_open=True)},
                 benchmark={"quick": {"n_masks": 250}, "work": ("n_masks",)})
@shared_docstring
def rise(adapter, inputs, targets, n_masks=2000, mask_size=7, p_keep=0.5, seed=0, use_probabilities=True,
         normalization="coverage", batch_size=None):
    """RISE: the score-weighted average of random masks.

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for
    Explanation of Black-box Models". RISE estimates, for each pixel, the
    expected score of the masked input given that the pixel is kept,
    ``E[f(x * M) | M(i) = 1]``. With ``normalization='coverage'`` (default) each
    pixel's score-weighted mask sum is divided by that pixel's own mask sum,
    ``S_i = sum_j f(x * M_j) M_j(i) / sum_j M_j(i)``; ``'paper'`` divides by the
    expected mask sum ``n_masks * p_keep`` instead, as the paper writes. The two
    agree as ``n_masks`` grows, but at a few thousand masks the paper's constant
    leaves each pixel's random coverage in the map: for a confident prediction
    (scores near 1 under most masks) the map then mostly shows how densely the
    masks happened to cover each pixel, and two seeds disagree. The same
    ``n_masks`` masks serve every input; (input, mask) pairs are scored mask by
    mask in blocks, each block building only the masks it uses, at most
    ``batch_size`` masked inputs in flight at once.

    Parameters
    ----------
    %(method_inputs)s
    n_masks : int
        Number of random masks.
    mask_size : int
        Grid cells per side before upsampling.
    p_keep : float
        Probability of keeping a cell, in (0, 1].
    %(method_seed)s
    use_probabilities : bool
        Score softmax probabilities (the paper) even when the adapter explains logits.
    normalization : {'coverage', 'paper'}
        Divide by each pixel's mask coverage ``sum_j M_j(i)`` (default: a
        conditional mean, stable from seed to seed) or by ``n_masks * p_keep``
        (the paper's formula). A pixel no mask covers gets 0 with ``'coverage'``
        (counted in ``meta['uncovered_pixels']``).
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W), non-negative for probabilities
    meta : dict
        ``signed``, ``normalization`` and ``uncovered_pixels`` (pixels no mask kept).

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'rise', n_masks=1000, seed=0)
    >>> exp.meta['normalization']
    'coverage'
    >>> paper = tlxp.explain(model, x, 'rise', n_masks=1000, normalization='paper')
    """
    n_masks = positive_int("n_masks", n_masks)
    h, w, _ = adapter.image_shape
    mask_size = positive_int("mask_size", mask_size)
    if mask_size > max(h, w):
        raise ValueError("mask_size: expected at most the image size %d, got %d" % (max(h, w), mask_size))
    p_keep = fraction("p_keep", p_keep)
    seed = seed_value("seed", seed)
    if normalization not in RISE_NORMALIZATIONS:
        raise ValueError("normalization: expected one of %s, got %r" % (RISE_NORMALIZATIONS, normalization))
    x = np.asarray(inputs, np.float32)
    n = len(x)
    saliency = np.zeros((n, h * w), np.float64)
    coverage = np.zeros(h * w, np.float64)
    add_scores = _accumulator(saliency, n, lambda i, scores: scores)

    def on_block(i, local, masks, scores):
        add_scores(i, local, masks, scores)
        first = local[i == 0]  # every mask is paired with input 0 exactly once: count its coverage there
        coverage[:] += masks[first].reshape(len(first), -1).sum(axis=0, dtype=np.float64)

    i_all, j_all = pair_index(n, n_masks, major="sample")
    masked_scores(adapter, x, targets, (i_all, j_all), lambda j: rise_masks(seed, j, (h, w), mask_size, p_keep),
                  on_block=on_block, probabilities=use_probabilities, batch_size=batch_size)
    maps = _rise_normalized(saliency, coverage[None], normalization, n_masks, p_keep)
    meta = {"signed": not use_probabilities, "normalization": normalization,
            "uncovered_pixels": int(np.sum(coverage == 0))}
    return maps.reshape(n, h, w).astype(np.float32), meta
