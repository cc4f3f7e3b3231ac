"""A bounded worker pool with a bounded queue that merges concurrent jobs into one batch (micro-batching).

Jobs carry a ``key``; jobs with the same key that wait at the same time are
handed together to one call of ``run(jobs)`` — as TF Serving's and Triton's
dynamic batchers do: a worker takes the oldest job and, if it is mergeable,
waits until ``window`` seconds after that job arrived (or until ``max_rows``
rows are gathered) for more jobs with its key. Jobs of other keys keep their
place in the queue.

Each job has a deadline. A job whose caller gave up (:meth:`Job.cancel`) or
whose deadline passed before a worker reached it is dropped unrun; while a
batch runs, :func:`tensorlayer_xplain._utils.deadline.check` stops it between
compiled pieces once the latest deadline of its jobs passed or all of them
were cancelled.

Examples
--------
>>> pool = MicroBatcher(lambda jobs: [j.payload * 2 for j in jobs], window=0.001)
>>> pool.submit("double", 21, rows=1, timeout=5).future.result()
42
>>> pool.close()
"""
import contextlib
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError

from .._utils import deadline as _deadline

__all__ = ["MicroBatcher", "Job", "QueueFull"]


class QueueFull(RuntimeError):
    """Raised by :meth:`MicroBatcher.submit` when ``queue_size`` jobs already wait."""


class Job:
    """One request's work: ``payload`` (what ``run`` needs), its rows, deadline and result future."""

    __slots__ = ("key", "payload", "rows", "deadline", "mergeable", "future", "cancelled", "arrived")

    def __init__(self, key, payload, rows, deadline, mergeable):
        self.key, self.payload, self.rows = key, payload, int(rows)
        self.deadline, self.mergeable = deadline, bool(mergeable)
        self.future = Future()
        self.cancelled = False
        self.arrived = time.monotonic()

    def cancel(self):
        """Tell the worker the caller no longer waits: the job is skipped, or stopped at the next check."""
        self.cancelled = True

    def _dead(self, now):
        return self.cancelled or now > self.deadline


def _settle(future, value=None, error=None):
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:  # the caller cancelled the future meanwhile
        pass


