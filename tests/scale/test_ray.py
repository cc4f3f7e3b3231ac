"""Scaling out: Ray Data actors write the same store as one process; MirroredStrategy equals one device."""
import functools
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.models import cnn

pytestmark = pytest.mark.slow  # minutes on two cores; `pytest -m "not slow"` leaves it out

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
ROOT = os.path.dirname(HERE)
METHODS = ["gradient", "gradcam"]
#: importable by every Ray actor (a partial of a module-level builder)
MODEL_FN = functools.partial(cnn, seed=0, filters=(2, 4), dense_units=8)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the 'distributed' extra (ray[data]) is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}})
    yield ray
    ray.shutdown()


def test_ray_store_equals_single_process_store(ray_local, tmp_path):
    from tensorlayer_xplain.scale.ray import explain_with_ray

    model = MODEL_FN()
    weights = [w.numpy() for w in model.all_weights]
    rng = np.random.RandomState(0)
    x, y = rng.rand(90, 28, 28, 1).astype(np.float32), rng.randint(0, 10, 90)
    single = tlxp.ModelExplainer(model, methods=METHODS, batch_size=16).explain_dataset(
        x, tmp_path / "one.zarr", chunk_size=16, labels=y, progress=False)
    store = explain_with_ray(MODEL_FN, weights, x, str(tmp_path / "ray.zarr"), METHODS, num_workers=2,
                             batch_size=16, labels=y, progress=False)
    assert store.complete and len(store) == 90 and store.methods == METHODS
    for name in METHODS:
        np.testing.assert_array_equal(store[name][:].attributions, single[name][:].attributions)
        np.testing.assert_array_equal(store[name][:].targets, single[name][:].targets)
    np.testing.assert_array_equal(store.labels, y)
    assert store.attrs["weights"] == single.attrs["weights"]
    # a resume of a complete store schedules nothing and changes nothing
    again = explain_with_ray(MODEL_FN, weights, x, str(tmp_path / "ray.zarr"), METHODS, num_workers=2,
                             batch_size=16, labels=y, progress=False)
    np.testing.assert_array_equal(again["gradient"][:].attributions, single["gradient"][:].attributions)
    # a weights path works like the arrays (read once in the driver; issue 29 row 14), and a deleted chunk
    # is found by its checksum and recomputed by the actors (row 10)
    weights_path = tlxp.save_weights(model, str(tmp_path / "model.h5"))
    shutil.rmtree(tmp_path / "ray.zarr" / "gradient" / "attributions" / "c" / "1")  # rows 16..31
    with pytest.warns(UserWarning, match=r"fail their checksums and are recomputed: \[1\]"):
        healed = explain_with_ray(MODEL_FN, weights_path, x, str(tmp_path / "ray.zarr"), METHODS, num_workers=2,
                                  batch_size=16, labels=y, progress=False)
    healed.verify()
    np.testing.assert_array_equal(healed["gradient"][:].attributions, single["gradient"][:].attributions)
    with pytest.raises(ValueError, match=r"resume: .*chunk_size"):
        explain_with_ray(MODEL_FN, weights, x, str(tmp_path / "ray.zarr"), METHODS, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="weights: expected"):
        explain_with_ray(MODEL_FN, weights[:-1], x, str(tmp_path / "bad.zarr"), METHODS, progress=False)


def test_mirrored_strategy_on_two_cpu_devices_equals_one_device(tmp_path):
    """Logical devices must be set before TensorFlow initializes: a subprocess."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "_store_worker.py"), "mirror", str(tmp_path)],
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for name in ("gradient", "integrated_gradients", "gradcam"):
        assert result[name + "_targets"], name
        assert result[name + "_scale"] > 0, name
        assert result[name] <= 1e-6 * max(1.0, result[name + "_scale"]), (name, result)
