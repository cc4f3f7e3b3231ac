"""LayerCAM: class activation maps from any 4-D layer, shallow ones included, and their fusion.

Jiang, Zhang, Hou, Cheng & Wei (2021), "LayerCAM: Exploring Hierarchical Class
Activation Maps for Localization", IEEE TIP. Where Grad-CAM weighs each channel
by its spatially averaged gradient (one number per channel), LayerCAM weighs
every position by its own positive gradient, so maps taken from shallow layers
keep their fine detail instead of averaging into noise. Layers are picked and
captured as for Grad-CAM (:func:`~tensorlayer_xplain.methods.cam.resolve_cam_layer`,
:meth:`ModelAdapter.capture`), and the whole map (weights, channel sum, ReLU,
resize and the fusion of several layers) is computed inside the one compiled
capture step, which also returns the model's scores.
"""
import functools

import tensorflow as tf

from .._utils.docstrings import shared_docstring
from .cam import cam_applies, resolve_cam_layer
from .costs import one_gradient
from .registry import Range, register_method

__all__ = ["layercam", "LAYERCAM_GAMMA"]

#: Default ``gamma`` of the shallow layers' scaling ``tanh(gamma * M / max M)`` (the paper's value).
LAYERCAM_GAMMA = 2.0
#: Valid ``gamma``: beyond 100 every shallow map is 1 wherever it is not 0.
_GAMMA = Range(1e-3, 100.0)


def layercam_map(acts, grads):
    """One layer's LayerCAM at its own resolution: ``ReLU(sum_c ReLU(dS/dA^c) * A^c)``, (N, h, w)."""
    return tf.nn.relu(tf.reduce_sum(tf.nn.relu(grads) * acts, axis=-1))


@functools.lru_cache(maxsize=None)
def _layercam_combine(n_layers, gamma, size):
    """The in-graph LayerCAM of ``n_layers`` captured layers (in call order), resized to ``size`` and fused.

    Cached per (layers, gamma, size) so the compiled capture step is traced once per variant.
    """

    def combine(outs, grads):
        maps = [tf.image.resize(layercam_map(a, g)[..., None], size, method="bilinear")[..., 0]
                for a, g in zip(outs, grads)]
        if n_layers == 1:
            return maps[0]
        fused = None
        for k, cam in enumerate(maps):
            scaled = tf.math.divide_no_nan(cam, tf.reduce_max(cam, axis=(1, 2), keepdims=True))  # in [0, 1]
            if k < n_layers - 1:  # shallow layers: tanh scaling lifts their weaker activations (paper, eq. 9)
                scaled = tf.tanh(gamma * scaled)
            fused = scaled if fused is None else tf.maximum(fused, scaled)
        return fused

    return combine


def _layer_names(adapter, layer_name):
    """The layers to take maps from, checked and sorted in call order (deepest last)."""
    if isinstance(layer_name, (list, tuple)):
        if not layer_name:
            raise ValueError("layer_name: expected a layer name or a non-empty list of layer names, got []")
        if not all(isinstance(name, str) for name in layer_name):
            raise TypeError("layer_name: expected layer names (str), got %r" % (layer_name,))
        if len(set(layer_name)) != len(layer_name):
            raise ValueError("layer_name: expected distinct layer names, got %r" % (layer_name,))
        names = [resolve_cam_layer(adapter, name)[0] for name in layer_name]
    elif layer_name is None or isinstance(layer_name, str):
        names = [resolve_cam_layer(adapter, layer_name)[0]]
    else:
        raise TypeError("layer_name: expected None, a layer name or a list of layer names, got %r" % (layer_name,))
    order = [name for name, _ in adapter.layer_call_order()]
    return sorted(names, key=order.index)


def _check_gamma(gamma):
    """``gamma`` as a float in [0.001, 100] (the declared range, also for direct calls; strings refused)."""
    if isinstance(gamma, str):
        raise TypeError("gamma: expected %s for layercam, got the string %.80r" % (_GAMMA.describe(), gamma))
    return float(_GAMMA.check("layercam", "gamma", gamma))


@register_method("layercam", aliases=("layer_cam",), family="cam", predicts=True, cost=one_gradient, batchable=True,
                 applies=cam_applies, figure="gradcam_visualization", ranges={"gamma": _GAMMA}, benchmark={})
@shared_docstring
def layercam(adapter, inputs, targets, layer_name=None, gamma=LAYERCAM_GAMMA, batch_size=None):
    """LayerCAM: activations weighted position by position by their positive gradients.

    Jiang et al. (2021), "LayerCAM: Exploring Hierarchical Class Activation Maps
    for Localization". For a layer with output ``A`` (N, h, w, C) and the target
    score ``S``::

        M = ReLU( sum_c ReLU(dS/dA^c) * A^c )            (N, h, w)

    upsampled bilinearly to the input size and not normalized (the scale is the
    target score's, as Grad-CAM here). Unlike Grad-CAM, which averages the
    gradients over the map, every position keeps its own weight, so the map of
    a shallow layer is sharp where Grad-CAM's is noise. Any layer with a 4-D
    output can be used (tf-keras-vis ``Layercam``, Captum ``LayerGradCam`` with
    element-wise weights).

    With several layers (``layer_name=[...]``) the maps are fused as in the
    paper: each map is upsampled and divided by its maximum; the maps of all
    layers but the deepest (the last one called) are scaled by
    ``tanh(gamma * M / max M)``, which lifts the weaker activations of shallow
    layers; the fused map is their element-wise maximum, in [0, 1].

    Parameters
    ----------
    %(method_inputs)s
    layer_name : str or list of str, optional
        Layer(s) whose output ``A`` (N, h, w, C) is used; default: the last layer
        with a 4-D output larger than 1x1 in call order. Several names fuse
        their maps (in call order, whatever the order given).
    gamma : float
        Scaling of the shallow layers in a fusion, in [0.001, 100] (the paper: 2).
        Unused for one layer.
    %(method_batch_size)s

    Returns
    -------
    attributions : ndarray, float32, shape (N, H, W), non-negative
    meta : dict
        ``layer_name`` (the layer, or the list of fused layers in call order) and
        ``scores`` (N, K) from the same forward pass.

    Raises
    ------
    ValueError
        A layer whose output is not 4-D, the same layer twice, ``gamma`` out of range.
    KeyError
        An unknown layer name.

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'layercam')
    >>> exp.heatmap().shape
    (4, 28, 28)
    >>> convs = [name for name, _ in tlxp.as_adapter(model).layer_call_order() if name.startswith('conv')]
    >>> fused = tlxp.explain(model, x, 'layercam', layer_name=convs[::-1])
    >>> fused.meta['layer_name'] == convs, float(fused.attributions.max()) <= 1.0
    (True, True)
    """
    gamma = _check_gamma(gamma)
    names = _layer_names(adapter, layer_name)
    combine = _layercam_combine(len(names), gamma if len(names) > 1 else LAYERCAM_GAMMA,
                                tuple(int(s) for s in adapter.image_shape[:2]))
    res = adapter.capture(inputs, names, targets=targets, gradients=True, batch_size=batch_size, combine=combine)
    shown = names if isinstance(layer_name, (list, tuple)) else names[0]
    return res.combined, {"layer_name": shown, "scores": res.scores}
