"""Make TensorLayer 2.2.5 usable on today's TensorFlow / Keras 3 / numpy 2 / h5py 3.

Each patch is a small replacement of one TensorLayer function, applied once by
:func:`apply_patches` (called on ``import tensorlayer_xplain``) and recorded in
:data:`APPLIED`. A patch is only applied where the symptom it fixes exists.

Patches
-------
``h5py3_weight_names``
    Symptom: ``model.load_weights('w.h5')`` raises
    ``AttributeError: 'str' object has no attribute 'decode'`` because h5py >= 3
    returns HDF5 string attributes as ``str``, and TL calls ``.decode('utf8')``.
    Fix: the three HDF5 readers accept both ``bytes`` and ``str``.
``npz_without_pickle``
    Symptoms: ``model.save_weights('w.npz', format='npz')`` raises
    ``ValueError: setting an array element with a sequence ... inhomogeneous shape``
    on numpy >= 1.24 (TL passes a list of differently shaped arrays to
    ``np.savez``), and TL's ``load_npz`` / ``load_and_assign_npz`` /
    ``load_and_assign_npz_dict`` call ``np.load`` with pickling allowed, so a
    crafted ``.npz`` runs code when loaded; ``save_npz_dict`` keyed weights by
    ``variable.name``, which Keras 3 cells leave as ``'kernel'``, ``'bias'``... (a model with
    two RNN layers lost weights). Fix: ``save_npz_dict`` keys by the unique ``path`` of a
    Keras variable (TL's names otherwise, as the loader matches them), ``save_npz`` writes one numeric
    array per weight (``params_0``, ``params_1``, ...; no object arrays), the three
    loaders read without pickle (a pickled file raises
    :class:`~tensorlayer_xplain.weights.PickledWeightsError`) and check every
    count and shape before assigning anything. Applied on every stack.
``batchnorm_tf_function``, ``instancenorm_batch``, ``layernorm_batch``, ``groupnorm_batch``,
``gaussiannoise_dynamic_shape``, ``dropconnect_eval``
    Layers that fail inside ``tf.function`` or on batches of more than one sample
    (``BatchNorm`` above all); see :mod:`tensorlayer_xplain._compat.layers`.
``rnn_keras3_cells``, ``birnn_keras3_cells``, ``seq2seq_attention_keras3``, ``seq2seq_greedy_graph``
    TensorLayer's recurrent layers and both seq2seq zoo models on Keras 3 cells
    (they called ``cell.get_initial_state(inputs)``); see
    :mod:`tensorlayer_xplain._compat.recurrent`.
"""
import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) is not ours to
# print; users who want it set TF_CPP_MIN_LOG_LEVEL themselves before importing.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

__all__ = ["apply_patches", "APPLIED"]

#: Names of the patches that :func:`apply_patches` installed in this process.
APPLIED = []


def _as_str(value):
    """Return an HDF5 attribute value as ``str`` whether h5py gave bytes or str."""
    return value.decode("utf8") if isinstance(value, (bytes, bytearray)) else str(value)


def _patch_h5py3_weight_names(utils, tl):
    """Replace TL's HDF5 weight readers with ones that accept ``str`` attributes."""

    def _assign_layer(layer, group, by_name, skip):
        if isinstance(layer, tl.models.Model):
            _load_group(group, layer.all_layers, by_name, skip)
        elif isinstance(layer, tl.layers.ModelLayer):
            _load_group(group, layer.model.all_layers, by_name, skip)
        elif isinstance(layer, tl.layers.LayerList):
            _load_group(group, layer.layers, by_name, skip)
        elif isinstance(layer, tl.layers.Layer):
            for iid, w_name in enumerate(_as_str(n) for n in group.attrs["weight_names"]):
                value = np.asarray(group[w_name])
                if by_name and isinstance(layer, tl.layers.BatchNorm) and value.ndim > 1:
                    value = value.squeeze()  # TL's own compatibility rule for old BatchNorm files
                utils.assign_tf_variable(layer.all_weights[iid], value)
        else:
            raise TypeError("Only layers or models can be loaded from hdf5, got %r" % type(layer))

    def _load_group(f, layers, by_name, skip=False):
        layer_names = [_as_str(n) for n in f.attrs["layer_names"]]
        if not by_name:
            for layer, name in zip(layers, layer_names):
                _assign_layer(layer, f[name], by_name, skip)
            return
        index = {layer.name: layer for layer in layers}
        for name in layer_names:
            if name in index:
                _assign_layer(index[name], f[name], by_name, skip)
            elif not skip:
                raise RuntimeError(
                    "Layer named '%s' not found in network. Hint: set argument skip=True "
                    "if you want to skip redundant or mismatch Layers." % name
                )

    def _load_weights_from_hdf5_group_in_order(f, layers):
        _load_group(f, layers, by_name=False)

    def _load_weights_from_hdf5_group(f, layers, skip=False):
        _load_group(f, layers, by_name=True, skip=skip)

    def load_hdf5_to_weights(filepath, network, skip=False):
        import h5py

        with h5py.File(filepath, "r") as f:
            if "layer_names" not in f.attrs:
                raise NameError("The hdf5 file %r has no 'layer_names' attribute; was it saved by TL?" % filepath)
            _load_group(f, network.all_layers, by_name=True, skip=skip)

    utils._load_weights_from_hdf5_group_in_order = _load_weights_from_hdf5_group_in_order
    utils._load_weights_from_hdf5_group = _load_weights_from_hdf5_group
    utils.load_hdf5_to_weights = load_hdf5_to_weights
    tl.files.load_hdf5_to_weights = load_hdf5_to_weights


