"""Masked scoring, shared by Score-CAM, occlusion and RISE.

All three score the model on masked copies of the inputs,
``x_i * m + baseline * (1 - m)``, one copy per (input ``i``, mask ``j``) pair.
:func:`masked_scores` does this in batches of ``batch_size`` pairs with one
compiled step per variant (masks upsampled in-graph or not, normalized or not,
softmax or not), so masks never have to exist for all pairs at once.
"""
import numpy as np
import tensorflow as tf

from ._graph import in_branches
from ._sampling import pair_index

__all__ = ["masked_scores"]


def _compiled_step(adapter, targets, upsample, normalize, softmax):
    """One compiled step per (adapter, variant): scores of target on masked inputs."""
    h, w, c = adapter.image_shape
    fn_targets = callable(targets)

    def one_branch(xb, mb, tb, base):
        images = tf.reshape(xb, (-1, h, w, c))
        masks = mb[..., None]
        if upsample:
            masks = tf.image.resize(masks, (h, w), method="bilinear")
        if normalize:
            low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
            high = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True)
            span = high - low
            masks = tf.where(span > 0, (masks - low) / tf.where(span > 0, span, 1.0), tf.zeros_like(masks))
        mixed = images * masks + base * (1.0 - masks)
        scores = adapter.scores(tf.reshape(mixed, (-1,) + adapter.input_shape))
        if softmax:
            scores = tf.nn.softmax(scores, axis=-1)
        return adapter.select(scores, targets if fn_targets else tb)

    def step(xb, mb, tb, base):
        return in_branches(lambda x_, m_, t_: one_branch(x_, m_, t_, base), xb, mb, tb)

    key = ("masked_scores", bool(upsample), bool(normalize), bool(softmax), adapter._target_key(targets))
    extras = [tf.TensorSpec((None, None, None), tf.float32), tf.TensorSpec((None,), tf.int32),
              tf.TensorSpec((), tf.float32)]
    return adapter.compiled(key, step, extra_dtypes=extras)


def masked_scores(adapter, x, targets, n_masks, make_masks, on_batch=None, baseline=0.0, upsample=False,
                  normalize=False, probabilities=False, major="input", batch_size=None):
    """Score every input under every mask, ``batch_size`` (input, mask) pairs at a time.

    Parameters
    ----------
    adapter : ModelAdapter
    x : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    n_masks : int
        Masks per input.
    make_masks : callable
        ``make_masks(i, j) -> (B, h, w)`` float32 masks for pairs ``(i[k], j[k])``;
        1 keeps a pixel, 0 replaces it by ``baseline``. ``(h, w)`` is the image
        size unless ``upsample``.
    on_batch : callable, optional
        ``on_batch(i, j, masks, scores)`` after each batch (to accumulate maps).
    baseline : float
        Value that masked-out pixels take.
    upsample : bool
        Resize masks bilinearly to the image size inside the compiled step.
    normalize : bool
        Min-max normalize each (upsampled) mask to [0, 1] (Score-CAM).
    probabilities : bool
        Score softmax probabilities even when the adapter explains logits.
    major : {'input', 'sample'}
        Pair order (see :func:`~._sampling.pair_index`).
    batch_size : int, optional
        Pairs per model call; defaults to the adapter's.

    Returns
    -------
    ndarray, float32, shape (N, n_masks)
        ``scores[i, j]`` = target score of input ``i`` under mask ``j``.
    """
    n = len(x)
    softmax = bool(probabilities) and adapter.output == "logits"
    step = _compiled_step(adapter, targets, upsample, normalize, softmax)
    t = np.zeros(n, np.int32) if callable(targets) else np.asarray(targets, np.int32)
    base = tf.constant(float(baseline), tf.float32)
    i_all, j_all = pair_index(n, n_masks, major)

    def run(ib, jb):
        masks = np.asarray(make_masks(ib, jb), np.float32)
        scores = step(tf.constant(x[ib]), tf.constant(masks), tf.constant(t[ib]), base).numpy()
        if on_batch is not None:
            on_batch(ib, jb, masks, scores)
        return scores

    with adapter.inference_mode():
        flat = adapter.map_batches(run, i_all, j_all, batch_size=batch_size)
    out = np.empty((n, n_masks), np.float32)
    out[i_all, j_all] = flat
    return out
