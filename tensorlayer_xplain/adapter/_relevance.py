"""What propagation methods (LRP, DeepLIFT) need from a model: each layer's role, and forwards swapped while traced.

A propagation method rewrites the backward pass layer by layer. It never reads TensorLayer or Keras
itself: this module describes every leaf layer by a :class:`LayerRole` (the linear map with its
kernel and bias, the activation, a batch-norm's affine map, a pooling or merge that is linear without
weights, a max, a pass-through) and swaps layers' ``forward`` (TensorLayer) or ``call`` (Keras) for
the method's version only while a compiled step is traced (:func:`substituted_forwards`), restoring
them in ``finally`` like :meth:`ModelAdapter.capture`.
"""
import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Optional

import tensorflow as tf
import tensorlayer as tl

from ._common import _describe, needs_layers, temporarily_set

__all__ = ["LayerRole", "relevance_roles", "substituted_forwards", "SUPPORTED_LAYERS"]

#: The layer types propagation methods understand, for error messages and the docs.
SUPPORTED_LAYERS = (
    "TensorLayer Dense, Conv1d, Conv2d, Conv3d, DepthwiseConv2d, MaxPool1d/2d/3d, MeanPool1d/2d/3d, "
    "GlobalMaxPool1d/2d/3d, GlobalMeanPool1d/2d/3d, Flatten, Reshape, Transpose, Dropout, BatchNorm(1d/2d/3d), "
    "Elementwise(tf.add), Concat, Input, Lambda (before the first layer with weights: input scaling); "
    "Keras Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, "
    "GlobalMaxPooling1D/2D/3D, GlobalAveragePooling1D/2D/3D, Flatten, Reshape, Permute, Dropout, "
    "BatchNormalization, Add, Concatenate, Activation, ReLU, InputLayer, Rescaling"
)


@dataclass(frozen=True)
class LayerRole:
    """What a leaf layer does, in the terms propagation rules need.

    Attributes
    ----------
    kind : str
        ``'linear'`` (a layer with weights: ``linear(x, W) + bias``, then ``act``), ``'batchnorm'``
        (``x * a + c`` per channel, then ``act``), ``'pool'`` (linear without weights: average pools,
        the layer's own forward), ``'add'`` (sum of its inputs, then ``act``), ``'max'`` (max pools),
        ``'act'`` (an elementwise activation layer), ``'pass'`` (reshapes, dropout, concatenation,
        inputs) or ``'preprocess'`` (an input-scaling layer such as VGG16's ``Lambda``).
    family : str
        ``'dense'``, ``'conv'``, ``'depthwise'`` for linear layers, else the kind (composites pick rules by it).
    type_name : str
        The layer's class name.
    linear : callable, optional
        ``linear(x, W) -> z`` without bias, for ``'linear'``.
    kernel, bias : callable, optional
        Return the current kernel and bias tensors (bias None when the layer has none).
    channel_axis : int
        Axis of the output channels (bias and batch-norm broadcast).
    act : callable, optional
        The activation applied after the linear map, sum or batch norm (None: identity).
    affine : callable, optional
        ``affine() -> (a, c)`` per-channel scale and shift of a batch norm in inference.
    fold : callable, optional
        ``fold(W, a) -> W * a`` along the kernel's output channels (a following batch norm folded in).
    """

    kind: str
    family: str
    type_name: str
    linear: Optional[Callable] = None
    kernel: Optional[Callable] = None
    bias: Optional[Callable] = None
    channel_axis: int = -1
    act: Optional[Callable] = None
    affine: Optional[Callable] = None
    fold: Optional[Callable] = None


@tf.autograph.experimental.do_not_convert
def _read(layer, attr, flag=None):
    """``layer.<attr>`` as a tensor (None when ``layer.<flag>`` is false or the attribute is None)."""
    if flag is not None and not getattr(layer, flag):
        return None
    value = getattr(layer, attr, None)
    return None if value is None else tf.convert_to_tensor(value)


def _reader(layer, attr, flag=None):
    return functools.partial(_read, layer, attr, flag)


def _channel_axis(data_format):
    return 1 if str(data_format).startswith("NC") or data_format == "channels_first" else -1


def _fold_last(W, a):
    return W * a


def _fold_depthwise(W, a):
    # depthwise kernel (h, w, in, multiplier): output channel c * multiplier + m
    return W * tf.reshape(a, tf.shape(W)[-2:])


