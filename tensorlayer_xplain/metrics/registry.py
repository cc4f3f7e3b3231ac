"""The metric registry and :func:`evaluate`, the methods x metrics table."""
import functools
import inspect
from dataclasses import dataclass

import numpy as np

from ..methods.registry import method_info
from .agreement import _named_explanations
from .faithfulness import deletion, insertion, mu_fidelity
from .results import FAMILIES, MetricResult
from .sanity import randomization_sanity_check

__all__ = ["MetricSpec", "METRICS", "DEFAULT_METRICS", "register_metric", "available_metrics", "metrics_of",
           "evaluate"]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes
    ----------
    name : str
    fn : callable
        ``fn(model, explanation, **params) -> result``.
    higher_is_better : bool
    summary : callable
        ``summary(result) -> float``, the number shown by :func:`evaluate`.
    parameters : dict
        ``{parameter: default}`` beyond (model, explanation).
    family : str
        One of :data:`~tensorlayer_xplain.metrics.FAMILIES`.
    needs_model : bool
        Whether the metric calls the model.
    """

    name: str
    fn: object
    higher_is_better: bool
    summary: object
    parameters: dict
    family: str = "faithfulness"
    needs_model: bool = True

    @property
    def direction(self):
        """``'higher'`` or ``'lower'`` (is better)."""
        return "higher" if self.higher_is_better else "lower"


#: name -> :class:`MetricSpec`; :func:`evaluate` looks metrics up here.
METRICS = {}


def _score_of(result):
    return float(result.score)


def register_metric(name, higher_is_better=None, summary=_score_of, overwrite=False, family="faithfulness",
                    direction=None):
    """Decorator registering a metric for :func:`evaluate` (and ``ModelExplainer.evaluate``).

    Two signatures are accepted: ``fn(model, explanation, **params)`` (the
    faithfulness curves and the sanity check), or ``fn(attributions, **params)``
    whose first argument is an ``Explanation`` or an attributions array
    ``(N, ...)`` (the per-input metrics); the latter receives the model as
    ``model=`` only if it has a ``model`` parameter.

    Parameters
    ----------
    name : str
        Column name in :func:`evaluate`'s table.
    higher_is_better : bool, optional
        The direction (or give ``direction``).
    summary : callable
        Maps the metric's result to one float (default ``result.score``).
    overwrite : bool
        Allow replacing a registered metric.
    family : str
        One of :data:`~tensorlayer_xplain.metrics.FAMILIES` (default
        ``'faithfulness'``).
    direction : {'higher', 'lower'}, optional
        Which scores are better, instead of ``higher_is_better``.

    Examples
    --------
    >>> @register_metric('sparsity', higher_is_better=True, summary=float)
    ... def sparsity(model, explanation, quantile=0.9):
    ...     heat = abs(explanation.heatmap()).reshape(len(explanation), -1)
    ...     return (heat < np.quantile(heat, quantile)).mean()
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name: expected a non-empty str, got %r" % (name,))
    if direction is not None:
        if direction not in ("higher", "lower"):
            raise ValueError("direction: expected 'higher' or 'lower', got %r" % (direction,))
        if higher_is_better is not None and bool(higher_is_better) != (direction == "higher"):
            raise ValueError("direction: %r contradicts higher_is_better=%r" % (direction, higher_is_better))
        higher_is_better = direction == "higher"
    if higher_is_better is None:
        raise TypeError("higher_is_better: give the metric's direction (higher_is_better=True/False or "
                        "direction='higher'/'lower')")
    if family not in FAMILIES:
        raise ValueError("family: expected one of %s, got %r" % (FAMILIES, family))

    def decorator(fn):
        if name in METRICS and not overwrite:
            raise ValueError("name: metric %r already registered; pass overwrite=True to replace" % name)
        sig = inspect.signature(fn)
        names = list(sig.parameters)
        plain = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if names[:2] == ["model", "explanation"]:
            call, needs_model = fn, True
            params = {p.name: p.default for p in plain[2:]}
        elif names[:1] == ["attributions"]:
            params = {p.name: p.default for p in plain[1:] if p.name != "model"}
            needs_model = "model" in names
            call = _per_input_caller(fn, needs_model)
        else:
            raise TypeError("fn: a metric must take (model, explanation, **params) or (attributions, **params), "
                            "got (%s)" % ", ".join(names))
        METRICS[name] = MetricSpec(name, call, bool(higher_is_better), summary, params, family, needs_model)
        return fn

    return decorator


