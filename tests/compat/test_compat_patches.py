"""The TensorLayer patches applied on import fix their symptoms, and the import itself is quiet."""
import numpy as np
import pytest
import tensorflow as tf

from tensorlayer_xplain import _compat

from conftest import tiny_mlp


@pytest.mark.slow
def test_compat_patches_fix_the_symptoms(tmp_path, rng):
    assert {"h5py3_weight_names", "npz_without_pickle", "batchnorm_tf_function"} <= set(_compat.apply_patches())
    model = tiny_mlp(seed=1)
    x = rng.random((2, 64), dtype=np.float32)
    model.eval()
    expected = model(x).numpy()
    # hdf5 (h5py 3) and plain npz (numpy 2) load by order into another instance
    for fmt, ext in (("hdf5", "h5"), ("npz", "npz")):
        path = str(tmp_path / ("w_%s.%s" % (fmt, ext)))
        model.save_weights(path, format=fmt)
        other = tiny_mlp(seed=2)
        other.load_weights(path, format=fmt)
        other.eval()
        np.testing.assert_allclose(other(x).numpy(), expected, atol=1e-6)
    # by-name hdf5 loading goes through the patched group reader too
    model.save_weights(str(tmp_path / "byname.h5"), format="hdf5")
    model.all_weights[0].assign(tf.zeros_like(model.all_weights[0]))
    model.load_weights(str(tmp_path / "byname.h5"), format="hdf5", in_order=False)
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)


@pytest.mark.slow
def test_import_is_quiet():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", "import tensorlayer_xplain"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tensorlayer_xplain" not in out.stderr  # no warnings of our own
