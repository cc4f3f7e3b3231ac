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
"""
import math
import warnings
from collections import namedtuple

import numpy as np

from ..adapter import _walk_tl
from ..layers import is_attention_weights_layer
from ._utils import upsample
from .cam import default_cam_layer, resolve_cam_layer
from .registry import register_method

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

HEAD_FUSIONS = ("mean", "max", "min")
QUERIES = ("auto", "cls", "mean")

TokenLayout = namedtuple("TokenLayout", ["n_prefix", "grid_shape", "covered"])
TokenLayout.__doc__ = """How the tokens of an attention layer map to the image.

n_prefix : int
    Tokens before the patches (1 for a class token).
grid_shape : (int, int)
    Patch grid (rows, columns); patch token ``k`` is cell ``divmod(k, columns)``.
covered : (int, int)
    Image pixels ``(H', W')`` the grid covers from the top-left corner (the rest
    of the image, if any, belongs to no patch).
"""


# --------------------------------------------------------------------------- finding layers
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


def _capture_attention(adapter, x, names, batch_size):
    """``[(N, heads, T, T)]`` float64 attention matrices of the named layers."""
    outputs = adapter.capture(x, names, batch_size=batch_size).outputs
    weights = [np.asarray(outputs[n], np.float64) for n in names]
    for name, w in zip(names, weights):
        if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
            raise ValueError("layer_name: %r should output attention (N, heads, T, T), got shape %s" % (name, w.shape))
    return weights


# --------------------------------------------------------------------------- tokens <-> image
def _square_side(n):
    side = math.isqrt(n) if n > 0 else 0
    return side if side * side == n and side > 0 else None


def token_layout(adapter, n_tokens):
    """Work out which tokens are patches and where they lie on the image.

    Read from the model's layers when they say it (a layer with ``grid_shape`` and
    ``patch_size`` such as :class:`~tensorlayer_xplain.layers.PatchEmbedding`, a
    layer with ``num_prefix_tokens`` such as ``ClassToken``); otherwise the patch
    tokens are assumed to form a square grid covering the whole image, after one
    class token when ``n_tokens - 1`` is a square and ``n_tokens`` is not.

    Parameters
    ----------
    adapter : ModelAdapter
    n_tokens : int
        Tokens per sequence of the attention layer (T).

    Returns
    -------
    TokenLayout

    Raises
    ------
    ValueError
        When the tokens cannot be placed on a grid.

    Examples
    --------
    >>> token_layout(as_adapter(attention_mnist()), 50)     # doctest: +SKIP
    TokenLayout(n_prefix=1, grid_shape=(7, 7), covered=(28, 28))
    """
    height, width = adapter.image_shape[:2]
    layers = adapter.iter_layers()
    patches = [layer for layer in layers
               if getattr(layer, "grid_shape", None) is not None and getattr(layer, "patch_size", None) is not None]
    prefix_layers = [layer for layer in layers if isinstance(getattr(layer, "num_prefix_tokens", None), int)]
    if patches:
        (gh, gw), (ph, pw) = patches[-1].grid_shape, patches[-1].patch_size
        n_prefix = n_tokens - gh * gw
        if n_prefix < 0:
            raise ValueError("layer_name: the attention layer has %d tokens, fewer than the %dx%d patches of %r"
                             % (n_tokens, gh, gw, patches[-1].name))
        return TokenLayout(n_prefix, (gh, gw), (min(gh * ph, height), min(gw * pw, width)))
    if prefix_layers:
        n_prefix = sum(layer.num_prefix_tokens for layer in prefix_layers)
    else:
        n_prefix = 0 if _square_side(n_tokens) else (1 if _square_side(n_tokens - 1) else 0)
    side = _square_side(n_tokens - n_prefix)
    if side is None:
        raise ValueError(
            "layer_name: cannot place %d attention tokens (%d prefix) on a square patch grid; give the patch "
            "layer `grid_shape` and `patch_size` attributes (as PatchEmbedding has)" % (n_tokens, n_prefix))
    return TokenLayout(n_prefix, (side, side), (height, width))


def tokens_to_image(token_maps, layout, image_size, interpolation="bilinear"):
    """Place one value per patch token on the image: ``(N, gh*gw)`` -> ``(N, H, W)``.

    The patch grid is upsampled to the pixels it covers; pixels outside any patch are 0.

    Parameters
    ----------
    token_maps : ndarray, shape (N, gh * gw) or (N, K, gh * gw)
    layout : TokenLayout
    image_size : (int, int)
    interpolation : str
        ``'bilinear'`` (smooth) or ``'nearest'`` (one flat block per patch), or any
        ``tf.image.resize`` method.

    Returns
    -------
    ndarray, float32, shape (N, H, W) or (N, K, H, W)
    """
    token_maps = np.asarray(token_maps, np.float32)
    lead = token_maps.shape[:-1]
    grid = token_maps.reshape((-1,) + tuple(layout.grid_shape))
    covered = upsample(grid, layout.covered, method=interpolation)
    out = np.zeros((len(grid),) + tuple(image_size), np.float32)
    out[:, :layout.covered[0], :layout.covered[1]] = covered
    return out.reshape(lead + tuple(image_size))


# --------------------------------------------------------------------------- matrices
def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError("%s: expected one of %s, got %r" % (name, choices, value))


def fuse_heads(weights, head=None, head_fusion="mean"):
    """One attention matrix per sample from ``(N, heads, T, T)``: a chosen head, or heads fused.

    Parameters
    ----------
    weights : ndarray, shape (N, heads, T, T)
    head : int, optional
        Keep this head only (negative indices count from the end).
    head_fusion : {'mean', 'max', 'min'}
        How heads are combined when ``head`` is None.

    Returns
    -------
    ndarray, shape (N, T, T)
    """
    weights = np.asarray(weights)
    if head is not None:
        n_heads = weights.shape[1]
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not -n_heads <= head < n_heads:
            raise ValueError("head: expected None or a head index in 0..%d, got %r" % (n_heads - 1, head))
        return weights[:, int(head)]
    _check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    return getattr(np, head_fusion)(weights, axis=1)


def _resolve_query(query, n_prefix):
    _check_choice(query, QUERIES, "query")
    if query == "auto":
        return "cls" if n_prefix else "mean"
    if query == "cls" and not n_prefix:
        raise ValueError("query: 'cls' needs a class token, and this model's attention has none; use 'mean'")
    return query


def query_map(matrix, query, n_prefix):
    """Attention paid to each patch token: the class-token row, or the mean over all query rows.

    Parameters
    ----------
    matrix : ndarray, shape (..., T, T)
        Rows are queries, columns keys.
    query : {'cls', 'mean'}
    n_prefix : int
        Prefix tokens (dropped from the keys).

    Returns
    -------
    ndarray, shape (..., T - n_prefix)
    """
    rows = matrix[..., 0, :] if query == "cls" else matrix.mean(axis=-2)
    return rows[..., n_prefix:]


def rollout(attentions, head_fusion="mean", residual=True):
    """Attention rollout (Abnar & Zuidema, 2020): how much each token draws on each input token.

    Per layer the heads are fused, the residual connection is modelled as
    ``0.5 * A + 0.5 * I`` and rows are renormalized to sum to 1; the layers are then
    multiplied in call order: ``R = A_L ... A_2 A_1``.

    Abnar & Zuidema (2020), "Quantifying Attention Flow in Transformers", ACL.

    Parameters
    ----------
    attentions : list of ndarray, each (N, heads, T, T)
        The attention of every layer, in call order.
    head_fusion : {'mean', 'max', 'min'}
    residual : bool
        Add the identity for the skip connection (as the paper does).

    Returns
    -------
    ndarray, float64, shape (N, T, T)
        Rows sum to 1.

    Examples
    --------
    >>> eye = np.broadcast_to(np.eye(5), (2, 3, 5, 5))
    >>> np.allclose(rollout([eye, eye]), np.eye(5))
    True
    """
    if not len(attentions):
        raise ValueError("attentions: expected at least one (N, heads, T, T) array, got none")
    result = None
    for weights in attentions:
        a = fuse_heads(np.asarray(weights, np.float64), None, head_fusion)
        if residual:
            a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
        a = a / np.maximum(a.sum(axis=-1, keepdims=True), 1e-12)
        result = a if result is None else np.matmul(a, result)
    return result


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


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not p > 0:
        raise ValueError("p: expected a positive number, got %r" % (p,))
    return float(p)


# --------------------------------------------------------------------------- activation attention
def _first_dense_kernel(adapter):
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


def _dense_attention(adapter, x, targets, batch_size):
    """``(heat, meta)`` of :func:`dense_unit_attention_map` on the first Dense layer reading the input, or None."""
    dense = _first_dense_kernel(adapter)
    if dense is None:
        return None
    name, kernel = dense
    res = adapter.capture(x, [name], targets=targets, gradients=True, batch_size=batch_size)
    flat = dense_unit_attention_map(kernel, res.outputs[name], res.gradients[name])
    heat = flat.reshape((len(x),) + tuple(adapter.image_shape)).sum(axis=-1)
    meta = {"attention_kind": "dense_units", "layer_name": name, "class_agnostic": False, "signed": False}
    return heat.astype(np.float32), meta


def _activation_attention(adapter, x, targets, layer_name, p, batch_size):
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
        found = _dense_attention(adapter, x, targets, batch_size)
        if found is not None:
            return found
    warnings.warn("attention: the model has no attention, convolutional or Dense layer to read, so the map is the "
                  "input magnitude |x|^p and does not depend on the model; use a gradient or perturbation method",
                  UserWarning, stacklevel=3)
    heat = (np.abs(x.astype(np.float64)) ** p).reshape((len(x),) + tuple(adapter.image_shape)).mean(axis=-1)
    meta = {"attention_kind": "input", "class_agnostic": True, "layer_name": None, "activation_source": "input",
            "p": p}
    return heat.astype(np.float32), meta


# --------------------------------------------------------------------------- methods
def _attention_meta(layout, query, names):
    return {
        "attention_kind": "self_attention",
        "class_agnostic": True,
        "query": query,
        "n_prefix_tokens": int(layout.n_prefix),
        "grid_shape": list(layout.grid_shape),
        "attention_layers": list(names),
    }


@register_method("attention", family="attention")
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
    used). Maps are raw (not normalized).

    Zagoruyko & Komodakis (2017), "Paying More Attention to Attention", ICLR.
    Vaswani et al. (2017), "Attention Is All You Need"; Dosovitskiy et al. (2021), ViT.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray (N,) or callable
        Ignored.
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
    batch_size : int, optional

    Returns
    -------
    ndarray, shape (N, H, W), and meta with ``attention_kind`` in {'self_attention', 'activation',
    'dense_units', 'input'}, ``class_agnostic`` and ``layer_name``.

    Examples
    --------
    >>> exp = ModelExplainer(vit, methods=['attention']).explain(x, method='attention')  # doctest: +SKIP
    >>> exp.meta['attention_kind'], exp.heatmap().shape                                  # doctest: +SKIP
    ('self_attention', (4, 28, 28))
    >>> explain(cnn, x, 'attention').meta['attention_kind']                              # doctest: +SKIP
    'activation'
    >>> tlxp.explain(tlxp.models.mlp(), x.reshape(-1, 784), 'attention').meta['attention_kind']  # doctest: +SKIP
    'dense_units'
    """
    name = resolve_attention_layer(adapter, layer_name) if adapter.kind != "callable" else None
    if name is None:
        return _activation_attention(adapter, inputs, targets, layer_name, _check_p(p), batch_size)
    if head is None:
        _check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    (weights,) = _capture_attention(adapter, inputs, [name], batch_size)
    layout = token_layout(adapter, weights.shape[-1])
    query = _resolve_query(query, layout.n_prefix)
    image_size = adapter.image_shape[:2]
    heat = tokens_to_image(query_map(fuse_heads(weights, head, head_fusion), query, layout.n_prefix),
                           layout, image_size, interpolation)
    head_maps = tokens_to_image(query_map(weights, query, layout.n_prefix), layout, image_size, interpolation)
    meta = _attention_meta(layout, query, [name])
    meta.update({"layer_name": name, "head": head, "head_fusion": head_fusion, "head_maps": head_maps})
    return heat, meta