def _patch_npz_without_pickle(utils, tl):
    """Replace TL's npz save and its three npz loaders with versions that never pickle."""
    from .._utils import weight_files as weights

    def save_npz(save_list=None, name="model.npz"):
        save_list = save_list or []
        weights.write_npz(name, [v.name for v in save_list], utils.tf_variables_to_numpy(save_list))

    def save_npz_dict(save_list=None, name="model.npz"):
        # Keras 3 cells name their variables 'kernel', 'bias'... (the path is unique); the
        # loader below matches by the same name, so a model with two RNN layers round-trips.
        save_list = save_list or []
        names = [weights._name(v) for v in save_list]
        if len(set(names)) != len(names):
            raise ValueError("save_list: weight names must be unique to save by name, got %s" % names)
        np.savez(name, **dict(zip(names, utils.tf_variables_to_numpy(save_list))))

    def load_npz(path="", name="model.npz"):
        return weights.read_npz(os.path.join(path, name)).arrays

    def load_and_assign_npz(name=None, network=None):
        if network is None:
            raise ValueError("network is None.")
        if not os.path.exists(name):
            raise FileNotFoundError("file {} doesn't exist.".format(name))
        stored = weights.read_npz(name)
        weights.assign_weights(weights.check_weights(network.all_weights, stored, name))

    def load_and_assign_npz_dict(name="model.npz", network=None, skip=False):
        if not os.path.exists(name):
            raise FileNotFoundError("file {} doesn't exist.".format(name))
        stored = weights.read_npz(name)
        stored.by_name = True
        weights.assign_weights(weights.check_weights(network.all_weights, stored, name, skip=skip, partial=True))

    for fn, original in ((save_npz, utils.save_npz), (save_npz_dict, utils.save_npz_dict),
                         (load_npz, utils.load_npz),
                         (load_and_assign_npz, utils.load_and_assign_npz),
                         (load_and_assign_npz_dict, utils.load_and_assign_npz_dict)):
        fn.__doc__ = original.__doc__
        setattr(utils, fn.__name__, fn)
        setattr(tl.files, fn.__name__, fn)


def _h5py_returns_str_attrs():
    import h5py

    return int(h5py.__version__.split(".")[0]) >= 3


def apply_patches():
    """Install every patch whose symptom exists on this stack; idempotent.

    Returns
    -------
    list of str
        The names of the patches now applied (see the module docstring).

    Examples
    --------
    >>> from tensorlayer_xplain import _compat
    >>> 'h5py3_weight_names' in _compat.apply_patches()
    True
    """
    if APPLIED:
        return list(APPLIED)
    import tensorlayer as tl
    from tensorlayer.files import utils

    if _h5py_returns_str_attrs():
        _patch_h5py3_weight_names(utils, tl)
        APPLIED.append("h5py3_weight_names")
    _patch_npz_without_pickle(utils, tl)
    APPLIED.append("npz_without_pickle")
    from .layers import apply_layer_patches

    APPLIED.extend(apply_layer_patches(tl))
    from .recurrent import apply_recurrent_patches

    APPLIED.extend(apply_recurrent_patches(tl))
    return list(APPLIED)
