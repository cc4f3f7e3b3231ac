"""Reliance on regions: the share of attribution mass outside the object, and the counterfactual check."""
import numpy as np
import pandas as pd

from ..methods._engine.baselines import blur_images
from ..visualize._draw import as_probabilities

__all__ = ["normalized_maps", "outside_share", "suspected_regions", "replace_region", "counterfactual",
           "reliance_table", "FILLS"]

#: How :func:`replace_region` fills the suspected region.
FILLS = ("inpaint", "blur", "zero")


def normalized_maps(heatmaps):
    """Absolute heatmaps scaled to sum to 1 per input (an all-zero map stays zero).

    Parameters
    ----------
    heatmaps : ndarray, shape (N, H, W)

    Returns
    -------
    ndarray, float64, shape (N, H, W)
    """
    heat = np.abs(np.asarray(heatmaps, np.float64))
    total = heat.reshape(len(heat), -1).sum(axis=1)
    return heat / np.where(total > 0, total, 1.0)[:, None, None]


def outside_share(heatmaps, masks):
    """Share of each input's absolute attribution mass outside its object mask.

    Parameters
    ----------
    heatmaps : ndarray, shape (N, H, W)
    masks : ndarray of bool, shape (N, H, W)
        True on the object.

    Returns
    -------
    ndarray, shape (N,)
        In [0, 1]; NaN where a map is all zero.

    Examples
    --------
    >>> outside_share(np.array([[[1., 3.]]]), np.array([[[True, False]]]))
    array([0.75])
    """
    heat = np.abs(np.asarray(heatmaps, np.float64))
    total = heat.reshape(len(heat), -1).sum(axis=1)
    outside = (heat * ~masks).reshape(len(heat), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, outside / total, np.nan)


def suspected_regions(maps, masks, level=0.25, grow=1):
    """Where each input's attribution outside the object concentrates: the region the counterfactual replaces.

    Outside-object pixels whose map reaches ``level`` times the input's largest
    outside value, grown by ``grow`` pixels (and kept outside the object).

    Parameters
    ----------
    maps : ndarray, shape (N, H, W)
        Non-negative maps (e.g. :func:`normalized_maps`).
    masks : ndarray of bool, shape (N, H, W)
        True on the object.
    level : float in (0, 1]
    grow : int

    Returns
    -------
    ndarray of bool, shape (N, H, W)
        Empty for an input with no attribution outside its object.

    Examples
    --------
    >>> m = np.zeros((1, 4, 4)); m[0, 0, 3] = 1.0; m[0, 2, 2] = 5.0
    >>> obj = np.zeros((1, 4, 4), bool); obj[0, 2, 2] = True
    >>> suspected_regions(m, obj, grow=0)[0].sum()
    1
    """
    from scipy import ndimage

    outside = np.where(masks, 0.0, maps)
    peak = outside.reshape(len(outside), -1).max(axis=1)[:, None, None]
    region = (outside >= level * peak) & (peak > 0)
    if grow:
        region = ndimage.binary_dilation(region, structure=np.ones((1, 3, 3), bool), iterations=int(grow))
    return region & ~masks


def _inpaint(images, regions):
    """Telea inpainting per image and channel, on 8-bit copies scaled to each image's range."""
    import cv2

    out = np.empty_like(images)
    for i, (image, mask) in enumerate(zip(images, regions)):
        low, high = float(image.min()), float(image.max())
        scale = (high - low) or 1.0
        m = mask.astype(np.uint8)
        for c in range(image.shape[-1]):
            channel = np.round((image[:, :, c] - low) / scale * 255).astype(np.uint8)
            out[i, :, :, c] = cv2.inpaint(channel, m, 3, cv2.INPAINT_TELEA).astype(np.float32) / 255 * scale + low
    return out


def replace_region(images, regions, fill="inpaint", blur_sigma=3.0):
    """Replace ``regions`` of each image: inpainted from the rest (Telea), blurred, or set to zero.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    regions : ndarray of bool, shape (N, H, W)
        True where the image is replaced.
    fill : {'inpaint', 'blur', 'zero'}
    blur_sigma : float
        Gaussian sigma in pixels for ``'blur'``.

    Returns
    -------
    ndarray, float32, shape (N, H, W, C)

    Examples
    --------
    >>> img = np.ones((1, 4, 4, 1), np.float32)
    >>> replace_region(img, np.eye(4, dtype=bool)[None], 'zero')[0, :, :, 0].trace()
    0.0
    """
    if fill not in FILLS:
        raise ValueError("fill: expected one of %s, got %r" % (FILLS, fill))
    images = np.asarray(images, np.float32)
    if fill == "zero":
        filled = np.zeros_like(images)
    elif fill == "blur":
        filled = blur_images(images, blur_sigma)
    else:
        filled = _inpaint(images, regions)
    return np.where(regions[..., None], filled, images).astype(np.float32)


def counterfactual(adapter, images, regions, predicted, scores, fill="inpaint"):
    """Predictions after the suspected regions are replaced: flip and score drop per input.

    Parameters
    ----------
    adapter : ModelAdapter
    images : ndarray, shape (N, H, W, C)
    regions : ndarray of bool, shape (N, H, W)
        Suspected regions (replaced).
    predicted : ndarray of int, shape (N,)
        Prediction on the original inputs.
    scores : ndarray, shape (N, K)
        Model scores on the original inputs (logits or probabilities).
    fill : str
        See :func:`replace_region`.

    Returns
    -------
    flipped : ndarray of bool, shape (N,)
        The prediction changed.
    score_drop : ndarray, shape (N,)
        Probability of the original prediction before minus after.
    replaced : ndarray, shape (N, H, W, C)
        The counterfactual inputs.
    """
    replaced = replace_region(images, regions, fill)
    after = adapter.predict(replaced.reshape((len(images),) + tuple(adapter.input_shape)))
    rows = np.arange(len(images))
    before_p, after_p = as_probabilities(scores), as_probabilities(after)
    return (np.argmax(after, axis=1) != predicted), before_p[rows, predicted] - after_p[rows, predicted], replaced


def _mean(values):
    """Mean of the finite values (NaN when there is none), without numpy's empty-slice warning."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else np.nan


def reliance_table(shares, predicted, flipped, score_drop, n_classes, class_names, reliance_threshold,
                   flip_threshold):
    """One row per class (by predicted class): outside share per method and overall, the counterfactual, the flag.

    ``excess`` is the class's outside share minus the median over classes that
    have inputs; a class is ``flagged`` when its excess exceeds
    ``reliance_threshold`` *and* its counterfactual flip rate reaches
    ``flip_threshold``.
    """
    stacked = np.stack(list(shares.values()))
    overall = np.array([_mean(col) for col in stacked.T])
    rows = []
    for k in range(n_classes):
        sel = predicted == k
        row = {"class": k, "name": class_names[k] if class_names else str(k), "n": int(sel.sum())}
        for method, share in shares.items():
            row["outside_share_%s" % method] = _mean(share[sel])
        row["outside_share"] = _mean(overall[sel])
        row["flip_rate"] = _mean(flipped[sel])
        row["score_drop"] = _mean(score_drop[sel])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["excess"] = table["outside_share"] - np.nanmedian(table["outside_share"])
    table["flagged"] = ((table["excess"] > reliance_threshold) & (table["flip_rate"] >= flip_threshold)).astype(bool)
    return table
