"""examples/mnist_training_tensorboard.py runs end to end on a short training and writes readable events (issue 28)."""
import os
import subprocess
import sys

import pytest

from tensorlayer_xplain import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator").EventAccumulator


@pytest.mark.slow
@pytest.mark.skipif(datasets.find_mnist_dir() is None,
                    reason="set TENSORLAYER_XPLAIN_DATA to a folder with mnist/ (the CI does)")
def test_training_example_logs_every_epoch(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_training_tensorboard.py"),
                          "--logdir", str(tmp_path), "--epochs", "2", "--train-size", "6000"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split() for line in out.stdout.splitlines() if line[:5].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [0, 1]
    assert float(rows[1][1]) > 0.85  # validation accuracy after two short epochs
    assert "tensorboard --logdir %s --host 127.0.0.1" % tmp_path in out.stdout
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    for tag in ("explanations/gradcam", "explanations/gradient", "metrics/deletion/gradcam",
                "training/val_accuracy"):
        assert [e.step for e in acc.Tensors(tag)] == [0, 1], tag
    assert [e.step for e in acc.Tensors("drift/gradcam/previous")] == [1]
