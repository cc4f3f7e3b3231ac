"""Attention of an MLP: the first Dense layer's units, weighted by activation x gradient, projected onto the inputs."""
import numpy as np

__all__ = ["dense_unit_attention_map", "first_dense_kernel", "dense_attention"]


def dense_unit_attention_map(kernel, activations, gradients):
    """Attention of a first Dense layer: its gradient-weighted units projected back onto the inputs.

    ``map_i = ReLU(sum_j W_ij h_j g_j)``: unit ``j``'s activation ``h_j`` weighted
    by how much it matters for the target, ``g_j = dS/dh_j`` (their product is the
    unit's first-order share of the score, as Grad-CAM weighs a channel), projected
    onto input ``i`` through the unit's weight ``W_ij``; only positive evidence is
    kept. The map shows the input pattern the decisive units respond to: pixels
    whose brightening would raise them. It is not multiplied by the input (a map
    ``x_i * ...`` is zero wherever the input is, so its ranking barely changes when
    the weights are randomized).

    Parameters
    ----------
    kernel : ndarray, shape (D, U)
        The layer's weights ``W``.
    activations, gradients : ndarray, shape (N, U)
        The layer's outputs ``h`` and the target's gradient ``g`` with respect to them.

    Returns
    -------
    ndarray, float64, shape (N, D), non-negative

    Examples
    --------
    >>> w = np.array([[1.0, -1.0], [0.5, 1.0]])
    >>> dense_unit_attention_map(w, np.array([[2.0, 1.0]]), np.array([[1.0, -1.0]]))
    array([[3., 0.]])
    """
    weighted = np.asarray(activations, np.float64) * np.asarray(gradients, np.float64)  # (N, U)
    return np.maximum(weighted @ np.asarray(kernel, np.float64).T, 0.0)



def first_dense_kernel(adapter):
    """``(name, W)`` of the first layer in call order whose 2-D kernel reads the flattened input, or None."""
    n_inputs = int(np.prod(adapter.input_shape))
    for name, _ in adapter.layer_call_order():
        layer = adapter.layer(name)
        kernel = getattr(layer, "W", None)
        if kernel is None:
            kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 2 and int(kernel.shape[0]) == n_inputs:
            return name, np.asarray(kernel, np.float64)
    return None


def dense_attention(adapter, x, targets, batch_size):
    """``(heat, meta)`` of :func:`dense_unit_attention_map` on the first Dense layer reading the input, or None."""
    dense = first_dense_kernel(adapter)
    if dense is None:
        return None
    name, kernel = dense
    res = adapter.capture(x, [name], targets=targets, gradients=True, batch_size=batch_size)
    flat = dense_unit_attention_map(kernel, res.outputs[name], res.gradients[name])
    heat = flat.reshape((len(x),) + tuple(adapter.image_shape)).sum(axis=-1)
    meta = {"attention_kind": "dense_units", "layer_name": name, "class_agnostic": False, "signed": False}
    return heat.astype(np.float32), meta
