"""lrp: equal to a hand-written layer-by-layer LRP, conservation, rule signs, BatchNorm folding, residual sums."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import (
    BatchNorm,
    Conv2d,
    Dense,
    Elementwise,
    Flatten,
    Input,
    Lambda,
    MaxPool2d,
    MeanPool2d,
    PRelu,
)

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.lrp import rule_plan

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn

pytestmark = pytest.mark.slow  # about 40 s on two cores (18 models traced)

SIZE = 8


def _randomize_biases(model, seed):
    """He-scaled kernels (TL's default initializer gives logits of ~1e-6) and small random biases."""
    rng = np.random.default_rng(seed)
    for w in model.all_weights:
        if "bias" in w.name:
            w.assign(rng.normal(0, 0.1, w.shape).astype(np.float32))
        elif len(w.shape) >= 2:
            w.assign(rng.normal(0, np.sqrt(2.0 / np.prod(w.shape[:-1])), w.shape).astype(np.float32))


def pool_cnn(seed=0, bias=True):
    """Conv(relu) -> MaxPool -> Conv(relu) -> MeanPool -> Flatten -> Dense(relu) -> Dense, on 8x8x2."""
    tf.random.set_seed(seed)
    b = tl.initializers.constant(0.0) if bias else None
    ni = Input([None, SIZE, SIZE, 2])
    nn = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2, b_init=b)(ni)
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Conv2d(4, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=3, b_init=b)(nn)
    nn = MeanPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Flatten()(nn)
    nn = Dense(6, act=tf.nn.relu, in_channels=16, b_init=b)(nn)
    nn = Dense(3, in_channels=6, b_init=b)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    _randomize_biases(model, seed)
    return model


# ----------------------------------------------------------------------------- the numpy reference
def stab(z, eps):
    return z + eps * (np.sign(z) + (z == 0))


def np_conv(x, W, b):
    """SAME, stride 1 convolution of (N, H, W, C) with (k, k, C, O), and the padded input."""
    k = W.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    n, h, w, _ = x.shape
    z = np.zeros((n, h, w, W.shape[3]))
    for i in range(h):
        for j in range(w):
            z[:, i, j, :] = np.einsum("nabc,abco->no", xp[:, i:i + k, j:j + k, :], W)
    return z + (0 if b is None else b), xp


def np_conv_lrp(x, W, b, R, eps):
    z, xp = np_conv(x, W, b)
    s = R / stab(z, eps)
    k, p = W.shape[0], W.shape[0] // 2
    c = np.zeros_like(xp)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            c[:, i:i + k, j:j + k, :] += np.einsum("abco,no->nabc", W, s[:, i, j, :])
    return x * c[:, p:p + x.shape[1], p:p + x.shape[2], :]


def np_maxpool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def np_maxpool_lrp(x, R):
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    winner = np.eye(4)[blocks.argmax(-1)] * R[..., None]
    return winner.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(x.shape)


def np_meanpool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def np_meanpool_lrp(x, R):
    s = R / stab(np_meanpool(x), 1e-6) / 4
    return x * np.repeat(np.repeat(s, 2, axis=1), 2, axis=2)


def np_dense_lrp(x, W, b, R, eps):
    z = x @ W + (0 if b is None else b)
    return x * ((R / stab(z, eps)) @ W.T)


def numpy_lrp_epsilon(model, x, targets, eps):
    """LRP-epsilon of ``pool_cnn`` written out layer by layer (float64)."""
    weights = [w.numpy().astype(np.float64) for w in model.all_weights]
    W1, b1, W2, b2, W3, b3, W4, b4 = weights
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    a1 = relu(np_conv(x, W1, b1)[0])
    p1 = np_maxpool(a1)
    a2 = relu(np_conv(p1, W2, b2)[0])
    p2 = np_meanpool(a2)
    f = p2.reshape(len(x), -1)
    a3 = relu(f @ W3 + b3)
    out = a3 @ W4 + b4
    R = np.zeros_like(out)
    R[np.arange(len(x)), targets] = out[np.arange(len(x)), targets]
    R = np_dense_lrp(a3, W4, b4, R, eps)
    R = np_dense_lrp(f, W3, b3, R, eps).reshape(p2.shape)
    R = np_meanpool_lrp(a2, R)
    R = np_conv_lrp(p1, W2, b2, R, eps)
    R = np_maxpool_lrp(a1, R)
    return np_conv_lrp(x, W1, b1, R, eps), out


