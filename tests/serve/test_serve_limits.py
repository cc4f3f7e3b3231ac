"""Budgets over HTTP, the worker pool, deadlines of requests, merged requests and 4xx-only errors of the service."""
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import cli
from tensorlayer_xplain.serve import create_app

from conftest import CountingLinear, tiny_static_cnn

SIZE, N_CLASSES = 12, 4


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=7, size=SIZE, n_classes=N_CLASSES)


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(3).random((16, SIZE, SIZE, 1)).astype(np.float32)


PIECES = []  # one entry per piece the slow method ran (a record of the work actually done)


def _slow_cost(adapter, n, repeats=10, delay=0.05, **_):
    return n * repeats, 0


@pytest.fixture(scope="module", autouse=True)
def slow_method():
    """A method that runs ``repeats`` pieces of ``delay`` seconds through ``map_batches`` (sleep, not CPU)."""

    @tlxp.register_method("slow_pieces", cost=_slow_cost)
    def slow_pieces(adapter, inputs, targets, repeats=10, delay=0.05):
        rows = np.repeat(inputs, repeats, axis=0)

        def piece(block):
            time.sleep(delay)
            PIECES.append(time.monotonic())
            return block

        return adapter.map_batches(piece, rows, batch_size=len(inputs)).reshape((repeats,) + inputs.shape).mean(0)

    yield
    tlxp.unregister_method("slow_pieces")


def linear_app(**options):
    model = CountingLinear()
    explainer = tlxp.ModelExplainer(tlxp.ModelAdapter(model, input_shape=(6,)), methods=["gradient", "slow_pieces"],
                                    cache=False)
    return model, create_app(explainer, **options)


# ------------------------------------------------------------------ budgets over HTTP
def test_request_over_budget_gets_422_fast_without_a_model_call():
    model, app = linear_app(max_cost=5000)
    with TestClient(app) as client:
        calls = model.calls
        start = time.perf_counter()
        response = client.post("/explain", json={"inputs": np.zeros((64, 6)).tolist(), "method": "slow_pieces",
                                                 "params": {"repeats": 1000}})
        elapsed = time.perf_counter() - start
        assert response.status_code == 422 and elapsed < 1.0
        detail = response.json()["detail"]
        assert "max_cost" in detail and "64000" in detail and "5000" in detail
        assert model.calls == calls and (not PIECES or PIECES[-1] < start)
        bad = client.post("/explain", json={"inputs": [[0.0] * 6], "method": "gradient", "params": {"batch_size": -5}})
        assert bad.status_code == 422 and "batch_size: expected an int between 1 and" in bad.json()["detail"]
        assert client.get("/health").json()["max_cost"] == 5000


# ------------------------------------------------------------------ the cheap paths and deadlines
def test_health_and_predict_answer_while_a_long_explanation_runs():
    _, app = linear_app(timeout=20)
    with TestClient(app) as client:
        long = ThreadPoolExecutor(1).submit(client.post, "/explain", json={
            "inputs": [[0.5] * 6], "method": "slow_pieces", "params": {"repeats": 40, "delay": 0.05}})
        while not PIECES or time.monotonic() - PIECES[-1] > 0.2:
            time.sleep(0.01)  # the explanation is running
        health, predict = [], []
        for _ in range(5):
            start = time.perf_counter()
            assert client.get("/health").status_code == 200
            health.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert client.post("/predict", json={"inputs": [[0.1] * 6]}).status_code == 200
            predict.append(time.perf_counter() - start)
        assert not long.done(), "the explanation should still be running"
        assert max(health) < 0.2 and max(predict) < 0.2, (health, predict)
        assert long.result().status_code == 200


def test_request_past_its_deadline_gets_504_and_its_work_stops():
    _, app = linear_app(timeout=0.5)
    with TestClient(app) as client:
        assert client.post("/explain", json={"inputs": [[0.5] * 6], "method": "gradient"}).status_code == 200  # traced
        before = len(PIECES)
        start = time.perf_counter()
        response = client.post("/explain", json={"inputs": [[0.5] * 6], "method": "slow_pieces",
                                                 "params": {"repeats": 200, "delay": 0.05}})
        assert response.status_code == 504 and "timeout" in response.json()["detail"]
        assert time.perf_counter() - start < 2.0
        time.sleep(0.3)
        ran = len(PIECES) - before
        time.sleep(0.3)
        assert len(PIECES) - before == ran < 30, "the work should stop within one piece of its deadline"
        queue = client.get("/health").json()["queue"]
        assert queue["running"] == 0 and queue["pending"] == 0  # the worker is free again
        ok = client.post("/explain", json={"inputs": [[0.5] * 6], "method": "gradient"})
        assert ok.status_code == 200


