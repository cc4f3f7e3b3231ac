"""Integrated gradients: the trapezoid sum of path gradients, compiled and summed in the graph.

Sundararajan, Taly & Yan (2017). The ``steps + 1`` gradients per input are
(input, step) pairs enumerated inside one compiled step (:mod:`._graph`), so
memory is bounded by ``batch_size`` whatever ``steps``.
"""
import numpy as np
import tensorflow as tf

from .._utils.docstrings import shared_docstring
from ._engine.baselines import make_baseline
from ._engine.blocks import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks
from ._engine.checks import positive_int, seed_value
from ._engine.input_gradients import _differentiate
from ._engine.utils import rng_for
from .registry import register_method

__all__ = ["integrated_gradients", "trapezoid_alphas", "pair_rectangles"]


def trapezoid_alphas(steps):
    """Points and weights of the trapezoid rule on [0, 1] with ``steps`` intervals.

    Returns
    -------
    alphas, weights : ndarray, float32, shape (steps + 1,)
        ``alphas = k / steps``; weights ``1 / steps`` with halves at both ends.

    Examples
    --------
    >>> trapezoid_alphas(2)[1]
    array([0.25, 0.5 , 0.25], dtype=float32)
    """
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float64)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] *= 0.5
    return alphas.astype(np.float32), weights.astype(np.float32)


def pair_rectangles(start, stop, steps):
    """Pairs ``[start, stop)`` of an (inputs x ``steps``) grid numbered input-major, as rectangles.

    Returns
    -------
    list of (i0, i1, k0, k1)
        Inputs ``i0:i1`` times points ``k0:k1``; at most three (a partial first
        input, whole inputs, a partial last input).

    Examples
    --------
    >>> pair_rectangles(3, 11, 4)
    [(0, 1, 3, 4), (1, 2, 0, 4), (2, 3, 0, 3)]
    """
    i_start, k_start = divmod(int(start), steps)
    i_stop, k_stop = divmod(int(stop), steps)
    if i_start == i_stop:
        return [(i_start, i_start + 1, k_start, k_stop)] if k_stop > k_start else []
    rects = []
    if k_start:
        rects.append((i_start, i_start + 1, k_start, steps))
        i_start += 1
    if i_stop > i_start:
        rects.append((i_start, i_stop, 0, steps))
    if k_stop:
        rects.append((i_stop, i_stop + 1, 0, k_stop))
    return rects


def _path_integral_step(adapter, targets):
    """Compiled step: the trapezoid sum of path gradients for a block of inputs, and the end scores.

    Takes inputs ``x`` (G, ...), baselines (G, ...), the rule's ``alphas`` and
    ``weights`` (S,), targets (G,) and the piece size. The G * S (input, step)
    pairs are enumerated in the graph and their gradients accumulated per input
    as pieces complete (:func:`~._graph.in_pieces` with a reduction), so neither
    the path points nor their gradients ever leave the graph.

    Returns ``integral`` (G, ...) = sum_k w_k grad f(x0 + a_k (x - x0)) and
    ``ends`` (G, 2) = the selected score at the baseline and at the input.
    """
    fn_targets = callable(targets)
    ones = (1,) * len(adapter.input_shape)

    def step(xb, bb, alphas, weights, tb, piece):  # alphas/weights: all the rule's points, or a slice of them
        g, s = tf.shape(xb)[0], tf.shape(alphas)[0]
        pair_i = tf.repeat(tf.range(g), s)
        pair_k = tf.tile(tf.range(s), [g])

        def one_piece(i, k):
            a = tf.reshape(tf.gather(alphas, k), (-1,) + ones)
            x0 = tf.gather(bb, i)
            grads, selected = _differentiate(adapter, targets, fn_targets, x0 + a * (tf.gather(xb, i) - x0),
                                             tf.gather(tb, i))
            return grads * tf.reshape(tf.gather(weights, k), (-1,) + ones), selected, i, k

        def reduce(acc, outs, rows):
            weighted, selected, i, k = outs
            a_k = tf.gather(alphas, k)  # the ends are a = 0 (the baseline) and a = 1 (the input), in any slice
            at_end = tf.stack([tf.cast(tf.equal(a_k, 0.0), tf.float32), tf.cast(tf.equal(a_k, 1.0), tf.float32)],
                              axis=1)
            return (acc[0] + tf.math.unsorted_segment_sum(weighted, i, g),
                    acc[1] + tf.math.unsorted_segment_sum(selected[:, None] * at_end, i, g))

        reduce.initial = (tf.zeros_like(xb), tf.zeros((g, 2)))
        return in_pieces(one_piece, piece, pair_i, pair_k, reduce=reduce)

    rows = tf.TensorSpec((None,) + tuple(adapter.input_shape), tf.float32)
    vector = tf.TensorSpec((None,), tf.float32)
    extras = [rows, vector, vector, tf.TensorSpec((None,), tf.int32), PIECE_SPEC]
    return adapter.compiled(("integrated_gradients", adapter._target_key(targets)), step, extra_dtypes=extras,
                            rows=(0, 1, 4))


