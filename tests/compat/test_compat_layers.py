"""TensorLayer's normalization layers inside ``tf.function``: the ``_compat.layers`` patches against TL's own eager
code.

The references are TensorLayer 2.2.5's original ``forward`` methods (kept by the
patch as ``forward._tlxp_original``), run eagerly, and hand-written GradientTape
code; nothing here goes through the adapter on both sides of a comparison.
"""
import importlib.util
import os
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorflow.python.ops.resource_variable_ops import ResourceVariable
from tensorlayer.layers import BatchNorm2d, Conv2d, Dense, Flatten, MaxPool2d

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import _compat

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 12


def static_bn_cnn(seed=0):
    """The CIFAR-10 tutorial's BatchNorm CNN, shrunk: 12x12x3 -> 4 classes."""
    return tlxp.models.cifar10_batchnorm(seed=seed, size=SIZE, filters=4, dense_units=(8, 6), n_classes=4)


class DynamicBNCNN(tl.models.Model):
    """Conv -> BatchNorm2d(relu) -> pool, twice, -> Dense: a dynamic TL model with BatchNorm."""

    def __init__(self):
        super().__init__()
        self.conv1 = Conv2d(4, (3, 3), (1, 1), padding="SAME", b_init=None, in_channels=3)
        self.bn1 = BatchNorm2d(num_features=4, act=tf.nn.relu, decay=0.9)
        self.pool1 = MaxPool2d((2, 2), (2, 2), padding="SAME")
        self.conv2 = Conv2d(6, (3, 3), (1, 1), padding="SAME", b_init=None, in_channels=4)
        self.bn2 = BatchNorm2d(num_features=6, act=tf.nn.relu, decay=0.9)
        self.pool2 = MaxPool2d((2, 2), (2, 2), padding="SAME")
        self.flat = Flatten()
        self.dense = Dense(4, in_channels=(SIZE // 4) ** 2 * 6)

    def forward(self, x):
        x = self.pool1(self.bn1(self.conv1(x)))
        return self.dense(self.flat(self.pool2(self.bn2(self.conv2(x)))))

    def stages(self):
        """Layers in call order, for calling them by hand."""
        return [self.conv1, self.bn1, self.pool1, self.conv2, self.bn2, self.pool2, self.flat, self.dense]


def dynamic_bn_cnn(seed=0):
    tf.random.set_seed(seed)
    return DynamicBNCNN()


BUILDERS = {"static": static_bn_cnn, "dynamic": dynamic_bn_cnn}


def stages(model):
    """Every layer of a model in call order (a static model's ``all_layers`` is in call order)."""
    if isinstance(model, DynamicBNCNN):
        return model.stages()
    return [layer for layer in model.all_layers if type(layer).__name__ != "_InputLayer"]


def batchnorms(model):
    return [layer for layer in stages(model) if isinstance(layer, tl.layers.BatchNorm)]


def data(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZE, SIZE, 3)).astype(np.float32), rng.integers(0, 4, n).astype(np.int32)


def copy_weights(source, target):
    for a, b in zip(source.all_weights, target.all_weights):
        b.assign(a)


def train_step(model, x, y, compiled):
    """One SGD step in training mode, eagerly or as a ``tf.function``; returns the training logits."""
    weights = model.trainable_weights
    optimizer = tf.optimizers.SGD(0.1)

    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return logits

    model.train()
    try:
        return np.asarray((tf.function(step) if compiled else step)(tf.constant(x), tf.constant(y)))
    finally:
        model.eval()


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def trained(request):
    """A BatchNorm CNN (static or dynamic) trained one compiled step, in eval mode."""
    model = BUILDERS[request.param](seed=3)
    x, y = data(1)
    train_step(model, x, y, compiled=True)
    return model


def test_patches_applied_once():
    assert "batchnorm_tf_function" in _compat.APPLIED
    assert _compat.APPLIED.count("batchnorm_tf_function") == 1
    assert _compat.apply_patches() == _compat.APPLIED
    assert tl.layers.BatchNorm.forward._tlxp_patch == "batchnorm_tf_function"
    assert tl.layers.BatchNorm2d.forward is tl.layers.BatchNorm.forward


def test_moving_statistics_stay_variables(trained):
    for bn in batchnorms(trained):
        for stat in (bn.moving_mean, bn.moving_var):
            assert type(stat) is ResourceVariable
            assert any(stat is w for w in trained.all_weights)
        assert np.any(bn.moving_var.numpy() > 0), "the training step did not update moving_var"


def test_compiled_output_equals_eager(trained):
    x, _ = data(2)
    trained.eval()
    eager = trained(tf.constant(x)).numpy()
    compiled = tlxp.as_adapter(trained).predict(x)
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)


