"""Superpixels for LIME and SHAP: segment an image, perturb segments, map segment values to pixels.

Shared by :mod:`~tensorlayer_xplain.methods.lime` and :mod:`~tensorlayer_xplain.methods.shap`
(never copied per method). Works on small gray digits (SLIC with ``channel_axis=None``
on a [0, 1]-rescaled copy, or a regular grid) as well as on RGB images.

Examples
--------
>>> image = np.random.default_rng(0).random((28, 28, 1))
>>> seg = segment_image(image, 'grid', n_segments=49)
>>> seg.shape, int(seg.max()) + 1
((28, 28), 49)
>>> segments_to_pixels(np.arange(49.0), seg).shape
(28, 28)
"""
import math

import numpy as np

from .._ranges import Range, count

__all__ = [
    "SEGMENTATIONS",
    "segment_image",
    "segment_batch",
    "grid_segments",
    "compose",
    "segments_to_pixels",
    "scales_of",
    "segment_centroids",
]

#: Named segmentations accepted by :func:`segment_image` (a callable or a label array also works).
SEGMENTATIONS = ("slic", "grid", "quickshift", "felzenszwalb")


def _rescaled(image):
    """The image mapped to [0, 1] (so SLIC's ``compactness`` means the same for any data range)."""
    image = np.asarray(image, dtype=np.float64)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def grid_segments(height, width, n_segments):
    """Regular grid of about ``n_segments`` rectangular cells.

    Parameters
    ----------
    height, width : int
    n_segments : int
        Wanted number of cells; the cell side is ``round(sqrt(H * W / n_segments))``.

    Returns
    -------
    ndarray of int32, shape (H, W)
        Labels ``0 .. S-1`` in row-major cell order.

    Examples
    --------
    >>> grid_segments(4, 4, 4)
    array([[0, 0, 1, 1],
           [0, 0, 1, 1],
           [2, 2, 3, 3],
           [2, 2, 3, 3]], dtype=int32)
    """
    side = max(1, int(round(math.sqrt(height * width / max(1, int(n_segments))))))
    rows = np.arange(height) // side
    cols = np.arange(width) // side
    n_cols = int(cols.max()) + 1
    return (rows[:, None] * n_cols + cols[None, :]).astype(np.int32)


