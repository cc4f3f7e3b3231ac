"""LRP rules for layers with weights, as custom gradients of the layer's linear map.

Each rule maps the relevance ``R`` of a layer's outputs ``z = linear(x, W) + b`` to the relevance
of its inputs, with the formulas of zennit's ``rules.py`` (Anders et al. 2021) and the LRP overview
of Montavon et al. (2019), "Layer-Wise Relevance Propagation: An Overview". Every rule is a few
vector-Jacobian products of the linear map with modified inputs and weights
(:func:`_vjp`), so one rule covers dense, convolutional and depthwise layers alike.

In the modified backward pass the "gradient" flowing through the network is the relevance itself:
:func:`propagate` returns ``z`` unchanged in the forward pass and the rule's input relevance in the
backward pass; activations and max-pooling pass relevance with their ordinary gradient (a ReLU
blocks the relevance of inactive units, a max pool routes it to the winner).

Notation: ``x+ = max(x, 0)``, ``x- = min(x, 0)``, the same for ``W``; ``stab(z) = z + eps (sign(z) +
[z = 0])`` (zennit's stabilizer; ``eps = 1e-6`` where a rule has no ``epsilon``).
"""
import numbers

import numpy as np
import tensorflow as tf

__all__ = ["RULES", "RULE_PARAMETERS", "stabilize", "propagate", "normalize_sum", "check_rule_params", "per_channel"]

#: Stabilizer of the rules without an ``epsilon`` of their own (zennit's default).
STABILIZER = 1e-6


def stabilize(z, epsilon=STABILIZER):
    """``z + epsilon * (sign(z) + [z == 0])``: away from zero, keeping the sign (zero counts as positive).

    Examples
    --------
    >>> stabilize(tf.constant([-2.0, 0.0, 3.0]), 0.5).numpy()
    array([-2.5,  0.5,  3.5], dtype=float32)
    """
    return z + epsilon * (tf.sign(z) + tf.cast(tf.equal(z, 0.0), z.dtype))


