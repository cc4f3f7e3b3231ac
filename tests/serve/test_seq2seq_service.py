"""The HTTP service on an encoder-decoder: JSON source ids in, (N, T_out, T_src) attributions out, clear 422s."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp

from conftest import tiny_luong

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from tensorlayer_xplain.serve import create_app

SOS = 1
VOCAB = ["<pad>", "<sos>"] + list("abcdefg")
SRC = [[2, 5, 3, 7, 0], [4, 4, 6, 2, 8]]


@pytest.fixture(scope="module")
def model():
    return tiny_luong("dot", seed=6)


@pytest.fixture(scope="module")
def client(model):
    explainer = tlxp.ModelExplainer(model, methods=["integrated_gradients", "attention", "occlusion"], sos=SOS,
                                    seq_length=4, vocab=VOCAB, config={"integrated_gradients": {"steps": 16}})
    with TestClient(create_app(explainer, batch_window=None)) as c:
        yield c


@pytest.mark.slow
def test_explain_greedy_and_teacher_forced(client, model):
    response = client.post("/explain", json={"inputs": SRC, "method": "ig"})
    assert response.status_code == 200, response.json()
    body = response.json()
    direct = tlxp.explain(model, np.asarray(SRC), "integrated_gradients", sos=SOS, seq_length=4, steps=16)
    np.testing.assert_allclose(body["attributions"], direct.attributions, rtol=1e-4, atol=1e-5)
    assert body["outputs"] == direct.meta["outputs"].tolist() and body["tokens"] == SRC
    assert body["words"][0] == ["a", "d", "b", "f", "<pad>"] and np.asarray(body["attributions"])[0, :, 4].tolist() \
        == [0.0] * 4
    dec = [[1, 2, 3, 4], [1, 5, 5, 5]]
    forced = client.post("/explain", json={"inputs": SRC, "method": "attention", "params": {"decoder_inputs": dec}})
    assert forced.status_code == 200, forced.json()
    attention = np.asarray(forced.json()["attributions"])
    assert attention.shape == (2, 4, 5) and forced.json()["decoder_inputs"] == dec
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert "decoder_attributions" not in body  # integrated gradients keeps its path on the source
    one = client.post("/explain", json={"inputs": SRC[1], "method": "occlusion", "targets": [[3, 3, 3, 3]]})
    assert one.status_code == 200 and one.json()["targets"] == [[3, 3, 3, 3]]
    direct = tlxp.explain(model, np.asarray(SRC[1:]), "occlusion", sos=SOS, seq_length=4, targets=[[3, 3, 3, 3]])
    np.testing.assert_allclose(one.json()["decoder_attributions"], direct.decoder_attributions, atol=1e-5)
    predicted = client.post("/predict", json={"inputs": SRC})
    assert predicted.status_code == 200 and predicted.json()["outputs"] == body["outputs"]
    assert client.get("/health").json()["status"] == "ok"


def test_errors_are_422(client):
    cases = [({"inputs": [[1.5, 2.0]]}, "expected integer token ids"),
             ({"inputs": [[99, 2]]}, "expected token ids in [0, 9)"),
             ({"inputs": SRC, "params": {"decoder_inputs": [[1, 2]]}}, "decoder_inputs: expected one row per source"),
             ({"inputs": SRC, "params": {"decoder_inputs": {"a": 1}}}, "params.decoder_inputs: expected a (nested)"),
             ({"inputs": SRC, "targets": [[1, 2]]}, "targets: expected token ids of shape (2, 4)"),
             ({"inputs": SRC, "params": {"window": 3}}, "unknown 'window'"),
             ({"inputs": SRC, "method": "occlusion", "params": {"mask_token": 77}}, "mask_token")]
    for body, message in cases:
        response = client.post("/explain", json=dict(body, method=body.get("method", "ig")))
        assert response.status_code == 422, (body, response.json())
        assert message in response.json()["detail"], (body, response.json())
