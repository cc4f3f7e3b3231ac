"""Pickle-free ``.npz`` weights files: the writer and the reader that ``weights`` and the TensorLayer
patches in ``_compat`` share (TensorLayer's own ``save_npz`` / ``load_npz`` write and read through these), and
the check and assignment of stored arrays to a model's variables (count, names, shapes; all or nothing)."""
import numpy as np

_SAFE = ".npz of numeric arrays, .h5 or .safetensors"

#: Bounds on what a weights file may declare, checked from its metadata before any array is read.
MAX_WEIGHTS = 100_000          # weights (arrays) in one file
MAX_NPY_HEADER = 16 * 1024     # bytes of one .npy header inside an .npz
MAX_ATTR_BYTES = 1 << 20       # bytes of one HDF5 attribute (names, layer lists)
MAX_H5_OBJECTS = 200_000       # groups and datasets in one HDF5 file
MAX_H5_DEPTH = 64              # nested layer groups in TensorLayer's HDF5 layout
_READ_PIECE = 1 << 22          # decompression is streamed in pieces of 4 MB




class PickledWeightsError(ValueError):
    """A weights file needs unpickling, which could run code stored in it."""


def write_npz(file, names, arrays):
    """Write ``params_<i>`` numeric arrays and a ``names`` unicode array (no object arrays)."""
    stored = {"params_%d" % i: np.asarray(a) for i, a in enumerate(arrays)}
    np.savez(file, names=np.array([str(n) for n in names], dtype=str), **stored)


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
        "or, for a file you trust, load_weights(..., allow_pickle=True): allow_pickle=True is the explicit opt-in "
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
            raise ValueError("%s: member %r ends after %d of its %d bytes (truncated file?)"
                             % (path, key, done, nbytes))
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
    """The pickle-trusting reader (allow_pickle=True is the explicit opt-in): numpy's own ``np.load``."""
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
        if whole.dtype.hasobject:  # a ragged list of arrays (allow_pickle=True is the explicit opt-in)
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


def _name(variable):
    return str(getattr(variable, "path", None) or variable.name)


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


def _np_dtype(variable):
    import tensorflow as tf

    return tf.as_dtype(variable.dtype).as_numpy_dtype
