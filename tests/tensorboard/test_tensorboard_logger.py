"""tlxp.tensorboard.ExplanationLogger on TensorLayer models: events read back with TensorBoard's own reader,
drift and agreement values, no retracing, the every/force schedule, the model left as it was, training
numerics unchanged, log_explanations, ExplanationStore.to_tensorboard and bad arguments (issue 28)."""
import io
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from scipy.stats import spearmanr
from tensorlayer.layers import Dense, Dropout, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.tensorboard import ExplanationLogger, image_grid, log_explanations

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator").EventAccumulator
PIL = pytest.importorskip("PIL.Image")

METHODS = ["gradient", "gradcam", "integrated_gradients"]
CONFIG = {"integrated_gradients": {"steps": 32}}


def read_events(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


def plugin(acc, tag):
    return acc.SummaryMetadata(tag).plugin_data.plugin_name


def steps_of(acc, tag):
    return [event.step for event in acc.Tensors(tag)]


def scalar_values(acc, tag):
    return [float(tf.make_ndarray(event.tensor_proto)) for event in acc.Tensors(tag)]


def png_of(acc, tag, index=0):
    # image summaries hold [width, height, png...] as strings
    blob = tf.make_ndarray(acc.Tensors(tag)[index].tensor_proto)
    width, height = int(blob[0]), int(blob[1])
    image = np.asarray(PIL.open(io.BytesIO(blob[2])))
    assert image.shape[:2] == (height, width)
    return image


@pytest.fixture
def watched(rng):
    return rng.random((6, 12, 12, 1), dtype=np.float32), np.arange(6) % 4


def test_events_read_back_per_method_and_step(static_cnn, watched, tmp_path):
    x, labels = watched
    with ExplanationLogger(tmp_path, x, methods=METHODS, labels=labels, config=CONFIG, max_images=4,
                           metric_params={"steps": 8}) as logger:
        for step in (0, 5, 10):
            logger.log(static_cnn, step)
    acc = read_events(tmp_path)
    for method in METHODS:
        assert plugin(acc, "explanations/%s" % method) == "images"
        assert steps_of(acc, "explanations/%s" % method) == [0, 5, 10]
        assert plugin(acc, "attributions/%s" % method) == "histograms"
        assert steps_of(acc, "attributions/%s" % method) == [0, 5, 10]
        assert plugin(acc, "metrics/deletion/%s" % method) == "scalars"
        assert steps_of(acc, "metrics/deletion/%s" % method) == [0, 5, 10]
        # drift needs an earlier step
        assert steps_of(acc, "drift/%s/previous" % method) == [5, 10]
        assert steps_of(acc, "drift/%s/first" % method) == [5, 10]
        assert plugin(acc, "parameters/%s" % method) == "text"
        assert steps_of(acc, "parameters/%s" % method) == [0]
    assert steps_of(acc, "completeness/integrated_gradients") == [0, 5, 10]
    assert "completeness/gradient" not in acc.Tags()["tensors"]
    for a, b in [("gradient", "gradcam"), ("gradient", "integrated_gradients"), ("gradcam", "integrated_gradients")]:
        assert steps_of(acc, "agreement/spearman/%s_vs_%s" % (a, b)) == [0, 5, 10]
        assert steps_of(acc, "agreement/top_k_iou/%s_vs_%s" % (a, b)) == [0, 5, 10]
    assert steps_of(acc, "watched/accuracy") == [0, 5, 10]
    # the values on disk are the ones the logger returned
    for tag in ("metrics/deletion/gradcam", "watched/accuracy", "completeness/integrated_gradients"):
        np.testing.assert_allclose(scalar_values(acc, tag), [h["scalars"][tag] for h in logger.history], rtol=1e-6)
    # one row of four 12x12 tiles enlarged 8 times (the most), with 2-pixel gaps; the heatmap colours it
    image = png_of(acc, "explanations/gradcam")
    assert image.shape == (96, 4 * 96 + 3 * 2, 3)
    assert image.std() > 10
    histogram = tf.make_ndarray(acc.Tensors("attributions/gradient")[0].tensor_proto)  # (bins, 3): left, right, count
    assert histogram[:, 2].sum() == x.size


def test_scalars_equal_independent_computations(static_cnn, watched, tmp_path):
    x, labels = watched
    logger = ExplanationLogger(tmp_path, x, methods=METHODS, labels=labels, config=CONFIG, metric_params={"steps": 8})
    first = logger.log(static_cnn, 0)
    exps = {m: tlxp.explain(static_cnn, x, m, labels, **CONFIG.get(m, {})) for m in METHODS}
    for m in METHODS:
        expected = tlxp.metrics.deletion(static_cnn, exps[m], steps=8).mean_auc
        assert first["metrics/deletion/%s" % m] == pytest.approx(expected, rel=1e-6)
    rho, iou = tlxp.metrics.method_agreement(exps)
    assert first["agreement/spearman/gradient_vs_gradcam"] == pytest.approx(rho.loc["gradient", "gradcam"])
    assert first["agreement/top_k_iou/gradient_vs_gradcam"] == pytest.approx(iou.loc["gradient", "gradcam"])
    gap = exps["integrated_gradients"].meta["completeness_gap"]
    assert first["completeness/integrated_gradients"] == pytest.approx(float(np.mean(gap)), rel=1e-5)
    predicted = np.argmax(tlxp.as_adapter(static_cnn).predict(x), 1)
    assert first["watched/accuracy"] == pytest.approx(np.mean(predicted == labels))

    # unchanged model: no drift at all
    same = logger.log(static_cnn, 1)
    assert same["drift/gradient/previous"] == pytest.approx(1.0)
    assert same["drift/gradcam/first"] == pytest.approx(1.0)

    # changed weights: drift is the mean Spearman correlation of |heatmap| per input, with scipy
    saved = [w.numpy() for w in static_cnn.all_weights]
    try:
        for i, w in enumerate(static_cnn.all_weights):
            w.assign(w + tf.random.stateless_normal(w.shape, (i, 7)) * 0.3)
        moved = logger.log(static_cnn, 2)
        after = tlxp.explain(static_cnn, x, "gradient", labels)
    finally:
        for w, value in zip(static_cnn.all_weights, saved):
            w.assign(value)
    before = np.abs(exps["gradient"].heatmap()).reshape(len(x), -1)
    now = np.abs(after.heatmap()).reshape(len(x), -1)
    expected = np.mean([spearmanr(a, b)[0] for a, b in zip(before, now)])
    assert moved["drift/gradient/first"] == pytest.approx(expected, abs=1e-6)
    assert moved["drift/gradient/previous"] == pytest.approx(expected, abs=1e-6)
    assert moved["drift/gradient/first"] < 0.99
    logger.close()


def test_compiled_steps_reused_without_retracing(static_cnn, watched, tmp_path):
    x, labels = watched
    logger = ExplanationLogger(tmp_path, x, methods=METHODS, labels=labels, config=CONFIG, metric_params={"steps": 8})
    logger.log(static_cnn, 0)
    explainer = logger.explainer
    traces = explainer.adapter.trace_count
    assert traces > 0
    for step in range(1, 4):
        logger.log(static_cnn, step)
    assert logger.explainer is explainer
    assert explainer.adapter.trace_count == traces
    logger.close()


def test_every_and_force(static_cnn, watched, tmp_path):
    x, _ = watched
    logger = ExplanationLogger(tmp_path, x, methods=["gradient"], metrics=(), every=3)
    logged = [logger.log(static_cnn, step) is not None for step in range(7)]
    assert logged == [True, False, False, True, False, False, True]
    assert logger.log(static_cnn, 7, force=True) is not None
    assert [h["step"] for h in logger.history] == [0, 3, 6, 7]
    logger.close()
    acc = read_events(tmp_path)
    assert steps_of(acc, "explanations/gradient") == [0, 3, 6, 7]
    assert not [t for t in acc.Tags()["tensors"] if t.startswith("agreement/") or t.startswith("metrics/")]


@pytest.mark.parametrize("mode", ["train", "eval", "fresh"])
def test_model_left_as_it_was(dynamic_cnn, watched, tmp_path, mode):
    x, labels = watched
    if mode == "train":
        dynamic_cnn.train()
    elif mode == "eval":
        dynamic_cnn.eval()
    layers = tlxp.ModelAdapter(dynamic_cnn).iter_layers()
    flags = [vars(obj).get("is_train", "unset") for obj in [dynamic_cnn] + layers]
    weights = [w.numpy().copy() for w in dynamic_cnn.all_weights]
    logger = ExplanationLogger(tmp_path, x, methods=["gradient", "gradcam"], labels=labels, metric_params={"steps": 5})
    logger.log(dynamic_cnn, 0)
    logger.log(dynamic_cnn, 1)
    logger.close()
    assert [vars(obj).get("is_train", "unset") for obj in [dynamic_cnn] + layers] == flags
    for before, w in zip(weights, dynamic_cnn.all_weights):
        np.testing.assert_array_equal(before, w.numpy())
    assert not any("forward" in vars(layer) for layer in layers)


def _dropout_mlp(seed):
    tf.random.set_seed(seed)
    ni = Input([None, 64])
    nn = Dense(32, act=tf.nn.relu, in_channels=64)(ni)
    nn = Dropout(keep=0.7)(nn)
    nn = Dense(5, in_channels=32)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def _noisy_method(adapter, inputs, targets):
    """A user method drawing from every global random source a training loop also uses."""
    noise = np.random.rand(*inputs.shape) + tf.random.normal(inputs.shape).numpy()
    import random

    return (noise * random.random()).astype(np.float32)


def _train_tutorial_style(logger_methods, seed=3):
    """The TL tutorial loop (eager, dropout, tl.iterate.minibatches shuffling with np.random)."""
    data = np.random.default_rng(0)
    X = data.random((96, 64), dtype=np.float32)
    y = data.integers(0, 5, 96)
    model = _dropout_mlp(seed)
    np.random.seed(seed)
    optimizer = tf.optimizers.Adam(learning_rate=1e-2)
    weights = model.trainable_weights
    logger = None
    if logger_methods:
        import tempfile

        logger = ExplanationLogger(tempfile.mkdtemp(), X[:4], methods=logger_methods, labels=y[:4],
                                   image_shape=(8, 8, 1), metric_params={"steps": 4})
    for epoch in range(3):
        for xb, yb in tl.iterate.minibatches(X, y, 32, shuffle=True):
            model.train()
            with tf.GradientTape() as tape:
                loss = tl.cost.cross_entropy(model(xb), yb, name="train_loss")
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        if logger is not None:
            model.eval()
            logger.log(model, epoch)
    if logger is not None:
        logger.close()
    return [w.numpy() for w in model.all_weights], [v.numpy() for v in optimizer.variables]


@pytest.mark.slow
def test_training_numerics_unchanged_by_the_logger():
    tlxp.register_method("noisy_everywhere_tb_test")(_noisy_method)
    try:
        plain_w, plain_opt = _train_tutorial_style(None)
        logged_w, logged_opt = _train_tutorial_style(["gradient", "noisy_everywhere_tb_test"])
    finally:
        tlxp.unregister_method("noisy_everywhere_tb_test")
    for a, b in zip(plain_w, logged_w):
        np.testing.assert_array_equal(a, b)
    assert len(plain_opt) == len(logged_opt)
    for a, b in zip(plain_opt, logged_opt):
        np.testing.assert_array_equal(a, b)


def test_log_explanations_and_image_grid(static_cnn, watched, tmp_path):
    x, _ = watched
    exps = [tlxp.explain(static_cnn, x, "gradient"), tlxp.explain(static_cnn, x, "gradient", targets=0)]
    writer = tf.summary.create_file_writer(str(tmp_path))
    tags = log_explanations(writer, exps, step=4, max_images=3)
    writer.close()
    assert tags == ["explanations/gradient", "attributions/gradient", "parameters/gradient",
                    "explanations/gradient#2", "attributions/gradient#2", "parameters/gradient#2"]
    acc = read_events(tmp_path)
    assert steps_of(acc, "explanations/gradient#2") == [4]
    assert png_of(acc, "explanations/gradient").shape == (96, 3 * 96 + 4, 3)
    # a folder works too, and the grid layout is the documented one
    assert log_explanations(tmp_path / "other", exps[0], step=0, text=False) == [
        "explanations/gradient", "attributions/gradient"]
    grid = image_grid(np.zeros((5, 30, 30, 3)), columns=2)
    assert grid.shape == (3 * 120 + 4, 2 * 120 + 2, 3)
    assert grid[120:122].min() == 1.0  # white gap between rows


def test_store_to_tensorboard(static_cnn, tmp_path, rng):
    pytest.importorskip("zarr")
    x = rng.random((20, 12, 12, 1), dtype=np.float32)
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient", "gradcam"])
    store = explainer.explain_dataset(x, tmp_path / "s.zarr", chunk_size=8, progress=False)
    tags = store.to_tensorboard(tmp_path / "tb")
    means, counts = store.class_mean_heatmaps("gradcam")
    present = int((counts > 0).sum())
    assert tags == ["class_means/gradient", "class_counts/gradient", "class_means/gradcam", "class_counts/gradcam"]
    acc = read_events(tmp_path / "tb")
    assert plugin(acc, "class_means/gradcam") == "images"
    image = png_of(acc, "class_means/gradcam")
    cols = min(present, 5)
    assert image.shape[1] == cols * 96 + 2 * (cols - 1)
    assert store.to_tensorboard(tmp_path / "tb2", methods=["gradcam"], step=3) == [
        "class_means/gradcam", "class_counts/gradcam"]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"inputs": None}, ValueError, "inputs: expected a non-empty batch"),
    ({"inputs": np.zeros((0, 12, 12, 1))}, ValueError, "inputs: expected a non-empty batch"),
    ({"inputs": np.full((2, 12, 12, 1), np.nan)}, ValueError, "inputs: expected finite"),
    ({"inputs": np.zeros((513, 4))}, ValueError, "at most 512"),
    ({"methods": ["gradient", "no_such_method"]}, KeyError, "no_such_method"),
    ({"methods": []}, ValueError, "at least one method"),
    ({"methods": "gradient"}, TypeError, "list of method names"),
    ({"metrics": ["no_such_metric"]}, KeyError, "no_such_metric"),
    ({"every": 0}, ValueError, "every: expected an int >= 1, got 0"),
    ({"every": 1.5}, TypeError, "every"),
    ({"max_images": 0}, ValueError, "max_images"),
    ({"max_images": 65}, ValueError, "max_images"),
    ({"labels": [0, 1]}, ValueError, "labels: expected 3 integer classes"),
    ({"targets": [0.5, 1, 2]}, ValueError, "targets: expected 3 integer classes"),
    ({"config": {"gradient": {"no_param": 1}}}, TypeError, "no_param"),
    ({"logdir": None}, TypeError, "logdir"),
])
def test_bad_arguments_give_clear_errors(tmp_path, kwargs, error, words):
    args = dict(logdir=tmp_path, inputs=np.zeros((3, 12, 12, 1), np.float32))
    args.update(kwargs)
    with pytest.raises(error, match=words.replace("[", r"\[")):
        ExplanationLogger(**args)


