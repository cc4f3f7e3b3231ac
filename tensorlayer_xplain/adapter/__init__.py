"""One way to call any model: TensorLayer static/dynamic, Keras, or a plain callable.

Methods never touch a model directly; they go through a :class:`ModelAdapter`,
which

* validates and reshapes inputs (a flat-784 MLP accepts 28x28x1 images and back),
* runs the model in inference mode and restores the caller's train/eval flags,
* batches every call (``batch_size``), halving the batch on out-of-memory,
* compiles each gradient/capture step once with ``tf.function`` (no retracing
  for new batch sizes: the batch dimension is left open in the signature),
* finds layers by name, also nested ones, and captures their outputs (and the
  gradients of the target with respect to them) by wrapping the layer's
  ``forward`` for the duration of the trace only.

The model object is never left changed: every patched attribute and every
train/eval flag is restored in ``finally`` blocks.

:class:`ModelAdapter` (``_model``) is a short facade; each job lives in its own module, as
plain functions taking the adapter: ``_inputs`` (preparation and shapes), ``_inference``
(inference mode, scores, predictions), ``_steps`` (compiled-step cache, batching),
``_memory`` (byte budgets, ``batch_rows``), ``_targets`` (``resolve_targets``, ``select``,
``PREDICTED``), ``_gradients`` (differentiation), ``_layers`` (layer discovery, call order),
``_capture`` (layer outputs and their gradients), ``_fingerprint`` (weights hash), ``_cache``
(``as_adapter``), ``_common`` (``temporarily_set``, error-message helpers).
"""
from ._capture import CaptureResult
from ._common import _describe, temporarily_set  # noqa: F401
from ._inference import OUTPUT_KINDS
from ._inputs import image_shape_for  # noqa: F401
from ._layers import _is_container, _walk_keras, _walk_tl  # noqa: F401
from ._memory import BACKWARD_FACTOR, CALLABLE_ACTIVATION_FACTOR, DEFAULT_MAX_BATCH_BYTES  # noqa: F401
from ._model import ModelAdapter
from ._reuse import ADAPTERS_ATTRIBUTE, as_adapter  # noqa: F401
from ._targets import PREDICTED

__all__ = ["ModelAdapter", "as_adapter", "CaptureResult", "OUTPUT_KINDS", "PREDICTED", "DEFAULT_MAX_BATCH_BYTES"]
