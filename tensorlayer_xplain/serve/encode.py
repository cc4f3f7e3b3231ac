"""Response encoding: overlay images, softmax probabilities, JSON-able parameter values."""
import json

import numpy as np

from .._utils.drawing import OVERLAY_CMAP, _image_for_display, normalize_map


def overlay_rgb(image, heat, alpha=0.4):
    """Blend a magnitude heatmap (jet) over an input image, as :func:`draw_overlay` draws it.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1) or (H, W, 3)
    heat : ndarray, shape (H, W)
    alpha : float
        Weight of the heatmap.

    Returns
    -------
    ndarray, float32, shape (H, W, 3), values in [0, 1]

    Examples
    --------
    >>> overlay_rgb(np.zeros((28, 28, 1)), np.ones((28, 28))).shape
    (28, 28, 3)
    """
    import matplotlib

    base = _image_for_display(image)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    colors = matplotlib.colormaps[OVERLAY_CMAP](normalize_map(heat))[..., :3]
    return np.clip((1 - alpha) * base + alpha * colors, 0, 1).astype(np.float32)


def _softmax(scores):
    scores = np.asarray(scores, np.float64)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return "<array %s>" % (value.shape,)
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