@pytest.fixture(scope="module")
def cnn():
    return pool_cnn(seed=3)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((4, SIZE, SIZE, 2)).astype(np.float32)


@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_epsilon_equals_numpy_layer_by_layer(cnn, x, eps):
    targets = np.array([0, 1, 2, 1])
    ref, logits = numpy_lrp_epsilon(cnn, x.astype(np.float64), targets, eps)
    exp = tlxp.explain(cnn, x, "lrp", targets=targets, rule="epsilon", epsilon=eps)
    np.testing.assert_allclose(exp.predictions, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(exp.attributions, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.meta["explained_scores"], logits[np.arange(4), targets], rtol=1e-5, atol=1e-6)


def test_keras_twin_equals_tensorlayer(cnn, x):
    keras = tf.keras
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 2)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"), keras.layers.AveragePooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(3)])
    model.set_weights([w.numpy() for w in cnn.all_weights])
    for rule in ("epsilon", "epsilon_plus_flat", "sequential_preset_b", "epsilon_plus_box"):
        ours = tlxp.explain(cnn, x, "lrp", targets=1, rule=rule).attributions
        theirs = tlxp.explain(model, x, "lrp", targets=1, rule=rule).attributions
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-6, err_msg=rule)


def test_conservation_on_a_bias_free_network(x):
    model = pool_cnn(seed=4, bias=False)
    exp = tlxp.explain(model, x, "lrp", rule="epsilon", epsilon=1e-9)
    sums = exp.attributions.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(sums, exp.meta["explained_scores"], rtol=1e-4)
    assert exp.meta["max_conservation_gap"] < 1e-4
    # flat or w_square in the first layer and z+ conserve too on a bias-free network
    for rule, first in (("epsilon_plus_flat", "flat"), ("epsilon", "w_square"), ("zplus", "zplus")):
        gap = tlxp.explain(model, x, "lrp", rule=rule, epsilon=1e-9, overrides={"first": first}
                           ).meta["max_conservation_gap"]
        assert gap < 1e-3, rule


@pytest.mark.parametrize("rule,params", [("zplus", {}), ("alpha_beta", {"alpha": 1.0, "beta": 0.0})])
def test_zplus_and_alpha1_beta0_are_non_negative(cnn, rule, params):
    signed = np.random.default_rng(2).uniform(-1, 1, (6, SIZE, SIZE, 2)).astype(np.float32)
    exp = tlxp.explain(cnn, signed, "lrp", rule=rule, **params)  # predicted class: its logit is the start
    assert (exp.meta["explained_scores"] > 0).all()
    assert exp.attributions.min() >= 0 and exp.attributions.max() > 0
    # and the two agree, as zennit documents
    other = tlxp.explain(cnn, signed, "lrp", rule="zplus" if rule == "alpha_beta" else "alpha_beta", alpha=1.0,
                         beta=0.0).attributions
    np.testing.assert_allclose(exp.attributions, other, rtol=1e-5, atol=1e-7)


def test_alpha2_beta1_differs_and_is_signed(cnn, x):
    exp = tlxp.explain(cnn, x, "lrp", rule="alpha_beta", alpha=2.0, beta=1.0)
    assert exp.attributions.min() < 0 < exp.attributions.max()


def bn_cnn(seed=0):
    tf.random.set_seed(seed)
    ni = Input([None, SIZE, SIZE, 2])
    nn = Conv2d(3, (3, 3), (1, 1), padding="SAME", in_channels=2)(ni)
    nn = BatchNorm(act=tf.nn.relu, num_features=3)(nn)
    nn = Flatten()(nn)
    nn = Dense(5, in_channels=SIZE * SIZE * 3, b_init=None)(nn)
    nn = BatchNorm(num_features=5)(nn)
    nn = Dense(3, in_channels=5)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    rng = np.random.default_rng(seed)
    for layer in model.all_layers:
        if isinstance(layer, BatchNorm):
            c = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, c).astype(np.float32))
            layer.moving_var.assign(rng.uniform(0.5, 2.0, c).astype(np.float32))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.3, c).astype(np.float32))
    _randomize_biases(model, seed)
    return model


