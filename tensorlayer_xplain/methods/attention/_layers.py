"""Which layers hold self-attention, and their attention matrices captured without changing the model.

A layer *holds* attention when its output is the attention matrix
(:class:`~tensorlayer_xplain.layers.AttentionSoftmax`, or any layer with
``exposes_attention_weights = True``); its output is recorded with
:meth:`ModelAdapter.capture`.
"""
import numpy as np

from ...adapter import _walk_tl
from ...layers import is_attention_weights_layer

__all__ = ["attention_layer_names", "resolve_attention_layer", "capture_attention"]


def attention_layer_names(adapter):
    """Names of the layers whose output is an attention matrix, in call order.

    Parameters
    ----------
    adapter : ModelAdapter

    Returns
    -------
    list of str
        Empty for models without self-attention (and for plain callables).
    """
    if adapter.kind not in ("tl_static", "tl_dynamic", "keras"):
        return []
    return [name for name, shape in adapter.layer_call_order()
            if len(shape) == 3 and is_attention_weights_layer(adapter.layer(name))]


def resolve_attention_layer(adapter, layer_name=None):
    """The attention-weights layer to read: by name, or the last one in call order.

    ``layer_name`` may name the weights layer itself or a layer holding exactly one
    (a :class:`MultiHeadSelfAttention` or a :class:`TransformerBlock`).

    Returns
    -------
    str or None
        None when ``layer_name`` is None and the model has no attention layer,
        or when ``layer_name`` names a layer that holds none (the caller then
        uses activation attention).

    Raises
    ------
    KeyError
        Unknown ``layer_name``.
    ValueError
        ``layer_name`` holds several attention layers.
    """
    names = attention_layer_names(adapter)
    if layer_name is None:
        return names[-1] if names else None
    layer = adapter.layer(layer_name)
    if is_attention_weights_layer(layer):
        return layer_name
    inside = [child.name for child in _walk_tl(layer, {id(layer)}) if is_attention_weights_layer(child)]
    inside = [name for name in names if name in inside]
    if len(inside) > 1:
        raise ValueError("layer_name: %r holds %d attention layers (%s); name one of them"
                         % (layer_name, len(inside), ", ".join(inside)))
    return inside[0] if inside else None


def capture_attention(adapter, x, names, batch_size):
    """``[(N, heads, T, T)]`` float64 attention matrices of the named layers."""
    outputs = adapter.capture(x, names, batch_size=batch_size).outputs
    weights = [np.asarray(outputs[n], np.float64) for n in names]
    for name, w in zip(names, weights):
        if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
            raise ValueError("layer_name: %r should output attention (N, heads, T, T), got shape %s" % (name, w.shape))
    return weights
