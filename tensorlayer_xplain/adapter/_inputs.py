"""Input preparation and shapes: validate a batch, bring it to the model's input shape, draw it as images."""
import math

import numpy as np
import tensorflow as tf

from ._common import _describe
from .pixels import warn_unscaled

_SEVERAL_INPUTS = ("model: this model has %d inputs; use tlxp.as_adapter(model) (or tlxp.explain / ModelExplainer, "
                   "which call it), which returns a MultiInputAdapter, or tlxp.MultiInputAdapter(model)")


def image_shape_for(input_shape):
    """Guess how a per-sample input shape is drawn as an image (H, W, C).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample, without the batch dimension.

    Returns
    -------
    tuple of int
        ``(H, W, C)``: images as they are, a square vector as a square gray image
        (784 -> 28x28x1), three square planes as RGB, anything else as one row.

    Examples
    --------
    >>> image_shape_for((784,))
    (28, 28, 1)
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return shape + (1,)
    if len(shape) == 1:
        n = shape[0]
        side = math.isqrt(n)
        if side * side == n:
            return (side, side, 1)
        side = math.isqrt(n // 3)
        if n % 3 == 0 and side * side * 3 == n:
            return (side, side, 3)
        return (1, n, 1)
    raise ValueError("input_shape: expected 1 to 3 dimensions per sample, got %s" % (shape,))


def infer_input_shape(adapter):
    if adapter.kind == "tl_static":
        if isinstance(adapter.model._inputs, (list, tuple)):
            raise TypeError(_SEVERAL_INPUTS % len(adapter.model._inputs))
        return tuple(int(s) for s in adapter.model._inputs.shape[1:])
    if adapter.kind == "keras":
        try:
            shape = adapter.model.input_shape
        except (AttributeError, ValueError):
            return None
        if isinstance(shape, list) and len(shape) > 1:
            raise TypeError(_SEVERAL_INPUTS % len(shape))
        if isinstance(shape, list) or any(s is None for s in shape[1:]):
            return None
        return tuple(int(s) for s in shape[1:])
    return None


def image_shape(adapter):
    """``(H, W, C)`` in which inputs and heatmaps are drawn (None until the input shape is known)."""
    if adapter._image_shape is not None:
        return adapter._image_shape
    return image_shape_for(adapter.input_shape) if adapter.input_shape is not None else None


def expected_shapes(adapter):
    text = "(N, %s)" % ", ".join(map(str, adapter.input_shape))
    if adapter.image_shape != adapter.input_shape:
        text += " or images (N, %s)" % ", ".join(map(str, adapter.image_shape))
    return text


def prepare(adapter, inputs, name="inputs"):
    """Validate a batch and bring it to the model's input shape.

    Parameters
    ----------
    inputs : array-like or tf.Tensor
        ``(N, *input_shape)``, ``(N, *image_shape)``, ``(N, H, W)`` for gray
        images, or a single sample without the batch dimension.
    name : str
        Argument name used in error messages.

    Returns
    -------
    x : ndarray, float32, shape (N, *input_shape)
    batch_shape : tuple
        The shape the caller used, with a batch dimension; attributions are
        returned in this shape.

    Raises
    ------
    TypeError
        Non-numeric data.
    ValueError
        Wrong shape, empty batch, NaN or inf.
    """
    if isinstance(inputs, tf.Tensor):
        inputs = inputs.numpy()
    try:
        x = np.asarray(inputs)
    except (ValueError, TypeError) as err:
        raise TypeError("%s: expected a numeric array, got %s (%s)" % (name, _describe(inputs), err)) from None
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError("%s: expected a numeric array, got %s" % (name, _describe(x)))
    warn_unscaled(x, name)  # 0-255 integers: explained as given, with a one-time hint to scale
    if adapter.input_shape is None:
        if x.ndim < 2:
            raise ValueError(
                "%s: expected a batch (N, ...) with at least 2 dimensions, got shape %s" % (name, x.shape)
            )
        adapter.input_shape = tuple(int(s) for s in x.shape[1:])
    sample_shapes = {adapter.input_shape, adapter.image_shape}
    if adapter.image_shape[-1] == 1:
        sample_shapes.add(adapter.image_shape[:-1])
    if tuple(x.shape[1:]) in sample_shapes:
        batch_shape = tuple(x.shape)
    elif tuple(x.shape) in sample_shapes:
        batch_shape = (1,) + tuple(x.shape)
    else:
        raise ValueError(
            "%s: expected shape %s for this model, got shape %s" % (name, adapter._expected(), tuple(x.shape))
        )
    if batch_shape[0] == 0:
        raise ValueError("%s: expected at least one sample, got an empty batch of shape %s" % (name, x.shape))
    x = x.astype(np.float32, copy=False).reshape((batch_shape[0],) + adapter.input_shape)
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise ValueError(
            "%s: expected finite values, got %d NaN/inf entries (first at index %s)"
            % (name, len(bad), tuple(int(i) for i in bad[0]))
        )
    return x, batch_shape


def to_image(adapter, array):
    """Reshape ``(N, *input_shape)`` data to ``(N, H, W, C)`` images."""
    array = np.asarray(array)
    return array.reshape((array.shape[0],) + tuple(adapter.image_shape))


def input_specs(adapter):
    """Signature of the model input(s) in compiled steps: a batch with an open leading dimension."""
    return [tf.TensorSpec((None,) + adapter.input_shape, tf.float32)]


def zero_sample(adapter):
    """A batch of one all-zero sample, as the model takes it."""
    return tf.zeros((1,) + adapter.input_shape, tf.float32)