def test_full_queue_gets_503_with_retry_after():
    _, app = linear_app(queue_size=1, timeout=10)
    with TestClient(app) as client:
        slow = {"inputs": [[0.5] * 6], "method": "slow_pieces", "params": {"repeats": 10, "delay": 0.05}}
        pool = ThreadPoolExecutor(2)
        running = pool.submit(client.post, "/explain", json=slow)
        while client.get("/health").json()["queue"]["running"] == 0:
            time.sleep(0.01)
        waiting = pool.submit(client.post, "/explain", json=slow)
        while client.get("/health").json()["queue"]["pending"] == 0:
            time.sleep(0.01)
        refused = client.post("/explain", json=slow)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "queue" in refused.json()["detail"]
        assert running.result().status_code == 200 and waiting.result().status_code == 200


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(model, digits):
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "gradcam"], cache=False)
    app = create_app(explainer, batch_window=0.3)
    jobs = [("gradient", i, None) for i in range(8)] + [("gradcam", i, 2) for i in range(8, 12)]
    with TestClient(app) as client:
        def call(job):
            method, i, target = job
            return client.post("/explain", json={"inputs": digits[i:i + 1].tolist(), "method": method,
                                                 "targets": target})

        with ThreadPoolExecutor(len(jobs)) as pool:
            responses = list(pool.map(call, jobs))
        queue = client.get("/health").json()["queue"]
    assert queue["jobs"] == len(jobs) and queue["batches"] < len(jobs)  # merged
    assert max(r.json()["timings"].get("batch", 1) for r in responses) > 1  # a lone run has no "batch"
    for (method, i, target), response in zip(jobs, responses):
        assert response.status_code == 200, response.text
        direct = tlxp.explain(model, digits[i:i + 1], method, target)
        got = np.asarray(response.json()["attributions"], np.float32)
        if method == "gradient":  # this model's kernels do not depend on the batch size: bit-equal
            np.testing.assert_array_equal(got, direct.attributions)
        else:
            np.testing.assert_allclose(got, direct.attributions, rtol=1e-5, atol=1e-7)
        assert response.json()["targets"] == direct.targets.tolist()


# ------------------------------------------------------------------ no 5xx from input, keep-alive survives
def _npy_header(shape):
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,)).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _multipart(data):
    boundary = "limitsboundary"
    body = (b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.npy\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" % boundary.encode()) + data
    body += b"\r\n--%s--\r\n" % boundary.encode()
    return body, {"Content-Type": "multipart/form-data; boundary=%s" % boundary}


@pytest.fixture(scope="module")
def server(model):
    """A real uvicorn server on a free port of 127.0.0.1, in this process."""
    import uvicorn

    app = create_app(tlxp.ModelExplainer(model, methods=["gradient"]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    yield port
    instance.should_exit = True
    thread.join(10)


def test_bad_input_gets_4xx_and_keeps_the_connection(server, digits):
    one = digits[:1].tolist()
    deep = "[" * 1000 + "]" * 1000
    cases = [
        (json.dumps({"inputs": one, "targets": [10 ** 30]}), {"Content-Type": "application/json"}, 422),
        (json.dumps({"inputs": one, "targets": 10 ** 30}), {"Content-Type": "application/json"}, 422),
        ('{"inputs": %s}' % deep, {"Content-Type": "application/json"}, 400),
        ('{"inputs": %s, "params": {"a": %s}}' % (json.dumps(one), "[" * 400 + "]" * 400),
         {"Content-Type": "application/json"}, 422),
        _multipart(_npy_header((10 ** 12,))) + (400,),
        _multipart(_npy_header((2 ** 62, 2 ** 62))) + (400,),
    ]
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        connection.request("GET", "/health")
        connection.getresponse().read()
        sock = connection.sock
        for body, headers, status in cases:
            connection.request("POST", "/explain", body=body, headers=headers)
            response = connection.getresponse()
            payload = json.loads(response.read())
            assert response.status == status, payload
            assert payload["detail"] and response.getheader("connection") != "close"
            assert connection.sock is sock  # the same keep-alive connection
        connection.request("POST", "/explain", body=json.dumps({"inputs": one}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["predicted"]
        assert connection.sock is sock
    finally:
        connection.close()


#: No 5xx; status code, content type, headers and body as documented. (Not ``positive_data_acceptance``:
#: a schema cannot say "a decodable 12x12 PNG", so schema-valid bodies may rightly get 400/422.)
FUZZ_CHECKS = [getattr(schemathesis.checks, name) for name in (
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance")]


@pytest.mark.slow
def test_openapi_fuzzing_finds_no_5xx_and_no_schema_violation(model):
    app = create_app(tlxp.ModelExplainer(model, methods=["gradient", "gradcam"]), max_cost=10_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted((o.method.upper(), o.path) for o in operations) == [
        ("GET", "/health"), ("GET", "/methods"), ("POST", "/explain"), ("POST", "/predict")]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(checks=FUZZ_CHECKS)

        fuzz()


# ------------------------------------------------------------------ CLI
MODULE = """import tensorlayer as tl
from tensorlayer.layers import Dense, Input

def build():
    ni = Input([None, 16])
    return tl.models.Model(ni, Dense(3, in_channels=16)(ni))
"""


def test_cli_serve_passes_the_limits(tmp_path, monkeypatch, capsys):
    import uvicorn

    (tmp_path / "limits_cli_models.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    code = cli.main(["serve", "--model", "limits_cli_models:build", "--max-cost", "500", "--timeout", "7",
                     "--queue-size", "3", "--batch-window", "2"])
    assert code == 0, capsys.readouterr().err
    with TestClient(calls["app"]) as client:
        health = client.get("/health").json()
        assert (health["max_cost"], health["timeout"], health["queue"]["queue_size"]) == (500, 7.0, 3)
        assert health["batch_window"] == 0.002
        over = client.post("/explain", json={"inputs": [[0.0] * 16], "method": "gradient",
                                             "params": {"batch_size": 4}, "targets": 0})
        assert over.status_code == 200
    assert cli.main(["serve", "--model", "limits_cli_models:build", "--no-micro-batching", "--max-cost", "0"]) == 0
    with TestClient(calls["app"]) as client:
        health = client.get("/health").json()
        assert health["batch_window"] is None and health["max_cost"] is None
    for argv, fragment in [(["--max-cost", "-1"], "--max-cost"), (["--timeout", "0"], "--timeout"),
                           (["--queue-size", "0"], "--queue-size"), (["--batch-window", "5000"], "--batch-window")]:
        assert cli.main(["serve", "--model", "limits_cli_models:build"] + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0]
