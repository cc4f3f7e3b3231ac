"""What a method costs, in model passes, before it runs: the cost model and budgets.

Every registered method declares its cost with it
(``register_method(..., cost=...)``) as a function of its parameters and the
input: ``cost(adapter, n_inputs, **params) -> (forward, backward)``, the
number of rows sent forward through the model and the number of those that
are also back-propagated. One *pass* is one input row through the model; a
backward pass counts as one more, so ``total = forward + backward`` (a
gradient costs about two forward passes). The extra forward pass every
explanation makes to predict its inputs is not counted. A method that
declares no cost counts one forward and one backward pass per input.

Parameter ranges are declared with the method too and checked by
:func:`~tensorlayer_xplain.methods.registry.check_ranges` (re-exported here)
before anything runs: count parameters (``steps``, ``n_samples``, ``n_masks``,
``num_samples``, ``max_evals``, ...) are ints in ``[1, MAX_COUNT]``,
``batch_size`` an int in ``[1, MAX_BATCH_SIZE]``, float parameters finite,
``seed`` None or an int in ``[0, 2**32 - 1]``; every parameter that reaches
native code (scikit-image's SLIC, SciPy's Gaussian filter, OpenCV's blur,
LIME's and SHAP's samplers) has a declared range, and sizes (``n_segments``,
``mask_size``, ``blur_sigma``, blur maskers) are bounded by the image once its
shape is known. ``docs/serving.rst`` lists every declared range.

Examples
--------
>>> import tensorlayer_xplain as tlxp
>>> tlxp.estimate_cost(model, 'integrated_gradients', 8, steps=32)
Cost(method='integrated_gradients', n_inputs=8, forward=264, backward=264, total=528)
"""
from dataclasses import dataclass

import numpy as np

from ._ranges import MAX_BATCH_SIZE, MAX_COUNT
from ._ranges import is_int as _is_int
from .registry import check_params, check_ranges, count_parameters, method_info

__all__ = ["Cost", "estimate_cost", "check_budget", "check_ranges", "batchable", "check_max_cost",
           "MAX_BATCH_SIZE", "MAX_COUNT", "one_gradient", "one_forward", "per_input", "background_rows"]


@dataclass(frozen=True)
class Cost:
    """Model passes one call of a method makes (one pass = one input row through the model).

    Attributes
    ----------
    method : str
    n_inputs : int
    forward : int
        Rows evaluated forward.
    backward : int
        Rows also back-propagated.
    total : int
        ``forward + backward``: the figure budgets are compared with.

    Examples
    --------
    >>> Cost('gradient', 4, 4, 4, 8).total
    8
    """

    method: str
    n_inputs: int
    forward: int
    backward: int
    total: int


def batchable(method, params=None):
    """True when concurrent requests of ``method`` with ``params`` may be merged into one batch.

    Parameters
    ----------
    method : str
    params : dict, optional
        The call's parameters (defaults fill the rest).

    Returns
    -------
    bool

    Examples
    --------
    >>> batchable('gradient'), batchable('lime')
    (True, False)
    """
    spec = method_info(method)
    rule = spec.batchable
    if callable(rule):
        full = dict(spec.parameters)
        full.update(params or {})
        return bool(rule(full))
    return bool(rule)


def background_rows(background, max_background=None):
    """Rows of a ``background`` array (0 for None or a string), at most ``max_background``."""
    rows = 0 if background is None or isinstance(background, str) else len(np.asarray(background))
    return min(rows, max_background) if _is_int(max_background) else rows


