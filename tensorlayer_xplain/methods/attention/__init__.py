"""Attention explanations: self-attention weights, attention rollout, activation attention.

``attention`` works on every model:

* a model with self-attention layers (e.g. :func:`~tensorlayer_xplain.models.attention_mnist`,
  or any model built with :class:`~tensorlayer_xplain.layers.MultiHeadSelfAttention`):
  the chosen layer's attention weights ``(N, heads, T, T)``, one head or the heads
  fused, read from the class-token row (or averaged over query tokens), placed on the
  patch grid and upsampled to the image (``meta['attention_kind'] = 'self_attention'``);
* a model with convolutional layers (a CNN): activation-based attention (Zagoruyko &
  Komodakis) of a convolutional layer, ``mean_c |A_c|^p`` (``meta['attention_kind'] = 'activation'``);
* a model with neither (an MLP, such as TensorLayer's tutorial models): the first Dense
  layer's units, each weighted by its activation times the target's gradient with
  respect to it, projected back onto the inputs through the layer's weights
  (:func:`dense_unit_attention_map`, ``meta['attention_kind'] = 'dense_units'``); this one
  depends on the explained class;
* a plain callable: the input magnitude ``|x|^p``, with a warning that it says nothing
  about the model (``meta['attention_kind'] = 'input'``).

``attention_rollout`` multiplies the attention of every layer, in call order (Abnar &
Zuidema, 2020).

Attention matrices are recorded with :meth:`ModelAdapter.capture` on the layers whose
output *is* the attention (:class:`~tensorlayer_xplain.layers.AttentionSoftmax`, or any
layer with ``exposes_attention_weights = True``); the model is never modified. Attention
weights and activation attention explain where the model looks, not why a class: they
are class-agnostic and ignore ``targets`` (``meta['class_agnostic'] = True``); the
Dense-unit attention of an MLP uses them (``meta['class_agnostic'] = False``).

The parts live in their own modules: finding and capturing attention layers
(``_attention_layers``), placing tokens on the image (``_attention_tokens``), reducing
matrices and rollout (``_attention_matrices``), activation attention
(``_activation_attention``) and the Dense-unit map of an MLP (``_dense_attention``); this
module registers the two methods and re-exports those names.
"""
import numpy as np

from ..._utils.docstrings import shared_docstring
from ..costs import one_forward
from ..registry import Range, register_method
from ._activation import activation_attention, activation_attention_map, check_p
from ._dense import dense_unit_attention_map
from ._layers import attention_layer_names, capture_attention, resolve_attention_layer
from ._matrices import HEAD_FUSIONS, QUERIES, check_choice, fuse_heads, query_map, resolve_query, rollout  # noqa: F401
from ._tokens import TokenLayout, token_layout, tokens_to_image

__all__ = [
    "attention",
    "attention_rollout",
    "attention_layer_names",
    "resolve_attention_layer",
    "TokenLayout",
    "token_layout",
    "tokens_to_image",
    "fuse_heads",
    "query_map",
    "rollout",
    "activation_attention_map",
    "dense_unit_attention_map",
]


def _attention_meta(layout, query, names):
    return {
        "attention_kind": "self_attention",
        "class_agnostic": True,
        "query": query,
        "n_prefix_tokens": int(layout.n_prefix),
        "grid_shape": list(layout.grid_shape),
        "attention_layers": list(names),
    }


@register_method("attention", family="attention", cost=one_forward, batchable=True, figure="attention_visualization",
                 ranges={"head": Range(0, 65535, integer=True), "p": Range(0.1, 16.0)})
