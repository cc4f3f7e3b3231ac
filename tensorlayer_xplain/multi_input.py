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
import tensorlayer as tl

from .adapter import ModelAdapter, _describe, image_shape_for
from .explanation import Explanation
from .methods._baselines import make_baseline
from .methods._checks import non_negative, positive_int, seed_value, window_pair
from .methods.gradients import trapezoid_alphas
from .methods.perturbation import occlusion_windows
from .methods.registry import check_params, check_ranges, method_info, method_parameters

__all__ = ["MultiInputAdapter", "MultiInputExplanation", "input_count", "explain_multi", "MULTI_INPUT_METHODS"]


def input_count(model):
    """Number of inputs a TL static or Keras model declares (1 for anything else)."""
    if isinstance(model, tl.models.Model):
        inputs = model._inputs
        return len(inputs) if isinstance(inputs, (list, tuple)) else 1
    if isinstance(model, tf.keras.Model):
        try:
            return len(model.inputs) if model.inputs is not None else 1
        except (AttributeError, ValueError):
            return 1
    return 1


def _declared_shapes(model):
    if isinstance(model, tl.models.Model):
        return [tuple(int(s) for s in t.shape[1:]) for t in model._inputs]
    return [tuple(int(s) for s in t.shape[1:]) for t in model.inputs]


def _identity(x):
    return x


class MultiInputAdapter(ModelAdapter):
    """A :class:`ModelAdapter` for a model taking a list of inputs with a shared batch dimension.

    Parameters
    ----------
    model : tl.models.Model or keras.Model
        Called as ``model([xa, xb, ...])``.
    input_shapes : sequence of tuple of int, optional
        Shape of one sample of each input; read from TL static and Keras models.
    image_shapes : sequence of tuple, optional
        ``(H, W, C)`` per input for heatmaps (guessed from each input shape).
    output, batch_size, max_batch_bytes
        As :class:`ModelAdapter`.

    Examples
    --------
    >>> a, b = tl.layers.Input((None, 8, 8, 1)), tl.layers.Input((None, 8, 8, 1))
    >>> adapter = MultiInputAdapter(siamese)
    >>> adapter.predict([xa, xb]).shape
    (4, 2)
    """

    def __init__(self, model, input_shapes=None, image_shapes=None, output="logits", batch_size=256,
                 max_batch_bytes=None):
        options = {} if max_batch_bytes is None else {"max_batch_bytes": max_batch_bytes}
        super().__init__(model, output=output, batch_size=batch_size, **options)
        if self.kind == "callable":
            raise TypeError("model: a multi-input model must be a TL or Keras model (called with a list), got %s"
                            % _describe(model))
        if input_shapes is None:
            if input_count(model) < 2:
                raise ValueError("input_shapes: the model does not declare several inputs; pass one shape per input")
            input_shapes = _declared_shapes(model)
        self.input_shapes = [tuple(int(s) for s in shape) for shape in input_shapes]
        if image_shapes is None:
            image_shapes = [None] * len(self.input_shapes)
        if len(image_shapes) != len(self.input_shapes):
            raise ValueError("image_shapes: expected one per input (%d), got %d"
                             % (len(self.input_shapes), len(image_shapes)))
        # one shape checker per input: validation, image reshaping and baselines as for a single input
        self.parts = [ModelAdapter(_identity, input_shape=shape, image_shape=image)
                      for shape, image in zip(self.input_shapes, image_shapes)]

    def _infer_input_shape(self):
        return None

    @property
    def n_inputs(self):
        """Number of model inputs."""
        return len(self.input_shapes)

    @property
    def image_shapes(self):
        """``(H, W, C)`` of each input."""
        return [part.image_shape for part in self.parts]

    @property
    def image_shape(self):
        return None

    def prepare(self, inputs, name="inputs"):
        """Validate a list of batches (one per input, same N).

        Returns
        -------
        xs : tuple of ndarray, float32, each (N, *input_shapes[i])
        batch_shapes : tuple of tuple
            The shapes the caller used, per input.
        """
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)) or len(inputs) != self.n_inputs:
            raise TypeError("%s: this model takes %d inputs; expected a list of %d arrays [x0, x1, ...], got %s"
                            % (name, self.n_inputs, self.n_inputs, _describe(inputs)))
        prepared = [part.prepare(x, name="%s[%d]" % (name, i)) for i, (part, x) in enumerate(zip(self.parts, inputs))]
        sizes = [len(x) for x, _ in prepared]
        if len(set(sizes)) != 1:
            raise ValueError("%s: expected the same number of samples in every input, got %s" % (name, sizes))
        return tuple(x for x, _ in prepared), tuple(shape for _, shape in prepared)

    # ------------------------------------------------------------------ calls
    def scores(self, x):
        return super().scores(list(x))

    def predict(self, inputs, batch_size=None):
        """Scores ``(N, K)`` of a list of input batches."""
        xs, _ = self.prepare(inputs)
        step = self.compiled("predict", self.scores)
        with self.inference_mode():
            out = self.map_batches(lambda *b: step(tuple(tf.constant(v) for v in b)).numpy(), *xs,
                                   batch_size=self.batch_rows(batch_size))
        self.n_classes = out.shape[1]
        return out

    def input_gradients(self, xs, targets, batch_size=None):
        """d score[target] / d each input, and the selected scores.

        Parameters
        ----------
        xs : tuple of ndarray, each (N, *input_shapes[i])
        targets : ndarray of int (N,) or callable

        Returns
        -------
        grads : tuple of ndarray, one per input
        selected : ndarray (N,)
        """
        fn_targets = callable(targets)
        t = np.zeros(len(xs[0]), np.int32) if fn_targets else np.asarray(targets, np.int32)

        def step(xb, tb):
            with tf.GradientTape() as tape:
                tape.watch(xb)
                selected = self.select(self.scores(xb), targets if fn_targets else tb)
            grads = tape.gradient(selected, list(xb))
            if any(g is None for g in grads):
                missing = [i for i, g in enumerate(grads) if g is None]
                raise TypeError("model: the output is not differentiable with respect to inputs %s" % missing)
            return tuple(grads) + (selected,)

        compiled = self.compiled(("multi_gradients", self._target_key(targets)), step, n_extra=1)

        def run(*b):
            out = compiled(tuple(tf.constant(v) for v in b[:-1]), tf.constant(b[-1]))
            return tuple(v.numpy() for v in out)

        with self.inference_mode():
            out = self.map_batches(run, *xs, t, batch_size=self.batch_rows(batch_size, backward=True))
        return out[:-1], out[-1]

    # ------------------------------------------------------------------ memory
    def _input_bytes(self):
        return sum(4 * int(np.prod(shape)) for shape in self.input_shapes)

    def _zero_sample(self):
        return [tf.zeros((1,) + shape, tf.float32) for shape in self.input_shapes]

    def _input_specs(self):
        # one argument: the tuple of input batches
        return [tuple(tf.TensorSpec((None,) + shape, tf.float32) for shape in self.input_shapes)]


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


