"""Sampling machinery shared by the batched methods: (input, sample) pairs, seeded streams, noise.

Every batched method enumerates *pairs* ``(i, j)`` — input ``i`` with its
``j``-th integration step, noise sample, mask or window — and sends them through
the model ``batch_size`` pairs at a time (:meth:`ModelAdapter.map_batches`), so
memory is bounded by ``batch_size`` whatever the number of samples.

Random draws come from counter-based streams (Philox keyed by the seed, the
counter = the row number, or the block number for blocks of
:data:`NOISE_BLOCK` rows), so a seeded result does not depend on
``batch_size`` or on out-of-memory retries.
"""
import numpy as np

__all__ = ["pair_index", "segment_add", "row_generators", "row_normal", "row_uniform",
           "block_normal", "noise_scale", "NOISE_BLOCK"]

#: Rows per independently seeded block of :func:`block_normal`.
NOISE_BLOCK = 64


def pair_index(n_inputs, n_per, major="input"):
    """Enumerate all pairs ``(i, j)`` with ``i < n_inputs`` and ``j < n_per``.

    Parameters
    ----------
    n_inputs, n_per : int
    major : {'input', 'sample'}
        ``'input'``: all samples of input 0 first (``i`` sorted); ``'sample'``:
        sample 0 of every input first (``j`` sorted).

    Returns
    -------
    i, j : ndarray of int64, shape (n_inputs * n_per,)

    Examples
    --------
    >>> pair_index(2, 3)[0]
    array([0, 0, 0, 1, 1, 1])
    """
    i = np.arange(n_inputs, dtype=np.int64)
    j = np.arange(n_per, dtype=np.int64)
    if major == "input":
        return np.repeat(i, n_per), np.tile(j, n_inputs)
    return np.tile(i, n_per), np.repeat(j, n_inputs)


def segment_add(acc, index, values):
    """``acc[index[k]] += values[k]`` for a *sorted* ``index`` (runs of equal indices summed first)."""
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    acc[index[starts]] += np.add.reduceat(values, starts, axis=0)


def _key(seed):
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    return int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0])


def row_generators(seed, rows):
    """One ``numpy.random.Generator`` per row number: the same rows give the same streams.

    Parameters
    ----------
    seed : int or None
        None draws a fresh key (not reproducible).
    rows : array of int
        Global row numbers (e.g. ``i * n_samples + j``).

    Returns
    -------
    list of numpy.random.Generator
    """
    key = _key(seed)
    return [np.random.Generator(np.random.Philox(key=key, counter=[int(r), 0, 0, 0])) for r in rows]


def row_normal(seed, rows, shape):
    """Standard normal draws, one independent array of ``shape`` per row: ``(len(rows), *shape)`` float32."""
    out = np.empty((len(rows),) + tuple(shape), np.float32)
    for k, gen in enumerate(row_generators(seed, rows)):
        out[k] = gen.standard_normal(shape, dtype=np.float32)
    return out


def block_normal(seed, rows, shape):
    """Standard normal draws per row like :func:`row_normal`, generated in seeded blocks of rows.

    Row ``r`` is row ``r % NOISE_BLOCK`` of block ``r // NOISE_BLOCK``, and each
    block has its own Philox stream, so the values depend only on ``(seed, r)``;
    drawing whole blocks in bulk is about twice as fast as one stream per row.

    Parameters
    ----------
    seed : int or None
    rows : array of int
        Global row numbers.
    shape : tuple of int
        Shape of one row's draw.

    Returns
    -------
    ndarray, float32, shape (len(rows), *shape)
    """
    rows = np.asarray(rows, np.int64)
    key = _key(seed)
    out = np.empty((len(rows),) + tuple(shape), np.float32)
    blocks = rows // NOISE_BLOCK
    for block in np.unique(blocks):
        gen = np.random.Generator(np.random.Philox(key=key, counter=[int(block), 1, 0, 0]))
        draws = gen.standard_normal((NOISE_BLOCK,) + tuple(shape), dtype=np.float32)
        hit = blocks == block
        out[hit] = draws[rows[hit] % NOISE_BLOCK]
    return out


def row_uniform(seed, rows, shape):
    """Uniform [0, 1) draws, one independent array of ``shape`` per row: ``(len(rows), *shape)`` float64."""
    out = np.empty((len(rows),) + tuple(shape), np.float64)
    for k, gen in enumerate(row_generators(seed, rows)):
        out[k] = gen.random(shape)
    return out


def noise_scale(x, noise_level):
    """Per-input noise standard deviation: ``noise_level * (max(x_i) - min(x_i))``.

    Smilkov et al. (2017) give the noise level as a fraction of the input's
    value range. Constant inputs get ``noise_level`` itself.

    Returns
    -------
    ndarray, float32, shape (N,)
    """
    flat = x.reshape(len(x), -1)
    spread = flat.max(axis=1) - flat.min(axis=1)
    spread = np.where(spread > 0, spread, 1.0)
    return (noise_level * spread).astype(np.float32)
