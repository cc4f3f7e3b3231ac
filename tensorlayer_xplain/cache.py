"""A bounded LRU cache of explanations, keyed by everything that determines the result.

The key holds the method, its parameters, the targets, a hash of the input bytes
and a fingerprint of the model's weights, so a weight update is a miss by
construction (no stale explanation is ever returned).
"""
import hashlib
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["ExplanationCache", "fingerprint"]


def fingerprint(value):
    """A stable hash of arrays, scalars, strings, callables and nested containers."""
    h = hashlib.sha1()

    def feed(v):
        if isinstance(v, np.ndarray) or (hasattr(v, "numpy") and hasattr(v, "shape")):
            arr = np.ascontiguousarray(np.asarray(v))
            h.update(b"A%s%s" % (str(arr.dtype).encode(), str(arr.shape).encode()))
            h.update(arr.tobytes())
        elif isinstance(v, dict):
            h.update(b"D")
            for key in sorted(v, key=str):
                feed(str(key))
                feed(v[key])
        elif isinstance(v, (list, tuple)):
            h.update(b"L%d" % len(v))
            for item in v:
                feed(item)
        elif callable(v):
            h.update(b"F%d" % id(v))  # same function object, same result
        else:
            h.update(b"S" + repr(v).encode())

    feed(value)
    return h.hexdigest()


class ExplanationCache:
    """Least-recently-used mapping from a key to an :class:`Explanation`.

    Parameters
    ----------
    maxsize : int
        Entries kept; the least recently used is dropped beyond it.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from the cache, and not.

    Examples
    --------
    >>> cache = ExplanationCache(maxsize=2)
    >>> cache.get("k") is None, cache.misses
    (True, 1)
    """

    def __init__(self, maxsize=128):
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
            raise ValueError("cache: expected True, False or a positive int size, got %r" % (maxsize,))
        self.maxsize = maxsize
        self._items = OrderedDict()
        self._lock = threading.Lock()  # lookups and inserts may come from server threads
        self.hits = 0
        self.misses = 0

    def get(self, key):
        """The cached value for ``key`` (and mark it recently used), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self):
        """Drop every entry (the hit/miss counters are kept)."""
        with self._lock:
            self._items.clear()

    def __len__(self):
        return len(self._items)

    def stats(self):
        """``{'hits', 'misses', 'size', 'maxsize'}``."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self), "maxsize": self.maxsize}
