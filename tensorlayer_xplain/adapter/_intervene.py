"""Running the rest of a model from a layer: the layer's output replaced by given activations.

Concept methods split a model at a layer into ``g`` (input -> layer) and ``h`` (layer -> output)
and evaluate ``h`` on activations they built themselves (CRAFT's masked concept reconstructions).
A TensorLayer model has no general "call from this layer" (a dynamic model's ``forward`` is
arbitrary Python), so ``h`` is evaluated the same way capture records a layer: the layer's
``forward`` (Keras: ``call``) is wrapped while the compiled step is traced, and the wrapper returns
the given activations instead of what the layer computed. Layers after it (skip connections
included) see the replacement; the model is restored in ``finally``.
"""
import numpy as np
import tensorflow as tf

from ._common import _describe, temporarily_set


def scores_with_layer_output(adapter, inputs, layer_name, activations, batch_size=None):
    """Scores of the model when ``layer_name``'s output is replaced by ``activations``.

    Parameters
    ----------
    inputs : ndarray, shape (N, *input_shape)
        Drive the forward pass up to the layer (their own activation there is discarded;
        the layers before it still run, so pass the inputs the activations belong to).
    layer_name : str
        A layer on the path to the output, called once per forward pass.
    activations : ndarray, shape (N, *layer_output_shape)
        What the layer returns instead of its output, row by row.
    batch_size : int, optional
        Upper bound on rows per call (default: the adapter's, capped by its byte budget).

    Returns
    -------
    ndarray, float32, shape (N, K)
        Logits or probabilities, as the adapter's ``output``.

    Raises
    ------
    KeyError
        No layer of that name, or it is not called in the forward pass.
    ValueError
        ``activations`` do not have one row per input, or the layer's output shape.

    Examples
    --------
    >>> conv2 = adapter.layer_call_order()[3][0]       # the MNIST CNN's second convolution
    >>> acts = adapter.capture(x, [conv2]).outputs[conv2]
    >>> np.allclose(adapter.scores_with_layer_output(x, conv2, acts), adapter.predict(x), atol=1e-5)
    True
    """
    layer = adapter.layer(layer_name)
    x, _ = adapter.prepare(inputs)
    a = np.asarray(activations, np.float32)
    if a.ndim < 2 or len(a) != len(x):
        raise ValueError("activations: expected one row per input (%d, ...), got %s" % (len(x), _describe(a)))
    if not np.isfinite(a).all():
        raise ValueError("activations: expected finite values, got NaN or inf")
    expected = dict(adapter.layer_call_order()).get(layer.name)
    if expected is not None and tuple(a.shape[1:]) != tuple(expected):
        raise ValueError("activations: layer %r outputs %s per input, got rows of shape %s"
                         % (layer_name, tuple(expected), tuple(a.shape[1:])))
    attr = adapter._forward_attr()
    original = getattr(layer, attr)

    def step(xb, ab):
        called = []

        def replaced(*args, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            called.append(True)
            return tf.cast(ab, out.dtype)

        with temporarily_set(layer, attr, replaced):
            scores = adapter.scores(xb)
        if not called:
            raise KeyError("layer_name: layer %r was not called in the forward pass" % layer_name)
        return scores

    key = ("scores_with_layer_output", layer.name, a.shape[1:])
    spec = tf.TensorSpec((None,) + tuple(a.shape[1:]), tf.float32)
    compiled = adapter.compiled(key, step, extra_dtypes=[spec], rows=(0, 1))
    # the activations travel with each input: count their bytes in the byte budget too
    rows = adapter.batch_rows(batch_size)
    per_row = adapter.sample_bytes() + 4 * int(np.prod(a.shape[1:]))
    rows = max(1, min(rows, adapter.max_batch_bytes // per_row))
    with adapter.inference_mode():
        return adapter.map_batches(lambda xb, ab: compiled(tf.constant(xb), tf.constant(ab)).numpy(), x, a,
                                   batch_size=rows)
