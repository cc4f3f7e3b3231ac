"""Class activation maps: Grad-CAM, Grad-CAM++ and Score-CAM.

A CAM weighs the channels of one convolutional layer's output ``A`` (N, h, w, C)
and sums them into a spatial map, upsampled (bilinear) to the input's spatial
size: the methods return ``(N, H, W)`` and the runner broadcasts over channels.
The layer's output (and its gradient) come from :meth:`ModelAdapter.capture`,
which works on static and dynamic TL models, nested layers and Keras models,
and leaves the model unchanged; Grad-CAM and Grad-CAM++ are computed inside that
compiled step (weights, channel sum, ReLU, resize), so one call returns the maps
and the model's scores (the explanation's predictions). Score-CAM's masked
forward passes go through the shared masked-scoring engine in batches of
``batch_size``.
"""
import functools

import numpy as np
import tensorflow as tf

from .._utils.docstrings import shared_docstring
from ..adapter import spatial_layers
from ._engine.blocks import BLOCK_BYTES
from ._engine.checks import needs_layers
from ._engine.masking import masked_scores
from ._engine.utils import upsample
from .costs import one_gradient
from .registry import COUNT, register_method

__all__ = ["gradcam", "gradcam_plus_plus", "scorecam", "default_cam_layer", "resolve_cam_layer", "SCORECAM_COMBINES",
           "top_variance_channels"]


def _spatial_layers(adapter, min_pixels=1):
    """``[(name, shape)]`` of the feature-map layers (see :func:`tensorlayer_xplain.adapter.spatial_layers`)."""
    return spatial_layers(adapter, min_pixels)


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


def gradcam_weights(acts, grads):
    """Grad-CAM channel weights: the spatially averaged gradients, (N, C) (tensors or arrays)."""
    return tf.reduce_mean(grads, axis=(1, 2))


def gradcam_plus_plus_weights(acts, grads):
    """Grad-CAM++ channel weights from activations and first-order gradients, (N, C) (tensors or arrays).

    Uses the closed form for an exponential of the score (Chattopadhay et al.,
    eq. 19): ``alpha = g^2 / (2 g^2 + sum_ab A * g^3)`` (0 where the denominator
    is 0), ``w_c = sum_ij alpha * ReLU(g)``.
    """
    g2 = grads * grads
    denom = 2.0 * g2 + tf.reduce_sum(acts, axis=(1, 2), keepdims=True) * (g2 * grads)
    alpha = tf.math.divide_no_nan(g2, denom)
    return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))


@functools.lru_cache(maxsize=None)
def _cam_combine(weigh, relu, size):
    """The in-graph CAM of one captured layer: weights, weighted channel sum, ReLU, bilinear resize to ``size``.

    Cached per (weights, relu, size) so the adapter's compiled capture step is traced once per variant.
    """

    def combine(outs, grads):
        acts = outs[0]
        cam = tf.einsum("nhwc,nc->nhw", acts, weigh(acts, grads[0]))
        if relu:
            cam = tf.nn.relu(cam)
        return tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]

    return combine


def _gradient_cam(adapter, x, targets, layer_name, relu, batch_size, weigh):
    """A gradient-weighted CAM computed in the compiled capture step; ``(cam (N, H, W), meta)``."""
    name, _ = resolve_cam_layer(adapter, layer_name)
    combine = _cam_combine(weigh, bool(relu), tuple(int(s) for s in adapter.image_shape[:2]))
    res = adapter.capture(x, [name], targets=targets, gradients=True, batch_size=batch_size, combine=combine)
    return res.combined, {"layer_name": name, "scores": res.scores}


def cam_applies(adapter, params):
    """Why a CAM cannot be taken from the model (no layers, no 4-D output), or None.

    An explicit ``layer_name`` is checked when the method runs, not here.
    """
    if adapter.kind == "callable":
        return "a plain callable has no layers to take a class activation map from"
    if params.get("layer_name") is None and not _spatial_layers(adapter):
        return "no layer with a 4-D output (N, H, W, C) to take a class activation map from (e.g. an MLP)"
    return None


def _scorecam_cost(adapter, n, layer_name=None, max_channels=None, **_):
    """One masked forward pass per channel of the CAM layer (at most ``max_channels``), plus the input's."""
    channels = resolve_cam_layer(adapter, layer_name)[1][-1]
    return n * (min(channels, max_channels or channels) + 1), 0


