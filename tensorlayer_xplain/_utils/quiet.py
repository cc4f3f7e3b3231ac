"""A quiet command line: TensorFlow's native start-up logging filtered out of stderr, so a CLI error is one line.

TensorFlow 2.21 writes absl lines to file descriptor 2 from C++ while it is imported and
when it probes devices (``WARNING: All log messages before absl::InitializeLog() ...``,
``I0000 ... oneDNN custom operations are on``, ``cudart_stub``, ``failed call to cuInit``),
even with ``TF_CPP_MIN_LOG_LEVEL=3``. When this package runs as the command line
(``python -m tensorlayer_xplain`` or the ``tensorlayer-xplain`` script),
:func:`filter_native_logs` routes fd 2 through a pipe whose reader drops those lines and
passes everything else on, live. Set ``TENSORLAYER_XPLAIN_NATIVE_LOGS=1`` to keep them.
A library import is never affected.
"""
import atexit
import os
import re
import sys
import threading

__all__ = ["is_cli", "filter_native_logs", "NATIVE_NOISE"]

#: Lines dropped: absl's pre-init notice, info/warning lines in absl's format, and the CUDA probe errors
#: of a machine without a GPU.
NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    rb"|E\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*(cuInit|CUDA|cuda|GPU))")

_installed = []


def is_cli():
    """True when this process runs the package's command line."""
    argv = list(getattr(sys, "orig_argv", []) or [])
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1] in ("tensorlayer_xplain", "tensorlayer_xplain.cli"):
        return True
    return os.path.basename(sys.argv[0] if sys.argv else "") == "tensorlayer-xplain"


def filter_native_logs():
    """Route fd 2 through a filtering pipe (once per process); restored at exit, every line delivered."""
    if _installed or os.environ.get("TENSORLAYER_XPLAIN_NATIVE_LOGS") == "1":
        return False
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no usable fd 2 (embedded interpreters): leave it alone
        return False

    def pump():
        with os.fdopen(read_end, "rb", buffering=0) as source:
            pending = b""
            while True:
                data = source.read(65536)
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not NATIVE_NOISE.match(line))
                if kept:
                    os.write(real, kept)
            if pending and not NATIVE_NOISE.match(pending):
                os.write(real, pending)

    thread = threading.Thread(target=pump, name="tensorlayer_xplain-stderr", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the reader drains it and stops
        thread.join(timeout=5)

    atexit.register(restore)
    _installed.append(thread)
    return True