def _completeness(attributions, f_x, f_base):
    """Per-input completeness check of integrated gradients (relative gap, sums, score differences)."""
    sums = attributions.reshape(len(attributions), -1).sum(axis=1, dtype=np.float64)
    delta = f_x.astype(np.float64) - f_base.astype(np.float64)
    gap = np.abs(sums - delta) / np.maximum(np.abs(delta), 1e-12)
    return gap, sums, delta


@register_method("integrated_gradients", aliases=("ig",), signed=True, family="gradient")
@shared_docstring
def integrated_gradients(adapter, inputs, targets, steps=64, baseline="zeros", blur_sigma=3.0, seed=0,
                         batch_size=None):
    """Integrated gradients along the straight path from a baseline to the input.

    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks".
    ``attr = (x - x0) * integral_0^1 grad f(x0 + a (x - x0)) da``, the integral
    taken with the trapezoid rule on ``steps`` intervals. The ``steps + 1``
    gradients per input are (input, step) pairs, enumerated and summed inside the
    compiled step, at most ``batch_size`` pairs in flight at once.

    Completeness (``sum(attr) = f(x) - f(x0)``) is checked for every input and
    returned in the meta: ``completeness_gap`` (relative,
    ``|sum - delta| / |delta|``), ``attribution_sums`` and ``score_differences``.

    Parameters
    ----------
    %(method_inputs)s
    steps : int
        Trapezoid intervals (``steps + 1`` gradient evaluations per input).
    baseline : {'zeros', 'blurred', 'uniform'}, float or array
        The path's start (see :func:`~._baselines.make_baseline`).
    blur_sigma : float
        Gaussian blur in pixels for ``baseline='blurred'``.
    seed : int or None
        Seed of the ``'uniform'`` baseline.
    batch_size : int, optional
        (input, step) pairs in flight at once (bounds memory); default the adapter's.

    Returns
    -------
    attributions : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``completeness_gap``, ``attribution_sums``, ``score_differences`` (each (N,)),
        ``max_completeness_gap`` (float).

    Examples
    --------
    >>> exp = tlxp.explain(model, x, 'integrated_gradients', steps=128)   # doctest: +SKIP
    >>> exp.meta['max_completeness_gap'] < 0.01                          # doctest: +SKIP
    True
    """
    steps = positive_int("steps", steps)
    seed = seed_value("seed", seed)
    x = np.asarray(inputs, np.float32)
    base = make_baseline(baseline, x, adapter, rng_for(seed), blur_sigma)
    alphas, weights = trapezoid_alphas(steps)
    batch_size = adapter.batch_rows(batch_size, backward=True)
    integral = np.zeros(x.shape, np.float32)
    ends = np.zeros((len(x), 2), np.float32)  # selected score at the baseline (a=0) and at the input (a=1)
    compiled = _path_integral_step(adapter, targets)
    t = np.zeros(len(x), np.int32) if callable(targets) else np.asarray(targets, np.int32)
    a_t, w_t = tf.constant(alphas), tf.constant(weights)

    s = steps + 1

    def call(start, stop, piece):
        # a block of (input, step) pairs, numbered input-major: at most three rectangles of inputs x steps
        outs = [(i0, i1, step(tf.constant(x[i0:i1]), tf.constant(base[i0:i1]), a_t[k0:k1], w_t[k0:k1],
                              tf.constant(t[i0:i1]), tf.constant(piece)))
                for i0, i1, k0, k1 in pair_rectangles(start, stop, s)]
        for i0, i1, out in outs:  # committed once every call of the block returned (it may be retried)
            integral[i0:i1] += out[0].numpy()
            ends[i0:i1] += out[1].numpy()

    with adapter.inference_mode():
        step = concrete(compiled)
        # blocks of pairs, not of inputs: a deadline is checked between blocks however large ``steps`` is
        run_blocks(len(x) * s, block_rows(batch_size, row_bytes(x)), piece_rows(batch_size), call,
                   what="integration steps")
    attributions = ((x - base) * integral).astype(np.float32)
    gap, sums, delta = _completeness(attributions, ends[:, 1], ends[:, 0])
    meta = {
        "signed": True,
        "completeness_gap": gap,
        "attribution_sums": sums,
        "score_differences": delta,
        "max_completeness_gap": float(gap.max()),
        "baseline": baseline if isinstance(baseline, str) else "array",
    }
    return attributions, meta
