"""explain_dataset and ExplanationStore: equal to in-memory explain, resumable after SIGKILL, flat memory."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import zarr

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.models import cnn

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
WORKER = os.path.join(HERE, "_store_worker.py")
METHODS = ["gradient", "integrated_gradients", "gradcam"]
CONFIG = {"integrated_gradients": {"steps": 8}}


@pytest.fixture(scope="module")
def model():
    return cnn(seed=0, filters=(2, 4), dense_units=8)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.rand(70, 28, 28, 1).astype(np.float32), rng.randint(0, 10, 70)


@pytest.fixture(scope="module")
def explainer(model):
    return tlxp.ModelExplainer(model, methods=METHODS, config=CONFIG, batch_size=16, cache=False)


@pytest.fixture(scope="module")
def store(explainer, data, tmp_path_factory):
    x, y = data
    return explainer.explain_dataset(x, tmp_path_factory.mktemp("s") / "a.zarr", chunk_size=32, labels=y,
                                     progress=False)


def _worker_env():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _save_weights(model, folder):
    np.savez(os.path.join(folder, "weights.npz"), **{"w%d" % i: w.numpy() for i, w in enumerate(model.all_weights)})


def test_store_equals_in_memory_explain(store, explainer, data):
    x, y = data
    assert len(store) == 70 and store.methods == METHODS and store.complete
    for name in METHODS:
        ref = explainer.explain(x, name)
        got = store[name][:]
        assert isinstance(got, tlxp.Explanation) and got.shape == ref.shape
        np.testing.assert_allclose(got.attributions, ref.attributions, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(got.targets, ref.targets)
        np.testing.assert_allclose(got.predictions, ref.predictions, atol=1e-6)
    np.testing.assert_array_equal(store.labels, y)
    # lazy row reads: a slice inside a chunk, across chunks, and a fancy index
    full = store["gradient"][:].attributions
    np.testing.assert_array_equal(store["gradient"][30:40].attributions, full[30:40])
    np.testing.assert_array_equal(store["gradient"][[65, 3, 40]].attributions, full[[65, 3, 40]])
    np.testing.assert_array_equal(store["ig"][5].attributions, store["integrated_gradients"][5:6].attributions)
    with pytest.raises(IndexError, match="index"):
        store["gradient"][70]
    with pytest.raises(KeyError, match="not in this store"):
        store["lime"]


def test_dataset_batches_are_rechunked(explainer, data, store, tmp_path):
    x, y = data
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(25)  # 25 per batch, stored in chunks of 32
    streamed = explainer.explain_dataset(ds, tmp_path / "ds.zarr", methods=["gradient"], chunk_size=32,
                                         progress=False)
    assert len(streamed) == 70 and streamed.group["gradient"]["attributions"].chunks[0] == 32
    np.testing.assert_array_equal(streamed["gradient"][:].attributions, store["gradient"][:].attributions)
    np.testing.assert_array_equal(streamed.labels, y)


def test_to_dask_and_class_means(store, data):
    dask_arrays = store.to_dask()
    full = store["gradcam"][:]
    np.testing.assert_allclose(dask_arrays["gradcam"].compute(), full.attributions)
    means, counts = store.class_mean_heatmaps("gradcam", by="label")
    heat, labels = full.heatmap(), data[1]
    for c in range(10):
        assert counts[c] == np.sum(labels == c)
        if counts[c]:
            np.testing.assert_allclose(means[c], heat[labels == c].mean(axis=0), rtol=1e-5, atol=1e-9)
        else:
            assert np.isnan(means[c]).all()
    table = store.summary(by="target")
    assert table.loc["gradient"]["n"].sum() == 70


def test_class_mean_figure_and_report(store, data, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    means, counts = tlxp.class_mean_heatmaps(store, "gradient", by="label", name=str(tmp_path / "means.png"))
    assert os.path.getsize(tmp_path / "means.png") > 0 and counts.sum() == 70
    assert plt.get_fignums() == before
    with pytest.raises(ValueError, match="inputs"):
        store.report([0, 1], tmp_path / "r.html")
    path = store.report([0, 5, 69], tmp_path / "r.html", inputs=data[0])
    text = open(path, encoding="utf-8").read()
    assert text.count("class='input'") == 3 and text.count("class='method'") == 9


@pytest.mark.slow
def test_resume_refuses_other_parameters_and_weights(explainer, model, data, tmp_path):
    x = data[0][:20]
    path = tmp_path / "r.zarr"
    explainer.explain_dataset(x, path, methods=["gradient", "integrated_gradients"], chunk_size=8, progress=False)
    with pytest.raises(ValueError, match=r"resume: .*methods"):
        tlxp.ModelExplainer(model, methods=["gradient", "integrated_gradients"], batch_size=16,
                            config={"integrated_gradients": {"steps": 9}}).explain_dataset(
            x, path, chunk_size=8, progress=False)
    with pytest.raises(ValueError, match=r"resume: .*chunk_size"):
        explainer.explain_dataset(x, path, methods=["gradient", "integrated_gradients"], chunk_size=4, progress=False)
    with pytest.raises(ValueError, match=r"resume: .*\bn \(store: 20"):
        explainer.explain_dataset(data[0][:24], path, methods=["gradient", "integrated_gradients"], chunk_size=8,
                                  progress=False)
    other = cnn(seed=1, filters=(2, 4), dense_units=8)
    with pytest.raises(ValueError, match=r"resume: .*weights"):
        tlxp.ModelExplainer(other, methods=["gradient", "integrated_gradients"], config=CONFIG,
                            batch_size=16).explain_dataset(x, path, chunk_size=8, progress=False)
    with pytest.warns(UserWarning, match="overwriting"):
        fresh = tlxp.ModelExplainer(other, methods=["gradient"]).explain_dataset(x, path, chunk_size=8, resume=False,
                                                                                   progress=False)
    assert fresh.methods == ["gradient"]
    foreign = zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w")
    foreign.create_array("data", shape=(3,), dtype="f4")
    with pytest.raises(ValueError, match="not a tensorlayer-xplain store"):
        explainer.explain_dataset(x, tmp_path / "foreign.zarr", progress=False)


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted_run(model, tmp_path):
    x = np.random.RandomState(3).rand(160, 28, 28, 1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    _save_weights(model, str(tmp_path))
    path = str(tmp_path / "store.zarr")
    proc = subprocess.Popen([sys.executable, WORKER, "run", str(tmp_path)], env=_worker_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                done = int(zarr.open_group(path, mode="r")["done"][:].sum())
            except Exception:  # not created yet
                done = 0
            if done >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed: %s" % proc.stderr.read()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    partial = zarr.open_group(path, mode="r")["done"][:]
    assert 2 <= partial.sum() < 10  # killed part-way through (10 chunks in all)

    # resume in this process (same weights, same parameters, same stream of batches)
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "integrated_gradients"], config=CONFIG,
                                    batch_size=16)
    resumed = explainer.explain_dataset(iter([x[i:i + 10] for i in range(0, 160, 10)]), path, chunk_size=16,
                                        progress=False)
    assert resumed.complete and len(resumed) == 160

    clean = explainer.explain_dataset(iter([x[i:i + 10] for i in range(0, 160, 10)]), tmp_path / "clean.zarr",
                                      chunk_size=16, progress=False)
    for name in clean.methods:
        np.testing.assert_array_equal(resumed[name][:].attributions, clean[name][:].attributions)
        np.testing.assert_array_equal(resumed[name][:].targets, clean[name][:].targets)
    np.testing.assert_array_equal(resumed.group["predictions"][:], clean.group["predictions"][:])


@pytest.mark.slow
def test_peak_memory_is_flat(model, tmp_path):
    _save_weights(model, str(tmp_path))
    peaks = {}
    for n in (1000, 10000):
        out = subprocess.run([sys.executable, WORKER, "rss", str(tmp_path), str(n)], env=_worker_env(),
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        peaks[n] = int(out.stdout.strip().splitlines()[-1])
    assert tlxp.open_store(str(tmp_path / "rss-10000.zarr")).complete
    assert peaks[10000] - peaks[1000] < 100 * 2 ** 20, peaks


def test_bad_arguments(explainer, data, tmp_path):
    x = data[0][:4]
    with pytest.raises(ValueError, match="chunk_size"):
        explainer.explain_dataset(x, tmp_path / "b.zarr", chunk_size=0)
    with pytest.raises(ValueError, match="labels"):
        explainer.explain_dataset(x, tmp_path / "b.zarr", labels=[1, 2])
    with pytest.raises(ValueError, match="targets"):
        explainer.explain_dataset(x, tmp_path / "b.zarr", targets=[1, 2])
    with pytest.raises(ValueError, match="empty"):
        explainer.explain_dataset(iter([]), tmp_path / "c.zarr")
    with pytest.raises(FileNotFoundError, match="path"):
        tlxp.open_store(tmp_path / "missing.zarr")


def test_progress_bar_logs_lines_without_a_tty():
    import io

    from tensorlayer_xplain.scale.chunking import progress_bar

    log = io.StringIO()
    bar = progress_bar(100, "demo", progress=True, stream=log)
    bar.update(40)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines and all("\r" not in line for line in lines)
    assert "40/100" in lines[-1] and "demo" in lines[-1]


@pytest.mark.slow
def test_cli_store_writes_and_refuses_a_changed_model(tmp_path, capsys):
    from tensorlayer_xplain.cli import main

    np.save(tmp_path / "x.npy", np.random.RandomState(4).rand(40, 28, 28, 1).astype(np.float32))
    argv = ["explain", "--model", "tensorlayer_xplain.models:cnn", "--data", str(tmp_path / "x.npy"), "--n", "40",
            "--methods", "gradient", "--store", str(tmp_path / "cli.zarr"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    store = tlxp.open_store(str(tmp_path / "cli.zarr"))
    assert len(store) == 40 and store.complete and os.path.exists(tmp_path / "out" / "report.html")
    capsys.readouterr()
    assert main(argv) == 2  # the builder draws new random weights: a resume is refused
    assert "weights" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
