"""Class activation maps: Grad-CAM, Grad-CAM++ and Score-CAM.

A CAM weighs the channels of one convolutional layer's output ``A`` (N, h, w, C)
and sums them into a spatial map, upsampled (bilinear) to the input's spatial
size: the methods return ``(N, H, W)`` and the runner broadcasts over channels.
The layer's output (and its gradient) come from :meth:`ModelAdapter.capture`,
which works on static and dynamic TL models, nested layers and Keras models,
and leaves the model unchanged. Score-CAM's masked forward passes go through the
shared masked-scoring engine in batches of ``batch_size``.
"""
import numpy as np
import tensorlayer as tl

from ..layers import is_attention_weights_layer
from ._checks import needs_layers
from ._graph import BLOCK_BYTES
from ._masking import masked_scores
from ._utils import upsample
from .registry import register_method

__all__ = ["gradcam", "gradcam_plus_plus", "scorecam", "default_cam_layer", "resolve_cam_layer"]


def _is_container(layer):
    """Layers that only group others (their output repeats an inner layer's)."""
    import tensorflow as tf

    if isinstance(layer, (tl.layers.LayerList, tl.layers.ModelLayer, tl.models.Model, tf.keras.Model)):
        return True
    name = type(layer).__name__
    return name in ("_InputLayer", "InputLayer")


def _spatial_layers(adapter, min_pixels=1):
    """``[(name, shape)]`` of the leaf layers with a 4-D output (N, h, w, C), h * w >= ``min_pixels``, in call order."""
    by_name = {layer.name: layer for layer in adapter.iter_layers()}
    return [
        (name, shape)
        for name, shape in adapter.layer_call_order()
        # attention matrices (N, heads, T, T) are 4-D but are not feature maps over the image
        if len(shape) == 3 and shape[0] * shape[1] >= min_pixels
        and not _is_container(by_name[name]) and not is_attention_weights_layer(by_name[name])
    ]


def default_cam_layer(adapter):
    """Name of the last layer, in call order, whose output is a feature map ``(N, h, w, C)`` larger than 1x1.

    A 1x1 map (a global pool, or a MobileNet/SqueezeNet head written as a 1x1
    convolution) gives a constant CAM, and attention matrices are not maps over
    the image, so both are skipped.

    Raises
    ------
    ValueError
        When the model has no such layer (e.g. an MLP), naming ``layer_name``.
    """
    candidates = _spatial_layers(adapter, min_pixels=2)
    if not candidates:
        order = ", ".join("%s %s" % (n, s) for n, s in adapter.layer_call_order()) or "none"
        raise ValueError(
            "layer_name: CAM methods need a layer with a 4-D output (N, H, W, C) larger than 1x1, and this "
            "model has none (layers in call order: %s); use a gradient or perturbation method instead" % order
        )
    return candidates[-1][0]


def resolve_cam_layer(adapter, layer_name=None):
    """Check ``layer_name`` (or find the default) and return ``(name, (h, w, C))``.

    Raises
    ------
    TypeError
        For a plain callable model (no layers) or a non-str name.
    KeyError
        For an unknown layer name (the adapter lists the known ones).
    ValueError
        For a layer whose output is not 4-D, or a model without such a layer.
    """
    if adapter.kind == "callable":
        raise needs_layers("CAM (gradcam, gradcam_plus_plus, scorecam)")
    if layer_name is None:
        layer_name = default_cam_layer(adapter)
        return layer_name, dict(adapter.layer_call_order())[layer_name]
    adapter.layer(layer_name)  # KeyError for unknown names
    shapes = dict(adapter.layer_call_order())
    if layer_name not in shapes:
        raise ValueError("layer_name: layer %r is not called in the model's forward pass" % layer_name)
    shape = shapes[layer_name]
    if len(shape) != 3:
        raise ValueError(
            "layer_name: expected a layer with a 4-D output (N, H, W, C), got %r with output shape (N, %s); "
            "4-D layers: %s" % (layer_name, ", ".join(map(str, shape)),
                                ", ".join(n for n, _ in _spatial_layers(adapter)) or "none")
        )
    return layer_name, shape


def _capture(adapter, x, targets, layer_name, batch_size):
    """Activations and their gradients for the resolved CAM layer."""
    name, _ = resolve_cam_layer(adapter, layer_name)
    res = adapter.capture(x, [name], targets=targets, gradients=True, batch_size=batch_size)
    return name, res.outputs[name], res.gradients[name]


def _to_input_size(adapter, cam, relu):
    """ReLU (optional) and bilinear upsampling of (N, h, w) maps to the image size (N, H, W)."""
    if relu:
        cam = np.maximum(cam, 0.0)
    return upsample(cam.astype(np.float32), adapter.image_shape[:2])


def _weighted_sum(weights, activations):
    """``sum_c weights[n, c] * A[n, :, :, c]`` -> (N, h, w)."""
    return np.einsum("nc,nhwc->nhw", weights, activations)


