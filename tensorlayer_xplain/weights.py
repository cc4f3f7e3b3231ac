"""Weights files that never unpickle: ``save_weights`` / ``load_weights`` by file extension.

================  =====================================================================
extension         layout
================  =====================================================================
``.npz``          one numeric array per weight, ``params_0``, ``params_1``, ... in the
                  model's weight order, plus ``names`` (a unicode array). This is also
                  what TensorLayer's own ``model.save_weights(path, format='npz')``
                  writes once ``tensorlayer_xplain`` is imported. Read as well: TL's
                  ``format='npz_dict'`` files (matched by weight name when every name is
                  found, else in stored order) and legacy ``params`` files whose arrays
                  all have one shape.
``.h5``/``.hdf5`` one dataset per weight, in order, with its name as an attribute. Read
                  as well: TensorLayer's own HDF5 layout (``format='hdf5'``) and, for
                  Keras models, Keras's own weights files.
``.safetensors``  one tensor per weight, keyed ``'<index>:<name>'`` (the
                  `safetensors <https://github.com/huggingface/safetensors>`_ package).
================  =====================================================================

No reader calls pickle. A legacy ``.npz`` holding a pickled object array (what
TensorLayer wrote on numpy 2 before this package, or a crafted file) raises
:class:`PickledWeightsError` naming the safe formats; allow_pickle=True is the explicit opt-in,
for a trusted file only. Every load checks the number and the shapes of
all weights before assigning any, so the model is unchanged after any failure.
"""
import os

import numpy as np

from ._io import atomic_path

__all__ = ["save_weights", "load_weights", "PickledWeightsError", "WEIGHTS_FORMATS"]

