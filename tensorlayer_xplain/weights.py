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

from ._utils.io import atomic_path
from ._utils.weight_files import (  # noqa: F401  (PickledWeightsError, check_weights and the bounds are public here)
    MAX_ATTR_BYTES,
    MAX_H5_DEPTH,
    MAX_H5_OBJECTS,
    MAX_NPY_HEADER,
    MAX_WEIGHTS,
    PickledWeightsError,
    _describe_names,
    _Entry,
    _name,
    _np_dtype,
    _Stored,
    _too_many,
    assign_weights,
    check_weights,
    read_npz,
    write_npz,
)

__all__ = ["save_weights", "load_weights", "PickledWeightsError", "WEIGHTS_FORMATS"]

#: File extensions :func:`save_weights` and :func:`load_weights` understand, and their format.
WEIGHTS_FORMATS = {".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".safetensors": "safetensors"}

_H5_MARK = "tensorlayer_xplain_weights"


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


def _format(path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in WEIGHTS_FORMATS:
        raise ValueError("path: expected a weights file ending in %s, got %r"
                         % (", ".join(WEIGHTS_FORMATS), str(path)))
    return WEIGHTS_FORMATS[ext]


# ---------------------------------------------------------------------- writers
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
    >>> tlxp.save_weights(model, 'cnn.safetensors')
    'cnn.safetensors'
    >>> tlxp.load_weights(tlxp.models.cnn(), 'cnn.safetensors')
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
                raise ValueError("%s: weight %r of layer %r is not a dataset in the file"
                                 % (path, weight_name, layer_name))
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
    >>> tlxp.save_weights(tlxp.models.cnn(seed=1), 'cnn.npz')
    >>> model = tlxp.load_weights(tlxp.models.cnn(), 'cnn.npz')
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
                    raise ValueError("%s: an HDF5 file in neither this package's nor TensorLayer's weights layout"
                                     % path)
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
        raise ValueError("%s: not a readable %s weights file (%s: %s)"
                         % (path, fmt, type(err).__name__, message)) from None
    assign_weights(pairs)
    return model
