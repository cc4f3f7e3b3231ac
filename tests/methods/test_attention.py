"""Self-attention layers, weight capture, attention / attention_rollout methods and the figure.

Tiny untrained models only (8x8 images, 2x2 patches, 2 blocks); no MNIST training here.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Elementwise, Input, LayerList

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.layers import (
    AttentionSoftmax,
    ClassToken,
    LayerNormalization,
    MultiHeadSelfAttention,
    PatchEmbedding,
    PositionEmbedding,
    TokenPooling,
    TransformerBlock,
)
from tensorlayer_xplain.methods import attention as att
from tensorlayer_xplain.methods._engine.utils import upsample

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_mlp, tiny_static_cnn


# --------------------------------------------------------------------------- tiny models
def tiny_static_vit(seed=0, pooling="cls", depth=2):
    """8x8x1 images -> 4x4 patches of 2x2 (+ class token) -> ``depth`` blocks -> 3 logits."""
    tf.random.set_seed(seed)
    ni = Input([None, 8, 8, 1])
    nn = PatchEmbedding(2, 8, in_channels=1)(ni)
    if pooling == "cls":
        nn = ClassToken(8)(nn)
    nn = PositionEmbedding(16 + (pooling == "cls"), 8)(nn)
    for _ in range(depth):
        nn = TransformerBlock(2, 4, 16, in_channels=8)(nn)
    nn = LayerNormalization(8)(nn)
    nn = TokenPooling(pooling)(nn)
    nn = Dense(3, in_channels=8)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


class TinyDynamicViT(tl.models.Model):
    """The same network as a dynamic model, its blocks in a nested LayerList."""

    def __init__(self):
        super().__init__()
        self.embed = PatchEmbedding(2, 8, in_channels=1, image_size=8)
        self.token = ClassToken(8)
        self.position = PositionEmbedding(17, 8)
        self.blocks = LayerList([TransformerBlock(2, 4, 16, in_channels=8), TransformerBlock(2, 4, 16, in_channels=8)])
        self.norm = LayerNormalization(8)
        self.pool = TokenPooling("cls")
        self.head = Dense(3, in_channels=8)

    def forward(self, x):
        h = self.position(self.token(self.embed(x)))
        return self.head(self.pool(self.norm(self.blocks(h))))


def tiny_dynamic_vit(seed=0):
    tf.random.set_seed(seed)
    return TinyDynamicViT()


def identity_attention_model(scale=10.0):
    """Two parallel attention layers whose attention is the identity on one-hot tokens.

    Input: 16 tokens of size 16 (drawn as a 16x16 image); with W_q = W_k = scale * I and
    one-hot tokens, the scores are scale^2/4 on the diagonal and 0 elsewhere.
    """
    ni = Input([None, 16, 16])
    layers = [MultiHeadSelfAttention(1, 16, in_channels=16) for _ in range(2)]
    for layer in layers:
        layer.W_q.assign(scale * np.eye(16, dtype=np.float32))
        layer.W_k.assign(scale * np.eye(16, dtype=np.float32))
    nn = Elementwise(tf.add)([layers[0](ni), layers[1](ni)])
    nn = TokenPooling("mean")(nn)
    nn = Dense(3, in_channels=16)(nn)
    return tl.models.Model(inputs=ni, outputs=nn), layers


@pytest.fixture(scope="module")
def static_vit():
    return tiny_static_vit()


@pytest.fixture(scope="module")
def dynamic_vit():
    return tiny_dynamic_vit()


@pytest.fixture
def small_images(rng):
    return rng.random((4, 8, 8, 1), dtype=np.float32)


def blocks_of(adapter):
    return [layer for layer in adapter.iter_layers() if isinstance(layer, TransformerBlock)]


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def recompute_attention(layer, tokens):
    """The attention of a MultiHeadSelfAttention layer on ``tokens`` (N, T, D), in numpy from its weights."""
    def heads(w, b):
        y = tokens @ w.numpy() + b.numpy()
        n, t, _ = y.shape
        return y.reshape(n, t, layer.num_heads, layer.key_dim).transpose(0, 2, 1, 3)

    q, k = heads(layer.W_q, layer.b_q), heads(layer.W_k, layer.b_k)
    return softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(layer.key_dim))


# --------------------------------------------------------------------------- layers
@pytest.mark.parametrize("builder", [tiny_static_vit, tiny_dynamic_vit])
@pytest.mark.slow
def test_vit_runs_and_trains_all_weights(builder, small_images):
    model = builder()
    names = [w.name for w in model.trainable_weights]
    assert any("W_query" in n for n in names) and any("class_token" in n for n in names)
    assert len(names) == len(set(names))
    model.train()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(small_images) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads), [n for n, g in zip(names, grads) if g is None]
    model.eval()
    assert model(small_images).shape == (4, 3)


def test_attention_mnist_shapes():
    model = tlxp.models.attention_mnist(seed=0)
    model.eval()
    assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)
    adapter = tlxp.ModelAdapter(model)
    names = att.attention_layer_names(adapter)
    assert len(names) == 2
    assert dict(adapter.layer_call_order())[names[0]] == (4, 50, 50)
    assert att.token_layout(adapter, 50) == att.TokenLayout(1, (7, 7), (28, 28))


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadSelfAttention(0, 4)
    with pytest.raises(ValueError, match="patch_size"):
        PatchEmbedding((2, 2, 2), 8)
    with pytest.raises(ValueError, match="mode"):
        TokenPooling("max")
    with pytest.raises(ValueError, match="inputs"):
        MultiHeadSelfAttention(2, 4)(tf.zeros((2, 8)))
    with pytest.raises(ValueError, match="embed_dim"):
        tlxp.models.attention_mnist(embed_dim=30, num_heads=4)


def test_attention_softmax_child_is_named_and_exposed():
    layer = MultiHeadSelfAttention(2, 4, in_channels=8)
    assert isinstance(layer.attention_softmax, AttentionSoftmax)
    assert layer.attention_layer_name == layer.name + "_attention"
    assert tlxp.layers.is_attention_weights_layer(layer.attention_softmax)
    assert not tlxp.layers.is_attention_weights_layer(layer)
    assert layer.all_weights and not layer.attention_softmax.all_weights


# --------------------------------------------------------------------------- capture
def test_captured_weights_equal_recomputed_softmax(rng):
    ni = Input([None, 5, 8])
    mhsa = MultiHeadSelfAttention(2, 3, in_channels=8)
    nn = TokenPooling("mean")(mhsa(ni))
    model = tl.models.Model(inputs=ni, outputs=Dense(3, in_channels=8)(nn))
    tokens = rng.normal(size=(6, 5, 8)).astype(np.float32)
    weights = tlxp.ModelAdapter(model).capture(tokens, [mhsa.attention_layer_name]).outputs[mhsa.attention_layer_name]
    assert weights.shape == (6, 2, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(weights, recompute_attention(mhsa, tokens), atol=1e-5)


@pytest.mark.parametrize("model_fixture", ["static_vit", "dynamic_vit"])
@pytest.mark.slow
def test_captured_block_weights_match_recomputation(model_fixture, request, small_images):
    model = request.getfixturevalue(model_fixture)
    adapter = tlxp.ModelAdapter(model)
    block = blocks_of(adapter)[-1]
    names = [block.norm1.name, block.attention.attention_layer_name]
    out = adapter.capture(small_images, names).outputs
    weights = out[names[1]]
    assert weights.shape == (4, 2, 17, 17)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(weights, recompute_attention(block.attention, out[names[0]]), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("model_fixture", ["static_vit", "dynamic_vit"])
def test_output_identical_with_and_without_capture(model_fixture, request, small_images):
    model = request.getfixturevalue(model_fixture)
    model.eval()
    before_out = model(small_images).numpy()
    before = model_state(model)
    adapter = tlxp.ModelAdapter(model, input_shape=(8, 8, 1))
    names = att.attention_layer_names(adapter)
    res = adapter.capture(small_images, names)
    tlxp.explain(adapter, small_images, "attention_rollout")
    assert_same_state(before, model_state(model))
    np.testing.assert_array_equal(model(small_images).numpy(), before_out)
    np.testing.assert_allclose(res.scores, before_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adapter.predict(small_images), res.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_forward_restored_after_exception(monkeypatch, small_images):
    model = tiny_static_vit(seed=1)
    adapter = tlxp.ModelAdapter(model)
    name = att.attention_layer_names(adapter)[0]
    before = model_state(model)

    def broken(self, inputs):
        raise RuntimeError("boom in the attention softmax")

    with monkeypatch.context() as patch:
        patch.setattr(AttentionSoftmax, "forward", broken)
        with pytest.raises(RuntimeError, match="boom"):
            adapter.capture(small_images, [name])
        with pytest.raises(RuntimeError, match="boom"):
            tlxp.explain(adapter, small_images, "attention")
    assert all("forward" not in vars(layer) for layer in adapter.iter_layers())
    assert_same_state(before, model_state(model))
    weights = tlxp.ModelAdapter(model).capture(small_images, [name]).outputs[name]
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- rollout
def test_rollout_of_identity_is_identity():
    eye = np.broadcast_to(np.eye(6), (3, 2, 6, 6))
    for fusion in att.HEAD_FUSIONS:
        np.testing.assert_allclose(att.rollout([eye, eye, eye], fusion), np.broadcast_to(np.eye(6), (3, 6, 6)))
    np.testing.assert_allclose(att.rollout([eye], residual=False), np.broadcast_to(np.eye(6), (3, 6, 6)))


def test_rollout_matches_the_formula(rng):
    a1, a2 = (softmax(rng.normal(size=(2, 3, 5, 5))) for _ in range(2))

    def step(a, fuse):
        m = 0.5 * fuse(a, axis=1) + 0.5 * np.eye(5)
        return m / m.sum(-1, keepdims=True)

    for fusion in ("mean", "max", "min"):
        fuse = getattr(np, fusion)
        expected = step(a2, fuse) @ step(a1, fuse)
        got = att.rollout([a1, a2], fusion)
        np.testing.assert_allclose(got, expected, atol=1e-12)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)


@pytest.mark.slow
def test_rollout_of_model_with_identity_attention_is_identity(rng):
    model, layers = identity_attention_model()
    x = np.broadcast_to(np.eye(16, dtype=np.float32), (3, 16, 16)).copy()
    adapter = tlxp.ModelAdapter(model)
    names = att.attention_layer_names(adapter)
    assert names == [layer.attention_layer_name for layer in layers]
    for _name, w in adapter.capture(x, names).outputs.items():
        np.testing.assert_allclose(w, np.broadcast_to(np.eye(16), w.shape), atol=1e-6)
    exp = tlxp.ModelExplainer(model, methods=["attention_rollout"]).explain(x, method="attention_rollout")
    np.testing.assert_allclose(exp.meta["rollout"], np.broadcast_to(np.eye(16), (3, 16, 16)), atol=1e-6)
    assert exp.meta["query"] == "mean" and exp.meta["n_prefix_tokens"] == 0
    np.testing.assert_allclose(exp.heatmap(), 1.0 / 16, atol=1e-6)  # every patch attends only to itself


# --------------------------------------------------------------------------- methods on attention models
@pytest.mark.parametrize("model_fixture", ["static_vit", "dynamic_vit"])
def test_model_explainer_attention_methods(model_fixture, request, small_images):
    model = request.getfixturevalue(model_fixture)
    explainer = tlxp.ModelExplainer(model, methods=["attention", "attention_rollout"])
    for method in ("attention", "attention_rollout"):
        exp = explainer.explain(small_images, method=method)
        assert exp.shape == small_images.shape and exp.heatmap().shape == (4, 8, 8)
        assert exp.meta["attention_kind"] == "self_attention" and exp.meta["query"] == "cls"
        assert np.all(exp.heatmap() >= 0) and np.all(np.isfinite(exp.attributions))
    adapter = explainer.adapter
    names = att.attention_layer_names(adapter)
    exp = explainer.explain(small_images, method="attention", interpolation="nearest")
    assert exp.meta["layer_name"] == names[-1]
    # nearest placement: each 2x2 patch holds its class-token attention weight
    weights = adapter.capture(small_images, [names[-1]]).outputs[names[-1]]
    cls_row = weights.mean(axis=1)[:, 0, 1:].reshape(4, 4, 4)
    np.testing.assert_allclose(exp.heatmap(), np.repeat(np.repeat(cls_row, 2, 1), 2, 2), atol=1e-6)
    roll = explainer.explain(small_images, method="attention_rollout", interpolation="nearest")
    expected = att.rollout(adapter.capture(small_images, names).outputs.values())[:, 0, 1:].reshape(4, 4, 4)
    np.testing.assert_allclose(roll.heatmap(), np.repeat(np.repeat(expected, 2, 1), 2, 2), atol=1e-6)


def test_heads_queries_and_layer_choice(static_vit, small_images):
    adapter = tlxp.ModelAdapter(static_vit)
    fused = tlxp.explain(adapter, small_images, "attention")
    head_maps = fused.meta["head_maps"]
    assert head_maps.shape == (4, 2, 8, 8)
    np.testing.assert_allclose(fused.heatmap(), head_maps.mean(axis=1), atol=1e-6)
    one = tlxp.explain(adapter, small_images, "attention", head=1)
    np.testing.assert_allclose(one.heatmap(), head_maps[:, 1], atol=1e-6)
    maxed = tlxp.explain(adapter, small_images, "attention", head_fusion="max")
    assert np.all(maxed.heatmap() >= fused.heatmap() - 1e-6)
    mean_q = tlxp.explain(adapter, small_images, "attention", query="mean", interpolation="nearest")
    name = att.attention_layer_names(adapter)[-1]
    w = adapter.capture(small_images, [name]).outputs[name].mean(axis=1).mean(axis=1)[:, 1:].reshape(4, 4, 4)
    np.testing.assert_allclose(mean_q.heatmap(), np.repeat(np.repeat(w, 2, 1), 2, 2), atol=1e-6)
    # a block or its attention layer can be named instead of the weights layer
    first_block = blocks_of(adapter)[0]
    for layer_name in (first_block.name, first_block.attention.name, first_block.attention.attention_layer_name):
        exp = tlxp.explain(adapter, small_images, "attention", layer_name=layer_name)
        assert exp.meta["layer_name"] == first_block.attention.attention_layer_name


@pytest.mark.slow
def test_mean_pooled_vit_has_no_class_token(small_images):
    model = tiny_static_vit(pooling="mean", depth=1)
    exp = tlxp.explain(model, small_images, "attention")
    assert exp.meta["query"] == "mean" and exp.meta["n_prefix_tokens"] == 0
    with pytest.raises(ValueError, match="query"):
        tlxp.explain(model, small_images, "attention", query="cls")


def test_bad_arguments(static_vit, static_cnn, small_images, images):
    with pytest.raises(ValueError, match="head"):
        tlxp.explain(static_vit, small_images, "attention", head=2)
    with pytest.raises(ValueError, match="head_fusion"):
        tlxp.explain(static_vit, small_images, "attention_rollout", head_fusion="median")
    with pytest.raises(ValueError, match="query"):
        tlxp.explain(static_vit, small_images, "attention", query="first")
    with pytest.raises(KeyError, match="layer_name"):
        tlxp.explain(static_vit, small_images, "attention", layer_name="no_such_layer")
    with pytest.raises(ValueError, match="attention_rollout needs self-attention"):
        tlxp.explain(static_cnn, images, "attention_rollout")
    with pytest.raises(ValueError, match="p"):
        tlxp.explain(static_cnn, images, "attention", p=0)
    with pytest.raises(TypeError, match="parameter"):
        tlxp.explain(static_vit, small_images, "attention", heads=1)


# --------------------------------------------------------------------------- activation attention
@pytest.mark.parametrize("builder", [tiny_static_cnn, tiny_dynamic_cnn])
def test_activation_attention_on_cnn(builder, images):
    model = builder()
    before = model_state(model)
    exp = tlxp.ModelExplainer(model, methods=["attention"]).explain(images, method="attention", p=3)
    assert exp.meta["attention_kind"] == "activation" and exp.meta["activation_source"] == "layer"
    assert exp.heatmap().shape == (5, 12, 12)
    adapter = tlxp.ModelAdapter(model, input_shape=(12, 12, 1))
    name = exp.meta["layer_name"]
    assert name == tlxp.methods.cam.default_cam_layer(adapter)
    acts = adapter.capture(images, [name]).outputs[name]
    expected = upsample(np.mean(np.abs(acts) ** 3, axis=-1), (12, 12))
    np.testing.assert_allclose(exp.heatmap(), expected, rtol=1e-4, atol=1e-7)
    assert_same_state(before, model_state(model))


def test_activation_attention_of_a_chosen_layer(static_cnn, images):
    adapter = tlxp.ModelAdapter(static_cnn)
    first_conv = [n for n, s in adapter.layer_call_order() if len(s) == 3][1]
    exp = tlxp.explain(adapter, images, "attention", layer_name=first_conv)
    assert exp.meta["layer_name"] == first_conv and exp.heatmap().shape == (5, 12, 12)
    with pytest.raises(ValueError, match="layer_name"):
        tlxp.explain(adapter, images, "attention", layer_name=adapter.layer_call_order()[-1][0])


def test_dense_unit_attention_on_mlp(rng):
    model = tiny_mlp()
    x = rng.random((3, 64), dtype=np.float32)
    t = np.array([0, 3, 1])
    exp = tlxp.ModelExplainer(model, methods=["attention"]).explain(x, method="attention", targets=t)
    assert exp.meta["attention_kind"] == "dense_units" and exp.meta["class_agnostic"] is False
    assert exp.shape == (3, 64) and exp.heatmap().shape == (3, 8, 8)
    # reference: the first Dense layer by hand, h = relu(x W + b), g = dS_t / dh, map = relu(W (h * g))
    dense, head = [layer for layer in tlxp.ModelAdapter(model).iter_layers() if hasattr(layer, "W")]
    assert exp.meta["layer_name"] == dense.name
    h = tf.nn.relu(x @ dense.W + dense.b)
    with tf.GradientTape() as tape:
        tape.watch(h)
        scores = h @ head.W + head.b
        picked = tf.gather(scores, t, batch_dims=1)
    g = tape.gradient(picked, h).numpy()
    expected = np.maximum((h.numpy() * g) @ dense.W.numpy().T, 0)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-5, atol=1e-7)
    other = tlxp.explain(model, x, "attention", targets=(t + 1) % 5)
    assert not np.allclose(other.attributions, exp.attributions)  # depends on the explained class


def test_attention_on_plain_callable_is_the_input_with_a_warning(rng):
    x = rng.random((2, 4, 4, 1), dtype=np.float32)
    with pytest.warns(UserWarning, match="does not depend on the model"):
        exp = tlxp.explain(lambda b: tf.reshape(b, (-1, 16))[:, :3], x, "attention", p=1)
    assert exp.meta["attention_kind"] == "input" and exp.meta["activation_source"] == "input"
    np.testing.assert_allclose(exp.attributions, x, rtol=1e-6)


@pytest.mark.slow
def test_reference_mlp_and_cnn_default_explainer_attention(rng):
    x = rng.random((2, 28, 28, 1), dtype=np.float32)
    for model, kind in ((tlxp.models.mlp(seed=0), "dense_units"), (tlxp.models.cnn(seed=0), "activation")):
        exp = tlxp.ModelExplainer(model, methods=["attention"], image_shape=(28, 28, 1)).explain(x, method="attention")
        assert exp.meta["attention_kind"] == kind and exp.heatmap().shape == (2, 28, 28)


# --------------------------------------------------------------------------- helpers
def test_token_layout_inference():
    class Fake:
        kind = "callable"
        image_shape = (12, 12, 1)

        def iter_layers(self):
            return []

    assert att.token_layout(Fake(), 9) == att.TokenLayout(0, (3, 3), (12, 12))
    assert att.token_layout(Fake(), 10) == att.TokenLayout(1, (3, 3), (12, 12))
    with pytest.raises(ValueError, match="square"):
        att.token_layout(Fake(), 7)


def test_tokens_to_image_places_patches_and_pads():
    layout = att.TokenLayout(0, (2, 3), (4, 6))
    out = att.tokens_to_image(np.arange(6.0)[None], layout, (5, 7), interpolation="nearest")
    assert out.shape == (1, 5, 7)
    np.testing.assert_array_equal(out[0, :4, :6], np.repeat(np.repeat(np.arange(6.0).reshape(2, 3), 2, 0), 2, 1))
    assert not out[0, 4:].any() and not out[0, :, 6:].any()


# --------------------------------------------------------------------------- figure
def test_attention_visualization(static_vit, static_cnn, small_images, images, tmp_path):
    path = tmp_path / "att.png"
    exps = tlxp.attention_visualization(static_vit, small_images[:2], name=str(path))
    assert set(exps) == {"attention", "attention_rollout"}
    assert path.stat().st_size > 1000
    exps = tlxp.attention_visualization(static_vit, exps["attention"], head=0, name=str(tmp_path / "head0.png"))
    assert exps["attention"].meta["head"] is None  # a precomputed explanation is drawn as is
    assert (tmp_path / "head0.png").exists()
    exps = tlxp.attention_visualization(static_cnn, images[:2], name=str(tmp_path / "cnn.png"))
    assert set(exps) == {"attention"} and exps["attention"].meta["attention_kind"] == "activation"
    with pytest.raises(ValueError, match="inputs"):
        tlxp.attention_visualization(static_vit, exps["attention"].__class__(
            "gradient", images[:1], images[:1], [0], np.zeros((1, 4)), (12, 12, 1)), name=str(tmp_path / "x.png"))


def test_patch_tokens_are_row_major():
    """Token k of PatchEmbedding is grid cell divmod(k, columns): what tokens_to_image assumes."""
    layer = PatchEmbedding(2, 4, in_channels=1, image_size=(6, 8))
    assert layer.grid_shape == (3, 4)
    image = np.zeros((1, 6, 8, 1), np.float32)
    image[0, 2:4, 6:8] = 1.0  # grid cell (1, 3)
    tokens = layer.forward(image).numpy()[0]
    changed = np.flatnonzero(np.abs(tokens - layer.b.numpy()).sum(axis=1) > 0)
    assert changed.tolist() == [1 * 4 + 3]
    layout = att.TokenLayout(0, layer.grid_shape, (6, 8))
    heat = att.tokens_to_image(np.eye(12)[changed], layout, (6, 8), interpolation="nearest")[0]
    np.testing.assert_array_equal(heat, image[0, ..., 0])


@pytest.mark.slow
def test_example_help():
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples",
                          "mnist_attention.py")
    out = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--epochs" in out.stdout and "--out" in out.stdout
