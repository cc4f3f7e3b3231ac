"""Where the object is: user masks, or an estimate from the input alone (ink, or contrast to the border).

The estimate never looks at the model, so a map that leaves the object is a
finding about the model, not about the estimate.
"""
import numpy as np
from scipy import ndimage

__all__ = ["object_regions", "check_regions", "REGION_ESTIMATES"]

#: Names accepted by :func:`object_regions`.
REGION_ESTIMATES = ("auto", "ink", "saliency")


def _largest_component(mask):
    """The largest 8-connected component of a boolean (H, W) mask (all False when empty)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (1 + int(np.argmax(sizes)))


def _ink(image, level):
    """Pixels brighter than ``level`` of the image's range (channels averaged)."""
    gray = image.mean(-1)
    low, high = float(gray.min()), float(gray.max())
    return gray > low + level * (high - low) if high > low else np.zeros(gray.shape, bool)


def _border_contrast(image, level):
    """Input saliency: distance of each pixel's colour from the median border colour, blurred, Otsu threshold."""
    from skimage.filters import threshold_otsu

    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]], axis=0)
    distance = np.linalg.norm(image - np.median(border, axis=0), axis=-1)
    distance = ndimage.gaussian_filter(distance, sigma=max(1.0, image.shape[0] / 56.0))
    if float(distance.max()) <= float(distance.min()):
        return np.zeros(distance.shape, bool)
    return ndimage.binary_fill_holes(distance > threshold_otsu(distance) * (level / 0.2 if level else 1.0))


def _looks_like_ink(images):
    """Gray images whose pixels mostly sit at the minimum (digits, sketches): ink on a dark background."""
    if images.shape[-1] != 1:
        return False
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    dark = images <= low + 0.05 * np.maximum(high - low, 1e-12)
    return float(dark.mean()) > 0.5


def object_regions(images, estimate="auto", level=0.2, dilation=2):
    """Estimate the object in each image from the input alone.

    * ``'ink'`` (MNIST-like data: bright strokes on a dark background): pixels
      above ``level`` of the image's range, the largest 8-connected component
      kept (a separate blob such as a corner mark is *not* the object), dilated
      by ``dilation`` pixels so the stroke's edge counts as object.
    * ``'saliency'`` (other images): the distance of each pixel's colour from
      the median colour of the image border, smoothed, thresholded with Otsu's
      method (``level`` scales the threshold, 0.2 = Otsu as is), holes filled,
      the largest component kept and dilated.
    * ``'auto'``: ``'ink'`` for one-channel images whose pixels are mostly at the
      minimum, ``'saliency'`` otherwise.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    estimate : {'auto', 'ink', 'saliency'}
    level : float in (0, 1)
    dilation : int
        Pixels added around the object (0 = none).

    Returns
    -------
    ndarray of bool, shape (N, H, W)
        True on the object.

    Examples
    --------
    >>> img = np.zeros((1, 8, 8, 1)); img[0, 2:6, 2:6] = 1; img[0, 0, 7] = 1
    >>> object_regions(img, 'ink', dilation=0)[0].sum()   # the corner pixel is not the object
    16
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 4:
        raise ValueError("images: expected (N, H, W, C), got shape %s" % (images.shape,))
    if estimate not in REGION_ESTIMATES:
        raise ValueError("regions: expected masks or one of %s, got %r" % (REGION_ESTIMATES, estimate))
    if not 0 < level < 1:
        raise ValueError("level: expected a number in (0, 1), got %r" % (level,))
    if estimate == "auto":
        estimate = "ink" if _looks_like_ink(images) else "saliency"
    find = _ink if estimate == "ink" else _border_contrast
    masks = np.stack([_largest_component(find(image, level)) for image in images])
    if dilation:
        masks = ndimage.binary_dilation(masks, structure=np.ones((1, 3, 3), bool), iterations=int(dilation))
    return masks


def check_regions(regions, n, image_shape):
    """User masks as booleans (N, H, W): accepts (N, H, W), (N, H, W, 1), or one (H, W) mask for all.

    Raises
    ------
    ValueError
        For any other shape, or masks with no object pixel.
    """
    h, w = image_shape[:2]
    masks = np.asarray(regions)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.shape == (h, w):
        masks = np.broadcast_to(masks, (n, h, w))
    if masks.shape != (n, h, w):
        raise ValueError("regions: expected object masks of shape (%d, %d, %d) or (%d, %d), got shape %s"
                         % (n, h, w, h, w, np.shape(regions)))
    masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.reshape(n, -1).any(axis=1))
    if len(empty):
        raise ValueError("regions: expected at least one object pixel per mask, got %d empty masks (first: %d)"
                         % (len(empty), empty[0]))
    return masks
