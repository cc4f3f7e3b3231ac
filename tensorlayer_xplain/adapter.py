"""One way to call any model: TensorLayer static/dynamic, Keras, or a plain callable.

Methods never touch a model directly; they go through a :class:`ModelAdapter`,
which

* validates and reshapes inputs (a flat-784 MLP accepts 28x28x1 images and back),
* runs the model in inference mode and restores the caller's train/eval flags,
* batches every call (``batch_size``), halving the batch on out-of-memory,
* compiles each gradient/capture step once with ``tf.function`` (no retracing
  for new batch sizes: the batch dimension is left open in the signature),
* finds layers by name, also nested ones, and captures their outputs (and the
  gradients of the target with respect to them) by wrapping the layer's
  ``forward`` for the duration of the trace only.

The model object is never left changed: every patched attribute and every
train/eval flag is restored in ``finally`` blocks.
"""
import contextlib
import math
import threading
import warnings
from collections import namedtuple

import numpy as np
import tensorflow as tf
import tensorlayer as tl

from . import _deadline
from ._compile import CompiledStep
from .pixels import warn_unscaled

__all__ = ["ModelAdapter", "as_adapter", "CaptureResult", "OUTPUT_KINDS", "PREDICTED", "DEFAULT_MAX_BATCH_BYTES"]

#: Allowed values of ``output``: the raw model output, or its softmax.
OUTPUT_KINDS = ("logits", "probabilities")

#: Default ``max_batch_bytes``: estimated bytes of the samples in flight in one model call.
DEFAULT_MAX_BATCH_BYTES = 1 << 30
#: A backward pass keeps every activation and adds its gradient: twice the forward estimate.
BACKWARD_FACTOR = 2
#: A plain callable has no layers to measure: its activations are taken as this many times its input.
CALLABLE_ACTIVATION_FACTOR = 32

CaptureResult = namedtuple("CaptureResult", ["outputs", "gradients", "scores", "combined"], defaults=(None,))
CaptureResult.__doc__ = """What :meth:`ModelAdapter.capture` returns.

outputs : dict of str -> ndarray
    Each requested layer's output for the whole batch.
gradients : dict of str -> ndarray or None
    d score[target] / d layer output, same shapes as ``outputs`` (None unless asked).
scores : ndarray, shape (N, K)
    The model's scores (logits or probabilities, as the adapter's ``output``).
combined : ndarray or None
    What ``capture(..., combine=fn)`` computed from the outputs and gradients in the graph.
"""

_MISSING = object()
_SEVERAL_INPUTS = ("model: this model has %d inputs; use tlxp.as_adapter(model) (or tlxp.explain / ModelExplainer, "
                   "which call it), which returns a MultiInputAdapter, or tlxp.MultiInputAdapter(model)")


class _PredictedClass:
    """The type of :data:`PREDICTED`."""

    def __repr__(self):
        return "PREDICTED"


#: Target marker: explain each input's predicted class, found inside the compiled step from the same
#: forward pass that is differentiated (no separate prediction pass). ``resolve_targets(PREDICTED, n)``
#: gives ``-1`` per row, and :meth:`ModelAdapter.select` picks the arg-max score for negative rows.
PREDICTED = _PredictedClass()


def _describe(value):
    """Short description of a value for error messages."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return "%s of shape %s and dtype %s" % (type(value).__name__, tuple(value.shape), value.dtype)
    return "%s %r" % (type(value).__name__, value) if np.isscalar(value) else type(value).__name__


def image_shape_for(input_shape):
    """Guess how a per-sample input shape is drawn as an image (H, W, C).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample, without the batch dimension.

    Returns
    -------
    tuple of int
        ``(H, W, C)``: images as they are, a square vector as a square gray image
        (784 -> 28x28x1), three square planes as RGB, anything else as one row.

    Examples
    --------
    >>> image_shape_for((784,))
    (28, 28, 1)
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return shape + (1,)
    if len(shape) == 1:
        n = shape[0]
        side = math.isqrt(n)
        if side * side == n:
            return (side, side, 1)
        side = math.isqrt(n // 3)
        if n % 3 == 0 and side * side * 3 == n:
            return (side, side, 3)
        return (1, n, 1)
    raise ValueError("input_shape: expected 1 to 3 dimensions per sample, got %s" % (shape,))


def _walk_tl(obj, seen):
    """Yield the TL layers and sub-models under ``obj`` (depth first, definition order)."""
    children = []
    if isinstance(obj, tl.models.Model):
        children = list(obj.all_layers)
    elif isinstance(obj, tl.layers.ModelLayer):
        children = list(obj.model.all_layers)
    elif isinstance(obj, tl.layers.LayerList):
        children = list(obj.layers)
    if isinstance(obj, tl.layers.Layer) and not isinstance(obj, (tl.layers.LayerList, tl.layers.ModelLayer)):
        # custom layers may hold sub-layers as attributes (e.g. an attention block)
        for value in vars(obj).values():
            if isinstance(value, (tl.layers.Layer, tl.models.Model)):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, (tl.layers.Layer, tl.models.Model)))
    for child in children:
        if id(child) in seen:
            continue
        seen.add(id(child))
        yield child
        yield from _walk_tl(child, seen)


