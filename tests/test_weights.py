"""Weights files without pickle: tlxp.save_weights / load_weights, TL's own npz paths, the CLI."""
import numpy as np
import pytest
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import cli
from tensorlayer_xplain.weights import PickledWeightsError

from conftest import tiny_dynamic_cnn, tiny_keras_cnn, tiny_mlp, tiny_static_cnn

BUILDERS = {"tl_static": tiny_static_cnn, "tl_dynamic": tiny_dynamic_cnn, "keras": tiny_keras_cnn}


def _scores(model, x):
    return tlxp.ModelAdapter(model, input_shape=(12, 12, 1)).predict(x)


def _values(model):
    return [w.numpy().copy() for w in tlxp.weights.model_variables(model)]


class _Sentinel:
    """Unpickling this creates the file ``path`` (a stand-in for arbitrary code)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted_npz(path, sentinel, key="params"):
    """An npz whose ``key`` is a pickled object array, as TL wrote on numpy 2 (or an attacker)."""
    evil = np.empty(1, dtype=object)
    evil[0] = _Sentinel(sentinel)
    np.savez(path, **{key: evil})
    return str(path)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("ext", ["npz", "h5", "safetensors"])
@pytest.mark.slow
def test_round_trip_gives_identical_outputs(tmp_path, kind, ext, images):
    model, fresh = BUILDERS[kind](seed=1), BUILDERS[kind](seed=2)
    expected = _scores(model, images)
    assert not np.allclose(_scores(fresh, images), expected)  # really different weights before loading
    path = tlxp.save_weights(model, str(tmp_path / ("w." + ext)))
    assert tlxp.load_weights(fresh, path) is fresh
    np.testing.assert_array_equal(_scores(fresh, images), expected)


@pytest.mark.slow
def test_safetensors_round_trip_gives_identical_gradcam(tmp_path, images):
    model, fresh = tiny_static_cnn(seed=1), tiny_static_cnn(seed=2)
    expected = tlxp.explain(model, images[:2], method="gradcam", targets=1).attributions
    tlxp.save_weights(model, str(tmp_path / "cnn.safetensors"))
    tlxp.load_weights(fresh, str(tmp_path / "cnn.safetensors"))
    np.testing.assert_array_equal(tlxp.explain(fresh, images[:2], method="gradcam", targets=1).attributions, expected)


@pytest.mark.slow
def test_tl_files_load_into_load_weights(tmp_path, images):
    # TL's own hdf5 layout and its (patched) ordered npz are read by tlxp.load_weights
    for kind in ("tl_static", "tl_dynamic"):
        model = BUILDERS[kind](seed=1)
        for fmt, ext in (("hdf5", "h5"), ("npz", "npz")):
            path = str(tmp_path / ("%s_%s.%s" % (kind, fmt, ext)))
            model.save_weights(path, format=fmt)
            fresh = tlxp.load_weights(BUILDERS[kind](seed=3), path)
            np.testing.assert_array_equal(_scores(fresh, images), _scores(model, images))


@pytest.mark.slow
def test_tl_npz_save_writes_plain_numeric_arrays(tmp_path, images):
    model = tiny_static_cnn(seed=1)
    path = str(tmp_path / "tl.npz")
    model.save_weights(path, format="npz")
    with np.load(path, allow_pickle=False) as data:  # would raise on any object array
        arrays = {k: data[k] for k in data.files}
    assert all(a.dtype != object for a in arrays.values())
    assert sum(k.startswith("params_") for k in arrays) == len(model.all_weights)
    fresh = tiny_static_cnn(seed=2)
    fresh.load_weights(path, format="npz")
    np.testing.assert_array_equal(_scores(fresh, images), _scores(model, images))


@pytest.mark.slow
def test_crafted_npz_runs_nothing_through_any_loader(tmp_path, capsys):
    sentinel = tmp_path / "pwned"
    evil = _crafted_npz(tmp_path / "evil.npz", sentinel)
    evil_dict = _crafted_npz(tmp_path / "evil_dict.npz", sentinel, key="dense_1/weights:0")
    model = tiny_static_cnn(seed=1)
    before = _values(model)
    attempts = [
        lambda: tlxp.load_weights(model, evil),
        lambda: model.load_weights(evil, format="npz"),
        lambda: model.load_weights(evil_dict, format="npz_dict"),
        lambda: tl.files.load_and_assign_npz(evil, model),
        lambda: tl.files.load_and_assign_npz_dict(evil_dict, model),
        lambda: tl.files.load_npz(name=evil),
    ]
    for attempt in attempts:
        with pytest.raises(PickledWeightsError, match=r"pickled object array.*\.safetensors.*allow_pickle=True"):
            attempt()
    for command in ("explain", "serve"):
        rc = cli.main([command, "--model", "tensorlayer_xplain.models:mlp", "--weights", evil])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("tensorlayer_xplain: error: --weights: ") and "pickled" in err
        assert len(err.strip().splitlines()) == 1, err
    assert not sentinel.exists()
    for a, b in zip(before, _values(model)):
        np.testing.assert_array_equal(a, b)
    # the file really is hostile: the explicit opt-in unpickles it (and then finds no numeric weights)
    with pytest.raises(ValueError, match="expected a numeric array|holds 1 weights"):
        tlxp.load_weights(model, evil, allow_pickle=True)
    assert sentinel.exists()


def test_legacy_pickled_file_needs_the_explicit_opt_in(tmp_path, images):
    model = tiny_static_cnn(seed=1)
    legacy = np.empty(len(model.all_weights), dtype=object)  # what the old numpy-2 patch wrote
    for i, w in enumerate(model.all_weights):
        legacy[i] = w.numpy()
    path = str(tmp_path / "legacy.npz")
    np.savez(path, params=legacy)
    fresh = tiny_static_cnn(seed=2)
    with pytest.raises(PickledWeightsError, match=r"\.npz of numeric arrays, \.h5 or \.safetensors"):
        tlxp.load_weights(fresh, path)
    tlxp.load_weights(fresh, path, allow_pickle=True)
    np.testing.assert_array_equal(_scores(fresh, images), _scores(model, images))


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["npz", "h5", "safetensors"])
def test_mismatched_file_names_the_weight_and_leaves_the_model_unchanged(tmp_path, ext):
    # same layers up to the last Dense (4 vs 5 classes): every weight but the last two fits
    path = tlxp.save_weights(tiny_static_cnn(seed=1, n_classes=5), str(tmp_path / ("five." + ext)))
    model = tiny_static_cnn(seed=2)
    before = _values(model)
    with pytest.raises(ValueError, match=r"weight 4 '.*' has shape \(216, 4\) in the model but \(216, 5\) in the file"):
        tlxp.load_weights(model, path)
    if ext == "npz":
        with pytest.raises(ValueError, match=r"\(216, 4\) in the model but \(216, 5\)"):
            model.load_weights(path, format="npz")  # TL's own loader checks first too
    with pytest.raises(ValueError, match="the file holds 6 weights, the model has 4"):
        tlxp.load_weights(tiny_mlp(seed=0, n_in=144, n_classes=4), path)
    for a, b in zip(before, _values(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_cli_mismatched_weights_is_one_line_exit_2(tmp_path, capsys):
    path = tlxp.save_weights(tiny_static_cnn(seed=1), str(tmp_path / "small.npz"))
    rc = cli.main(["explain", "--model", "tensorlayer_xplain.models:mlp", "--weights", path,
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("tensorlayer_xplain: error: --weights: ") and len(err.strip().splitlines()) == 1, err
    assert "has shape (784, 256) in the model but (3, 3, 1, 4) in the file" in err
    assert not (tmp_path / "out").exists()


def test_bad_paths_and_models(tmp_path):
    model = tiny_static_cnn(seed=1)
    with pytest.raises(ValueError, match=r"path: expected a weights file ending in \.npz, \.h5, .*got 'w\.pkl'"):
        tlxp.save_weights(model, "w.pkl")
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        tlxp.load_weights(model, str(tmp_path / "missing.safetensors"))
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        tlxp.load_weights(model, str(tmp_path / "junk.h5"))
    with pytest.raises(TypeError, match="model: expected a TensorLayer or Keras model, got function"):
        tlxp.save_weights(lambda x: x, str(tmp_path / "f.npz"))
    assert not (tmp_path / "f.npz").exists()


def test_keras_native_weights_file_is_loaded_by_keras(tmp_path, images):
    model, fresh = tiny_keras_cnn(seed=1), tiny_keras_cnn(seed=2)
    path = str(tmp_path / "keras.weights.h5")
    model.save_weights(path)
    tlxp.load_weights(fresh, path)
    np.testing.assert_array_equal(_scores(fresh, images), _scores(model, images))
