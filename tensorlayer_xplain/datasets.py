"""MNIST for examples, tests and benchmarks, offline whenever the files are present.

:func:`load_mnist` looks for the four standard IDX ``.gz`` files in ``<dir>/mnist/``
for each ``dir`` in this order: the ``path`` argument, the environment variable
``TENSORLAYER_XPLAIN_DATA``, TensorLayer's default ``data/`` folder. If none has
them it downloads them from public mirrors (checking MD5 sums), and if that fails
it falls back to a small sample shipped with the package (2,000 training and 500
test digits from MNIST, by Yann LeCun, Corinna Cortes and Christopher Burges,
available under CC BY-SA 3.0) with a warning saying how to get the full set.
"""
import gzip
import hashlib
import os
import urllib.request
import warnings

import numpy as np

from ._utils.io import atomic_path

__all__ = ["load_mnist", "find_mnist_dir", "MNIST_FILES", "DATA_ENV_VAR"]

#: Environment variable naming a folder that contains ``mnist/``.
DATA_ENV_VAR = "TENSORLAYER_XPLAIN_DATA"

#: File name -> MD5 of the canonical MNIST files.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Mirrors that still serve the original files (yann.lecun.com answers 403).
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

_SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mnist_sample.npz")


def _has_files(directory):
    return directory is not None and all(
        os.path.isfile(os.path.join(directory, "mnist", name)) for name in MNIST_FILES
    )


def _candidates(path):
    return [d for d in (path, os.environ.get(DATA_ENV_VAR) or None, "data") if d]


def find_mnist_dir(path=None):
    """The first folder (of ``path``, ``$TENSORLAYER_XPLAIN_DATA``, ``data``) holding ``mnist/``'s files, or None."""
    for directory in _candidates(path):
        if _has_files(directory):
            return directory
    return None


def _md5(filename):
    h = hashlib.md5()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(directory, mirrors=MIRRORS, timeout=30):
    """Fetch the four files into ``directory/mnist``; True when all arrived with the right MD5."""
    target = os.path.join(directory, "mnist")
    os.makedirs(target, exist_ok=True)
    for name, md5 in MNIST_FILES.items():
        final = os.path.join(target, name)
        if os.path.isfile(final) and _md5(final) == md5:
            continue
        for mirror in mirrors:
            try:
                with atomic_path(final) as tmp:
                    with urllib.request.urlopen(mirror + name, timeout=timeout) as response, open(tmp, "wb") as out:
                        out.write(response.read())
                    if _md5(tmp) != md5:
                        raise ValueError("MD5 mismatch for %s from %s" % (name, mirror))
                break
            except (OSError, ValueError):
                continue
        else:
            return False
    return True


def _read_idx(filename, offset):
    with gzip.open(filename, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _load_sample():
    with np.load(_SAMPLE) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]
    n_val = len(x_test)
    return (x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:], x_test, y_test)


def _load_files(directory):
    d = os.path.join(directory, "mnist")
    x_train = _read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    y_train = _read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"), 8)
    x_test = _read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    y_test = _read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), 8)
    # TensorLayer's split: the last 10,000 training digits are the validation set
    return (x_train[:-10000], y_train[:-10000], x_train[-10000:], y_train[-10000:], x_test, y_test)


def load_mnist(path=None, shape=(-1, 28, 28, 1), download=True):
    """Load MNIST as TensorLayer does: train 50k / val 10k / test 10k.

    Parameters
    ----------
    path : str, optional
        Folder containing ``mnist/<the four .gz files>``; searched first.
    shape : tuple
        Shape of the image arrays, e.g. ``(-1, 784)`` for the MLP or
        ``(-1, 28, 28, 1)`` (default) for CNNs.
    download : bool
        Try the public mirrors when no folder has the files.

    Returns
    -------
    X_train, y_train, X_val, y_val, X_test, y_test : ndarray
        Images float32 in [0, 1) (pixel / 256, as TensorLayer), labels int64.
        With the embedded sample: 1,500 / 500 / 500 digits.

    Examples
    --------
    >>> X_train, y_train, X_val, y_val, X_test, y_test = load_mnist(shape=(-1, 784))
    >>> X_train.shape[1], X_train.dtype     # 50,000 rows with the MNIST files, 1,500 with the sample
    (784, dtype('float32'))
    """
    shape = tuple(shape)
    directory = find_mnist_dir(path)
    if directory is None and download:
        first = _candidates(path)[0]
        if _download(first):
            directory = first
    if directory is not None:
        splits = _load_files(directory)
    else:
        warnings.warn(
            "MNIST files not found in %s and could not be downloaded; using the embedded sample "
            "(1,500 train / 500 val / 500 test digits). For the full set put the four IDX .gz files in "
            "<dir>/mnist/ and pass path=<dir> or set %s=<dir>." % (_candidates(path), DATA_ENV_VAR),
            UserWarning,
            stacklevel=2,
        )
        splits = _load_sample()
    out = []
    for i, arr in enumerate(splits):
        if i % 2 == 0:
            out.append((arr.astype(np.float32) / np.float32(256.0)).reshape(shape))
        else:
            out.append(arr.astype(np.int64))
    return tuple(out)
