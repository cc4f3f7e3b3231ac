"""Regularizers of feature visualization: penalties on the image, subtracted from the objective.

Each penalty is computed per image on the image in [0, 1] (before the transforms), as a mean over
pixels so that a weight means the same at 28x28 and at 224x224:

* ``l1(weight, center=0.5)``: ``weight * mean|x - center|`` (Lucid's L1 around mid-gray);
* ``total_variation(weight)``: ``weight * (mean|x[y+1] - x[y]| + mean|x[:, x+1] - x[:, x]|)``;
* ``blur(weight)``: ``weight * mean (x - stop_gradient(blur3x3(x)))^2`` (Lucid's
  ``blur_input_each_step``: pulls the image towards a 3x3 box-blurred copy of itself).
"""
import numpy as np
import tensorflow as tf

__all__ = ["Regularizer", "l1", "total_variation", "blur", "get_regularizers"]

#: Largest weight accepted.
MAX_WEIGHT = 1e4


class Regularizer:
    """A weighted penalty ``(B, H, W, C) -> (B,)``."""

    def __init__(self, kind, weight, **config):
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(weight) <= MAX_WEIGHT:
            raise ValueError("weight: expected a number in [0, %g], got %r" % (MAX_WEIGHT, weight))
        self.kind, self.weight, self.config = kind, float(weight), config

    def key(self):
        return (self.kind, self.weight) + tuple(sorted(self.config.items()))

    def __repr__(self):
        extra = "".join(", %s=%r" % kv for kv in sorted(self.config.items()))
        return "%s(%g%s)" % (self.kind, self.weight, extra)

    def __call__(self, images):
        return self.weight * getattr(self, "_" + self.kind)(images, **self.config)

    @staticmethod
    def _l1(images, center):
        return tf.reduce_mean(tf.abs(images - center), axis=[1, 2, 3])

    @staticmethod
    def _total_variation(images):
        dy = tf.reduce_mean(tf.abs(images[:, 1:] - images[:, :-1]), axis=[1, 2, 3])
        dx = tf.reduce_mean(tf.abs(images[:, :, 1:] - images[:, :, :-1]), axis=[1, 2, 3])
        return dy + dx

    @staticmethod
    def _blur(images):
        c = images.shape[-1]
        kernel = tf.ones((3, 3, c, 1), images.dtype) / 9.0
        blurred = tf.nn.depthwise_conv2d(tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC"),
                                         kernel, [1, 1, 1, 1], "VALID")
        return tf.reduce_mean(tf.square(images - tf.stop_gradient(blurred)), axis=[1, 2, 3])


def l1(weight, center=0.5):
    """``weight * mean|x - center|`` per image.

    Examples
    --------
    >>> float(l1(2.0)(tf.fill((1, 4, 4, 1), 0.75))[0])
    0.5
    """
    center = float(center)
    if not 0.0 <= center <= 1.0:
        raise ValueError("center: expected a number in [0, 1], got %r" % center)
    return Regularizer("l1", weight, center=center)


def total_variation(weight):
    """``weight * (mean|vertical differences| + mean|horizontal differences|)`` per image.

    Examples
    --------
    >>> float(total_variation(1.0)(tf.constant([[0.0, 1.0], [0.0, 1.0]])[None, :, :, None])[0])
    1.0
    """
    return Regularizer("total_variation", weight)


def blur(weight):
    """``weight * mean (x - stop_gradient(box_blur_3x3(x)))^2`` per image."""
    return Regularizer("blur", weight)


_BY_NAME = {"l1": l1, "total_variation": total_variation, "tv": total_variation, "blur": blur}


def get_regularizers(value):
    """A list of :class:`Regularizer` from None, a list of regularizers, or a dict ``{'l1': 0.05, 'tv': 0.25}``.

    Examples
    --------
    >>> get_regularizers({'l1': 0.05, 'tv': 0.25})
    [l1(0.05, center=0.5), total_variation(0.25)]
    """
    if value is None:
        return []
    if isinstance(value, Regularizer):
        return [value]
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_BY_NAME))
        if unknown:
            raise ValueError("regularizers: unknown names %s; expected some of %s" % (unknown, sorted(_BY_NAME)))
        return [_BY_NAME[name](weight) for name, weight in value.items()]
    if isinstance(value, (list, tuple)) and all(isinstance(r, Regularizer) for r in value):
        return list(value)
    raise TypeError("regularizers: expected None, a dict such as {'l1': 0.05, 'tv': 0.25} or a list of "
                    "regularizers (l1, total_variation, blur), got %r" % (value,))
