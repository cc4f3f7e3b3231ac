"""Background (reference) data and replacement images for SHAP and LIME.

* :func:`check_background` validates a user's background set against the model
  (shape, gray/RGB channels, finiteness) with errors that say how to pass one;
* :func:`subsample` draws a seeded subset when the set is larger than needed;
* :func:`replacement_images` builds what "removed" pixels become: a box blur
  (as ``shap.maskers.Image``), a constant, or the background mean.

Reference: Lundberg & Lee (2017), "A Unified Approach to Interpreting Model
Predictions" (SHAP values as expectations over a background distribution).
"""
import re

import numpy as np

from .._ranges import image_limit, values

__all__ = ["check_background", "subsample", "parse_masker", "replacement_images", "check_blur_masker", "MASKER"]


def check_background(adapter, background, method, name="background"):
    """Validate a background set and bring it to the model's input shape.

    Parameters
    ----------
    adapter : ModelAdapter
    background : array-like, shape (M, *input_shape) or (M, *image_shape), or None
    method : str
        Method name, for the error message.

    Returns
    -------
    ndarray, float32, shape (M, *input_shape)

    Raises
    ------
    ValueError
        Missing background, wrong shape (e.g. RGB background for a gray model),
        NaN/inf, or a single sample where several are expected.
    """
    if background is None:
        raise ValueError(
            "%s: method %r needs a background set (reference inputs, e.g. 50-200 training samples of shape %s), "
            "got None; pass explain(..., %s=X_train[:100]) or ModelExplainer(config={%r: {%r: X_train[:100]}})"
            % (name, method, (None,) + tuple(adapter.input_shape), name, method, name)
        )
    x, _ = adapter.prepare(background, name=name)
    return x


def subsample(background, max_size, seed):
    """At most ``max_size`` rows of ``background``, drawn without replacement with ``seed``."""
    if max_size is None or len(background) <= max_size:
        return background
    index = np.sort(np.random.default_rng(seed).choice(len(background), int(max_size), replace=False))
    return background[index]


_BLUR = re.compile(r"^blur\((\d+),\s*(\d+)\)$")
_MASKERS = ("blur", "blur(kx,ky)", "inpaint_telea", "inpaint_ns", "a number")


def check_blur_masker(method, key, value, image_shape):
    """A ``'blur(kx,ky)'`` masker's kernel sizes within ``[1, the image's longer side]`` (OpenCV blurs with them)."""
    match = _BLUR.match(value.replace(" ", ""))
    side = image_limit("side", image_shape)
    if match and side is not None and not all(1 <= int(v) <= side for v in match.groups()):
        raise ValueError("%s: expected 'blur(kx,ky)' with kx, ky in [1, %d] (the image's longer side) for %s, "
                         "got %.80r" % (key, side, method, value))


#: Range of a masker: a fill value, or a string checked by :func:`check_blur_masker`.
MASKER = values(text=check_blur_masker)


def parse_masker(masker, image_shape, allow_inpaint=True):
    """Normalize a masker spec to what ``shap.maskers.Image`` takes.

    Parameters
    ----------
    masker : str or float
        ``'blur'`` (box blur over a quarter of the image side), ``'blur(kx,ky)'``,
        ``'inpaint_telea'``, ``'inpaint_ns'`` (OpenCV inpainting) or a constant.
    image_shape : tuple (H, W, C)
    allow_inpaint : bool
        Inpainting depends on which pixels are masked, so it has no fixed
        replacement image; callers that need one pass False.

    Returns
    -------
    str or float
        ``'blur(k,k)'``, an inpaint name, or a float.
    """
    if isinstance(masker, (int, float, np.integer, np.floating)) and not isinstance(masker, bool):
        return float(masker)
    if masker == "blur":
        k = max(3, int(round(min(image_shape[:2]) / 4.0)))
        return "blur(%d,%d)" % (k, k)
    if isinstance(masker, str) and _BLUR.match(masker):
        return masker.replace(" ", "")
    if masker in ("inpaint_telea", "inpaint_ns"):
        if not allow_inpaint:
            raise ValueError("masker: %r has no fixed replacement image; with granularity='superpixel' use "
                             "'blur', 'blur(kx,ky)' or a number" % (masker,))
        return masker
    raise ValueError("masker: expected one of %s, got %r" % (", ".join(_MASKERS), masker))


def replacement_images(images, masker):
    """What removed pixels become, per image: a box blur of it, or a constant.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    masker : str or float
        As returned by :func:`parse_masker` (not an inpaint name).

    Returns
    -------
    ndarray, float32, shape (N, H, W, C)
    """
    images = np.asarray(images, np.float32)
    if isinstance(masker, float):
        return np.full_like(images, masker)
    import cv2

    kx, ky = (int(v) for v in _BLUR.match(masker).groups())
    return np.stack([cv2.blur(img, (kx, ky)).reshape(img.shape) for img in images])
