"""Gradient-based attribution methods.

Every method here gets its gradients from steps compiled once per adapter
(:meth:`ModelAdapter.compiled`) and never calls the model itself. Work that
multiplies the number of model evaluations (integration steps, noise samples)
is enumerated as (input, sample) pairs and sent in large blocks that the
compiled step walks through in pieces (:mod:`._graph`), so activation memory is
bounded by ``batch_size`` whatever ``steps`` or ``n_samples``.

Methods: ``gradient`` (alias ``saliency``), ``gradient_x_input``,
``integrated_gradients``, ``smoothgrad``, ``vargrad``, ``guided_backprop``.
"""
import contextlib
import warnings

import numpy as np
import tensorflow as tf

from ..adapter import temporarily_set
from ._baselines import make_baseline
from ._checks import needs_layers, non_negative, positive_int, seed_value
from ._graph import PIECE_SPEC, block_rows, concrete, in_pieces, piece_rows, row_bytes, run_blocks
from ._sampling import block_normal, noise_scale, pair_index, segment_add
from ._utils import rng_for
from .registry import check_params, method_info, register_method

__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "vargrad", "guided_backprop",
           "trapezoid_alphas"]


def _split(result):
    """A method's result as ``(attributions, meta)``."""
    return result if isinstance(result, tuple) else (result, {})


def _rows(targets, index):
    """Targets of the pairs ``index``: the callable itself, or the gathered class indices."""
    return targets if callable(targets) else np.asarray(targets)[index]


def _expand(values, ndim):
    """``values`` (B,) reshaped to broadcast against a (B, ...) array of ``ndim`` dimensions."""
    return np.asarray(values, np.float32).reshape((-1,) + (1,) * (ndim - 1))


# ----------------------------------------------------------------------------- the compiled input-gradient step
def _differentiate(adapter, targets, fn_targets, inputs, tb, return_scores=False):
    """``(d selected / d inputs, selected[, scores])`` for a tensor of model inputs."""
    return adapter.differentiate(inputs, targets if fn_targets else tb, return_scores)


def _gradient_step(adapter, targets, sites=(), looped=True):
    """Compiled ``(d score[target] / d input, scores)`` for a block of rows.

    ``looped`` steps walk through the block in pieces inside the graph
    (:func:`~._graph.in_pieces`); the plain variant takes the block as one batch
    (used when it fits in a piece: no loop overhead). ``sites`` (``[(layer, attr)]``)
    are ReLU activations swapped for :func:`guided_relu` while the step is traced
    (guided backprop); the model is restored before the call returns. The scores
    ``(B, K)`` come from the same forward pass (they are the explanation's
    predictions; negative targets pick the arg-max in the graph, see
    :data:`~tensorlayer_xplain.adapter.PREDICTED`). One trace per (adapter,
    variant, target kind).
    """
    fn_targets = callable(targets)

    def grads_of(x_, t_):
        grads, _, scores = _differentiate(adapter, targets, fn_targets, x_, t_, return_scores=True)
        return grads, scores

    def step(xb, tb, piece):
        with _guided_relus(sites):
            if looped:
                return in_pieces(grads_of, piece, xb, tb, dtypes=(tf.float32, tf.float32))
            return grads_of(xb, tb)

    key = ("input_gradients", "guided" if sites else "plain", looped, adapter._target_key(targets))
    return adapter.compiled(key, step, extra_dtypes=[tf.TensorSpec((None,), tf.int32), PIECE_SPEC], rows=(0, 1))


def input_gradients(adapter, x, targets, batch_size=None, sites=(), return_scores=False):
    """Gradients of the target scores w.r.t. a prepared batch ``x`` (N, *input_shape).

    The same values as :meth:`ModelAdapter.gradients`, computed in large compiled
    calls that loop over pieces of ``batch_size // PARALLEL`` rows in the graph
    (:func:`~._graph.in_pieces`); a batch that fits in one piece skips the loop.
    ``sites`` turns it into guided backprop. ``return_scores`` also returns the
    model's scores ``(N, K)`` from the same forward pass.
    """
    x = np.asarray(x, np.float32)
    batch_size = adapter.batch_rows(batch_size, backward=True)
    piece = piece_rows(batch_size)
    looped = len(x) > piece
    compiled = _gradient_step(adapter, targets, tuple(sites), looped)
    t = np.zeros(len(x), np.int32) if callable(targets) else adapter.resolve_targets(targets, len(x))
    if not looped:
        with adapter.inference_mode():
            grads, scores = (v.numpy() for v in concrete(compiled)(tf.constant(x), tf.constant(t),
                                                                   tf.constant(piece)))
        return (grads, scores) if return_scores else grads
    out, scores = np.empty_like(x), {}

    def call(start, stop, piece):
        grads, rows = step(tf.constant(x[start:stop]), tf.constant(t[start:stop]), tf.constant(piece))
        out[start:stop] = grads.numpy()
        scores[start] = rows.numpy()  # a retried block overwrites its own entry

    with adapter.inference_mode():
        step = concrete(compiled)
        run_blocks(len(x), block_rows(batch_size, row_bytes(x)), piece, call)
    return (out, np.concatenate([scores[k] for k in sorted(scores)])) if return_scores else out


