"""Write explanations of a dataset into a store, chunk by chunk, resumably (the layout: :mod:`.store`).

:func:`explain_to_store` is the single-process loop behind
:meth:`ModelExplainer.explain_dataset`; :func:`prepare_store`,
:func:`compute_chunk` and :func:`write_chunk` are the pieces the Ray path
(:mod:`tensorlayer_xplain.scale.ray`) shares with it.
"""
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._utils.hashing import fingerprint
from ..methods.registry import method_info
from ..runner import explain as run_method
from .chunking import batch_count, iter_chunks, known_length, progress_bar
from .store import _IDENTITY, ATTR, FORMAT, ExplanationStore, _zarr, array_tails, checksummed_arrays, digest

__all__ = ["explain_to_store", "describe_run", "prepare_store", "compute_chunk", "write_chunk", "finish_store",
           "verified_done"]


def _jsonable_params(params):
    """Parameters as JSON: scalars and strings as they are, anything else by its fingerprint."""
    out = {}
    for key, value in sorted(params.items()):
        try:
            json.dumps(value)
            out[key] = value
        except (TypeError, ValueError):
            out[key] = "<%s %s>" % (type(value).__name__, fingerprint(value)[:12])
    return out


def describe_run(explainer, methods, targets, chunk_size, store_inputs):
    """The attributes that identify a run: same attributes, same results.

    Parameters
    ----------
    explainer : ModelExplainer
    methods : list of str
        Canonical names.
    targets : None, int, array or callable
    chunk_size : int
    store_inputs : bool

    Returns
    -------
    dict
        JSON-able; see the module docstring.
    """
    from .._version import __version__

    adapter = explainer.adapter
    described = {}
    for name in methods:
        _, params = explainer.method_params(name)
        spec = method_info(name)
        described[name] = {"params": _jsonable_params(params), "fingerprint": fingerprint(params),
                           "signed": bool(spec.signed), "family": spec.family}
    run = {
        "format": FORMAT,
        "version": __version__,
        "weights": adapter.weights_fingerprint(),
        "input_shape": list(adapter.input_shape),
        "image_shape": list(adapter.image_shape),
        "output": adapter.output,
        "chunk_size": int(chunk_size),
        "targets": fingerprint(targets),
        "methods": described,
        "store_inputs": bool(store_inputs),
    }
    if getattr(adapter, "token_inputs", False):  # token ids (N, T): inputs stored as int32, padding known
        run["tokens"] = {"pad_id": adapter.pad_id, "embedding_layer": adapter.embedding.name}
    if getattr(adapter, "seq2seq", False):  # its greedy decoding, explained per output position
        run["seq2seq"] = {"t_out": seq2seq_length(adapter), "sos": adapter.sos, "pad_id": adapter.pad_id,
                          "embedding_layer": adapter.embedding.name}
    return run


def seq2seq_length(adapter):
    """The output length an encoder-decoder's greedy decoding is explained over in a store (ValueError if unset)."""
    length = adapter.seq_length or adapter.fixed_output_length
    if adapter.sos is None or length is None:
        raise ValueError("sos: explain_dataset on an encoder-decoder explains its greedy decoding; build the explainer "
                         "with ModelExplainer(model, sos=..., seq_length=...)")
    return int(length)


def output_size(adapter, x):
    """The model's number of classes (an encoder-decoder's output vocabulary), from one sample of ``x``."""
    if getattr(adapter, "seq2seq", False):
        dec = np.full((1, seq2seq_length(adapter)), adapter.sos, np.int32)
        return int(adapter.teacher_forced(x[:1], dec).shape[-1])
    return int(adapter.predict(x[:1]).shape[1])


def _differences(old, new):
    return ["%s (store: %s, this run: %s)" % (key, _short(old.get(key)), _short(new.get(key)))
            for key in _IDENTITY if old.get(key) != new.get(key)]