def _vjp(linear, x, W, v):
    """``J^T v`` of ``x -> linear(x, W)`` (no bias): the backward map of a linear layer, at any ``x``."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = linear(x, W)
    return tape.gradient(z, x, output_gradients=v)


def per_channel(v, rank, axis):
    """A per-channel vector ``v`` (C,) shaped to broadcast along ``axis`` of a rank-``rank`` tensor.

    Examples
    --------
    >>> per_channel(tf.ones(3), 4, 1).shape
    TensorShape([1, 3, 1, 1])
    """
    if axis in (-1, rank - 1):
        return v
    shape = [1] * rank
    shape[axis] = -1
    return tf.reshape(v, shape)


def _bias(z, b, axis):
    """``z + b`` with ``b`` (C,) broadcast along channel ``axis``; ``b`` None adds nothing."""
    return z if b is None else z + per_channel(b, len(z.shape), axis)


def _pos(t):
    return tf.maximum(t, 0.0)


def _neg(t):
    return tf.minimum(t, 0.0)


def epsilon_rule(role, x, R, W, b, z, epsilon=1e-6):
    """LRP-epsilon: ``R_in = x * W^T (R / stab(z))`` with ``z = Wx + b`` (LRP-0 at ``epsilon = 0``)."""
    return x * _vjp(role.linear, x, W, R / stabilize(z, epsilon))


def _signed_parts(role, x, R, W, b, alpha, beta, with_negative_inputs):
    lin = role.linear
    xp, Wp, Wn = _pos(x), _pos(W), _neg(W)
    xn = _neg(x) if with_negative_inputs else None
    bp, bn = (None, None) if b is None else (_pos(b), _neg(b))

    def part(w_for_pos, w_for_neg, bias):
        z = lin(xp, w_for_pos) + (lin(xn, w_for_neg) if xn is not None else 0.0)
        s = R / stabilize(_bias(z, bias, role.channel_axis))
        out = xp * _vjp(lin, x, w_for_pos, s)
        return out + xn * _vjp(lin, x, w_for_neg, s) if xn is not None else out

    out = alpha * part(Wp, Wn, bp)
    return out - beta * part(Wn, Wp, bn) if beta else out


def alpha_beta_rule(role, x, R, W, b, z, alpha=1.0, beta=0.0):
    """LRP-alpha-beta (zennit's ``AlphaBeta``): positive and negative contributions weighted ``alpha`` and ``beta``.

    ``z+ = W+ x+ + W- x- + b+`` and ``z- = W- x+ + W+ x- + b-``;
    ``R_in = alpha (x+ W+^T s+ + x- W-^T s+) - beta (x+ W-^T s- + x- W+^T s-)`` with ``s = R / stab(z)``.
    The ``x-`` terms are computed only for a batch with a negative input (after a ReLU there is none).
    """
    return tf.cond(tf.reduce_any(x < 0.0),
                   lambda: _signed_parts(role, x, R, W, b, alpha, beta, True),
                   lambda: _signed_parts(role, x, R, W, b, alpha, beta, False))


def zplus_rule(role, x, R, W, b, z):
    """LRP-z+ (zennit's ``ZPlus``): alpha-beta with ``alpha = 1, beta = 0`` (negative inputs allowed)."""
    return alpha_beta_rule(role, x, R, W, b, z, 1.0, 0.0)


def _uniform_rule(role, x, R, W2, b2):
    ones = tf.ones_like(x)
    z = _bias(role.linear(ones, W2), b2, role.channel_axis)
    return _vjp(role.linear, ones, W2, R / stabilize(z))


def flat_rule(role, x, R, W, b, z):
    """LRP-flat (Lapuschkin et al. 2019): as if inputs and weights were all ones, no bias."""
    return _uniform_rule(role, x, R, tf.ones_like(W), None)


def w_square_rule(role, x, R, W, b, z):
    """LRP-w^2 (Montavon et al. 2017; zennit's ``WSquare``): ``R_in = (W^2)^T (R / stab(W^2 1 + b^2))``."""
    return _uniform_rule(role, x, R, tf.square(W), None if b is None else tf.square(b))


def _bound(value, x, reduce):
    """A bound of ``zbox``: a number, or None for each sample's own min/max over its values."""
    if value is None:
        axes = list(range(1, len(x.shape)))
        return tf.ones_like(x) * reduce(x, axis=axes, keepdims=True)
    return tf.ones_like(x) * float(value)


def zbox_rule(role, x, R, W, b, z, low=None, high=None):
    """LRP-z^B for bounded inputs (zennit's ``ZBox``): ``z = Wx - W+ l - W- h`` (biases cancel);
    ``R_in = x W^T s - l W+^T s - h W-^T s`` with ``s = R / stab(z)`` and bounds ``l <= x <= h``.

    ``low`` / ``high`` None take each sample's own smallest / largest value (of the layer's input).
    """
    lin = role.linear
    lo, hi = _bound(low, x, tf.reduce_min), _bound(high, x, tf.reduce_max)
    Wp, Wn = _pos(W), _neg(W)
    z = lin(x, W) - lin(lo, Wp) - lin(hi, Wn)
    s = R / stabilize(z)
    return x * _vjp(lin, x, W, s) - lo * _vjp(lin, x, Wp, s) - hi * _vjp(lin, x, Wn, s)


#: Rule name -> backward function ``f(role, x, R, W, b, z, **params)`` (``z``: the layer's output ``Wx + b``).
RULES = {
    "epsilon": epsilon_rule,
    "zplus": zplus_rule,
    "alpha_beta": alpha_beta_rule,
    "flat": flat_rule,
    "w_square": w_square_rule,
    "zbox": zbox_rule,
}

#: The parameters each rule takes (the rest of ``lrp``'s parameters are ignored by it).
RULE_PARAMETERS = {
    "epsilon": ("epsilon",),
    "zplus": (),
    "alpha_beta": ("alpha", "beta"),
    "flat": (),
    "w_square": (),
    "zbox": ("low", "high"),
}


def _number(name, value, allow_none=False, minimum=None):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError("%s: expected a number%s, got %r" % (name, " or None" if allow_none else "", value))
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError("%s: expected a finite number%s, got %r"
                         % (name, "" if minimum is None else " >= %g" % minimum, value))
    return value


def check_rule_params(rule, params):
    """Validated ``params`` of ``rule`` (only the ones it takes), as a sorted tuple of pairs (hashable).

    Raises
    ------
    ValueError
        For an unknown rule, a negative ``epsilon``/``alpha``/``beta``, ``alpha - beta != 1``
        (relevance would not be conserved) or ``low > high``.

    Examples
    --------
    >>> check_rule_params('alpha_beta', {'alpha': 2, 'beta': 1, 'epsilon': 0.1})
    (('alpha', 2.0), ('beta', 1.0))
    """
    if rule not in RULES:
        raise ValueError("rule: expected one of %s, got %r" % (", ".join(RULES), rule))
    out = {}
    for key in RULE_PARAMETERS[rule]:
        if key in params:
            out[key] = params[key]
    if rule == "epsilon":
        out["epsilon"] = _number("epsilon", out.get("epsilon", 1e-6), minimum=0.0)
    elif rule == "alpha_beta":
        alpha = _number("alpha", out.get("alpha", 2.0), minimum=0.0)
        beta = _number("beta", out.get("beta", 1.0), minimum=0.0)
        if abs(alpha - beta - 1.0) > 1e-9:
            raise ValueError("alpha, beta: expected alpha - beta = 1 (relevance is conserved only then), got "
                             "alpha=%g, beta=%g" % (alpha, beta))
        out.update(alpha=alpha, beta=beta)
    elif rule == "zbox":
        low = _number("low", out.get("low"), allow_none=True)
        high = _number("high", out.get("high"), allow_none=True)
        if low is not None and high is not None and low > high:
            raise ValueError("low, high: expected low <= high, got low=%g, high=%g" % (low, high))
        out.update(low=low, high=high)
    return tuple(sorted(out.items()))


def propagate(rule, params, role, x, W, b):
    """The layer's output ``linear(x, W) + b``, whose gradient is ``rule``'s input relevance.

    Parameters
    ----------
    rule : str
        A key of :data:`RULES`.
    params : tuple of (str, value)
        From :func:`check_rule_params`.
    role : LayerRole
        The layer's linear map and channel axis.
    x : tf.Tensor
        The layer's input.
    W, b : tf.Tensor
        Kernel and bias (b may be None); tensors, not variables.

    Returns
    -------
    tf.Tensor, the layer's pre-activation output.
    """
    fn, kwargs = RULES[rule], dict(params)

    @tf.custom_gradient
    def layer(xx):
        z = _bias(role.linear(xx, W), b, role.channel_axis)

        def backward(R):
            return fn(role, xx, R, W, b, z, **kwargs)

        return z, backward

    return layer(x)


def normalize_sum(inputs, combine):
    """``combine(inputs)`` (a sum, an average pool...), relevance split by each input's share (zennit's ``Norm``).

    ``R_i = x_i * d/dx_i [combine(x) . R / stab(combine(x))]``: for a sum, ``x_i / stab(sum) * R``; for
    an average pool, the LRP-z rule of its (positive, constant) weights.

    Parameters
    ----------
    inputs : tf.Tensor or list of tf.Tensor
    combine : callable
        Linear in ``inputs`` with no offset.
    """
    many = isinstance(inputs, (list, tuple))
    xs = list(inputs) if many else [inputs]

    @tf.custom_gradient
    def node(*xx):
        z = combine(list(xx) if many else xx[0])

        def backward(R):
            with tf.GradientTape() as tape:
                tape.watch(xx)
                zz = combine(list(xx) if many else xx[0])
            grads = tape.gradient(zz, list(xx), output_gradients=R / stabilize(z))
            return [x * g for x, g in zip(xx, grads)]

        return z, backward

    return node(*xs)
