"""Explanations of a whole dataset in a chunked, resumable Zarr store.

Layout of a store (a Zarr v3 group, local folder or any fsspec URL)::

    <path>/                      attrs["tensorlayer_xplain"]: what produced it (see below)
        <method>/attributions    (N, *input_shape) float32, chunks (chunk_size, *input_shape)
        <method>/targets         (N,) int32, the class explained (-1 for callable targets)
        predictions              (N, K) float32, the model's scores
        labels                   (N,) int64, when the data had labels
        inputs                   (N, *input_shape) float32, when ``store_inputs``
        done                     (n_chunks,) bool, one flag per chunk, set last

A chunk's flag is written only after every array of that chunk, so a run
killed at any point (SIGKILL included) leaves flags only on complete chunks;
re-running the same call computes exactly the missing chunks. The attributes
record the package version, the model's weight fingerprint, the input shape,
the output kind, the chunk size, the targets and each method's parameters; a
resume with any of them changed is refused. Writing is
:mod:`tensorlayer_xplain.scale.writer`; this module reads.

Examples
--------
>>> store = explainer.explain_dataset(X_test, 'out.zarr', methods=['gradient'])
>>> store = tlxp.open_store('out.zarr')
>>> store['gradient'][:8].heatmap().shape
(8, 28, 28)
"""
import os

import numpy as np

from ..explanation import Explanation
from ..methods.registry import method_info

__all__ = ["ExplanationStore", "MethodView", "open_store"]

ATTR = "tensorlayer_xplain"
FORMAT = 1
#: Attributes that must match for a resume (the rest are informative).
_IDENTITY = ("format", "version", "weights", "input_shape", "output", "chunk_size", "targets", "methods",
             "store_inputs")


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - zarr is a dependency
        raise ImportError("explain_dataset needs the 'zarr' package: pip install zarr") from None
    return zarr


def _open_group(path, mode):
    zarr = _zarr()
    try:
        return zarr.open_group(os.fspath(path) if isinstance(path, os.PathLike) else path, mode=mode)
    except (FileNotFoundError, zarr.errors.NodeNotFoundError):
        raise FileNotFoundError("path: no Zarr store at %r" % (path,)) from None


class MethodView:
    """One method's results in a store; slicing reads only the rows asked for.

    ``view[i:j]``, ``view[[3, 7, 9]]`` or ``view[5]`` return an :class:`Explanation`.
    """

    def __init__(self, store, name):
        self.store, self.name = store, name

    def __len__(self):
        return len(self.store)

    @property
    def attributions(self):
        """The Zarr array ``(N, *input_shape)`` (lazy)."""
        return self.store.group[self.name]["attributions"]

    def __getitem__(self, key):
        return self.store.read(self.name, key)

    def __repr__(self):
        return "<MethodView %r of %d samples>" % (self.name, len(self))


