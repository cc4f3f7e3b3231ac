"""No "triggered tf.function retracing" warning reaches a user who explains several models in one process.

TensorFlow counts the traces of every ``tf.function`` made from the same Python code (one
per model here) and, when 5 of the last calls traced, logs that warning. The package makes a
few such functions per model (compiled steps, the weights fingerprint's reader and hasher);
before they were called as concrete functions, the fingerprint's hasher warned from the
fifth model a ``ModelExplainer`` explained on.
"""
import logging

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager.polymorphic_function import polymorphic_function

import tensorlayer_xplain as tlxp


@pytest.fixture
def tf_log(monkeypatch):
    """Messages TensorFlow logs during the test, with a fresh retracing detector (the counts are per process)."""
    monkeypatch.setattr(polymorphic_function, "_frequent_tracing_detector_manager",
                        polymorphic_function._FrequentTracingDetectorManager())
    messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Handler(logging.WARNING)
    tf.get_logger().addHandler(handler)
    yield messages
    tf.get_logger().removeHandler(handler)


def _retracing(messages):
    return [m for m in messages if "retracing" in m]


def test_the_capture_sees_tensorflows_retracing_warning(tf_log):
    def make(value):
        def double():
            return value * 2.0

        return tf.function(double, autograph=False)

    for i in range(6):  # a new tf.function from the same code per "model", each traced on its call
        make(tf.Variable(float(i)))()
    assert _retracing(tf_log), "the handler did not capture TensorFlow's warning: the test below proves nothing"


@pytest.mark.slow  # six models, three methods: about 12 s on 2 loaded cores
def test_explaining_six_models_logs_no_retracing_warning(tf_log, tiny_model_builders, recwarn):
    x = np.random.default_rng(0).random((2, 12, 12, 1), np.float32)
    models = [tiny_model_builders[i % 3](seed=i) for i in range(6)]
    for model in models:  # one method per loop: the detector's count is not diluted by other functions' calls
        exp = tlxp.ModelExplainer(model, methods=["gradient"]).explain(x)
        assert exp.attributions.shape == x.shape
    for model in models:
        tlxp.explain(model, x, "occlusion", window=4, stride=4)
    for model in models:
        tlxp.ModelExplainer(model).explain(x, "lime", num_samples=16)
    assert not _retracing(tf_log), _retracing(tf_log)[0]
    assert not [w for w in recwarn if "retracing" in str(w.message)]