@register_method("gradcam", aliases=("grad_cam",), family="cam")
def gradcam(adapter, inputs, targets, layer_name=None, relu=True, batch_size=None):
    """Grad-CAM: channels weighted by their spatially averaged gradient.

    Selvaraju et al. (2017), "Grad-CAM: Visual Explanations from Deep Networks
    via Gradient-based Localization". ``w_c = mean_ij dS/dA_ij^c``,
    ``cam = ReLU(sum_c w_c A^c)``, upsampled bilinearly to the input size
    (not normalized: the scale is the target score's).

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    layer_name : str, optional
        Layer whose output ``A`` (N, h, w, C) is used; default: the last layer with
        a 4-D output larger than 1x1 in call order (nested layers included).
    relu : bool
        Keep only positive evidence (the paper's ReLU).
    batch_size : int, optional

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name`` used.

    Raises
    ------
    ValueError
        The model has no 4-D layer, or ``layer_name``'s output is not 4-D.

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'gradcam')                # doctest: +SKIP
    >>> exp.meta['layer_name'], exp.heatmap().shape           # doctest: +SKIP
    ('maxpool2d_2', (4, 28, 28))
    """
    name, acts, grads = _capture(adapter, inputs, targets, layer_name, batch_size)
    weights = grads.mean(axis=(1, 2))
    return _to_input_size(adapter, _weighted_sum(weights, acts), relu), {"layer_name": name}


def gradcam_plus_plus_weights(acts, grads):
    """Grad-CAM++ channel weights from activations and first-order gradients, (N, C).

    Uses the closed form for an exponential of the score (Chattopadhay et al.,
    eq. 19): ``alpha = g^2 / (2 g^2 + sum_ab A * g^3)``, ``w_c = sum_ij alpha * ReLU(g)``.
    """
    g2 = grads * grads
    denom = 2.0 * g2 + acts.sum(axis=(1, 2), keepdims=True) * (g2 * grads)
    alpha = np.divide(g2, denom, out=np.zeros_like(g2), where=denom != 0.0)
    return (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2))


@register_method("gradcam_plus_plus", aliases=("gradcam++", "grad_cam_plus_plus"), family="cam")
def gradcam_plus_plus(adapter, inputs, targets, layer_name=None, relu=True, batch_size=None):
    """Grad-CAM++: channels weighted by positive gradients with pixel-wise coefficients.

    Chattopadhay, Sarkar, Howlader & Balasubramanian (2018), "Grad-CAM++:
    Generalized Gradient-based Visual Explanations for Deep Convolutional
    Networks". Better than Grad-CAM at several instances of a class.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    layer_name : str, optional
        Default: the last layer with a 4-D output larger than 1x1 in call order.
    relu : bool
    batch_size : int, optional

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name`` used.

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'gradcam_plus_plus')   # doctest: +SKIP
    """
    name, acts, grads = _capture(adapter, inputs, targets, layer_name, batch_size)
    weights = gradcam_plus_plus_weights(acts, grads)
    return _to_input_size(adapter, _weighted_sum(weights, acts), relu), {"layer_name": name}


def _weighted_masks(adapter, acts, weights):
    """``sum_c weights[n, c] * M^c_n``: the channels upsampled and min-max normalized as the masks were.

    Computed for blocks of inputs whose upsampled channels fit in
    :data:`~._graph.BLOCK_BYTES`. Returns (N, H, W) float64.
    """
    size = adapter.image_shape[:2]
    per_input = int(np.prod(size)) * acts.shape[-1] * 4
    step = max(1, BLOCK_BYTES // per_input)
    out = []
    for start in range(0, len(acts), step):
        up = upsample(acts[start:start + step].astype(np.float32), size)  # (B, H, W, C)
        low = up.min(axis=(1, 2), keepdims=True)
        span = up.max(axis=(1, 2), keepdims=True) - low
        masks = np.divide(up - low, span, out=np.zeros_like(up), where=span > 0)
        out.append(np.einsum("nc,nhwc->nhw", weights[start:start + step], masks.astype(np.float64)))
    return np.concatenate(out)


@register_method("scorecam", aliases=("score_cam",), family="cam")
def scorecam(adapter, inputs, targets, layer_name=None, use_probabilities=True, relu=True, batch_size=None):
    """Score-CAM: channels weighted by the score of the input masked with each channel.

    Wang et al. (2020), "Score-CAM: Score-Weighted Visual Explanations for
    Convolutional Neural Networks". Each channel ``A^c`` is upsampled to the
    input size, normalized to [0, 1] and used as a mask ``x * M^c``; its weight is
    the target's score (softmax probability by default) on the masked input. The
    ``N * C`` masked inputs are built and scored inside one compiled step, at most
    ``batch_size`` in flight at once.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    layer_name : str, optional
        Default: the last layer with a 4-D output larger than 1x1 in call order.
    use_probabilities : bool
        Weigh channels by softmax probabilities (the paper) even when the adapter
        explains logits.
    relu : bool
    batch_size : int, optional
        Masked inputs in flight at once (bounds memory).

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name`` and the channel ``weights`` (N, C).

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'scorecam', batch_size=512)   # doctest: +SKIP
    """
    name, _ = resolve_cam_layer(adapter, layer_name)
    acts = adapter.capture(inputs, [name], batch_size=batch_size).outputs[name]
    n, n_channels = len(acts), acts.shape[-1]
    maps = np.moveaxis(acts, -1, 1).reshape((n * n_channels,) + acts.shape[1:3])  # mask i * C + c
    pairs = (np.repeat(np.arange(n), n_channels), np.arange(n * n_channels))
    weights = masked_scores(
        adapter, inputs, targets, pairs, make_masks=lambda j: maps[j],
        upsample=True, normalize=True, probabilities=use_probabilities, batch_size=batch_size,
    ).reshape(n, n_channels).astype(np.float64)
    cam = _weighted_masks(adapter, acts, weights)
    if relu:
        cam = np.maximum(cam, 0.0)
    return cam.astype(np.float32), {"layer_name": name, "weights": weights.astype(np.float32)}
