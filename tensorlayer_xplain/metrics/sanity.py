"""The model-randomization sanity check (Adebayo et al., 2018)."""
import math
import numbers

import numpy as np

from ..adapter import as_adapter
from ..explanation import Explanation
from ..methods._engine.utils import rng_for
from ..methods.registry import check_params, method_info
from ..runner import explain
from ._common import _check_choice, _check_int, _flat_heat, _spearman_rows
from .results import SanityCheckResult

__all__ = ["SANITY_MODES", "randomization_sanity_check"]


#: Layer randomization orders of :func:`randomization_sanity_check`.
SANITY_MODES = ("cascading", "independent")


def _variables_of(obj):
    """The weight variables an object (model or layer) holds, nested ones included."""
    weights = getattr(obj, "all_weights", None)
    if weights is None:
        weights = getattr(obj, "weights", None)
    return list(weights or [])


def _layer_stages(adapter):
    """``[(layer_name, [variables])]`` top (output) layer first, each weight in its innermost layer only."""
    layers = adapter.iter_layers()
    owned = {}
    for layer in layers:
        variables = _variables_of(layer)
        for var in variables:
            current = owned.get(id(var))
            if current is None or len(variables) < current[0]:
                owned[id(var)] = (len(variables), layer.name)
    by_name = {layer.name: layer for layer in layers}
    stages = []
    for name, _ in reversed(adapter.layer_call_order()):
        own = [v for v in _variables_of(by_name[name]) if owned.get(id(v), (0, None))[1] == name]
        if own and name not in [s[0] for s in stages]:
            stages.append((name, own))
    return stages


def _randomize(variables, rng):
    """Replace weight values in place (``assign``): kernels by N(0, their std), vectors by a permutation.

    Kernels (2-D and more) get fresh normal values with the tensor's own standard
    deviation (``1/sqrt(fan_in)`` when that is 0), as a re-initialization would;
    vectors (biases, normalization parameters) get their values shuffled, which
    keeps e.g. variances positive.
    """
    for var in variables:
        value = var.numpy()
        if value.ndim >= 2:
            std = float(value.std())
            if not std > 0:
                std = 1.0 / math.sqrt(max(1, int(np.prod(value.shape[:-1]))))
            new = rng.normal(0.0, std, size=value.shape)
        else:
            new = rng.permutation(value.reshape(-1)).reshape(value.shape)
        var.assign(new.astype(value.dtype))


def _absolute_heat(explanation):
    return _flat_heat(explanation, "abs_sum")


def explain_per_stage(adapter, inputs, method, targets, params, mode, randomize, on_stage, stages=None):
    """Explain ``inputs`` on the model, then again after each stage of weight randomisation; restore the weights.

    Every weight is snapshotted first, randomised in place with ``assign`` (so
    compiled steps see the new values) and restored in ``finally``, also when the
    method raises; the adapter's lock is held throughout.

    Parameters
    ----------
    adapter : ModelAdapter
    inputs : ndarray
    method : str
    targets : None, int, array or callable
        Explained classes, fixed across stages (None: the trained model's predictions).
    params : dict
        The method's parameters.
    mode : {'cascading', 'independent'}
        Keep the previous stages' randomisation, or restore the weights first.
    randomize : callable
        ``randomize(stage_index, variables)`` changes one layer's variables in place.
    on_stage : callable
        ``on_stage(layer_name, original, randomized)``, two Explanations, after each stage.
    stages : list of (str, list of variables), optional
        Default: every layer with weights, top (output) layer first.

    Returns
    -------
    (Explanation, list of str)
        The explanation on the unchanged model and the randomised layers' names.
    """
    if stages is None:
        stages = _layer_stages(adapter)
    if not stages:
        raise ValueError("model: expected layers with weights to randomize, found none")
    variables, seen = [], set()
    for var in _variables_of(adapter.model) + [v for _, vs in stages for v in vs]:
        if id(var) not in seen:
            seen.add(id(var))
            variables.append(var)
    with adapter._lock:
        snapshot = [var.numpy().copy() for var in variables]
        try:
            original = explain(adapter, inputs, method, targets, **params)
            fixed = targets if callable(targets) else original.targets
            for index, (name, layer_vars) in enumerate(stages):
                if mode == "independent" and index > 0:
                    for var, value in zip(variables, snapshot):
                        var.assign(value)
                randomize(index, layer_vars)
                on_stage(name, original, explain(adapter, original.inputs, method, fixed, **params))
        finally:
            for var, value in zip(variables, snapshot):
                var.assign(value)
    return original, [name for name, _ in stages]


