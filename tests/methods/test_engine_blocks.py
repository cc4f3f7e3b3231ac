"""The one block loop: deadlines checked between blocks, pair blocks of (input, sample) grids."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain._utils import deadline as _deadline
from tensorlayer_xplain.methods._engine import blocks as _graph

from conftest import tiny_static_cnn

SIZE, N_CLASSES = 12, 4


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=7, size=SIZE, n_classes=N_CLASSES)


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(3).random((16, SIZE, SIZE, 1)).astype(np.float32)


def test_deadline_stops_the_blocks_of_batched_methods(model, digits, monkeypatch):
    import traceback

    monkeypatch.setattr(_graph, "BLOCK_BYTES", 1)  # one compiled call per batch_size rows
    checks = []

    def cancelled():
        checks.append(1)
        return len(checks) > 3  # the runner's predict, then two blocks of windows run

    with pytest.raises(_deadline.DeadlineExceeded, match="cancelled") as err:
        with _deadline.deadline(seconds=60, cancelled=cancelled):
            tlxp.explain(model, digits[:1], "occlusion", window=4, stride=4, batch_size=2)
    assert "run_blocks" in "".join(traceback.format_tb(err.value.__traceback__))
    assert len(checks) == 4
    _deadline.check()  # outside the block: nothing to stop


def test_pair_blocks_cover_the_grid_once():
    n, samples = 5, 7
    seen = np.zeros((n, samples), int)
    for start in range(0, n * samples, 4):
        for i0, i1, k0, k1 in _graph.pair_rectangles(start, min(n * samples, start + 4), samples):
            seen[i0:i1, k0:k1] += 1
    assert (seen == 1).all()


def test_integrated_gradients_under_a_deadline_equals_the_untimed_run(model, digits):
    plain = tlxp.explain(model, digits[:3], "integrated_gradients", steps=40, batch_size=8)
    with _deadline.deadline(seconds=600):  # timed blocks of pairs: several compiled calls per input
        timed = tlxp.explain(model, digits[:3], "integrated_gradients", steps=40, batch_size=8)
    np.testing.assert_allclose(timed.attributions, plain.attributions, rtol=1e-4, atol=1e-6)
