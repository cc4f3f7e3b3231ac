"""Explain a dataset on a Ray cluster: the store's computation as a Ray Data ``map_batches`` job.

Needs the ``distributed`` extra (``pip install 'tensorlayer-xplain[distributed]'``,
i.e. ``ray[data]``). The driver creates (or checks, for a resume) the Zarr
store exactly as :meth:`ModelExplainer.explain_dataset` does; Ray Data then
runs a callable class, :class:`ChunkWorker`, on a pool of actors: each actor
builds the model once, holds one :class:`~tensorlayer_xplain.ModelExplainer`,
and for every chunk number it receives explains that chunk and writes it into
the same store. Chunks are disjoint, so the actors never write the same Zarr
chunk and no coordinator beyond Ray itself is needed. A chunk computed by an
actor is byte-identical to the one a single process computes.

Examples
--------
>>> # starts a Ray cluster: tests/test_distributed.py runs it (slow)
>>> import ray; ray.init(num_cpus=2)                                          # doctest: +SKIP
>>> from tensorlayer_xplain.distributed import explain_with_ray               # doctest: +SKIP
>>> store = explain_with_ray(tlxp.models.cnn, weights, X_test, 'out.zarr',
...                          methods=['gradient', 'gradcam'], num_workers=2)  # doctest: +SKIP
"""
import os
import time

import numpy as np

from .chunking import progress_bar
from .store import open_store
from .writer import compute_chunk, describe_run, finish_store, output_size, prepare_store, verified_done, write_chunk

__all__ = ["explain_with_ray", "ChunkWorker"]


def _ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError("explain_with_ray needs Ray Data: pip install 'tensorlayer-xplain[distributed]' "
                          "(that is, 'ray[data]')") from None
    return ray


def build_explainer(model_fn, weights, methods, config=None, output="logits", batch_size=256, seed=0):
    """Build the model with ``model_fn()``, set its ``weights`` and wrap it in a ModelExplainer.

    Parameters
    ----------
    model_fn : callable
        ``model_fn() -> model`` (importable, e.g. ``tensorlayer_xplain.models.cnn``).
    weights : str, os.PathLike, list of ndarray or None
        A weights file (read by :func:`tensorlayer_xplain.load_weights`), or one array per
        ``model.all_weights`` (or ``model.weights`` for Keras), in order; None keeps what
        ``model_fn`` built (it must then be deterministic, e.g. seeded).
    methods, config, output, batch_size, seed
        As :class:`~tensorlayer_xplain.ModelExplainer`.

    Returns
    -------
    ModelExplainer
    """
    from ..explainer.model_explainer import ModelExplainer

    model = model_fn()
    if isinstance(weights, (str, os.PathLike)):  # a weights file: read with the checked, pickle-free loader
        from ..weights import load_weights

        load_weights(model, os.fspath(weights))
    elif weights is not None:
        if not isinstance(weights, (list, tuple)):
            raise TypeError("weights: expected a weights file path (.npz, .h5, .safetensors), a list of arrays "
                            "(one per model weight) or None, got %s" % type(weights).__name__)
        variables = getattr(model, "all_weights", None)
        variables = getattr(model, "weights", []) if variables is None else variables
        if len(variables) != len(weights):
            raise ValueError("weights: expected %d arrays (one per model weight), got %d"
                             % (len(variables), len(weights)))
        for variable, value in zip(variables, weights):
            if tuple(variable.shape) != np.shape(value):
                raise ValueError("weights: expected shape %s for %s, got %s"
                                 % (tuple(variable.shape), variable.name, np.shape(value)))
            variable.assign(value)
    return ModelExplainer(model, methods=methods, config=config, output=output, batch_size=batch_size,
                          cache=False, seed=seed)


