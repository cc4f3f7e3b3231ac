"""Machine facts for the report: CPU, cores, versions, commit, and how busy the machine was during a run."""
import datetime
import os
import platform
import subprocess
import time

import numpy as np
import tensorflow as tf

import tensorlayer_xplain as tlxp

HERE = os.path.dirname(os.path.abspath(__file__))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine():
    """A dict describing the machine and the library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import tensorlayer

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
            "python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__,
            "tensorlayer": tensorlayer.__version__, "tensorlayer_xplain": tlxp.__version__,
            "os": platform.platform(), "commit": _commit(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}


def _busy_seconds():
    """CPU seconds all processes of the machine have spent busy (``/proc/stat``), or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / float(os.sysconf("SC_CLK_TCK"))


def usage_start():
    """Snapshot for :func:`usage_since`: wall clock, this process's CPU time, the machine's busy time, load."""
    times = os.times()
    return {"wall": time.perf_counter(), "own": times.user + times.system, "busy": _busy_seconds(),
            "load": os.getloadavg()[0]}


def usage_since(start):
    """How busy the machine was since ``start`` apart from this process.

    Returns
    -------
    dict
        ``wall`` (s), ``load_start`` / ``load_end`` (1-min load average), ``others_cores``: the
        average number of cores other processes kept busy (None off Linux).
    """
    now = usage_start()
    wall = now["wall"] - start["wall"]
    others = None
    if start["busy"] is not None and now["busy"] is not None and wall > 0:
        others = max(0.0, (now["busy"] - start["busy"]) - (now["own"] - start["own"])) / wall
    return {"wall": wall, "load_start": start["load"], "load_end": now["load"], "others_cores": others}


def _sharing(use, cores):
    if use["others_cores"] is None:
        return "1-min load average %.2f at start, %.2f at end (this run included)" % (
            use["load_start"], use["load_end"])
    shared = use["others_cores"] > 0.1
    return ("other processes kept %.2f of the %d cores busy on average during the run (from /proc/stat, this "
            "process excluded)%s; 1-min load average %.2f at start, %.2f at end (this run included)" % (
                use["others_cores"], cores, " — the machine was shared while measuring" if shared else
                " — the machine was otherwise idle", use["load_start"], use["load_end"]))
