"""Masked scoring, shared by Score-CAM, occlusion and RISE.

All three score the model on masked copies of the inputs,
``x_i * m_j + baseline * (1 - m_j)``, for a list of (input ``i``, mask ``j``)
pairs. :func:`masked_scores` hands one compiled step a block of pairs with the
inputs and only the masks that block uses; the step walks through the pairs in
pieces inside the graph (:mod:`._graph`), building each masked input there, so
masked copies never exist for all pairs at once and activation memory is bounded
by ``batch_size``. One trace per variant (masks upsampled bilinearly, to the
nearest cell or not at all, normalized or not, softmax or not, one baseline value
or one baseline input per input).
"""
import numpy as np
import tensorflow as tf

from .blocks import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks

__all__ = ["masked_scores", "UPSAMPLING"]


#: How :func:`masked_scores` resizes masks to the image: ``True`` means ``'bilinear'``.
UPSAMPLING = (False, True, "bilinear", "nearest")


def _compiled_step(adapter, targets, upsample, normalize, softmax, per_input):
    """The compiled step of one variant: target scores of the masked inputs of a block of pairs."""
    h, w, c = adapter.image_shape
    fn_targets = callable(targets)

    def one_piece(xb, mb, tb, base):
        images = tf.reshape(xb, (-1, h, w, c))
        masks = mb[..., None]
        if per_input:
            base = tf.reshape(base, (-1, h, w, c))
        if upsample:
            masks = tf.image.resize(masks, (h, w), method=upsample)
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
            return one_piece(tf.gather(xb, i), tf.gather(mb, j), tf.gather(tb, i),
                             tf.gather(base, i) if per_input else base)

        return in_pieces(piece_fn, piece, pair_i, pair_j)

    key = ("masked_scores", upsample, bool(normalize), bool(softmax), bool(per_input), adapter._target_key(targets))
    index = tf.TensorSpec((None,), tf.int32)
    base_spec = tf.TensorSpec((None,) + tuple(adapter.input_shape), tf.float32) if per_input \
        else tf.TensorSpec((), tf.float32)
    extras = [tf.TensorSpec((None, None, None), tf.float32), index, index, index, base_spec, PIECE_SPEC]
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
    baseline : float or ndarray, shape (N, *input_shape)
        Value that masked-out pixels take, or one baseline input per input
        (e.g. a blurred copy): pair ``p`` mixes ``x[i[p]]`` with ``baseline[i[p]]``.
    upsample : bool or {'bilinear', 'nearest'}
        Resize masks to the image size inside the compiled step (True: bilinearly).
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
    if upsample not in UPSAMPLING:
        raise ValueError("upsample: expected one of %s, got %r" % (UPSAMPLING, upsample))
    upsample = "bilinear" if upsample is True else upsample
    per_input = np.ndim(baseline) > 0
    if per_input:
        baseline = np.asarray(baseline, np.float32)
        if baseline.shape != x.shape:
            raise ValueError("baseline: expected a number or one baseline per input, shape %s, got shape %s"
                             % (x.shape, baseline.shape))
    compiled = _compiled_step(adapter, targets, upsample, normalize, softmax, per_input)
    t = tf.constant(np.zeros(len(x), np.int32) if callable(targets) else np.asarray(targets, np.int32))
    x_t = tf.constant(x)
    base = tf.constant(baseline) if per_input else tf.constant(float(baseline), tf.float32)
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
