"""Resident memory of this process on Linux: the current RSS and the peak since a reset.

The kernel keeps a peak-RSS mark per process (``VmHWM`` in ``/proc/self/status``);
writing ``5`` to ``/proc/self/clear_refs`` resets it to the current RSS, so the
peak of one call is ``peak_mb()`` after ``reset_peak()`` before the call.

:func:`peak_memory` measures one call: the Python-side peak (``tracemalloc``) and the growth of the
process's peak RSS.
"""
import resource
import sys
import tracemalloc

__all__ = ["reset_peak", "rss_mb", "peak_mb", "peak_memory", "RSS_HOW"]


def _status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB -> MB
    raise OSError("%s not in /proc/self/status" % field)


def reset_peak():
    """Reset the peak-RSS mark to the current RSS (Linux)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def rss_mb():
    """Current resident set size, MB."""
    return _status_mb("VmRSS")


def peak_mb():
    """Peak resident set size since the last :func:`reset_peak` (or process start), MB."""
    return _status_mb("VmHWM")


def _can_reset_peak():
    """Reset the peak-RSS mark if this system allows it; True if it did."""
    try:
        reset_peak()
        return True
    except OSError:
        return False


def _maxrss_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


#: How the RSS column is measured on this machine (stated in the table header).
RSS_HOW = ("peak RSS growth during the call (Linux peak mark reset via /proc/self/clear_refs, "
           "read with resource.getrusage maxrss)" if _can_reset_peak() else
           "growth of the process's resource.getrusage maxrss during the call (0 unless a new process peak)")


def peak_memory(fn):
    """``(python_peak_mb, rss_growth_mb)`` of one call of ``fn`` (two separate calls, one per measurement)."""
    _can_reset_peak()
    before = _maxrss_mb()
    fn()
    rss = max(0.0, _maxrss_mb() - before)
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2.0 ** 20, rss
