"""Timings without the first call's tracing, for figures and reports that show them.

The first call of a method on a model compiles its ``tf.function`` steps; that
call's wall time (e.g. 80 ms per input) says little about the method's cost
(e.g. 3 ms per input). The runner marks such calls (``timings['traces']``, the
number of steps traced); :func:`steady_timings` runs those methods once more,
now warm, and keeps the warm time as ``total`` / ``per_sample`` and the
difference as ``compile``.
"""
import warnings

__all__ = ["steady_timings"]


def steady_timings(explanations, rerun):
    """Replace first-call timings (tracing included) by a warm run's, in place.

    Parameters
    ----------
    explanations : dict of str -> Explanation
    rerun : callable
        ``rerun(method) -> Explanation``: the same computation again.

    Returns
    -------
    dict of str -> Explanation
        ``explanations``; each one whose call traced now has ``timings`` =
        ``{'total', 'per_sample'}`` of the warm run plus ``'compile'`` (seconds of
        the first call beyond the warm run's). Attributions are kept from the first run.

    Examples
    --------
    >>> exps = {'gradient': tlxp.explain(model, x, 'gradient')}
    >>> steady_timings(exps, lambda m: tlxp.explain(model, x, m))['gradient'].timings  # doctest: +IGNORE_RESULT
    {'total': 0.0031, 'per_sample': 0.00078, 'compile': 0.41}
    """
    for name, exp in explanations.items():
        if not exp.timings.get("traces"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # already said on the first run
            warm = rerun(name).timings
        first = exp.timings["total"]
        exp.timings = {"total": warm["total"], "per_sample": warm["per_sample"],
                       "compile": max(0.0, first - warm["total"])}
    return explanations