def _tl_linear(layer):
    name = type(layer).__name__
    bias = _reader(layer, "b") if getattr(layer, "b_init", None) else None
    kernel = _reader(layer, "W")
    fmt = getattr(layer, "data_format", "channels_last")
    common = dict(kernel=kernel, bias=bias, act=layer.act or None, type_name=name, channel_axis=_channel_axis(fmt))
    if isinstance(layer, tl.layers.Dense):
        return LayerRole("linear", "dense", linear=lambda x, W: tf.matmul(x, W), fold=_fold_last, **common)
    if isinstance(layer, tl.layers.Conv1d):
        return LayerRole("linear", "conv", fold=_fold_last, linear=lambda x, W: tf.nn.conv1d(
            x, W, stride=layer.stride, padding=layer.padding, data_format=layer.data_format,
            dilations=layer.dilation_rate), **common)
    if isinstance(layer, (tl.layers.Conv2d, tl.layers.Conv3d)):
        conv = tf.nn.conv2d if isinstance(layer, tl.layers.Conv2d) else tf.nn.conv3d
        return LayerRole("linear", "conv", fold=_fold_last, linear=lambda x, W: conv(
            x, W, strides=layer._strides, padding=layer.padding, data_format=layer.data_format,
            dilations=layer._dilation_rate), **common)
    if isinstance(layer, tl.layers.DepthwiseConv2d):
        return LayerRole("linear", "depthwise", fold=_fold_depthwise, linear=lambda x, W: tf.nn.depthwise_conv2d(
            x, W, strides=layer._strides, padding=layer.padding, data_format=layer.data_format,
            dilations=layer.dilation_rate), **common)
    return None


def _bn_affine(mean, var, gamma, beta, epsilon):
    """``affine() -> (a, c)``: a batch norm in inference is ``x * a + c`` per channel."""

    @tf.autograph.experimental.do_not_convert
    def affine():
        a = tf.math.rsqrt(var() + epsilon)
        scale, offset = gamma(), beta()
        if scale is not None:
            a = a * scale
        c = -mean() * a
        return a, (c if offset is None else c + offset)

    return affine


_TL_POOL = ("MeanPool1d", "MeanPool2d", "MeanPool3d", "GlobalMeanPool1d", "GlobalMeanPool2d", "GlobalMeanPool3d")
_TL_MAX = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "GlobalMaxPool1d", "GlobalMaxPool2d", "GlobalMaxPool3d")
_TL_PASS = ("Flatten", "Reshape", "Transpose", "Dropout", "Concat", "_InputLayer")


def _tl_role(layer):
    role = _tl_linear(layer)
    if role is not None:
        return role
    name = type(layer).__name__
    if isinstance(layer, tl.layers.BatchNorm):
        return LayerRole("batchnorm", "batchnorm", name, act=layer.act or None,
                         channel_axis=_channel_axis(layer.data_format),
                         affine=_bn_affine(_reader(layer, "moving_mean"), _reader(layer, "moving_var"),
                                           _reader(layer, "gamma"), _reader(layer, "beta"), layer.epsilon))
    if isinstance(layer, tl.layers.Elementwise) and layer.combine_fn in (tf.add, tf.math.add):
        return LayerRole("add", "add", name, act=layer.act or None)
    if name in _TL_POOL:
        return LayerRole("pool", "pool", name)
    if name in _TL_MAX:
        return LayerRole("max", "max", name)
    if name in _TL_PASS:
        return LayerRole("pass", "pass", name)
    if name == "Lambda":
        return LayerRole("preprocess", "preprocess", name)
    return None


def _keras_activation(fn):
    import keras

    return None if fn is None or fn is keras.activations.linear else fn


