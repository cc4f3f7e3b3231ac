"""Attention of a model without self-attention: ``mean_c |A_c|^p`` of a convolutional layer (Zagoruyko & Komodakis).

For a model with no 4-D layer the map falls back to the Dense-unit attention of
``_dense_attention``, and for a plain callable to the input magnitude ``|x|^p``.
"""
import warnings

import numpy as np

from .._engine.utils import upsample
from ..cam import default_cam_layer, resolve_cam_layer
from ._dense import dense_attention

__all__ = ["activation_attention_map", "check_p", "activation_attention"]


def activation_attention_map(activations, p=2.0):
    """Activation-based attention ``mean_c |A_c|^p`` of a feature map (Zagoruyko & Komodakis, 2017).

    Zagoruyko & Komodakis (2017), "Paying More Attention to Attention: Improving the
    Performance of Convolutional Neural Networks via Attention Transfer", ICLR.

    Parameters
    ----------
    activations : ndarray, shape (N, h, w, C)
    p : float
        Exponent; larger ``p`` puts more weight on the most active locations.

    Returns
    -------
    ndarray, shape (N, h, w)
    """
    return np.mean(np.abs(np.asarray(activations, np.float64)) ** p, axis=-1)


def check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not p > 0:
        raise ValueError("p: expected a positive number, got %r" % (p,))
    return float(p)


def activation_attention(adapter, x, targets, layer_name, p, batch_size):
    """Zagoruyko & Komodakis attention of a 4-D layer; for models without one, the Dense-unit attention."""
    image_size = adapter.image_shape[:2]
    if adapter.kind != "callable":
        if layer_name is None:
            try:
                layer_name = default_cam_layer(adapter)
            except ValueError:
                layer_name = None
        if layer_name is not None:
            name, _ = resolve_cam_layer(adapter, layer_name)
            acts = adapter.capture(x, [name], batch_size=batch_size).outputs[name]
            heat = upsample(activation_attention_map(acts, p).astype(np.float32), image_size)
            return heat, {"attention_kind": "activation", "class_agnostic": True, "layer_name": name,
                          "activation_source": "layer", "activation_shape": list(acts.shape[1:]), "p": p}
        found = dense_attention(adapter, x, targets, batch_size)
        if found is not None:
            return found
    warnings.warn("attention: the model has no attention, convolutional or Dense layer to read, so the map is the "
                  "input magnitude |x|^p and does not depend on the model; use a gradient or perturbation method",
                  UserWarning, stacklevel=3)
    heat = (np.abs(x.astype(np.float64)) ** p).reshape((len(x),) + tuple(adapter.image_shape)).mean(axis=-1)
    meta = {"attention_kind": "input", "class_agnostic": True, "layer_name": None, "activation_source": "input",
            "p": p}
    return heat.astype(np.float32), meta