@register_method("attention_rollout", aliases=("rollout",), family="attention")
def attention_rollout(adapter, inputs, targets, head_fusion="mean", residual=True, query="auto",
                      interpolation="bilinear", batch_size=None):
    """Attention rollout across all self-attention layers (Abnar & Zuidema, 2020).

    Captures every attention layer's ``(N, heads, T, T)`` in one batched pass, fuses
    heads (``head_fusion``), adds the residual identity (``0.5 A + 0.5 I``, rows
    renormalized) and multiplies the layers in call order (see :func:`rollout`). The
    class-token row of the product (or its mean over queries) gives one weight per
    patch, placed on the patch grid and upsampled to the image.
    ``meta['rollout']`` holds the full ``(N, T, T)`` product.

    Abnar & Zuidema (2020), "Quantifying Attention Flow in Transformers", ACL.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray (N,) or callable
        Ignored (rollout is class-agnostic).
    head_fusion : {'mean', 'max', 'min'}
    residual : bool
    query : {'auto', 'cls', 'mean'}
    interpolation : str
    batch_size : int, optional

    Returns
    -------
    ndarray, shape (N, H, W), and meta.

    Raises
    ------
    ValueError
        For a model without self-attention layers.

    Examples
    --------
    >>> exp = explain(vit, x, 'attention_rollout', head_fusion='max')   # doctest: +SKIP
    >>> exp.meta['rollout'].shape                                       # doctest: +SKIP
    (4, 50, 50)
    """
    _check_choice(head_fusion, HEAD_FUSIONS, "head_fusion")
    names = attention_layer_names(adapter)
    if not names:
        raise ValueError("model: attention_rollout needs self-attention layers (e.g. MultiHeadSelfAttention) and "
                         "this model has none; use method 'attention' for activation attention")
    weights = _capture_attention(adapter, inputs, names, batch_size)
    matrix = rollout(weights, head_fusion, residual)
    layout = token_layout(adapter, matrix.shape[-1])
    query = _resolve_query(query, layout.n_prefix)
    heat = tokens_to_image(query_map(matrix, query, layout.n_prefix), layout, adapter.image_shape[:2], interpolation)
    meta = _attention_meta(layout, query, names)
    meta.update({"head_fusion": head_fusion, "residual": bool(residual), "rollout": matrix.astype(np.float32)})
    return heat, meta