def randomization_sanity_check(model, inputs, method="gradient", mode="cascading", threshold=0.5, targets=None,
                               seed=0, **method_params):
    """Model parameter randomization test: the explanation must change when the weights are randomized.

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim (2018), "Sanity Checks for
    Saliency Maps", NeurIPS. The layers' weights are randomized from the top
    (output) layer down, either cumulatively (``'cascading'``) or one layer at a
    time with the others trained (``'independent'``). After each stage the method
    is run again (through :func:`tensorlayer_xplain.explain`, never a cache) for
    the same inputs and target classes, and the Spearman rank correlation between
    the absolute original and randomized maps is recorded.

    The user's model is left bit-identical: every weight is snapshotted first,
    randomized in place with ``assign`` (so compiled steps see the new values),
    and restored in ``finally`` — also when the method raises. The adapter's lock
    is held throughout, so other threads using the same adapter never see
    randomized weights.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A model with layers and weights (a plain callable cannot be randomized).
    inputs : array-like, shape (N, *input_shape) or (N, H, W, C)
    method : str
        Any registered method.
    mode : {'cascading', 'independent'}
    threshold : float
        The check passes when the deciding correlation is below it: for
        ``'cascading'``, that of the fully randomized model (last stage); for
        ``'independent'``, the mean over the single-layer randomizations. The
        per-stage correlations are all returned, to judge layer by layer.
    targets : None, int, array-like of int or callable
        Explained classes, fixed across stages (None: the trained model's predictions).
    seed : int
        Seed of the random weights; also the method's ``seed`` when it takes one,
        so noise in the method is the same before and after randomization.
    **method_params
        The method's own parameters (``batch_size`` included, for methods that
        take it).

    Returns
    -------
    SanityCheckResult
        ``layers`` (top first), ``correlations`` per stage, ``per_input``,
        ``threshold``, ``passed``; ``to_frame()`` gives a table.

    Raises
    ------
    TypeError
        ``model`` is a plain callable, or unknown method parameters.
    ValueError
        Unknown ``mode``, a ``threshold`` outside [-1, 1], or a model without weights.

    Examples
    --------
    >>> res = tlxp.metrics.randomization_sanity_check(model, x_test[:8], 'gradient')
    >>> res.passed, res.score  # doctest: +IGNORE_RESULT
    (True, 0.34)
    >>> res.to_frame()  # doctest: +IGNORE_RESULT
              layer  spearman
    stage
    1       dense_2  0.550
    2       dense_1  0.419
    3      conv2d_2  0.339
    4      conv2d_1  0.344
    """
    if isinstance(inputs, Explanation):
        raise TypeError("inputs: expected the input array, got an Explanation; pass explanation.inputs and "
                        "method=explanation.method (the method is rerun at every stage)")
    _check_choice("mode", mode, SANITY_MODES)
    if isinstance(threshold, bool) or not isinstance(threshold, (numbers.Real, np.number)) \
            or not -1.0 <= float(threshold) <= 1.0:
        raise ValueError("threshold: expected a rank correlation in [-1, 1], got %r" % (threshold,))
    _check_int("seed", seed, 0)
    spec = method_info(method)
    params = dict(method_params)
    if "seed" in spec.parameters:
        params.setdefault("seed", seed)
    check_params(spec.name, params)
    adapter = as_adapter(model)
    if adapter.kind == "callable":
        raise TypeError("model: the randomization check needs a TensorLayer or Keras model with weights, "
                        "got a plain callable")
    adapter.prepare(inputs)  # validates and fixes the input shape before the layers are traced
    rng = rng_for(seed)
    per_input = []
    original, stages = explain_per_stage(adapter, inputs, spec.name, targets, params, mode,
                                         lambda _, variables: _randomize(variables, rng),
                                         lambda _, original, randomized: per_input.append(
                                             _spearman_rows(_absolute_heat(original), _absolute_heat(randomized))))
    per_input = np.asarray(per_input)
    result = SanityCheckResult(spec.name, mode, stages, per_input.mean(axis=1), per_input,
                               float(threshold))
    result.passed = bool(result.score < result.threshold)
    return result