class MicroBatcher:
    """Run jobs in ``workers`` threads, merging jobs with the same key that wait together.

    Parameters
    ----------
    run : callable
        ``run(jobs) -> list`` with one result per job, in order (an exception
        instance fails that job alone); called in a worker thread inside a
        :func:`~tensorlayer_xplain._utils.deadline.deadline` block. An exception
        raised by ``run`` fails every job of the batch.
    workers : int
        Worker threads.
    queue_size : int
        Most jobs waiting (not yet running); :meth:`submit` raises
        :class:`QueueFull` beyond.
    window : float
        Seconds a mergeable job waits, from its arrival, for others with its key.
    announced : bool
        Submitters announce their jobs (:meth:`expecting`) while they prepare
        them, and a worker waits for more jobs only while some announced job
        is still on its way (never past ``window``): a lone request runs at
        once instead of waiting the window out. Without, it always waits the
        window.
    max_rows : int
        Most rows in one merged batch.

    Examples
    --------
    >>> pool = MicroBatcher(lambda jobs: [len(jobs)] * len(jobs), window=0.05)
    >>> jobs = [pool.submit("k", None, rows=1, timeout=5) for _ in range(3)]
    >>> [j.future.result() for j in jobs]
    [3, 3, 3]
    >>> pool.close()
    """

    def __init__(self, run, workers=1, queue_size=64, window=0.005, max_rows=64, announced=False):
        for name, value in (("workers", workers), ("queue_size", queue_size), ("max_rows", max_rows)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError("%s: expected a positive int, got %r" % (name, value))
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 1:
            raise ValueError("batch_window: expected seconds between 0 and 1, got %r" % (window,))
        self.run, self.workers, self.queue_size = run, workers, queue_size
        self.window, self.max_rows = float(window), max_rows
        self.announced = bool(announced)
        self._expected = 0  # announced jobs not submitted yet
        self._pending = deque()
        self._cond = threading.Condition()
        self._threads = []
        self._generation = 0  # close() starts a new one: the old workers exit, submit() starts fresh ones
        self.running = 0
        self.batches = 0
        self.jobs_run = 0

    # -- submitting ------------------------------------------------------------
    def submit(self, key, payload, rows, timeout, mergeable=True):
        """Queue a job; return it (``job.future`` resolves to its result).

        Parameters
        ----------
        key : hashable
            Jobs with equal keys may be merged.
        payload : object
        rows : int
            Its share of ``max_rows``.
        timeout : float
            Seconds from now to its deadline.
        mergeable : bool

        Raises
        ------
        QueueFull
            When ``queue_size`` jobs wait already.
        """
        job = Job(key, payload, rows, time.monotonic() + float(timeout), mergeable)
        with self._cond:
            if len(self._pending) >= self.queue_size:
                raise QueueFull("queue: %d explanations are already waiting (the limit); retry later"
                                % len(self._pending))
            self._pending.append(job)
            self._start_workers()
            self._cond.notify()
        return job

    @contextlib.contextmanager
    def expecting(self):
        """Announce one job while its submitter prepares it (wrap the preparation and :meth:`submit`).

        Examples
        --------
        >>> pool = MicroBatcher(lambda jobs: [j.payload + 1 for j in jobs], window=0.001)
        >>> with pool.expecting():
        ...     job = pool.submit("add_one", 41, rows=1, timeout=30)
        >>> job.future.result()
        42
        >>> pool.close()
        """
        with self._cond:
            self._expected += 1
        try:
            yield
        finally:
            with self._cond:
                self._expected -= 1
                self._cond.notify_all()

    def _start_workers(self):
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, args=(self._generation,),
                                      name="tlxp-explain-%d" % len(self._threads), daemon=True)
            self._threads.append(thread)
            thread.start()

    # -- the workers -------------------------------------------------------------
    def _gather(self, batch):
        """Move into ``batch`` the waiting jobs mergeable with its first (call with the lock held); its rows."""
        first, rows = batch[0], sum(j.rows for j in batch)
        for job in list(self._pending):
            if job.mergeable and job.key == first.key and rows + job.rows <= self.max_rows:
                self._pending.remove(job)
                batch.append(job)
                rows += job.rows
        return rows

    def _take(self, generation):
        """The next batch (None once the pool was closed after this worker started)."""
        with self._cond:
            while not self._pending and generation == self._generation:
                self._cond.wait()
            if generation != self._generation:
                return None
            batch = [self._pending.popleft()]
            if batch[0].mergeable:
                rows = self._gather(batch)
                until = batch[0].arrived + self.window
                while rows < self.max_rows and (self._expected or not self.announced):
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                    rows = self._gather(batch)
            self.running += 1
            return batch

    def _work(self, generation):
        while True:
            batch = self._take(generation)
            if batch is None:
                return
            try:
                self._run_batch(batch)
            finally:
                with self._cond:
                    self.running -= 1

    def _run_batch(self, batch):
        now = time.monotonic()
        live = []
        for job in batch:
            if job._dead(now) or not job.future.set_running_or_notify_cancel():
                _settle(job.future, error=_deadline.DeadlineExceeded(
                    "deadline: dropped before it ran (%s)" % ("cancelled" if job.cancelled else "past its deadline")))
            else:
                live.append(job)
        if not live:
            return
        self.batches += 1
        self.jobs_run += len(live)
        try:
            with _deadline.deadline(at=max(j.deadline for j in live), cancelled=lambda: all(j.cancelled for j in live)):
                results = self.run(live)
        except BaseException as err:  # noqa: B902  (delivered to every caller; the worker lives on)
            for job in live:
                _settle(job.future, error=err)
            return
        for job, result in zip(live, results):
            if isinstance(result, BaseException):
                _settle(job.future, error=result)
            else:
                _settle(job.future, result)

    # -- state -------------------------------------------------------------------
    def stats(self):
        """``{'pending', 'running', 'workers', 'queue_size', 'batches', 'jobs'}``."""
        with self._cond:
            return {"pending": len(self._pending), "running": self.running, "workers": self.workers,
                    "queue_size": self.queue_size, "batches": self.batches, "jobs": self.jobs_run}

    def close(self):
        """Stop the workers (after the batches they run) and fail the jobs still waiting.

        A later :meth:`submit` starts new workers (an app's lifespan may close and reopen it).
        """
        with self._cond:
            self._generation += 1
            waiting, self._pending = list(self._pending), deque()
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        for job in waiting:
            _settle(job.future, error=RuntimeError("the worker pool was closed"))
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