@shared_docstring
def attention(adapter, inputs, targets, layer_name=None, head=None, head_fusion="mean", query="auto", p=2.0,
              interpolation="bilinear", batch_size=None):
    """Where the model attends: self-attention weights, or activation attention for models without them.

    Self-attention models: the attention matrix ``(N, heads, T, T)`` of ``layer_name``
    (default: the last attention layer in call order) is reduced to one head
    (``head``) or fused over heads (``head_fusion``); the class-token row (or the mean
    over query tokens, ``query``) gives one weight per patch, which is placed on the
    patch grid and upsampled to the image. ``meta['head_maps']`` holds every head's
    map ``(N, heads, H, W)`` (the raw matrices come from ``adapter.capture`` on
    ``meta['layer_name']``).

    Convolutional models: activation-based attention (Zagoruyko & Komodakis, 2017),
    ``mean_c |A_c|^p`` over the channels of ``layer_name`` (default: the last layer with
    a 4-D output in call order), upsampled bilinearly to the image
    (``attention_kind='activation'``, class-agnostic).

    A model with no 4-D layer (an MLP): the first Dense layer ``h = act(x W + b)``
    that reads the flattened input, ``map_i = ReLU(sum_j W_ij h_j dS/dh_j)``
    (:func:`dense_unit_attention_map`, ``attention_kind='dense_units'``): each hidden
    unit counts by its activation times the target's gradient with respect to it
    (how much the unit matters for this decision, as Grad-CAM weighs channels), and is
    projected back onto the inputs through its weights. It shows the input pattern
    the decisive units respond to, depends on the explained class and on the weights
    (it passes the weight-randomization check); the activation magnitude of an MLP's
    input layer would be little more than ``x^2``. A plain callable has no layers:
    ``|x|^p``, with a warning (``attention_kind='input'``).

    Attention weights and activation attention are class-agnostic (``targets`` is not
    used; the Dense-unit map uses it). Maps are raw (not normalized).

    Zagoruyko & Komodakis (2017), "Paying More Attention to Attention", ICLR.
    Vaswani et al. (2017), "Attention Is All You Need"; Dosovitskiy et al. (2021), ViT.

    Parameters
    ----------
    %(method_inputs)s
    layer_name : str, optional
        An attention-weights layer, a layer holding one (``MultiHeadSelfAttention``,
        ``TransformerBlock``), or, for activation attention, a layer with a 4-D output.
    head : int, optional
        Self-attention: keep this head only; None fuses the heads.
    head_fusion : {'mean', 'max', 'min'}
    query : {'auto', 'cls', 'mean'}
        Self-attention: read the class-token row (``'cls'``) or average all query rows
        (``'mean'``); ``'auto'`` uses the class token when there is one.
    p : float
        Activation attention exponent.
    interpolation : str
        ``'bilinear'`` or ``'nearest'`` (patch blocks) for placing patch weights on the image.
    %(method_batch_size)s

    Returns
    -------
    ndarray, shape (N, H, W), and meta with ``attention_kind`` in {'self_attention', 'activation',
    'dense_units', 'input'}, ``class_agnostic`` and ``layer_name``.

    Examples
    --------
    >>> exp = ModelExplainer(vit, methods=['attention']).explain(x, method='attention')
    >>> exp.meta['attention_kind'], exp.heatmap().shape
    ('self_attention', (4, 28, 28))
    >>> explain(cnn, x, 'attention').meta['attention_kind']
    'activation'
    >>> tlxp.explain(tlxp.models.mlp(), x.reshape(-1, 784), 'attention').meta['attention_kind']
    'dense_units'
    """
    name = resolve_attention_layer(adapter, layer_name) if adapter.kind != "callable" else None
    if name is None:
        return activation_attention(adapter, inputs, targets, layer_name, check_p(p), batch_size)
    if head is None:
        check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    (weights,) = capture_attention(adapter, inputs, [name], batch_size)
    layout = token_layout(adapter, weights.shape[-1])
    query = resolve_query(query, layout.n_prefix)
    image_size = adapter.image_shape[:2]
    heat = tokens_to_image(query_map(fuse_heads(weights, head, head_fusion), query, layout.n_prefix),
                           layout, image_size, interpolation)
    head_maps = tokens_to_image(query_map(weights, query, layout.n_prefix), layout, image_size, interpolation)
    meta = _attention_meta(layout, query, [name])
    meta.update({"layer_name": name, "head": head, "head_fusion": head_fusion, "head_maps": head_maps})
    return heat, meta


def _rollout_applies(adapter, params):
    """Why rollout does not apply (no self-attention layer), or None."""
    if adapter.kind == "callable" or not attention_layer_names(adapter):
        return "no self-attention layer to roll out"
    return None


@register_method("attention_rollout", aliases=("rollout",), family="attention", cost=one_forward, batchable=True,
                 applies=_rollout_applies, figure="attention_visualization")
@shared_docstring
def attention_rollout(adapter, inputs, targets, head_fusion="mean", residual=True, query="auto",
                      interpolation="bilinear", batch_size=None):
    """Attention rollout across all self-attention layers (Abnar & Zuidema, 2020).

    Captures every attention layer's ``(N, heads, T, T)`` in one batched pass, fuses
    heads (``head_fusion``), adds the residual identity (``0.5 A + 0.5 I``, rows
    renormalized) and multiplies the layers in call order (see :func:`rollout`). The
    class-token row of the product (or its mean over queries) gives one weight per
    patch, placed on the patch grid and upsampled to the image.
    ``meta['rollout']`` holds the full ``(N, T, T)`` product. Rollout is class-agnostic:
    ``targets`` is not used.

    Abnar & Zuidema (2020), "Quantifying Attention Flow in Transformers", ACL.

    Parameters
    ----------
    %(method_inputs)s
    head_fusion : {'mean', 'max', 'min'}
    residual : bool
    query : {'auto', 'cls', 'mean'}
    interpolation : str
    %(method_batch_size)s

    Returns
    -------
    ndarray, shape (N, H, W), and meta.

    Raises
    ------
    ValueError
        For a model without self-attention layers.

    Examples
    --------
    >>> exp = explain(vit, x, 'attention_rollout', head_fusion='max')
    >>> exp.meta['rollout'].shape
    (4, 50, 50)
    """
    check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    names = attention_layer_names(adapter)
    if not names:
        raise ValueError("model: attention_rollout needs self-attention layers (e.g. MultiHeadSelfAttention) and "
                         "this model has none; use method 'attention' for activation attention")
    weights = capture_attention(adapter, inputs, names, batch_size)
    matrix = rollout(weights, head_fusion, residual)
    layout = token_layout(adapter, matrix.shape[-1])
    query = resolve_query(query, layout.n_prefix)
    heat = tokens_to_image(query_map(matrix, query, layout.n_prefix), layout, adapter.image_shape[:2], interpolation)
    meta = _attention_meta(layout, query, names)
    meta.update({"head_fusion": head_fusion, "residual": bool(residual), "rollout": matrix.astype(np.float32)})
    return heat, meta