def test_gradient_equals_eager_tape(trained):
    x, _ = data(3)
    targets = np.array([0, 1, 2, 3, 1, 0])
    trained.eval()
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        selected = tf.gather(trained(xt), targets, batch_dims=1)
    expected = tape.gradient(selected, xt).numpy()
    got = tlxp.explain(trained, x, "gradient", targets, absolute=False)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-5)


def test_gradcam_equals_keras_recipe(trained):
    """The Keras ``make_gradcam_heatmap`` recipe, layers called by hand, at the second BatchNorm's output."""
    x, _ = data(4)
    targets = np.array([1, 0, 3, 2, 2, 1])
    layers = stages(trained)
    cut = layers.index(batchnorms(trained)[-1]) + 1
    trained.eval()
    with tf.GradientTape() as tape:
        conv_out = tf.constant(x)
        for layer in layers[:cut]:
            conv_out = layer.forward(conv_out)
        preds = conv_out
        for layer in layers[cut:]:
            preds = layer.forward(preds)
        class_channel = tf.gather(preds, targets, batch_dims=1)
    grads = tape.gradient(class_channel, conv_out)
    pooled = tf.reduce_mean(grads, axis=(1, 2))
    heatmap = tf.maximum(tf.einsum("nhwc,nc->nhw", conv_out, pooled), 0)
    expected = tf.image.resize(heatmap[..., None], (SIZE, SIZE), method="bilinear")[..., 0].numpy()
    exp = tlxp.explain(trained, x, "gradcam", targets, layer_name=layers[cut - 1].name)
    assert expected.max() > 0
    np.testing.assert_allclose(exp.heatmap() / expected.max(), expected / expected.max(), atol=1e-5)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.slow
def test_compiled_train_step_updates_like_tl_eager(kind):
    """TL's own eager BatchNorm (the original forward) vs the patched one in a compiled step: same numbers."""
    reference, patched = BUILDERS[kind](seed=5), BUILDERS[kind](seed=6)
    copy_weights(reference, patched)
    original = tl.layers.BatchNorm.forward._tlxp_original
    ref_bns = batchnorms(reference)
    for bn in ref_bns:
        bn.forward = types.MethodType(original, bn)
    x, y = data(5)
    try:
        ref_logits = train_step(reference, x, y, compiled=False)
        # TL's own code rebinds the statistics: the symptom the patch removes
        assert type(ref_bns[0].moving_mean).__name__ == "_UnreadVariable"
    finally:
        for bn in ref_bns:
            del bn.forward
    logits = train_step(patched, x, y, compiled=True)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-5, rtol=1e-5)
    for a, b in zip(reference.all_weights, patched.all_weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5, rtol=1e-5, err_msg=b.name)
    for bn in batchnorms(patched):
        assert type(bn.moving_mean) is ResourceVariable and type(bn.moving_var) is ResourceVariable
    # a model left with _UnreadVariable statistics by TL's own code is repaired on its next call
    x2, _ = data(6)
    np.testing.assert_allclose(tlxp.as_adapter(reference).predict(x2), tlxp.as_adapter(patched).predict(x2),
                               atol=1e-5, rtol=1e-5)
    assert all(type(bn.moving_mean) is ResourceVariable for bn in ref_bns)