#: Declarations every CAM shares.
_CAM = {"family": "cam", "applies": cam_applies, "figure": "gradcam_visualization"}


@register_method("gradcam", aliases=("grad_cam",), predicts=True, cost=one_gradient, batchable=True, **_CAM)
@shared_docstring
def gradcam(adapter, inputs, targets, layer_name=None, relu=True, batch_size=None):
    """Grad-CAM: channels weighted by their spatially averaged gradient.

    Selvaraju et al. (2017), "Grad-CAM: Visual Explanations from Deep Networks
    via Gradient-based Localization". ``w_c = mean_ij dS/dA_ij^c``,
    ``cam = ReLU(sum_c w_c A^c)``, upsampled bilinearly to the input size
    (not normalized: the scale is the target score's).

    Parameters
    ----------
    %(method_inputs)s
    %(method_cam_layer)s
    relu : bool
        Keep only positive evidence (the paper's ReLU).
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name`` used; ``scores`` (N, K) from the same forward pass.

    Raises
    ------
    ValueError
        The model has no 4-D layer, or ``layer_name``'s output is not 4-D.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'gradcam')
    >>> exp.meta['layer_name'].startswith('maxpool2d'), exp.heatmap().shape   # the last 4-D layer
    (True, (4, 28, 28))
    """
    return _gradient_cam(adapter, inputs, targets, layer_name, relu, batch_size, gradcam_weights)


@register_method("gradcam_plus_plus", aliases=("gradcam++", "grad_cam_plus_plus"), predicts=True,
                 cost=one_gradient, batchable=True, **_CAM)
@shared_docstring
def gradcam_plus_plus(adapter, inputs, targets, layer_name=None, relu=True, batch_size=None):
    """Grad-CAM++: channels weighted by positive gradients with pixel-wise coefficients.

    Chattopadhay, Sarkar, Howlader & Balasubramanian (2018), "Grad-CAM++:
    Generalized Gradient-based Visual Explanations for Deep Convolutional
    Networks". Better than Grad-CAM at several instances of a class.

    Parameters
    ----------
    %(method_inputs)s
    %(method_cam_layer)s
    relu : bool
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name`` used; ``scores`` (N, K) from the same forward pass.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'gradcam_plus_plus')
    """
    return _gradient_cam(adapter, inputs, targets, layer_name, relu, batch_size, gradcam_plus_plus_weights)


#: What Score-CAM's channel weights multiply: the raw activations (the paper) or the normalized masks.
SCORECAM_COMBINES = ("activations", "masks")


def _to_input_size(adapter, cam, relu):
    """ReLU (optional) and bilinear upsampling of (N, h, w) maps to the image size (N, H, W)."""
    if relu:
        cam = np.maximum(cam, 0.0)
    return upsample(cam.astype(np.float32), adapter.image_shape[:2])


def _weighted_sum(weights, activations):
    """``sum_c weights[n, c] * A[n, :, :, c]`` -> (N, h, w)."""
    return np.einsum("nc,nhwc->nhw", weights, activations)


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


def top_variance_channels(acts, max_channels):
    """Each input's ``max_channels`` channels of largest spatial standard deviation, sorted: (N, k) int.

    Faster Score-CAM's rule, as tf-keras-vis ``Scorecam(max_N=k)``: the population
    standard deviation of each channel over the map (``tf.math.reduce_std``), the
    ``k`` largest by ``tf.math.top_k`` (ties: the lower channel first). ``None``
    or ``k >= C`` keeps every channel.
    """
    n, n_channels = len(acts), acts.shape[-1]
    if max_channels is None or max_channels >= n_channels:
        return np.tile(np.arange(n_channels), (n, 1))
    std = tf.math.reduce_std(tf.constant(acts, tf.float32), axis=(1, 2))
    return np.sort(tf.math.top_k(std, k=int(max_channels)).indices.numpy(), axis=1)


@register_method("scorecam", aliases=("score_cam",), cost=_scorecam_cost, batchable=True,
                 ranges={"max_channels": COUNT}, **_CAM)
