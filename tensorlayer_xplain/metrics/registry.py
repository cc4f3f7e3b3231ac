"""The metric registry and :func:`evaluate`, the methods x metrics table."""
import inspect
from dataclasses import dataclass

import numpy as np

from ..methods.registry import method_info
from .agreement import _named_explanations
from .faithfulness import deletion, insertion, mu_fidelity
from .sanity import randomization_sanity_check

__all__ = ["MetricSpec", "METRICS", "DEFAULT_METRICS", "register_metric", "available_metrics", "evaluate"]


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
    """

    name: str
    fn: object
    higher_is_better: bool
    summary: object
    parameters: dict


#: name -> :class:`MetricSpec`; :func:`evaluate` looks metrics up here.
METRICS = {}


def _score_of(result):
    return float(result.score)


def register_metric(name, higher_is_better, summary=_score_of, overwrite=False):
    """Decorator registering ``fn(model, explanation, **params)`` as a metric for :func:`evaluate`.

    Parameters
    ----------
    name : str
        Column name in :func:`evaluate`'s table.
    higher_is_better : bool
    summary : callable
        Maps the metric's result to one float (default ``result.score``).
    overwrite : bool
        Allow replacing a registered metric.

    Examples
    --------
    >>> @register_metric('sparsity', higher_is_better=True, summary=float)
    ... def sparsity(model, explanation, quantile=0.9):
    ...     heat = abs(explanation.heatmap()).reshape(len(explanation), -1)
    ...     return (heat < np.quantile(heat, quantile)).mean()
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name: expected a non-empty str, got %r" % (name,))

    def decorator(fn):
        if name in METRICS and not overwrite:
            raise ValueError("name: metric %r already registered; pass overwrite=True to replace" % name)
        sig = inspect.signature(fn)
        names = list(sig.parameters)
        if names[:2] != ["model", "explanation"]:
            raise TypeError("fn: a metric must take (model, explanation, **params), got (%s)" % ", ".join(names))
        params = {p.name: p.default for p in list(sig.parameters.values())[2:]
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        METRICS[name] = MetricSpec(name, fn, bool(higher_is_better), summary, params)
        return fn

    return decorator


def available_metrics():
    """Sorted names of the registered metrics.

    Returns
    -------
    list of str
        The names :func:`evaluate` accepts in ``metrics``.

    Examples
    --------
    >>> available_metrics()
    ['deletion', 'insertion', 'mu_fidelity', 'randomization']
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
register_metric("randomization", higher_is_better=False)(_randomization_metric)

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


def evaluate(model, explanations, metrics=DEFAULT_METRICS, return_results=False, **metric_params):
    """Table of metrics for several explanations of the same model: rows = methods, columns = metrics.

    Parameters
    ----------
    model : tl.models.Model, keras.Model, callable or ModelAdapter
    explanations : dict of str -> Explanation, list of Explanation, or Explanation
    metrics : sequence of str
        Registered metric names (:func:`available_metrics`); default
        ``('deletion', 'insertion', 'mu_fidelity')``. ``'randomization'`` runs the
        sanity check again for each explanation's method and reports its deciding
        correlation (lower is better).
    return_results : bool
        Also return ``{method: {metric: result}}`` with the full result objects.
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

    if isinstance(metrics, str):
        metrics = [metrics]
    specs = [_metric_spec(name) for name in metrics]
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
    return (table, results) if return_results else table
