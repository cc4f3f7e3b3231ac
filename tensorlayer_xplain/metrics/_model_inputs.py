"""What the model-calling per-input metrics share: model, inputs, targets and the method to re-run."""
import numpy as np

from ..adapter import as_adapter
from ..explanation import Explanation
from ..methods.registry import method_info


def rerun_params(explanation, exclude=()):
    """The explanation's method parameters, to explain other inputs the same way."""
    known = method_info(explanation.method).parameters
    return {k: v for k, v in explanation.params.items() if k in known and k not in exclude}


def model_setup(metric, attributions, model, inputs, targets):
    """``(adapter, x (N, *input_shape) float32, targets (N,), attributions (N, D) float64, method or None)``.

    An Explanation brings its inputs and targets; an attributions array needs
    ``inputs=`` and ``targets=``.
    """
    if model is None:
        raise TypeError("model: %s calls the model; pass model= (the model that was explained)" % metric)
    if isinstance(attributions, Explanation):
        if inputs is not None:
            raise TypeError("inputs: an Explanation brings its inputs; do not pass inputs= too")
        x, method = attributions.inputs, attributions.method
        if targets is None:
            targets = np.where(attributions.targets < 0, attributions.predicted, attributions.targets)
        attr = attributions.attributions
    else:
        if inputs is None or targets is None:
            raise TypeError("inputs, targets: %s on an attributions array needs inputs= (N, ...) and targets= (N,)"
                            % metric)
        attr, x, method = np.asarray(attributions), np.asarray(inputs), None
    adapter = as_adapter(model)
    x, _ = adapter.prepare(x, name="inputs")
    attr = np.asarray(attr, np.float64).reshape(len(attr), -1)
    if len(attr) != len(x):
        raise ValueError("attributions: expected one row per input (%d), got %d" % (len(x), len(attr)))
    if not np.isfinite(attr).all():
        raise ValueError("attributions: expected finite values, got NaN or inf in input(s) %s"
                         % np.flatnonzero(~np.isfinite(attr).all(axis=1))[:10].tolist())
    targets = adapter.resolve_targets(targets, len(x), name="targets")
    return adapter, np.asarray(x, np.float32), np.asarray(targets), attr, method


def target_outputs(adapter, x, targets, batch_size=None):
    """The adapter's output (logits unless built with ``output='probabilities'``) of each input's target."""
    out = adapter.predict(x, batch_size=batch_size)
    return np.asarray(out, np.float64)[np.arange(len(x)), targets]


#: Perturbed inputs sent to the model per call of :func:`perturbed_outputs` are bounded by this many values.
MAX_VALUES_PER_CALL = 2 ** 24


def step_chunks(n_steps, n, d):
    """``(start, k)`` chunks of ``n_steps`` perturbation steps, ``k * n * d`` values at most per chunk."""
    chunk = max(1, min(n_steps, MAX_VALUES_PER_CALL // max(1, n * d)))
    for start in range(0, n_steps, chunk):
        yield start, min(chunk, n_steps - start)


def softmax_rows(scores):
    """Softmax over the last axis in float64 (Quantus's ``softmax=True`` predictions)."""
    scores = np.asarray(scores, np.float64)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return scores / scores.sum(axis=-1, keepdims=True)


def model_outputs(adapter, x, softmax, batch_size=None):
    """All outputs ``(N, K)`` float64: probabilities when ``softmax`` (and the adapter gives logits), else raw."""
    if not isinstance(softmax, (bool, np.bool_)):
        raise TypeError("softmax: expected a bool, got %r" % (softmax,))
    out = np.asarray(adapter.predict(x, batch_size=batch_size), np.float64)
    return softmax_rows(out) if softmax and adapter.output == "logits" else out


def perturbed_outputs(adapter, x, n_steps, build, batch_size=None, softmax=False, targets=None):
    """Outputs of ``n_steps`` perturbed copies of every input, all copies stacked into few batched calls.

    Parameters
    ----------
    adapter : ModelAdapter
    x : ndarray, shape (N, *input_shape)
    n_steps : int
    build : callable
        ``build(start, k) -> (k, N, ...)`` the perturbed inputs of steps
        ``start .. start + k - 1`` (called in increasing ``start``, so a seeded
        stream drawn inside is drawn in step order); at most
        :data:`MAX_VALUES_PER_CALL` values per call.
    softmax : bool
        Probabilities instead of the adapter's output.
    targets : ndarray (N,), optional
        Return only each input's target output.

    Returns
    -------
    ndarray
        ``(N, n_steps)`` with ``targets``, else ``(N, n_steps, K)``.
    """
    n = len(x)
    parts = []
    for start, k in step_chunks(n_steps, n, x[0].size):
        stacked = np.asarray(build(start, k), np.float32).reshape((k * n,) + x.shape[1:])
        out = model_outputs(adapter, stacked, softmax, batch_size).reshape(k, n, -1)
        parts.append(out[:, np.arange(n), targets] if targets is not None else out)
    out = np.concatenate(parts, axis=0)  # (n_steps, N, ...)
    return np.moveaxis(out, 0, 1)


def rerun_method(metric, attributions, method, method_params, exp_method):
    """``(method, params)`` to re-explain with: the given ones, or the explanation's method and parameters."""
    method = method or exp_method
    if method is None:
        raise TypeError("method: %s re-explains other inputs; pass method= with an attributions array" % metric)
    params = dict(method_params or {})
    if not params and exp_method == method:
        params = rerun_params(attributions)
    return method, params


def black_fill(flat):
    """Quantus's ``perturb_baseline='black'``: each input's minimum, ``(N,)``."""
    return flat.min(axis=1)


def reexplain(adapter, x, method, targets, batch_size=None, **params):
    """:func:`~tensorlayer_xplain.explain` for a metric's perturbed inputs, without the constant-map warnings.

    A noisy copy or a randomised model often gives a flat map (that is what the
    metric measures); the warning the explanation runner gives for it would
    repeat once per call.
    """
    import warnings

    from ..runner import explain

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*the map is constant", category=RuntimeWarning)
        return explain(adapter, x, method, targets=targets, batch_size=batch_size, **params)