def folded_twin(model):
    """The same network with each BatchNorm folded into the layer before it (numpy)."""
    convs = [layer for layer in model.all_layers if isinstance(layer, (Conv2d, Dense))]
    bns = [layer for layer in model.all_layers if isinstance(layer, BatchNorm)]
    folded = []
    for lin, bn in zip(convs[:2], bns):
        a = bn.gamma.numpy() / np.sqrt(bn.moving_var.numpy() + bn.epsilon)
        c = bn.beta.numpy() - bn.moving_mean.numpy() * a
        b = lin.b.numpy() if lin.b_init else 0.0
        folded.append((lin.W.numpy() * a, b * a + c))
    ni = Input([None, SIZE, SIZE, 2])
    nn = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2)(ni)
    nn = Flatten()(nn)
    nn = Dense(5, in_channels=SIZE * SIZE * 3)(nn)
    nn = Dense(3, in_channels=5)(nn)
    twin = tl.models.Model(inputs=ni, outputs=nn)
    values = [folded[0][0], folded[0][1], folded[1][0], folded[1][1], convs[2].W.numpy(), convs[2].b.numpy()]
    for w, v in zip(twin.all_weights, values):
        w.assign(v.astype(np.float32))
    return twin


def test_batchnorm_model_equals_its_folded_twin(x):
    model = bn_cnn(seed=1)
    twin = folded_twin(model)
    np.testing.assert_allclose(tlxp.ModelAdapter(twin).predict(x), tlxp.ModelAdapter(model).predict(x), rtol=1e-5,
                               atol=1e-5)
    for rule in ("epsilon", "zplus", "epsilon_alpha2_beta1_flat"):
        ours = tlxp.explain(model, x, "lrp", targets=2, rule=rule, epsilon=0.01).attributions
        theirs = tlxp.explain(twin, x, "lrp", targets=2, rule=rule, epsilon=0.01).attributions
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6, err_msg=rule)


def residual_cnn(seed=0):
    tf.random.set_seed(seed)
    ni = Input([None, SIZE, SIZE, 2])
    a = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2, b_init=None)(ni)
    h = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=3, b_init=None)(a)
    h = Conv2d(3, (3, 3), (1, 1), padding="SAME", in_channels=3, b_init=None)(h)
    nn = Elementwise(tf.add, act=tf.nn.relu)([h, a])
    nn = Flatten()(nn)
    nn = Dense(3, in_channels=SIZE * SIZE * 3, b_init=None)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    _randomize_biases(model, seed)
    return model


def test_residual_block_conserves_relevance(x):
    model = residual_cnn(seed=2)
    exp = tlxp.explain(model, x, "lrp", rule="epsilon", epsilon=1e-9)
    assert exp.meta["max_conservation_gap"] < 1e-4
    np.testing.assert_allclose(exp.attributions.reshape(len(x), -1).sum(1), exp.meta["explained_scores"], rtol=1e-4)
    # with z+ for the convolutions the sum split by contribution still conserves
    assert tlxp.explain(model, x, "lrp", rule="epsilon_plus").meta["max_conservation_gap"] < 1e-3


