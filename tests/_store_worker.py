"""Subprocess side of the store tests: a run that can be killed, a peak-RSS probe, a two-device run.

Usage: python _store_worker.py MODE WORKDIR [N]
  MODE 'run'     explain WORKDIR/x.npy (streamed slowly) into WORKDIR/store.zarr with WORKDIR/weights.npz
  MODE 'rss'     explain N synthetic 28x28 digits into WORKDIR/rss-N.zarr; print the peak RSS in bytes
  MODE 'mirror'  print max |difference| between one device and a 2-replica MirroredStrategy (JSON)
"""
import json
import os
import resource
import sys
import time

import numpy as np

MODE, WORKDIR = sys.argv[1], sys.argv[2]
if MODE == "mirror":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tensorlayer_xplain as tlxp  # noqa: E402
from tensorlayer_xplain.models import cnn  # noqa: E402

METHODS = ["gradient", "integrated_gradients"]
CONFIG = {"integrated_gradients": {"steps": 8}}


def tiny_model():
    model = cnn(seed=0, filters=(2, 4), dense_units=8)
    path = os.path.join(WORKDIR, "weights.npz")
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as saved:
            for i, variable in enumerate(model.all_weights):
                variable.assign(saved["w%d" % i])
    return model


def slow_batches(x, batch=10, pause=0.05):
    for start in range(0, len(x), batch):
        time.sleep(pause)
        yield x[start:start + batch]


if MODE == "run":
    x = np.load(os.path.join(WORKDIR, "x.npy"))
    explainer = tlxp.ModelExplainer(tiny_model(), methods=METHODS, config=CONFIG, batch_size=16)
    explainer.explain_dataset(slow_batches(x), os.path.join(WORKDIR, "store.zarr"), chunk_size=16, progress=False)
elif MODE == "rss":
    n = int(sys.argv[3])
    x = np.random.RandomState(0).rand(10000, 28, 28, 1).astype(np.float32)  # the same data held in both runs
    explainer = tlxp.ModelExplainer(tiny_model(), methods=["gradient"], batch_size=500)
    explainer.explain_dataset(x[:n], os.path.join(WORKDIR, "rss-%d.zarr" % n), chunk_size=500, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
elif MODE == "mirror":
    x = np.random.RandomState(1).rand(37, 28, 28, 1).astype(np.float32)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    model = tiny_model()
    one = tlxp.ModelExplainer(model, methods=METHODS + ["gradcam"], config=CONFIG, batch_size=16, cache=False)
    two = tlxp.ModelExplainer(model, methods=METHODS + ["gradcam"], config=CONFIG, batch_size=16, cache=False,
                              strategy=strategy)
    out = {"replicas": strategy.num_replicas_in_sync}
    for name in one.methods:
        a, b = one.explain(x, name), two.explain(x, name)
        out[name] = float(np.max(np.abs(a.attributions - b.attributions)))
        out[name + "_scale"] = float(np.max(np.abs(a.attributions)))
        out[name + "_targets"] = bool(np.array_equal(a.targets, b.targets))
    print(json.dumps(out))
