"""Run in a subprocess by tests/adapter/test_memory.py: peak RSS increase of LIME and RISE on a 224x224 CNN.

Prints one JSON line ``{"sample_bytes": ..., "rows": ..., "lime": {"peak_mb", "after_mb"}, "rise": {...}}``.
Usage: ``python tests/_memory_probe.py MAX_BATCH_BYTES``.
"""
import gc
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Conv2d, Dense, GlobalMeanPool2d, Input, MaxPool2d

import tensorlayer_xplain as tlxp
from benchmarks.memory import peak_mb, reset_peak, rss_mb


def cnn_224():
    """Conv(16) at 224x224 (3.2 MB of activations per image) -> pool -> Conv(16) -> mean -> Dense(10)."""
    tf.random.set_seed(0)
    ni = Input([None, 224, 224, 3])
    nn = Conv2d(16, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=3)(ni)
    nn = MaxPool2d((4, 4), (4, 4), padding="SAME")(nn)
    nn = Conv2d(16, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=16)(nn)
    nn = GlobalMeanPool2d()(nn)
    return tl.models.Model(inputs=ni, outputs=Dense(10, in_channels=16)(nn))


def main(max_batch_bytes):
    adapter = tlxp.ModelAdapter(cnn_224(), batch_size=256, max_batch_bytes=max_batch_bytes)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    calls = {"lime": dict(num_samples=200, segmentation="grid", n_segments=49, seed=0),
             "rise": dict(n_masks=200, seed=0)}
    out = {"sample_bytes": adapter.sample_bytes(), "rows": adapter.batch_rows()}
    for method, params in calls.items():
        tlxp.explain(adapter, x, method, **dict(params, **{"num_samples" if method == "lime" else "n_masks": 4}))
        gc.collect()
        reset_peak()
        base = rss_mb()
        tlxp.explain(adapter, x, method, **params)
        peak = peak_mb() - base
        gc.collect()
        out[method] = {"peak_mb": peak, "after_mb": rss_mb() - base}
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]))