def test_input_scaling_lambda_is_part_of_the_input(x):
    """VGG16's Lambda scaling before the first layer: relevance is read where the first layer reads it."""
    tf.random.set_seed(0)
    ni = Input([None, SIZE, SIZE, 2])
    nn = Lambda(lambda v: v * 255.0 - 100.0)(ni)
    nn = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2, b_init=None)(nn)
    nn = Flatten()(nn)
    nn = Dense(3, in_channels=SIZE * SIZE * 3, b_init=None)(nn)
    scaled = tl.models.Model(inputs=ni, outputs=nn)
    ni = Input([None, SIZE, SIZE, 2])
    nn = Conv2d(3, (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2, b_init=None)(ni)
    nn = Flatten()(nn)
    nn = Dense(3, in_channels=SIZE * SIZE * 3, b_init=None)(nn)
    plain = tl.models.Model(inputs=ni, outputs=nn)
    for a, b in zip(plain.all_weights, scaled.all_weights):
        a.assign(b)
    exp = tlxp.explain(scaled, x, "lrp", targets=0, epsilon=1e-9)
    ref = tlxp.explain(plain, x * 255.0 - 100.0, "lrp", targets=0, epsilon=1e-9)
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-4, atol=1e-4)
    assert exp.meta["max_conservation_gap"] < 1e-4


def test_dynamic_and_keras_models_conserve():
    x12 = np.random.default_rng(1).random((3, 12, 12, 1)).astype(np.float32)
    for model in (tiny_dynamic_cnn(seed=1), tiny_keras_cnn(seed=1)):
        exp = tlxp.explain(model, x12, "lrp", epsilon=1e-9)
        assert exp.meta["max_conservation_gap"] < 1e-3, type(model).__name__


def test_unsupported_layer_is_named(x):
    ni = Input([None, 4])
    nn = Dense(3, in_channels=4)(ni)
    nn = PRelu(in_channels=3, name="my_prelu")(nn)
    nn = Dense(2, in_channels=3)(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    with pytest.raises(ValueError, match="my_prelu.*PRelu.*supported layers: TensorLayer Dense"):
        tlxp.explain(model, np.ones((2, 4), np.float32), "lrp")


def test_bad_arguments(cnn, x):
    with pytest.raises(ValueError, match="rule: expected a rule"):
        tlxp.explain(cnn, x[:1], "lrp", rule="gamma")
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        tlxp.explain(cnn, x[:1], "lrp", rule="alpha_beta", alpha=2.0, beta=2.0)
    with pytest.raises(ValueError, match="overrides: no layer"):
        tlxp.explain(cnn, x[:1], "lrp", overrides={"conv7": "flat"})
    with pytest.raises(ValueError, match="targets: lrp"):
        tlxp.explain(cnn, x[:1], "lrp", targets=lambda scores: scores[:, 0])
    with pytest.raises(TypeError, match="plain function has none"):
        tlxp.explain(lambda v: tf.reshape(v, (-1, 128))[:, :3], x[:1], "lrp")


def test_rule_plan_overrides_by_name_type_and_first():
    layers = [("c1", "Conv2d", "conv"), ("c2", "Conv2d", "conv"), ("d1", "Dense", "dense"), ("d2", "Dense", "dense")]
    plan = rule_plan(layers, "sequential_preset_a", {"epsilon": 1e-6, "alpha": 2.0, "beta": 1.0},
                     overrides={"first": "zbox", "d2": ("epsilon", {"epsilon": 0.0}), "Conv2d": "w_square"})
    assert plan == (("c1", "zbox", (("high", None), ("low", None))), ("c2", "w_square", ()),
                    ("d1", "epsilon", (("epsilon", 0.1),)), ("d2", "epsilon", (("epsilon", 0.0),)))


def test_overrides_change_only_their_layer(cnn, x):
    base = tlxp.explain(cnn, x, "lrp", targets=0, rule="epsilon", epsilon=0.01)
    same = tlxp.explain(cnn, x, "lrp", targets=0, rule="epsilon", epsilon=0.01,
                        overrides={"dense": ("epsilon", {"epsilon": 0.01})})
    np.testing.assert_array_equal(base.attributions, same.attributions)
    first = [layer.name for layer in cnn.all_layers if isinstance(layer, Conv2d)][0]
    flat = tlxp.explain(cnn, x, "lrp", targets=0, rule="epsilon", epsilon=0.01, overrides={first: "flat"})
    assert not np.allclose(flat.attributions, base.attributions)
    assert ("%s=flat" % first) in flat.meta["rules"]


def test_model_unchanged_and_batch_independent(cnn, x):
    before = model_state(cnn)
    whole = tlxp.explain(cnn, x, "lrp", rule="epsilon_plus_flat").attributions
    pieces = tlxp.explain(cnn, x, "lrp", rule="epsilon_plus_flat", batch_size=1).attributions
    assert_same_state(before, model_state(cnn))
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-7)