def _keras_role(layer):
    import keras

    L = keras.layers
    name = type(layer).__name__
    if isinstance(layer, (L.Dense, L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D)):
        if isinstance(layer, L.Dense):
            family, fold, linear = "dense", _fold_last, (lambda x, W: tf.matmul(x, W))
        elif isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
            family, fold = "depthwise", _fold_depthwise
            linear = lambda x, W: keras.ops.depthwise_conv(  # noqa: E731
                x, W, strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate,
                data_format=layer.data_format)
        else:
            if getattr(layer, "groups", 1) != 1 or isinstance(layer, L.Conv1DTranspose):
                return None
            family, fold, linear = "conv", _fold_last, layer.convolution_op
        bias = _reader(layer, "bias") if layer.use_bias else None
        return LayerRole("linear", family, name, linear=linear, kernel=_reader(layer, "kernel"),
                         bias=bias, channel_axis=_channel_axis(getattr(layer, "data_format", "channels_last")),
                         act=_keras_activation(layer.activation), fold=fold)
    if isinstance(layer, L.BatchNormalization):
        return LayerRole("batchnorm", "batchnorm", name, channel_axis=layer.axis if layer.axis == 1 else -1,
                         affine=_bn_affine(_reader(layer, "moving_mean"), _reader(layer, "moving_variance"),
                                           _reader(layer, "gamma", "scale"), _reader(layer, "beta", "center"),
                                           layer.epsilon))
    if isinstance(layer, L.Add):
        return LayerRole("add", "add", name)
    if isinstance(layer, (L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D,
                          L.GlobalAveragePooling2D, L.GlobalAveragePooling3D)):
        return LayerRole("pool", "pool", name)
    if isinstance(layer, (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.GlobalMaxPooling1D,
                          L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)):
        return LayerRole("max", "max", name)
    if isinstance(layer, (L.Activation, L.ReLU)):
        return LayerRole("act", "act", name, act=layer.call)
    if isinstance(layer, (L.Flatten, L.Reshape, L.Permute, L.Dropout, L.Concatenate, L.InputLayer)):
        return LayerRole("pass", "pass", name)
    if isinstance(layer, L.Rescaling):
        return LayerRole("preprocess", "preprocess", name)
    return None


def _is_group(layer):
    if isinstance(layer, (tl.layers.LayerList, tl.layers.ModelLayer, tl.models.Model)):
        return True
    return isinstance(layer, tf.keras.Model)


def relevance_roles(adapter, method):
    """``[(layer, LayerRole)]`` of the model's leaf layers in call order; an unknown layer raises.

    Parameters
    ----------
    adapter : ModelAdapter
    method : str
        Named in error messages.

    Returns
    -------
    list of (layer, LayerRole)
        The leaf layers called by the forward pass, in the order called (layer groups left out).

    Raises
    ------
    TypeError
        For a plain callable (no layers to read).
    ValueError
        Naming a layer whose type the rules do not cover, and the supported types.

    Examples
    --------
    >>> [role.kind for _, role in relevance_roles(tlxp.as_adapter(mlp), 'lrp')]   # doctest: +SKIP
    ['pass', 'pass', 'linear', 'pass', 'linear', 'pass', 'linear']
    """
    if adapter.kind == "callable":
        raise needs_layers(method)
    by_name = {layer.name: layer for layer in adapter.iter_layers()}
    reader = _keras_role if adapter.kind == "keras" else _tl_role
    roles = []
    for name, _shape in adapter.layer_call_order():
        layer = by_name.get(name)
        if layer is None or _is_group(layer):
            continue
        role = reader(layer)
        if role is None:
            raise ValueError(
                "model: %s has no propagation rule for layer %r (%s.%s); supported layers: %s"
                % (method, name, type(layer).__module__, type(layer).__name__, SUPPORTED_LAYERS))
        roles.append((layer, role))
    kinds = [role.kind for _, role in roles]
    if "linear" not in kinds:
        raise ValueError("model: %s found no layer with weights (Dense, Conv...) in the forward pass of %s"
                         % (method, _describe(adapter.model)))
    late = [layer.name for (layer, role), i in zip(roles, range(len(roles)))
            if role.kind == "preprocess" and i > kinds.index("linear")]
    if late:
        raise ValueError("model: %s treats %s layers only as input scaling before the first layer with weights; "
                         "%s comes after it (supported layers: %s)" % (method, roles[kinds.index("preprocess")][1]
                                                                      .type_name, late[0], SUPPORTED_LAYERS))
    return roles


@contextlib.contextmanager
def substituted_forwards(adapter, roles, make):
    """Replace each layer's forward (TL) or call (Keras) by ``make(layer, role, original)`` within the block.

    ``make`` returns the new function ``f(inputs)`` or None to keep the layer as it is. Use only while
    a step is traced (the replacement is baked into the graph); every layer is restored on exit, also
    when the block raises.
    """
    attr = adapter._forward_attr()
    with contextlib.ExitStack() as stack:
        for layer, role in roles:
            original = getattr(layer, attr)
            new = make(layer, role, original)
            if new is None:
                continue

            def forward(inputs, *args, _new=new, **kwargs):
                return _new(inputs)

            stack.enter_context(temporarily_set(layer, attr, forward))
        yield
