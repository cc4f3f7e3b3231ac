"""Reference inputs ("baselines") for path and perturbation methods, in one place.

Used by integrated gradients (the start of the path). A baseline is what the
input is compared with: black (zeros), a blurred copy of the input, uniform
noise over the input's value range, or any array the user gives.

Reference: Sturmfels, Lundberg & Lee (2020), "Visualizing the Impact of
Feature Attribution Baselines", Distill.
"""
import numpy as np

__all__ = ["BASELINES", "make_baseline", "blur_images", "blur_radius", "blur_passes", "BLUR_TAPS_PER_PASS"]

#: Multiply-adds per input value counted as one forward pass when a method blurs its inputs on the host.
BLUR_TAPS_PER_PASS = 256

#: Baseline names accepted by :func:`make_baseline` (an array is accepted too).
BASELINES = ("zeros", "blurred", "uniform")


def blur_radius(sigma, image_hw):
    """Half-width of the Gaussian kernel :func:`blur_images` uses: SciPy's ``4 sigma``, at most the image's side.

    Beyond the image's longer side the kernel only repeats edge pixels (``mode='nearest'``), so
    clipping it bounds the work (``2 * radius + 1`` taps per axis) whatever ``sigma``.

    Examples
    --------
    >>> blur_radius(3.0, (28, 28)), blur_radius(100.0, (28, 28))
    (12, 28)
    """
    return max(1, min(int(4.0 * float(sigma) + 0.5), max(int(image_hw[0]), int(image_hw[1]))))


def blur_passes(image_shape, n, sigma):
    """Forward passes a Gaussian blur of ``n`` images counts: ``2 (2 r + 1)`` taps per value, one pass per 256.

    Examples
    --------
    >>> blur_passes((28, 28, 1), 2, 3.0)
    2
    """
    taps = 2 * (2 * blur_radius(sigma, image_shape[:2]) + 1)
    return n * -(-taps // BLUR_TAPS_PER_PASS)


def blur_images(images, sigma):
    """Gaussian blur over the two spatial axes of ``(N, H, W, C)`` images.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    sigma : float
        Standard deviation of the Gaussian, in pixels. The kernel is cut at
        :func:`blur_radius` (4 sigma, at most the image's longer side).

    Returns
    -------
    ndarray, float32, same shape

    Examples
    --------
    >>> blur_images(np.ones((1, 8, 8, 1)), 2.0).shape
    (1, 8, 8, 1)
    """
    from scipy.ndimage import gaussian_filter

    images = np.asarray(images, np.float32)
    r = blur_radius(sigma, images.shape[1:3])
    return gaussian_filter(images, sigma=(0, float(sigma), float(sigma), 0), mode="nearest",
                           radius=(0, r, r, 0)).astype(np.float32)


def _array_baseline(baseline, x, adapter, name):
    """Broadcast a user array (scalar, one sample, or one per input) to ``x``'s shape."""
    b = np.asarray(baseline, dtype=np.float32)
    if b.ndim == 0:
        return np.full_like(x, float(b))
    if b.shape == x.shape:
        return b.copy()
    try:
        per_sample, _ = adapter.prepare(b, name=name)
    except ValueError:
        raise ValueError(
            "%s: expected %s, a scalar, one sample of shape %s or one per input %s; got an array of shape %s"
            % (name, BASELINES, adapter.input_shape, x.shape, b.shape)
        ) from None
    if len(per_sample) == 1:
        return np.broadcast_to(per_sample, x.shape).copy()
    if per_sample.shape == x.shape:
        return per_sample
    raise ValueError("%s: expected one baseline per input (%d), got %d" % (name, len(x), len(per_sample)))


def make_baseline(baseline, x, adapter, rng=None, blur_sigma=3.0, name="baseline"):
    """Build the baseline batch for inputs ``x``.

    Parameters
    ----------
    baseline : {'zeros', 'blurred', 'uniform'}, float or array-like
        * ``'zeros'``: all-zero input (black image).
        * ``'blurred'``: the input blurred with a Gaussian of ``blur_sigma`` pixels.
        * ``'uniform'``: uniform noise between the batch's minimum and maximum value.
        * a scalar, one sample (input or image shape) or one array per input.
    x : ndarray, float32, shape (N, *input_shape)
    adapter : ModelAdapter
        Gives the image shape (to blur flat inputs as images) and validates arrays.
    rng : numpy.random.Generator, optional
        Needed for ``'uniform'``.
    blur_sigma : float
        Blur strength for ``'blurred'``.
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray, float32, shape (N, *input_shape)

    Raises
    ------
    ValueError
        Unknown name or an array of the wrong shape.

    Examples
    --------
    >>> make_baseline('zeros', x, adapter).shape == x.shape
    True
    """
    if isinstance(baseline, str):
        if baseline == "zeros":
            return np.zeros_like(x)
        if baseline == "blurred":
            if not np.isfinite(blur_sigma) or blur_sigma <= 0:
                raise ValueError("blur_sigma: expected a positive number, got %r" % (blur_sigma,))
            return blur_images(adapter.to_image(x), blur_sigma).reshape(x.shape)
        if baseline == "uniform":
            rng = rng if rng is not None else np.random.default_rng()
            low, high = float(x.min()), float(x.max())
            if high <= low:
                high = low + 1.0
            return rng.uniform(low, high, size=x.shape).astype(np.float32)
        raise ValueError("%s: expected one of %s or an array, got %r" % (name, BASELINES, baseline))
    if baseline is None:
        raise ValueError("%s: expected one of %s or an array, got None" % (name, BASELINES))
    return _array_baseline(baseline, x, adapter, name)
