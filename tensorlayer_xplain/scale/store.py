"""Explanations of a whole dataset in a chunked, resumable Zarr store.

Layout of a store (a Zarr v3 group, local folder or any fsspec URL)::

    <path>/                      attrs["tensorlayer_xplain"]: what produced it (see below)
        <method>/attributions    (N, *input_shape) float32, chunks (chunk_size, *input_shape)
        <method>/targets         (N,) int32, the class explained (-1 for callable targets)
        predictions              (N, K) float32, the model's scores
        labels                   (N,) int64, when the data had labels
        inputs                   (N, *input_shape) float32 (int32 token ids), when ``store_inputs``
        decoder_inputs           (N, T_out) int32, encoder-decoders only (attrs["seq2seq"]): the decoder
                                 inputs each row was explained with; there ``<method>/attributions`` are
                                 (N, T_out, T_src), ``<method>/targets`` (N, T_out) token ids and
                                 ``predictions`` (N, T_out, V) the teacher-forced logits
        checksums                (n_chunks, n_arrays) uint64, per chunk a digest of each array's rows
                                 (columns named by attrs["checksummed"]), written just before the flag
        done                     (n_chunks,) bool, one flag per chunk, set last

A chunk's flag is written only after every array of that chunk, so a run
killed at any point (SIGKILL included) leaves flags only on complete chunks;
re-running the same call computes exactly the missing chunks. The attributes
record the package version, the model's weight fingerprint, the input shape,
the output kind, the chunk size, the targets and each method's parameters; a
resume with any of them changed is refused.

Every attribute and array shape is validated against the others and against the
bounds below when a store is opened, and every chunk a read touches is checked
against its checksum (a changed, deleted or truncated chunk file raises
:class:`StoreIntegrityError`; ``open_store(path, verify=True)`` checks them all). Writing is
:mod:`tensorlayer_xplain.scale.writer`; this module reads.

Examples
--------
>>> store = explainer.explain_dataset(X_test, 'out.zarr', methods=['gradient'])
>>> store = tlxp.open_store('out.zarr')
>>> store['gradient'][:8].heatmap().shape
(8, 28, 28)
"""
import hashlib
import os

import numpy as np

from ..explanation import Explanation
from ..methods.registry import method_info

__all__ = ["ExplanationStore", "MethodView", "open_store", "StoreIntegrityError"]

ATTR = "tensorlayer_xplain"
#: 2: per-chunk checksums (format 1 stores are read without them, and never resumed)
FORMAT = 2
#: Bounds an opened store must respect (a tampered ``zarr.json`` is refused, not obeyed).
MAX_CLASSES = 100_000
MAX_SAMPLE_VALUES = 1 << 26       # values in one sample (e.g. 4096 x 4096 x 4)
MAX_CHUNK_BYTES = 1 << 31         # bytes of one decoded chunk of any array
MAX_ROWS = 1 << 40
_DONE_PIECE = 1 << 20             # done flags are read in pieces of this many
_DONE_SCAN = 1024                 # ... and scanned for completeness in pieces of this many (early exit)
#: Attributes that must match for a resume (the rest are informative).
_IDENTITY = ("format", "version", "weights", "input_shape", "output", "chunk_size", "targets", "methods",
             "store_inputs")


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - zarr is a dependency
        raise ImportError("explain_dataset needs the 'zarr' package: pip install zarr") from None
    return zarr


class StoreIntegrityError(ValueError):
    """A chunk of a store does not match the checksum written with it (changed, deleted or truncated)."""


def digest(values):
    """The checksum of one array's rows of one chunk: 8 bytes of BLAKE2b over the decoded values, as uint64."""
    values = np.ascontiguousarray(values)
    h = hashlib.blake2b(digest_size=8)
    h.update(str(values.dtype.str).encode() + repr(values.shape).encode())
    h.update(values.reshape(-1).view(np.uint8).data)
    return np.frombuffer(h.digest(), np.uint64)[0]


