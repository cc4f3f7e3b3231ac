"""What a method costs, in model passes, before it runs: the cost model, parameter ranges and budgets.

Every registered method states its cost as a function of its parameters and
the input: ``cost(adapter, n_inputs, **params) -> (forward, backward)``, the
number of rows sent forward through the model and the number of those that
are also back-propagated. One *pass* is one input row through the model; a
backward pass counts as one more, so ``total = forward + backward`` (a
gradient costs about two forward passes). The extra forward pass every
explanation makes to predict its inputs is not counted.

=======================  ===============================================  ================
method                   forward passes per input                         backward
=======================  ===============================================  ================
gradient, gradient_x_    1                                                1
input, guided_backprop,
gradcam, gradcam_plus_
plus
integrated_gradients     ``steps + 1`` (+ blur, see below)                ``steps + 1``
smoothgrad, vargrad      ``n_samples`` x the base method's                idem
scorecam                 channels of the CAM layer + 1                    0
occlusion                windows + 1                                      0
rise                     ``n_masks``                                      0
lime, lime_tabular       ``num_samples``                                  0
shap                     ``n_samples`` (+ the background once)            ``n_samples``
shap_kernel              ``nsamples`` x background rows (``max_background``)   0
shap_partition           ``max_evals``                                    0
shap_deep                background rows (``max_background``)             idem
attention, rollout       1                                                0
user methods             1 (unless ``register_method(..., cost=...)``)    1
=======================  ===============================================  ================

A ``'blurred'`` integrated-gradients baseline is blurred on the host with a kernel of
``2 r + 1`` taps per axis (``r = min(4 blur_sigma, max(H, W))``); it counts one more
forward pass per input for every :data:`BLUR_TAPS_PER_PASS` (256) multiply-adds per value.

:func:`check_ranges` rejects out-of-range parameters before anything runs (it is
the one place that checks ranges; :func:`~tensorlayer_xplain.explain`, the
explainer, the cost model and the HTTP service all call it): every count
parameter (``steps``, ``n_samples``, ``n_masks``, ``num_samples``,
``max_evals``, ...) must be an int in ``[1, MAX_COUNT]`` and ``batch_size`` an
int in ``[1, MAX_BATCH_SIZE]``; float parameters must be finite; and every
parameter that reaches native code (scikit-image's SLIC, SciPy's Gaussian
filter, OpenCV's blur, LIME's and SHAP's samplers) has the range of
:data:`PARAMETER_RANGES`. With the input's image shape ``(H, W, C)`` known,
sizes are also bounded by the image:

=======================  ============================================  ==========================
parameter                valid range                                    methods
=======================  ============================================  ==========================
compactness              float in [1e-4, 1e4]                           lime, shap (superpixels)
kernel_width             float in [1e-3, 1e3] (or None)                 lime, lime_tabular
noise_level              float in [0, 10] (x the input's value range)   smoothgrad, vargrad
local_smoothing          float in [0, 10]                               shap
p_keep                   float in (0, 1]                                rise
p                        float in [0.1, 16]                             attention
blur_sigma               float in (0, max(H, W)] pixels                 integrated_gradients
hide_color, baseline,    numbers in [-1e6, 1e6]                         lime, integrated_gradients,
baseline_value, masker                                                  occlusion, shap_partition
background               an array (M, ...) of numbers in [-1e6, 1e6]    shap, shap_kernel, shap_deep
``blur(kx,ky)`` masker   kx, ky in [1, max(H, W)]                       shap_partition
seed                     int in [0, 2**32 - 1] (or None)                every seeded method
head                     int in [0, 65535] (or None)                    attention
n_segments               int in [1, H * W]                              lime, shap (superpixels)
mask_size                int in [1, max(H, W)]                          rise
window, stride           ints in [1, H] x [1, W]                        occlusion
=======================  ============================================  ==========================

``smoothgrad`` and ``vargrad`` check their ``base_params`` with the same table
(for ``base_method``). A value of the wrong kind (a list for a number, a bool
for a count, ...) is a ``TypeError``; a number out of range a ``ValueError``;
both name the parameter, the range and the value.

Examples
--------
>>> import tensorlayer_xplain as tlxp                                   # doctest: +SKIP
>>> tlxp.estimate_cost(model, 'integrated_gradients', 8, steps=32)      # doctest: +SKIP
Cost(method='integrated_gradients', n_inputs=8, forward=264, backward=264, total=528)
"""
import numbers
from dataclasses import dataclass

