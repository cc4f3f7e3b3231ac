"""DeepSHAP (``shap.DeepExplainer``, DeepLIFT rescale rule) on the TL model wrapped as Keras, with its guards.

Registered as ``shap_deep``; why and where it is reliable is in
:mod:`~tensorlayer_xplain.methods.shap`.
"""
import contextlib
import threading
import warnings
import weakref

import numpy as np
import tensorflow as tf

from ..._utils.docstrings import shared_docstring
from .._engine.background import check_background, subsample
from .._engine.blackbox import target_groups
from .._engine.checks import positive_int, seed_value
from .._ranges import BACKGROUND
from ..costs import background_rows
from ..registry import COUNT, TrainingRows, register_method
from ._common import _additivity, _expected_values, _model_outputs, import_shap, keras_model

__all__ = ["shap_deep", "deep_unsupported_ops"]


# ----------------------------------------------------------------------------- deep
_DEEP_OPS = weakref.WeakKeyDictionary()
_DEEP_LOCK = threading.Lock()  # shap patches TensorFlow's global gradient registry while it runs


def deep_unsupported_ops(adapter):
    """Op types between the model's input and output that ``shap.DeepExplainer`` has no rule for.

    ``shap`` renames every op it records to ``shap_<type>`` and registers gradients
    only for the types it handles, so any other differentiable op on the path
    makes it fail half-way. Found once per adapter by tracing the forward pass.

    Returns
    -------
    list of str
        Sorted op types (empty when DeepSHAP can run).
    """
    if adapter not in _DEEP_OPS:
        import_shap()
        from shap.explainers._deep.deep_tf import op_handlers

        forward = tf.function(adapter.scores)
        with adapter.inference_mode():
            graph = forward.get_concrete_function(tf.TensorSpec((None,) + tuple(adapter.input_shape),
                                                                tf.float32)).graph
        start = graph.inputs[0].op
        seen, todo, types = {start}, [start], set()
        while todo:
            for tensor in todo.pop().outputs:
                for consumer in tensor.consumers():
                    if consumer not in seen:
                        seen.add(consumer)
                        todo.append(consumer)
                        types.add(consumer.type)
        _DEEP_OPS[adapter] = sorted(types - set(op_handlers))
    return list(_DEEP_OPS[adapter])


@contextlib.contextmanager
def _tf_gradient_recording_restored():
    """Undo shap's global patch of TF's gradient recording even when DeepExplainer fails.

    ``shap`` swaps ``tensorflow.python.eager.execute.record_gradient`` and restores it
    only on success; after an error every later gradient in the process would break.
    """
    from tensorflow.python.eager import execute

    saved = execute.record_gradient
    try:
        yield
    finally:
        execute.record_gradient = saved


def _cost(adapter, n, background, max_background, **_):
    """One gradient per (input, background row)."""
    rows = max(1, background_rows(background, max_background))
    return n * rows, n * rows


@register_method("shap_deep", signed=True, family="shap", cost=_cost, figure="shap_visualization",
                 ranges={"max_background": COUNT, "background": BACKGROUND},
                 benchmark={"full": {"background": TrainingRows(100)}, "quick": {"background": TrainingRows(20)},
                            "images": {"full": 16, "quick": 4}, "work": ("background",)})
@shared_docstring
def shap_deep(adapter, inputs, targets, background=None, max_background=100, seed=0, batch_size=None):
    """DeepSHAP (``shap.DeepExplainer``, DeepLIFT rescale rule) on the TL model wrapped as Keras.

    Lundberg & Lee (2017); Shrikumar, Greenside & Kundaje (2017), "Learning Important
    Features Through Propagating Activation Differences". Attributions average the
    DeepLIFT multipliers times ``x - b`` over the background ``b``; they sum to
    ``f(x) - E f(background)`` up to float error when every op has a DeepLIFT rule
    (ReLU, max-pooling, dense and convolutional layers do).

    Parameters
    ----------
    %(method_inputs)s
    background : array-like, shape (M, *input_shape)
        Required reference inputs.
    max_background : int
        Background rows kept (seeded subsample); every input costs one model call of
        ``M + 1`` rows.
    seed : int or None
        Seeds the background subsample.
    batch_size : int, optional
        Used for the expected-value and output predictions.

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``expected_value``, ``model_output``, ``additivity_gap`` (N,).

    Raises
    ------
    ValueError
        When the model uses ops ``shap`` has no DeepLIFT rule for (e.g. the batched
        matmuls of self-attention), found before any global state is touched;
        see :func:`deep_unsupported_ops`.

    Warns
    -----
    RuntimeWarning
        When the additivity gap still exceeds 1% of the output scale.

    Examples
    --------
    >>> exp = tlxp.explain(cnn, X_test[:2], 'shap_deep', background=X_train[:100])
    """
    shap = import_shap()

    background = check_background(adapter, background, "shap_deep")
    seed = seed_value("seed", seed)
    background = subsample(background, positive_int("max_background", max_background), seed)
    batch_size = positive_int("batch_size", batch_size or adapter.batch_size)
    unsupported = deep_unsupported_ops(adapter)
    if unsupported:
        raise ValueError("model: shap_deep (shap.DeepExplainer) has no DeepLIFT rule for the op(s) %s used by this "
                         "model; use method 'shap' (expected gradients) or 'shap_partition' instead"
                         % ", ".join(unsupported))
    values = np.zeros(inputs.shape, np.float64)
    for target, index in target_groups(targets, len(inputs)):
        model = keras_model(adapter, target)
        with _DEEP_LOCK, _tf_gradient_recording_restored(), adapter.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TensorFlow version is newer than 2.4.0.*")
            explainer = shap.DeepExplainer(model, background)
            phi = explainer.shap_values(inputs[index], check_additivity=False)
        values[index] = np.asarray(phi).reshape(inputs[index].shape)
    expected = _expected_values(adapter, background, targets, len(inputs), batch_size)
    outputs = _model_outputs(adapter, inputs, targets, batch_size)
    meta = _additivity(values, expected, outputs)
    scale = max(1e-6, float(np.abs(outputs).max()), float(np.abs(expected).max()))
    if np.abs(meta["additivity_gap"]).max() > 1e-2 * scale:
        warnings.warn("shap_deep: attributions miss f(x) - E f(background) by up to %.3g (output scale %.3g); the "
                      "model's ops break the DeepLIFT rules, prefer 'shap' (expected gradients)"
                      % (np.abs(meta["additivity_gap"]).max(), scale), RuntimeWarning, stacklevel=2)
    return values.astype(np.float32), meta