def _short(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _fast_codec():
    """LZ4 with byte shuffle for the large float arrays: as small as zstd on attributions, ~3x faster."""
    from zarr.codecs import BloscCodec

    return [BloscCodec(cname="lz4", clevel=3, shuffle="shuffle")]


def _create_arrays(group, run, n, n_classes, has_labels, store_inputs):
    """Create every array of a fresh store (``n`` may be 0 for a stream of unknown length)."""
    chunk, tails = run["chunk_size"], array_tails(run, n_classes)
    rows = (n,)
    for name in run["methods"]:
        sub = group.require_group(name)
        sub.create_array("attributions", shape=rows + tails["attributions"], chunks=(chunk,) + tails["attributions"],
                         dtype="float32", fill_value=0.0, compressors=_fast_codec(), overwrite=True)
        sub.create_array("targets", shape=rows + tails["targets"], chunks=(chunk,) + tails["targets"], dtype="int32",
                         fill_value=-1, overwrite=True)
    group.create_array("predictions", shape=rows + tails["predictions"], chunks=(chunk,) + tails["predictions"],
                       dtype="float32", fill_value=0.0, overwrite=True)
    if has_labels:
        group.create_array("labels", shape=rows, chunks=(chunk,), dtype="int64", fill_value=-1, overwrite=True)
    ids = run.get("tokens") is not None or run.get("seq2seq") is not None
    if store_inputs:
        group.create_array("inputs", shape=rows + tails["inputs"], chunks=(chunk,) + tails["inputs"],
                           dtype="int32" if ids else "float32", fill_value=0 if ids else 0.0,
                           compressors=_fast_codec(), overwrite=True)
    if "decoder_inputs" in tails:
        group.create_array("decoder_inputs", shape=rows + tails["decoder_inputs"],
                           chunks=(chunk,) + tails["decoder_inputs"], dtype="int32", fill_value=0, overwrite=True)
    columns = checksummed_arrays(run["methods"], has_labels, store_inputs, "decoder_inputs" in tails)
    group.create_array("checksums", shape=(-(-n // chunk), len(columns)), chunks=(1, len(columns)), dtype="uint64",
                       fill_value=0, overwrite=True)
    group.create_array("done", shape=(-(-n // chunk),), chunks=(1,), dtype="bool", fill_value=False, overwrite=True)


def _listing(target):
    """Entry names directly under ``target``, or None if nothing is there; a file raises ValueError."""
    if "://" in target:
        import fsspec

        fs, root = fsspec.core.url_to_fs(target)
        if not fs.exists(root):
            return None
        if fs.isfile(root):
            raise ValueError("path: expected a folder for the store, got the existing file %r; "
                             "it is never overwritten, pick another path" % (target,))
        return {entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(root, detail=False)}
    if not os.path.lexists(target):
        return None
    if not os.path.isdir(target):
        raise ValueError("path: expected a folder for the store, got the existing file %r; "
                         "it is never overwritten, pick another path" % (target,))
    return set(os.listdir(target))


def _refuse_foreign_content(target, entries, own_nodes):
    """Raise ValueError unless everything at ``target`` is a store this package wrote (or nothing).

    Parameters
    ----------
    target : str
        Local folder or fsspec URL.
    entries : set of str or None
        What :func:`_listing` found there.
    own_nodes : set of str or None
        The child nodes of the tensorlayer-xplain store found at ``target``; None when no store of
        ours is there (then only an absent path or an empty folder is accepted).
    """
    if not entries:
        return
    if own_nodes is None:
        shown = sorted(entries)[:5]
        raise ValueError("path: %r already holds %d entries (%s%s) and is not a tensorlayer-xplain store; expected "
                         "a new or empty folder or a store this package wrote. Nothing was written; its files are "
                         "never deleted, not even with resume=False / --overwrite: pick another path"
                         % (target, len(entries), ", ".join(shown), ", ..." if len(entries) > 5 else ""))
    foreign = sorted(entries - own_nodes - {"zarr.json"})
    if foreign:
        raise ValueError("path: the store at %r also holds files it did not write (%s); nothing was written. "
                         "Move them out, or pick another path" % (target, ", ".join(foreign[:5])))


def prepare_store(path, run, n, n_classes, has_labels, resume=True):
    """Create the store for ``run`` or check that the existing one was made by the same run.

    Parameters
    ----------
    path : str or os.PathLike
        Local folder or fsspec URL.
    run : dict
        From :func:`describe_run`.
    n : int or None
        Number of samples (None: a stream; arrays grow as chunks arrive).
    n_classes : int
    has_labels : bool
    resume : bool
        False overwrites an existing store (with a warning).

    Returns
    -------
    zarr.Group

    Raises
    ------
    ValueError
        An existing store made by a different run (the message lists what differs); a path that
        exists and is not a store this package wrote (a file, a non-empty folder, a foreign Zarr
        group), whatever ``resume`` says; or a store of ours that also holds files it did not write.
    """
    zarr = _zarr()
    target = os.fspath(path) if isinstance(path, os.PathLike) else path
    entries, group = _listing(target), None
    if entries:
        try:
            group = zarr.open_group(target, mode="r+")
        except (FileNotFoundError, zarr.errors.NodeNotFoundError):
            pass
    attrs = dict(group.attrs).get(ATTR) if group is not None else None
    # Opening with mode="w" below deletes everything under ``target``: only ever do that to a store
    # this package wrote, holding nothing else (never a user's folder, file or foreign Zarr group).
    _refuse_foreign_content(target, entries, None if attrs is None else set(group.keys()))
    if group is not None:
        if attrs is not None and attrs.get("state") == "ready" and resume:
            diffs = _differences(attrs, run)
            if attrs.get("n") is not None and n is not None and attrs["n"] != n:
                diffs.append("n (store: %d samples, this run: %d)" % (attrs["n"], n))
            if diffs:
                raise ValueError("resume: the store at %r was written by a different run; changed: %s. "
                                 "Pass resume=False to overwrite it, or another path"
                                 % (target, "; ".join(diffs)))
            return group
        if attrs is not None and attrs.get("state") == "ready":
            warnings.warn("resume=False: overwriting the existing store at %r" % (target,), UserWarning, stacklevel=4)
    group = zarr.open_group(target, mode="w")
    group.attrs[ATTR] = dict(run, state="initializing", n=n)
    _create_arrays(group, run, n or 0, n_classes, has_labels, run["store_inputs"])
    group.attrs[ATTR] = dict(run, state="ready", n=n, complete=False, labels=bool(has_labels), n_classes=n_classes,
                             checksummed=checksummed_arrays(run["methods"], has_labels, run["store_inputs"],
                                                            run.get("seq2seq") is not None))
    return group


def verified_done(group, path):
    """The done flags of a store about to be resumed, with every chunk that fails its checksum
    (changed, deleted or truncated chunk files) cleared in the store and in the result, with a warning.

    Returns
    -------
    ndarray of bool, shape (n_chunks,)
    """
    store = ExplanationStore(group, path)
    done = group["done"][:]
    if not done.any():
        return done
    bad = store.bad_chunks()
    if bad:
        for index in bad:
            group["done"][index] = False
            done[index] = False
        warnings.warn("resume: %d chunk(s) of %r fail their checksums and are recomputed: %s (first: %s)"
                      % (len(bad), path, sorted(bad)[:10], next(iter(bad.values()))), UserWarning, stacklevel=3)
    return done


def compute_chunk(explainer, x, targets, methods):
    """Explain one chunk with every method, through the same path as ``ModelExplainer.explain``.

    The explainer's cache is bypassed (a dataset run must not keep chunks in memory).

    Parameters
    ----------
    explainer : ModelExplainer
    x : ndarray (n, *input_shape)
    targets : None, int, array (n,) or callable
    methods : list of str

    Returns
    -------
    dict of str -> Explanation
    """
    out = {}
    for name in methods:
        _, params = explainer.method_params(name)
        out[name] = run_method(explainer.adapter, x, name, targets, **params)
    return out


def _ensure_rows(group, stop, run):
    """Grow every array to ``stop`` rows (streams of unknown length)."""
    done = group["done"]
    chunks = -(-stop // run["chunk_size"])
    if done.shape[0] < chunks:
        sums = group["checksums"]
        sums.resize((chunks, sums.shape[1]))
        done.resize((chunks,))
    for name in list(run["methods"]) + ["predictions", "labels", "inputs", "decoder_inputs"]:
        if name in run["methods"]:
            arrays = [group[name]["attributions"], group[name]["targets"]]
        elif name in group:
            arrays = [group[name]]
        else:
            continue
        for array in arrays:
            if array.shape[0] < stop:
                array.resize((stop,) + tuple(array.shape[1:]))


def write_chunk(group, index, start, explanations, labels=None, inputs=None):
    """Write one chunk's results, then its completion flag (last, so a crash never marks it done).

    Parameters
    ----------
    group : zarr.Group
        From :func:`prepare_store` (or opened read-write by a Ray worker).
    index, start : int
        Chunk number and first row.
    explanations : dict of str -> Explanation
    labels : ndarray (n,), optional
    inputs : ndarray (n, *input_shape), optional
    """
    first = next(iter(explanations.values()))
    stop = start + len(first)
    rows = stop - start
    values = {}
    for name, exp in explanations.items():
        values["%s/attributions" % name] = exp.attributions
        values["%s/targets" % name] = exp.targets
    values["predictions"] = first.predictions
    if "decoder_inputs" in group:
        values["decoder_inputs"] = first.decoder_inputs
    if labels is not None and "labels" in group:
        values["labels"] = labels
    if inputs is not None and "inputs" in group:
        values["inputs"] = inputs
    columns = dict(group.attrs)[ATTR]["checksummed"]
    sums = np.zeros(len(columns), np.uint64)
    for name, value in values.items():
        array = group[name]
        value = np.asarray(value).astype(array.dtype, copy=False).reshape((rows,) + tuple(array.shape[1:]))
        array[start:stop] = value
        sums[columns.index(name)] = digest(value)  # of exactly what was written, as a read decodes it
    group["checksums"][index] = sums
    group["done"][index] = True  # last: a crash before this line leaves the chunk to be recomputed


def finish_store(group, n):
    """Record the final length and whether every chunk is done."""
    attrs = dict(group.attrs[ATTR])
    attrs.update(n=int(n), complete=bool(np.all(group["done"][:])))
    group.attrs[ATTR] = attrs


def explain_to_store(explainer, data, path, methods=None, targets=None, labels=None, chunk_size=None,
                     resume=True, progress=None, store_inputs=False):
    """The work of :meth:`ModelExplainer.explain_dataset` (see there)."""
    from ..runner import pick_targets

    names = explainer.methods if methods is None else [method_info(m).name for m in methods]
    if isinstance(methods, str):
        raise TypeError("methods: expected a list of method names, got the string %r" % methods)
    chunk_size = explainer.adapter.batch_size if chunk_size is None else chunk_size
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError("chunk_size: expected a positive int, got %r" % (chunk_size,))
    targets = pick_targets(targets, None)
    if isinstance(targets, list):
        targets = np.asarray(targets)
    n = known_length(data)
    if labels is not None and n is not None and len(labels) != n:
        raise ValueError("labels: expected one label per input (%d), got %d" % (n, len(labels)))
    per_row = isinstance(targets, np.ndarray) and targets.ndim >= 1  # (N,) classes, or (N, T_out) token ids
    if per_row and n is not None and len(targets) != n:
        raise ValueError("targets: expected one class index per input (%d), got %d" % (n, len(targets)))
    group, run, written, bar, total, pending = None, None, 0, None, n, None
    # one background writer: chunk k is encoded and written while chunk k + 1 is computed
    # (at most one chunk in flight, so memory stays flat)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tensorlayer_xplain-store")
    try:
        for chunk in iter_chunks(data, int(chunk_size), labels):
            x, _ = explainer.adapter.prepare(chunk.x, name="data")
            if group is None:
                run = describe_run(explainer, names, targets, chunk_size, store_inputs)
                n_classes = output_size(explainer.adapter, x)
                group = prepare_store(path, run, n, n_classes, chunk.labels is not None, resume)
                done = verified_done(group, path)
                if total is None and batch_count(data) is not None:
                    total = batch_count(data) * len(chunk.x)  # an estimate: the last batch may be shorter
                bar = progress_bar(total, "explain_dataset (%s)" % ", ".join(names), progress)
            stop = chunk.start + len(x)
            if chunk.index < len(done) and done[chunk.index]:
                bar.update(len(x))
                written = stop
                continue
            t = targets[chunk.start:stop] if per_row else targets
            results = compute_chunk(explainer, x, t, names)
            if pending is not None:
                pending.result()  # re-raises a failed write
            if n is None:
                _ensure_rows(group, stop, run)  # no write in flight while the arrays grow
            pending = writer.submit(write_chunk, group, chunk.index, chunk.start, results, chunk.labels,
                                    x if store_inputs else None)
            bar.update(len(x))
            written = stop
        if pending is not None:
            pending.result()
    finally:
        writer.shutdown(wait=True)  # a chunk being written is finished (and flagged) before we leave
        if bar is not None:
            bar.close()
    if group is None:
        raise ValueError("data: expected at least one sample, got an empty dataset")
    finish_store(group, written)
    return ExplanationStore(group, path)