import numpy as np

from ._engine.checks import window_pair
from ._engine.segmentation import COMPACTNESS_RANGE
from .registry import _BATCHABLE, _COSTS, method_info, set_method_traits

__all__ = ["Cost", "estimate_cost", "check_budget", "check_ranges", "set_method_traits", "batchable",
           "MAX_BATCH_SIZE", "MAX_COUNT", "COUNT_PARAMETERS", "PARAMETER_RANGES", "MAX_SEED", "MAX_VALUE"]

#: Largest ``batch_size`` accepted anywhere (rows in flight at once).
MAX_BATCH_SIZE = 8192
#: Largest value of a count parameter (steps, samples, masks, evaluations per input).
MAX_COUNT = 1_000_000
#: Parameters that count model evaluations (or features): positive ints up to MAX_COUNT.
COUNT_PARAMETERS = ("steps", "n_samples", "n_masks", "num_samples", "max_evals", "nsamples", "max_background",
                    "n_segments", "num_features", "mask_size", "window", "stride")
#: Largest seed (numpy and TensorFlow both take it).
MAX_SEED = 2 ** 32 - 1
#: Largest magnitude of a value written into an input (a fill colour, a baseline): float32 stays finite.
MAX_VALUE = 1e6
#: Ranges of the float (and non-count int) parameters: ``name -> (kind, low, high, low_open)``; ``high`` may be
#: ``'side'`` (the image's longer side) -- checked only when the image shape is known.
PARAMETER_RANGES = {
    "compactness": ("float", COMPACTNESS_RANGE[0], COMPACTNESS_RANGE[1], False),
    "kernel_width": ("float", 1e-3, 1e3, False),
    "noise_level": ("float", 0.0, 10.0, False),
    "local_smoothing": ("float", 0.0, 10.0, False),
    "p_keep": ("float", 0.0, 1.0, True),
    "p": ("float", 0.1, 16.0, False),
    "blur_sigma": ("float", 0.0, "side", True),
    "hide_color": ("values", -MAX_VALUE, MAX_VALUE, False),
    "baseline": ("values", -MAX_VALUE, MAX_VALUE, False),
    "baseline_value": ("values", -MAX_VALUE, MAX_VALUE, False),
    "masker": ("values", -MAX_VALUE, MAX_VALUE, False),
    "background": ("rows", -MAX_VALUE, MAX_VALUE, False),
    "seed": ("int", 0, MAX_SEED, False),
    "head": ("int", 0, 65535, False),
}


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
    >>> batchable('gradient')      # doctest: +SKIP
    True
    """
    spec = method_info(method)
    rule = _BATCHABLE.get(spec.name, False)
    if callable(rule):
        full = dict(spec.parameters)
        full.update(params or {})
        return bool(rule(full))
    return bool(rule)


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def _check_count(method, key, value, limit):
    values = value if isinstance(value, (tuple, list)) and key in ("window", "stride", "n_segments") else (value,)
    for v in values:
        if not _is_int(v) or not 1 <= v <= limit:
            raise ValueError("%s: expected an int between 1 and %d for %s, got %.80r"
                             % (key, limit, method, value))


def _expected(key):
    """What a ranged parameter takes, in words (for messages)."""
    if key == "batch_size":
        return "an int between 1 and %d" % MAX_BATCH_SIZE
    if key in COUNT_PARAMETERS:
        return "an int between 1 and %d" % MAX_COUNT
    kind, low, high, low_open = PARAMETER_RANGES[key]
    what = {"int": "an int", "float": "a number", "values": "a number (or numbers)", "rows": "rows of numbers"}[kind]
    return "%s in %s%g, %s]" % (what, "(" if low_open else "[", low, "the image's longer side" if high == "side"
                                else "%g" % high)


def _is_number(value):
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _image_limit(key, image_shape):
    """The bound a size parameter takes from the image ``(H, W, C)`` (None when the shape is unknown)."""
    if image_shape is None:
        return None
    h, w = int(image_shape[0]), int(image_shape[1])
    return {"n_segments": h * w, "mask_size": max(h, w), "side": max(h, w)}.get(key)


def _check_range(method, key, value, rule, image_shape):
    kind, low, high, low_open = rule
    if high == "side":
        high = _image_limit("side", image_shape)
    where = "%s%g, %s]" % ("(" if low_open else "[", low, "the image's longer side" if high is None else "%g" % high)
    if kind in ("values", "rows"):  # a number, or numbers (per channel, an array, rows of inputs): each in range
        if isinstance(value, str):
            return
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, RecursionError):
            raise TypeError("%s: expected numbers in %s for %s, got %.80r" % (key, where, method, value)) from None
        rows = kind == "rows" and array.ndim == 0
        if array.dtype.kind not in "iuf" or array.size == 0 or rows:
            raise TypeError("%s: expected %s of numbers in %s for %s, got %.80r"
                            % (key, "an array (M, ...) of M inputs" if kind == "rows" else "a number or an array",
                               where, method, value))
        if not np.all(np.isfinite(array)) or array.min() < low or array.max() > high:
            raise ValueError("%s: expected finite numbers in %s for %s, got %.80r" % (key, where, method, value))
        return
    if kind == "int" and not _is_int(value) or kind == "float" and not _is_number(value):
        raise TypeError("%s: expected %s in %s for %s, got %s %.80r"
                        % (key, "an int" if kind == "int" else "a number", where, method, type(value).__name__,
                           value))
    if not np.isfinite(value) or value < low or (low_open and value == low) or (high is not None and value > high):
        raise ValueError("%s: expected %s in %s for %s, got %r"
                         % (key, "an int" if kind == "int" else "a finite number", where, method, value))


def _check_blur_masker(method, value, image_shape):
    from ._engine.background import _BLUR

    match = _BLUR.match(value.replace(" ", ""))
    side = _image_limit("side", image_shape)
    if match and side is not None and not all(1 <= int(v) <= side for v in match.groups()):
        raise ValueError("masker: expected 'blur(kx,ky)' with kx, ky in [1, %d] (the image's longer side) for %s, "
                         "got %.80r" % (side, method, value))


def check_ranges(method, params, image_shape=None):
    """Reject out-of-range parameters (see the table above) before any work.

    Parameters
    ----------
    method : str
        A method name or alias.
    params : dict
        The parameters of one call (None, and strings such as ``'auto'`` or a
        segmentation name, are left to the method).
    image_shape : tuple (H, W, C), optional
        The inputs' image shape: bounds ``blur_sigma``, ``n_segments``,
        ``mask_size`` and ``blur(kx,ky)`` maskers by the image.

    Raises
    ------
    ValueError
        Naming the parameter, the accepted range and the value.
    TypeError
        For a value of the wrong kind (a list, a bool or a string for a number).

    Examples
    --------
    >>> check_ranges('integrated_gradients', {'steps': -5})                   # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: steps: expected an int between 1 and 1000000 for integrated_gradients, got -5
    """
    spec = method_info(method)
    for key, value in params.items():
        ranged = key == "batch_size" or key in COUNT_PARAMETERS or key in PARAMETER_RANGES
        default = spec.parameters.get(key)
        if value is None:
            if ranged and default is not None:
                raise TypeError("%s: expected %s for %s, got None" % (key, _expected(key), spec.name))
            continue
        if isinstance(value, str):
            if key == "masker":
                _check_blur_masker(spec.name, value, image_shape)
            elif ranged and (not isinstance(default, str) or key in COUNT_PARAMETERS and value != default):
                raise TypeError("%s: expected %s for %s, got the string %.80r" % (key, _expected(key), spec.name,
                                                                                  value))
            continue
        if key == "batch_size":
            _check_count(spec.name, key, value, MAX_BATCH_SIZE)
        elif key in COUNT_PARAMETERS:
            _check_count(spec.name, key, value, MAX_COUNT)
            limit = _image_limit(key, image_shape)
            values = value if isinstance(value, (tuple, list)) else (value,)
            if limit is not None and any(v > limit for v in values):
                raise ValueError("%s: expected at most %d (the image is %dx%d) for %s, got %.80r"
                                 % (key, limit, image_shape[0], image_shape[1], spec.name, value))
        elif key in PARAMETER_RANGES:
            _check_range(spec.name, key, value, PARAMETER_RANGES[key], image_shape)
        elif isinstance(value, (float, np.floating)) and not np.isfinite(value):
            raise ValueError("%s: expected a finite number for %s, got %r" % (key, spec.name, value))
    if "base_params" in spec.parameters:
        _check_nested(spec, params, image_shape)


def _check_nested(spec, params, image_shape):
    """``base_params`` of a method that runs another (smoothgrad, vargrad): a dict, checked for ``base_method``."""
    from .registry import check_params

    nested = params.get("base_params")
    if nested is not None and not isinstance(nested, dict):
        raise TypeError("base_params: expected a dict of the base method's parameters (or None) for %s, got %.80r"
                        % (spec.name, nested))
    base = params.get("base_method", spec.parameters.get("base_method"))
    if not nested or not isinstance(base, str) or method_info(base).name in ("smoothgrad", "vargrad"):
        return  # the method itself names a bad base_method
    try:
        check_params(base, nested)
        check_ranges(base, nested, image_shape)
    except (TypeError, ValueError) as err:
        raise type(err)("base_params: %s" % err) from None


def _background_rows(background, max_background=None):
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
    >>> estimate_cost(model, 'smoothgrad', 4, n_samples=16)                 # doctest: +SKIP
    Cost(method='smoothgrad', n_inputs=4, forward=64, backward=64, total=128)
    """
    from ..adapter import as_adapter
    from .registry import check_params

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
    fn = _COSTS.get(spec.name)
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
    >>> check_budget(Cost('rise', 1, 2000, 0, 2000), 1000)                  # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: max_cost: rise on 1 input(s) (n_masks=2000) costs 2000 model passes ...
    """
    if max_cost is None or cost.total <= max_cost:
        return
    counts = ", ".join("%s=%r" % (k, v) for k, v in sorted((params or {}).items()) if k in COUNT_PARAMETERS)
    raise ValueError("max_cost: %s on %d input(s)%s costs %d model passes (%d forward + %d backward), over the "
                     "limit of %d; lower %sthe number of inputs, or raise max_cost"
                     % (cost.method, cost.n_inputs, " with %s" % counts if counts else "", cost.total, cost.forward,
                        cost.backward, max_cost, "those parameters or " if counts else ""))


def check_max_cost(max_cost, name="max_cost"):
    """``max_cost`` checked: None or a positive int."""
    if max_cost is not None and (not _is_int(max_cost) or max_cost < 1):
        raise ValueError("%s: expected None or a positive int (model passes), got %r" % (name, max_cost))
    return None if max_cost is None else int(max_cost)


# ----------------------------------------------------------------------------- the built-in methods' costs
def _one_gradient(adapter, n, **_):
    return n, n


def _one_forward(adapter, n, **_):
    return n, 0


#: Multiply-adds per input value counted as one forward pass when a method blurs its inputs on the host.
BLUR_TAPS_PER_PASS = 256


def _blur_passes(adapter, n, sigma):
    """Forward passes a Gaussian blur of ``n`` inputs counts: ``2 (2 r + 1)`` taps per value, one pass per 256."""
    from ._engine.baselines import blur_radius

    taps = 2 * (2 * blur_radius(sigma, adapter.image_shape[:2]) + 1)
    return n * -(-taps // BLUR_TAPS_PER_PASS)


def _integrated_gradients(adapter, n, steps=64, baseline="zeros", blur_sigma=3.0, **_):
    blur = _blur_passes(adapter, n, blur_sigma) if isinstance(baseline, str) and baseline == "blurred" else 0
    return n * (steps + 1) + blur, n * (steps + 1)


def _noise_tunnel(adapter, n, base_method="gradient", n_samples=32, base_params=None, **_):
    if not isinstance(base_method, str) or method_info(base_method).name in ("smoothgrad", "vargrad"):
        return n * n_samples, n * n_samples  # the method itself rejects these
    base = estimate_cost(adapter, base_method, n * n_samples, **dict(base_params or {}))
    return base.forward, base.backward


def _scorecam(adapter, n, layer_name=None, **_):
    from .cam import resolve_cam_layer

    channels = resolve_cam_layer(adapter, layer_name)[1][-1]
    return n * (channels + 1), 0


def _occlusion(adapter, n, window=4, stride=2, **_):
    from .perturbation import occlusion_windows

    h, w, _ = adapter.image_shape
    rows, _ = occlusion_windows((h, w), window_pair("window", window, (h, w)), window_pair("stride", stride, (h, w)))
    return n * (len(rows) + 1), 0


def _shap_gradient(adapter, n, n_samples=200, background=None, **_):
    return n * n_samples + _background_rows(background), n * n_samples


def _shap_kernel(adapter, n, nsamples="auto", background=None, max_background=20, granularity="auto",
                 n_segments=40, **_):
    h, w, _ = adapter.image_shape
    if granularity == "feature" or (granularity == "auto" and min(h, w) == 1):
        scales = (int(np.prod(adapter.input_shape)),)  # one game over the input values
    else:
        scales = tuple(n_segments) if isinstance(n_segments, (tuple, list)) else (n_segments,)  # one per scale
    coalitions = sum(2 * m + 2048 if nsamples == "auto" else int(nsamples) for m in scales)
    return n * coalitions * max(1, _background_rows(background, max_background)), 0


def _shap_deep(adapter, n, background=None, max_background=100, **_):
    rows = max(1, _background_rows(background, max_background))
    return n * rows, n * rows


def _per_input(key, default):
    def cost(adapter, n, **params):
        return n * int(params.get(key, default)), 0

    return cost


_BUILTIN = {
    "gradient": (_one_gradient, True), "gradient_x_input": (_one_gradient, True),
    "guided_backprop": (_one_gradient, True), "gradcam": (_one_gradient, True),
    "gradcam_plus_plus": (_one_gradient, True),
    "integrated_gradients": (_integrated_gradients, lambda p: not (isinstance(p["baseline"], str)
                                                                   and p["baseline"] == "uniform")),
    "smoothgrad": (_noise_tunnel, False), "vargrad": (_noise_tunnel, False),
    "scorecam": (_scorecam, True), "occlusion": (_occlusion, True),
    "rise": (_per_input("n_masks", 2000), False), "lime": (_per_input("num_samples", 1000), False),
    "lime_tabular": (_per_input("num_samples", 5000), False), "shap": (_shap_gradient, False),
    "shap_kernel": (_shap_kernel, False), "shap_partition": (_per_input("max_evals", 500), False),
    "shap_deep": (_shap_deep, False), "attention": (_one_forward, True), "attention_rollout": (_one_forward, True),
}


def install_builtin_costs():
    """Attach the table above to the built-in methods (called once the methods are registered)."""
    for name, (cost, merge) in _BUILTIN.items():
        set_method_traits(name, cost, batchable=merge)
