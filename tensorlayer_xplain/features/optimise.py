"""The optimisation loop of feature visualization: one compiled ``tf.while_loop`` per objective structure.

For a batch of images (one row per image; the images of one objective on consecutive rows), the
loop runs ``steps`` Adam updates of the parameters, each step

1. mapping the parameters to images in [0, 1] (:mod:`.parameterization`),
2. applying the step's random transforms (:mod:`.transforms`, the same for every row),
3. mapping [0, 1] to the model's input range and calling the model in inference mode, with the
   objective's layers captured by the adapter (their ``forward`` wrapped only while the loop is
   traced),
4. ascending ``objective - penalties`` (:mod:`.regularizers`) with a hand-written Adam (no optimiser
   state outside the loop), and recording each row's objective value.

The whole loop is one ``tf.function`` traced once per (model, objective structure, batch size, images
per objective, parameterization, transforms, regularizers): a list of objectives of the same
structure (e.g. every channel of a layer) runs in that one graph, their indices, vectors and weights
fed as tensors, in calls of one batch size (the last padded); ``steps``, ``learning_rate`` and
``seed`` are tensors too. Rows are independent (except for
``diversity`` within an objective's images), so a batch gives the images of one-by-one runs.
"""
import time

import numpy as np
import tensorflow as tf

from ..adapter import ModelAdapter, as_adapter
from ..adapter._compile import CompiledStep, concrete
from . import objectives as _objectives
from . import transforms as _transforms
from .parameterization import MAX_SIDE, get_parameterization
from .regularizers import get_regularizers

__all__ = ["feature_visualization", "objective_values", "FeatureVisualization", "MAX_STEPS",
           "MAX_IMAGES_PER_OBJECTIVE"]

#: Bounds of the loop's parameters.
MAX_STEPS = 100_000
MAX_IMAGES_PER_OBJECTIVE = 64
MAX_OBJECTIVES = 10_000
MAX_LEARNING_RATE = 10.0
#: Adam's constants (Kingma & Ba, 2015).
BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


class FeatureVisualization:
    """What :func:`feature_visualization` returns.

    Attributes
    ----------
    images : ndarray, float32, shape (N, H, W, C)
        The optimised images in the model's input range (``value_range``); ``N`` is the number of
        objectives times ``images_per_objective``, objective by objective.
    trace : ndarray, float32, shape (N, steps)
        Each image's objective value at each step, as the model saw it (transformed, before that
        step's update; without the regularizers' penalties).
    values : ndarray, float32, shape (N,)
        The objective value of each final image, untransformed.
    objectives : list of Objective
    objective_index : ndarray of int, shape (N,)
        The position in ``objectives`` of each image's objective.
    params : dict
        ``steps``, ``parameterization``, ``transforms``, ``regularizers``, ``learning_rate``, ``seed``,
        ``images_per_objective``, ``value_range``, ``batch_size`` (rows per compiled call).
    timings : dict
        ``seconds`` (wall time of the whole call) and ``traces`` (compiled loops traced by this call).
    """

    def __init__(self, images, trace, values, objectives, objective_index, params, timings):
        self.images, self.trace, self.values = images, trace, values
        self.objectives, self.objective_index = objectives, objective_index
        self.params, self.timings = params, timings

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return "FeatureVisualization(%d images of %s, %d objectives, %d steps, %s)" % (
            len(self), "x".join(map(str, self.images.shape[1:])), len(self.objectives), self.params["steps"],
            self.params["parameterization"])


def _check_int(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError("%s: expected an int in [%d, %d], got %r" % (name, low, high, value))
    return int(value)


def _check_range(value_range):
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise TypeError("value_range: expected (low, high), got %r" % (value_range,)) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError("value_range: expected finite low < high, got %r" % (value_range,))
    return lo, hi


def _adapter_for(model, image_shape):
    """The model's adapter, with an input shape: the model's own, or ``image_shape`` for models that have none."""
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) == 2:
            image_shape += (1,)
        if len(image_shape) != 3 or not all(1 <= s <= MAX_SIDE for s in image_shape[:2]) or image_shape[2] < 1:
            raise ValueError("image_shape: expected (H, W) or (H, W, C) with sides in [1, %d], got %r"
                             % (MAX_SIDE, image_shape))
    adapter = as_adapter(model, image_shape=image_shape)
    if type(adapter) is not ModelAdapter:  # token ids, several inputs, seq2seq: no image to optimise
        raise TypeError("model: feature visualization optimises one image input; this model takes %s "
                        "(%s)" % ("token ids" if "Token" in type(adapter).__name__ else "several inputs",
                                  type(adapter).__name__))
    if adapter.input_shape is None:
        if image_shape is None:
            raise ValueError("image_shape: the model's input shape is not known (a dynamic model or a plain "
                             "function); pass image_shape=(H, W, C)")
        adapter = as_adapter(model, input_shape=image_shape, image_shape=image_shape)
    h, w, _ = adapter.image_shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError("image_shape: images of %s are outside the supported sides [1, %d]"
                         % (adapter.image_shape, MAX_SIDE))
    return adapter


