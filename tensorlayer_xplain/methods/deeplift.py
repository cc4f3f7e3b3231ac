"""DeepLIFT with the rescale rule against one baseline (``deeplift``), in one modified backward pass.

Shrikumar, Greenside & Kundaje (2017), "Learning Important Features Through Propagating Activation
Differences". Each input and its baseline go through the model together (one batch of ``2B`` rows);
while the compiled step is traced, every nonlinearity (a layer's activation, activation layers, max
pools) is swapped (:meth:`ModelAdapter.substituted_forwards`) for itself with the rescale rule as its
gradient: the multiplier ``(f(x) - f(x0)) / (x - x0)`` instead of ``f'(x)`` (the ordinary gradient
where ``|x - x0| < 1e-6``), and the max-pool rule of ``shap.DeepExplainer`` for max pools. Linear
layers keep their gradient. Attributions are ``multipliers * (x - x0)``; they equal
``shap.DeepExplainer(model, baseline[None])`` (a background of that one baseline) and sum to
``f(x) - f(x0)`` (completeness, reported in the meta).
"""
import functools

import numpy as np
import tensorflow as tf

from .._utils.docstrings import shared_docstring
from ._engine.baselines import blur_passes, make_baseline
from ._engine.checks import seed_value
from ._engine.utils import rng_for
from ._ranges import VALUES
from .integrated_gradients import _completeness, _rows_independent
from .lrp import gap_meta, propagation_applies, raw_logits, run_step
from .lrp.rules import per_channel
from .registry import Range, register_method

__all__ = ["deeplift", "rescale", "max_rescale"]

#: shap's thresholds: below them the input difference counts as zero.
NONLINEAR_TOLERANCE = 1e-6
MAXPOOL_TOLERANCE = 1e-7


def _halves(t):
    return tf.split(t, 2, axis=0)


def _twice(t):
    return tf.concat([t, t], axis=0)


def rescale(fn, z):
    """``fn(z)`` on a stacked batch ``[x; x0]`` whose gradient follows DeepLIFT's rescale rule.

    Parameters
    ----------
    fn : callable
        An elementwise nonlinearity (ReLU, sigmoid, tanh...).
    z : tf.Tensor, shape (2B, ...)
        The inputs of the nonlinearity for the inputs (first half) and their baselines (second half).

    Returns
    -------
    tf.Tensor, ``fn(z)``.

    Examples
    --------
    >>> z = tf.constant([[2.0], [-1.0]])            # x = 2, baseline -1
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(z)
    ...     y = rescale(tf.nn.relu, z)
    >>> tape.gradient(y, z).numpy().ravel()        # (relu(2) - relu(-1)) / (2 - (-1)), in both halves
    array([0.6666667, 0.6666667], dtype=float32)
    """

    @tf.custom_gradient
    def node(zz):
        y = fn(zz)

        def backward(g):
            with tf.GradientTape() as tape:
                tape.watch(zz)
                yy = fn(zz)
            ordinary = tape.gradient(yy, zz, output_gradients=g)
            zx, zr = _halves(zz)
            yx, yr = _halves(y)
            delta = zx - zr
            small = tf.abs(delta) < NONLINEAR_TOLERANCE
            multiplier = (yx - yr) / tf.where(small, tf.ones_like(delta), delta)
            return tf.where(_twice(small), ordinary, g * _twice(multiplier))

        return y, backward

    return node(z)


def max_rescale(pool, z):
    """``pool(z)`` (a max pool) on a stacked batch ``[x; x0]`` with ``shap.DeepExplainer``'s max-pool rule.

    The output difference is split between the positions of the input's and the baseline's maxima
    (through the pool's own gradient) and divided by each position's input difference.
    """

    @tf.custom_gradient
    def node(zz):
        y = pool(zz)

        def backward(g):
            zx, zr = _halves(zz)
            yx, yr = _halves(y)
            cross = tf.maximum(yx, yr)
            with tf.GradientTape() as tape:
                tape.watch(zz)
                yy = pool(zz)
            routed = tape.gradient(yy, zz, output_gradients=g * tf.concat([cross - yr, yx - cross], axis=0))
            at_x, at_r = _halves(routed)
            delta = zx - zr
            small = tf.abs(delta) < MAXPOOL_TOLERANCE
            value = tf.where(small, tf.zeros_like(delta), (at_x + at_r) / tf.where(small, tf.ones_like(delta), delta))
            return _twice(value)

        return y, backward

    return node(z)


def _make_forwards(layer, role, original):
    """Each layer's forward with its nonlinearity under the rescale rule (None: the layer as it is)."""
    if role.kind == "linear" and role.act is not None:
        def linear(x):
            z = role.linear(x, role.kernel())
            if role.bias is not None:
                z = z + per_channel(role.bias(), len(z.shape), role.channel_axis)
            return rescale(role.act, z)

        return linear
    if role.kind == "batchnorm" and role.act is not None:
        def batchnorm(x):
            a, c = role.affine()
            rank = len(x.shape)
            return rescale(role.act, x * per_channel(a, rank, role.channel_axis)
                           + per_channel(c, rank, role.channel_axis))

        return batchnorm
    if role.kind == "add" and role.act is not None:
        return lambda xs: rescale(role.act, tf.add_n(list(xs)))
    if role.kind == "act":
        return lambda x: rescale(original, x)
    if role.kind == "max":
        return lambda x: max_rescale(original, x)
    return None


