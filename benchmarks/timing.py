"""Timing a method against its baseline: warm-up, then back-to-back pairs whose order alternates."""
import statistics
import time


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def time_pairs(ours, baseline, budget, min_repeats, max_repeats):
    """Time ``ours`` (and ``baseline``) after one warm-up call each, interleaved, order alternating.

    Returns
    -------
    dict
        ``ours`` / ``baseline``: lists of seconds; ``ratio``: median of per-pair ratios
        (None without a baseline); ``outputs``: the warm-up results (ours, baseline).
    """
    outputs = (_first(ours()), _first(baseline()) if baseline is not None else None)
    first = _timed(ours)[0] + (_timed(baseline)[0] if baseline is not None else 0.0)
    repeats = int(min(max_repeats, max(min_repeats, budget / max(first, 1e-6))))
    times = {"ours": [], "baseline": []}
    for r in range(repeats):
        sides = [("ours", ours)] + ([("baseline", baseline)] if baseline is not None else [])
        for side, fn in (sides if r % 2 == 0 else sides[::-1]):
            times[side].append(_timed(fn)[0])
    ratio = statistics.median(a / b for a, b in zip(times["ours"], times["baseline"])) if baseline else None
    return {"ours": times["ours"], "baseline": times["baseline"], "ratio": ratio, "outputs": outputs}
