"""Gradient-based attribution methods.

Every method here asks the adapter for batched, compiled gradients
(:meth:`ModelAdapter.gradients`) and never calls the model itself.
"""
import numpy as np

from .registry import register_method

__all__ = ["gradient"]


@register_method("gradient", aliases=("saliency",), family="gradient")
def gradient(adapter, inputs, targets, absolute=True, batch_size=None):
    """Saliency: the magnitude of the gradient of the target score w.r.t. the input.

    Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps".

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    absolute : bool
        Return ``|grad|`` (the classic saliency map); False keeps the sign.
    batch_size : int, optional
        Overrides the adapter's batch size.

    Returns
    -------
    ndarray, shape (N, *input_shape)

    Examples
    --------
    >>> exp = ModelExplainer(model, methods=['gradient']).explain(x)   # doctest: +SKIP
    """
    grads = adapter.gradients(inputs, targets, batch_size=batch_size)
    if absolute:
        return np.abs(grads)
    return grads, {"signed": True}
