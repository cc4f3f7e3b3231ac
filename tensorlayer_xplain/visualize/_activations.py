"""The activations an embedding is made of: one layer's outputs, flattened per sample, captured in batches."""
import numpy as np

from ..adapter import as_adapter

__all__ = ["default_embedding_layer", "layer_activations"]


def default_embedding_layer(adapter):
    """The layer whose activations are embedded by default: the last one before the output.

    Walks :meth:`ModelAdapter.layer_call_order` backwards and returns the last
    layer whose output shape differs from the model output's (so a container
    ``LayerList`` wrapping the head is skipped as well as the head itself).
    Falls back to the last layer for one-layer models.
    """
    order = adapter.layer_call_order()
    if not order:
        raise ValueError("layer_name: the model has no layers to capture; pass layer_name explicitly")
    out_shape = order[-1][1]
    for name, shape in reversed(order[:-1]):
        if shape != out_shape:
            return name
    return order[-1][0]


def layer_activations(model, x, layer_name=None, batch_size=None):
    """Activations of one layer, flattened per sample, computed in batches.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable, ModelAdapter or None
        None means ``x`` already holds the features (e.g. word embeddings).
    x : array-like, shape (N, *input_shape)
    layer_name : str, optional
        Default: :func:`default_embedding_layer`; for a plain callable, the model output.
    batch_size : int, optional

    Returns
    -------
    features : ndarray, float32, shape (N, D)
    scores : ndarray (N, K) or None
        The model's scores from the same pass (None when ``model`` is None).
    layer_name : str or None
        The layer used (None for the model output or raw features).
    """
    if model is None:
        features = np.asarray(x, dtype=np.float32)
        if features.ndim < 2 or len(features) == 0:
            raise ValueError("x: expected features of shape (N, D) with N >= 1, got shape %s" % (features.shape,))
        return features.reshape(len(features), -1), None, None
    adapter = as_adapter(model)
    prepared, _ = adapter.prepare(x, name="x")
    if layer_name is None and adapter.kind == "callable":
        scores = adapter.predict(prepared, batch_size=batch_size)
        return scores.reshape(len(scores), -1), scores, None
    if layer_name is None:
        layer_name = default_embedding_layer(adapter)
    result = adapter.capture(prepared, [layer_name], batch_size=batch_size)
    features = np.asarray(result.outputs[layer_name], dtype=np.float32)
    return features.reshape(len(features), -1), result.scores, layer_name