def _per_input_caller(fn, needs_model):
    """Adapter from evaluate's ``(model, explanation)`` calling convention to ``fn(attributions, ...)``."""

    @functools.wraps(fn)
    def call(model, explanation, **params):
        if needs_model:
            params["model"] = model
        return fn(explanation, **params)

    return call


def scored(name, scores, method, details=None, **params):
    """The :class:`MetricResult` of the registered metric ``name`` (its family and direction from the registry)."""
    spec = METRICS[name]
    return MetricResult(name, spec.family, np.asarray(scores, np.float64), spec.higher_is_better, method,
                        dict(params), dict(details or {}))


def metrics_of(selection):
    """Metric names for ``'all'``, a family name, one metric name or a list of metric names.

    Parameters
    ----------
    selection : str or sequence of str
        ``'all'`` (every registered metric), a family (``'complexity'``, see
        :data:`~tensorlayer_xplain.metrics.FAMILIES`), a metric name, or a list of
        metric and family names. A single string that names a family selects the
        family (``'complexity'`` is also a metric: select it alone with
        ``['complexity']``); in a list, metric names come first.

    Returns
    -------
    list of str
        Registered metric names, in registration order, without duplicates.

    Examples
    --------
    >>> metrics_of('complexity')
    ['sparseness', 'complexity', 'effective_complexity']
    """
    single = isinstance(selection, str)
    items = [selection] if single else list(selection)
    names = []
    for item in items:
        if item == "all":
            found = list(METRICS)
        elif item in FAMILIES and (single or item not in METRICS):
            found = [name for name, spec in METRICS.items() if spec.family == item]
        else:
            found = [_metric_spec(item).name]
        names.extend(name for name in found if name not in names)
    if not names:
        raise ValueError("metrics: %r selects no registered metric" % (selection,))
    return names


def available_metrics():
    """Sorted names of the registered metrics.

    Returns
    -------
    list of str
        The names :func:`evaluate` accepts in ``metrics``.

    Examples
    --------
    >>> {'deletion', 'insertion', 'mu_fidelity', 'randomization'} <= set(available_metrics())
    True
    """
    return sorted(METRICS)


def _metric_spec(name):
    spec = METRICS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise KeyError("metrics: unknown metric %r; known: %s" % (name, ", ".join(available_metrics())))
    return spec


_CHECK_ARGUMENTS = tuple(inspect.signature(randomization_sanity_check).parameters)


def _randomization_metric(model, explanation, mode="cascading", threshold=0.5, seed=0):
    """Sanity-check metric for :func:`evaluate`: reruns the explanation's method and params on randomized weights.

    The method's own ``seed`` is replaced by ``seed`` (the check uses one seed for both).
    """
    targets = np.asarray(explanation.targets)
    targets = None if (targets < 0).any() else targets
    params = {k: v for k, v in explanation.params.items()
              if k in method_info(explanation.method).parameters and k not in _CHECK_ARGUMENTS}
    return randomization_sanity_check(model, explanation.inputs, explanation.method, mode=mode,
                                      threshold=threshold, targets=targets, seed=seed, **params)


register_metric("deletion", higher_is_better=False)(deletion)
register_metric("insertion", higher_is_better=True)(insertion)
register_metric("mu_fidelity", higher_is_better=True)(mu_fidelity)
register_metric("randomization", higher_is_better=False, family="randomisation")(_randomization_metric)

#: Metrics :func:`evaluate` computes when none are named.
DEFAULT_METRICS = ("deletion", "insertion", "mu_fidelity")


def _route_params(specs, metric_params):
    """Split ``metric_params`` per metric: ``{metric: {...}}`` entries, then shared keys each metric accepts."""
    per_metric = {spec.name: {} for spec in specs}
    shared = {}
    for key, value in metric_params.items():
        if key in METRICS:
            if not isinstance(value, dict):
                raise TypeError("%s: per-metric parameters must be a dict, got %s" % (key, type(value).__name__))
            if key not in per_metric:
                raise ValueError("%s: parameters given for a metric that is not in metrics=%s"
                                 % (key, list(per_metric)))
            unknown = [p for p in value if p not in METRICS[key].parameters]
            if unknown:
                raise TypeError("%s: unknown parameter(s) %s; it takes %s"
                                % (key, unknown, ", ".join(METRICS[key].parameters)))
            per_metric[key].update(value)
        else:
            shared[key] = value
    for key, value in shared.items():
        takers = [spec.name for spec in specs if key in spec.parameters]
        if not takers:
            raise TypeError("metric_params: no metric in %s takes %r" % ([s.name for s in specs], key))
        for name in takers:
            per_metric[name].setdefault(key, value)
    return per_metric