def test_explaining_leaves_batchnorm_model_unchanged(trained):
    from conftest import assert_same_state, model_state

    before = model_state(trained)
    stats = [(bn, bn.moving_mean, bn.moving_var) for bn in batchnorms(trained)]
    x, _ = data(7, n=2)
    for method in ("gradient", "gradcam", "guided_backprop"):
        tlxp.explain(trained, x, method)
    assert_same_state(before, model_state(trained))
    assert all(bn.moving_mean is m and bn.moving_var is v for bn, m, v in stats)


NORMS = {
    "InstanceNorm": (lambda: tl.layers.InstanceNorm(), (5, 5, 3)),
    "InstanceNorm1d": (lambda: tl.layers.InstanceNorm1d(), (7, 3)),
    "LayerNorm": (lambda: tl.layers.LayerNorm(), (5, 5, 3)),
    "GroupNorm": (lambda: tl.layers.GroupNorm(groups=2), (5, 5, 4)),
}


@pytest.mark.parametrize("name", sorted(NORMS))
def test_norms_on_batches_equal_tl_per_sample(name):
    """TL's original code only handles one sample at a time: the patched layer on a batch equals it per sample."""
    make, shape = NORMS[name]
    ni = tl.layers.Input([None] + list(shape))
    layer = make()
    model = tl.models.Model(inputs=ni, outputs=layer(ni))
    model.eval()
    rng = np.random.default_rng(1)
    for w in layer.all_weights:  # non-trivial gamma / beta
        w.assign(rng.normal(1.0, 0.5, w.shape).astype(np.float32))
    x = rng.standard_normal((3,) + shape).astype(np.float32) * 2 + 1
    original = type(layer).forward._tlxp_original
    expected = np.concatenate([original(layer, tf.constant(x[i:i + 1])).numpy() for i in range(3)])
    eager = model(tf.constant(x)).numpy()
    compiled = tf.function(lambda b: model(b), input_signature=[tf.TensorSpec((None,) + shape, tf.float32)])
    np.testing.assert_allclose(eager, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(compiled(tf.constant(x)).numpy(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_layer_table_rows_for_patched_layers_hold():
    """The generated table's claims for the patched layers, re-run here (patched process)."""
    spec = importlib.util.spec_from_file_location("make_layer_table", os.path.join(ROOT, "docs", "make_layer_table.py"))
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    names = ["BatchNorm", "BatchNorm3d", "LayerList", "ModelLayer", "GroupNorm", "LayerNorm", "DropconnectDense"]
    results = table.run_cases([case for case in table.CASES if case[0] in names])
    assert results == {name: ("ok", "") for name in names}
    with open(os.path.join(ROOT, "docs", "layer_table.inc"), encoding="utf-8") as f:
        committed = f.read()
    for name in names:
        row = committed.split("* - ``%s``\n" % name, 1)[1].splitlines()
        assert row[1].strip() == "- ok", (name, row[:3])


@pytest.mark.slow
def test_calibrate_batchnorm_sets_batch_statistics():
    model = static_bn_cnn(seed=8)
    model.eval()
    x, _ = data(8)
    layers = stages(model)
    first = batchnorms(model)[0]
    conv_out = layers[layers.index(first) - 1].forward(tf.constant(x))
    weights = [w.numpy().copy() for w in model.trainable_weights]
    assert tlxp.models.calibrate_batchnorm(model, x) == batchnorms(model)
    mean, var = tf.nn.moments(conv_out, [0, 1, 2])
    np.testing.assert_allclose(first.moving_mean.numpy(), mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(first.moving_var.numpy(), var.numpy(), atol=1e-5)
    assert first.decay == 0.99 and model.is_train is False and first.is_train is False
    for a, b in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())