class ChunkWorker:
    """The callable class of the ``map_batches`` job: one ModelExplainer per Ray actor.

    Parameters
    ----------
    model_fn, weights, methods, config, output, batch_size, seed
        As :func:`build_explainer`.
    path : str
        The store (prepared by the driver).
    data, targets, labels : ray.ObjectRef
        The inputs ``(N, ...)``, the per-row targets (or the target spec) and the
        labels (or None), shared through Ray's object store (read zero-copy).
    chunk_size : int
    store_inputs : bool
    """

    def __init__(self, model_fn, weights, methods, config, output, batch_size, seed, path, data, targets, labels,
                 chunk_size, store_inputs):
        import ray
        import tensorflow as tf
        import zarr

        import tensorlayer_xplain  # noqa: F401  (registers methods, applies _compat in the actor)

        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 0))
        if cpus >= 1:  # use the CPUs Ray gave this actor, not every core of the node
            try:
                tf.config.threading.set_intra_op_parallelism_threads(cpus)
                tf.config.threading.set_inter_op_parallelism_threads(cpus)
            except RuntimeError:  # TensorFlow already initialized in this process
                pass
        self.explainer = build_explainer(model_fn, weights, methods, config, output, batch_size, seed)
        self.methods = self.explainer.methods
        self.x = ray.get(data)
        self.targets = ray.get(targets)
        self.labels = ray.get(labels)
        self.chunk_size, self.store_inputs = int(chunk_size), bool(store_inputs)
        self.group = zarr.open_group(path, mode="r+")
        stored = dict(self.group.attrs)["tensorlayer_xplain"]["weights"]
        mine = self.explainer.adapter.weights_fingerprint()
        if stored != mine:
            raise ValueError("weights: this worker's model weights (fingerprint %s) differ from the store's (%s); "
                             "model_fn must build the same model on every worker" % (mine[:12], stored[:12]))
        # trace the compiled steps now (part of the actor's start-up), not inside its first chunk
        per_row = isinstance(self.targets, np.ndarray) and self.targets.ndim == 1
        compute_chunk(self.explainer, np.asarray(self.x[:1]), self.targets[:1] if per_row else self.targets,
                      self.methods)

    def __call__(self, batch):
        written, started = [], time.time()
        for index in np.asarray(batch["chunk"]).tolist():
            start = index * self.chunk_size
            x = self.x[start:start + self.chunk_size]
            x, _ = self.explainer.adapter.prepare(x, name="data")
            per_row = isinstance(self.targets, np.ndarray) and self.targets.ndim == 1
            t = self.targets[start:start + len(x)] if per_row else self.targets
            results = compute_chunk(self.explainer, x, t, self.methods)
            labels = None if self.labels is None else self.labels[start:start + len(x)]
            write_chunk(self.group, index, start, results, labels, x if self.store_inputs else None)
            written.append(len(x))
        n = len(written)
        return {"chunk": np.asarray(batch["chunk"]), "samples": np.asarray(written, np.int64),
                "started": np.full(n, started), "finished": np.full(n, time.time())}


def _as_array(data):
    """Numpy inputs from an array, a ``ray.data.Dataset`` (one column) or a list of image files."""
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "dtype")):
        return np.asarray(data)
    ray = _ray()
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, str) for p in data):
        data = ray.data.read_images(list(data))
    if isinstance(data, ray.data.Dataset):
        columns = data.columns()
        if len(columns) != 1:
            raise ValueError("data: expected a ray.data.Dataset with one column (e.g. 'image'), got columns %s"
                             % (columns,))
        return np.concatenate([b[columns[0]] for b in data.iter_batches(batch_format="numpy", batch_size=4096)])
    raise TypeError("data: expected a numpy array, a ray.data.Dataset or a list of image paths, got %s"
                    % type(data).__name__)