def evaluate(model, explanations, metrics=DEFAULT_METRICS, return_results=False, tidy=False, **metric_params):
    """Table of metrics for several explanations of the same model: rows = methods, columns = metrics.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanations : dict of str -> Explanation, list of Explanation, or Explanation
    metrics : str or sequence of str
        Registered metric names (:func:`available_metrics`), a family, or
        ``'all'`` (see :func:`metrics_of`); default
        ``('deletion', 'insertion', 'mu_fidelity')``. ``'randomization'`` runs the
        sanity check again for each explanation's method and reports its deciding
        correlation (lower is better). When ``'all'`` or a family is selected
        without ``masks=``, the localisation metrics (which need masks) are left
        out and listed in ``df.attrs['skipped']``.
    return_results : bool
        Also return ``{method: {metric: result}}`` with the full result objects.
    tidy : bool
        Return the long table instead: one row per (method, metric) with columns
        ``method, metric, family, direction, mean, spread, n`` (``spread``: the
        standard deviation over the inputs of the per-input scores, NaN where a
        metric has no per-input score).
    **metric_params
        Parameters for the metrics: a key a metric takes goes to every metric that
        takes it (``batch_size=128``, ``seed=1``); a metric's name with a dict
        targets one metric (``deletion={'baseline_value': 'blur'}``).

    Returns
    -------
    pandas.DataFrame
        Index ``method``, one column per metric; ``df.attrs['higher_is_better']``
        maps each metric to its direction. With ``return_results``, ``(df, results)``.

    Raises
    ------
    KeyError
        Unknown metric name.
    TypeError
        A parameter no selected metric takes.

    Examples
    --------
    >>> exps = {m: tlxp.explain(model, x_test[:32], m) for m in ['gradient', 'gradcam']}
    >>> tlxp.metrics.evaluate(model, exps, steps=20, n_subsets=64)  # doctest: +IGNORE_RESULT
    metric    deletion  insertion  mu_fidelity
    method
    gradient      0.31       0.52         0.10
    gradcam       0.22       0.61         0.18
    """
    import pandas as pd

    skipped = {}
    if isinstance(metrics, str):
        metrics = metrics_of(metrics)
        if "masks" not in metric_params:
            skipped = {name: "needs masks=" for name in metrics if "masks" in METRICS[name].parameters}
            metrics = [name for name in metrics if name not in skipped]
    specs = [_metric_spec(name) for name in metrics]
    if not specs and skipped:
        raise ValueError("masks: every selected metric (%s) needs masks=, got none" % ", ".join(skipped))
    if not specs:
        raise ValueError("metrics: expected at least one metric name, got none")
    named = _named_explanations(explanations)
    params = _route_params(specs, metric_params)
    results = {key: {} for key in named}
    table = pd.DataFrame(index=pd.Index(list(named), name="method"),
                         columns=pd.Index([spec.name for spec in specs], name="metric"), dtype=float)
    for key, exp in named.items():
        for spec in specs:
            result = spec.fn(model, exp, **params[spec.name])
            results[key][spec.name] = result
            table.loc[key, spec.name] = float(spec.summary(result))
    table.attrs["higher_is_better"] = {spec.name: spec.higher_is_better for spec in specs}
    table.attrs["skipped"] = skipped
    if tidy:
        table = _tidy(table, results, specs, skipped)
    return (table, results) if return_results else table


def _per_input(result):
    """A result's per-input scores (the sanity check's: of its deciding stage), or None when it has none."""
    per_input = getattr(result, "per_input", None)
    if per_input is not None:  # SanityCheckResult: (n_layers, N); its `correlations` are per layer
        per_input = np.asarray(per_input, np.float64)
        if per_input.ndim != 2 or not len(per_input):
            return None
        return per_input[-1] if result.mode == "cascading" else per_input.mean(axis=0)
    for attribute in ("scores", "auc", "correlations"):
        values = getattr(result, attribute, None)
        if values is not None:
            return np.asarray(values, np.float64).reshape(-1)
    return None


def _tidy(table, results, specs, skipped):
    import pandas as pd

    rows = []
    for method, by_metric in results.items():
        for spec in specs:
            scores = _per_input(by_metric[spec.name])
            defined = scores[~np.isnan(scores)] if scores is not None else np.empty(0)
            rows.append({"method": method, "metric": spec.name, "family": spec.family, "direction": spec.direction,
                         "mean": float(table.loc[method, spec.name]),
                         "spread": float(defined.std()) if defined.size else float("nan"),
                         "n": int(defined.size)})
    tidy = pd.DataFrame(rows, columns=["method", "metric", "family", "direction", "mean", "spread", "n"])
    tidy.attrs["skipped"] = skipped
    return tidy