def _rows(key, n):
    """Sorted-as-given row indices of a key (int, slice or sequence of ints)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not -n <= key < n:
            raise IndexError("index: %d is out of range for a store of %d samples" % (key, n))
        return np.array([key % n])
    if isinstance(key, slice):
        return np.arange(n)[key]
    rows = np.asarray(key)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise TypeError("index: expected an int, a slice or a sequence of ints, got %r" % (key,))
    if len(rows) and (rows.min() < -n or rows.max() >= n):
        raise IndexError("index: values must be in -%d..%d, got %d..%d" % (n, n - 1, rows.min(), rows.max()))
    return rows % n


class ExplanationStore:
    """Read access to a store written by :meth:`ModelExplainer.explain_dataset`.

    Parameters
    ----------
    group : zarr.Group
    path : str, optional
        Where it lives (for messages).

    Examples
    --------
    >>> _ = explainer.explain_dataset(X_test, 'both.zarr', methods=['gradient', 'gradcam'], progress=False)
    >>> store = tlxp.open_store('both.zarr')
    >>> len(store), store.methods
    (16, ['gradient', 'gradcam'])
    >>> exp = store['gradcam'][:16]                        # an Explanation
    >>> means, counts = store.class_mean_heatmaps('gradcam')
    >>> means.shape[1:], int(counts.sum())
    ((28, 28), 16)
    """

    def __init__(self, group, path=None):
        attrs = dict(group.attrs).get(ATTR)
        if attrs is None or attrs.get("state") != "ready":
            raise ValueError("path: %r is not a (ready) tensorlayer-xplain store" % (path,))
        self.group, self.path, self.attrs = group, path, attrs

    def __len__(self):
        return int(self.group["predictions"].shape[0])

    @property
    def methods(self):
        """Method names, in the order they were run."""
        return list(self.attrs["methods"])

    @property
    def image_shape(self):
        return tuple(self.attrs["image_shape"])

    @property
    def complete(self):
        """True when every chunk is done."""
        return bool(np.all(self.group["done"][:]))

    @property
    def labels(self):
        """Labels ``(N,)`` when the data had them, else None."""
        return self.group["labels"][:] if "labels" in self.group else None

    def __contains__(self, name):
        return name in self.attrs["methods"]

    def __getitem__(self, name):
        if name not in self.attrs["methods"]:
            try:
                name = method_info(name).name
            except KeyError:
                pass
        if name not in self.attrs["methods"]:
            raise KeyError("method: %r is not in this store; it holds %s" % (name, self.methods))
        return MethodView(self, name)

    def _check_done(self, rows):
        chunk = self.attrs["chunk_size"]
        done = self.group["done"][:]
        missing = np.unique(rows // chunk)
        missing = missing[~done[missing]]
        if len(missing):
            raise ValueError("index: rows in chunks %s (of %d rows each) are not computed yet; re-run the same "
                             "explain_dataset call to finish the store" % (missing[:5].tolist(), chunk))

    def read(self, name, key):
        """``store[name][key]`` as an :class:`Explanation` (only those rows are read)."""
        rows = _rows(key, len(self))
        if not len(rows):
            raise ValueError("index: %r selects no sample" % (key,))
        self._check_done(rows)
        contiguous = np.all(np.diff(rows) == 1)
        sel = slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows

        def get(array):
            return array[sel] if contiguous else array.oindex[sel]

        attributions = get(self.group[name]["attributions"])
        inputs = get(self.group["inputs"]) if "inputs" in self.group else np.zeros_like(attributions)
        info = self.attrs["methods"][name]
        return Explanation(name, attributions, inputs, get(self.group[name]["targets"]),
                           get(self.group["predictions"]), self.image_shape, params=info["params"],
                           meta={"signed": info["signed"], "family": info["family"],
                                 "inputs_stored": "inputs" in self.group, "rows": rows})

    def to_dask(self):
        """Every method's attributions as lazy dask arrays (needs ``dask[array]``).

        Returns
        -------
        dict of str -> dask.array.Array
            ``(N, *input_shape)``, one dask chunk per store chunk.

        Examples
        --------
        >>> store.to_dask()['gradient'].mean(axis=0).compute().shape
        (28, 28, 1)
        """
        try:
            import dask.array as da
        except ImportError:
            raise ImportError("to_dask: needs dask; pip install 'dask[array]' "
                              "(or the 'distributed' extra of tensorlayer-xplain)") from None
        return {name: da.from_zarr(self.group[name]["attributions"]) for name in self.methods}

    def _classes(self, name, by, start, stop):
        if by == "target":
            return self.group[name]["targets"][start:stop]
        if by == "prediction":
            return np.argmax(self.group["predictions"][start:stop], axis=1)
        if by == "label":
            if "labels" not in self.group:
                raise ValueError("by: 'label' needs labels; this store has none (data without (x, y) elements)")
            return self.group["labels"][start:stop]
        raise ValueError("by: expected 'target', 'prediction' or 'label', got %r" % (by,))

    def class_mean_heatmaps(self, method, by="target", reduce="sum"):
        """Mean heatmap per class, streamed chunk by chunk (memory: one chunk).

        Parameters
        ----------
        method : str
        by : {'target', 'prediction', 'label'}
            Which class each sample counts for.
        reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
            Channel reduction, as :meth:`Explanation.heatmap`.

        Returns
        -------
        means : ndarray, shape (K, H, W)
            NaN for classes with no sample.
        counts : ndarray of int, shape (K,)

        Examples
        --------
        >>> means, counts = store.class_mean_heatmaps('gradient', by='label')
        """
        name = self[method].name
        k = int(self.attrs.get("n_classes") or self.group["predictions"].shape[1])
        sums = np.zeros((k,) + self.image_shape[:2], np.float64)
        counts = np.zeros(k, np.int64)
        chunk = self.attrs["chunk_size"]
        for start in range(0, len(self), chunk):
            stop = min(len(self), start + chunk)
            heat = self.read(name, slice(start, stop)).heatmap(reduce)
            classes = self._classes(name, by, start, stop)
            keep = (classes >= 0) & (classes < k)
            np.add.at(sums, classes[keep], heat[keep])
            counts += np.bincount(classes[keep], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts[:, None, None]
        return means, counts

    def summary(self, by="target"):
        """Summary statistics per method and class.

        Parameters
        ----------
        by : {'target', 'prediction', 'label'}

        Returns
        -------
        pandas.DataFrame
            Index ``(method, class)``; columns ``n`` (samples), ``mean`` and
            ``mean_abs`` (of the heatmap values), ``peak_abs`` (largest
            absolute value of the class-mean heatmap).

        Examples
        --------
        >>> store.summary(by='label').loc['gradient']
        """
        import pandas as pd

        rows = []
        for name in self.methods:
            means, counts = self.class_mean_heatmaps(name, by)
            abs_means, _ = self.class_mean_heatmaps(name, by, reduce="abs_sum")
            for c in range(len(counts)):
                rows.append({"method": name, "class": c, "n": int(counts[c]),
                             "mean": float(np.mean(means[c])), "mean_abs": float(np.mean(abs_means[c])),
                             "peak_abs": float(np.max(np.abs(means[c])))})
        return pd.DataFrame(rows).set_index(["method", "class"])

    def to_tensorboard(self, logdir, methods=None, by="target", reduce="sum", step=0):
        """Write each method's per-class mean heatmaps to TensorBoard (needs the ``tensorboard`` extra).

        Parameters
        ----------
        logdir : str, os.PathLike or tf.summary.SummaryWriter
            Folder of the event files (or an open writer).
        methods : list of str, optional
            Default: every method of the store.
        by : {'target', 'prediction', 'label'}
            Which class each sample counts for (as :meth:`class_mean_heatmaps`).
        reduce : {'sum', 'mean', 'abs_sum', 'max_abs'}
        step : int

        Returns
        -------
        list of str
            The tags written: ``class_means/<method>`` (an image grid, one tile per
            class) and ``class_counts/<method>`` (text).

        Examples
        --------
        >>> tlxp.open_store('out.zarr').to_tensorboard('runs/store')     # doctest: +SKIP
        ['class_means/gradient', 'class_counts/gradient']
        """
        from ..tensorboard.summaries import log_class_means

        return log_class_means(logdir, self, methods=methods, by=by, reduce=reduce, step=step)

    def plot_class_means(self, method, by="target", reduce="sum", class_names=None, columns=5, saveable=True,
                         name="class_mean_heatmaps", fig_idx=2410, second=10):
        """Draw :meth:`class_mean_heatmaps`, one panel per class (see
        :func:`tensorlayer_xplain.visualize.class_mean_heatmaps` for the parameters).

        Returns
        -------
        means : ndarray, shape (K, H, W)
        counts : ndarray of int, shape (K,)
        """
        import math

        from ..visualize._draw import class_label, draw_heatmap
        from ..visualize._figure import tl_figure

        if not isinstance(columns, (int, np.integer)) or isinstance(columns, bool) or columns < 1:
            raise ValueError("columns: expected a positive int, got %r" % (columns,))
        means, counts = self.class_mean_heatmaps(method, by=by, reduce=reduce)
        signed = self.attrs["methods"][self[method].name]["signed"]
        k = len(counts)
        cols = min(int(columns), k)
        rows = math.ceil(k / cols)
        with tl_figure(saveable, name, fig_idx, second, figsize=(2.2 * cols, 2.4 * rows)) as fig:
            for c in range(k):
                ax = fig.add_subplot(rows, cols, c + 1)
                title = "%s (n=%d)" % (class_label(c, class_names), counts[c])
                heat = np.nan_to_num(means[c]) if counts[c] else np.zeros(means.shape[1:])
                draw_heatmap(ax, heat, signed=signed, title=title, colorbar=False)
            fig.suptitle("%s: mean heatmap per %s" % (self[method].name, by))
        return means, counts

    def report(self, indices, path="xplain_report.html", methods=None, inputs=None, class_names=None, title=None):
        """Write the HTML report (:mod:`tensorlayer_xplain.report`) for some samples of the store.

        Parameters
        ----------
        indices : sequence of int or slice
            Rows of the store.
        path : str
        methods : list of str, optional
            Default: every method of the store.
        inputs : array-like (N, ...) or (len(indices), ...), optional
            Needed when the store was written without ``store_inputs``: the
            whole dataset (indexed here) or just the selected rows.
        class_names : sequence of str, optional
        title : str, optional

        Returns
        -------
        str
            ``path``.

        Examples
        --------
        >>> store.report(range(16), 'out/report.html', inputs=X_test)
        'out/report.html'
        """
        from ..report import write_report

        rows = _rows(list(indices) if not isinstance(indices, slice) else indices, len(self))
        names = self.methods if methods is None else [self[m].name for m in methods]
        explanations = {name: self.read(name, rows) for name in names}
        if "inputs" not in self.group:
            if inputs is None:
                raise ValueError("inputs: this store was written without store_inputs=True; pass the inputs "
                                 "(the whole dataset or the %d selected rows) to draw the report" % len(rows))
            inputs = np.asarray(inputs)
            picked = inputs[rows] if len(inputs) == len(self) else inputs
            if len(picked) != len(rows):
                raise ValueError("inputs: expected %d (whole store) or %d (selected) samples, got %d"
                                 % (len(self), len(rows), len(inputs)))
            for exp in explanations.values():
                exp.inputs = picked.reshape(exp.attributions.shape).astype(np.float32)
        return write_report(path, explanations, class_names=class_names,
                            title=title or "tensorlayer-xplain report: %d samples of %s" % (len(rows), self.path))

    def __repr__(self):
        return "ExplanationStore(%r, n=%d, methods=%s, complete=%s)" % (self.path, len(self), self.methods,
                                                                         self.complete)


def open_store(path, mode="r"):
    """Open a store written by :meth:`ModelExplainer.explain_dataset`.

    Parameters
    ----------
    path : str or os.PathLike
        Local folder or fsspec URL (``s3://bucket/run.zarr``).
    mode : {'r', 'r+'}

    Returns
    -------
    ExplanationStore

    Examples
    --------
    >>> store = tlxp.open_store('out.zarr')
    """
    if mode not in ("r", "r+"):
        raise ValueError("mode: expected 'r' or 'r+', got %r" % (mode,))
    return ExplanationStore(_open_group(path, mode), path)