def explain_with_ray(model_fn, weights, data, path, methods, num_workers=2, batch_size=256, chunk_size=None,
                     config=None, targets=None, labels=None, output="logits", seed=0, resume=True, progress=None,
                     store_inputs=False):
    """Explain ``data`` with a pool of Ray actors into the Zarr store at ``path``.

    The result equals :meth:`ModelExplainer.explain_dataset` with the same
    arguments (same store layout, same values, same resume rules).

    Parameters
    ----------
    model_fn : callable
        Builds the model in every actor (``tensorlayer_xplain.models.cnn``).
    weights : str, os.PathLike, list of ndarray or None
        A weights file (``'model.h5'``, ``.npz``, ``.safetensors``; read once in the driver
        by :func:`tensorlayer_xplain.load_weights` and sent to the actors as arrays), or
        ``[w.numpy() for w in model.all_weights]`` of the trained model.
    data : ndarray (N, ...), ray.data.Dataset (one column) or list of image paths
        Image paths are read with ``ray.data.read_images``. The inputs are put
        once in Ray's object store; actors read their chunks from it.
    path : str
        Local folder every actor can reach, or an fsspec URL (``s3://``, ``gs://``) on a cluster.
    methods : list of str
    num_workers : int
        Actors (one model each).
    batch_size : int
        Largest batch each actor sends to its model.
    chunk_size : int, optional
        Samples per chunk (default ``batch_size``): one task per chunk.
    config, targets, labels, output, seed, resume, progress, store_inputs
        As :meth:`ModelExplainer.explain_dataset` and :class:`ModelExplainer`.

    Returns
    -------
    ExplanationStore
        With ``timings``: seconds ``total`` (this call), ``startup`` (until the
        first actor began its first chunk: actor start, model build, tracing) and
        ``compute`` (from then to the last chunk written).

    Examples
    --------
    >>> # starts a Ray cluster: tests/test_distributed.py runs it (slow)
    >>> weights = [w.numpy() for w in model.all_weights]                      # doctest: +SKIP
    >>> store = explain_with_ray(tlxp.models.cnn, weights, X_test, 'out.zarr', ['gradient'])   # doctest: +SKIP
    """
    ray = _ray()
    if not isinstance(num_workers, (int, np.integer)) or isinstance(num_workers, bool) or num_workers < 1:
        raise ValueError("num_workers: expected a positive int, got %r" % (num_workers,))
    x = _as_array(data)
    chunk_size = int(batch_size if chunk_size is None else chunk_size)
    if chunk_size < 1:
        raise ValueError("chunk_size: expected a positive int, got %r" % (chunk_size,))
    explainer = build_explainer(model_fn, weights, methods, config, output, batch_size, seed)
    if isinstance(weights, (str, os.PathLike)):  # read once here; the actors get the arrays, not the path
        from ..weights import model_variables

        weights = [np.array(v.numpy()) for v in model_variables(explainer.model)]
    names = explainer.methods
    first, _ = explainer.adapter.prepare(x[:1], name="data")
    if labels is not None and len(labels) != len(x):
        raise ValueError("labels: expected one label per input (%d), got %d" % (len(x), len(labels)))
    if isinstance(targets, list):
        targets = np.asarray(targets)
    if isinstance(targets, np.ndarray) and targets.ndim == 1 and len(targets) != len(x):
        raise ValueError("targets: expected one class index per input (%d), got %d" % (len(x), len(targets)))
    run = describe_run(explainer, names, targets, chunk_size, store_inputs)
    n_classes = output_size(explainer.adapter, first)
    group = prepare_store(path, run, len(x), n_classes, labels is not None, resume)
    done = verified_done(group, path)
    todo = [int(c) for c in np.flatnonzero(~done)]
    bar = progress_bar(len(x), "explain_with_ray (%s)" % ", ".join(names), progress,
                       initial=int(len(x) - sum(min(chunk_size, len(x) - c * chunk_size) for c in todo)))
    began, first, last = time.time(), None, None
    try:
        if todo:
            refs = [ray.put(v) for v in (x, targets, None if labels is None else np.asarray(labels))]
            # a few tasks per actor (each task a run of chunks): Ray Data's per-task overhead (~0.1-0.3 s on
            # a loaded machine) would otherwise rival a chunk's compute; flags are still written per chunk
            tasks = min(len(todo), 4 * int(num_workers))
            jobs = ray.data.from_items([{"chunk": c} for c in todo], override_num_blocks=tasks)
            out = jobs.map_batches(
                ChunkWorker, batch_size=-(-len(todo) // tasks), concurrency=int(num_workers), num_cpus=1,
                fn_constructor_kwargs=dict(model_fn=model_fn, weights=weights, methods=names, config=config,
                                           output=output, batch_size=batch_size, seed=seed, path=str(path),
                                           data=refs[0], targets=refs[1], labels=refs[2], chunk_size=chunk_size,
                                           store_inputs=store_inputs))
            for row in out.iter_rows():
                bar.update(int(row["samples"]))
                first = row["started"] if first is None else min(first, row["started"])
                last = row["finished"] if last is None else max(last, row["finished"])
    finally:
        bar.close()
    finish_store(group, len(x))
    store = open_store(path)
    ended = time.time()
    store.timings = {"total": ended - began, "startup": (first or ended) - began,
                     "compute": (last or ended) - (first or ended)}
    return store