def _resolve(adapter, objectives):
    """Check the objectives' layers and indices against the model; group them by structure."""
    if len(objectives) > MAX_OBJECTIVES:
        raise ValueError("objective: expected at most %d objectives, got %d" % (MAX_OBJECTIVES, len(objectives)))
    names = list(dict.fromkeys(n for obj in objectives for n in obj.layers()))
    for name in names:
        adapter.layer(name)  # TypeError for a plain function, KeyError naming the unknown layer
    shapes = dict(adapter.layer_call_order()) if names else {}
    n_classes = None
    if any(t.kind == "class_logit" for obj in objectives for _, t in obj.terms):
        if adapter.n_classes is None:  # known once the adapter has predicted
            with adapter.inference_mode():
                adapter.n_classes = int(adapter.scores(adapter._zero_sample()).shape[1])
        n_classes = adapter.n_classes
    return _objectives.resolve(objectives, shapes, n_classes)


def _arg_specs(group, rows=None):
    return [tf.TensorSpec((rows,) + a.shape[1:], tf.as_dtype(a.dtype)) for a in group.args if a is not None]


def _full_args(group, given):
    """The per-term argument list with None for the argument-free terms, from the tensors given."""
    given = list(given)
    return [None if a is None else given.pop(0) for a in group.args]


def _model_values(adapter, group, group_size, layers, images, weights, args):
    """``(B,)`` objective values of images in the model's input shape (graph code, captures the layers)."""
    records = {}
    with adapter._recording(layers, records):
        scores = adapter.scores(images)
    missing = [layer.name for layer in layers if layer.name not in records]
    if missing:
        raise KeyError("layer_name: layers %s were not called in the forward pass" % missing)
    values = _objectives.term_values(group.structure, args, records, scores, group_size)
    return tf.reduce_sum(values * weights, axis=1)


def _loop_step(adapter, group, group_size, rows, param, transforms, regularizers, value_range):
    """The compiled optimisation loop of one objective structure and batch size ``rows`` (cached on the adapter).

    The batch size is static in the trace: on a small model, an open batch dimension made every step
    about 1.6 times slower (TensorFlow's kernels and graph passes specialise on known shapes).
    """
    key = ("feature_visualization", group.structure, group_size, rows, param.key(),
           tuple(t.key() for t in transforms), tuple(r.key() for r in regularizers), value_range)
    step = adapter._functions.get(key)
    if step is not None:
        return step
    h, w, c = adapter.image_shape
    lo, hi = value_range
    layers = [adapter.layer(name) for name in dict.fromkeys(s[1] for s in group.structure if s[1] is not None)]
    model_shape = (-1,) + tuple(adapter.input_shape)

    def objective_and_penalty(p, weights, args, seed, i):
        images = param.to_image(p, h, w, c)
        seen = _transforms.apply(transforms, images, seed, i, (h, w))
        x = tf.reshape(lo + (hi - lo) * seen, model_shape)
        obj = _model_values(adapter, group, group_size, layers, x, weights, args)
        penalty = tf.add_n([r(images) for r in regularizers]) if regularizers else tf.zeros_like(obj)
        return obj, penalty

    def run(p0, weights, steps, learning_rate, seed, *given):
        args = _full_args(group, given)

        def body(i, p, m, v, trace):
            with tf.GradientTape() as tape:
                tape.watch(p)
                obj, penalty = objective_and_penalty(p, weights, args, seed, i)
                loss = tf.reduce_sum(penalty) - tf.reduce_sum(obj)
            g = tape.gradient(loss, p)
            t = tf.cast(i + 1, tf.float32)
            m = BETA1 * m + (1.0 - BETA1) * g
            v = BETA2 * v + (1.0 - BETA2) * tf.square(g)
            update = (m / (1.0 - BETA1 ** t)) / (tf.sqrt(v / (1.0 - BETA2 ** t)) + EPSILON)
            return i + 1, p - learning_rate * update, m, v, trace.write(i, obj)

        trace = tf.TensorArray(tf.float32, size=steps, element_shape=tf.TensorShape([None]))
        zeros = tf.zeros_like(p0)
        _, p, _, _, trace = tf.while_loop(lambda i, *_: i < steps, body,
                                          (tf.constant(0), p0, zeros, zeros, trace))
        images = param.to_image(p, h, w, c)
        final = _model_values(adapter, group, group_size, layers, tf.reshape(lo + (hi - lo) * images, model_shape),
                              weights, args)
        return images, tf.transpose(trace.stack()), final

    n_terms = len(group.structure)
    signature = [tf.TensorSpec((rows,) + tuple(param.param_shape(h, w, c)), tf.float32),
                 tf.TensorSpec((rows, n_terms), tf.float32), tf.TensorSpec((), tf.int32),
                 tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.int32)] + _arg_specs(group, rows)
    step = adapter._functions[key] = CompiledStep(run, signature)
    return step


