"""Byte budgets: estimated bytes of one sample in a model call, and the rows that fit in one call."""
import numpy as np
import tensorflow as tf

from ._layers import _is_container

#: Default ``max_batch_bytes``: estimated bytes of the samples in flight in one model call.
DEFAULT_MAX_BATCH_BYTES = 1 << 30
#: A backward pass keeps every activation and adds its gradient: twice the forward estimate.
BACKWARD_FACTOR = 2
#: A plain callable has no layers to measure: its activations are taken as this many times its input.
CALLABLE_ACTIVATION_FACTOR = 32


def input_bytes(adapter):
    """Bytes of one input sample (float32), or None while the input shape is unknown."""
    return None if adapter.input_shape is None else 4 * int(np.prod(adapter.input_shape))


def activation_bytes(adapter):
    """Bytes of all layer outputs of one sample (containers not counted twice), or a heuristic."""
    input_bytes = adapter._input_bytes()
    if adapter.kind == "callable":
        return CALLABLE_ACTIVATION_FACTOR * input_bytes
    containers = {layer.name for layer in adapter.iter_layers() if _is_container(layer)}
    try:
        order = adapter.layer_call_order()
    except (TypeError, ValueError, tf.errors.OpError):  # the eager pass fails: fall back on the heuristic
        return CALLABLE_ACTIVATION_FACTOR * input_bytes
    return sum(4 * int(np.prod(shape)) for name, shape in order if name not in containers)


def sample_bytes(adapter, backward=False):
    """Estimated bytes one sample occupies during a model call.

    The input plus every layer's output (measured once, from the shapes of the
    call-order pass :meth:`layer_call_order`; a plain callable counts
    ``CALLABLE_ACTIVATION_FACTOR`` times its input), doubled (``BACKWARD_FACTOR``)
    when gradients are taken. Summing all layer outputs over-counts a forward
    pass, which frees them as it goes: the estimate errs on the safe side.

    Parameters
    ----------
    backward : bool
        The call also differentiates (gradients, Grad-CAM).

    Returns
    -------
    int

    Examples
    --------
    # builds VGG16 (138M parameters, 500 MB): too slow for the docs run
    >>> ModelAdapter(tl.models.vgg16()).sample_bytes() // 2 ** 20  # doctest: +SKIP
    59
    """
    if adapter._input_bytes() is None:
        raise ValueError("inputs: the model's input shape is not known yet; explain a batch first")
    if adapter._sample_bytes is None:
        adapter._sample_bytes = adapter._input_bytes() + adapter._activation_bytes()
    return adapter._sample_bytes * (BACKWARD_FACTOR if backward else 1)


def batch_rows(adapter, batch_size=None, backward=False):
    """Rows sent to the model at once: ``batch_size`` capped by the byte budget.

    Parameters
    ----------
    batch_size : int, optional
        Upper bound (default: the adapter's ``batch_size``).
    backward : bool
        The call also differentiates.

    Returns
    -------
    int
        ``min(batch_size, max_batch_bytes // sample_bytes(backward))``, at least 1.

    Examples
    --------
    # builds VGG16 (138M parameters, 500 MB): too slow for the docs run
    >>> ModelAdapter(tl.models.vgg16(), batch_size=256).batch_rows(backward=True)  # doctest: +SKIP
    8
    """
    limit = int(batch_size or adapter.batch_size)
    if adapter._input_bytes() is None:
        return limit
    return max(1, min(limit, adapter.max_batch_bytes // adapter.sample_bytes(backward)))