def checksummed_arrays(methods, labels, inputs, seq2seq=False):
    """Names of the arrays a chunk's checksums cover, in column order."""
    names = []
    for name in methods:
        names += ["%s/attributions" % name, "%s/targets" % name]
    names.append("predictions")
    if labels:
        names.append("labels")
    if inputs:
        names.append("inputs")
    if seq2seq:
        names.append("decoder_inputs")
    return names


def array_tails(attrs, n_classes):
    """``{kind: per-row shape}`` of a store's arrays: ``attributions``, ``targets``, ``predictions``, ``inputs``.

    An encoder-decoder's (``attrs['seq2seq']`` with ``t_out``) are one row per output
    position: attributions ``(T_out, T_src)``, targets ``(T_out,)``, predictions
    ``(T_out, V)``, plus ``decoder_inputs`` ``(T_out,)``.
    """
    sample = tuple(attrs["input_shape"])
    seq2seq = attrs.get("seq2seq")
    if seq2seq is None:
        return {"attributions": sample, "targets": (), "predictions": (n_classes,), "inputs": sample}
    t_out = seq2seq.get("t_out") if isinstance(seq2seq, dict) else None
    if not _is_int(t_out, 1, MAX_SAMPLE_VALUES):
        raise ValueError("seq2seq: expected {'t_out': a positive int}, got %r" % (seq2seq,))
    return {"attributions": (t_out,) + sample, "targets": (t_out,), "predictions": (t_out, n_classes),
            "inputs": sample, "decoder_inputs": (t_out,)}


def _array(group, name):
    """``group['a/b']`` as a Zarr array, or None."""
    node = group
    for part in name.split("/"):
        try:
            node = node[part]
        except KeyError:
            return None
    return node if hasattr(node, "dtype") else None


