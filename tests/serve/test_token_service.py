"""The HTTP service on a token model: JSON token ids, text through a vocabulary file, clear 422s."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp

from conftest import planted_token_model

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from tensorlayer_xplain.serve import create_app

VOCAB = ["<pad>", "<unk>"] + ["w%d" % i for i in range(2, 30)]
VOCAB[5], VOCAB[7] = "great", "superb"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    explainer = tlxp.ModelExplainer(planted_token_model(), methods=["integrated_gradients", "occlusion"],
                                    vocab=str(path))
    with TestClient(create_app(explainer, batch_window=None)) as c:
        yield c


def test_token_ids_and_text(client):
    ids = [[9, 5, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0]]
    by_ids = client.post("/explain", json={"inputs": ids, "method": "ig", "targets": 1})
    assert by_ids.status_code == 200
    body = by_ids.json()
    assert body["tokens"] == ids and body["words"][0][:4] == ["w9", "great", "w9", "superb"]
    attr = np.asarray(body["attributions"])
    assert attr.shape == (1, 12) and np.all(attr[0, 4:] == 0)
    assert set(np.argsort(-attr[0])[:2]) == {1, 3}
    by_text = client.post("/explain", json={"text": "W9 great w9 superb", "method": "ig", "targets": 1})
    assert by_text.status_code == 200
    np.testing.assert_allclose(by_text.json()["attributions"], attr, atol=1e-6)
    unknown = client.post("/predict", json={"text": ["never seen great"]})
    assert unknown.status_code == 200  # unknown words map to <unk>
    occ = client.post("/explain", json={"inputs": ids, "method": "occlusion", "params": {"mask_token": 1}})
    assert occ.status_code == 200 and np.asarray(occ.json()["attributions"]).shape == (1, 12)


def test_token_errors_are_422(client):
    cases = [({"inputs": [[1.5] * 12]}, "expected integer token ids"),
             ({"inputs": [[99] + [0] * 11]}, "expected token ids in [0, 30)"),
             ({"text": " ".join(["w9"] * 13)}, "text: text 0 has 13 words"),
             ({"text": 3}, "text: expected a string"),
             ({"inputs": [[1] * 12], "method": "occlusion", "params": {"mask_token": 77}}, "mask_token"),
             ({"inputs": [[1] * 12], "method": "occlusion", "params": {"baseline_value": 0}}, "baseline_value")]
    for body, message in cases:
        response = client.post("/explain", json=dict(body, method=body.get("method", "ig")))
        assert response.status_code == 422, (body, response.json())
        assert message in response.json()["detail"], (body, response.json())


@pytest.mark.slow
def test_cli_serve_builds_a_token_explainer(tmp_path):
    from tensorlayer_xplain.adapter import TokenAdapter
    from tensorlayer_xplain.cli import CLIError, serve_explainer

    from conftest import tiny_mlp

    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    explainer = serve_explainer(planted_token_model(), ["integrated_gradients"], vocab=str(path))
    assert isinstance(explainer.adapter, TokenAdapter) and explainer.vocab["superb"] == 7
    with pytest.raises(CLIError, match="--vocab: the model does not take token ids"):
        serve_explainer(tiny_mlp(seed=3), ["gradient"], vocab=str(path))
    with pytest.raises(CLIError, match="--vocab: cannot read"):
        serve_explainer(planted_token_model(), ["gradient"], vocab=str(tmp_path / "missing.txt"))
