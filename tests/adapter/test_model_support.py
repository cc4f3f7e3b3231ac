"""Models the explainers meet in the wild: untraceable layers, 1x1 heads, plain callables."""
import types
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import BatchNorm2d, Conv2d, Dense, Flatten, GlobalMeanPool2d, Input, Layer, Reshape

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter._compile import CompiledStep, CompileWarning

from conftest import assert_same_state, model_state, tiny_mlp


class NumpyGate(Layer):
    """Scales its input by a Python float read with ``.numpy()``: fine eagerly, cannot be traced."""

    def __init__(self):
        super().__init__()
        self.fail_eagerly = False
        self.build(None)
        self._built = True

    def __repr__(self):
        return "NumpyGate(name='%s')" % self.name

    def build(self, inputs_shape):
        pass

    def forward(self, inputs):
        if self.fail_eagerly:
            raise ValueError("this layer is broken")
        return inputs * float(2.0 + np.tanh(inputs.numpy().mean()))


def gated_cnn(fail_eagerly=False, seed=0):
    tf.random.set_seed(seed)
    ni = Input([None, 8, 8, 1])
    nn = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=1)(ni)
    gate = NumpyGate()
    nn = gate(nn)
    nn = Dense(3, in_channels=8 * 8 * 3)(Flatten()(nn))
    gate.fail_eagerly = fail_eagerly  # after the build call
    return tl.models.Model(inputs=ni, outputs=nn), gate


def eager_gradient(model, x, targets):
    model.eval()
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        selected = tf.gather(model(xt), targets, batch_dims=1)
    return tape.gradient(selected, xt).numpy()


@pytest.mark.slow
def test_untraceable_layer_runs_eagerly_with_one_warning_naming_it():
    model, gate = gated_cnn()
    x = np.random.default_rng(0).random((2, 8, 8, 1), dtype=np.float32)
    expected = eager_gradient(model, x, [0, 2])
    before = model_state(model)
    adapter = tlxp.ModelAdapter(model)
    with pytest.warns(CompileWarning) as record:
        exp = tlxp.explain(adapter, x, "gradient", targets=[0, 2], absolute=False)
    messages = [str(w.message) for w in record]
    assert messages and all("layer %r (%s.NumpyGate)" % (gate.name, __name__) in m for m in messages)
    assert all("cannot run inside tf.function: AttributeError" in m and "in user code" not in m for m in messages)
    assert "runs eagerly instead" in messages[0] and "docs page" in messages[0]
    np.testing.assert_allclose(np.asarray(exp), expected, atol=1e-6)
    # the step stays eager: no second warning, same numbers
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        again = tlxp.explain(adapter, x, "gradient", targets=[0, 2], absolute=False)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(exp))
    assert {step.compiled for step in adapter._functions.values()} == {False}
    assert_same_state(before, model_state(model))