@shared_docstring
def scorecam(adapter, inputs, targets, layer_name=None, use_probabilities=True, relu=True, combine="activations",
             max_channels=None, batch_size=None):
    """Score-CAM: channels weighted by the score of the input masked with each channel.

    Wang et al. (2020), "Score-CAM: Score-Weighted Visual Explanations for
    Convolutional Neural Networks". Each channel ``A^c`` is upsampled to the
    input size and min-max normalized to [0, 1]; that mask ``M^c`` gives the
    masked input ``x * M^c``, and the channel's weight ``w_c`` is the target's
    score (softmax probability by default) on it. The map combines the raw
    activations as the paper (and tf-keras-vis) do, ``ReLU(sum_c w_c A^c)`` at the
    layer's resolution, upsampled bilinearly to the input size (as Grad-CAM), so
    channels weigh in with their own activation scale. ``combine='masks'`` sums
    the normalized masks instead, ``ReLU(sum_c w_c M^c)`` (the variant this
    library used before): every channel then counts on the same [0, 1] scale,
    whatever its activation range. The ``N * C`` masked inputs are built and
    scored inside one compiled step, at most ``batch_size`` in flight at once.

    Faster Score-CAM (``max_channels=k``; tf-keras-vis ``Scorecam(max_N=k)``)
    scores only each input's ``k`` channels of largest spatial variance and
    combines only those (the others weigh 0): ``N * k`` masked passes instead of
    ``N * C`` (512 on VGG16's last convolution). tf-keras-vis takes the union of
    the chosen channels over the batch; here each input keeps its own ``k``, so
    an input's map does not depend on the rest of its batch (the same as
    tf-keras-vis on one image).

    Parameters
    ----------
    %(method_inputs)s
    %(method_cam_layer)s
    use_probabilities : bool
        Weigh channels by softmax probabilities (the paper) even when the adapter
        explains logits.
    relu : bool
    combine : {'activations', 'masks'}
        What the weights multiply: the raw activations ``A^c`` (the paper) or the
        upsampled, normalized masks ``M^c``.
    max_channels : int, optional
        Faster Score-CAM: score only the ``max_channels`` channels of largest
        variance per input (an int in [1, 1000000]; at least the layer's channel
        count means all of them). None: every channel (Score-CAM).
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W)
    meta : dict
        ``layer_name``, the channel ``weights`` (N, C; 0 for channels not scored),
        ``combine`` and ``channels`` (N, k), the scored channels of each input.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'scorecam', batch_size=512)
    >>> exp.meta['weights'].shape
    (4, 32)
    >>> fast = tlxp.explain(model, x, 'scorecam', max_channels=8)   # Faster Score-CAM
    >>> fast.meta['channels'].shape, int((fast.meta['weights'] != 0).sum(axis=1).max()) <= 8
    ((4, 8), True)
    """
    if combine not in SCORECAM_COMBINES:
        raise ValueError("combine: expected one of %s, got %r" % (SCORECAM_COMBINES, combine))
    if isinstance(max_channels, str):
        raise TypeError("max_channels: expected None (every channel) or %s for scorecam, got the string %.80r"
                        % (COUNT.describe(), max_channels))
    max_channels = COUNT.check("scorecam", "max_channels", max_channels)  # declared range, also for direct calls
    name, _ = resolve_cam_layer(adapter, layer_name)
    acts = adapter.capture(inputs, [name], batch_size=batch_size).outputs[name]
    n, n_channels = len(acts), acts.shape[-1]
    channels = top_variance_channels(acts, max_channels)  # (N, k), sorted
    maps = np.moveaxis(acts, -1, 1).reshape((n * n_channels,) + acts.shape[1:3])  # mask i * C + c
    rows = np.repeat(np.arange(n), channels.shape[1])
    pairs = (rows, rows * n_channels + channels.reshape(-1))  # ordered by mask number
    weights = np.zeros((n, n_channels))
    weights[rows, channels.reshape(-1)] = masked_scores(
        adapter, inputs, targets, pairs, make_masks=lambda j: maps[j],
        upsample=True, normalize=True, probabilities=use_probabilities, batch_size=batch_size,
    )
    if combine == "activations":
        cam = _to_input_size(adapter, _weighted_sum(weights, acts.astype(np.float64)), relu)
    else:
        cam = _weighted_masks(adapter, acts, weights)
        cam = np.maximum(cam, 0.0) if relu else cam
    meta = {"layer_name": name, "weights": weights.astype(np.float32), "combine": combine, "channels": channels}
    return cam.astype(np.float32), meta
