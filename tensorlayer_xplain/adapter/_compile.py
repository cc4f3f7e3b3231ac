"""Compiled steps that survive models ``tf.function`` cannot trace.

:class:`CompiledStep` is what :meth:`ModelAdapter.compiled` returns: a
``tf.function`` traced on its first call. When the trace fails (a layer whose
``forward`` cannot run in a graph), TensorFlow's only message is ``TypeError: in
user code:`` and a stack. Instead, the step runs the same Python function eagerly
on the same batch:

* if that fails too, the step itself is wrong (bad targets, a broken model...), and
  the eager error, which is the clean one, is raised;
* otherwise the results are correct and only compilation is impossible: one
  :class:`CompileWarning` names the layer that failed (the innermost layer on the
  failing trace's stack), its error and what to do, and the step keeps running
  eagerly (same numbers, slower).
"""
import re
import warnings

import tensorflow as tf

__all__ = ["CompiledStep", "CompileWarning", "TRACE_ERRORS", "failing_layer", "error_summary"]


#: Errors that code which cannot run in a graph raises while traced (``.numpy()``, a static ``None``
#: batch size, a Python bool of a tensor, TL's rebound BatchNorm statistics...). Other errors (e.g. a
#: ``RuntimeError`` from the model) propagate from the trace unchanged, as from any ``tf.function``.
TRACE_ERRORS = (TypeError, ValueError, AttributeError, NotImplementedError, KeyError, IndexError)

#: Messages of TensorFlow's shape inference: the input does not fit the model. These are raised as they
#: are, never retried eagerly -- the eager run would fail the same way, and an eager ``conv2d`` on an
#: input of the wrong rank aborts the whole process on TF 2.21 instead of raising.
SHAPE_ERROR = re.compile(r"Shape must be|Dimensions must be equal|are incompatible|must have rank|"
                         r"Depth of input|Negative dimension size")


class CompileWarning(RuntimeWarning):
    """A model could not be compiled with ``tf.function``; the step runs eagerly instead."""


def _is_leaf_layer(obj):
    import tensorlayer as tl

    if isinstance(obj, tl.layers.Layer):
        return not isinstance(obj, (tl.layers.LayerList, tl.layers.ModelLayer, tl.models.Model))
    return isinstance(obj, tf.keras.layers.Layer) and not isinstance(obj, tf.keras.Model)


def failing_layer(err):
    """The innermost layer whose method is on ``err``'s traceback, or None.

    Parameters
    ----------
    err : BaseException
        An error raised while tracing a model (autograph keeps the frames of the
        converted ``forward`` methods, with their ``self``).

    Returns
    -------
    TL or Keras layer, or None
        Containers (``LayerList``, ``ModelLayer``, models) are skipped: the layer
        inside them is the one to fix.

    Examples
    --------
    >>> # needs a model with a layer that cannot be traced (tests/test_model_support.py builds one)
    >>> try:  # doctest: +SKIP
    ...     tf.function(model)(x)
    ... except TypeError as err:
    ...     print(failing_layer(err).name)
    batchnorm_1
    """
    found, tb = None, err.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and _is_leaf_layer(owner):
            found = owner
        tb = tb.tb_next
    return found


def error_summary(err):
    """``'TypeError: <message>'`` without autograph's 'in user code' preamble and stack."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    prefix = type(err).__name__ + ": "
    return prefix + (text[len(prefix):] if text.startswith(prefix) else text)


def _compile_message(err):
    layer = failing_layer(err)
    where = ("layer %r (%s.%s)" % (layer.name, type(layer).__module__, type(layer).__name__)
             if layer is not None else "a step of this model (no layer could be named)")
    return (
        "model: %s cannot run inside tf.function: %s. This explanation runs eagerly instead (same "
        "results, slower). To compile it, make that layer's forward traceable: no Python side effects "
        "on tensors or variables (update variables with .assign, do not rebind them), shapes from "
        "tf.shape(x) rather than x.shape when the batch size is open. TensorLayer layers known to fail "
        "are listed in the docs page 'TensorLayer 2.2.5 on today's TensorFlow'." % (where, error_summary(err))
    )


class CompiledStep:
    """A ``tf.function`` of ``python_function`` that falls back to eager when tracing fails.

    Parameters
    ----------
    python_function : callable
        ``f(*tensors) -> tensors``.
    input_signature : list of tf.TensorSpec
        Fixed signature: the step is traced once.

    Examples
    --------
    >>> step = CompiledStep(lambda x: x * 2, [tf.TensorSpec((None,), tf.float32)])
    >>> step(tf.constant([1.0, 2.0])).numpy()
    array([2., 4.], dtype=float32)
    >>> step.compiled
    True
    """

    def __init__(self, python_function, input_signature):
        self.python_function = python_function
        self.function = tf.function(python_function, input_signature=input_signature)
        self._state = None  # None: not traced; 'graph'; 'failed': trace failed, eager untried; 'eager'
        self._message = None
        self._concrete = None

    @property
    def compiled(self):
        """True once traced, False once running eagerly, None before the first call."""
        return {"graph": True, "eager": False}.get(self._state)

    def _trace(self):
        if self._state is not None:
            return
        try:
            self._concrete = self.function.get_concrete_function()
            self._state = "graph"
        except tf.errors.OpError:
            raise
        except TRACE_ERRORS as err:  # what graph-incompatible code raises; diagnosed by the eager run
            if SHAPE_ERROR.search(str(err)):
                raise
            self._message = _compile_message(err)
            self._state = "failed"

    def get_concrete_function(self):
        """The traced graph function, or this step itself when it runs eagerly."""
        self._trace()
        return self._concrete if self._state == "graph" else self

    def experimental_get_tracing_count(self):
        """Number of traces (0 when the step runs eagerly)."""
        return self.function.experimental_get_tracing_count()

    def __call__(self, *args):
        self._trace()
        if self._state == "graph":
            return self.function(*args)
        out = self.python_function(*args)  # raises the eager (clean) error when the step itself fails
        if self._state == "failed":
            self._state = "eager"
            warnings.warn(self._message, CompileWarning, stacklevel=2)
        return out


def concrete(step):
    """The concrete function of a compiled step with an input signature, or ``step`` itself.

    Calling the concrete function skips ``tf.function``'s argument binding
    (about half a millisecond per call). It is kept on the ``tf.function`` itself
    (no global cache: it lives and dies with the adapter that owns the step).
    Call inside :meth:`ModelAdapter.inference_mode`: the first call traces the step.
    """
    if not hasattr(step, "get_concrete_function"):
        return step  # plain callables run eagerly
    fn = getattr(step, "_tlx_concrete", None)
    if fn is None:
        fn = step.get_concrete_function()
        step._tlx_concrete = fn
    return fn