def _is_int(value, low=0, high=None):
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def validate(group, attrs, path):
    """Check every attribute and array shape of a store against the others and against sane bounds.

    Nothing but metadata is read. Returns the number of rows ``n``.

    Raises
    ------
    ValueError
        Naming the attribute or array, what was expected and what was found.
    """
    def bad(what, expected, got):
        raise ValueError("path: %r is not a valid tensorlayer-xplain store (tampered or damaged?): %s: expected %s, "
                         "got %s" % (path, what, expected, got))

    if not isinstance(attrs, dict):
        bad("attrs[%r]" % ATTR, "a mapping", type(attrs).__name__)
    if attrs.get("format") not in (1, FORMAT):
        bad("format", "1 or %d" % FORMAT, repr(attrs.get("format")))
    chunk = attrs.get("chunk_size")
    if not _is_int(chunk, 1, MAX_ROWS):
        bad("chunk_size", "an int in 1..%d" % MAX_ROWS, repr(chunk))
    shape, image = attrs.get("input_shape"), attrs.get("image_shape")
    for key, value in (("input_shape", shape), ("image_shape", image)):
        if not (isinstance(value, list) and 1 <= len(value) <= 4
                and all(_is_int(v, 1, MAX_SAMPLE_VALUES) for v in value)
                and np.prod(value, dtype=object) <= MAX_SAMPLE_VALUES):
            bad(key, "1 to 4 positive ints with at most %d values in all" % MAX_SAMPLE_VALUES, repr(value)[:100])
    if len(image) not in (2, 3) or np.prod(image, dtype=object) != np.prod(shape, dtype=object):
        bad("image_shape", "(H, W) or (H, W, C) holding the %d values of input_shape %s"
            % (np.prod(shape, dtype=object), shape), image)
    methods = attrs.get("methods")
    if not isinstance(methods, dict) or not methods:
        bad("methods", "a non-empty mapping of method names", repr(methods)[:100])
    members = set(group.group_keys())
    for name, info in methods.items():
        if name not in members:
            bad("methods", "a group per method", "no group %r" % name)
        if not (isinstance(info, dict) and isinstance(info.get("params"), dict) and isinstance(info.get("signed"), bool)
                and isinstance(info.get("family"), str)):
            bad("methods[%r]" % name, "params (mapping), signed (bool), family (str)", repr(info)[:100])
    rank = 3 if attrs.get("seq2seq") is not None else 2
    predictions = _array(group, "predictions")
    if predictions is None or predictions.ndim != rank:
        bad("predictions", "an array (N, n_classes)" if rank == 2 else "an array (N, T_out, vocabulary)",
            "none" if predictions is None else predictions.shape)
    n, k = int(predictions.shape[0]), int(predictions.shape[-1])
    if not 0 <= n <= MAX_ROWS:
        bad("predictions", "at most %d rows" % MAX_ROWS, n)
    if not 1 <= k <= MAX_CLASSES:
        bad("predictions", "1..%d classes" % MAX_CLASSES, k)
    if attrs.get("n_classes") not in (None, k):
        bad("n_classes", "%d (the predictions' columns)" % k, repr(attrs.get("n_classes")))
    if attrs.get("n") is not None and attrs.get("n") != n:
        bad("n", "%d (the arrays' rows)" % n, repr(attrs.get("n")))
    try:
        tails = array_tails(attrs, k)
    except ValueError as err:
        bad("seq2seq", "{'t_out': a positive int}", str(err))
    expected = {"predictions": (tails["predictions"], "float32")}
    for name in methods:
        expected["%s/attributions" % name] = (tails["attributions"], "float32")
        expected["%s/targets" % name] = (tails["targets"], "int32")
    if attrs.get("labels") or _array(group, "labels") is not None:
        expected["labels"] = ((), "int64")
    ids = attrs.get("tokens") is not None or attrs.get("seq2seq") is not None
    if attrs.get("store_inputs") or _array(group, "inputs") is not None:
        expected["inputs"] = (tails["inputs"], "int32" if ids else "float32")  # token ids
    if "decoder_inputs" in tails:
        expected["decoder_inputs"] = (tails["decoder_inputs"], "int32")
    # a stream that was interrupted (n not recorded yet) grows its arrays one after the other, so
    # they may differ by up to one chunk's rows; no such row is flagged done
    slack = chunk if attrs.get("n") is None else 0
    for name, (tail, dtype) in expected.items():
        array = _array(group, name)
        if array is None:
            bad(name, "an array", "none")
        if tuple(array.shape[1:]) != tail or abs(int(array.shape[0]) - n) > slack:
            bad("%s shape" % name, (n,) + tail if not slack else "(%d +- %d,) + %s" % (n, slack, tail),
                tuple(array.shape))
        if str(array.dtype) != dtype:
            bad("%s dtype" % name, dtype, array.dtype)
        if tuple(array.chunks) != (chunk,) + tail or getattr(array, "shards", None) is not None:
            bad("%s chunks" % name, (chunk,) + tail, tuple(array.chunks))
        if chunk * int(np.prod(tail, dtype=object)) * array.dtype.itemsize > MAX_CHUNK_BYTES:
            bad("%s chunk size" % name, "at most %d bytes" % MAX_CHUNK_BYTES, "%d rows of %s" % (chunk, tail))
    n_chunks = -(-n // chunk)
    done = _array(group, "done")
    if done is None or done.ndim != 1 or str(done.dtype) != "bool" or tuple(done.chunks) != (1,):
        bad("done", "a bool array (n_chunks,) in chunks of 1", "none" if done is None else (done.shape, done.dtype))
    if not n_chunks <= done.shape[0] <= n_chunks + 1:  # a stream may have flagged room for one more chunk
        bad("done shape", "(%d,): one flag per chunk of %d rows" % (n_chunks, chunk), tuple(done.shape))
    if attrs.get("format") == FORMAT:
        columns = checksummed_arrays(methods, "labels" in expected, "inputs" in expected,
                                     "decoder_inputs" in expected)
        if attrs.get("checksummed") != columns:
            bad("checksummed", columns, repr(attrs.get("checksummed"))[:200])
        sums = _array(group, "checksums")
        if (sums is None or str(sums.dtype) != "uint64" or tuple(sums.shape[1:]) != (len(columns),)
                or not 0 <= sums.shape[0] - done.shape[0] <= (1 if slack else 0)  # grown just before done
                or tuple(sums.chunks) != (1, len(columns))):
            bad("checksums", "uint64 (%d, %d) in chunks of one row" % (done.shape[0], len(columns)),
                "none" if sums is None else (sums.shape, sums.dtype, sums.chunks))
    return n


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
    """Sorted-as-given row indices of a key (int, slice or sequence of ints); never ``arange(n)``."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not -n <= key < n:
            raise IndexError("index: %d is out of range for a store of %d samples" % (key, n))
        return np.array([key % n])
    if isinstance(key, slice):
        return np.arange(*key.indices(n))
    rows = np.asarray(key)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise IndexError("index: a boolean mask must have one entry per sample (%d), got %s" % (n, rows.shape))
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

    def __init__(self, group, path=None, verify=False):
        attrs = dict(group.attrs).get(ATTR)
        if not isinstance(attrs, dict) or attrs.get("state") != "ready":
            raise ValueError("path: %r is not a (ready) tensorlayer-xplain store" % (path,))
        self._n = validate(group, attrs, path)
        self.group, self.path, self.attrs = group, path, attrs
        self._columns = list(attrs["checksummed"]) if attrs.get("format") == FORMAT else None
        if verify:
            self.verify()

    def __len__(self):
        return self._n

    @property
    def methods(self):
        """Method names, in the order they were run."""
        return list(self.attrs["methods"])

    @property
    def image_shape(self):
        return tuple(self.attrs["image_shape"])

    @property
    def n_chunks(self):
        """Chunks of ``chunk_size`` rows."""
        return -(-len(self) // self.attrs["chunk_size"])

    def _done(self, chunks=None):
        """The done flags of ``chunks`` (default: all), read as slices: Zarr's integer (orthogonal)
        indexing walks the whole axis, which a store with many chunks cannot afford."""
        done = self.group["done"]
        if chunks is None:
            return np.concatenate([done[i:min(self.n_chunks, i + _DONE_PIECE)]
                                   for i in range(0, self.n_chunks, _DONE_PIECE)] or [np.zeros(0, bool)])
        chunks = np.asarray(chunks, dtype=np.int64)
        out = np.zeros(len(chunks), bool)
        order = np.argsort(chunks, kind="stable")
        ordered = chunks[order]
        breaks = np.flatnonzero(np.diff(ordered) > 1) + 1
        for run in np.split(np.arange(len(ordered)), breaks) if len(ordered) else []:
            lo, hi = int(ordered[run[0]]), int(ordered[run[-1]]) + 1
            flags = done[lo:hi]
            out[order[run]] = flags[ordered[run] - lo]
        return out

    @property
    def complete(self):
        """True when every chunk is done (the flags are scanned in pieces, stopping at the first missing one)."""
        done = self.group["done"]
        return all(bool(np.all(done[i:min(self.n_chunks, i + _DONE_SCAN)]))
                   for i in range(0, self.n_chunks, _DONE_SCAN))

    @property
    def labels(self):
        """Labels ``(N,)`` when the data had them, else None."""
        return self._read_arrays(["labels"], np.arange(len(self)))["labels"] if "labels" in self.group else None

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

    def _check_done(self, chunks):
        chunk = self.attrs["chunk_size"]
        missing = chunks[~self._done(chunks)]
        if len(missing):
            raise ValueError("index: rows in chunks %s (of %d rows each) are not computed yet; re-run the same "
                             "explain_dataset call to finish the store" % (missing[:5].tolist(), chunk))

    def _chunk(self, names, index):
        """Every row of chunk ``index`` of the arrays ``names``, checked against the chunk's checksums."""
        chunk = self.attrs["chunk_size"]
        lo, hi = index * chunk, min(len(self), (index + 1) * chunk)
        values = {}
        for name in names:
            try:
                values[name] = _array(self.group, name)[lo:hi]
            except Exception as err:  # a truncated or garbled chunk file: blosc, zstd or zarr errors
                raise StoreIntegrityError(
                    "%s: chunk %d (rows %d..%d) of %r cannot be decoded (%s: %s); re-run the same explain_dataset "
                    "call to recompute it" % (self.path, index, lo, hi - 1, name, type(err).__name__,
                                              str(err).splitlines()[0][:120] if str(err) else "")) from None
        if self._columns is not None:
            sums = self.group["checksums"][index]
            for name in names:
                if digest(values[name]) != sums[self._columns.index(name)]:
                    raise StoreIntegrityError(
                        "%s: chunk %d (rows %d..%d) of %r does not match the checksum written with it (the chunk file "
                        "was changed, deleted or truncated); re-run the same explain_dataset call to recompute it"
                        % (self.path, index, lo, hi - 1, name))
        return values

    def _read_arrays(self, names, rows):
        """``{name: rows of that array}``, reading only the chunks ``rows`` touch, each one verified."""
        chunk = self.attrs["chunk_size"]
        of_chunk = rows // chunk
        chunks = np.unique(of_chunk)
        self._check_done(chunks)
        out = {}
        for index in chunks:
            values = self._chunk(names, int(index))
            pick = of_chunk == index
            for name, value in values.items():
                if name not in out:
                    out[name] = np.empty((len(rows),) + value.shape[1:], value.dtype)
                out[name][pick] = value[rows[pick] - index * chunk]
        return out

    def read(self, name, key):
        """``store[name][key]`` as an :class:`Explanation` (only the chunks holding those rows are read,
        each checked against its checksum)."""
        rows = _rows(key, len(self))
        if not len(rows):
            raise ValueError("index: %r selects no sample" % (key,))
        names = ["%s/attributions" % name, "%s/targets" % name, "predictions"]
        if "inputs" in self.group:
            names.append("inputs")
        seq2seq = self.attrs.get("seq2seq") is not None
        if seq2seq:
            names.append("decoder_inputs")
        got = self._read_arrays(names, rows)
        attributions = got[names[0]]
        info = self.attrs["methods"][name]
        if seq2seq:
            from ..methods.seq2seq import Seq2seqExplanation

            inputs = got["inputs"] if "inputs" in got else np.zeros(attributions.shape[::2], np.int32)
            return Seq2seqExplanation(name, attributions, inputs, got["decoder_inputs"], got[names[1]],
                                      got["predictions"], params=dict(info["params"], pad_id=self._token_meta().get(
                                          "pad_id")), meta={"signed": info["signed"], "family": info["family"],
                                                            "inputs_stored": "inputs" in self.group, "rows": rows})
        inputs = got["inputs"] if "inputs" in got else np.zeros_like(attributions)
        return Explanation(name, attributions, inputs, got[names[1]], got["predictions"], self.image_shape,
                           params=info["params"], meta={"signed": info["signed"], "family": info["family"],
                                                        "inputs_stored": "inputs" in self.group, "rows": rows,
                                                        **self._token_meta()})

    def _token_meta(self):
        tokens = self.attrs.get("tokens") or self.attrs.get("seq2seq")
        return {} if tokens is None else {"pad_id": tokens.get("pad_id")}

    def bad_chunks(self, chunks=None):
        """Done chunks whose data does not match their checksums.

        Parameters
        ----------
        chunks : sequence of int, optional
            Default: every done chunk.

        Returns
        -------
        dict of int -> str
            Chunk index -> what is wrong with it (empty when everything matches).

        Examples
        --------
        >>> tlxp.open_store(store.path).bad_chunks()
        {}
        """
        if self._columns is None:
            raise ValueError("verify: this store (format 1) was written without checksums; nothing to verify")
        chunks = np.arange(self.n_chunks) if chunks is None else np.asarray(chunks, dtype=np.int64)
        chunks = chunks[self._done(chunks)]
        bad = {}
        for index in chunks:
            try:
                self._chunk(self._columns, int(index))
            except StoreIntegrityError as err:
                bad[int(index)] = str(err)
        return bad

    def verify(self):
        """Check every done chunk of every array against its checksum.

        Raises
        ------
        StoreIntegrityError
            Listing the bad chunks (a changed, deleted or truncated chunk file).

        Examples
        --------
        >>> tlxp.open_store(store.path).verify()
        """
        bad = self.bad_chunks()
        if bad:
            first = next(iter(bad.values()))
            raise StoreIntegrityError("%s: %d chunk(s) fail their checksums: %s; the first: %s"
                                      % (self.path, len(bad), sorted(bad)[:10], first))

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
        rows = np.arange(start, stop)
        if by == "target":
            return self._read_arrays(["%s/targets" % name], rows)["%s/targets" % name]
        if by == "prediction":
            return np.argmax(self._read_arrays(["predictions"], rows)["predictions"], axis=1)
        if by == "label":
            if "labels" not in self.group:
                raise ValueError("by: 'label' needs labels; this store has none (data without (x, y) elements)")
            return self._read_arrays(["labels"], rows)["labels"]
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
        if by not in ("target", "prediction", "label"):
            raise ValueError("by: expected 'target', 'prediction' or 'label', got %r" % (by,))
        k = int(self.group["predictions"].shape[1])  # validated on open: equals attrs n_classes, at most MAX_CLASSES
        if k * int(np.prod(self.image_shape[:2])) * 8 > MAX_CHUNK_BYTES:
            raise ValueError("method: %d class means of %s pixels need more than %d bytes; use to_dask() instead"
                             % (k, self.image_shape[:2], MAX_CHUNK_BYTES))
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
        >>> tlxp.open_store(store.path).to_tensorboard('runs/store')
        ['class_means/gradient', 'class_counts/gradient', ...]
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

        from .._utils.drawing import class_label, draw_heatmap
        from .._utils.figure import tl_figure

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

    def report(self, indices, path="xplain_report.html", methods=None, inputs=None, class_names=None, title=None,
               vocab=None):
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
        vocab : list or dict, optional
            Token models: words shown instead of ids.

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
                exp.inputs = picked.reshape(exp.attributions.shape).astype(
                    np.int32 if self.attrs.get("tokens") is not None else np.float32)
        return write_report(path, explanations, class_names=class_names,
                            title=title or "tensorlayer-xplain report: %d samples of %s" % (len(rows), self.path),
                            vocab=vocab)

    def __repr__(self):
        return "ExplanationStore(%r, n=%d, methods=%s, complete=%s)" % (self.path, len(self), self.methods,
                                                                         self.attrs.get("complete"))


def open_store(path, mode="r", verify=False):
    """Open a store written by :meth:`ModelExplainer.explain_dataset`.

    Every attribute and array shape is validated on open (a tampered store is refused);
    every read checks the chunks it touches against their checksums.

    Parameters
    ----------
    path : str or os.PathLike
        Local folder or fsspec URL (``s3://bucket/run.zarr``).
    mode : {'r', 'r+'}
    verify : bool
        Also check every done chunk of every array now (reads the whole store);
        raises :class:`StoreIntegrityError` listing the bad chunks.

    Returns
    -------
    ExplanationStore

    Examples
    --------
    >>> _ = explainer.explain_dataset(X_test[:4], 'small.zarr', methods=['gradient'], progress=False)
    >>> store = tlxp.open_store('small.zarr')
    >>> store = tlxp.open_store('small.zarr', verify=True)
    """
    if mode not in ("r", "r+"):
        raise ValueError("mode: expected 'r' or 'r+', got %r" % (mode,))
    return ExplanationStore(_open_group(path, mode), path, verify=verify)