#: File extensions :func:`save_weights` and :func:`load_weights` understand, and their format.
WEIGHTS_FORMATS = {".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".safetensors": "safetensors"}

_SAFE = ".npz of numeric arrays, .h5 or .safetensors"
_H5_MARK = "tensorlayer_xplain_weights"


class PickledWeightsError(ValueError):
    """A weights file needs unpickling, which could run code stored in it."""


# ---------------------------------------------------------------------- the model side
def model_variables(model):
    """The variables a weights file holds, in order: ``all_weights`` (TL) or ``weights`` (Keras)."""
    import tensorlayer as tl

    from .adapter import ModelAdapter

    if isinstance(model, ModelAdapter):
        model = model.model
    if isinstance(model, tl.models.Model):
        variables = list(model.all_weights)
    elif hasattr(model, "weights") and hasattr(model, "load_weights"):
        variables = list(model.weights)
    else:
        raise TypeError("model: expected a TensorLayer or Keras model, got %s" % type(model).__name__)
    if not variables:
        raise ValueError("model: has no weights yet; build it (call it once on a batch) before saving or loading")
    return variables


def _name(variable):
    return str(getattr(variable, "path", None) or variable.name)


def _format(path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in WEIGHTS_FORMATS:
        raise ValueError("path: expected a weights file ending in %s, got %r"
                         % (", ".join(WEIGHTS_FORMATS), str(path)))
    return WEIGHTS_FORMATS[ext]


# ---------------------------------------------------------------------- writers
def write_npz(file, names, arrays):
    """Write ``params_<i>`` numeric arrays and a ``names`` unicode array (no object arrays)."""
    stored = {"params_%d" % i: np.asarray(a) for i, a in enumerate(arrays)}
    np.savez(file, names=np.array([str(n) for n in names], dtype=str), **stored)


def _write_h5(path, names, arrays):
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs[_H5_MARK] = len(arrays)
        for i, (name, value) in enumerate(zip(names, arrays)):
            f.create_dataset("%05d" % i, data=value).attrs["name"] = name


def _write_safetensors(path, names, arrays):
    from safetensors.numpy import save_file

    tensors = {"%05d:%s" % (i, n): np.ascontiguousarray(a) for i, (n, a) in enumerate(zip(names, arrays))}
    save_file(tensors, path, metadata={"format": "tensorlayer_xplain", "count": str(len(arrays))})


def save_weights(model, path):
    """Write a model's weights to ``path``, in the format its extension names.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A TensorLayer (static or dynamic) or Keras model with built weights.
    path : str
        Ends in ``.npz``, ``.h5`` / ``.hdf5`` or ``.safetensors`` (see the module
        docstring for each layout). Written atomically: a failure leaves no file.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import tensorlayer_xplain as tlxp
    >>> tlxp.save_weights(model, 'cnn.safetensors')                # doctest: +SKIP
    'cnn.safetensors'
    >>> tlxp.load_weights(tlxp.models.cnn(), 'cnn.safetensors')    # doctest: +SKIP
    """
    fmt = _format(path)
    variables = model_variables(model)
    names = [_name(v) for v in variables]
    arrays = [np.asarray(v.numpy()) for v in variables]
    with atomic_path(str(path), "path") as tmp:
        if fmt == "npz":
            with open(tmp, "wb") as f:
                write_npz(f, names, arrays)
        elif fmt == "h5":
            _write_h5(tmp, names, arrays)
        else:
            _write_safetensors(tmp, names, arrays)
    return str(path)


# ---------------------------------------------------------------------- readers
#: Bounds on what a weights file may declare, checked from its metadata before any array is read.
MAX_WEIGHTS = 100_000          # weights (arrays) in one file
MAX_NPY_HEADER = 16 * 1024     # bytes of one .npy header inside an .npz
MAX_ATTR_BYTES = 1 << 20       # bytes of one HDF5 attribute (names, layer lists)
MAX_H5_OBJECTS = 200_000       # groups and datasets in one HDF5 file
MAX_H5_DEPTH = 64              # nested layer groups in TensorLayer's HDF5 layout
_READ_PIECE = 1 << 22          # decompression is streamed in pieces of 4 MB


class _Entry:
    """One stored weight: ``name``, ``shape`` and ``dtype`` as its file declares them (read from
    metadata only) and ``read()``, which reads exactly the declared bytes."""

    __slots__ = ("name", "shape", "dtype", "_read")

    def __init__(self, name, shape, dtype, read):
        self.name, self.shape, self.dtype, self._read = str(name), tuple(int(s) for s in shape), dtype, read

    @classmethod
    def of(cls, name, value):
        value = np.asarray(value)
        return cls(name, value.shape, value.dtype, lambda: value)

    @property
    def nbytes(self):
        itemsize = self.dtype.itemsize if isinstance(self.dtype, np.dtype) else 1
        return int(np.prod(self.shape, dtype=object)) * itemsize

    def read(self):
        return self._read()


class _Stored:
    """What a file holds: ``entries`` in order, their ``names`` and whether to match by name."""

    def __init__(self, names, entries, by_name=False):
        self.names, self.by_name = list(names), by_name
        self.entries = [e if isinstance(e, _Entry) else _Entry.of(n, e) for n, e in zip(self.names, entries)]

    @property
    def arrays(self):
        """Every array, read (TensorLayer's ``load_npz`` returns them all)."""
        return [e.read() for e in self.entries]


def _pickled(path, key):
    return PickledWeightsError(
        "%s: %r is a pickled object array, and unpickling can run code stored in the file; "
        "re-save the weights in a safe format (%s) with tensorlayer_xplain.save_weights(model, path), "
        "or, for a file you trust, load_weights(model, path, allow_pickle=True): allow_pickle=True is the explicit opt-in "
        "and runs whatever the file contains"
        % (path, key, _SAFE))


def _too_many(path, count, what):
    if count > MAX_WEIGHTS:
        raise ValueError("%s: declares %d %s; at most %d are read (is it a weights file?)"
                         % (path, count, what, MAX_WEIGHTS))


# .npz: a zip of .npy members, each read from its header and declared size, then streamed
def _npy_header(fp, path, key):
    """``(shape, fortran, dtype, header_bytes)`` of the .npy member open in ``fp`` (header only).

    The header's length field is checked against MAX_NPY_HEADER before the header is read
    (numpy reads the whole declared header, up to 4 GB, before it checks).
    """
    import io
    import struct

    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ValueError("npy format version %s.%s is not read" % version)
        field = fp.read(2 if version == (1, 0) else 4)
        if len(field) != (2 if version == (1, 0) else 4):
            raise ValueError("the header length is cut off")
        length = struct.unpack("<H" if version == (1, 0) else "<I", field)[0]
        if length > MAX_NPY_HEADER:
            raise ValueError("the header declares %d bytes; at most %d are read" % (length, MAX_NPY_HEADER))
        header = fp.read(length)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(io.BytesIO(field + header), max_header_size=MAX_NPY_HEADER)
    except (ValueError, TypeError, SyntaxError, EOFError, RecursionError, MemoryError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError("%s: member %r has no readable .npy header (%s)" % (path, key, message[:200])) from None
    return tuple(shape), bool(fortran), dtype, fp.tell()


def _read_exact(fp, nbytes, path, key):
    """Exactly ``nbytes`` from a (decompressing) stream, in pieces; refuses a longer or shorter member."""
    out = np.empty(nbytes, np.uint8)
    done = 0
    while done < nbytes:
        piece = fp.read(min(_READ_PIECE, nbytes - done))
        if not piece:
            raise ValueError("%s: member %r ends after %d of its %d bytes (truncated file?)" % (path, key, done, nbytes))
        out[done:done + len(piece)] = np.frombuffer(piece, np.uint8)
        done += len(piece)
    if fp.read(1):  # reaching the end also checks the member's CRC
        raise ValueError("%s: member %r holds more data than its .npy header declares (%d bytes); refused"
                         % (path, key, nbytes))
    return out


def _npz_member(path, info):
    """The :class:`_Entry` of one .npz member, from its zip record and .npy header only."""
    import zipfile

    import zlib

    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fp:
            shape, fortran, dtype, header = _npy_header(fp, path, key)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ValueError("%s: member %r is corrupt (%s)" % (path, key, err)) from None
    if dtype.hasobject:
        return _Entry(key, shape, dtype, None)
    if len(shape) > 32 or any(s < 0 for s in shape):
        raise ValueError("%s: member %r declares the shape %s; refused" % (path, key, shape))
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != header + nbytes:
        raise ValueError("%s: member %r declares %d bytes in the zip directory but its .npy header describes "
                         "%d (shape %s, %s); refused before inflating it"
                         % (path, key, info.file_size, header + nbytes, shape, dtype))

    def read():
        import zlib

        try:
            with zipfile.ZipFile(path) as zf, zf.open(info) as fp:
                again = _npy_header(fp, path, key)
                if again[:3] != (shape, fortran, dtype):
                    raise ValueError("%s: member %r changed while it was read" % (path, key))
                data = _read_exact(fp, nbytes, path, key)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
            raise ValueError("%s: member %r is corrupt (%s)" % (path, key, err)) from None
        return data.view(dtype).reshape(shape, order="F" if fortran else "C")

    return _Entry(key, shape, dtype, read)


def _npz_legacy(path, allow_pickle):
    """The pickle-trusting reader (``allow_pickle=True``, an explicit opt-in): numpy's own ``np.load``."""
    data = np.load(path, allow_pickle=allow_pickle)
    if not hasattr(data, "files"):
        raise ValueError("%s: expected a .npz archive of weights, got a single .npy array" % path)
    with data:
        return {k: data[k] for k in data.files}


def read_npz(path, allow_pickle=False):
    """Read a ``.npz`` weights file (this package's, TL's ``npz`` or ``npz_dict``) without unpickling.

    Every member's shape and dtype come from its ``.npy`` header and its size from the
    zip directory; they must agree before anything is inflated, and inflating is
    streamed and stops at the declared size.

    Returns
    -------
    _Stored
        With lazy entries: nothing is read until ``entry.read()``.
    """
    import zipfile

    if allow_pickle:
        try:
            members = _npz_legacy(path, allow_pickle)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError("%s: not a readable .npz file (%s)" % (path, err)) from None
        entries = {k: _Entry.of(k, v) for k, v in members.items()}
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
            raise ValueError("%s: not a readable .npz file (%s)" % (path, err)) from None
        _too_many(path, len(infos), "members")
        try:
            entries = {}
            for info in infos:
                entry = _npz_member(path, info)
                entries[entry.name] = entry
        except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as err:
            raise ValueError("%s: not a readable .npz file (%s)" % (path, err)) from None
    for key, entry in entries.items():
        if isinstance(entry.dtype, np.dtype) and entry.dtype.hasobject:
            if not allow_pickle:
                raise _pickled(path, key)
    files = list(entries)
    indexed = sorted((int(k[7:]), k) for k in files if k.startswith("params_") and k[7:].isdigit())
    if indexed or files == ["names"]:
        if [i for i, _ in indexed] != list(range(len(indexed))):
            raise ValueError("%s: the params_<i> arrays are not numbered 0..%d" % (path, len(indexed) - 1))
        names = [k for _, k in indexed]
        if "names" in entries:
            entry = entries["names"]
            if (not isinstance(entry.dtype, np.dtype) or entry.dtype.kind not in "US" or entry.shape != (len(indexed),)
                    or entry.nbytes > MAX_ATTR_BYTES):
                raise ValueError("%s: 'names' should be %d strings, got shape %s of %s"
                                 % (path, len(indexed), entry.shape, entry.dtype))
            names = [str(n) for n in entry.read()]
        return _Stored(names, [entries[k] for _, k in indexed])
    if files == ["params"]:  # TL's npz layout: one array of same-shaped weights (object array when ragged)
        whole = entries["params"]
        if whole.dtype.hasobject:  # allow_pickle=True only: a ragged list of arrays
            arrays = [np.asarray(p) for p in whole.read()]
            return _Stored(["params[%d]" % i for i in range(len(arrays))], arrays)
        if not whole.shape:
            raise ValueError("%s: 'params' is a scalar; expected one array per weight" % path)
        _too_many(path, whole.shape[0], "weights")
        cache = []

        def part(i):
            def read():
                if not cache:
                    cache.append(np.asarray(whole.read()))
                return cache[0][i]
            return read

        return _Stored(["params[%d]" % i for i in range(whole.shape[0])],
                       [_Entry("params[%d]" % i, whole.shape[1:], whole.dtype, part(i)) for i in range(whole.shape[0])])
    return _Stored(files, [entries[k] for k in files], by_name=True)  # TL's npz_dict


# .h5: every object and link inspected before any dataset is read
def _h5_attr(obj, key, path):
    """A small attribute of an HDF5 object (names, counts), refusing one larger than MAX_ATTR_BYTES."""
    try:
        size = obj.attrs.get_id(key).get_storage_size()
    except RuntimeError:  # HDF5 reports an empty attribute's size as an error
        size = 0
    if size > MAX_ATTR_BYTES:
        raise ValueError("%s: the attribute %r of %s holds %d bytes; at most %d are read"
                         % (path, key, obj.name, size, MAX_ATTR_BYTES))
    return obj.attrs[key]


def _h5_check_file(f, path):
    """Refuse links other than hard ones, shared (hence possibly cyclic) objects, external or virtual
    storage and non-numeric datasets. Returns ``{dataset name: nbytes}`` (declared, nothing read)."""
    import h5py

    sizes, count = {}, [0]

    # h5py's visitors stop at the first callback that returns something other than None
    # (an exception raised inside one does not propagate cleanly), so problems are returned
    def visit_link(name, link):
        if isinstance(link, h5py.SoftLink):
            return "%r is a soft link; weights files with soft or external links are refused" % name
        if isinstance(link, h5py.ExternalLink):
            return "%r is a link to another file; weights files with soft or external links are refused" % name
        if not isinstance(link, h5py.HardLink):
            return "%r is a %s; refused" % (name, type(link).__name__)
        count[0] += 1
        if count[0] > MAX_H5_OBJECTS:
            return "holds more than %d objects; refused" % MAX_H5_OBJECTS
        return None

    def visit(name, obj):
        if h5py.h5o.get_info(obj.id).rc > 1:
            return "%r is reachable under more than one name (a shared or cyclic group); refused" % name
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual:
                return "dataset %r is virtual (its data lives in other files); refused" % name
            if obj.external:
                return "dataset %r keeps its data in external files %s; refused" % (
                    name, [e[0] for e in obj.external][:3])
            if obj.dtype.kind not in "fiub":
                return "dataset %r is stored as %s; expected a numeric array" % (name, obj.dtype)
            sizes[name] = int(np.prod(obj.shape or (), dtype=object)) * obj.dtype.itemsize
        return None

    problem = f.visititems_links(visit_link) or f.visititems(visit)
    if problem:
        raise ValueError("%s: %s" % (path, problem))
    return sizes


def _h5_entry(path, name, stored_name, dataset):
    shape, dtype = tuple(dataset.shape or ()), dataset.dtype

    def read():
        import h5py

        with h5py.File(path, "r") as f:
            d = f[name]
            if tuple(d.shape or ()) != shape or d.dtype != dtype or d.external or d.is_virtual:
                raise ValueError("%s: dataset %r changed while it was read" % (path, name))
            return d[()]

    return _Entry(stored_name, shape, dtype, read)


def _h5_tl_groups(group, path, names, entries, depth=0, seen=None):
    """Flatten TensorLayer's HDF5 layout (layer groups, ``weight_names``) in stored order."""
    import h5py

    from ._compat import _as_str

    seen = set() if seen is None else seen
    if depth > MAX_H5_DEPTH or group.name in seen:
        raise ValueError("%s: the layer groups nest deeper than %d or refer to themselves (at %r); refused"
                         % (path, MAX_H5_DEPTH, group.name))
    seen.add(group.name)
    for layer_name in (_as_str(n) for n in _h5_attr(group, "layer_names", path)):
        sub = group.get(layer_name)
        if not isinstance(sub, h5py.Group):
            raise ValueError("%s: layer %r of %s is not a group in the file" % (path, layer_name, group.name))
        if "layer_names" in sub.attrs:
            _h5_tl_groups(sub, path, names, entries, depth + 1, seen)
            continue
        weight_names = _h5_attr(sub, "weight_names", path) if "weight_names" in sub.attrs else []
        for weight_name in (_as_str(n) for n in weight_names):
            dataset = sub.get(weight_name)
            if not isinstance(dataset, h5py.Dataset):
                raise ValueError("%s: weight %r of layer %r is not a dataset in the file" % (path, weight_name, layer_name))
            names.append(weight_name)
            entries.append(_h5_entry(path, dataset.name, weight_name, dataset))
            _too_many(path, len(entries), "weights")


def _read_h5(path, budget=None):
    """This package's or TensorLayer's HDF5 layout (lazy entries); None for any other HDF5 file
    (e.g. Keras's), after checking that its datasets fit ``budget = (largest, total)`` bytes."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError("%s: not a readable HDF5 file (%s)" % (path, err)) from None
    with f:
        sizes = _h5_check_file(f, path)
        from ._compat import _as_str

        if _H5_MARK in f.attrs:
            count = np.asarray(_h5_attr(f, _H5_MARK, path))
            if count.ndim or not np.issubdtype(count.dtype, np.integer) or not 0 <= count <= len(f):
                raise ValueError("%s: declares %s weights but holds %d objects; refused"
                                 % (path, count.tolist(), len(f)))
            keys = ["%05d" % i for i in range(int(count))]
            missing = [k for k in keys if not isinstance(f.get(k), h5py.Dataset)]
            if missing:
                raise ValueError("%s: the weights %s are missing from the file" % (path, _describe_names(missing)))
            names = [_as_str(_h5_attr(f[k], "name", path)) if "name" in f[k].attrs else k for k in keys]
            return _Stored(names, [_h5_entry(path, "/" + k, n, f[k]) for k, n in zip(keys, names)])
        if "layer_names" in f.attrs:
            names, entries = [], []
            _h5_tl_groups(f, path, names, entries)
            return _Stored(names, entries)
        if budget is not None:
            largest, total = budget
            big = [(n, s) for n, s in sizes.items() if s > largest]
            if big:
                raise ValueError("%s: dataset %r declares %d bytes, more than the model's largest weight (%d); refused"
                                 % (path, big[0][0], big[0][1], largest))
            if sum(sizes.values()) > 2 * total + (1 << 20):
                raise ValueError("%s: its datasets declare %d bytes, more than twice the model's weights (%d); refused"
                                 % (path, sum(sizes.values()), total))
    return None


# .safetensors: the header (shapes, dtypes, offsets) is read first; tensors one by one
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                       "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _read_safetensors(path):
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            keys = list(f.keys())
            _too_many(path, len(keys), "tensors")
            declared = {}
            for key in keys:
                sl = f.get_slice(key)
                declared[key] = (tuple(sl.get_shape()), sl.get_dtype())
    except ValueError:
        raise
    except Exception as err:  # SafetensorError and friends: a header that does not parse
        raise ValueError("%s: not a readable .safetensors file (%s)" % (path, str(err).splitlines()[0][:200])) from None

    def entry(key, name):
        shape, kind = declared[key]
        dtype = np.dtype(_SAFETENSORS_DTYPES[kind]) if kind in _SAFETENSORS_DTYPES else str(kind)

        def read():
            with safe_open(path, framework="numpy") as f:
                value = f.get_tensor(key)
            return value

        return _Entry(name, shape, dtype, read)

    keyed = []
    for key in keys:
        index, sep, name = key.partition(":")
        keyed.append((int(index) if sep and index.isdigit() else None, name if sep else key, key))
    if keyed and all(i is not None for i, _, _ in keyed):
        keyed.sort(key=lambda item: item[0])
        return _Stored([n for _, n, _ in keyed], [entry(k, n) for _, n, k in keyed])
    return _Stored(keys, [entry(k, k) for k in keys], by_name=True)


# ---------------------------------------------------------------------- checking and assigning
def _describe_names(names, limit=5):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (", ... (%d in all)" % len(names) if len(names) > limit else "")


def _cast(value, variable, index, path):
    """``value`` as the variable's dtype; refuses NaN/inf and casts that change values beyond rounding.

    Returns ``(array, rounding)`` where ``rounding`` is the largest change a float narrowing made (0.0 if none).
    """
    name = _name(variable)
    if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise ValueError("%s: weight %d %r holds %d NaN or infinite value(s); refused (every output would be "
                         "NaN or infinite)" % (path, index, name, bad))
    target = np.dtype(_np_dtype(variable))
    if value.dtype == target:
        return value, 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        cast = value.astype(target)
        back = cast.astype(value.dtype)
    if np.array_equal(back, value):
        return cast, 0.0
    if value.dtype.kind == "f" and target.kind == "f" and np.all(np.isfinite(cast)):
        return cast, float(np.max(np.abs(back.astype(np.float64) - value.astype(np.float64))))
    raise ValueError("%s: weight %d %r is stored as %s; casting it to the model's %s changes its values "
                     "(overflow or lost fractions); refused" % (path, index, name, value.dtype, target))


def check_weights(variables, stored, path, skip=False, partial=False):
    """Pair every variable with its stored array, checking count, names, shapes and dtypes from the file's
    metadata before reading any array; then read each one (bounded by the model's own size); assign nothing.

    Parameters
    ----------
    variables : list of tf.Variable
    stored : _Stored
    path : str
        Named in messages.
    skip : bool
        By-name files only: ignore stored names the model lacks (TL's ``skip``).
    partial : bool
        By-name files only: always match by name and let the file hold a subset of
        the model's weights (TL's ``load_and_assign_npz_dict``). Otherwise a by-name
        file whose names are not all found is matched in stored order.

    Returns
    -------
    list of (variable, ndarray)
        Ready for :func:`assign_weights`, already in each variable's dtype.

    Raises
    ------
    ValueError
        Naming the weight and both shapes, or the counts, or the missing names, a
        non-numeric dtype, NaN/inf values or a cast that changes values.

    Warns
    -----
    UserWarning
        When float weights are rounded to a narrower float dtype (e.g. float64 -> float32).
    """
    import warnings

    names = [_name(v) for v in variables]
    file_names, entries = stored.names, stored.entries
    if stored.by_name and (skip or partial or set(names) <= set(file_names)):
        index = dict(zip(file_names, entries))
        missing = [n for n in names if n not in index]
        extra = [n for n in file_names if n not in set(names)]
        if extra and not skip:
            raise ValueError("%s: the file holds weights the model does not have: %s"
                             % (path, _describe_names(extra)))
        if missing and not (skip or partial):
            raise ValueError("%s: the model's weights %s are not in the file" % (path, _describe_names(missing)))
        pairs = [(v, index[n], n) for v, n in zip(variables, names) if n in index]
    else:
        if len(entries) != len(variables):
            raise ValueError("%s: the file holds %d weights, the model has %d (is it another architecture?)"
                             % (path, len(entries), len(variables)))
        pairs = list(zip(variables, entries, file_names))
    for i, (variable, entry, file_name) in enumerate(pairs):  # metadata only: nothing is read yet
        if not isinstance(entry.dtype, np.dtype) or entry.dtype.kind not in "fiub":
            raise ValueError("%s: weight %d (%r) is stored as %s; expected a numeric array (float, int, uint or bool "
                             "that numpy holds)" % (path, i, _name(variable), entry.dtype))
        expected = tuple(int(s) for s in variable.shape)
        if entry.shape != expected:
            raise ValueError("%s: weight %d %r has shape %s in the model but %s in the file (stored as %r)"
                             % (path, i, _name(variable), expected, entry.shape, file_name))
    checked, rounded = [], []
    for i, (variable, entry, file_name) in enumerate(pairs):
        value = np.asarray(entry.read())
        if value.shape != entry.shape or value.dtype != entry.dtype:
            raise ValueError("%s: weight %d %r reads as %s %s but was declared %s %s"
                             % (path, i, file_name, value.shape, value.dtype, entry.shape, entry.dtype))
        value, change = _cast(value, variable, i, path)
        if change:
            rounded.append((change, entry.dtype, value.dtype))
        checked.append((variable, value))
    if rounded:
        warnings.warn("%s: %d weight(s) stored as %s were rounded to the model's %s (largest change %.3g)"
                      % (path, len(rounded), rounded[0][1], rounded[0][2], max(r[0] for r in rounded)),
                      UserWarning, stacklevel=3)
    return checked


def assign_weights(pairs):
    """Assign checked ``(variable, array)`` pairs; on any failure put every old value back."""
    import tensorflow as tf

    old = [np.array(v.numpy()) for v, _ in pairs]
    done = 0
    try:
        for variable, value in pairs:
            variable.assign(tf.cast(value, variable.dtype))
            done += 1
    except Exception:
        for (variable, _), value in zip(pairs[:done], old):
            variable.assign(value)
        raise


def _keras_native(model, path):
    """Keras's own HDF5 weights file, loaded by Keras; the old values are restored if it fails."""
    variables = model_variables(model)
    old = [np.array(v.numpy()) for v in variables]
    try:
        model.load_weights(path)
    except Exception as err:
        for variable, value in zip(variables, old):
            variable.assign(value)
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise ValueError("%s: Keras could not load it into this model: %s" % (path, lines[0])) from None


def load_weights(model, path, allow_pickle=False):
    """Load weights into ``model`` from ``path``, in the format its extension names, without unpickling.

    Parameters
    ----------
    model : tl.models.Model, keras.Model or ModelAdapter
        A TensorLayer (static or dynamic) or Keras model with built weights.
    path : str
        ``.npz``, ``.h5`` / ``.hdf5`` or ``.safetensors`` (see the module docstring).
    allow_pickle : bool
        Read a legacy ``.npz`` holding pickled object arrays. Only for files you
        trust: unpickling can run code stored in the file.

    Returns
    -------
    model
        The same model, its weights replaced.

    Raises
    ------
    PickledWeightsError
        The file needs unpickling and ``allow_pickle`` is False.
    ValueError
        Unknown extension, unreadable file, or a mismatch (the message names the
        weight and both shapes, or both counts). The model is unchanged.
    FileNotFoundError
        ``path`` does not exist.

    Examples
    --------
    >>> import tensorlayer_xplain as tlxp
    >>> model = tlxp.load_weights(tlxp.models.cnn(), 'cnn.npz')   # doctest: +SKIP
    """
    from .adapter import ModelAdapter

    fmt = _format(path)
    path = str(path)
    model = model.model if isinstance(model, ModelAdapter) else model
    if not os.path.isfile(path):
        raise FileNotFoundError("path: no such weights file %r" % path)
    variables = model_variables(model)
    try:
        if fmt == "npz":
            stored = read_npz(path, allow_pickle=allow_pickle)
        elif fmt == "h5":
            sizes = [int(np.prod(v.shape, dtype=object)) * np.dtype(_np_dtype(v)).itemsize for v in variables]
            stored = _read_h5(path, budget=(max(sizes), sum(sizes)))
            if stored is None:
                import tensorlayer as tl

                if isinstance(model, tl.models.Model) or not hasattr(model, "load_weights"):
                    raise ValueError("%s: an HDF5 file in neither this package's nor TensorLayer's weights layout" % path)
                _keras_native(model, path)
                return model
        else:
            stored = _read_safetensors(path)
        pairs = check_weights(variables, stored, path)
    except (ValueError, TypeError):
        raise
    except (OSError, KeyError, IndexError, EOFError, RuntimeError, AttributeError, UnicodeError, MemoryError,
            OverflowError) as err:  # a file the readers above did not foresee: still one line, still no change
        message = (str(err).splitlines() or [""])[0][:200] or type(err).__name__
        raise ValueError("%s: not a readable %s weights file (%s: %s)" % (path, fmt, type(err).__name__, message)) from None
    assign_weights(pairs)
    return model


def _np_dtype(variable):
    import tensorflow as tf

    return tf.as_dtype(variable.dtype).as_numpy_dtype