def _deeplift_step(adapter, roles):
    """Compiled step ``(x, x0, targets) -> (attributions, f(x)[t], f(x0)[t])``."""

    def step(xb, bb, tb):
        joint = tf.concat([xb, bb], axis=0)
        with adapter.substituted_forwards(roles, _make_forwards):
            with tf.GradientTape() as tape:
                tape.watch(joint)
                logits = raw_logits(adapter, joint)
                selected = tf.gather(logits, _twice(tb), axis=1, batch_dims=1)
        grads = tape.gradient(selected, joint)
        at_x, _ = _halves(grads)
        f_x, f_base = _halves(selected)
        return at_x * (xb - bb), f_x, f_base

    rows = tf.TensorSpec((None,) + tuple(adapter.input_shape), tf.float32)
    return adapter.compiled(("deeplift",), step, extra_dtypes=[rows, tf.TensorSpec((None,), tf.int32)],
                            rows=(0, 1, 2))


def _cost(adapter, n, baseline, blur_sigma, **_):
    """The input and its baseline: two rows forward and backward per input (plus a blurred baseline's blur)."""
    blurred = isinstance(baseline, str) and baseline == "blurred"
    return 2 * n + (blur_passes(adapter.image_shape, n, blur_sigma) if blurred else 0), 2 * n


@register_method("deeplift", signed=True, family="relevance", cost=_cost, batchable=_rows_independent,
                 applies=functools.partial(propagation_applies, method="deeplift"), figure="gradient_visualization",
                 ranges={"baseline": VALUES,
                         "blur_sigma": Range(0.0, float("inf"), low_open=True, bound="side", note="pixels")},
                 benchmark={"work": ("baseline",)})
@shared_docstring
def deeplift(adapter, inputs, targets, baseline="zeros", blur_sigma=3.0, seed=0, batch_size=None):
    """DeepLIFT (rescale rule) of the target logit against one baseline.

    Shrikumar, Greenside & Kundaje (2017). Multipliers replace gradients at every nonlinearity:
    ``(f(x) - f(x0)) / (x - x0)`` (rescale rule) and the max-pool rule of ``shap.DeepExplainer``;
    linear layers, batch norms in inference, average pools, sums and reshapes keep their gradient.
    ``attr = multipliers * (x - x0)``, computed for the input and its baseline in one backward pass
    (batched, compiled once per model). Equal to ``shap.DeepExplainer(model, baseline[None])``.

    Completeness (``sum(attr) = f(x) - f(x0)``) holds exactly when every nonlinearity is a layer's
    activation, an activation layer or a max pool; the meta reports it as integrated gradients does.

    Parameters
    ----------
    %(method_inputs)s
    baseline : {'zeros', 'blurred', 'uniform'}, float or array
        The reference input ``x0`` (see :func:`~._engine.baselines.make_baseline`); one per input,
        or one sample for all.
    blur_sigma : float
        Gaussian blur in pixels for ``baseline='blurred'``.
    seed : int or None
        Seed of the ``'uniform'`` baseline.
    batch_size : int, optional
        Inputs per backward pass (each with its baseline: twice the rows); default the adapter's.

    Returns
    -------
    attributions : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``completeness_gap`` (N,) ``|sum - delta| / |delta|``, ``attribution_sums`` (N,),
        ``score_differences`` (N,) ``f(x) - f(x0)`` of the target logit, ``max_completeness_gap``.

    Raises
    ------
    ValueError
        For a layer type without a rule (naming it and the supported types) or targets given as a function.
    TypeError
        For a plain callable model.

    Examples
    --------
    >>> exp = tlxp.explain(cnn, x_test[:4], 'deeplift')
    >>> float(exp.meta['max_completeness_gap']) < 1e-3
    True
    """
    if callable(targets):
        raise ValueError("targets: deeplift explains one class logit per input; expected class indices, got a "
                         "function of the scores")
    roles = adapter.relevance_roles("deeplift")
    x = np.asarray(inputs, np.float32)
    base = make_baseline(baseline, x, adapter, rng_for(seed_value("seed", seed)), blur_sigma)
    attributions, f_x, f_base = run_step(adapter, _deeplift_step(adapter, roles), batch_size, 2, x, base,
                                         np.asarray(targets, np.int32))
    gap, sums, delta = _completeness(attributions, f_x, f_base)
    meta = gap_meta("completeness", gap, attribution_sums=sums, score_differences=delta)
    meta["baseline"] = baseline if isinstance(baseline, str) else "array"
    return attributions.astype(np.float32), meta
