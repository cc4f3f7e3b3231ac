"""Pieces the SHAP methods share: granularity, expected values and outputs, additivity, superpixel pooling,
Keras wrapper.

Used by :mod:`~tensorlayer_xplain.methods.shap`, :mod:`~tensorlayer_xplain.methods.shap.kernel`
and :mod:`~tensorlayer_xplain.methods.shap.deep`.
"""
import numpy as np
import tensorflow as tf

from .._engine.blackbox import selected_scores
from .._engine.segmentation import scales_of, segment_image, segments_to_pixels

__all__ = ["keras_model", "import_shap", "GRANULARITIES"]


#: Accepted ``granularity`` values (``shap_kernel`` also takes 'feature' and 'auto').
GRANULARITIES = ("pixel", "superpixel")


# ----------------------------------------------------------------------------- shared pieces
def import_shap():
    """``import shap``, without letting it keep the caller's frames (and so their models) alive.

    On its first import ``shap`` records the ``ImportError`` of each optional
    extension it lacks (its C and CUDA tree extensions, pyspark, cv2) with its
    traceback, and a traceback holds every frame up to the code that imported
    ``shap``: the first model explained with a SHAP method was never freed. The
    tracebacks are dropped here; ``shap`` only re-raises the messages.

    Returns
    -------
    module
        ``shap``.

    Examples
    --------
    >>> shap = import_shap()
    """
    import shap
    from shap.utils import _general

    for _, error in getattr(_general, "import_errors", {}).values():
        seen = set()
        while isinstance(error, BaseException) and id(error) not in seen:
            seen.add(id(error))
            error.__traceback__ = None
            error = error.__cause__ or error.__context__
    return shap


def _granularity(value, allowed):
    if value not in allowed:
        raise ValueError("granularity: expected one of %s, got %r" % (allowed, value))
    return value


def _expected_values(adapter, background, targets, n, batch_size):
    """E f(background) of the explained output, per sample: shape (N,)."""
    scores = adapter.predict(background, batch_size=batch_size)
    if callable(targets):
        return np.full(n, selected_scores(adapter, background, targets, batch_size).mean())
    return scores.mean(axis=0)[np.asarray(targets)].astype(np.float64)


def _model_outputs(adapter, x, targets, batch_size):
    """f(x) of the explained output, per sample: shape (N,)."""
    if callable(targets):
        return selected_scores(adapter, x, targets, batch_size)
    return adapter.predict(x, batch_size=batch_size)[np.arange(len(x)), np.asarray(targets)].astype(np.float64)


def _additivity(attributions, expected, outputs, **extra):
    """meta entries: expected value, model output and the gap sum(phi) + E - f(x), per sample."""
    total = attributions.reshape(len(attributions), -1).sum(axis=1, dtype=np.float64)
    meta = {"expected_value": np.asarray(expected, np.float64), "model_output": np.asarray(outputs, np.float64),
            "additivity_gap": total + expected - outputs, "signed": True}
    meta.update(extra)
    return meta


def _spatial_to_input(maps, adapter):
    """(N, H, W) pixel maps -> (N, *input_shape), split evenly over channels (sums preserved)."""
    h, w, c = adapter.image_shape
    out = np.broadcast_to((np.asarray(maps, np.float64) / c)[..., None], (len(maps), h, w, c))
    return out.reshape((len(maps),) + tuple(adapter.input_shape))


def _segmentations(images, segmentation, n_segments, compactness, seed):
    """Per image, one label map per scale: ``[[seg_scale0, seg_scale1, ...], ...]``."""
    scales = scales_of(n_segments)
    return [[segment_image(img, segmentation, s, compactness, seed) for s in scales] for img in images]


def _pool_to_superpixels(attributions, adapter, segmentations):
    """Pixel attributions summed per superpixel and spread back evenly, averaged over scales."""
    images = adapter.to_image(attributions).sum(axis=-1)
    maps = []
    for pixel_map, segs in zip(images, segmentations):
        per_scale = [segments_to_pixels(np.bincount(seg.ravel(), pixel_map.ravel(), int(seg.max()) + 1), seg,
                                        spread="divide") for seg in segs]
        maps.append(np.mean(per_scale, axis=0))
    return _spatial_to_input(np.stack(maps), adapter)


# ----------------------------------------------------------------------------- Keras wrapper
def keras_model(adapter, target=None):
    """The adapter's model as a Keras functional model (what ``shap``'s TF explainers take).

    Parameters
    ----------
    adapter : ModelAdapter
    target : None, int or callable
        None: all scores ``(N, K)``; an int or callable: that one score ``(N, 1)``.

    Returns
    -------
    keras.Model
        Cached per adapter and target. Call it inside ``adapter.inference_mode()``.
    """
    key = ("all",) if target is None else ("fn", target) if callable(target) else ("index", int(target))
    cache = vars(adapter).setdefault("_shap_keras_models", {})  # on the adapter: freed with it
    if key not in cache:
        n_classes = adapter.predict(np.zeros((1,) + tuple(adapter.input_shape), np.float32)).shape[1]

        class Scores(tf.keras.layers.Layer):
            def call(self, x):
                scores = tf.reshape(adapter.scores(x), (-1, n_classes))  # static K: shap reads it
                if target is None:
                    return scores
                if callable(target):
                    return tf.reshape(target(scores), (-1, 1))
                return scores[:, int(target):int(target) + 1]

        with adapter.inference_mode():
            inputs = tf.keras.Input(tuple(adapter.input_shape))
            # a list of one input: shap calls the model with a list of tensors
            cache[key] = tf.keras.Model([inputs], Scores()(inputs))
    return cache[key]
