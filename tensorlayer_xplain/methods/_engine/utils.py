"""Machinery shared by the methods: upsampling, normalization, seeded randomness, chunking.

Methods import from here instead of writing their own copies.
"""
import numpy as np
import tensorflow as tf

__all__ = ["upsample", "normalize_per_sample", "rng_for"]


def upsample(maps, size, method="bilinear"):
    """Resize spatial maps to ``size`` (H, W).

    Parameters
    ----------
    maps : ndarray, shape (N, h, w) or (N, h, w, C)
    size : tuple of int
        Target ``(H, W)``.
    method : str
        Any ``tf.image.resize`` method.

    Returns
    -------
    ndarray, float32, shape (N, H, W) or (N, H, W, C)

    Examples
    --------
    >>> upsample(np.ones((2, 7, 7)), (28, 28)).shape
    (2, 28, 28)
    """
    maps = np.asarray(maps, np.float32)
    squeeze = maps.ndim == 3
    if squeeze:
        maps = maps[..., None]
    if tuple(maps.shape[1:3]) != tuple(size):
        maps = _resize_function(method)(tf.constant(maps), tf.constant(size, tf.int32)).numpy()
    return maps[..., 0] if squeeze else maps


_RESIZE = {}


def _resize_function(method):
    """``tf.image.resize`` compiled once per method, for any shape (eager resize costs ~1 ms of Python per call)."""
    fn = _RESIZE.get(method)
    if fn is None:
        step = tf.function(lambda maps, size: tf.image.resize(maps, size, method=method),
                           input_signature=[tf.TensorSpec((None, None, None, None), tf.float32),
                                            tf.TensorSpec((2,), tf.int32)])
        fn = _RESIZE[method] = step.get_concrete_function()
    return fn


def normalize_per_sample(maps, eps=1e-12):
    """Scale each sample's map to [0, 1] (min-max over all but the batch axis)."""
    maps = np.asarray(maps, np.float32)
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True)
    high = maps.max(axis=axes, keepdims=True)
    return (maps - low) / np.maximum(high - low, eps)


def rng_for(seed):
    """A numpy ``Generator``: the same stream for the same ``seed`` (None = fresh entropy)."""
    return np.random.default_rng(seed)