# ============================================================================ result
class MultiInputExplanation(Explanation):
    """An :class:`Explanation` with one attribution array per model input.

    ``attributions`` and ``inputs`` are lists (input ``i`` in the shape the
    caller gave it); ``image_shapes`` lists each input's ``(H, W, C)``;
    ``heatmap(input=i)`` and ``images(input=i)`` draw input ``i``. It is not an
    array: ``np.asarray(exp)`` raises (pick ``exp.attributions[i]``), and it is
    not saved to ``.npz`` (:meth:`save` raises).

    Parameters
    ----------
    method : str
        The registered method that produced it.
    attributions : list of ndarray
        One array per model input, ``(N, *input_shape_i)``.
    inputs : list of ndarray
        The explained inputs, one array per model input.
    targets : ndarray of int, shape (N,)
        The explained class per sample.
    predictions : ndarray, shape (N, K)
        The model's scores.
    image_shapes : list of tuple of int
        ``(H, W, C)`` in which each input is drawn.
    params, timings, meta : dict, optional
        As for :class:`Explanation`.

    Examples
    --------
    >>> exp = tlxp.explain(siamese, [xa, xb], 'gradient')
    >>> [a.shape for a in exp.attributions]
    [(4, 28, 28, 1), (4, 28, 28, 1)]
    >>> exp.heatmap(input=1).shape
    (4, 28, 28)
    """

    def __init__(self, method, attributions, inputs, targets, predictions, image_shapes, params=None,
                 timings=None, meta=None):
        self.method = str(method)
        self.attributions = [np.asarray(a) for a in attributions]
        self.inputs = [np.asarray(x) for x in inputs]
        self.targets = np.asarray(targets)
        self.predictions = np.asarray(predictions)
        self.image_shapes = [tuple(int(s) for s in shape) for shape in image_shapes]
        self.image_shape = self.image_shapes[0]
        self.params = dict(params or {})
        self.timings = dict(timings or {})
        self.meta = dict(meta or {})
        for i, (a, x) in enumerate(zip(self.attributions, self.inputs)):
            if a.shape != x.shape:
                raise ValueError("attributions[%d]: expected the shape of inputs[%d] %s, got %s"
                                 % (i, i, x.shape, a.shape))

    @property
    def n_inputs(self):
        return len(self.attributions)

    def _check_input(self, input):
        if not isinstance(input, (int, np.integer)) or isinstance(input, bool) or not 0 <= input < self.n_inputs:
            raise ValueError("input: expected an input index 0..%d, got %r" % (self.n_inputs - 1, input))
        return int(input)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("this Explanation holds %d attribution arrays (one per model input); use "
                        "exp.attributions[i]" % self.n_inputs)

    @property
    def shape(self):
        """Shapes of the attribution arrays, one per input."""
        return [a.shape for a in self.attributions]

    def __len__(self):
        return len(self.targets)

    def heatmap(self, reduce="sum", input=0):
        """Attributions of input ``input`` as images, channels reduced: (N, H, W)."""
        i = self._check_input(input)
        single = Explanation(self.method, self.attributions[i], self.inputs[i], self.targets, self.predictions,
                             self.image_shapes[i])
        return single.heatmap(reduce)

    def images(self, input=0):
        """Input ``input`` as images, shape (N, H, W, C)."""
        i = self._check_input(input)
        return self.inputs[i].reshape((len(self),) + self.image_shapes[i])

    def save(self, path):
        raise TypeError("save: explanations of multi-input models are not written to .npz; save "
                        "exp.attributions[i] yourself")

    def __repr__(self):
        return "MultiInputExplanation(method=%r, n=%d, inputs=%d, shapes=%s)" % (
            self.method, len(self), self.n_inputs, [a.shape[1:] for a in self.attributions])


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