def test_randomization_sanity_check_passes(cnn):
    x = np.random.default_rng(3).random((6, SIZE, SIZE, 2)).astype(np.float32)
    before = model_state(cnn)
    assert tlxp.randomization_sanity_check(cnn, x, "lrp", rule="epsilon", epsilon=0.01).passed
    assert_same_state(before, model_state(cnn))


def test_through_model_explainer_figures_report_and_files(static_cnn, images, tmp_path):
    cnn, x = static_cnn, images
    explainer = tlxp.ModelExplainer(cnn, methods=["lrp", "deeplift"], config={"lrp": {"rule": "epsilon_plus"}})
    results = explainer.explain_all(x[:2])
    assert set(results) == {"lrp", "deeplift"}
    np.testing.assert_allclose(results["lrp"].attributions,
                               tlxp.explain(cnn, x[:2], "lrp", rule="epsilon_plus").attributions, rtol=1e-6)
    explainer.visualize_all(x[:2], save_path=str(tmp_path / "figs"))
    assert {"lrp.png", "deeplift.png", "compare_methods.png"} <= {p.name for p in (tmp_path / "figs").iterdir()}
    explainer.report(x[:2], path=str(tmp_path / "report.html"))
    assert "lrp" in (tmp_path / "report.html").read_text(encoding="utf-8")
    results["lrp"].save(str(tmp_path / "lrp.npz"))
    loaded = tlxp.Explanation.load(str(tmp_path / "lrp.npz"))
    np.testing.assert_array_equal(loaded.attributions, results["lrp"].attributions)
    np.testing.assert_array_equal(loaded.meta["conservation_gap"], results["lrp"].meta["conservation_gap"])


def test_through_the_http_service(static_cnn, images):
    cnn, x = static_cnn, images
    from fastapi.testclient import TestClient

    from tensorlayer_xplain.serve import create_app

    with TestClient(create_app(tlxp.ModelExplainer(cnn, methods=["lrp", "deeplift"]))) as client:
        for method in ("lrp", "deeplift"):
            response = client.post("/explain", json={"inputs": x[:2].tolist(), "method": method, "targets": [0, 1]})
            assert response.status_code == 200, response.text
            direct = tlxp.explain(cnn, x[:2], method, targets=[0, 1])
            np.testing.assert_allclose(response.json()["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)


def test_keras_functional_batchnorm_add_and_activation_layers(x):
    """Keras Conv2D -> BatchNormalization -> Activation, a residual Add and a global average pool: the
    BatchNorm folds into the convolution (equal to the folded twin) and DeepLIFT stays complete."""
    keras = tf.keras
    rng = np.random.default_rng(5)

    def build(with_bn):
        inp = keras.Input((SIZE, SIZE, 2))
        a = keras.layers.Conv2D(3, 3, padding="same", activation=None if with_bn else "relu")(inp)
        if with_bn:
            a = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(a))
        h = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(a)
        f = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([h, a]))
        return keras.Model(inp, keras.layers.Dense(3)(f))

    model, twin = build(True), build(False)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) if w.ndim > 1 else w
                       for w in model.get_weights()])
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)][0]
    bn.set_weights([rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.3, 3), rng.normal(0, 0.3, 3), rng.uniform(0.5, 2, 3)])
    gamma, beta, mean, var = bn.get_weights()
    a = gamma / np.sqrt(var + bn.epsilon)
    W, b = model.layers[1].get_weights()
    twin.set_weights([W * a, b * a + beta - mean * a] + model.get_weights()[6:])
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    for rule in ("epsilon", "zplus"):
        ours = tlxp.explain(model, x, "lrp", targets=1, rule=rule).attributions
        theirs = tlxp.explain(twin, x, "lrp", targets=1, rule=rule).attributions
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7, err_msg=rule)
    assert tlxp.explain(model, x, "deeplift").meta["max_completeness_gap"] < 1e-4
