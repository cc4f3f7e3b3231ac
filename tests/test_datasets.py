"""load_mnist search order, embedded sample, no network."""
import gzip
import os
import shutil

import numpy as np
import pytest

from tensorlayer_xplain import datasets


def write_fake_mnist(directory, n_train=10010, n_test=7, value=7):
    d = os.path.join(directory, "mnist")
    os.makedirs(d, exist_ok=True)

    def write(name, header, payload):
        with gzip.open(os.path.join(d, name), "wb") as f:
            f.write(header + payload)

    write("train-images-idx3-ubyte.gz", b"\0" * 16, np.full(n_train * 784, value, np.uint8).tobytes())
    write("train-labels-idx1-ubyte.gz", b"\0" * 8, (np.arange(n_train) % 10).astype(np.uint8).tobytes())
    write("t10k-images-idx3-ubyte.gz", b"\0" * 16, np.full(n_test * 784, value, np.uint8).tobytes())
    write("t10k-labels-idx1-ubyte.gz", b"\0" * 8, (np.arange(n_test) % 10).astype(np.uint8).tobytes())
    return directory


@pytest.fixture
def no_network(monkeypatch):
    calls = []
    monkeypatch.setattr(datasets, "_download", lambda directory, *a, **k: calls.append(directory) or False)
    monkeypatch.chdir(os.path.dirname(__file__))  # no data/ here
    return calls


def test_path_wins_over_env(tmp_path, monkeypatch, no_network):
    a = write_fake_mnist(str(tmp_path / "a"), value=1)
    b = write_fake_mnist(str(tmp_path / "b"), value=2)
    monkeypatch.setenv(datasets.DATA_ENV_VAR, b)
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_mnist(path=a, shape=(-1, 784))
    assert X_train.shape == (10, 784) and X_val.shape == (10000, 784) and X_test.shape == (7, 784)
    assert X_train.dtype == np.float32 and np.allclose(X_train, 1 / 256)
    assert y_train.dtype == np.int64 and list(y_train[:3]) == [0, 1, 2]
    assert datasets.load_mnist(shape=(-1, 28, 28, 1))[0][0, 0, 0, 0] == np.float32(2 / 256)  # env var
    assert no_network == []


def test_tl_default_data_dir_then_download_then_sample(tmp_path, monkeypatch, no_network):
    monkeypatch.delenv(datasets.DATA_ENV_VAR, raising=False)
    write_fake_mnist(str(tmp_path / "data"), value=3)
    monkeypatch.chdir(tmp_path)
    assert datasets.find_mnist_dir() == "data"
    shutil.rmtree(tmp_path / "data")
    with pytest.warns(UserWarning, match="embedded sample.*TENSORLAYER_XPLAIN_DATA"):
        X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_mnist(path=str(tmp_path / "none"))
    assert no_network == [str(tmp_path / "none")]  # tried to download into path first
    assert X_train.shape == (1500, 28, 28, 1) and X_val.shape == (500, 28, 28, 1) and X_test.shape == (500, 28, 28, 1)
    assert 0 <= X_train.min() and X_train.max() < 1 and set(np.unique(y_test)) == set(range(10))


def test_download_checks_md5(tmp_path, monkeypatch):
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"not mnist"))
    assert datasets._download(str(tmp_path), mirrors=("https://mirror.invalid/",)) is False
    assert os.listdir(tmp_path / "mnist") == []  # nothing half-written left behind


def test_real_mnist_when_available():
    directory = datasets.find_mnist_dir()
    if directory is None:
        pytest.skip("set TENSORLAYER_XPLAIN_DATA to a folder with mnist/ (the CI does)")
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_mnist(shape=(-1, 784))
    assert (len(X_train), len(X_val), len(X_test)) == (50000, 10000, 10000)
    assert X_train.max() < 1 and y_test.max() == 9
