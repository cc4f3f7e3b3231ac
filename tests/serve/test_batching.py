"""The bounded pool and micro-batching (serve/batching.py)."""
import threading
import time

import pytest

from tensorlayer_xplain._utils import deadline as _deadline
from tensorlayer_xplain.serve.batching import MicroBatcher, QueueFull


def test_micro_batcher_merges_same_key_jobs_and_skips_cancelled_ones():
    seen, release = [], threading.Event()

    def run(jobs):
        if jobs[0].key == "hold":
            release.wait(10)
        seen.append([j.payload for j in jobs])
        return [j.payload * 10 for j in jobs]

    pool = MicroBatcher(run, queue_size=4, window=0.2, max_rows=3)
    try:
        # keep the one worker busy so the next jobs wait in the queue whatever the machine's load
        hold = pool.submit("hold", -1, rows=1, timeout=10, mergeable=False)
        waited = time.monotonic() + 10
        while pool.running == 0 and time.monotonic() < waited:
            time.sleep(0.005)
        jobs = [pool.submit("a", i, rows=1, timeout=5) for i in range(2)]
        other = pool.submit("b", 7, rows=1, timeout=5)
        cancelled = pool.submit("a", 9, rows=1, timeout=5)
        cancelled.cancel()
        with pytest.raises(QueueFull):
            pool.submit("a", 5, rows=1, timeout=5)
        release.set()
        assert hold.future.result(5) == -10
        assert [j.future.result(5) for j in jobs] == [0, 10] and other.future.result(5) == 70
        with pytest.raises(_deadline.DeadlineExceeded):
            cancelled.future.result(5)
        assert [0, 1] in seen and [7] in seen and not any(9 in batch for batch in seen)
    finally:
        release.set()
        pool.close()


def test_announced_batcher_runs_a_lone_job_at_once_and_waits_only_for_announced_ones():
    batches = []
    pool = MicroBatcher(lambda jobs: batches.append([j.payload for j in jobs]) or [None] * len(jobs),
                        window=1.0, announced=True)
    try:
        start = time.monotonic()
        pool.submit("k", 0, rows=1, timeout=10).future.result(10)
        assert time.monotonic() - start < 0.5  # not the 1 s window: nothing else was announced
        with pool.expecting():  # a second request is on its way while the first waits
            first = pool.submit("k", 1, rows=1, timeout=10)
            time.sleep(0.2)
            assert not first.future.done()  # held for the announced job
            second = pool.submit("k", 2, rows=1, timeout=10)
        first.future.result(10), second.future.result(10)
        assert batches == [[0], [1, 2]]
    finally:
        pool.close()
