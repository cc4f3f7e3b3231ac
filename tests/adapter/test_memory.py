"""Memory bounded in bytes: the adapter sizes model calls from max_batch_bytes; LIME/RISE peaks stay bounded."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import CALLABLE_ACTIVATION_FACTOR
from tensorlayer_xplain.methods._engine.blocks import BLOCK_BYTES, PARALLEL

from conftest import tiny_static_cnn

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/


class CountingModel:
    """A plain callable on (N, 8, 8, 1) recording the batch size of every call."""

    def __init__(self):
        self.sizes = []
        self.w = tf.constant(np.linspace(-1, 1, 64 * 3, dtype=np.float32).reshape(64, 3))

    def __call__(self, x):
        self.sizes.append(int(x.shape[0]))
        return tf.reshape(x, (-1, 64)) @ self.w


def _rows_budget(rows):
    """max_batch_bytes giving exactly ``rows`` rows forward for CountingModel (8x8x1 float32 inputs)."""
    per_sample = 256 * (1 + CALLABLE_ACTIVATION_FACTOR)
    return per_sample * rows + per_sample // 2


def test_byte_budget_splits_predict_into_pieces():
    model = CountingModel()
    adapter = tlxp.ModelAdapter(model, input_shape=(8, 8, 1), batch_size=256, max_batch_bytes=_rows_budget(5))
    assert adapter.batch_rows() == 5 and adapter.batch_rows(backward=True) == 2
    out = adapter.predict(np.ones((23, 8, 8, 1), np.float32))
    assert model.sizes == [5, 5, 5, 5, 3]
    np.testing.assert_allclose(out, np.ones((23, 64)) @ model.w.numpy(), atol=1e-5)


def test_batch_size_stays_an_upper_bound():
    model = CountingModel()
    adapter = tlxp.ModelAdapter(model, input_shape=(8, 8, 1), batch_size=3, max_batch_bytes=1 << 40)
    adapter.predict(np.ones((10, 8, 8, 1), np.float32))
    assert model.sizes == [3, 3, 3, 1]


def test_rise_masks_go_through_the_model_in_byte_bounded_pieces():
    model = CountingModel()
    adapter = tlxp.ModelAdapter(model, input_shape=(8, 8, 1), batch_size=256, max_batch_bytes=_rows_budget(8))
    x = np.random.default_rng(0).random((1, 8, 8, 1), np.float32)
    tlxp.explain(adapter, x, "rise", n_masks=20, mask_size=2, seed=0)
    # one prediction pass, then the 20 masked inputs in pieces of 8 // PARALLEL rows
    assert model.sizes[0] == 1
    assert model.sizes[1:] == [8 // PARALLEL] * (20 // (8 // PARALLEL))


def test_gradients_use_the_backward_budget():
    model = CountingModel()
    adapter = tlxp.ModelAdapter(model, input_shape=(8, 8, 1), batch_size=256, max_batch_bytes=_rows_budget(6))
    adapter.gradients(np.ones((7, 8, 8, 1), np.float32), np.zeros(7, np.int32))
    assert model.sizes == [3, 3, 1]


@pytest.mark.slow
def test_sample_bytes_are_the_input_plus_every_layer_output():
    model = tiny_static_cnn(size=12)
    adapter = tlxp.ModelAdapter(model)
    # input 12*12*1, conv 12*12*4, pool 6*6*4, conv 6*6*6, flatten 216, dense 4 (and the input layer 12*12*1)
    floats = 144 + 144 + 576 + 144 + 216 + 216 + 4
    assert adapter.sample_bytes() == 4 * floats
    assert adapter.sample_bytes(backward=True) == 8 * floats
    budgeted = tlxp.ModelAdapter(model, batch_size=64, max_batch_bytes=4 * floats * 10)
    assert budgeted.batch_rows() == 10 and budgeted.batch_rows(backward=True) == 5
    assert budgeted.batch_rows(batch_size=4) == 4


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1GB", True])
def test_max_batch_bytes_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_batch_bytes: expected a positive int"):
        tlxp.ModelAdapter(CountingModel(), max_batch_bytes=bad)


@pytest.mark.slow
def test_lime_and_rise_on_224x224_stay_within_the_byte_budget():
    """200 LIME samples and 200 RISE masks at batch_size=256: without the byte bound LIME peaks at ~600 MB."""
    budget = 64 << 20
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "_memory_probe.py"), str(budget)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rows"] == budget // result["sample_bytes"] < 256
    # documented bound: max_batch_bytes of activations + at most 2 blocks of perturbed inputs on the host
    limit_mb = (budget + 2 * BLOCK_BYTES) / 2 ** 20 + 64  # + allocator slack
    for method in ("lime", "rise"):
        assert result[method]["peak_mb"] < limit_mb, (method, result)
        assert result[method]["after_mb"] < limit_mb, (method, result)
