"""Layer-wise relevance propagation (``lrp``): rules per layer, composites, one modified backward pass.

Bach et al. (2015), "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise
Relevance Propagation"; Montavon et al. (2019), "Layer-Wise Relevance Propagation: An Overview".
The rules (:mod:`.rules`) and composites (:mod:`.composites`) follow zennit and iNNvestigate.

How it runs: while the compiled step is traced, every layer with weights is swapped
(:meth:`ModelAdapter.substituted_forwards`) for its linear map whose gradient is the layer's rule
(:func:`.rules.propagate`); a batch norm right after such a layer is folded into it; average pools
and residual sums split relevance by contribution; activations, max pools, reshapes and
concatenations keep their ordinary gradient. One ``GradientTape`` pass then carries the relevance
from the explained logit to the input, for a whole batch, compiled once per (model, rules, targets).
"""
import numpy as np
import tensorflow as tf

from ..._utils.docstrings import shared_docstring
from .._engine.checks import positive_int
from .._ranges import MAX_VALUE, VALUES
from ..costs import one_gradient
from ..registry import Range, register_method
from .composites import COMPOSITES, rule_plan
from .rules import RULES, normalize_sum, per_channel, propagate

__all__ = ["lrp", "RULES", "COMPOSITES", "rule_plan", "run_step", "raw_logits", "gap_meta",
           "propagation_applies"]


def _relevance_passes(x, y):
    """``y`` (same shape as ``x``) in the forward pass; the relevance passes to ``x`` unchanged (zennit's ``Pass``)."""

    @tf.custom_gradient
    def node(xx):
        def backward(R):
            return R

        return tf.identity(y), backward

    return node(x)


def _make_forwards(plan, first, producers, seen):
    """The ``make`` for :meth:`ModelAdapter.substituted_forwards`: each layer's forward under its rule."""
    rules = {name: (rule, params) for name, rule, params in plan}

    def make(layer, role, original):
        if role.kind == "linear":
            rule, params = rules[layer.name]

            def linear(x):
                if layer.name == first:
                    seen.setdefault("first", x)
                W = role.kernel()
                b = role.bias() if role.bias is not None else None
                z = propagate(rule, params, role, x, W, b)
                if role.act is None:  # a batch norm reading z may fold itself into this layer
                    producers[z.ref()] = (x, role, W, b, rule, params)
                    return z
                return role.act(z)

            return linear
        if role.kind == "batchnorm":
            def batchnorm(x):
                a, c = role.affine()
                found = producers.get(x.ref())
                if found is not None:  # folded: the previous layer's rule on (W a, b a + c)
                    x0, lrole, W, b, rule, params = found
                    y = propagate(rule, params, lrole, x0, lrole.fold(W, a), c if b is None else b * a + c)
                else:  # a batch norm on its own passes relevance through
                    rank = len(x.shape)
                    y = _relevance_passes(x, x * per_channel(a, rank, role.channel_axis)
                                          + per_channel(c, rank, role.channel_axis))
                return role.act(y) if role.act is not None else y

            return batchnorm
        if role.kind == "pool":
            return lambda x: normalize_sum(x, original)
        if role.kind == "add":
            def add(xs):
                y = normalize_sum(list(xs), tf.add_n)
                return role.act(y) if role.act is not None else y

            return add
        return None  # activations, max pools, reshapes, concatenation: the ordinary gradient

    return make


def raw_logits(adapter, xb):
    """The model's raw output as ``(N, K)`` float32 (logits: propagation methods explain pre-softmax scores)."""
    out = tf.convert_to_tensor(adapter._raw_call(xb))
    return tf.reshape(tf.cast(out, tf.float32), (tf.shape(out)[0], -1))


