"""Parameter descriptions written once and shared by every docstring that needs them.

The TensorLayer figure conventions (``saveable``, ``name``, ``fig_idx``, ``second``), the
``model`` / ``inputs`` / ``targets`` / ``class_names`` arguments of figure functions and the ``adapter`` /
``inputs`` / ``targets`` arguments of methods recur in dozens of docstrings. Each is written here
once; a docstring names a block on a line of its own, ``%(figure_conventions)s``, and
:func:`shared_docstring` substitutes it at import time with the line's indentation, so numpydoc
and Sphinx see ordinary docstrings. Only whole-line placeholders are replaced, so a ``%`` elsewhere
in a docstring needs no escaping.

Examples
--------
>>> @shared_docstring
... def figure(model, inputs, saveable=True, name='figure', fig_idx=1, second=10):
...     '''Draw something.
...
...     Parameters
...     ----------
...     %(figure_inputs)s
...     %(figure_conventions)s
...     '''
>>> 'fig_idx : int' in figure.__doc__
True
"""
import re

__all__ = ["SHARED_PARAMETERS", "shared_docstring"]

#: Block name -> numpydoc parameter lines (no indentation).
SHARED_PARAMETERS = {
    "figure_inputs": """\
model : tl.models.Model, keras.Model, callable or ModelAdapter
    The model to explain (ignored when ``inputs`` is an :class:`Explanation`).
inputs : ndarray (N, ...) or Explanation
    One or several inputs, in the model's input shape or as images; a precomputed
    :class:`Explanation` is drawn as is.""",
    "figure_model": """\
model : tl.models.Model, keras.Model, callable or ModelAdapter
    The model to explain.""",
    "figure_targets": """\
targets : None, int or sequence of int
    Class to explain per input; None explains the predicted class. ``target_class`` is
    accepted as another name (the TensorLayer visualize tutorial's).""",
    "figure_conventions": """\
saveable : bool
    Save to ``name + '.pdf'`` (an image extension in ``name``, such as ``.png``, picks that
    format) instead of displaying; the figure is closed either way.
name : str
    File name when ``saveable``.
fig_idx : int
    Matplotlib figure number, as in ``tl.visualize`` (reused and cleared).
second : float
    Display time in seconds when ``saveable=False``.""",
    "figure_class_names": """\
class_names : sequence of str, optional
    Names of the class indices, used in titles and legends (default: the indices).""",
    "method_inputs": """\
adapter : ModelAdapter
    The model, behind the adapter that batches, compiles and restores it.
inputs : ndarray, float32, shape (N, *input_shape)
    Validated inputs (:meth:`ModelAdapter.prepare`).
targets : ndarray of int (N,) or callable
    One class index per input, or a callable mapping the scores ``(N, K)`` to one value per
    input.""",
    "method_batch_size": """\
batch_size : int, optional
    Largest number of model inputs per compiled call; defaults to the adapter's (bounds
    memory).""",
    "method_seed": """\
seed : int or None
    Same seed, same result (independently of ``batch_size`` and of the input's position in
    the batch); None is not reproducible.""",
    "method_noise_tunnel": """\
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
    Parameters of the base method.""",
    "method_cam_layer": """\
layer_name : str, optional
    Layer whose output ``A`` (N, h, w, C) is used; default: the last layer with
    a 4-D output larger than 1x1 in call order (nested layers included).""",
    "metric_attributions": """\
attributions : Explanation or ndarray, shape (N, ...)
    An explanation (its inputs and targets are used) or attributions with the
    inputs' number of values per input (then pass ``inputs`` and ``targets``).
model : tl.models.Model, keras.Model, callable or ModelAdapter
    The model that was explained.
inputs : ndarray, shape (N, ...), optional
    Required with an attributions array.
targets : int or ndarray (N,), optional
    Explained classes (an Explanation brings its own).""",
    "metric_maps": """\
attributions : Explanation or ndarray, shape (N, ...)
    An explanation (its heatmap ``(N, H, W)``, channels combined by ``reduce``,
    as Quantus's ``a_batch`` ``(N, 1, H, W)``) or attributions, one row per input.""",
    "metric_softmax": """\
softmax : bool
    Follow the softmax probability of the explained class (Quantus's default
    for this metric) or the adapter's raw output (logits).""",
    "metric_rerun": """\
method : str, optional
    Method to re-explain with (default: the explanation's).
method_params : dict, optional
    Its parameters (default: the explanation's).""",
    "metric_preprocess": """\
abs : bool
    Absolute values of the attributions first (after ``normalise``).
normalise : bool or 'batch'
    Divide each input's attributions by their maximum absolute value (True),
    not at all (False), or by the maximum over the whole batch ('batch':
    Quantus's ``normalise_by_max``).""",
    "metric_batch_size": """\
batch_size : int, optional
    Inputs per model call (default: the adapter's); the perturbed copies of
    all inputs are stacked and sent in as few calls as memory allows.""",
    "metric_reduce": """\
reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
    Channel reduction of an Explanation's heatmap.""",
    "metric_masks": """\
masks : ndarray, shape (N, H, W) or any (N, ...) with the map's size
    Nonzero inside the region.""",
    "method_superpixels": """\
segmentation, n_segments, compactness
    Superpixels for ``granularity='superpixel'`` (see
    :func:`~tensorlayer_xplain.methods._engine.segmentation.segment_image`); ``n_segments=(a, b)``
    averages two scales.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<key>\w+)\)s[ \t]*$", re.M)


def _substitute(match):
    key = match.group("key")
    if key not in SHARED_PARAMETERS:
        raise KeyError("shared_docstring: unknown block %r; known: %s" % (key, ", ".join(sorted(SHARED_PARAMETERS))))
    indent = match.group("indent")
    return "\n".join(indent + line if line else line for line in SHARED_PARAMETERS[key].split("\n"))


def shared_docstring(obj):
    """Decorator: replace whole-line ``%(block)s`` placeholders in ``obj.__doc__`` by shared blocks.

    Parameters
    ----------
    obj : function or class
        Its docstring may hold placeholders naming keys of :data:`SHARED_PARAMETERS`.

    Returns
    -------
    obj
        The same object, with its docstring expanded.

    Raises
    ------
    KeyError
        A placeholder names no shared block.
    """
    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(_substitute, obj.__doc__)
    return obj
