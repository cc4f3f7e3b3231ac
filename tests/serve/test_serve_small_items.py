"""Issue 29 row 13: the small items left from the earlier round, each refused with a message naming its argument."""
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.serve import create_app
from tensorlayer_xplain.serve.body import NumericText, parse_json_body
from tensorlayer_xplain.serve.errors import RequestError

from conftest import tiny_static_cnn

SIZE = 12


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=9, size=SIZE, n_classes=3)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(tlxp.ModelExplainer(model, methods=["gradient"], cache=False), max_batch=4)) as c:
        yield c


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_invalid_utf8_is_a_400(client):
    r = client.post("/explain", content=b'{"inputs": [[0.5]], "method": "gradi\xffent"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]


@pytest.mark.parametrize("inputs", ["true", "[true]", "[[null]]", "[NaN]", "[[1, 2], [3]]", "[]"])
def test_json_inputs_that_are_not_numbers_are_refused(client, inputs):
    r = client.post("/explain", content=b'{"inputs": %s}' % inputs.encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "inputs" in r.json()["detail"]


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_])
def test_npy_of_complex_or_bool_is_refused(client, dtype):
    r = client.post("/explain", files={"file": ("x.npy", npy(np.zeros((1, SIZE, SIZE, 1), dtype)))})
    assert r.status_code == 422 and "dtype" in r.json()["detail"]


def test_the_declared_shape_is_checked_before_conversion():
    body = parse_json_body(b'{"inputs": ' + b"[" + b",".join([b"[[[0.5]]]"] * 1000) + b"]}")
    assert isinstance(body["inputs"], NumericText) and body["inputs"].shape == (1000, 1, 1, 1)
    with pytest.raises(RequestError) as err:
        NumericText(b"[1, 2, x]", (3,)).array()
    assert err.value.status == 422


def test_too_many_samples_get_413_from_the_declared_shape(client):
    r = client.post("/explain", json={"inputs": np.zeros((5, SIZE, SIZE, 1)).tolist()})
    assert r.status_code == 413 and "at most 4 samples" in r.json()["detail"]


def test_batch_size_big_names_the_argument(model):
    with pytest.raises((TypeError, ValueError), match="batch_size"):
        tlxp.explain(model, np.zeros((1, SIZE, SIZE, 1), np.float32), "gradient", batch_size="big")


def test_targets_true_is_refused(model):
    with pytest.raises(TypeError, match="targets: .*bool"):
        tlxp.explain(model, np.zeros((1, SIZE, SIZE, 1), np.float32), "gradient", targets=True)


def test_an_empty_stream_gets_a_clear_error(model):
    explainer = tlxp.ModelExplainer(model, methods=["gradient"])
    with pytest.raises(ValueError, match="inputs: expected at least one batch"):
        explainer.explain(iter([]), method="gradient")


def test_nan_in_a_later_streamed_batch_is_reported_at_its_true_index(model):
    batches = [np.zeros((3, SIZE, SIZE, 1), np.float32) for _ in range(2)]
    batches[1][2, 4, 5, 0] = np.nan
    explainer = tlxp.ModelExplainer(model, methods=["gradient"])
    with pytest.raises(ValueError, match=r"index \(5, 4, 5, 0\)"):
        explainer.explain(iter(batches), method="gradient", progress=False)


def test_streamed_chunks_hold_batch_size_samples(model):
    import tensorflow as tf

    adapter = tlxp.ModelAdapter(model, batch_size=4)
    seen = []

    @tlxp.register_method("rows_seen")
    def rows_seen(adapter, inputs, targets):
        seen.append(len(inputs))
        return inputs

    try:
        data = tf.data.Dataset.from_tensor_slices(np.zeros((10, SIZE, SIZE, 1), np.float32)).batch(10)
        exp = tlxp.ModelExplainer(adapter, methods=["rows_seen"], cache=False).explain(data, "rows_seen",
                                                                                     progress=False)
    finally:
        tlxp.unregister_method("rows_seen")
    assert seen == [4, 4, 2] and len(exp.attributions) == 10


def test_a_raising_targets_callable_surfaces_its_own_error(model):
    def targets(scores):
        raise ValueError("the user's targets callable failed")

    with pytest.raises(ValueError, match="the user's targets callable failed"):
        tlxp.explain(model, np.zeros((1, SIZE, SIZE, 1), np.float32), "gradient", targets=targets)


@pytest.mark.parametrize("y", [np.inf, -np.inf, np.nan])
def test_diagnose_refuses_non_finite_labels(model, y):
    x = np.random.default_rng(0).random((4, SIZE, SIZE, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, y])
    with pytest.raises(ValueError, match="y: expected 4 integer class labels"):
        tlxp.ModelExplainer(model, methods=["gradient"]).diagnose(x, labels)