# ----------------------------------------------------------------------------- plain gradients
@register_method("gradient", aliases=("saliency",), family="gradient", predicts=True)
def gradient(adapter, inputs, targets, absolute=True, batch_size=None):
    """Saliency: the magnitude of the gradient of the target score w.r.t. the input.

    Simonyan, Vedaldi & Zisserman (2014), "Deep Inside Convolutional Networks:
    Visualising Image Classification Models and Saliency Maps".

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    absolute : bool
        Return ``|grad|`` (the classic saliency map); False keeps the sign.
    batch_size : int, optional
        Overrides the adapter's batch size.

    Returns
    -------
    attributions : ndarray, shape (N, *input_shape)
    meta : dict
        ``scores`` (N, K): the model's scores from the same forward pass (the
        explanation's predictions); ``signed`` when ``absolute=False``.

    Examples
    --------
    >>> exp = ModelExplainer(model, methods=['gradient']).explain(x)   # doctest: +SKIP
    """
    grads, scores = input_gradients(adapter, inputs, targets, batch_size, return_scores=True)
    if absolute:
        return np.abs(grads), {"scores": scores}
    return grads, {"signed": True, "scores": scores}


@register_method("gradient_x_input", aliases=("input_x_gradient",), signed=True, family="gradient", predicts=True)
def gradient_x_input(adapter, inputs, targets, batch_size=None):
    """Gradient times input: ``x * d score[target] / dx``, signed.

    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not Just a Black Box:
    Learning Important Features Through Propagating Activation Differences".

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    batch_size : int, optional

    Returns
    -------
    attributions : ndarray, float32, shape (N, *input_shape)
    meta : dict
        ``scores`` (N, K) from the same forward pass.

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'gradient_x_input')     # doctest: +SKIP
    """
    grads, scores = input_gradients(adapter, inputs, targets, batch_size, return_scores=True)
    return inputs * grads, {"scores": scores}