def test_bad_log_arguments(static_cnn, tmp_path):
    logger = ExplanationLogger(tmp_path, np.zeros((2, 12, 12, 1), np.float32), methods=["gradient"], metrics=())
    with pytest.raises(ValueError, match="step: expected an int >= 0, got -1"):
        logger.log(static_cnn, -1)
    with pytest.raises(ValueError, match="update_freq"):
        logger.keras_callback(update_freq="sometimes")
    with pytest.raises(ValueError, match="alpha"):
        x = np.random.default_rng(1).random((2, 12, 12, 1), dtype=np.float32)
        log_explanations(tmp_path, tlxp.explain(static_cnn, x), 0, alpha=2)
    logger.close()


def test_missing_tensorboard_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install tensorlayer-xplain\[tensorboard\]"):
        ExplanationLogger(tmp_path, np.zeros((2, 12, 12, 1), np.float32))
    with pytest.raises(ImportError, match=r"tensorlayer-xplain\[tensorboard\]"):
        log_explanations(tmp_path, [], 0)


@pytest.mark.slow  # a fresh interpreter importing TensorFlow: 8-25 s on the shared machine
def test_package_import_does_not_import_tensorboard():
    import subprocess

    code = ("import sys, tensorlayer_xplain as tlxp; tlxp.tensorboard.ExplanationLogger; "
            "print('tensorboard' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_watched_batch_is_a_copy(static_cnn, watched, tmp_path):
    x, _ = watched
    original = x.copy()
    logger = ExplanationLogger(tmp_path, x, methods=["gradient"], metrics=())
    x[:] = 0.0  # the caller reuses its array
    first = logger.log(static_cnn, 0)
    np.testing.assert_array_equal(logger.inputs, original)
    assert "watched/accuracy" not in first
    logger.close()
