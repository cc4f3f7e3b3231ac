"""A bounded LRU cache of explanations, keyed by everything that determines the result.

Bounded twice: by entries (``maxsize``) and by the bytes of the arrays it holds
(``max_bytes``, default :data:`DEFAULT_CACHE_BYTES`); an explanation bigger than
the whole byte budget (a large streamed chunk) is not cached at all.

The key holds the method, its parameters, the targets, a hash of the input bytes
and a fingerprint of the model's weights, so a weight update is a miss by
construction (no stale explanation is ever returned).
"""
import hashlib
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["ExplanationCache", "fingerprint", "nbytes", "DEFAULT_CACHE_BYTES"]

#: Default byte budget of an :class:`ExplanationCache` (256 MiB).
DEFAULT_CACHE_BYTES = 256 * 2 ** 20


def nbytes(value):
    """Bytes held by the arrays in ``value``: an array, a container, or an object's attributes.

    Examples
    --------
    >>> nbytes({'a': np.zeros(4, np.float32), 'b': [np.zeros(2)]})
    32
    """
    seen = set()

    def count(v, depth):
        if id(v) in seen or depth > 8:
            return 0
        seen.add(id(v))
        if isinstance(v, np.ndarray):
            return int(v.nbytes)
        if isinstance(v, dict):
            return sum(count(item, depth + 1) for item in v.values())
        if isinstance(v, (list, tuple)):
            return sum(count(item, depth + 1) for item in v)
        if hasattr(v, "__dict__") and not callable(v):
            return sum(count(item, depth + 1) for item in vars(v).values())
        return 0

    return count(value, 0)


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
    max_bytes : int
        Bytes of arrays kept (:func:`nbytes` of each value); least recently used
        entries are dropped beyond it, and a value bigger than ``max_bytes`` is
        not stored.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from the cache, and not.
    too_big : int
        Values not stored because they alone exceed ``max_bytes``.

    Examples
    --------
    >>> cache = ExplanationCache(maxsize=2, max_bytes=1000)
    >>> cache.get("k") is None, cache.misses
    (True, 1)
    >>> cache.put("big", np.zeros(1000)); len(cache), cache.too_big
    (0, 1)
    """

    def __init__(self, maxsize=128, max_bytes=DEFAULT_CACHE_BYTES):
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
            raise ValueError("cache: expected True, False or a positive int size, got %r" % (maxsize,))
        if not isinstance(max_bytes, (int, np.integer)) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError("cache_bytes: expected a positive int number of bytes, got %r" % (max_bytes,))
        self.maxsize = maxsize
        self.max_bytes = int(max_bytes)
        self._items = OrderedDict()
        self._sizes = {}
        self.bytes = 0
        self._lock = threading.Lock()  # lookups and inserts may come from server threads
        self.hits = 0
        self.misses = 0
        self.too_big = 0

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
        """Store ``value`` (dropping least recently used entries to stay within both bounds)."""
        size = nbytes(value)
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                self.too_big += 1
                return
            self._items[key] = value
            self._sizes[key] = size
            self.bytes += size
            while len(self._items) > self.maxsize or self.bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key):
        if key in self._items:
            del self._items[key]
            self.bytes -= self._sizes.pop(key)

    def clear(self):
        """Drop every entry (the hit/miss counters are kept)."""
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self.bytes = 0

    def __len__(self):
        return len(self._items)

    def stats(self):
        """``{'hits', 'misses', 'size', 'maxsize', 'bytes', 'max_bytes', 'too_big'}``."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self), "maxsize": self.maxsize,
                "bytes": self.bytes, "max_bytes": self.max_bytes, "too_big": self.too_big}