def _rows(group, members, group_size):
    """Per-row weights and arguments of the objectives ``members`` (indices into the group), each repeated."""
    weights = np.repeat(group.weights[members], group_size, axis=0)
    args = [np.repeat(a[members], group_size, axis=0) for a in group.args if a is not None]
    return weights, args


def feature_visualization(model, objective, steps=256, parameterization="fourier", transforms="standard",
                          regularizers=None, learning_rate=0.05, seed=0, batch_size=None, image_shape=None,
                          images_per_objective=1, value_range=(0.0, 1.0)):
    """Images that maximise an objective: activation maximization with a compiled, seeded loop.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
        A callable has no layers: only ``class_logit`` objectives apply to it.
    objective : Objective or list of Objective
        From :mod:`tensorlayer_xplain.objectives`. A list gives one image per objective (times
        ``images_per_objective``), optimised in one batch: ``[channel('conv1', c) for c in range(16)]``.
    steps : int
        Adam updates, in [1, 100000].
    parameterization : {'fourier', 'pixels', 'maco'} or Parameterization
        See :mod:`tensorlayer_xplain.features.parameterization`.
    transforms : 'standard', 'none', None or list of Transform
        Transformation robustness (:mod:`tensorlayer_xplain.features.transforms`), seeded.
    regularizers : None, dict or list of Regularizer
        Penalties on the image, e.g. ``{'l1': 0.05, 'tv': 0.25}``
        (:mod:`tensorlayer_xplain.features.regularizers`).
    learning_rate : float
        Adam's step size, in (0, 10].
    seed : int
        Seeds the random start of each image (by its copy number within its objective, so an
        objective's images do not depend on the other objectives of the list) and the transforms.
        Same seed, same images.
    batch_size : int, optional
        Most images per compiled call (defaults to the adapter's, capped by its byte budget
        for a backward pass); whole objectives are kept together.
    image_shape : tuple, optional
        ``(H, W, C)`` of the images, for models whose input shape is not known (dynamic models,
        plain functions) or that take flat vectors (784 -> (28, 28, 1) is guessed).
    images_per_objective : int
        Images per objective, in [1, 64], each from its own random start (with ``diversity``
        terms, they push each other apart).
    value_range : (float, float)
        The model's input range; the package's convention (and TensorLayer's MNIST loader and
        VGG16) is [0, 1].

    Returns
    -------
    FeatureVisualization
        ``images`` ``(N, H, W, C)`` in ``value_range``, ``trace`` ``(N, steps)``, ``values`` ``(N,)``.

    Raises
    ------
    TypeError, KeyError, ValueError
        A bad objective, an unknown layer (``KeyError`` listing the layers), an objective on a layer
        without channels, or a parameter out of its range.

    Examples
    --------
    >>> from tensorlayer_xplain import objectives
    >>> res = tlxp.feature_visualization(model, [objectives.class_logit(k) for k in range(4)],
    ...                                  steps=4, parameterization='pixels')
    >>> res.images.shape, res.trace.shape
    ((4, 28, 28, 1), (4, 4))
    """
    start = time.perf_counter()
    objectives, _ = _objectives.as_objective_list(objective)
    steps = _check_int(steps, "steps", 1, MAX_STEPS)
    seed = _check_int(seed, "seed", 0, 2 ** 31 - 1)
    k = _check_int(images_per_objective, "images_per_objective", 1, MAX_IMAGES_PER_OBJECTIVE)
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1, 1 << 20)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(learning_rate) <= MAX_LEARNING_RATE:
        raise ValueError("learning_rate: expected a number in (0, %g], got %r" % (MAX_LEARNING_RATE, learning_rate))
    value_range = _check_range(value_range)
    param = get_parameterization(parameterization)
    adapter = _adapter_for(model, image_shape)
    h, w, c = adapter.image_shape
    transform_list = _transforms.get_transforms(transforms, min(h, w))
    regularizer_list = get_regularizers(regularizers)
    groups = _resolve(adapter, objectives)
    traces_before = adapter.trace_count
    rows = adapter.batch_rows(batch_size, backward=True)
    per_call = max(1, rows // k)

    n = len(objectives) * k
    images = np.zeros((n, h, w, c), np.float32)
    trace = np.zeros((n, steps), np.float32)
    values = np.zeros((n,), np.float32)
    starts = [param.init(np.random.default_rng([seed, copy]), h, w, c) for copy in range(k)]
    for group in groups:
        # every call of a group has the same batch size (the last one padded with copies of its last
        # objective, whose images are dropped): one trace per group
        chunk = min(per_call, len(group.positions))
        step = _loop_step(adapter, group, k, chunk * k, param, transform_list, regularizer_list, value_range)
        for first in range(0, len(group.positions), chunk):
            members = np.arange(first, min(first + chunk, len(group.positions)))
            padded = np.concatenate([members, np.repeat(members[-1:], chunk - len(members))])
            weights, args = _rows(group, padded, k)
            p0 = np.stack([starts[copy] for _ in padded for copy in range(k)])
            with adapter.inference_mode():
                out = concrete(step)(tf.constant(p0), tf.constant(weights), tf.constant(steps, tf.int32),
                                     tf.constant(float(learning_rate), tf.float32), tf.constant(seed, tf.int32),
                                     *[tf.constant(a) for a in args])
            where = np.concatenate([np.arange(k) + group.positions[m] * k for m in members])
            images[where], trace[where], values[where] = (o.numpy()[:len(where)] for o in out)
    lo, hi = value_range
    params = {"steps": steps, "parameterization": param.name, "transforms": [repr(t) for t in transform_list],
              "regularizers": [repr(r) for r in regularizer_list], "learning_rate": float(learning_rate),
              "seed": seed, "images_per_objective": k, "value_range": value_range, "batch_size": per_call * k}
    timings = {"seconds": time.perf_counter() - start, "traces": adapter.trace_count - traces_before}
    return FeatureVisualization(lo + (hi - lo) * images, trace, values, objectives,
                                np.repeat(np.arange(len(objectives)), k), params, timings)


def _evaluator(adapter, group):
    """``f(x, weights, *args) -> (B,)``: the group's objective values of model inputs (graph code)."""
    layers = [adapter.layer(name) for name in dict.fromkeys(s[1] for s in group.structure if s[1] is not None)]

    def evaluate(x, weights, *given):
        return _model_values(adapter, group, 1, layers, x, weights, _full_args(group, given))

    return evaluate


def objective_values(model, objective, inputs, batch_size=None, image_shape=None):
    """The value of each objective on each input (untransformed), e.g. to compare optimised images with data.

    ``diversity`` terms are 0 here (they compare images optimised together).

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    objective : Objective or list of Objective
    inputs : ndarray (N, ...)
        In the model's input shape or as images.
    batch_size : int, optional
    image_shape : tuple, optional
        As in :func:`feature_visualization`.

    Returns
    -------
    ndarray, float32
        ``(N,)`` for one objective, ``(n_objectives, N)`` for a list.

    Examples
    --------
    >>> from tensorlayer_xplain import objectives
    >>> objective_values(model, objectives.class_logit(3), x).shape
    (4,)
    """
    objectives, single = _objectives.as_objective_list(objective)
    adapter = _adapter_for(model, image_shape)
    x, _ = adapter.prepare(inputs)
    out = np.zeros((len(objectives), len(x)), np.float32)
    for group in _resolve(adapter, objectives):
        specs = [tf.TensorSpec((None, len(group.structure)), tf.float32)] + _arg_specs(group)
        step = adapter.compiled(("objective_values", group.structure), _evaluator(adapter, group), extra_dtypes=specs)
        for row, pos in enumerate(group.positions):
            weights, args = _rows(group, np.array([row]), len(x))

            def run(xb, wb, *ab, _step=step):
                return concrete(_step)(tf.constant(xb), tf.constant(wb), *[tf.constant(a) for a in ab]).numpy()

            with adapter.inference_mode():
                out[pos] = adapter.map_batches(run, x, weights, *args,
                                               batch_size=adapter.batch_rows(batch_size))
    return out[0] if single else out
