"""Pickle-free ``.npz`` weights files: the writer and the reader that ``weights`` and the TensorLayer
patches in ``_compat`` share (TensorLayer's own ``save_npz`` / ``load_npz`` write and read through these), and
the check and assignment of stored arrays to a model's variables (count, names, shapes; all or nothing)."""
import numpy as np

_SAFE = ".npz of numeric arrays, .h5 or .safetensors"


class PickledWeightsError(ValueError):
    """A weights file needs unpickling, which could run code stored in it."""


def write_npz(file, names, arrays):
    """Write ``params_<i>`` numeric arrays and a ``names`` unicode array (no object arrays)."""
    stored = {"params_%d" % i: np.asarray(a) for i, a in enumerate(arrays)}
    np.savez(file, names=np.array([str(n) for n in names], dtype=str), **stored)


class _Stored:
    """What a file holds: ``arrays`` in order, their ``names`` and whether to match by name."""

    def __init__(self, names, arrays, by_name=False):
        self.names, self.arrays, self.by_name = list(names), list(arrays), by_name


def _pickled(path, key):
    return PickledWeightsError(
        "%s: %r is a pickled object array, and unpickling can run code stored in the file; "
        "re-save the weights in a safe format (%s) with tensorlayer_xplain.save_weights(model, path), "
        "or, for a file you trust, load_weights(model, path, allow_pickle=True): allow_pickle=True is the explicit "
        "opt-in and runs whatever the file contains"
        % (path, key, _SAFE))


def read_npz(path, allow_pickle=False):
    """Read a ``.npz`` weights file (this package's, TL's ``npz`` or ``npz_dict``) without unpickling.

    Returns
    -------
    _Stored
    """
    import zipfile

    def get(data, key):
        try:
            return data[key]
        except ValueError as err:
            if "allow_pickle" in str(err):
                raise _pickled(path, key) from None
            raise ValueError("%s: cannot read %r (%s)" % (path, key, err)) from None

    try:
        data = np.load(path, allow_pickle=allow_pickle)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError("%s: not a readable .npz file (%s)" % (path, err)) from None
    if not hasattr(data, "files"):
        raise ValueError("%s: expected a .npz archive of weights, got a single .npy array" % path)
    with data:
        files = list(data.files)
        indexed = sorted((int(k[7:]), k) for k in files if k.startswith("params_") and k[7:].isdigit())
        if indexed or files == ["names"]:
            if [i for i, _ in indexed] != list(range(len(indexed))):
                raise ValueError("%s: the params_<i> arrays are not numbered 0..%d" % (path, len(indexed) - 1))
            arrays = [get(data, k) for _, k in indexed]
            names = [str(n) for n in get(data, "names")] if "names" in files else [k for _, k in indexed]
            return _Stored(names, arrays)
        if files == ["params"]:  # TL's npz layout: one array (object array when ragged)
            params = get(data, "params")
            arrays = [np.asarray(p) for p in params]
            return _Stored(["params[%d]" % i for i in range(len(arrays))], arrays)
        return _Stored(files, [get(data, k) for k in files], by_name=True)  # TL's npz_dict


def _name(variable):
    return str(getattr(variable, "path", None) or variable.name)


def _describe_names(names, limit=5):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (", ... (%d in all)" % len(names) if len(names) > limit else "")


def check_weights(variables, stored, path, skip=False, partial=False):
    """Pair every variable with its stored array, checking count, names and shapes; assign nothing.

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
        Ready for :func:`assign_weights`.

    Raises
    ------
    ValueError
        Naming the weight and both shapes, or the counts, or the missing names.
    """
    names = [_name(v) for v in variables]
    file_names, arrays = stored.names, stored.arrays
    if stored.by_name and (skip or partial or set(names) <= set(file_names)):
        index = dict(zip(file_names, arrays))
        missing = [n for n in names if n not in index]
        extra = [n for n in file_names if n not in set(names)]
        if extra and not skip:
            raise ValueError("%s: the file holds weights the model does not have: %s"
                             % (path, _describe_names(extra)))
        if missing and not (skip or partial):
            raise ValueError("%s: the model's weights %s are not in the file" % (path, _describe_names(missing)))
        pairs = [(v, index[n], n) for v, n in zip(variables, names) if n in index]
    else:
        if len(arrays) != len(variables):
            raise ValueError("%s: the file holds %d weights, the model has %d (is it another architecture?)"
                             % (path, len(arrays), len(variables)))
        pairs = list(zip(variables, arrays, file_names))
    checked = []
    for i, (variable, value, file_name) in enumerate(pairs):
        value = np.asarray(value)
        if value.dtype.kind not in "fiub":
            raise ValueError("%s: weight %d (%r) is stored as %s; expected a numeric array"
                             % (path, i, _name(variable), value.dtype))
        expected = tuple(int(s) for s in variable.shape)
        if tuple(value.shape) != expected:
            raise ValueError("%s: weight %d %r has shape %s in the model but %s in the file (stored as %r)"
                             % (path, i, _name(variable), expected, tuple(value.shape), file_name))
        checked.append((variable, value))
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
