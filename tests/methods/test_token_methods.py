"""Methods on token models: embedding-space gradients, token masking, padding, errors, the model unchanged."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.integrated_gradients import trapezoid_alphas
from tensorlayer_xplain.methods.tokens import TOKEN_METHODS, ids_as_text

from conftest import assert_same_state, model_state, planted_token_model, tiny_token_model

ALL = sorted(TOKEN_METHODS)
FAST = {"smoothgrad": {"n_samples": 8}, "shap": {"n_samples": 16}, "lime": {"num_samples": 200},
        "shap_kernel": {"nsamples": 200}, "shap_partition": {"max_evals": 200}, "integrated_gradients": {"steps": 32}}


@pytest.fixture(scope="module")
def fasttext():
    return tiny_token_model("fasttext", seed=1)


@pytest.fixture(scope="module")
def dynamic_tokens():
    return tiny_token_model("dynamic", seed=2)


@pytest.fixture
def ids():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 30, (3, 10)).astype(np.int32)
    ids[0, 7:] = 0
    ids[1, 4:] = 0
    return ids


def _hand_ig(model, layer, ids, target, steps, baseline_token=0):
    """Embedding-space IG written out: the embedding layer's output swapped, gradients by GradientTape."""
    table = layer.embeddings
    ids_t = tf.constant(ids)
    emb = tf.gather(table, ids_t)
    base = tf.gather(table, tf.where(ids_t == 0, ids_t, baseline_token))
    alphas, weights = trapezoid_alphas(steps)
    total = tf.zeros_like(emb)
    original = layer.forward
    for a, w in zip(alphas, weights):
        point = base + float(a) * (emb - base)
        with tf.GradientTape() as tape:
            tape.watch(point)
            if isinstance(layer, tl.layers.AverageEmbedding):
                mask = tf.cast(ids_t != 0, tf.float32)[..., None]
                layer.forward = lambda x, p=point, m=mask: tf.reduce_sum(p * m, 1) / tf.reduce_sum(m, 1)
            else:
                layer.forward = lambda x, p=point: p
            try:
                model.eval()
                out = model(ids_t)[:, target]
            finally:
                del layer.forward
        total += float(w) * tape.gradient(out, point)
    assert layer.forward == original
    return tf.reduce_sum((emb - base) * total, axis=-1).numpy()


@pytest.mark.parametrize("kind", ["fasttext", "dynamic"])
def test_token_ig_equals_hand_written_embedding_ig_and_is_complete(kind, fasttext, dynamic_tokens, ids):
    model = fasttext if kind == "fasttext" else dynamic_tokens
    layer = tlxp.as_adapter(model).embedding
    exp = tlxp.explain(model, ids, "integrated_gradients", targets=1, steps=48)
    expected = _hand_ig(model, layer, ids, 1, 48)
    assert exp.attributions.shape == ids.shape
    np.testing.assert_allclose(exp.attributions, expected, atol=1e-5, rtol=1e-4)
    assert exp.meta["max_completeness_gap"] < 0.01
    assert np.all(exp.attributions[ids == 0] == 0)


def test_token_ig_with_another_baseline_token(dynamic_tokens, ids):
    layer = tlxp.as_adapter(dynamic_tokens).embedding
    exp = tlxp.explain(dynamic_tokens, ids, "ig", targets=2, steps=32, baseline_token=3)
    np.testing.assert_allclose(exp.attributions, _hand_ig(dynamic_tokens, layer, ids, 2, 32, 3), atol=1e-5, rtol=1e-4)


def test_token_gradient_x_input_equals_tape(dynamic_tokens, ids):
    layer = tlxp.as_adapter(dynamic_tokens).embedding
    emb = tf.gather(layer.embeddings, ids)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        layer.forward = lambda x: emb
        try:
            out = dynamic_tokens(tf.constant(ids))[:, 0]
        finally:
            del layer.forward
    grads = tape.gradient(out, emb).numpy()
    exp = tlxp.explain(dynamic_tokens, ids, "gradient_x_input", targets=0)
    expected = (emb.numpy() * grads).sum(-1)
    expected[ids == 0] = 0
    np.testing.assert_allclose(exp.attributions, expected, atol=1e-6)
    signed = tlxp.explain(dynamic_tokens, ids, "gradient", targets=0, absolute=False)
    g = grads.sum(-1)
    g[ids == 0] = 0
    np.testing.assert_allclose(signed.attributions, g, atol=1e-6)


