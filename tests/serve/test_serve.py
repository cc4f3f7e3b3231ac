"""The HTTP service (tensorlayer_xplain.serve) through FastAPI's TestClient: no network, tiny model."""
import base64
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import cli
from tensorlayer_xplain.serve import create_app, decode_upload, overlay_rgb

from conftest import tiny_dynamic_cnn, tiny_static_cnn

SIZE, N_CLASSES = 12, 4
LIMIT = 40_000


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=5, size=SIZE, n_classes=N_CLASSES)


@pytest.fixture(scope="module")
def explainer(model):
    return tlxp.ModelExplainer(model, methods=["gradient", "gradcam"], class_names=list("abcd"))


@pytest.fixture(scope="module")
def client(explainer):
    with TestClient(create_app(explainer, max_upload_bytes=LIMIT, max_batch=8)) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    """Images already on the 8-bit grid, so a PNG round trip is exact."""
    return np.round(np.random.default_rng(1).random((60, SIZE, SIZE, 1)) * 255).astype(np.float32) / 255


def png_bytes(image, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.asarray(image)[..., 0] * 255).astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def decode_data_uri(uri):
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


# ------------------------------------------------------------------ round trips
def test_explain_json_round_trip_matches_direct_explanation(client, model, digits):
    x = digits[:3]
    response = client.post("/explain", json={"inputs": x.tolist(), "method": "grad_cam", "targets": [0, 1, 2],
                                             "overlay": True})
    assert response.status_code == 200, response.text
    body = response.json()
    direct = tlxp.explain(model, x, "gradcam", targets=[0, 1, 2])
    assert body["method"] == "gradcam" and body["family"] == "cam" and body["targets"] == [0, 1, 2]
    np.testing.assert_allclose(body["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(body["heatmap"], direct.heatmap(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(body["predictions"], direct.predictions, rtol=1e-5, atol=1e-6)
    assert body["predicted"] == direct.predicted.tolist()
    assert body["labels"] == [list("abcd")[i] for i in body["predicted"]]
    np.testing.assert_allclose(np.sum(body["probabilities"], axis=1), 1, atol=1e-5)
    assert len(body["overlay"]) == 3
    png = decode_data_uri(body["overlay"][1])
    assert png.shape[:2] == (SIZE, SIZE) and png.shape[2] in (3, 4)
    expected = overlay_rgb(x[1], direct.heatmap()[1])
    np.testing.assert_allclose(png[..., :3] / 255.0, expected, atol=1 / 255 + 1e-6)


def test_png_upload_predict_and_explain(client, model, digits):
    image = digits[7]
    direct_scores = tlxp.as_adapter(model).predict(image[None])
    response = client.post("/predict", files={"file": ("digit.png", png_bytes(image), "image/png")})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], direct_scores, rtol=1e-5, atol=1e-6)
    response = client.post("/explain", files={"file": ("digit.png", png_bytes(image), "image/png")},
                           data={"method": "gradient", "targets": "3", "params": json.dumps({"absolute": False})})
    assert response.status_code == 200, response.text
    body = response.json()
    direct = tlxp.explain(model, image[None], "gradient", targets=3, absolute=False)
    assert body["targets"] == [3] and body["params"]["absolute"] is False and "overlay" not in body
    np.testing.assert_allclose(body["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
    assert np.asarray(body["attributions"]).min() < 0  # absolute=False reached the method


def test_jpeg_and_npy_uploads(client, model, digits):
    jpeg = client.post("/predict", files={"file": ("d.jpg", png_bytes(digits[0], "JPEG"), "image/jpeg")})
    assert jpeg.status_code == 200 and len(jpeg.json()["predicted"]) == 1
    batch = digits[:4]
    response = client.post("/explain", files={"file": ("x.npy", npy_bytes(batch), "application/octet-stream")},
                           data={"method": "gradient"})
    assert response.status_code == 200, response.text
    direct = tlxp.explain(model, batch, "gradient")
    np.testing.assert_allclose(response.json()["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)


def test_decode_upload_converts_rgb_to_gray_and_scales():
    rgb = np.zeros((SIZE, SIZE, 3), np.uint8)
    rgb[..., 1] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    gray = decode_upload(buffer.getvalue(), (SIZE, SIZE, 1))
    assert gray.shape == (SIZE, SIZE, 1) and gray.dtype == np.float32
    np.testing.assert_allclose(gray, round(0.587 * 255) / 255, atol=1 / 255)  # PIL's luma of pure green
    assert decode_upload(buffer.getvalue(), (SIZE, SIZE, 3)).max() == 1.0


def test_methods_and_health(client):
    methods = client.get("/methods").json()
    assert methods["default"] == "gradient" and list(methods["methods"]) == ["gradient", "gradcam"]
    assert methods["methods"]["gradcam"]["parameters"]["relu"] is True
    assert methods["methods"]["gradient"]["aliases"] == ["saliency"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["kind"] == "tl_static"
    assert health["input_shape"] == [SIZE, SIZE, 1] and health["image_shape"] == [SIZE, SIZE, 1]
    assert health["max_upload_bytes"] == LIMIT and health["max_batch"] == 8 and "hits" in health["cache"]
    assert "/explain" in client.get("/openapi.json").json()["paths"]


def test_cache_is_shared_across_requests(client, explainer, digits):
    payload = {"inputs": digits[20:22].tolist(), "method": "gradcam"}
    first = client.post("/explain", json=payload).json()
    hits = explainer.cache_info["hits"]
    second = client.post("/explain", json=payload).json()
    assert explainer.cache_info["hits"] == hits + 1
    assert second["attributions"] == first["attributions"]


# ------------------------------------------------------------------ bad input -> 4xx
def _json(**body):
    return {"json": body}


def _file(data, **fields):
    return {"files": {"file": ("upload", data, "application/octet-stream")}, "data": fields}


GOOD = np.zeros((SIZE, SIZE, 1)).tolist()
BAD_REQUESTS = {
    "unknown method": (_json(inputs=GOOD, method="gradcan"), 422, "did you mean 'gradcam'"),
    "method not enabled": (_json(inputs=GOOD, method="occlusion"), 422, "not enabled on this server"),
    "unknown parameter": (_json(inputs=GOOD, method="gradcam", params={"relux": False}), 422, "did you mean 'relu'"),
    "parameter of wrong type": (_json(inputs=GOOD, method="gradcam", params={"relu": "yes"}), 422, "expected a bool"),
    "params not an object": (_json(inputs=GOOD, params=[1]), 422, "params: expected a JSON object"),
    "wrong shape": (_json(inputs=np.zeros((2, SIZE + 1, SIZE, 1)).tolist()), 422, "(N, 12, 12, 1)"),
    "inputs not a list": (_json(inputs="pixels"), 422, "inputs: expected a (nested) list"),
    "ragged inputs": (_json(inputs=[[0.0, 1.0], [0.0]]), 422, "inputs"),
    "missing inputs": (_json(method="gradient"), 422, "'inputs'"),
    "unknown body field": (_json(inputs=GOOD, taget=1), 422, "unknown field(s) taget"),
    "target out of range": (_json(inputs=GOOD, targets=7), 422, "out of range"),
    "target not an int": (_json(inputs=GOOD, targets="seven"), 422, "targets: expected"),
    "bool target": (_json(inputs=GOOD, targets=True), 422, "targets: expected"),
    "overlay not a bool": (_json(inputs=GOOD, overlay="maybe"), 422, "overlay: expected true or false"),
    "too many samples": (_json(inputs=np.zeros((9, SIZE, SIZE, 1)).tolist()), 413, "at most 8 samples"),
    "invalid JSON": ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "expected JSON"),
    "unsupported content type": ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
    "declared oversized body": ({"content": b"[" + b"0," * LIMIT + b"0]",
                                 "headers": {"content-type": "application/json"}},
                                413, "at most %d bytes, got %d" % (LIMIT, 2 * LIMIT + 3)),
    "streamed oversized body": ({"content": iter([b"x" * 30_000, b"x" * 30_000]),  # chunked: no content-length
                                 "headers": {"content-type": "application/json"}},
                                413, "at most %d bytes, got more" % LIMIT),
    "wrong image size": (_file(png_bytes(np.zeros((SIZE + 4, SIZE, 1)))), 422, "expected a 12x12 image"),
    "not an image": (_file(b"GIF89a nonsense bytes"), 400, "expected a PNG, JPEG or .npy file"),
    "truncated PNG": (_file(png_bytes(np.random.default_rng(2).random((SIZE, SIZE, 1)))[:90]), 400, "unreadable"),
    "corrupt npy": (_file(npy_bytes(np.zeros((SIZE, SIZE, 1)))[:70]), 400, ".npy"),
    "npy with NaN": (_file(npy_bytes(np.full((SIZE, SIZE, 1), np.nan))), 422, "finite"),
    "npy of strings": (_file(npy_bytes(np.array(["a", "b"]))), 422, "numeric"),
    "empty upload": (_file(b""), 400, "empty upload"),
    "no file field": ({"files": {"other": ("x", b"1")}, "data": {"method": "gradient"}}, 422,
                      "file: expected an uploaded"),
    "targets field not JSON": (_file(png_bytes(np.zeros((SIZE, SIZE, 1))), targets="[1,"), 400,
                               "targets: expected JSON"),
    "gif image": (_file(png_bytes(np.zeros((SIZE, SIZE, 1)), "GIF")), 400, "got GIF"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_clear_4xx(client, case):
    kwargs, status, fragment = BAD_REQUESTS[case]
    response = client.post("/explain", **kwargs)
    assert response.status_code == status, (case, response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and fragment in detail, (case, detail)


def test_predict_validates_too(client):
    response = client.post("/predict", json={"inputs": np.zeros((3, 5)).tolist()})
    assert response.status_code == 422 and "(N, 12, 12, 1)" in response.json()["detail"]


def test_create_app_rejects_bad_settings(explainer, model):
    with pytest.raises(ValueError, match="max_upload_bytes"):
        create_app(explainer, max_upload_bytes=0)
    with pytest.raises(ValueError, match="max_batch"):
        create_app(explainer, max_batch=0)
    with pytest.raises(KeyError, match="did you mean 'gradcam'"):
        create_app(explainer, methods=["gradcan"])
    with pytest.raises(TypeError, match="ModelExplainer"):
        create_app(model)
    dynamic = tlxp.ModelExplainer(tiny_dynamic_cnn(seed=1, size=SIZE), methods=["gradient"])
    with pytest.raises(ValueError, match="input_shape"):
        create_app(dynamic)


def test_missing_fastapi_gives_install_hint(monkeypatch, explainer):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(ImportError, match=r"tensorlayer-xplain\[serve\]"):
        create_app(explainer)


# ------------------------------------------------------------------ concurrency
def test_fifty_concurrent_requests_are_all_answered_correctly(model, digits):
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "gradcam"])  # a fresh cache: real work per request
    app = create_app(explainer)
    jobs = [("/explain" if i % 3 else "/predict", ("gradient", "gradcam")[i % 2], digits[i:i + 1 + i % 2])
            for i in range(50)]
    expected = []
    for path, method, x in jobs:
        exp = tlxp.explain(model, x, method)
        expected.append(exp.predictions if path == "/predict" else exp.attributions)

    with TestClient(app) as client:
        def call(job):
            path, method, x = job
            return client.post(path, json={"inputs": x.tolist(), "method": method})

        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(call, jobs))
    for (path, method, _x), want, response in zip(jobs, expected, responses):
        assert response.status_code == 200, response.text
        got = response.json()["predictions" if path == "/predict" else "attributions"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg="%s %s" % (path, method))
    assert explainer.cache_info["misses"] == sum(1 for path, _, _ in jobs if path == "/explain")


# ------------------------------------------------------------------ CLI
MODULE = """import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Input
from conftest import TinyDynamicCNN

def build():
    ni = Input([None, 64])
    return tl.models.Model(ni, Dense(3, in_channels=64)(ni))

def dynamic():
    return TinyDynamicCNN(size=12)
"""


@pytest.fixture
def model_module(tmp_path, monkeypatch):
    (tmp_path / "serve_cli_models.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    return "serve_cli_models"


@pytest.mark.parametrize("argv, fragment", [
    (["serve"], "--model"),
    (["serve", "--model", "nocolon"], "MODULE:BUILDER"),
    (["serve", "--model", "no_such_module_xyz:build"], "cannot import"),
    (["serve", "--model", "{m}:build", "--port", "0"], "--port: expected 1..65535"),
    (["serve", "--model", "{m}:build", "--port", "http"], "invalid int value"),
    (["serve", "--model", "{m}:build", "--methods", "gradient,gradcan"], "did you mean 'gradcam'"),
    (["serve", "--model", "{m}:build", "--max-upload-bytes", "0"], "--max-upload-bytes"),
    (["serve", "--model", "{m}:build", "--input-shape", "28,x"], "--input-shape"),
    (["serve", "--model", "{m}:build", "--weights", "missing.npz"], "--weights: no such file"),
    (["serve", "--model", "{m}:build", "--input-shape", "5,5"], "declares input shape (64,)"),
    (["serve", "--model", "{m}:dynamic", "--input-shape", "5,5"], "fails on a zero batch"),
    (["serve", "--model", "{m}:dynamic"], "--input-shape"),
    (["serve", "--model", "{m}:build", "--config", "nope.json"], "--config"),
])
def test_cli_serve_argument_errors_are_one_line(model_module, capsys, argv, fragment):
    code = cli.main([a.format(m=model_module) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("tensorlayer_xplain: error:") and fragment in lines[0], err


def test_cli_serve_builds_the_app_and_runs_uvicorn_on_loopback(model_module, monkeypatch, capsys):
    import uvicorn

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    code = cli.main(["serve", "--model", model_module + ":build", "--port", "8123", "--methods", "saliency,ig",
                     "--max-batch", "2"])
    assert code == 0, capsys.readouterr().err
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8123
    assert "http://127.0.0.1:8123" in capsys.readouterr().out
    with TestClient(calls["app"]) as client:
        assert client.get("/health").json()["methods"] == ["gradient", "integrated_gradients"]
        x = np.random.default_rng(0).random((2, 64)).tolist()
        body = client.post("/explain", json={"inputs": x, "method": "ig", "params": {"steps": 8}}).json()
        assert np.asarray(body["attributions"]).shape == (2, 64)
        assert client.post("/explain", json={"inputs": x * 2}).status_code == 413
