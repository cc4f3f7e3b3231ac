"""Models with several inputs: TL static ``Model(inputs=[a, b], ...)`` and Keras functional models.

``explain([xa, xb], ...)`` returns one attribution array per input for the
gradient family (``gradient``, ``gradient_x_input``, ``integrated_gradients``,
``smoothgrad``) and ``occlusion``; every other method raises a ``ValueError``
saying it is single-input only. The result is a :class:`MultiInputExplanation`:
``attributions`` and ``inputs`` are lists (one array per model input, each in
the shape that input was given), ``heatmap(input=i)`` draws input ``i``.

A :class:`MultiInputAdapter` calls the model with a list of batches (the batch
dimension is shared); :func:`~tensorlayer_xplain.adapter.as_adapter` picks it
for models whose inputs it can count (TL static, Keras). A TL *dynamic* model
whose ``forward`` takes a list declares its inputs: ``MultiInputAdapter(model,
input_shapes=[(28, 28, 1), (28, 28, 1)])``.
"""
import inspect
import time

import numpy as np
import tensorflow as tf

from ..adapter.multi_input import MultiInputAdapter, input_count  # importable from here, as before the split
from ..explanation import MultiInputExplanation
from ._engine.baselines import make_baseline
from ._engine.checks import non_negative, positive_int, seed_value, window_pair
from .gradients import trapezoid_alphas
from .perturbation import occlusion_windows
from .registry import check_params, check_ranges, method_info, method_parameters

__all__ = ["MultiInputAdapter", "MultiInputExplanation", "input_count", "explain_multi", "MULTI_INPUT_METHODS"]


# ============================================================================ methods
# Each function below takes the parameters of the single-input method of the same name; their defaults
# are that method's (filled in by explain_multi from the registry), never repeated here.
def _gradient(adapter, xs, targets, absolute, batch_size):
    grads, _ = adapter.input_gradients(xs, targets, batch_size)
    return [np.abs(g) if absolute else g for g in grads], {"signed": not absolute}


def _gradient_x_input(adapter, xs, targets, batch_size):
    grads, _ = adapter.input_gradients(xs, targets, batch_size)
    return [x * g for x, g in zip(xs, grads)], {"signed": True}


def _rows(targets, index):
    return targets if callable(targets) else np.asarray(targets)[index]


def _integrated_gradients(adapter, xs, targets, steps, baseline, batch_size):
    """Integrated gradients along the joint straight path from the baselines to all inputs at once.

    Completeness holds over all inputs together: ``sum_i sum(attr_i) = f(x) - f(baseline)``.
    """
    steps = positive_int("steps", steps)
    baselines = baseline if isinstance(baseline, (list, tuple)) else [baseline] * len(xs)
    if len(baselines) != len(xs):
        raise ValueError("baseline: expected one baseline per input (%d), got %d" % (len(xs), len(baselines)))
    bases = [make_baseline(b, x, part, name="baseline[%d]" % i)
             for i, (b, x, part) in enumerate(zip(baselines, xs, adapter.parts))]
    alphas, weights = trapezoid_alphas(steps)
    n, s = len(xs[0]), len(alphas)
    pair_n = np.repeat(np.arange(n), s)
    expand = lambda a, x: a.reshape((-1,) + (1,) * (x.ndim - 1))  # noqa: E731
    a = np.tile(alphas, n)
    points = [(b[pair_n] + expand(a, x) * (x[pair_n] - b[pair_n])).astype(np.float32) for x, b in zip(xs, bases)]
    grads, selected = adapter.input_gradients(points, _rows(targets, pair_n), batch_size)
    w = np.tile(weights, n)
    attributions = []
    for x, b, g in zip(xs, bases, grads):
        integral = (expand(w, g) * g).reshape((n, s) + g.shape[1:]).sum(axis=1)
        attributions.append(((x - b) * integral).astype(np.float32))
    ends = selected.reshape(n, s)
    total = sum(attr.reshape(n, -1).sum(axis=1) for attr in attributions)
    delta = ends[:, -1] - ends[:, 0]
    gap = np.abs(total - delta) / np.maximum(np.abs(delta), 1e-12)
    return attributions, {"signed": True, "completeness_gap": gap.astype(np.float32),
                          "max_completeness_gap": float(gap.max())}


def _smoothgrad(adapter, xs, targets, n_samples, noise_level, seed, batch_size, base_params):
    """SmoothGrad: the mean gradient (absolute unless ``base_params={'absolute': False}``) over Gaussian noise."""
    absolute = dict(base_params or {}).get("absolute", method_parameters("gradient")["absolute"])
    n_samples = positive_int("n_samples", n_samples)
    noise_level = non_negative("noise_level", noise_level)
    seed = seed_value("seed", seed)
    n = len(xs[0])
    pair_n = np.repeat(np.arange(n), n_samples)
    noisy = []
    for i, x in enumerate(xs):
        flat = x.reshape(n, -1)
        spread = flat.max(axis=1) - flat.min(axis=1)
        sigma = noise_level * np.where(spread > 0, spread, 1.0)
        rng = np.random.default_rng(None if seed is None else [seed, i])
        noise = rng.standard_normal((n * n_samples,) + x.shape[1:], dtype=np.float32)
        noisy.append((x[pair_n] + sigma[pair_n].reshape((-1,) + (1,) * (x.ndim - 1)) * noise).astype(np.float32))
    grads, _ = adapter.input_gradients(noisy, _rows(targets, pair_n), batch_size)
    out = [(np.abs(g) if absolute else g).reshape((n, n_samples) + g.shape[1:]).mean(axis=1) for g in grads]
    return [o.astype(np.float32) for o in out], {"signed": not absolute}


