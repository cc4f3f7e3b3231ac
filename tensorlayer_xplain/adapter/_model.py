"""The :class:`ModelAdapter` facade: validated options, and one method per job, each defined in its own module."""
import threading

import numpy as np
import tensorflow as tf
import tensorlayer as tl

from . import (
    _capture,
    _fingerprint,
    _gradients,
    _inference,
    _inputs,
    _intervene,
    _layers,
    _memory,
    _relevance,
    _steps,
    _targets,
)
from ._common import _describe
from ._inference import OUTPUT_KINDS
from ._memory import DEFAULT_MAX_BATCH_BYTES


class ModelAdapter:
    """Call a TensorLayer, Keras or plain-callable model the same way.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or callable
        A TL static or dynamic model, a Keras model, or a function mapping a
        batch ``(N, *input_shape)`` to scores ``(N, K)``.
    input_shape : tuple of int, optional
        Shape of one sample as the model takes it. Read from static TL and built
        Keras models; otherwise taken from the first batch seen.
    image_shape : tuple of int, optional
        ``(H, W, C)`` used to draw inputs and heatmaps; guessed from
        ``input_shape`` (784 -> 28x28x1) when not given.
    output : {'logits', 'probabilities'}
        What is explained: the raw model output, or its softmax (applied here,
        on top of the raw output, only when asked).
    batch_size : int
        Largest batch sent to the model at once (an upper bound); halved on out-of-memory.
    max_batch_bytes : int
        Memory budget of one model call: the rows in flight are capped so that
        their estimated bytes (:meth:`sample_bytes`) stay within it. A 224x224
        VGG16 (about 62 MB of activations per sample) gets 17 rows forward and
        8 with gradients at the default (1 GiB).
    strategy : tf.distribute.Strategy, optional
        Compiled steps split each batch across its replicas (see
        :mod:`tensorlayer_xplain.adapter._distribute`).

    Examples
    --------
    >>> adapter = ModelAdapter(mlp)          # the flat-784 tutorial MLP takes 28x28x1 images too
    >>> adapter.predict(x_test[:5]).shape
    (5, 10)
    >>> adapter.gradients(x_test[:5], targets=[7, 2, 1, 0, 4]).shape
    (5, 784)
    """

    def __init__(self, model, input_shape=None, image_shape=None, output="logits", batch_size=256,
                 max_batch_bytes=DEFAULT_MAX_BATCH_BYTES, strategy=None):
        if isinstance(model, tl.models.Model):
            self.kind = "tl_static" if model._inputs is not None else "tl_dynamic"
        elif isinstance(model, tf.keras.Model):
            self.kind = "keras"
        elif callable(model):
            self.kind = "callable"
        else:
            raise TypeError(
                "model: expected a TensorLayer Model, a Keras model or a callable mapping a batch "
                "to scores, got %s" % _describe(model)
            )
        if output not in OUTPUT_KINDS:
            raise ValueError("output: expected one of %s, got %r" % (OUTPUT_KINDS, output))
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError("batch_size: expected a positive int, got %s" % _describe(batch_size))
        if (not isinstance(max_batch_bytes, (int, np.integer)) or isinstance(max_batch_bytes, bool)
                or max_batch_bytes < 1):
            raise ValueError("max_batch_bytes: expected a positive int (bytes), got %s" % _describe(max_batch_bytes))
        self.model = model
        self.output = output
        self.batch_size = int(batch_size)
        self.strategy = strategy
        self.max_batch_bytes = int(max_batch_bytes)
        self._sample_bytes = None
        self._lock = threading.RLock()
        self._functions = {}
        self._call_order = None
        self._layers = None
        self.n_classes = None
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else self._infer_input_shape()
        if image_shape is not None:
            image_shape = tuple(int(s) for s in image_shape)
            if len(image_shape) == 2:
                image_shape = image_shape + (1,)
            if len(image_shape) != 3:
                raise ValueError("image_shape: expected (H, W) or (H, W, C), got %s" % (image_shape,))
            if self.input_shape is not None and np.prod(image_shape) != np.prod(self.input_shape):
                raise ValueError(
                    "image_shape: %s holds %d values but the model's input shape %s holds %d"
                    % (image_shape, np.prod(image_shape), self.input_shape, np.prod(self.input_shape))
                )
        self._image_shape = image_shape

    # input preparation and shapes (_inputs.py)
    _infer_input_shape = _inputs.infer_input_shape
    image_shape = property(_inputs.image_shape)
    _expected = _inputs.expected_shapes
    prepare = _inputs.prepare
    to_image = _inputs.to_image
    _input_specs = _inputs.input_specs
    _zero_sample = _inputs.zero_sample

    # inference mode and model calls (_inference.py)
    _mode_holders = _inference.mode_holders
    inference_mode = _inference.inference_mode
    _raw_call = _inference.raw_call
    scores = _inference.scores
    _predict_step = _inference.predict_step
    predict = _inference.predict

    # compiled-step cache and batching (_steps.py)
    compiled = _steps.compiled
    trace_count = property(_steps.trace_count)
    map_batches = _steps.map_batches

    # target resolution (_targets.py)
    resolve_targets = _targets.resolve_targets
    select = staticmethod(_targets.select)
    _target_key = _targets.target_key

    # differentiation (_gradients.py)
    differentiate = _gradients.differentiate
    gradients = _gradients.gradients

    # layer discovery and call order (_layers.py)
    iter_layers = _layers.iter_layers
    layer_names = _layers.layer_names
    layer = _layers.layer
    layer_call_order = _layers.layer_call_order

    # capture (_capture.py)
    _forward_attr = _capture.forward_attr
    _recording = _capture.recording
    capture = _capture.capture
    scores_with_layer_output = _intervene.scores_with_layer_output

    # layer roles and swapped forwards for propagation methods: LRP, DeepLIFT (_relevance.py)
    relevance_roles = _relevance.relevance_roles
    substituted_forwards = _relevance.substituted_forwards

    # byte budgets (_memory.py)
    _input_bytes = _memory.input_bytes
    _activation_bytes = _memory.activation_bytes
    sample_bytes = _memory.sample_bytes
    batch_rows = _memory.batch_rows

    # fingerprints (_fingerprint.py)
    weights_fingerprint = _fingerprint.weights_fingerprint
