"""The adapter of a model with several inputs (TL static ``Model(inputs=[a, b], ...)``, Keras functional).

A :class:`MultiInputAdapter` calls the model with a list of batches (the batch dimension is shared);
:func:`~tensorlayer_xplain.adapter.as_adapter` picks it for models whose inputs it can count (TL
static, Keras). A TL *dynamic* model whose ``forward`` takes a list declares its inputs:
``MultiInputAdapter(model, input_shapes=[(28, 28, 1), (28, 28, 1)])``. The methods that explain such
models are in :mod:`tensorlayer_xplain.methods.multi_input`.
"""
import numpy as np
import tensorflow as tf
import tensorlayer as tl

from ._common import _describe
from ._model import ModelAdapter

__all__ = ["MultiInputAdapter", "input_count"]


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