# ----------------------------------------------------------------------------- integrated gradients
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

    def step(xb, bb, alphas, weights, tb, piece):
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
            at_end = tf.stack([tf.cast(k == 0, tf.float32), tf.cast(k == s - 1, tf.float32)], axis=1)
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
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
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
    >>> exp = tlx.explain(model, x, 'integrated_gradients', steps=128)   # doctest: +SKIP
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

    def call(start, stop, piece):
        block = slice(start, stop)
        out = step(tf.constant(x[block]), tf.constant(base[block]), a_t, w_t, tf.constant(t[block]),
                   tf.constant(piece))
        integral[block], ends[block] = out[0].numpy(), out[1].numpy()

    inputs_per_call = max(1, block_rows(batch_size, row_bytes(x)) // (steps + 1))
    with adapter.inference_mode():
        step = concrete(compiled)
        run_blocks(len(x), inputs_per_call, piece_rows(batch_size), call, what="integration steps")
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


# ----------------------------------------------------------------------------- noise tunnel
def _base_method(base_method, base_params, batch_size, seed, caller):
    """Resolve the wrapped method through the registry and the parameters it runs with."""
    if not isinstance(base_method, str):
        raise TypeError("base_method: expected a registered method name (str), got %r" % (base_method,))
    spec = method_info(base_method)
    if spec.name in ("smoothgrad", "vargrad"):
        raise ValueError("base_method: %s cannot wrap %r (noise over noise); pick a base attribution method"
                         % (caller, spec.name))
    if base_params is not None and not isinstance(base_params, dict):
        raise TypeError("base_params: expected a dict of %r parameters, got %r" % (spec.name, base_params))
    params = dict(base_params or {})
    check_params(spec.name, params)
    if "batch_size" in spec.parameters and batch_size is not None:
        params.setdefault("batch_size", batch_size)
    if "seed" in spec.parameters and seed is not None:
        params.setdefault("seed", seed)
    return spec, params


def _noise_tunnel(adapter, x, targets, base_method, n_samples, noise_level, seed, batch_size, base_params,
                  caller, variance=False):
    """Mean and variance of ``base_method`` over ``n_samples`` Gaussian-noised copies of each input.

    Noisy copy ``j`` of input ``i`` is ``x_i + sigma_i * z_j``: the ``n_samples``
    standard normal patterns ``z_j`` depend only on ``(seed, j)`` and serve every
    input (each input still averages over independent draws), so drawing them
    costs ``n_samples`` draws, not ``N * n_samples``, and no result depends on
    ``batch_size``. The (input, sample) pairs go in blocks (at most
    :data:`~._graph.BLOCK_BYTES` of inputs) to the base method through the
    registry, which batches them by ``batch_size``.

    Returns
    -------
    mean, var : ndarray, float32, shape (N, ...) as the base method's output (var None unless ``variance``)
    spec : MethodSpec of the base method
    signed : bool
        Whether the base method's attributions are signed.
    """
    n_samples = positive_int("n_samples", n_samples)
    noise_level = non_negative("noise_level", noise_level)
    seed = seed_value("seed", seed)
    spec, params = _base_method(base_method, base_params, batch_size, seed, caller)
    x = np.asarray(x, np.float32)
    sigma = noise_scale(x, noise_level)
    sums = {}
    signed = [spec.signed]
    i_all, j_all = pair_index(len(x), n_samples)

    def run(start, stop, piece):
        ib, jb = i_all[start:stop], j_all[start:stop]
        used, local = np.unique(jb, return_inverse=True)
        patterns = block_normal(seed, used, x.shape[1:])
        noisy = x[ib] + _expand(sigma[ib], x.ndim) * patterns[local]
        attr, meta = _split(spec.fn(adapter, noisy, _rows(targets, ib), **params))
        attr = np.asarray(attr, np.float32)  # summed per input in float32, accumulated in float64
        signed[0] = bool(meta.get("signed", spec.signed))
        if not sums:
            sums["s1"] = np.zeros((len(x),) + attr.shape[1:])
            sums["s2"] = np.zeros((len(x),) + attr.shape[1:]) if variance else None
        segment_add(sums["s1"], ib, attr)
        if variance:
            segment_add(sums["s2"], ib, attr * attr)

    # blocks of noisy copies as large as the base method's compiled calls take
    run_blocks(len(i_all), block_rows(adapter.batch_rows(batch_size, backward=True), row_bytes(x)), 1, run)
    mean = sums["s1"] / n_samples
    var = np.maximum(sums["s2"] / n_samples - mean * mean, 0.0).astype(np.float32) if variance else None
    return mean.astype(np.float32), var, spec, signed[0]


@register_method("smoothgrad", family="gradient")
def smoothgrad(adapter, inputs, targets, base_method="gradient", n_samples=32, noise_level=0.15, seed=0,
               batch_size=None, base_params=None):
    """SmoothGrad: the mean of a base method over Gaussian-noised copies of the input.

    Smilkov, Thorat, Kim, Viegas & Wattenberg (2017), "SmoothGrad: removing
    noise by adding noise". Noise has standard deviation ``noise_level`` times the
    input's value range. Any registered method can be smoothed:
    ``base_method='integrated_gradients'`` or ``'gradcam'`` is one parameter.
    With the default base (``gradient``, ``absolute=True``) this averages
    ``|grad|``, as Captum's ``NoiseTunnel(Saliency)`` does; pass
    ``base_params={'absolute': False}`` to average signed gradients.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    base_method : str
        Registered method applied to each noisy copy (called through the registry).
    n_samples : int
        Noisy copies per input.
    noise_level : float
        Noise standard deviation as a fraction of each input's (max - min).
    seed : int or None
        Same seed, same noise (independently of ``batch_size``); None is not reproducible.
    batch_size : int, optional
        Passed to the base method (bounds its memory).
    base_params : dict, optional
        Parameters of the base method.

    Returns
    -------
    attributions : ndarray, float32, shape of the base method's output
        ``(N, *input_shape)`` or ``(N, H, W)`` for a CAM base.
    meta : dict
        ``signed`` (the base's), ``base_method``.

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'smoothgrad', n_samples=50)                     # doctest: +SKIP
    >>> exp = tlx.explain(model, x, 'smoothgrad', base_method='integrated_gradients',
    ...                   base_params={'steps': 16})                                # doctest: +SKIP
    """
    mean, _, spec, signed = _noise_tunnel(adapter, inputs, targets, base_method, n_samples, noise_level, seed,
                                          batch_size, base_params, "smoothgrad")
    return mean, {"signed": signed, "base_method": spec.name}


@register_method("vargrad", family="gradient")
def vargrad(adapter, inputs, targets, base_method="gradient", n_samples=32, noise_level=0.15, seed=0,
            batch_size=None, base_params=None):
    """VarGrad: the variance of a base method over Gaussian-noised copies of the input.

    Adebayo, Gilmer, Goodfellow & Kim (2018), "Local Explanation Methods for
    Deep Neural Networks Lack Sensitivity to Parameter Values"; also Hooker et
    al. (2019), "A Benchmark for Interpretability Methods in Deep Neural
    Networks". Same noise and parameters as :func:`smoothgrad` (same seed, same
    noisy copies); the result is a magnitude (never signed).

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    base_method : str
        Registered method applied to each noisy copy.
    n_samples : int
    noise_level : float
    seed : int or None
    batch_size : int, optional
    base_params : dict, optional

    Returns
    -------
    attributions : ndarray, float32, shape of the base method's output
    meta : dict

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'vargrad', n_samples=50, seed=1)   # doctest: +SKIP
    """
    _, var, spec, _ = _noise_tunnel(adapter, inputs, targets, base_method, n_samples, noise_level, seed,
                                    batch_size, base_params, "vargrad", variance=True)
    return var, {"signed": False, "base_method": spec.name}


# ----------------------------------------------------------------------------- guided backprop
def _relu_functions():
    """The ReLU functions a layer may hold as its activation (TL: ``layer.act``; Keras: ``layer.activation``)."""
    found = [tf.nn.relu, tf.keras.activations.relu]
    try:
        import keras

        found += [keras.activations.relu, keras.ops.relu]
    except (ImportError, AttributeError):  # pragma: no cover - other Keras versions
        pass
    return tuple(found)


_ACTIVATION_ATTRS = ("act", "activation")


def _is_relu(fn, relus):
    return fn is not None and any(fn is r or getattr(fn, "__wrapped__", None) is r for r in relus)


def relu_sites(adapter):
    """``[(layer, attribute)]`` of every layer whose activation is a ReLU."""
    relus = _relu_functions()
    return [
        (layer, attr)
        for layer in adapter.iter_layers()
        for attr in _ACTIVATION_ATTRS
        if _is_relu(vars(layer).get(attr), relus)
    ]


@tf.custom_gradient
def _guided_relu_op(x):
    y = tf.nn.relu(x)

    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

    return y, grad


def guided_relu(x, *args, **kwargs):
    """ReLU whose gradient passes only positive gradients through positive inputs (guided backprop)."""
    return _guided_relu_op(x)


@contextlib.contextmanager
def _guided_relus(sites):
    """Swap every ReLU activation for :func:`guided_relu` for the block; restore exactly after."""
    with contextlib.ExitStack() as stack:
        for layer, attr in sites:
            stack.enter_context(temporarily_set(layer, attr, guided_relu))
        yield


def _guided_gradients(adapter, x, targets, batch_size):
    """Input gradients with guided ReLUs (the swap is baked into the trace, see :func:`_gradient_step`)."""
    if adapter.kind == "callable":
        raise needs_layers("guided_backprop (it swaps the ReLU activations of the layers)")
    sites = relu_sites(adapter)
    if not sites:
        warnings.warn("guided_backprop: the model has no layer with a ReLU activation (layer.act / "
                      "layer.activation); the result is the plain gradient", RuntimeWarning, stacklevel=3)
    return input_gradients(adapter, x, targets, batch_size, sites)


@register_method("guided_backprop", aliases=("guided_backpropagation",), signed=True, family="gradient")
def guided_backprop(adapter, inputs, targets, batch_size=None):
    """Guided backpropagation: gradients through ReLUs that pass only positive signals both ways.

    Springenberg, Dosovitskiy, Brox & Riedmiller (2015), "Striving for
    Simplicity: The All Convolutional Net". Every layer whose activation is a
    ReLU (``tf.nn.relu`` or ``tf.keras.activations.relu`` in TL's ``layer.act`` or
    Keras' ``layer.activation``) gets a ``tf.custom_gradient`` ReLU, only inside
    the compiled step's trace: the user's model is never left modified. ReLUs
    called directly inside a custom ``forward`` are not seen (plain gradient there).

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, float32, shape (N, *input_shape)
    targets : ndarray of int (N,) or callable
    batch_size : int, optional

    Returns
    -------
    ndarray, float32, shape (N, *input_shape), signed

    Examples
    --------
    >>> exp = tlx.explain(model, x, 'guided_backprop')   # doctest: +SKIP
    """
    return _guided_gradients(adapter, np.asarray(inputs, np.float32), targets, batch_size)
