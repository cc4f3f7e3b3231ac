"""ExplanationLogger.keras_callback in keras.Model.fit: logs at the chosen frequency, changes no weight (issue 28)."""
import numpy as np
import pytest

from tensorlayer_xplain.tensorboard import ExplanationLogger

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator").EventAccumulator


def _sequential(seed):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((10, 10, 1)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


def _fit(callback_of=None, epochs=2, seed=0):
    """A tiny fit: 24 samples, batch 6 (4 batches per epoch), no shuffling."""
    import keras

    data = np.random.default_rng(0)
    x = data.random((24, 10, 10, 1), dtype=np.float32)
    y = data.integers(0, 3, 24)
    model = _sequential(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = [callback_of(x, y)] if callback_of else []
    model.fit(x, y, epochs=epochs, batch_size=6, shuffle=False, verbose=0, callbacks=callbacks)
    return model


def _logged_steps(logdir, tag):
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return [event.step for event in acc.Tensors(tag)]


@pytest.mark.slow
def test_epoch_frequency_logs_once_per_epoch(tmp_path):
    loggers = []

    def callback(x, y):
        loggers.append(ExplanationLogger(tmp_path, x[:4], methods=["gradient", "gradcam"], labels=y[:4],
                                         metric_params={"steps": 5}))
        return loggers[0].keras_callback()

    _fit(callback)
    loggers[0].close()
    assert [h["step"] for h in loggers[0].history] == [0, 1]
    for tag in ("explanations/gradcam", "attributions/gradient", "metrics/deletion/gradcam",
                "agreement/spearman/gradient_vs_gradcam"):
        assert _logged_steps(tmp_path, tag) == [0, 1]
    assert _logged_steps(tmp_path, "drift/gradcam/previous") == [1]
    # trained weights changed the maps between the two epochs, and the logger saw it
    assert loggers[0].history[1]["scalars"]["drift/gradient/first"] < 1.0


@pytest.mark.slow
def test_batch_frequency_counts_training_batches(tmp_path):
    loggers = []

    def callback(x, y):
        loggers.append(ExplanationLogger(tmp_path, x[:2], methods=["gradient"], metrics=(), every=3))
        return loggers[0].keras_callback(update_freq="batch")

    _fit(callback)  # 2 epochs x 4 batches = global batches 0..7
    loggers[0].close()
    assert _logged_steps(tmp_path, "explanations/gradient") == [0, 3, 6]


@pytest.mark.slow
def test_fit_with_the_callback_trains_the_same_weights(tmp_path):
    plain = _fit()

    def callback(x, y):
        return ExplanationLogger(tmp_path, x[:4], labels=y[:4], metric_params={"steps": 5}).keras_callback()

    logged = _fit(callback)
    assert len(plain.weights) == len(logged.weights)
    for a, b in zip(plain.weights, logged.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(plain.optimizer.variables, logged.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