def test_token_occlusion_equals_hand_written_loop(dynamic_tokens, ids):
    exp = tlxp.explain(dynamic_tokens, ids, "occlusion", targets=1, window=2, stride=1, mask_token=3)
    adapter = tlxp.as_adapter(dynamic_tokens)
    expected = np.zeros(ids.shape)
    for i, row in enumerate(ids):
        full = adapter.predict(row[None])[0, 1]
        total, count = np.zeros(10), np.zeros(10)
        for start in range(0, 9):
            window = [p for p in (start, start + 1) if row[p] != 0]
            if not window:
                continue
            masked = row.copy()
            masked[window] = 3
            drop = full - adapter.predict(masked[None])[0, 1]
            total[window] += drop
            count[window] += 1
        expected[i] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    np.testing.assert_allclose(exp.attributions, expected, atol=1e-5)


def test_token_lime_is_lime_text_on_the_same_samples(fasttext, ids):
    from lime.lime_text import LimeTextExplainer

    exp = tlxp.explain(fasttext, ids[:1], "lime", targets=2, num_samples=300, seed=4)
    adapter = tlxp.as_adapter(fasttext)
    row = ids[0]
    keep = np.flatnonzero(row != 0)

    def classifier(texts):
        batch = np.repeat(row[None], len(texts), 0)
        batch[:, keep] = [[int(w) for w in t.split()] for t in texts]
        return adapter.predict(batch).astype(np.float64)

    ref = LimeTextExplainer(bow=False, mask_string="0", split_expression=r"\s+", feature_selection="none",
                            random_state=4).explain_instance(ids_as_text(row[keep]), classifier, labels=(2,),
                                                             num_features=len(keep), num_samples=300)
    expected = np.zeros(10)
    for feature, weight in ref.local_exp[2]:
        expected[keep[feature]] = weight
    np.testing.assert_allclose(exp.attributions[0], expected, atol=1e-6)


def test_token_shap_kernel_is_additive(dynamic_tokens, ids):
    exp = tlxp.explain(dynamic_tokens, ids[1:2], "shap_kernel", targets=0, nsamples=500)
    adapter = tlxp.as_adapter(dynamic_tokens)
    full = adapter.predict(ids[1:2])[0, 0]
    masked = np.where(ids[1:2] == 0, 0, 0)  # every non-pad token masked with 0 (the pad id here)
    np.testing.assert_allclose(exp.attributions.sum() + exp.meta["expected_value"][0], full, atol=1e-4)
    np.testing.assert_allclose(exp.meta["expected_value"][0], adapter.predict(masked)[0, 0], atol=1e-5)


@pytest.mark.parametrize("method", ALL)
def test_padding_gets_nothing_and_is_never_perturbed(method, dynamic_tokens, ids):
    adapter = tlxp.as_adapter(dynamic_tokens)
    seen = []
    original = adapter.predict

    def recording_predict(x, batch_size=None):
        seen.append(np.asarray(x).copy())
        return original(x, batch_size)

    params = dict(FAST.get(method, {}))
    masking = method in ("occlusion", "lime", "shap_kernel", "shap_partition")
    if masking:
        params["mask_token"] = 3
    adapter.predict = recording_predict
    try:
        exp = tlxp.explain(adapter, ids, method, targets=1, **params)
    finally:
        del adapter.predict
    assert exp.attributions.shape == ids.shape
    assert np.all(exp.attributions[ids == 0] == 0), method
    assert np.abs(exp.attributions[ids != 0]).sum() > 0, method
    rows = np.concatenate(seen) if seen else ids[:0]
    if masking:
        assert len(rows) > len(ids)
    for b in rows:  # each sequence the model saw is an input with some non-pad tokens masked (3), padding kept
        assert any(np.all(b[r == 0] == 0) and np.all((b == r) | ((b == 3) & (r != 0))) for r in ids), (method, b)


def test_sequence_length_marks_padding(dynamic_tokens, ids):
    exp = tlxp.explain(dynamic_tokens, ids, "integrated_gradients", targets=1, steps=16,
                       sequence_length=np.array([5, 3, 10]))
    assert np.all(exp.attributions[0, 5:] == 0) and np.all(exp.attributions[1, 3:] == 0)
    assert np.all(exp.attributions[2] != 0)
    with pytest.raises(ValueError, match="sequence_length"):
        tlxp.explain(dynamic_tokens, ids, "occlusion", sequence_length=[5, 3])


