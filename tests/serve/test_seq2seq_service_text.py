"""GET /methods lists what applies to the served model (image, token, seq2seq); an encoder-decoder takes text."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.applicability import skip_reason
from tensorlayer_xplain.methods.registry import method_info

from conftest import planted_token_model, tiny_luong, tiny_static_cnn

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from tensorlayer_xplain.serve import ExplainService, create_app

SOS = 1
VOCAB = ["<pad>", "<sos>"] + list("abcdefg")  # the tiny Luong model reads 9 ids
SRC = [[2, 5, 3, 7, 0], [4, 4, 6, 2, 8]]
TEXT = ["A d b f", "c c e a g"]  # the same sentences (upper case is lowered, the first is padded with <pad>)
DEC, TARGETS = [[1, 2, 3, 4], [1, 5, 5, 5]], [[2, 3, 4, 5], [5, 5, 5, 6]]
DEC_TEXT, TARGET_TEXT = ["<sos> a b c", "<sos> d d d"], ["a b c d", "d d d e"]


@pytest.fixture(scope="module")
def luong():
    return tiny_luong("dot", seed=6)


@pytest.fixture(scope="module")
def client(luong, tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"  # a vocabulary file, one token per line
    path.write_text("\n".join(VOCAB) + "\n")
    explainer = tlxp.ModelExplainer(luong, methods=["gradient", "occlusion", "attention", "gradcam", "smoothgrad"],
                                    sos=SOS, seq_length=4, vocab=str(path))
    with TestClient(create_app(explainer, batch_window=None, max_batch=4)) as c:
        yield c


def _service(model, methods, **kw):
    return ExplainService(tlxp.ModelExplainer(model, methods=methods, **kw), batch_window=None)


def test_methods_lists_what_applies_to_an_image_model():
    service = _service(tiny_static_cnn(seed=1, size=12, n_classes=3),
                       ["gradient", "lime", "occlusion", "attention_rollout"])
    try:
        info = service.methods_info()
    finally:
        service.close()
    assert info["model"]["kind"] == "image" and info["model"]["text"] is None
    assert list(info["methods"]) == ["gradient", "lime", "occlusion"] and info["default"] == "gradient"
    assert info["skipped"] == {"attention_rollout": skip_reason(service.adapter, "attention_rollout")}
    lime = info["methods"]["lime"]
    assert set(lime["parameters"]) == set(method_info("lime").parameters)
    assert lime["ranges"]["n_segments"]["high"] == 144  # the declared count, bounded by the 12x12 image's area
    assert lime["ranges"]["n_segments"]["description"] == method_info("lime").ranges["n_segments"].describe(
        (12, 12, 1))
    assert "baseline_value" in info["methods"]["occlusion"]["parameters"]


def test_methods_lists_token_versions_for_a_token_model():
    service = _service(planted_token_model(), ["integrated_gradients", "occlusion", "lime", "gradcam", "rise"])
    try:
        info = service.methods_info()
    finally:
        service.close()
    assert info["model"]["kind"] == "tokens" and info["model"]["vocab_size"] == 30
    assert list(info["methods"]) == ["integrated_gradients", "occlusion", "lime"]
    assert set(info["skipped"]) == {"gradcam", "rise"}
    ig = info["methods"]["integrated_gradients"]
    assert ig["parameters"] == {"steps": 64, "baseline_token": 0, "sequence_length": None, "batch_size": None}
    assert ig["ranges"]["steps"]["high"] == method_info("integrated_gradients").ranges["steps"].high
    assert ig["ranges"]["baseline_token"] == {"low": 0, "high": 29, "integer": True, "low_open": False,
                                              "pairs": False, "kind": "number",
                                              "description": "a token id in [0, 30)"}
    lime = info["methods"]["lime"]["parameters"]
    assert "mask_token" in lime and not {"segmentation", "n_segments", "compactness", "hide_color"} & set(lime)
    occlusion = info["methods"]["occlusion"]["parameters"]
    assert "mask_token" in occlusion and "baseline_value" not in occlusion


def test_methods_lists_seq2seq_versions_and_options(client):
    info = client.get("/methods").json()
    assert info["model"]["kind"] == "seq2seq" and info["default"] == "gradient"
    assert list(info["methods"]) == ["gradient", "occlusion", "attention"]
    assert set(info["skipped"]) == {"gradcam", "smoothgrad"} and "encoder-decoder" in info["skipped"]["gradcam"]
    assert info["methods"]["occlusion"]["parameters"] == {"mask_token": None, "batch_size": None}
    assert info["methods"]["occlusion"]["ranges"]["mask_token"]["high"] == 8
    assert info["methods"]["gradient"]["parameters"] == {"batch_size": None}
    assert info["options"]["sos"]["default"] == SOS and info["options"]["seq_length"]["default"] == 4
    assert info["model"]["text"]["max_texts"] == 4 and info["model"]["text"]["unknown"] is None
    refused = client.post("/explain", json={"inputs": SRC, "method": "gradcam"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("method: 'gradcam' is enabled but "
                                                                              "does not apply to this model")


@pytest.mark.slow  # about 10 s: the tiny Luong model is traced for greedy decoding, gradients and occlusion
def test_text_gives_the_attributions_of_the_same_ids(client, luong):
    by_ids = client.post("/explain", json={"inputs": SRC, "method": "gradient"})
    by_text = client.post("/explain", json={"text": TEXT, "method": "gradient"})
    assert by_ids.status_code == 200 and by_text.status_code == 200, by_text.json()
    body = by_text.json()
    assert body["tokens"] == SRC and body["words"][0] == ["a", "d", "b", "f", "<pad>"]
    assert body["attributions"] == by_ids.json()["attributions"]
    direct = tlxp.explain(luong, np.asarray(SRC), "gradient", sos=SOS, seq_length=4)
    np.testing.assert_allclose(body["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(body["decoder_attributions"], direct.decoder_attributions, rtol=1e-5, atol=1e-6)
    assert body["output_words"] == [[VOCAB[i] for i in row] for row in direct.meta["outputs"]]
    # teacher forcing and the explained tokens as text too
    forced = client.post("/explain", json={"text": TEXT, "method": "occlusion", "targets": TARGET_TEXT,
                                           "params": {"decoder_inputs": DEC_TEXT}})
    assert forced.status_code == 200, forced.json()
    forced = forced.json()
    assert forced["decoder_inputs"] == DEC and forced["targets"] == TARGETS
    assert forced["decoder_words"][1] == ["<sos>", "d", "d", "d"] and forced["target_words"][0] == list("abcd")
    reference = tlxp.explain(luong, np.asarray(SRC), "occlusion", decoder_inputs=np.asarray(DEC),
                             targets=np.asarray(TARGETS))
    np.testing.assert_allclose(forced["attributions"], reference.attributions, rtol=1e-5, atol=1e-6)
    predicted = client.post("/predict", json={"text": TEXT})
    assert predicted.status_code == 200 and predicted.json()["outputs"] == client.post(
        "/predict", json={"inputs": SRC}).json()["outputs"]
    assert predicted.json()["words"] == body["words"]


def test_text_errors_name_the_field(client):
    cases = [({"text": "a zz"}, 422, "text: the word 'zz' (text 0) is not in the vocabulary"),
             ({"text": "a", "params": {"decoder_inputs": "<sos> qq"}}, 422,
              "params.decoder_inputs: the word 'qq' (text 0) is not in the vocabulary"),
             ({"text": "a", "targets": "a b c q"}, 422, "targets: the word 'q' (text 0) is not in the vocabulary"),
             ({"text": " ".join(["a"] * 513)}, 422, "text: text 0 has 513 words; this service reads at most 512"),
             ({"text": "a", "params": {"decoder_inputs": " ".join(["a"] * 257)}}, 422,
              "params.decoder_inputs: text 0 has 257 words; this service reads at most 256"),
             ({"text": ["a"] * 5}, 413, "text: expected at most 4 texts per request, got 5"),
             ({"text": "  "}, 422, "text: expected at least one word"),
             ({"text": []}, 422, "text: expected a string or a non-empty list of strings"),
             ({"text": "a", "inputs": [[2]]}, 422, "body: expected 'inputs' (token ids) or 'text', not both"),
             ({"text": "a", "params": {"seq_length": 10 ** 6}}, 422, "params.seq_length: expected an int between 1"),
             ({"inputs": [[2] * 513]}, 422, "inputs: expected source sequences of at most 512 tokens, got 513"),
             ({"inputs": SRC, "params": {"decoder_inputs": [[1] * 257] * 2}}, 422,
              "params.decoder_inputs: expected at most 256 tokens"),
             ({"text": "a", "targets": "a b c d e"}, 422, "targets: expected token ids of shape (1, 4)")]
    for body, status, message in cases:
        response = client.post("/explain", json=dict(body, method="gradient"))
        assert response.status_code == status, (body, response.json())
        assert message in response.json()["detail"], (body, response.json())


def test_unknown_words_map_to_unk_and_text_needs_a_vocabulary(luong):
    with_unk = VOCAB[:8] + ["<unk>"]  # id 8 stands for every unknown word
    explainer = tlxp.ModelExplainer(luong, methods=["gradient"], sos=SOS, seq_length=3, vocab=with_unk)
    with TestClient(create_app(explainer, batch_window=None)) as c:
        response = c.post("/predict", json={"text": "a nowhere b"})
        assert response.status_code == 200 and response.json()["tokens"] == [[2, 8, 3]]
        assert response.json()["words"] == [["a", "<unk>", "b"]]
    bare = tlxp.ModelExplainer(luong, methods=["gradient"], sos=SOS, seq_length=3)
    with TestClient(create_app(bare, batch_window=None)) as c:
        response = c.post("/explain", json={"text": "a b"})
        assert response.status_code == 422
        assert response.json()["detail"].startswith("text: this server has no vocabulary to read text with")
        assert c.get("/methods").json()["model"]["text"] is None


def test_token_model_text_count_is_checked_before_encoding():
    vocab = ["<pad>", "<unk>"] + ["w%d" % i for i in range(2, 30)]
    explainer = tlxp.ModelExplainer(planted_token_model(), methods=["gradient"], vocab=vocab)
    with TestClient(create_app(explainer, batch_window=None, max_batch=2)) as c:
        assert c.get("/methods").json()["model"]["text"]["max_words"] == 12
        response = c.post("/explain", json={"text": ["w2"] * 3})
        assert response.status_code == 413 and response.json()["detail"].startswith("text: expected at most 2 texts")
    image = tlxp.ModelExplainer(tiny_static_cnn(seed=1, size=12, n_classes=3), methods=["gradient"])
    with TestClient(create_app(image, batch_window=None)) as c:
        response = c.post("/explain", json={"text": "w2"})
        assert response.status_code == 422 and response.json()["detail"].startswith("text: this server takes 'inputs'")


def test_the_budget_counts_the_request_own_lengths(luong):
    """A long teacher-forcing sequence is costed at its own length (not the last length the adapter saw)."""
    explainer = tlxp.ModelExplainer(luong, methods=["gradient", "occlusion"], sos=SOS, seq_length=3, vocab=VOCAB)
    with TestClient(create_app(explainer, batch_window=None, max_cost=250)) as c:
        long_dec = {"inputs": SRC, "method": "gradient", "params": {"decoder_inputs": [[1] * 200] * 2}}
        response = c.post("/explain", json=long_dec)
        assert response.status_code == 422, response.json()
        # 2 sources x 200 output positions, one forward and one backward row each
        assert "costs 800 model passes (400 forward + 400 backward)" in response.json()["detail"]
        long_src = c.post("/explain", json={"text": " ".join(["a"] * 300), "method": "occlusion"})
        assert long_src.status_code == 422 and "max_cost: occlusion on 1 input(s)" in long_src.json()["detail"]
        assert "costs 304 model passes" in long_src.json()["detail"]  # 3 decoded + 301 teacher-forced rows


def test_the_demo_offers_only_the_methods_that_apply():
    gr = pytest.importorskip("gradio")
    from tensorlayer_xplain.serve.demo import build_demo

    explainer = tlxp.ModelExplainer(tiny_static_cnn(seed=1, size=12, n_classes=3),
                                    methods=["attention_rollout", "gradient", "gradcam"])
    demo = build_demo(explainer, examples=np.zeros((1, 12, 12, 1), np.float32))
    (methods,) = [b for b in demo.blocks.values() if isinstance(b, gr.CheckboxGroup)]
    assert [c[1] for c in methods.choices] == ["gradient", "gradcam"] and methods.value == ["gradient", "gradcam"]
