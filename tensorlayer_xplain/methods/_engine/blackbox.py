"""Numpy predict functions over the adapter, for the model-agnostic methods (LIME, SHAP).

The ``lime`` and ``shap`` packages call a plain numpy function on batches of
perturbed inputs. These helpers build such functions on top of
:meth:`ModelAdapter.predict`, so every perturbation goes through the model in
batches of ``batch_size`` (compiled, eval mode, out-of-memory halving), and
group samples by the class they explain so each package call explains one
output. They also give the packages a seeded global numpy stream (``shap``
draws from ``np.random``) and restore the caller's global state afterwards.
"""
import contextlib
import functools

import numpy as np
import tensorflow as tf

__all__ = ["target_groups", "selected_scores", "score_function", "global_numpy_seed", "small_blas"]


def target_groups(targets, n):
    """Split ``range(n)`` by explained class: ``[(target, indices), ...]``.

    A callable target (a function of the scores) is one group covering every sample.

    Examples
    --------
    >>> [(t, list(i)) for t, i in target_groups(np.array([3, 1, 3]), 3)]
    [(1, [1]), (3, [0, 2])]
    """
    if callable(targets):
        return [(targets, np.arange(n))]
    targets = np.asarray(targets)
    return [(int(t), np.flatnonzero(targets == t)) for t in np.unique(targets)]


def _select(scores, target):
    if callable(target):
        return np.asarray(target(tf.constant(scores, tf.float32)), dtype=np.float64).reshape(-1)
    return scores[:, int(target)].astype(np.float64)


def selected_scores(adapter, x, target, batch_size=None):
    """The explained score of each row of ``x``: ``predict(x)[:, target]`` (or ``target(scores)``).

    Parameters
    ----------
    adapter : ModelAdapter
    x : ndarray, shape (B, *input_shape) or (B, *image_shape)
    target : int or callable
    batch_size : int, optional
        Largest batch sent to the model (default: the adapter's).

    Returns
    -------
    ndarray, float64, shape (B,)
    """
    return _select(adapter.predict(x, batch_size=batch_size), target)


def score_function(adapter, target, batch_size=None, shape=None, all_scores=False):
    """A numpy function ``f(z) -> scores`` for the ``lime``/``shap`` packages.

    Parameters
    ----------
    adapter : ModelAdapter
    target : int or callable
        The explained class (ignored with ``all_scores`` unless callable).
    batch_size : int, optional
        Largest batch sent to the model.
    shape : tuple, optional
        Per-sample shape the package hands over (e.g. flat features); rows are
        reshaped to the model's input shape before the call.
    all_scores : bool
        Return ``(B, K)`` scores (``(B, 1)`` for a callable target) instead of ``(B,)``.

    Returns
    -------
    callable
    """

    def f(z):
        z = np.asarray(z, dtype=np.float32)
        z = z.reshape((len(z),) + tuple(adapter.input_shape)) if shape is not None else z
        scores = adapter.predict(z, batch_size=batch_size)
        if all_scores:
            return _select(scores, target)[:, None] if callable(target) else scores.astype(np.float64)
        return _select(scores, target)

    return f


@contextlib.contextmanager
def global_numpy_seed(seed):
    """Seed numpy's global stream for the block (packages such as ``shap`` draw from it), then restore it.

    ``seed=None`` leaves the global stream untouched.

    Examples
    --------
    >>> with global_numpy_seed(0):
    ...     a = np.random.rand()
    >>> with global_numpy_seed(0):
    ...     b = np.random.rand()
    >>> a == b
    True
    """
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(state)


def small_blas():
    """Context: one BLAS thread for the block (the packages' small regressions).

    LIME's and KernelSHAP's regressions are tiny (``num_samples x n_features``);
    run with several OpenBLAS threads right after TensorFlow calls, they contend
    with TF's spinning worker threads and a 2 ms ridge fit can take 50 ms. TF's own
    kernels do not use OpenBLAS, so model calls inside the block are unaffected.
    The BLAS libraries are found once per process (:func:`_blas_controller`).
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The process's ``threadpoolctl.ThreadpoolController``, made on first use.

    ``threadpool_limits`` makes a new one per call, which scans every loaded shared
    library: 20-75 ms per LIME or KernelSHAP call on the benchmark machine, for a
    limit that then takes 0.02 ms. The first use comes after ``lime``/``shap``
    imported scikit-learn and SciPy, whose OpenBLAS the regressions use.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