def _fit(value, limits):
    """An int or (h, w) window clipped to an input's image size (a (1, 5) feature row takes (1, 4) windows)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(v, (int, np.integer)) for v in pair):
        return tuple(min(int(v), limit) for v, limit in zip(pair, limits))
    return value  # window_pair names the bad value


def _occlusion(adapter, xs, targets, window, stride, baseline_value, batch_size):
    """Occlusion on each input in turn (the others unchanged): per input, spatial maps broadcast over channels.

    ``window`` and ``stride`` are clipped to each input's image size.
    """
    n = len(xs[0])
    baseline_value = float(baseline_value)
    full = adapter.predict(list(xs), batch_size)
    t = _rows(targets, np.arange(n))
    pick = (lambda s, idx: np.asarray(t(tf.constant(s)))) if callable(t) else (lambda s, idx: s[np.arange(len(s)),
                                                                                                   t[idx]])
    base_scores = pick(full, np.arange(n))
    attributions, n_windows = [], []
    for i, (x, part) in enumerate(zip(xs, adapter.parts)):
        h, w, c = part.image_shape
        win = window_pair("window", _fit(window, (h, w)), (h, w))
        step = window_pair("stride", _fit(stride, (h, w)), (h, w))
        if step[0] > win[0] or step[1] > win[1]:
            raise ValueError("stride: expected at most the window size %s, got %s" % (win, step))
        rows, cols = occlusion_windows((h, w), win, step)
        covered = rows[:, :, None] & cols[:, None, :]  # (P, H, W)
        n_windows.append(len(covered))
        total = np.zeros((n, h, w))
        chunk = adapter.batch_rows(batch_size)
        images = part.to_image(x)
        for k in range(n):
            for start in range(0, len(covered), chunk):
                masks = covered[start:start + chunk]
                occluded = np.where(masks[..., None], np.float32(baseline_value), images[k][None])
                batch = [np.repeat(other[k:k + 1], len(masks), axis=0) for other in xs]
                batch[i] = occluded.reshape((len(masks),) + x.shape[1:])
                scores = pick(adapter.predict(batch, batch_size), np.full(len(masks), k))
                total[k] += np.tensordot(base_scores[k] - scores, masks, axes=1)
        maps = total / np.maximum(covered.sum(axis=0), 1)
        attributions.append(np.repeat(maps[..., None], c, axis=-1).reshape(x.shape).astype(np.float32))
    return attributions, {"signed": True, "n_windows": n_windows}


#: Methods that explain every input of a multi-input model: name -> function(adapter, xs, targets, **params).
MULTI_INPUT_METHODS = {
    "gradient": _gradient,
    "gradient_x_input": _gradient_x_input,
    "integrated_gradients": _integrated_gradients,
    "smoothgrad": _smoothgrad,
    "occlusion": _occlusion,
}


def explain_multi(adapter, inputs, method, targets=None, **params):
    """Explain a multi-input model: one attribution array per input.

    Parameters
    ----------
    adapter : MultiInputAdapter
    inputs : list of array-like
        One batch per model input, same N.
    method : str
        One of :data:`MULTI_INPUT_METHODS` (aliases allowed).
    targets : None, int, array-like of int (N,), or callable
    **params
        The method's parameters.

    Returns
    -------
    MultiInputExplanation

    Raises
    ------
    ValueError
        ``method`` is single-input only.

    Examples
    --------
    >>> exp = explain_multi(as_adapter(siamese), [xa, xb], 'integrated_gradients', steps=32)
    """
    name = method_info(method).name
    fn = MULTI_INPUT_METHODS.get(name)
    if fn is None:
        raise ValueError("method: %r is single-input only; this model has %d inputs. Methods for multi-input "
                         "models: %s" % (name, adapter.n_inputs, ", ".join(sorted(MULTI_INPUT_METHODS))))
    taken = inspect.signature(fn).parameters
    check_params(name, params)
    unsupported = sorted(k for k in params if k not in taken)
    if unsupported:
        raise TypeError("params: %s on a multi-input model does not take %s (it takes %s)"
                        % (name, unsupported, sorted(k for k in taken if k not in ("adapter", "xs", "targets"))))
    check_ranges(name, params)
    full = {k: v for k, v in method_parameters(name).items() if k in taken}  # the single-input defaults
    full.update(params)
    xs, batch_shapes = adapter.prepare(inputs)
    start = time.perf_counter()
    predictions = adapter.predict(list(xs))
    resolved = adapter.resolve_targets(targets, len(xs[0]), predictions)
    attributions, meta = fn(adapter, xs, resolved, **full)
    total = time.perf_counter() - start
    stored = np.full(len(xs[0]), -1, np.int32) if callable(resolved) else resolved
    return MultiInputExplanation(
        name, [a.reshape(shape) for a, shape in zip(attributions, batch_shapes)],
        [x.reshape(shape) for x, shape in zip(xs, batch_shapes)], stored, predictions, adapter.image_shapes,
        params=params, timings={"total": total, "per_sample": total / len(xs[0])}, meta=meta)