def test_layer_failing_eagerly_too_raises_its_own_error():
    model, _ = gated_cnn(fail_eagerly=True)
    x = np.zeros((1, 8, 8, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # not a compile problem: no warning, the real error
        with pytest.raises(ValueError, match="^this layer is broken$"):
            tlxp.explain(model, x, "gradient")


def test_unpatched_tl_batchnorm_is_named():
    """TensorLayer's own BatchNorm.forward (what users get without the patch) -> the warning names it."""

    class Net(tl.models.Model):
        def __init__(self):
            super().__init__()
            self.conv = Conv2d(2, (3, 3), (1, 1), padding="SAME", in_channels=1)
            self.bn = BatchNorm2d(num_features=2, act=tf.nn.relu)
            self.dense = Dense(3, in_channels=8 * 8 * 2)
            self.flat = Flatten()

        def forward(self, x):
            return self.dense(self.flat(self.bn(self.conv(x))))

    model = Net()
    model.train()
    model(tf.ones((2, 8, 8, 1)))  # TL's eager training call rebinds moving_mean (with the original forward)
    model.bn.forward = types.MethodType(tl.layers.BatchNorm.forward._tlxp_original, model.bn)
    model.train()
    model(tf.ones((2, 8, 8, 1)))
    x = np.random.default_rng(1).random((2, 8, 8, 1), dtype=np.float32)
    try:
        with pytest.warns(CompileWarning, match=r"layer %r \(tensorlayer\.layers\.normalization\.BatchNorm2d\) "
                                                r"cannot run inside tf.function: TypeError: Can not convert a "
                                                r"NoneType" % model.bn.name):
            got = tlxp.as_adapter(model).predict(x)
        model.eval()
        np.testing.assert_allclose(got, model(tf.constant(x)).numpy(), atol=1e-6)
    finally:
        del model.bn.forward


def test_compiled_step_traces_once():
    step = CompiledStep(lambda x: x + 1.0, [tf.TensorSpec((None,), tf.float32)])
    assert step.compiled is None
    for n in (1, 3, 5):
        step(tf.zeros(n))
    assert step.compiled is True and step.experimental_get_tracing_count() == 1
    assert step.get_concrete_function()(tf.zeros(2)).numpy().tolist() == [1.0, 1.0]


def head_1x1_cnn(seed=0):
    """Conv 8x8 -> Conv 4x4 (stride 2) -> global pool -> reshape (1, 1, C) -> 1x1 conv head -> flatten
    (MobileNet-style)."""
    tf.random.set_seed(seed)
    ni = Input([None, 8, 8, 3])
    nn = Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=3)(ni)
    last_map = Conv2d(6, (3, 3), (2, 2), act=tf.nn.relu, padding="SAME", in_channels=4)
    nn = last_map(nn)
    nn = Reshape([-1, 1, 1, 6])(GlobalMeanPool2d()(nn))
    nn = Flatten()(Conv2d(5, (1, 1), (1, 1), in_channels=6)(nn))
    return tl.models.Model(inputs=ni, outputs=nn), last_map


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "gradcam_plus_plus", "scorecam"])
def test_default_cam_layer_skips_1x1_maps_and_is_recorded(method):
    model, last_map = head_1x1_cnn()
    x = np.random.default_rng(2).random((2, 8, 8, 3), dtype=np.float32)
    exp = tlxp.ModelExplainer(model, methods=[method]).explain(x, method=method)
    assert exp.meta["layer_name"] == last_map.name
    assert exp.heatmap().shape == (2, 8, 8) and np.ptp(exp.heatmap()) > 0
    # the 1x1 head can still be asked for by name
    head = [n for n in tlxp.as_adapter(model).layer_names() if n.startswith("conv2d")][-1]
    assert tlxp.explain(model, x, method, layer_name=head).meta["layer_name"] == head


@pytest.mark.slow
def test_only_1x1_maps_is_a_clear_error():
    tf.random.set_seed(0)
    ni = Input([None, 4])
    nn = Conv2d(3, (1, 1), (1, 1), in_channels=4)(Reshape([-1, 1, 1, 4])(ni))
    model = tl.models.Model(inputs=ni, outputs=Flatten()(nn))
    with pytest.raises(ValueError, match=r"layer_name: CAM methods need a layer with a 4-D output "
                                         r"\(N, H, W, C\) larger than 1x1"):
        tlxp.explain(model, np.ones((1, 4), np.float32), "gradcam")


def chained(first, second):
    """Two TL models chained in a plain function (the TL tutorial's ``mlp_dynamic_2`` pattern)."""
    first.eval()
    second.eval()
    return lambda x: second(first(x))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "gradcam_plus_plus", "scorecam", "guided_backprop"])
def test_plain_callable_errors_say_how_to_pass_the_model(method):
    fn = chained(tiny_mlp(seed=0, n_in=64, n_classes=64), tiny_mlp(seed=1, n_in=64, n_classes=3))
    x = np.ones((1, 64), np.float32)
    with pytest.raises(TypeError, match=r"model: .*got a plain callable.*Pass the tl.models.Model or "
                                        r"keras.Model itself.*one tl.models.Model subclass whose forward calls them"):
        tlxp.explain(fn, x, method)


@pytest.mark.slow
def test_plain_callable_layer_lookup_and_gradients():
    first, second = tiny_mlp(seed=0, n_in=64, n_classes=64), tiny_mlp(seed=1, n_in=64, n_classes=3)
    fn = chained(first, second)
    adapter = tlxp.ModelAdapter(fn)
    with pytest.raises(TypeError, match=r"model: finding a layer by name \(layer_name='dense_1'\).*Pass the"):
        adapter.layer("dense_1")
    x = np.random.default_rng(3).random((2, 64), dtype=np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        selected = tf.gather(fn(xt), [1, 2], batch_dims=1)
    expected = tape.gradient(selected, xt).numpy()
    np.testing.assert_allclose(np.asarray(tlxp.explain(fn, x, "gradient", [1, 2], absolute=False)), expected,
                               atol=1e-6)
