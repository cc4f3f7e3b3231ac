"""Cut any input (array, ``tf.data.Dataset``, iterable of batches) into fixed-size chunks, with a progress bar.

Used by :func:`tensorlayer_xplain.scale.writer.explain_to_store` and the Ray path: a
chunk is the unit of work, of storage and of resume, so chunks follow
``chunk_size`` whatever the batches of the dataset are.
"""
import sys

import numpy as np

__all__ = ["Chunk", "iter_chunks", "known_length", "batch_count", "progress_bar"]


class Chunk:
    """One chunk of the input: ``index``-th of size ``chunk_size``, rows ``start:start + len(x)``.

    Attributes
    ----------
    index : int
    start : int
    x : ndarray, shape (n, ...)
    labels : ndarray (n,) or None
    """

    __slots__ = ("index", "start", "x", "labels")

    def __init__(self, index, start, x, labels):
        self.index, self.start, self.x, self.labels = index, start, x, labels


def _split(element):
    """``(x, y)`` of one dataset element (``y`` None when the element is ``x`` alone)."""
    if isinstance(element, dict):
        raise TypeError("data: expected elements x or (x, y), got a dict with keys %s" % sorted(element))
    if isinstance(element, (tuple, list)) and len(element) == 2:
        x, y = element
    else:
        x, y = element, None
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if y is not None:
        y = np.asarray(y.numpy() if hasattr(y, "numpy") else y).reshape(-1)
    return x, y


def is_array(data):
    """True for numpy arrays, tensors and lists of samples (not a dataset or a generator)."""
    return isinstance(data, (np.ndarray, list)) or (hasattr(data, "shape") and hasattr(data, "dtype"))


def known_length(data):
    """Number of samples of an array input, else None (a stream's length is unknown until read).

    Examples
    --------
    >>> known_length(np.zeros((10, 3)))
    10
    >>> known_length(iter([np.zeros((4, 3))])) is None
    True
    """
    return len(data) if is_array(data) else None


def batch_count(data):
    """Number of batches of a ``tf.data.Dataset`` with known cardinality (else None), for progress estimates."""
    cardinality = getattr(data, "cardinality", None)
    if cardinality is None or not callable(cardinality):
        return None
    n = int(cardinality())
    return n if n >= 0 else None


def iter_chunks(data, chunk_size, labels=None):
    """Yield :class:`Chunk` s of exactly ``chunk_size`` samples (the last may be shorter).

    Parameters
    ----------
    data : ndarray (N, ...), tf.data.Dataset or iterable of batches
        Dataset elements are ``x`` or ``(x, y)`` batches; ``y`` become the labels.
    chunk_size : int
    labels : array-like (N,), optional
        Labels of an array input.

    Yields
    ------
    Chunk

    Examples
    --------
    >>> [len(c.x) for c in iter_chunks(np.zeros((10, 3)), 4)]
    [4, 4, 2]
    >>> [len(c.x) for c in iter_chunks(iter([np.zeros((3, 3)), np.zeros((3, 3))]), 4)]
    [4, 2]
    """
    if is_array(data):
        x = data.numpy() if hasattr(data, "numpy") else np.asarray(data)
        y = None if labels is None else np.asarray(labels).reshape(-1)
        for index, start in enumerate(range(0, len(x), chunk_size)):
            yield Chunk(index, start, x[start:start + chunk_size], None if y is None else y[start:start + chunk_size])
        return
    xs, ys, held, index, start = [], [], 0, 0, 0
    for element in data:
        x, y = _split(element)
        xs.append(x)
        ys.append(y)
        held += len(x)
        while held >= chunk_size:
            bx, by = np.concatenate(xs), None if ys[0] is None else np.concatenate(ys)
            yield Chunk(index, start, bx[:chunk_size], None if by is None else by[:chunk_size])
            index, start, held = index + 1, start + chunk_size, held - chunk_size
            xs, ys = [bx[chunk_size:]], [None if by is None else by[chunk_size:]]
    if held:
        yield Chunk(index, start, np.concatenate(xs), None if ys[0] is None else np.concatenate(ys))


class _LineWriter:
    """A file for tqdm that turns its carriage-return refreshes into log lines (non-TTY output)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self):
        self.stream.flush()


def progress_bar(total, desc, progress=None, initial=0, stream=None):
    """A tqdm bar in samples with total and ETA; also readable in non-TTY logs.

    Parameters
    ----------
    total : int or None
        Number of samples, when known (ETA needs it).
    desc : str
    progress : bool or None
        None: shown once the run has lasted 2 s; True: from the start; False: never.
    initial : int
        Samples already done (skipped chunks of a resumed run).
    stream : file, optional
        Default ``sys.stderr``. When it is not a terminal, one line is logged
        every 10 s instead of a refreshed bar.

    Returns
    -------
    tqdm.tqdm

    Examples
    --------
    >>> bar = progress_bar(100, 'gradient', progress=False)
    >>> bar.update(10); bar.close()
    """
    from tqdm import tqdm

    stream = stream or sys.stderr
    tty = hasattr(stream, "isatty") and stream.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit="sample", disable=progress is False,
                delay=0 if progress else 2, mininterval=0.1 if tty else 10,
                file=stream if tty else _LineWriter(stream), dynamic_ncols=tty, ascii=not tty)
