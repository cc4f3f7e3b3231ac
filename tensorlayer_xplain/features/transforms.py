"""Transformation robustness: random, seeded jitter, scale, rotation and padding applied at each step.

Each transform maps an image batch ``(B, h, w, C)`` in [0, 1] to another, drawing its random
numbers with ``tf.random.stateless_*`` from a per-step seed: the same ``seed`` gives the same
transforms, and every image of a batch gets the same transform at a given step, so an objective
optimised alone or among others sees the same sequence (batched runs equal one-by-one runs).
After the transforms, the batch is resized (bilinear) to the model's input size if padding or
jitter changed it. Scale and rotation resample with bilinear weights about the centre, repeating
the edge pixels outside the image; everything is differentiable.

``'standard'`` is Lucid's ``standard_transforms`` (pad 12, jitter 8, scale 0.9-1.1, rotate
-10..10 degrees, jitter 4 at 224 pixels), with the pixel amounts scaled to the image size (at
28x28: pad 2, jitter 1, jitter 1).
"""
import math

import numpy as np
import tensorflow as tf

__all__ = ["Transform", "pad", "jitter", "scale", "rotate", "standard_transforms", "get_transforms", "apply"]

#: Largest padding or jitter, in pixels.
MAX_PIXELS = 256


def _check_pixels(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_PIXELS:
        raise ValueError("%s: expected an int number of pixels in [0, %d], got %r" % (name, MAX_PIXELS, value))
    return int(value)


def _check_choices(values, name, low, high):
    try:
        values = tuple(float(v) for v in values)
    except TypeError:
        raise TypeError("%s: expected a sequence of numbers, got %r" % (name, values)) from None
    if not values or not all(low <= v <= high for v in values):
        raise ValueError("%s: expected a non-empty sequence of numbers in [%g, %g], got %r" % (name, low, high, values))
    return values


class Transform:
    """One random transform: ``transform(images, seed)`` with ``seed`` an int32 tensor ``(2,)``."""

    def __init__(self, kind, **config):
        self.kind, self.config = kind, config

    def key(self):
        return (self.kind,) + tuple(sorted(self.config.items()))

    def __repr__(self):
        return "%s(%s)" % (self.kind, ", ".join("%s=%r" % kv for kv in sorted(self.config.items())))

    def __call__(self, images, seed):
        return getattr(self, "_" + self.kind)(images, seed, **self.config)

    @staticmethod
    def _pad(images, seed, width, value):
        return tf.pad(images, [[0, 0], [width, width], [width, width], [0, 0]], constant_values=value)

    @staticmethod
    def _jitter(images, seed, pixels):
        h, w = images.shape[1], images.shape[2]
        if pixels == 0 or pixels >= min(h, w):
            return images
        offsets = tf.random.stateless_uniform((2,), seed, minval=0, maxval=pixels + 1, dtype=tf.int32)
        return tf.slice(images, tf.stack([0, offsets[0], offsets[1], 0]), [-1, h - pixels, w - pixels, -1])

    @staticmethod
    def _scale(images, seed, factors):
        factor = _choice(factors, seed)
        return _warp(images, tf.reshape(tf.stack([1.0 / factor, 0.0, 0.0, 1.0 / factor]), (2, 2)))

    @staticmethod
    def _rotate(images, seed, degrees):
        angle = _choice(degrees, seed) * (math.pi / 180.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        return _warp(images, tf.reshape(tf.stack([cos, sin, -sin, cos]), (2, 2)))


def _choice(values, seed):
    index = tf.random.stateless_uniform((), seed, minval=0, maxval=len(values), dtype=tf.int32)
    return tf.gather(tf.constant(values, tf.float32), index)


def _warp(images, inverse):
    """Resample ``images`` (B, h, w, C) so that output pixel ``p`` reads input ``inverse @ (p - c) + c``
    (centre ``c``), bilinearly, with edge pixels repeated outside."""
    h, w = images.shape[1], images.shape[2]
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    dy, dx = tf.constant((ys - cy).ravel()), tf.constant((xs - cx).ravel())
    sy = tf.clip_by_value(inverse[0, 0] * dy + inverse[0, 1] * dx + cy, 0.0, h - 1.0)
    sx = tf.clip_by_value(inverse[1, 0] * dy + inverse[1, 1] * dx + cx, 0.0, w - 1.0)
    y0, x0 = tf.floor(sy), tf.floor(sx)
    wy, wx = (sy - y0)[None, :, None], (sx - x0)[None, :, None]
    y0i, x0i = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1i, x1i = tf.minimum(y0i + 1, h - 1), tf.minimum(x0i + 1, w - 1)
    flat = tf.reshape(images, (-1, h * w, images.shape[3]))

    def at(yi, xi):
        return tf.gather(flat, yi * w + xi, axis=1)

    top = at(y0i, x0i) * (1.0 - wx) + at(y0i, x1i) * wx
    bottom = at(y1i, x0i) * (1.0 - wx) + at(y1i, x1i) * wx
    return tf.reshape(top * (1.0 - wy) + bottom * wy, tf.shape(images))


def pad(width, value=0.5):
    """Pad ``width`` pixels of the constant ``value`` (in [0, 1], mapped to the model's range) on every side.

    Examples
    --------
    >>> pad(2)
    pad(value=0.5, width=2)
    """
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError("value: expected a number in [0, 1] (a fraction of the input range), got %r" % value)
    return Transform("pad", width=_check_pixels(width, "width"), value=value)


def jitter(pixels):
    """Crop ``pixels`` rows and columns at a random offset (Lucid's jitter)."""
    return Transform("jitter", pixels=_check_pixels(pixels, "pixels"))


def scale(factors=tuple(1 + (i - 5) / 50.0 for i in range(11))):
    """Zoom about the centre by a factor drawn from ``factors`` (each in [0.25, 4])."""
    return Transform("scale", factors=_check_choices(factors, "factors", 0.25, 4.0))


def rotate(degrees=tuple(range(-10, 11))):
    """Rotate about the centre by an angle drawn from ``degrees`` (each in [-180, 180])."""
    return Transform("rotate", degrees=_check_choices(degrees, "degrees", -180.0, 180.0))


def standard_transforms(size):
    """Lucid's standard transforms, pixel amounts scaled from 224 to ``size`` (the smaller image side).

    Examples
    --------
    >>> standard_transforms(28)
    [pad(value=0.5, width=2), jitter(pixels=1), scale(factors=(0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.02, 1.04, \
1.06, 1.08, 1.1)), rotate(degrees=(-10.0, -9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, \
3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)), jitter(pixels=1)]
    """
    def px(amount):
        return max(1, int(round(amount * size / 224.0)))

    return [pad(px(12)), jitter(px(8)), scale(), rotate(), jitter(px(4))]


def get_transforms(value, size):
    """A list of :class:`Transform` from ``'standard'``, ``None`` / ``'none'`` / ``[]``, or a list of transforms.

    Raises
    ------
    ValueError, TypeError
        Naming ``transforms``.
    """
    if value is None or (isinstance(value, str) and value == "none"):
        return []
    if isinstance(value, str):
        if value == "standard":
            return standard_transforms(size)
        raise ValueError("transforms: expected 'standard', 'none', None or a list of transforms, got %r" % value)
    if isinstance(value, Transform):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(t, Transform) for t in value):
        return list(value)
    raise TypeError("transforms: expected 'standard', 'none', None or a list of transforms from "
                    "tensorlayer_xplain.features.transforms (pad, jitter, scale, rotate), got %r" % (value,))


def apply(transforms, images, seed, step, size):
    """Apply ``transforms`` at ``step`` (graph code) and resize back to ``size`` = (H, W) if needed.

    Parameters
    ----------
    transforms : list of Transform
    images : tf.Tensor (B, H, W, C) in [0, 1]
    seed : tf.Tensor int32 ()
    step : tf.Tensor int32 ()
    size : tuple (H, W)
    """
    out = images
    for i, transform in enumerate(transforms):
        out = transform(out, tf.stack([seed, step * 64 + i]))
    if tuple(out.shape[1:3]) != tuple(size):
        out = tf.image.resize(out, size, method="bilinear")
    return out