def test_planted_tokens_rank_first():
    model = planted_token_model(planted=(5, 7))
    rng = np.random.default_rng(3)
    ids = rng.integers(8, 30, (6, 12)).astype(np.int32)
    ids[:, 9:] = 0
    for i in range(6):
        ids[i, rng.choice(9, 2, replace=False)] = (5, 7)
    for method, params in [("integrated_gradients", {"steps": 32}), ("occlusion", {}), ("lime", {"num_samples": 400}),
                           ("gradient_x_input", {}), ("shap_kernel", {"nsamples": 300})]:
        exp = tlxp.explain(model, ids, method, targets=1, **params)
        top2 = np.argsort(-exp.attributions, axis=1)[:, :2]
        found = np.mean([set(ids[i, top2[i]]) == {5, 7} for i in range(6)])
        assert found == 1.0, (method, exp.attributions.round(3))


def test_methods_that_do_not_apply_are_skipped_with_a_reason(fasttext, ids):
    from tensorlayer_xplain.applicability import skip_reason

    adapter = tlxp.as_adapter(fasttext)
    assert skip_reason(adapter, "integrated_gradients") is None
    assert "token ids" in skip_reason(adapter, "gradcam")
    with pytest.raises(ValueError, match="method: 'gradcam' does not apply to token ids"):
        tlxp.explain(fasttext, ids, "gradcam")


def test_errors_name_the_argument(fasttext, ids):
    with pytest.raises(TypeError, match="inputs: this is a token model.*float"):
        tlxp.explain(fasttext, ids.astype(np.float32), "gradient")
    with pytest.raises(ValueError, match=r"inputs: expected token ids in \[0, 30\).*id 31"):
        tlxp.explain(fasttext, np.where(np.arange(10) == 4, 31, ids), "gradient")
    with pytest.raises(ValueError, match="mask_token: expected a token id in"):
        tlxp.explain(fasttext, ids, "occlusion", mask_token=99)
    with pytest.raises(ValueError, match="baseline_token"):
        tlxp.explain(fasttext, ids, "integrated_gradients", baseline_token=-1)
    with pytest.raises(TypeError, match="method 'occlusion' parameter"):
        tlxp.explain(fasttext, ids, "occlusion", baseline_value=0.0)
    ni = tl.layers.Input([None, 10], dtype=tf.int32)
    no_embedding = tl.models.Model(ni, tl.layers.Dense(2, in_channels=10)(tl.layers.Lambda(
        lambda x: tf.cast(x, tf.float32))(ni)))
    with pytest.raises(ValueError, match="embedding_layer: the model takes integer token ids but has no embedding"):
        tlxp.explain(no_embedding, ids, "gradient")


@pytest.mark.parametrize("method", ALL)
def test_model_unchanged(method, dynamic_tokens, fasttext, ids):
    for model in (dynamic_tokens, fasttext):
        before = model_state(model)
        tlxp.explain(model, ids, method, **FAST.get(method, {}))
        assert_same_state(before, model_state(model))


def test_keras_embedding_model():
    model = tiny_token_model("keras", seed=5)
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 30, (2, 10)).astype(np.int32)
    ids[0, 6:] = 0
    exp = tlxp.explain(model, ids, "integrated_gradients", targets=0, steps=64)
    assert exp.meta["max_completeness_gap"] < 0.01
    assert np.all(exp.attributions[0, 6:] == 0)
    layer = tlxp.as_adapter(model).embedding
    assert "call" not in vars(layer)


def test_costs_of_the_token_methods(fasttext, ids):
    adapter = tlxp.as_adapter(fasttext)
    adapter.prepare(ids)
    ig = tlxp.estimate_cost(adapter, "integrated_gradients", 4, steps=10)
    assert (ig.forward, ig.backward) == (44, 44)
    occ = tlxp.estimate_cost(adapter, "occlusion", 2, window=3, stride=2)
    assert occ.forward == 2 * (5 + 1) and occ.backward == 0  # windows at 0, 2, 4, 6 and 7 (to the end), + 1
    assert tlxp.estimate_cost(adapter, "lime", 3, num_samples=50).forward == 150
    with pytest.raises(ValueError, match="method: 'gradcam' does not apply"):
        tlxp.estimate_cost(adapter, "gradcam", 1)
    explainer = tlxp.ModelExplainer(fasttext, methods=["integrated_gradients"], max_cost=100)
    with pytest.raises(ValueError, match="max_cost"):
        explainer.explain(ids, "integrated_gradients", steps=64)
