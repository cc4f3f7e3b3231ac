"""A layer's activations and the gradients of class scores with respect to them, batched through the adapter.

Concept methods work in a layer's activation space: TCAV trains linear classifiers there and
takes directional derivatives along them; CRAFT factorises crop activations there and evaluates
the rest of the model (``h``) on rebuilt activations. All three go through the adapter's capture
(the layer's ``forward`` wrapped only while a compiled step is traced), so TL static, dynamic and
Keras models work alike and are left unchanged.
"""
import numpy as np

from ..adapter import _describe

__all__ = ["check_layer", "layer_activations", "layer_gradients", "scores_from_layer", "check_set",
           "MAX_SET_SIZE", "MAX_ACTIVATION_BYTES"]

#: Largest number of examples in one concept, random or input set.
MAX_SET_SIZE = 100_000
#: Largest activations (or gradients) held at once, in bytes, before any reduction.
MAX_ACTIVATION_BYTES = 2 << 30


def check_layer(adapter, layer_name, name="layer_name"):
    """The layer's name, after checking it names a layer of the model.

    Parameters
    ----------
    adapter : ModelAdapter
    layer_name : str
    name : str
        Argument name used in error messages.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        ``layer_name`` is not a str (or the model is a plain callable, which has no layers).
    KeyError
        No layer has that name; the message lists the available names.

    Examples
    --------
    >>> check_layer(adapter, 'no_such_layer')
    Traceback (most recent call last):
    KeyError: "layer_name: no layer named 'no_such_layer'; available layers: ..."
    """
    if not isinstance(layer_name, str):
        raise TypeError("%s: expected a layer name (str), got %s" % (name, _describe(layer_name)))
    try:
        return adapter.layer(layer_name).name
    except KeyError as err:
        raise KeyError(str(err.args[0]).replace("layer_name:", name + ":", 1)) from None


def check_set(adapter, examples, name, min_size=1):
    """``examples`` validated and brought to the model's input shape, with at least ``min_size`` rows.

    Parameters
    ----------
    adapter : ModelAdapter
    examples : array-like, shape (M, ...)
    name : str
        Argument name used in error messages (``concepts['striped']``).
    min_size : int

    Returns
    -------
    ndarray, float32, shape (M, *input_shape)

    Examples
    --------
    >>> check_set(adapter, np.zeros((0, 28, 28, 1)), "concepts['square']", 5)
    Traceback (most recent call last):
    ValueError: concepts['square']: expected at least 5 examples, got 0
    """
    if examples is None or (hasattr(examples, "__len__") and len(examples) < min_size):
        count = 0 if examples is None else len(examples)
        raise ValueError("%s: expected at least %d examples, got %d" % (name, min_size, count))
    x, _ = adapter.prepare(examples, name=name)
    if len(x) < min_size:  # a single sample given without its batch dimension
        raise ValueError("%s: expected at least %d examples, got %d" % (name, min_size, len(x)))
    if len(x) > MAX_SET_SIZE:
        raise ValueError("%s: expected at most %d examples, got %d" % (name, MAX_SET_SIZE, len(x)))
    return x


def _check_bytes(adapter, layer_name, n, what):
    if adapter.input_shape is None:  # a dynamic model before its first batch: capture checks the inputs
        return
    shape = dict(adapter.layer_call_order()).get(layer_name)
    if shape is not None and 4 * n * int(np.prod(shape)) > MAX_ACTIVATION_BYTES:
        raise ValueError("%s: %d examples of layer %r's activations %s take %.1f GiB, more than the %.0f GiB "
                         "bound; pass fewer examples or a smaller layer"
                         % (what, n, layer_name, shape, 4 * n * np.prod(shape) / 2 ** 30,
                            MAX_ACTIVATION_BYTES / 2 ** 30))


def layer_activations(adapter, inputs, layer_name, batch_size=None, what="inputs"):
    """The output of ``layer_name`` for every input, computed in batches.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, shape (N, *input_shape)
    layer_name : str
    batch_size : int, optional
        Upper bound on rows per model call (the adapter's byte budget caps it).
    what : str
        Argument name of ``inputs`` for error messages.

    Returns
    -------
    ndarray, float32, shape (N, *layer_output_shape)

    Examples
    --------
    >>> conv2 = adapter.layer_call_order()[3][0]       # the MNIST CNN's second convolution
    >>> layer_activations(adapter, x, conv2).shape
    (4, 14, 14, 32)
    """
    layer_name = check_layer(adapter, layer_name)
    _check_bytes(adapter, layer_name, len(inputs), what)
    return adapter.capture(inputs, [layer_name], batch_size=batch_size).outputs[layer_name]


def layer_gradients(adapter, inputs, layer_name, targets, batch_size=None):
    """Activations of ``layer_name`` and the gradient of each input's target score with respect to them.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, shape (N, *input_shape)
    layer_name : str
    targets : array of int, shape (N,)
        One class per input.
    batch_size : int, optional

    Returns
    -------
    activations, gradients : ndarray, float32, shape (N, *layer_output_shape)
        ``gradients[i] = d score[i, targets[i]] / d activations[i]``.

    Examples
    --------
    >>> hidden = adapter.layer_call_order()[-2][0]      # the dense layer before the logits
    >>> acts, grads = layer_gradients(adapter, x, hidden, [7] * len(x))
    >>> acts.shape, grads.shape
    ((4, 64), (4, 64))
    """
    layer_name = check_layer(adapter, layer_name)
    _check_bytes(adapter, layer_name, 2 * len(inputs), "inputs")
    res = adapter.capture(inputs, [layer_name], targets=targets, gradients=True, batch_size=batch_size)
    return res.outputs[layer_name], res.gradients[layer_name]


def scores_from_layer(adapter, inputs, layer_name, activations, batch_size=None):
    """``h(activations)``: the model's scores with ``layer_name``'s output replaced, row by row.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray, shape (N, *input_shape)
        The inputs the rows belong to (they drive the layers before ``layer_name``).
    layer_name : str
    activations : ndarray, shape (N, *layer_output_shape)
    batch_size : int, optional

    Returns
    -------
    ndarray, float32, shape (N, K)

    Examples
    --------
    >>> conv2 = adapter.layer_call_order()[3][0]
    >>> acts = layer_activations(adapter, x, conv2)
    >>> np.allclose(scores_from_layer(adapter, x, conv2, acts), adapter.predict(x), atol=1e-5)
    True
    >>> np.allclose(scores_from_layer(adapter, x, conv2, 0 * acts), adapter.predict(x), atol=1e-5)
    False
    """
    return adapter.scores_with_layer_output(inputs, check_layer(adapter, layer_name), activations,
                                            batch_size=batch_size)