def _lrp_step(adapter, roles, plan):
    """Compiled step ``(x (B, ...), targets (B,)) -> (relevance (B, ...), explained logit (B,))``."""
    first = plan[0][0]
    n_in = int(np.prod(adapter.input_shape))

    def step(xb, tb):
        producers, seen = {}, {}
        with adapter.substituted_forwards(roles, _make_forwards(plan, first, producers, seen)):
            with tf.GradientTape() as tape:
                tape.watch(xb)
                logits = raw_logits(adapter, xb)
        start = tf.one_hot(tb, tf.shape(logits)[1], dtype=logits.dtype) * tf.stop_gradient(logits)
        first_in = seen.get("first")
        # input scaling before the first layer with weights (VGG16's Lambda) is part of the input: read the
        # relevance where it enters that layer when it has one value per input value
        at_first = first_in is not None and first_in.shape[1:].num_elements() == n_in
        source = first_in if at_first else xb
        relevance = tape.gradient(logits, source, output_gradients=start)
        if relevance is None:
            raise ValueError("model: the explained logit does not depend on the input through the layers found")
        relevance = tf.reshape(relevance, tf.shape(xb))
        return relevance, tf.reduce_sum(start, axis=1)

    return adapter.compiled(("lrp", plan), step, n_extra=1, rows=(0, 1))


