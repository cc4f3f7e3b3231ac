"""The MNIST examples run end to end (short training) when MNIST is available."""
import os
import subprocess
import sys

import pytest

from tensorlayer_xplain import datasets

pytestmark = pytest.mark.slow  # minutes on two cores; `pytest -m "not slow"` leaves it out

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_mnist = pytest.mark.skipif(datasets.find_mnist_dir() is None,
                                 reason="set TENSORLAYER_XPLAIN_DATA to a folder with mnist/ (the CI does)")


def run_example(script, *args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script)] + list(args),
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@needs_mnist
def test_mnist_mlp_example(tmp_path):
    stdout = run_example("mnist_mlp.py", "--epochs", "1", "--n", "2", "--out", str(tmp_path))
    accuracy = float(stdout.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.93  # one epoch; the default five reach >= 0.97
    assert (tmp_path / "mlp_gradient.png").stat().st_size > 1000
    assert len(list(tmp_path.glob("mlp_gradient_digit*_label*.png"))) == 2


def test_mnist_mlp_example_help():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_mlp.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--epochs" in out.stdout and "--out" in out.stdout


def test_mnist_shortcut_example_help():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_shortcut.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--planted" in out.stdout and "--out" in out.stdout