def estimate_cost(model, method, n_inputs, **params):
    """The model passes ``method`` makes on ``n_inputs`` inputs with ``params``, without running it.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
        Some costs depend on the model (Score-CAM: the CAM layer's channels) or
        the image size (occlusion: the windows).
    method : str
        A registered method name or alias.
    n_inputs : int
        Inputs explained in one call.
    **params
        The method's parameters (missing ones take their defaults).

    Returns
    -------
    Cost
        ``forward``, ``backward`` and ``total`` passes (one pass = one row).

    Raises
    ------
    ValueError
        For an out-of-range parameter (see :func:`check_ranges`) or ``n_inputs``.
    TypeError, KeyError
        For an unknown method or parameter.

    Examples
    --------
    >>> estimate_cost(model, 'smoothgrad', 4, n_samples=16)
    Cost(method='smoothgrad', n_inputs=4, forward=64, backward=64, total=128)
    """
    from ..adapter import as_adapter

    spec = method_info(method)
    if not _is_int(n_inputs) or n_inputs < 1:
        raise ValueError("n_inputs: expected a positive int, got %r" % (n_inputs,))
    adapter = as_adapter(model)
    if getattr(adapter, "seq2seq", False):  # per output position over the source (see methods.seq2seq)
        from .registry import _parameters_of
        from .seq2seq import SEQ2SEQ_SIGNATURES, seq2seq_cost, seq2seq_skip_reason

        reason = seq2seq_skip_reason(adapter, spec.name)
        if reason is not None:
            raise ValueError("method: " + reason)
        check_params(spec.name, params, SEQ2SEQ_SIGNATURES[spec.name])
        check_ranges(spec.name, params)
        full = dict(_parameters_of(SEQ2SEQ_SIGNATURES[spec.name]), **params)
        forward, backward = seq2seq_cost(spec.name, adapter, int(n_inputs), **full)
        return Cost(spec.name, int(n_inputs), int(forward), int(backward), int(forward) + int(backward))
    if getattr(adapter, "token_inputs", False):  # the token version of the method, with its own defaults
        from .registry import _parameters_of
        from .tokens import token_cost, token_method

        implementation = token_method(spec.name)
        check_params(spec.name, params, implementation)
        check_ranges(spec.name, params)
        full = dict(_parameters_of(implementation), **params)
        forward, backward = token_cost(spec.name, adapter, int(n_inputs), **full)
        return Cost(spec.name, int(n_inputs), int(forward), int(backward), int(forward) + int(backward))
    check_params(spec.name, params)
    adapter = as_adapter(model)
    check_ranges(spec.name, params, adapter.image_shape)
    full = dict(spec.parameters)
    full.update(params)
    adapter = as_adapter(model)
    fn = spec.cost
    forward, backward = (int(n_inputs), int(n_inputs)) if fn is None else fn(adapter, int(n_inputs), **full)
    forward, backward = int(forward), int(backward)
    return Cost(spec.name, int(n_inputs), forward, backward, forward + backward)


def check_budget(cost, max_cost, params=None):
    """Raise ``ValueError`` when ``cost.total`` is over ``max_cost`` (None: no limit).

    The message names the method, its count parameters, the cost and the limit.

    Parameters
    ----------
    cost : Cost
    max_cost : int or None
    params : dict, optional
        The call's parameters; the count parameters among them are named.

    Examples
    --------
    >>> check_budget(Cost('rise', 1, 2000, 0, 2000), 1000, {'n_masks': 2000})
    Traceback (most recent call last):
    ...
    ValueError: max_cost: rise on 1 input(s) with n_masks=2000 costs 2000 model passes (2000 forward + 0 backward), ...
    """
    if max_cost is None or cost.total <= max_cost:
        return
    names = count_parameters(cost.method)
    counts = ", ".join("%s=%r" % (k, v) for k, v in sorted((params or {}).items()) if k in names)
    raise ValueError("max_cost: %s on %d input(s)%s costs %d model passes (%d forward + %d backward), over the "
                     "limit of %d; lower %sthe number of inputs, or raise max_cost"
                     % (cost.method, cost.n_inputs, " with %s" % counts if counts else "", cost.total, cost.forward,
                        cost.backward, max_cost, "those parameters or " if counts else ""))


def check_max_cost(max_cost, name="max_cost"):
    """``max_cost`` checked: None or a positive int."""
    if max_cost is not None and (not _is_int(max_cost) or max_cost < 1):
        raise ValueError("%s: expected None or a positive int (model passes), got %r" % (name, max_cost))
    return None if max_cost is None else int(max_cost)


# ----------------------------------------------------------------------------- helpers for cost declarations
def one_gradient(adapter, n, **_):
    """One forward and one backward pass per input (gradients, Grad-CAM)."""
    return n, n


def one_forward(adapter, n, **_):
    """One forward pass per input (attention maps)."""
    return n, 0


def per_input(key):
    """``cost`` of a method making ``params[key]`` forward passes per input (masks, samples, evaluations).

    Examples
    --------
    >>> per_input('n_masks')(None, 3, n_masks=100)
    (300, 0)
    """
    def cost(adapter, n, **params):
        return n * int(params[key]), 0

    cost.__name__ = "per_input_%s" % key
    return cost