def _is_container(layer):
    """A layer that only groups other layers (its output is also a child's output)."""
    if isinstance(layer, (tl.layers.LayerList, tl.layers.ModelLayer, tl.models.Model)):
        return True
    return bool(getattr(layer, "layers", None)) and not isinstance(layer, tl.layers.Layer)


def _walk_keras(obj, seen):
    for child in getattr(obj, "layers", []) or []:
        if id(child) in seen:
            continue
        seen.add(id(child))
        yield child
        yield from _walk_keras(child, seen)


@contextlib.contextmanager
def temporarily_set(obj, attr, value):
    """Set ``obj.attr = value`` for the duration of a ``with`` block, then restore it exactly.

    An attribute that lived only on the class is deleted from the instance
    afterwards, so the object is left byte-for-byte as it was.
    """
    had = attr in vars(obj)
    old = vars(obj).get(attr, _MISSING)
    object.__setattr__(obj, attr, value)
    try:
        yield
    finally:
        if had:
            object.__setattr__(obj, attr, old)
        else:
            object.__delattr__(obj, attr)


class ModelAdapter:
    """Call a TensorLayer, Keras or plain-callable model the same way.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or callable
        A TL static or dynamic model, a Keras model, or a function mapping a
        batch ``(N, *input_shape)`` to scores ``(N, K)``.
    input_shape : tuple of int, optional
        Shape of one sample as the model takes it. Read from static TL and built
        Keras models; otherwise taken from the first batch seen.
    image_shape : tuple of int, optional
        ``(H, W, C)`` used to draw inputs and heatmaps; guessed from
        ``input_shape`` (784 -> 28x28x1) when not given.
    output : {'logits', 'probabilities'}
        What is explained: the raw model output, or its softmax (applied here,
        on top of the raw output, only when asked).
    batch_size : int
        Largest batch sent to the model at once (an upper bound); halved on out-of-memory.
    max_batch_bytes : int
        Memory budget of one model call: the rows in flight are capped so that
        their estimated bytes (:meth:`sample_bytes`) stay within it. A 224x224
        VGG16 (about 62 MB of activations per sample) gets 17 rows forward and
        8 with gradients at the default (1 GiB).
    strategy : tf.distribute.Strategy, optional
        Compiled steps split each batch across its replicas (see
        :mod:`tensorlayer_xplain._distribute`).

    Examples
    --------
    >>> adapter = ModelAdapter(tl_mlp)                      # doctest: +SKIP
    >>> adapter.predict(x_test[:5]).shape                    # doctest: +SKIP
    (5, 10)
    >>> adapter.gradients(x_test[:5], targets=[7, 2, 1, 0, 4]).shape  # doctest: +SKIP
    (5, 784)
    """

    def __init__(self, model, input_shape=None, image_shape=None, output="logits", batch_size=256,
                 max_batch_bytes=DEFAULT_MAX_BATCH_BYTES, strategy=None):
        if isinstance(model, tl.models.Model):
            self.kind = "tl_static" if model._inputs is not None else "tl_dynamic"
        elif isinstance(model, tf.keras.Model):
            self.kind = "keras"
        elif callable(model):
            self.kind = "callable"
        else:
            raise TypeError(
                "model: expected a TensorLayer Model, a Keras model or a callable mapping a batch "
                "to scores, got %s" % _describe(model)
            )
        if output not in OUTPUT_KINDS:
            raise ValueError("output: expected one of %s, got %r" % (OUTPUT_KINDS, output))
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError("batch_size: expected a positive int, got %s" % _describe(batch_size))
        if (not isinstance(max_batch_bytes, (int, np.integer)) or isinstance(max_batch_bytes, bool)
                or max_batch_bytes < 1):
            raise ValueError("max_batch_bytes: expected a positive int (bytes), got %s" % _describe(max_batch_bytes))
        self.model = model
        self.output = output
        self.batch_size = int(batch_size)
        self.strategy = strategy
        self.max_batch_bytes = int(max_batch_bytes)
        self._sample_bytes = None
        self._lock = threading.RLock()
        self._functions = {}
        self._call_order = None
        self._layers = None
        self.n_classes = None
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else self._infer_input_shape()
        if image_shape is not None:
            image_shape = tuple(int(s) for s in image_shape)
            if len(image_shape) == 2:
                image_shape = image_shape + (1,)
            if len(image_shape) != 3:
                raise ValueError("image_shape: expected (H, W) or (H, W, C), got %s" % (image_shape,))
            if self.input_shape is not None and np.prod(image_shape) != np.prod(self.input_shape):
                raise ValueError(
                    "image_shape: %s holds %d values but the model's input shape %s holds %d"
                    % (image_shape, np.prod(image_shape), self.input_shape, np.prod(self.input_shape))
                )
        self._image_shape = image_shape

    # ------------------------------------------------------------------ shapes
    def _infer_input_shape(self):
        if self.kind == "tl_static":
            if isinstance(self.model._inputs, (list, tuple)):
                raise TypeError(_SEVERAL_INPUTS % len(self.model._inputs))
            return tuple(int(s) for s in self.model._inputs.shape[1:])
        if self.kind == "keras":
            try:
                shape = self.model.input_shape
            except (AttributeError, ValueError):
                return None
            if isinstance(shape, list) and len(shape) > 1:
                raise TypeError(_SEVERAL_INPUTS % len(shape))
            if isinstance(shape, list) or any(s is None for s in shape[1:]):
                return None
            return tuple(int(s) for s in shape[1:])
        return None

    @property
    def image_shape(self):
        """``(H, W, C)`` in which inputs and heatmaps are drawn (None until the input shape is known)."""
        if self._image_shape is not None:
            return self._image_shape
        return image_shape_for(self.input_shape) if self.input_shape is not None else None

    def _expected(self):
        text = "(N, %s)" % ", ".join(map(str, self.input_shape))
        if self.image_shape != self.input_shape:
            text += " or images (N, %s)" % ", ".join(map(str, self.image_shape))
        return text

    def prepare(self, inputs, name="inputs"):
        """Validate a batch and bring it to the model's input shape.

        Parameters
        ----------
        inputs : array-like or tf.Tensor
            ``(N, *input_shape)``, ``(N, *image_shape)``, ``(N, H, W)`` for gray
            images, or a single sample without the batch dimension.
        name : str
            Argument name used in error messages.

        Returns
        -------
        x : ndarray, float32, shape (N, *input_shape)
        batch_shape : tuple
            The shape the caller used, with a batch dimension; attributions are
            returned in this shape.

        Raises
        ------
        TypeError
            Non-numeric data.
        ValueError
            Wrong shape, empty batch, NaN or inf.
        """
        if isinstance(inputs, tf.Tensor):
            inputs = inputs.numpy()
        try:
            x = np.asarray(inputs)
        except (ValueError, TypeError) as err:
            raise TypeError("%s: expected a numeric array, got %s (%s)" % (name, _describe(inputs), err)) from None
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError("%s: expected a numeric array, got %s" % (name, _describe(x)))
        warn_unscaled(x, name)  # 0-255 integers: explained as given, with a one-time hint to scale
        if self.input_shape is None:
            if x.ndim < 2:
                raise ValueError(
                    "%s: expected a batch (N, ...) with at least 2 dimensions, got shape %s" % (name, x.shape)
                )
            self.input_shape = tuple(int(s) for s in x.shape[1:])
        sample_shapes = {self.input_shape, self.image_shape}
        if self.image_shape[-1] == 1:
            sample_shapes.add(self.image_shape[:-1])
        if tuple(x.shape[1:]) in sample_shapes:
            batch_shape = tuple(x.shape)
        elif tuple(x.shape) in sample_shapes:
            batch_shape = (1,) + tuple(x.shape)
        else:
            raise ValueError(
                "%s: expected shape %s for this model, got shape %s" % (name, self._expected(), tuple(x.shape))
            )
        if batch_shape[0] == 0:
            raise ValueError("%s: expected at least one sample, got an empty batch of shape %s" % (name, x.shape))
        x = x.astype(np.float32, copy=False).reshape((batch_shape[0],) + self.input_shape)
        finite = np.isfinite(x)
        if not finite.all():
            bad = np.argwhere(~finite)
            raise ValueError(
                "%s: expected finite values, got %d NaN/inf entries (first at index %s)"
                % (name, len(bad), tuple(int(i) for i in bad[0]))
            )
        return x, batch_shape

    def to_image(self, array):
        """Reshape ``(N, *input_shape)`` data to ``(N, H, W, C)`` images."""
        array = np.asarray(array)
        return array.reshape((array.shape[0],) + tuple(self.image_shape))

    # ------------------------------------------------------------------ modes
    def _mode_holders(self):
        if self.kind not in ("tl_static", "tl_dynamic"):
            return []
        return [self.model] + self.iter_layers()

    @contextlib.contextmanager
    def inference_mode(self):
        """Run the block with the model in eval mode; restore every layer's flag afterwards.

        Also serializes model calls across threads (mode flags are shared state).
        """
        with self._lock:
            holders = self._mode_holders()
            saved = [(obj, vars(obj).get("is_train", _MISSING)) for obj in holders]
            try:
                if holders:
                    self.model.is_train = None  # force eval() to reset every layer
                    self.model.eval()
                yield
            finally:
                for obj, flag in saved:
                    if flag is _MISSING:
                        vars(obj).pop("is_train", None)
                    else:
                        obj.is_train = flag

    # ------------------------------------------------------------------ calls
    def _raw_call(self, x):
        if self.kind in ("tl_static", "tl_dynamic"):
            out = self.model(x)
        elif self.kind == "keras":
            out = self.model(x, training=False)
        else:
            out = self.model(x)
        if isinstance(out, (list, tuple)):
            raise TypeError("model: expected a single output tensor (N, K), got %d outputs" % len(out))
        return out

    def scores(self, x):
        """Differentiable scores ``(N, K)`` of a batch tensor: logits or probabilities.

        For use inside a ``GradientTape`` or a compiled step (see :meth:`compiled`);
        call inside :meth:`inference_mode`.
        """
        out = tf.convert_to_tensor(self._raw_call(x))
        out = tf.reshape(tf.cast(out, tf.float32), (tf.shape(out)[0], -1))
        if self.output == "probabilities":
            out = tf.nn.softmax(out, axis=-1)
        return out

    def compiled(self, key, python_function, n_extra=0, extra_dtypes=None, rows=None):
        """Return a ``tf.function`` of ``python_function``, traced once per adapter and key.

        The signature is ``(x, *extra)`` with ``x`` of shape ``(None, *input_shape)``
        float32 and ``extra`` tensors with an open leading dimension, so new batch
        sizes do not retrace. Plain callables run eagerly (they may not be traceable);
        a model that cannot be traced runs eagerly too, after one
        :class:`~tensorlayer_xplain._compile.CompileWarning` naming the layer that failed.

        Parameters
        ----------
        key : hashable
            Identifies the step; one trace per key.
        python_function : callable
            ``f(x, *extra) -> tensors``; may patch layers while it runs (the patch
            is then baked into the trace and the model is restored right after).
        n_extra : int
            Number of extra arguments (int32 vectors ``(None,)`` unless
            ``extra_dtypes`` says otherwise).
        rows : sequence of int, optional
            Positions of the arguments with one row per sample (``x`` is 0): with a
            ``strategy``, those are split across its replicas and the outputs
            concatenated (:class:`~tensorlayer_xplain._distribute.ReplicatedStep`).
            Steps that do not say run on one device.
        """
        if self.kind == "callable":
            return python_function
        fn = self._functions.get(key)
        if fn is None:
            dtypes = extra_dtypes or [tf.int32] * n_extra
            signature = self._input_specs()
            signature += [tf.TensorSpec(None, dt) if isinstance(dt, tf.DType) else dt for dt in dtypes]
            if self.strategy is not None and rows is not None:
                from ._distribute import ReplicatedStep

                fn = ReplicatedStep(self.strategy, tf.function(python_function, input_signature=signature), rows)
            else:
                fn = CompiledStep(python_function, signature)
            self._functions[key] = fn
        return fn

    @property
    def trace_count(self):
        """Total number of traces of this adapter's compiled steps (for retracing checks)."""
        return sum(fn.experimental_get_tracing_count() for fn in self._functions.values())

    def map_batches(self, fn, *arrays, batch_size=None, desc=None):
        """Apply ``fn`` to aligned slices of ``arrays`` and concatenate the results.

        ``fn`` returns an array or a tuple of arrays (each with a leading batch
        dimension). On ``tf.errors.ResourceExhaustedError`` the batch is halved
        and the same slice retried, with a warning.

        Parameters
        ----------
        fn : callable
            ``fn(*slices) -> ndarray or tuple of ndarray``.
        *arrays : ndarray
            Arrays with the same first dimension N.
        batch_size : int, optional
            Defaults to the adapter's ``batch_size``.

        Returns
        -------
        ndarray or tuple of ndarray
            Results concatenated along axis 0.
        """
        n = len(arrays[0])
        size = int(batch_size or self.batch_size)
        pieces, start, single = [], 0, None
        while start < n:
            _deadline.check()  # stop between pieces past a deadline (see tensorlayer_xplain._deadline)
            stop = min(n, start + size)
            try:
                out = fn(*(a[start:stop] for a in arrays))
            except tf.errors.ResourceExhaustedError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                warnings.warn(
                    "out of memory at batch size %d; retrying with batch size %d" % (size * 2, size),
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            single = not isinstance(out, (tuple, list))
            pieces.append((out,) if single else tuple(out))
            start = stop
        merged = tuple(np.concatenate([np.asarray(p[i]) for p in pieces], axis=0) for i in range(len(pieces[0])))
        return merged[0] if single else merged

    def _predict_step(self, x):
        return self.scores(x)

    def predict(self, inputs, batch_size=None):
        """Scores of a batch, computed in batches of ``batch_size``.

        Parameters
        ----------
        inputs : array-like, shape (N, *input_shape) or (N, *image_shape)

        Returns
        -------
        ndarray, float32, shape (N, K)
        """
        x, _ = self.prepare(inputs)
        step = self.compiled("predict", self._predict_step, rows=(0,))
        with self.inference_mode():
            out = self.map_batches(lambda b: step(tf.constant(b)).numpy(), x, batch_size=self.batch_rows(batch_size))
        self.n_classes = out.shape[1]
        return out

    def resolve_targets(self, targets, n, predictions=None, name="targets"):
        """Turn a target specification into one class index per sample (or a callable).

        Parameters
        ----------
        targets : None, int, array-like of int, or callable
            None means the predicted class (``predictions`` must then be given);
            a callable maps the score tensor ``(N, K)`` to one value per sample.
        n : int
            Batch size.
        predictions : ndarray (N, K), optional

        Returns
        -------
        ndarray of int32, shape (N,), or the callable.
        """
        if callable(targets):
            return targets
        if targets is PREDICTED:
            return np.full(n, -1, np.int32)
        if targets is None:
            if predictions is None:
                raise ValueError("%s: None (the predicted class) needs the model's predictions" % name)
            return np.argmax(predictions, axis=1).astype(np.int32)
        t = np.asarray(targets)
        if t.dtype == object or not (np.issubdtype(t.dtype, np.integer) or t.dtype == bool):
            if np.issubdtype(t.dtype, np.floating) and np.all(np.mod(t, 1) == 0):
                t = t.astype(np.int64)
            else:
                raise TypeError("%s: expected None, an int, a sequence of ints or a callable, got %s" % (name, _describe(targets)))
        if t.ndim == 0 or t.shape == (1,):
            t = np.full(n, int(t.reshape(-1)[0]))
        if t.shape != (n,):
            raise ValueError("%s: expected one class index per input (%d), got shape %s" % (name, n, t.shape))
        n_classes = self.n_classes if predictions is None else predictions.shape[1]
        if n_classes is None and (t < 0).any():  # negative rows would mean PREDICTED to select()
            raise ValueError("%s: class index %d is out of range (expected 0..K-1)" % (name, int(t[t < 0][0])))
        if n_classes is not None:
            bad = (t < 0) | (t >= n_classes)
            if bad.any():
                raise ValueError(
                    "%s: class index %d is out of range for a model with %d outputs (expected 0..%d)"
                    % (name, int(t[bad][0]), n_classes, n_classes - 1)
                )
        return t.astype(np.int32)

    @staticmethod
    def select(scores, targets):
        """Pick one score per sample: ``scores[i, targets[i]]`` or ``targets(scores)``.

        A negative ``targets[i]`` (see :data:`PREDICTED`) picks the sample's largest score.
        """
        if callable(targets):
            return tf.reshape(targets(scores), (-1,))
        targets = tf.cast(targets, tf.int32)
        targets = tf.where(targets < 0, tf.argmax(scores, axis=-1, output_type=tf.int32), targets)
        return tf.gather(scores, targets, batch_dims=1)

    def _target_key(self, targets):
        return ("fn", targets) if callable(targets) else "index"

    def differentiate(self, xb, targets, return_scores=False):
        """``(d selected / d xb, selected)`` for a batch tensor, for use inside compiled steps.

        Parameters
        ----------
        xb : tf.Tensor, shape (B, *input_shape)
        targets : tf.Tensor of int (B,) or callable
            As :meth:`select` takes them.
        return_scores : bool
            Also return every class's score from the same forward pass.

        Returns
        -------
        grads : tf.Tensor, shape (B, *input_shape)
        selected : tf.Tensor, shape (B,)
        scores : tf.Tensor, shape (B, K), only when ``return_scores``.

        Examples
        --------
        >>> with adapter.inference_mode():                                    # doctest: +SKIP
        ...     grads, selected = adapter.differentiate(tf.constant(x), tf.constant(t))
        """
        with tf.GradientTape() as tape:
            tape.watch(xb)
            scores = self.scores(xb)
            selected = self.select(scores, targets)
        grads = tape.gradient(selected, xb)
        if grads is None:
            raise TypeError("model: the output is not differentiable with respect to the input")
        return (grads, selected, scores) if return_scores else (grads, selected)

    def gradients(self, inputs, targets, batch_size=None, return_scores=False):
        """d score[target] / d input, batched and compiled.

        Parameters
        ----------
        inputs : ndarray, shape (N, *input_shape)
        targets : array of int (N,) or callable
            As returned by :meth:`resolve_targets`.
        return_scores : bool
            Also return the selected scores ``(N,)``.

        Returns
        -------
        grads : ndarray, float32, shape (N, *input_shape)
        selected : ndarray (N,), only when ``return_scores``.
        """
        x, _ = self.prepare(inputs)
        fn_targets = callable(targets)
        t = np.zeros(len(x), np.int32) if fn_targets else self.resolve_targets(targets, len(x))

        def step(xb, tb):
            return self.differentiate(xb, targets if fn_targets else tb)

        compiled = self.compiled(("gradients", self._target_key(targets)), step, n_extra=1, rows=(0, 1))
        with self.inference_mode():
            grads, selected = self.map_batches(
                lambda xb, tb: tuple(v.numpy() for v in compiled(tf.constant(xb), tf.constant(tb))),
                x, t, batch_size=self.batch_rows(batch_size, backward=True),
            )
        return (grads, selected) if return_scores else grads

    # ------------------------------------------------------------------ layers
    def iter_layers(self):
        """All layers of the model, nested ones included (definition order).

        Walked once per adapter (a built model's layers do not change) and then reused:
        every call in inference mode needs them.
        """
        if self._layers is None:
            if self.kind in ("tl_static", "tl_dynamic"):
                self._layers = list(_walk_tl(self.model, {id(self.model)}))
            elif self.kind == "keras":
                self._layers = list(_walk_keras(self.model, {id(self.model)}))
            else:
                self._layers = []
        return list(self._layers)

    def layer_names(self):
        """Names of all layers, nested ones included."""
        return [layer.name for layer in self.iter_layers()]

    def layer(self, name):
        """Find a layer by name, searching nested ``LayerList``/``ModelLayer``/sub-models.

        Raises
        ------
        KeyError
            Naming the unknown layer and listing the available names.
        """
        if self.kind == "callable":
            from .methods._checks import needs_layers

            raise needs_layers("finding a layer by name (layer_name=%r)" % (name,))
        if not isinstance(name, str):
            raise TypeError("layer_name: expected a str, got %s" % _describe(name))
        for layer in self.iter_layers():
            if layer.name == name:
                return layer
        raise KeyError("layer_name: no layer named %r; available layers: %s" % (name, ", ".join(self.layer_names())))

    def _forward_attr(self):
        return "call" if self.kind == "keras" else "forward"

    @contextlib.contextmanager
    def _recording(self, layers, records, order=None):
        """Wrap each layer's forward so its output lands in ``records[name]``; restore after."""
        attr = self._forward_attr()
        with contextlib.ExitStack() as stack:
            for layer in layers:
                original = getattr(layer, attr)

                def recorder(*args, _original=original, _name=layer.name, **kwargs):
                    out = _original(*args, **kwargs)
                    records[_name] = out
                    if order is not None and _name not in order:
                        order.append(_name)
                    return out

                stack.enter_context(temporarily_set(layer, attr, recorder))
            yield

    def capture(self, inputs, layer_names, targets=None, gradients=False, batch_size=None, combine=None):
        """Intermediate outputs of named layers (and gradients of the target w.r.t. them).

        The layers' ``forward`` methods are wrapped only while the compiled step is
        traced, and restored in ``finally``: the model is unchanged afterwards,
        also when the forward pass raises.

        Parameters
        ----------
        inputs : ndarray, shape (N, *input_shape)
        layer_names : str or list of str
        targets : array of int (N,) or callable, optional
            Needed when ``gradients=True``.
        gradients : bool
            Also return d score[target] / d layer output.
        combine : callable, optional
            ``combine(outputs, grads) -> tf.Tensor`` with one row per input, on the
            lists of captured tensors (one per layer), evaluated inside the compiled
            step (e.g. a CAM: no copy of the activations out of the graph). Its
            result is ``combined``; ``outputs`` and ``gradients`` are then None. One
            trace per ``combine`` object: reuse the same function for the same work.

        Returns
        -------
        CaptureResult
            ``outputs`` and ``gradients`` dicts keyed by layer name, ``scores`` (N, K),
            and ``combined`` when ``combine`` is given.

        Examples
        --------
        >>> res = adapter.capture(x, ['conv2d_2'], targets=t, gradients=True)  # doctest: +SKIP
        >>> res.outputs['conv2d_2'].shape, res.gradients['conv2d_2'].shape      # doctest: +SKIP
        ((8, 7, 7, 32), (8, 7, 7, 32))
        """
        names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        if not names:
            raise ValueError("layer_names: expected at least one layer name, got an empty list")
        layers = [self.layer(name) for name in names]
        x, _ = self.prepare(inputs)
        if gradients and targets is None:
            raise ValueError("targets: needed to capture gradients, got None")
        fn_targets = callable(targets)
        t = np.zeros(len(x), np.int32) if (fn_targets or targets is None) else self.resolve_targets(targets, len(x))

        def step(xb, tb):
            records = {}
            with self._recording(layers, records):
                with tf.GradientTape() as tape:
                    tape.watch(xb)  # so an input layer's output (x itself) has a gradient too
                    scores = self.scores(xb)
                    selected = self.select(scores, targets if fn_targets else tb) if gradients else None
            missing = [n for n in names if n not in records]
            if missing:
                raise KeyError("layer_names: layers %s were not called in the forward pass" % missing)
            outs = [records[n] for n in names]
            if isinstance(outs[0], (list, tuple)):
                raise TypeError("layer_names: layer %r returns several tensors; capture needs one" % names[0])
            grads = tape.gradient(selected, outs) if gradients else []
            for name, grad in zip(names, grads):
                if grad is None:
                    raise ValueError("layer_names: the target score does not depend on the output of layer %r "
                                     "(no gradient); pick a layer on the path to the output" % name)
            if combine is not None:
                return scores, [combine(outs, grads)], []
            return scores, outs, grads

        from .methods._graph import concrete  # (no binding of arguments per call)

        key = ("capture", tuple(names), gradients, self._target_key(targets), combine)
        compiled = self.compiled(key, step, n_extra=1, rows=(0, 1))

        def run(xb, tb):
            scores, outs, grads = concrete(compiled)(tf.constant(xb), tf.constant(tb))
            return tuple([scores.numpy()] + [o.numpy() for o in outs] + [g.numpy() for g in grads])

        with self.inference_mode():
            merged = self.map_batches(run, x, t, batch_size=self.batch_rows(batch_size, backward=gradients))
        if combine is not None:
            return CaptureResult(None, None, merged[0], merged[1])
        k = len(names)
        outputs = dict(zip(names, merged[1:1 + k]))
        grads = dict(zip(names, merged[1 + k:])) if gradients else None
        return CaptureResult(outputs, grads, merged[0])

    def layer_call_order(self):
        """``[(name, output_shape_without_batch), ...]`` of every layer, in the order called.

        Needed because a dynamic TL model lists its layers alphabetically. Found
        once with one forward pass of a zero sample, then cached.
        """
        if self._call_order is None:
            if self._input_bytes() is None:
                raise ValueError("inputs: the model's input shape is not known yet; explain a batch first")
            layers = self.iter_layers()
            records, order = {}, []
            with self.inference_mode(), self._recording(layers, records, order):
                self._raw_call(self._zero_sample())
            self._call_order = [
                (name, tuple(records[name].shape[1:]))
                for name in order
                if hasattr(records[name], "shape")
            ]
        return list(self._call_order)

    # ------------------------------------------------------------------ memory
    def _input_bytes(self):
        """Bytes of one input sample (float32), or None while the input shape is unknown."""
        return None if self.input_shape is None else 4 * int(np.prod(self.input_shape))

    def _input_specs(self):
        """Signature of the model input(s) in compiled steps: a batch with an open leading dimension."""
        return [tf.TensorSpec((None,) + self.input_shape, tf.float32)]

    def _zero_sample(self):
        """A batch of one all-zero sample, as the model takes it."""
        return tf.zeros((1,) + self.input_shape, tf.float32)

    def _activation_bytes(self):
        """Bytes of all layer outputs of one sample (containers not counted twice), or a heuristic."""
        input_bytes = self._input_bytes()
        if self.kind == "callable":
            return CALLABLE_ACTIVATION_FACTOR * input_bytes
        containers = {layer.name for layer in self.iter_layers() if _is_container(layer)}
        try:
            order = self.layer_call_order()
        except (TypeError, ValueError, tf.errors.OpError):  # the eager pass fails: fall back on the heuristic
            return CALLABLE_ACTIVATION_FACTOR * input_bytes
        return sum(4 * int(np.prod(shape)) for name, shape in order if name not in containers)

    def sample_bytes(self, backward=False):
        """Estimated bytes one sample occupies during a model call.

        The input plus every layer's output (measured once, from the shapes of the
        call-order pass :meth:`layer_call_order`; a plain callable counts
        ``CALLABLE_ACTIVATION_FACTOR`` times its input), doubled (``BACKWARD_FACTOR``)
        when gradients are taken. Summing all layer outputs over-counts a forward
        pass, which frees them as it goes: the estimate errs on the safe side.

        Parameters
        ----------
        backward : bool
            The call also differentiates (gradients, Grad-CAM).

        Returns
        -------
        int

        Examples
        --------
        >>> ModelAdapter(tl.models.vgg16()).sample_bytes() // 2 ** 20   # doctest: +SKIP
        59
        """
        if self._input_bytes() is None:
            raise ValueError("inputs: the model's input shape is not known yet; explain a batch first")
        if self._sample_bytes is None:
            self._sample_bytes = self._input_bytes() + self._activation_bytes()
        return self._sample_bytes * (BACKWARD_FACTOR if backward else 1)

    def batch_rows(self, batch_size=None, backward=False):
        """Rows sent to the model at once: ``batch_size`` capped by the byte budget.

        Parameters
        ----------
        batch_size : int, optional
            Upper bound (default: the adapter's ``batch_size``).
        backward : bool
            The call also differentiates.

        Returns
        -------
        int
            ``min(batch_size, max_batch_bytes // sample_bytes(backward))``, at least 1.

        Examples
        --------
        >>> ModelAdapter(tl.models.vgg16(), batch_size=256).batch_rows(backward=True)   # doctest: +SKIP
        8
        """
        limit = int(batch_size or self.batch_size)
        if self._input_bytes() is None:
            return limit
        return max(1, min(limit, self.max_batch_bytes // self.sample_bytes(backward)))

    def weights_fingerprint(self):
        """A hash of all weight values; changes whenever a weight changes."""
        import hashlib

        h = hashlib.sha1()
        weights = getattr(self.model, "all_weights", None)
        if weights is None:
            weights = getattr(self.model, "weights", [])
        for w in weights:
            h.update(np.ascontiguousarray(w.numpy()).tobytes())
        return h.hexdigest()


#: Attribute under which :func:`as_adapter` keeps a model's adapters on the model itself.
ADAPTERS_ATTRIBUTE = "_tensorlayer_xplain_adapters"
_ADAPTERS_GUARD = threading.Lock()


class _AdapterCache(dict):
    """The per-model dict; a deep-copied model starts with an empty one (adapters hold compiled steps)."""

    def __deepcopy__(self, memo):
        return _AdapterCache()


def _adapters_of(model):
    """The ``{options: adapter}`` dict kept on ``model`` (None when it takes no attributes).

    Kept on the model rather than in a module-level table: an adapter refers to
    its model (and its compiled steps to the adapter), so a global table, even a
    weak-keyed one, would keep every model alive. On the model, the model and its
    adapters form one cycle that the garbage collector frees with the model.
    """
    with _ADAPTERS_GUARD:
        per_model = getattr(model, "__dict__", {}).get(ADAPTERS_ATTRIBUTE)
        if per_model is not None and any(a.model is not model for a in per_model.values()):
            per_model = None  # a shallow copy shares the original's dict: start its own
        if per_model is None:
            per_model = _AdapterCache()
            try:  # object.__setattr__: bypass TL's and Keras's attribute tracking
                object.__setattr__(model, ADAPTERS_ATTRIBUTE, per_model)
            except (AttributeError, TypeError):
                return None
        return per_model


def as_adapter(model, **options):
    """Return a :class:`ModelAdapter` for ``model``, reusing one per (model, options).

    Reuse keeps compiled steps across calls of the figure functions, so calling
    ``gradient_visualization`` in a loop traces once. The reused adapters are
    kept on the model (attribute ``_tensorlayer_xplain_adapters``), not in a
    global table, so a deleted model is freed with its adapters and their
    compiled steps.

    Parameters
    ----------
    model : ModelAdapter, tl.models.Model, keras.Model or callable
    **options
        ``ModelAdapter`` keyword arguments; None values are ignored.

    Examples
    --------
    >>> as_adapter(model) is as_adapter(model)   # doctest: +SKIP
    True
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(model, ModelAdapter):
        return model
    from .multi_input import MultiInputAdapter, input_count

    if input_count(model) > 1:
        cls = MultiInputAdapter
        if "image_shape" in options:
            raise ValueError("image_shape: a model with several inputs takes image_shapes (one per input); "
                             "build tlxp.MultiInputAdapter(model, image_shapes=[...])")
    else:
        cls = ModelAdapter
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))
    per_model = _adapters_of(model)
    if per_model is None:  # takes no attributes (a builtin, a bound method): no reuse
        return cls(model, **options)
    adapter = per_model.get(key)
    if adapter is None:
        adapter = per_model[key] = cls(model, **options)
    return adapter
