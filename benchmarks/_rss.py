"""Resident memory of this process on Linux: the current RSS and the peak since a reset.

The kernel keeps a peak-RSS mark per process (``VmHWM`` in ``/proc/self/status``);
writing ``5`` to ``/proc/self/clear_refs`` resets it to the current RSS, so the
peak of one call is ``peak_mb()`` after ``reset_peak()`` before the call.
"""

__all__ = ["reset_peak", "rss_mb", "peak_mb"]


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
