"""Pixel scaling: 16-bit PNGs by bit depth, uint8/uint16 arrays, integer inputs warned (API) or 422 (service)."""
import io
import warnings

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter import pixels
from tensorlayer_xplain.serve import create_app, decode_upload

from conftest import tiny_static_cnn

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=7)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(tlxp.ModelExplainer(model, methods=["gradient"]))) as c:
        yield c


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def gray16(rng):
    """A 12x12 16-bit image with many distinct levels (most far from 0 and 65535)."""
    return rng.integers(0, 65536, size=(12, 12)).astype(np.uint16)


def test_16bit_png_is_scaled_by_its_bit_depth(gray16):
    x = decode_upload(_png(gray16), (12, 12, 1))
    assert x.dtype == np.float32 and x.shape == (12, 12, 1)
    np.testing.assert_allclose(x[..., 0], gray16 / 65535.0, atol=1e-7)
    assert len(np.unique(x)) > 100  # not clipped to 0/1
    rgb = decode_upload(_png(gray16), (12, 12, 3))
    np.testing.assert_array_equal(rgb, np.repeat(x, 3, axis=-1))
    eight = (gray16 >> 8).astype(np.uint8)  # 8-bit PNGs keep their 1/255 scale
    np.testing.assert_allclose(decode_upload(_png(eight), (12, 12, 1))[..., 0], eight / 255.0, atol=1e-7)


def test_service_predicts_a_16bit_png_like_its_float_image(client, model, gray16):
    response = client.post("/predict", files={"file": ("d.png", _png(gray16), "image/png")})
    assert response.status_code == 200, response.text
    expected = tlxp.as_adapter(model).predict((gray16 / 65535.0).astype(np.float32)[None, ..., None])
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255.0), (np.uint16, 65535.0)])
def test_service_scales_unsigned_npy_by_full_scale(client, model, rng, dtype, scale):
    raw = rng.integers(0, int(scale) + 1, size=(2, 12, 12, 1)).astype(dtype)
    response = client.post("/predict", files={"file": ("x.npy", _npy(raw), "application/octet-stream")})
    assert response.status_code == 200, response.text
    expected = tlxp.as_adapter(model).predict(raw.astype(np.float32) / np.float32(scale))
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-5, atol=1e-6)


def test_service_rejects_other_integer_inputs_above_one(client, rng):
    ints = rng.integers(0, 256, size=(1, 12, 12, 1))
    for response in (client.post("/explain", json={"inputs": ints.tolist()}),
                     client.post("/predict", files={"file": ("x.npy", _npy(ints.astype(np.int64)),
                                                             "application/octet-stream")})):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "integer-typed values up to 255" in detail and "divide 8-bit pixels by 255" in detail
    binary = client.post("/predict", json={"inputs": (ints > 127).astype(int).tolist()})  # 0/1 ints pass
    assert binary.status_code == 200, binary.text


def test_python_api_warns_once_about_integer_inputs(model, rng, monkeypatch):
    monkeypatch.setattr(pixels, "_warned", False)
    adapter = tlxp.ModelAdapter(model)
    raw = rng.integers(0, 256, size=(1, 12, 12, 1)).astype(np.uint8)
    with pytest.warns(UserWarning, match=r"inputs: got integer-typed values up to \d+ \(dtype uint8\).*x.astype"):
        x, _ = adapter.prepare(raw)
    np.testing.assert_array_equal(x, raw.astype(np.float32))  # explained as given, not rescaled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter.prepare(raw)  # once per process
        monkeypatch.setattr(pixels, "_warned", False)
        adapter.prepare(raw.astype(np.float32) / 255)  # floats never warn
        adapter.prepare((raw > 127).astype(np.int32))  # neither do 0/1 integers
