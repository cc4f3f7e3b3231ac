"""Cooperative deadlines: long computations check, between compiled pieces, whether they should stop.

A caller (the HTTP service's worker, or any user code) opens a
:func:`deadline` block; the loops that feed the model
(:meth:`~tensorlayer_xplain.ModelAdapter.map_batches` and the batched methods'
blocks) call :func:`check` between compiled calls. Past the deadline, or once
the ``cancelled`` callable says so, :func:`check` raises
:class:`DeadlineExceeded`: the work stops after the piece in flight and its
buffers are freed as the exception unwinds. Outside a block :func:`check` costs
one context-variable lookup and never raises.

The state is a :mod:`contextvars` variable, so it is per thread (and per
asyncio task): a deadline set by one worker never stops another's work.

Examples
--------
>>> import time
>>> try:
...     with deadline(seconds=0.0):
...         time.sleep(0.001)
...         check()
... except DeadlineExceeded as err:
...     print(err)
deadline: stopped after 0.0 s, past its deadline of 0.0 s
>>> check()  # no deadline open: nothing happens
"""
import contextlib
import contextvars
import time

__all__ = ["DeadlineExceeded", "deadline", "check", "remaining"]

_CURRENT = contextvars.ContextVar("tensorlayer_xplain_deadline", default=None)


class DeadlineExceeded(RuntimeError):
    """Raised by :func:`check` past the deadline or after cancellation."""


class _Deadline:
    __slots__ = ("start", "at", "seconds", "cancelled")

    def __init__(self, seconds, at, cancelled):
        self.start = time.monotonic()
        if at is None and seconds is not None:
            at = self.start + float(seconds)
        self.at = at
        self.seconds = float(seconds) if seconds is not None else (None if at is None else at - self.start)
        self.cancelled = cancelled

    def check(self):
        now = time.monotonic()
        if self.cancelled is not None and self.cancelled():
            raise DeadlineExceeded("deadline: cancelled after %.1f s (the caller gave up)" % (now - self.start))
        if self.at is not None and now > self.at:
            raise DeadlineExceeded("deadline: stopped after %.1f s, past its deadline of %.1f s"
                                   % (now - self.start, self.seconds))


@contextlib.contextmanager
def deadline(seconds=None, at=None, cancelled=None):
    """Run a block under a deadline that :func:`check` enforces.

    Parameters
    ----------
    seconds : float, optional
        Time allowed from now.
    at : float, optional
        Absolute :func:`time.monotonic` time instead of ``seconds``.
    cancelled : callable, optional
        ``cancelled() -> bool``; True stops the work at the next check.

    Yields
    ------
    None

    Examples
    --------
    >>> with deadline(seconds=30):
    ...     exp = explainer.explain(x, method='integrated_gradients')
    """
    token = _CURRENT.set(_Deadline(seconds, at, cancelled))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def check():
    """Raise :class:`DeadlineExceeded` when the current block's deadline passed or it was cancelled.

    Returns
    -------
    None

    Examples
    --------
    >>> check()   # outside a deadline block: a no-op
    """
    current = _CURRENT.get()
    if current is not None:
        current.check()


def remaining():
    """Seconds left before the current deadline (None without one).

    Returns
    -------
    float or None

    Examples
    --------
    >>> remaining() is None
    True
    """
    current = _CURRENT.get()
    if current is None or current.at is None:
        return None
    return current.at - time.monotonic()