def _relabel(labels):
    """Labels renumbered ``0 .. S-1`` (in order of first appearance of the sorted values)."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


#: SLIC's ``compactness`` on the [0, 1]-rescaled image. Outside this range SLIC's native code divides
#: by (almost) zero: 0 raises ZeroDivisionError, 1e-200 and below corrupt the heap and abort the process.
COMPACTNESS_RANGE = (1e-4, 1e4)
#: Declared ranges of the segmentation parameters every superpixel method takes (LIME, SHAP).
SEGMENTATION_RANGES = {"n_segments": count(pairs=True, bound="area"),
                       "compactness": Range(*COMPACTNESS_RANGE, note="SLIC on the [0, 1]-rescaled image")}


def check_compactness(compactness):
    """Return ``compactness`` as a float, or raise ValueError if it is outside :data:`COMPACTNESS_RANGE`.

    Parameters
    ----------
    compactness : float

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Naming the parameter, the accepted range and the value (bools, strings, NaN and inf too).

    Examples
    --------
    >>> check_compactness(0.1)
    0.1
    >>> check_compactness(1e-300)
    Traceback (most recent call last):
    ...
    ValueError: compactness: expected a number between 0.0001 and 10000 (SLIC on the [0, 1]-rescaled image), got 1e-300
    """
    low, high = COMPACTNESS_RANGE
    if isinstance(compactness, (bool, np.bool_)) or not isinstance(compactness, (int, float, np.integer, np.floating)) \
            or not low <= float(compactness) <= high:
        raise ValueError("compactness: expected a number between %g and %g (SLIC on the [0, 1]-rescaled image), "
                         "got %r" % (low, high, compactness))
    return float(compactness)


def segment_image(image, segmentation="slic", n_segments=40, compactness=0.1, seed=0):
    """Segment one image into superpixels.

    Parameters
    ----------
    image : ndarray, shape (H, W, C) with C = 1 or 3, or (H, W)
    segmentation : {'slic', 'grid', 'quickshift', 'felzenszwalb'}, callable or ndarray
        ``'slic'`` (Achanta et al. 2012) runs on a [0, 1]-rescaled copy, with
        ``channel_axis=None`` for gray images; ``'grid'`` is a regular grid (robust
        on tiny images); a callable maps the (H, W, C) image to (H, W) labels; an
        (H, W) integer array is used as is.
    n_segments : int
        Wanted number of segments (SLIC, grid; quickshift/felzenszwalb ignore it).
    compactness : float
        SLIC's colour/space trade-off on the rescaled image (0.1 follows digit strokes), in
        :data:`COMPACTNESS_RANGE` (checked for every segmentation, before any native call).
    seed : int
        Seed for segmentations that are random (quickshift).

    Returns
    -------
    ndarray of int32, shape (H, W)
        Labels ``0 .. S-1``.

    Raises
    ------
    ValueError
        Unknown segmentation name, a label array of the wrong shape or ``compactness`` out of range.

    Examples
    --------
    >>> import numpy as np
    >>> labels = segment_image(np.random.default_rng(0).random((28, 28, 1)), n_segments=16)
    >>> labels.shape, labels.dtype.name
    ((28, 28), 'int32')
    """
    compactness = check_compactness(compactness)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    if isinstance(segmentation, np.ndarray):
        if segmentation.shape != (height, width):
            raise ValueError("segmentation: expected a label array of shape (%d, %d), got shape %s"
                             % (height, width, segmentation.shape))
        return _relabel(segmentation)
    if callable(segmentation):
        labels = np.asarray(segmentation(image))
        if labels.shape != (height, width):
            raise ValueError("segmentation: the callable returned labels of shape %s, expected (%d, %d)"
                             % (labels.shape, height, width))
        return _relabel(labels)
    if segmentation == "grid":
        return grid_segments(height, width, n_segments)
    from skimage import segmentation as skseg

    scaled = _rescaled(image)
    gray = channels == 1
    if segmentation == "slic":
        labels = skseg.slic(scaled[..., 0] if gray else scaled, n_segments=int(n_segments),
                            compactness=compactness, channel_axis=None if gray else -1, start_label=0)
    elif segmentation == "quickshift":
        rgb = np.repeat(scaled, 3, axis=-1) if gray else scaled
        labels = skseg.quickshift(rgb, kernel_size=2, max_dist=6, ratio=0.5, rng=0 if seed is None else int(seed))
    elif segmentation == "felzenszwalb":
        labels = skseg.felzenszwalb(scaled[..., 0] if gray else scaled, scale=20, sigma=0.5, min_size=4,
                                    channel_axis=None if gray else -1)
    else:
        raise ValueError("segmentation: expected one of %s, a callable or an (H, W) label array, got %r"
                         % (SEGMENTATIONS, segmentation))
    return _relabel(labels)


def segment_batch(images, segmentation="slic", n_segments=40, compactness=0.1, seed=0):
    """:func:`segment_image` for each image of a batch ``(N, H, W, C)``; returns ``(N, H, W)`` int32."""
    return np.stack([segment_image(img, segmentation, n_segments, compactness, seed) for img in images])


def compose(keep, segments, image, replacement):
    """Perturbed copies of ``image``: segment ``s`` kept where ``keep[:, s]``, else replaced.

    Parameters
    ----------
    keep : ndarray, shape (B, S)
        True/1 keeps a segment, False/0 replaces it.
    segments : ndarray of int, shape (H, W)
    image, replacement : ndarray, shape (H, W, C)

    Returns
    -------
    ndarray, float32, shape (B, H, W, C)
        Kept pixels equal ``image`` exactly, replaced ones ``replacement``.
    """
    keep = np.asarray(keep)
    if keep.dtype != bool:
        keep = keep > 0.5
    image = np.asarray(image, np.float32)
    # a full-size mask: np.where broadcasting (B, H, W, 1) against (H, W, C) is ~3x slower
    pixel_keep = np.repeat(keep[:, segments][..., None], image.shape[-1], axis=-1)
    return np.where(pixel_keep, image, np.asarray(replacement, np.float32))


def segments_to_pixels(values, segments, spread="copy"):
    """Paint one value per segment onto its pixels.

    Parameters
    ----------
    values : ndarray, shape (S,) or (B, S)
    segments : ndarray of int, shape (H, W)
    spread : {'copy', 'divide'}
        ``'copy'`` gives every pixel its segment's value (LIME weights);
        ``'divide'`` splits it evenly over the segment's pixels, so the pixel map
        sums to the same total (SHAP values keep additivity).

    Returns
    -------
    ndarray, shape (H, W) or (B, H, W)
    """
    values = np.asarray(values, dtype=np.float64)
    if spread == "divide":
        sizes = np.bincount(segments.ravel(), minlength=values.shape[-1]).astype(np.float64)
        values = values / np.maximum(sizes, 1)
    elif spread != "copy":
        raise ValueError("spread: expected 'copy' or 'divide', got %r" % (spread,))
    return values[..., segments]


def scales_of(n_segments):
    """``n_segments`` as a tuple of scales: an int is one scale, a sequence several (multi-scale).

    Raises
    ------
    ValueError
        For non-positive or empty values.
    """
    scales = (n_segments,) if np.isscalar(n_segments) else tuple(n_segments)
    if not scales or any(int(s) < 1 or int(s) != s for s in scales):
        raise ValueError("n_segments: expected a positive int or a sequence of positive ints (multi-scale), "
                         "got %r" % (n_segments,))
    return tuple(int(s) for s in scales)


def segment_centroids(segments):
    """``(S, 2)`` mean (row, col) of each segment: used to build a spatial hierarchy over segments."""
    n = int(segments.max()) + 1
    rows, cols = np.indices(segments.shape)
    sizes = np.maximum(np.bincount(segments.ravel(), minlength=n), 1)
    return np.stack([np.bincount(segments.ravel(), rows.ravel(), n) / sizes,
                     np.bincount(segments.ravel(), cols.ravel(), n) / sizes], axis=1)
