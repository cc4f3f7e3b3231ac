"""Masked scoring, shared by Score-CAM, occlusion and RISE.

All three score the model on masked copies of the inputs,
``x_i * m_j + baseline * (1 - m_j)``, for a list of (input ``i``, mask ``j``)
pairs. :func:`masked_scores` hands one compiled step a block of pairs with the
inputs and only the masks that block uses; the step walks through the pairs in
pieces inside the graph (:mod:`._graph`), building each masked input there, so
masked copies never exist for all pairs at once and activation memory is bounded
by ``batch_size``. One trace per variant (masks upsampled or not, normalized or
not, softmax or not).
"""
import numpy as np
import tensorflow as tf

from .blocks import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks

__all__ = ["masked_scores"]


def _compiled_step(adapter, targets, upsample, normalize, softmax):
    """The compiled step of one variant: target scores of the masked inputs of a block of pairs."""
    h, w, c = adapter.image_shape
    fn_targets = callable(targets)

    def one_piece(xb, mb, tb, base):
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

    def step(xb, mb, pair_i, pair_j, tb, base, piece):
        def piece_fn(i, j):
            return one_piece(tf.gather(xb, i), tf.gather(mb, j), tf.gather(tb, i), base)

        return in_pieces(piece_fn, piece, pair_i, pair_j)

    key = ("masked_scores", bool(upsample), bool(normalize), bool(softmax), adapter._target_key(targets))
    index = tf.TensorSpec((None,), tf.int32)
    extras = [tf.TensorSpec((None, None, None), tf.float32), index, index, index, tf.TensorSpec((), tf.float32),
              PIECE_SPEC]
    return adapter.compiled(key, step, extra_dtypes=extras)


def masked_scores(adapter, x, targets, pairs, make_masks, on_block=None, baseline=0.0, upsample=False,
                  normalize=False, probabilities=False, batch_size=None):
    """Target scores of inputs under masks, for a list of (input, mask) pairs.

    Parameters
    ----------
    adapter : ModelAdapter
    x : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    pairs : tuple of int arrays ``(i, j)``, each (P,)
        Input ``i[p]`` is scored under mask ``j[p]``. Order the pairs by ``j`` so
        that a block needs few masks.
    make_masks : callable
        ``make_masks(j) -> (len(j), h, w)`` float32 masks numbered ``j`` (unique,
        sorted); 1 keeps a pixel, 0 replaces it by ``baseline``. ``(h, w)`` is the
        image size unless ``upsample``.
    on_block : callable, optional
        ``on_block(i, local_j, masks, scores)`` after each block of pairs, with the
        block's masks and ``masks[local_j[p]]`` the mask of pair ``p`` (to accumulate
        maps while the masks are at hand).
    baseline : float
        Value that masked-out pixels take.
    upsample : bool
        Resize masks bilinearly to the image size inside the compiled step.
    normalize : bool
        Min-max normalize each (upsampled) mask to [0, 1] (Score-CAM).
    probabilities : bool
        Score softmax probabilities even when the adapter explains logits.
    batch_size : int, optional
        Masked inputs in flight at once (bounds memory); default the adapter's.

    Returns
    -------
    ndarray, float32, shape (P,)
        The target score of each pair's masked input.
    """
    x = np.asarray(x, np.float32)
    pair_i, pair_j = (np.asarray(a, np.int64) for a in pairs)
    batch_size = adapter.batch_rows(batch_size)
    softmax = bool(probabilities) and adapter.output == "logits"
    compiled = _compiled_step(adapter, targets, upsample, normalize, softmax)
    t = tf.constant(np.zeros(len(x), np.int32) if callable(targets) else np.asarray(targets, np.int32))
    x_t, base = tf.constant(x), tf.constant(float(baseline), tf.float32)
    out = np.empty(len(pair_i), np.float32)

    def call(start, stop, piece):
        i, j = pair_i[start:stop], pair_j[start:stop]
        unique, local = np.unique(j, return_inverse=True)
        masks = np.asarray(make_masks(unique), np.float32)
        scores = step(x_t, tf.constant(masks), tf.constant(i.astype(np.int32)), tf.constant(local.astype(np.int32)),
                      t, base, tf.constant(piece)).numpy()
        if on_block is not None:
            on_block(i, local, masks, scores)
        out[start:stop] = scores

    with adapter.inference_mode():
        step = concrete(compiled)
        run_blocks(len(pair_i), block_rows(batch_size, row_bytes(x)), piece_rows(batch_size), call, what="masks")
    return out
