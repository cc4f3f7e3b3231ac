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
from ._utils.weight_files import (
    PickledWeightsError,
    _name,
    _Stored,
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
def _h5_tl_groups(group, names, arrays):
    """Flatten TensorLayer's HDF5 layout (layer groups, ``weight_names``) in stored order."""
    from ._compat import _as_str

    for layer_name in (_as_str(n) for n in group.attrs["layer_names"]):
        sub = group[layer_name]
        if "layer_names" in sub.attrs:
            _h5_tl_groups(sub, names, arrays)
            continue
        for weight_name in (_as_str(n) for n in sub.attrs.get("weight_names", [])):
            names.append(weight_name)
            arrays.append(np.asarray(sub[weight_name]))


def _read_h5(path):
    """This package's or TensorLayer's HDF5 layout; None for any other HDF5 file (e.g. Keras's)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError("%s: not a readable HDF5 file (%s)" % (path, err)) from None
    with f:
        if _H5_MARK in f.attrs:
            keys = ["%05d" % i for i in range(int(f.attrs[_H5_MARK]))]
            missing = [k for k in keys if k not in f]
            if missing:
                raise ValueError("%s: the weights %s are missing from the file" % (path, ", ".join(missing)))
            from ._compat import _as_str

            return _Stored([_as_str(f[k].attrs.get("name", k)) for k in keys], [np.asarray(f[k]) for k in keys])
        if "layer_names" in f.attrs:
            names, arrays = [], []
            _h5_tl_groups(f, names, arrays)
            return _Stored(names, arrays)
    return None


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError("%s: not a readable .safetensors file (%s)" % (path, err)) from None
    keyed = []
    for key, value in tensors.items():
        index, sep, name = key.partition(":")
        keyed.append((int(index) if sep and index.isdigit() else None, name if sep else key, value))
    if all(i is not None for i, _, _ in keyed):
        keyed.sort(key=lambda item: item[0])
        return _Stored([n for _, n, _ in keyed], [v for _, _, v in keyed])
    return _Stored([k for k in tensors], list(tensors.values()), by_name=True)


# ---------------------------------------------------------------------- checking and assigning
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
    if fmt == "npz":
        stored = read_npz(path, allow_pickle=allow_pickle)
    elif fmt == "h5":
        stored = _read_h5(path)
        if stored is None:
            import tensorlayer as tl

            if isinstance(model, tl.models.Model) or not hasattr(model, "load_weights"):
                raise ValueError("%s: an HDF5 file in neither this package's nor TensorLayer's weights layout" % path)
            _keras_native(model, path)
            return model
    else:
        stored = _read_safetensors(path)
    assign_weights(check_weights(variables, stored, path))
    return model