def run_step(adapter, step, batch_size, rows_per_input, *arrays):
    """``step`` over aligned ``arrays`` in byte-bounded batches, in inference mode; numpy outputs concatenated.

    ``rows_per_input``: model rows one input costs in the step (2 for an input with its baseline).
    """
    rows = adapter.batch_rows(None if batch_size is None else positive_int("batch_size", batch_size), backward=True)
    with adapter.inference_mode():
        return adapter.map_batches(lambda *parts: tuple(v.numpy() for v in step(*map(tf.constant, parts))), *arrays,
                                   batch_size=max(1, rows // rows_per_input))


def gap_meta(kind, gap, **arrays):
    """``{'signed', '<kind>_gap', 'max_<kind>_gap', **arrays}``: the meta of a method that adds up to a score."""
    return {"signed": True, "%s_gap" % kind: gap, "max_%s_gap" % kind: float(gap.max()) if len(gap) else 0.0,
            **arrays}


def _plan_text(plan):
    return "; ".join("%s=%s%s" % (name, rule, "(%s)" % ", ".join("%s=%g" % kv for kv in params if kv[1] is not None)
                                  if any(v is not None for _, v in params) else "")
                     for name, rule, params in plan)


def conservation(relevance, explained):
    """Relative gap ``|sum(R) - f| / |f|`` per input, the sums and the explained scores (float64)."""
    sums = relevance.reshape(len(relevance), -1).sum(axis=1, dtype=np.float64)
    explained = explained.astype(np.float64)
    return np.abs(sums - explained) / np.maximum(np.abs(explained), 1e-12), sums, explained


def propagation_applies(adapter, params, method="lrp"):
    """Why a propagation method cannot explain the model behind ``adapter`` (no layers, a layer without a
    rule), or None."""
    if adapter.kind == "callable":
        return "a plain callable has no layers to propagate through"
    try:
        adapter.relevance_roles(method)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return str(err)
    return None


@register_method("lrp", signed=True, family="relevance", cost=one_gradient, batchable=True,
                 applies=propagation_applies, figure="gradient_visualization",
                 ranges={"epsilon": Range(0.0, MAX_VALUE), "alpha": Range(1.0, MAX_VALUE),
                         "beta": Range(0.0, MAX_VALUE), "low": VALUES, "high": VALUES},
                 benchmark={"work": ("rule",)})
@shared_docstring
def lrp(adapter, inputs, targets, rule="epsilon", epsilon=1e-6, alpha=2.0, beta=1.0, low=None, high=None,
        overrides=None, batch_size=None):
    """Layer-wise relevance propagation of the target logit, with a rule or a composite of rules.

    Bach et al. (2015); Montavon et al. (2019), "Layer-Wise Relevance Propagation: An Overview".
    The target's logit is the relevance at the output; each layer with weights redistributes the
    relevance of its outputs to its inputs by its rule, in one modified backward pass (batched,
    compiled once per model, rules and targets). A batch norm after a layer with weights is folded
    into it; average pools and residual sums (``Elementwise(tf.add)``, Keras ``Add``) split relevance
    by each input's contribution; activations and max pools pass it by their gradient.

    Rules (zennit's formulas; ``z = Wx + b``, ``s = R / stab(z)``):

    * ``'epsilon'``: ``R_in = x * W^T s`` with ``stab(z) = z + epsilon * sign(z)``;
    * ``'zplus'``: positive contributions only (alpha-beta with ``alpha=1, beta=0``);
    * ``'alpha_beta'``: ``alpha`` x the positive minus ``beta`` x the negative contributions (``alpha - beta = 1``);
    * ``'flat'``, ``'w_square'``: as if inputs were ones and weights ones / squared (first layers);
    * ``'zbox'``: the z^B rule for inputs bounded by ``low`` and ``high`` (first layers);

    or a composite (:data:`~.composites.COMPOSITES`): ``'epsilon_plus'``, ``'epsilon_plus_flat'``,
    ``'epsilon_plus_box'``, ``'epsilon_alpha2_beta1'``, ``'epsilon_alpha2_beta1_flat'`` (zennit) and
    ``'sequential_preset_a'`` / ``'sequential_preset_b'`` (iNNvestigate).

    Conservation: on a bias-free ReLU network with ``epsilon -> 0`` the relevance sums to the explained
    logit; the meta reports the gap (biases and ``epsilon`` absorb some relevance, ``flat`` and
    ``w_square`` first layers conserve it too).

    Parameters
    ----------
    %(method_inputs)s
    rule : str
        A rule of :data:`~.rules.RULES` applied to every layer with weights, or a composite name.
    epsilon : float
        Stabilizer of the epsilon rule (>= 0; 0 is LRP-0).
    alpha, beta : float
        Weights of the alpha-beta rule (``alpha - beta = 1``).
    low, high : float or None
        Bounds of the z^B rule's input (the first layer's input: after any input scaling); None takes
        each sample's own smallest / largest value.
    overrides : dict, optional
        Per-layer rules: ``{key: rule or (rule, {params})}`` with ``key`` a layer name, ``'first'``, a
        class name (``'Conv2d'``, ``'Dense'``) or a family (``'dense'``, ``'conv'``, ``'depthwise'``).
    batch_size : int, optional
        Inputs per backward pass; default the adapter's byte-bounded batch.

    Returns
    -------
    relevance : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``conservation_gap`` (N,) ``|sum(R) - f| / |f|``, ``relevance_sums`` (N,), ``explained_scores``
        (N,) (the target logits), ``max_conservation_gap`` (float), ``rules`` (the rule of every layer
        with weights, as text).

    Raises
    ------
    ValueError
        For a layer type without a rule (naming it and the supported types), an unknown rule,
        composite or override key, ``alpha - beta != 1``, or targets given as a function.
    TypeError
        For a plain callable model (LRP reads the layers).

    Examples
    --------
    >>> exp = tlxp.explain(cnn, x_test[:4], 'lrp', rule='epsilon_plus_flat')
    >>> exp = tlxp.explain(cnn, x_test[:4], 'lrp', rule='epsilon', epsilon=0.1,
    ...                    overrides={'conv': 'zplus', 'first': 'zbox'})
    >>> float(exp.meta['max_conservation_gap']) < 0.05   # doctest: +IGNORE_RESULT
    True
    """
    if callable(targets):
        raise ValueError("targets: lrp propagates the relevance of one class logit per input; expected class "
                         "indices, got a function of the scores")
    roles = adapter.relevance_roles("lrp")
    layers = [(layer.name, role.type_name, role.family) for layer, role in roles if role.kind == "linear"]
    plan = rule_plan(layers, rule, {"epsilon": epsilon, "alpha": alpha, "beta": beta, "low": low, "high": high},
                     overrides)
    relevance, explained = run_step(adapter, _lrp_step(adapter, roles, plan), batch_size, 1,
                                    np.asarray(inputs, np.float32), np.asarray(targets, np.int32))
    gap, sums, explained = conservation(relevance, explained)
    meta = gap_meta("conservation", gap, relevance_sums=sums, explained_scores=explained)
    meta["rules"] = _plan_text(plan)
    return relevance.astype(np.float32), meta
