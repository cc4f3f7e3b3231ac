"""LayerCAM against the formula written out by hand (GradientTape + numpy), its fusion, errors and state."""
import numpy as np
import pytest
import tensorflow as tf
from test_cam import _manual_acts_and_grads, _scaled, _static_parts

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn, tiny_static_cnn

pytestmark = pytest.mark.slow  # about 25 s on two shared cores (the sanity check reruns the method per layer)


def _layercam_by_hand(acts, grads, size):
    """ReLU(sum_c ReLU(g) * A) per position, in numpy, then the bilinear resize."""
    a, g = acts.numpy().astype(np.float64), grads.numpy().astype(np.float64)
    cam = np.maximum((np.maximum(g, 0) * a).sum(axis=-1), 0)
    return tf.image.resize(cam[..., None].astype(np.float32), size, method="bilinear")[..., 0].numpy()


@pytest.fixture(scope="module")
def model():
    return _scaled(tiny_static_cnn(seed=11))


def test_layercam_equals_the_formula_at_the_last_and_a_shallow_layer(model, images):
    head, tail = _static_parts(model)  # conv, pool, conv | flatten, dense
    t = np.array([0, 3, 1, 2, 1])
    model.eval()
    for upto, layer_name in ((3, None), (1, head[0].name)):
        acts, grads = _manual_acts_and_grads(head[:upto], head[upto:] + tail, images, t)
        expected = _layercam_by_hand(acts, grads, (12, 12))
        exp = tlxp.explain(model, images, "layercam", t, layer_name=layer_name)
        assert exp.meta["layer_name"] == head[upto - 1].name
        assert expected.max() > 0 and exp.attributions.min() >= 0
        np.testing.assert_allclose(exp.heatmap() / expected.max(), expected / expected.max(), atol=1e-5)
        np.testing.assert_allclose(exp.predictions, model(images).numpy(), rtol=1e-5, atol=1e-6)


def test_layercam_differs_from_gradcam_where_gradients_change_sign(model, images):
    """Position-wise positive gradients are not Grad-CAM's averaged ones (else the test above proves little)."""
    t = np.array([1, 2, 3, 1, 2])
    a = tlxp.explain(model, images, "layercam", t).heatmap()
    b = tlxp.explain(model, images, "gradcam", t).heatmap()
    assert b.max() > 0
    assert not np.allclose(a / a.max(), b / max(b.max(), 1e-12), atol=1e-3)


def test_fusion_of_layers_equals_the_paper_by_hand(model, images):
    """Each map over its max; shallow ones through tanh(2 M / max M); element-wise max (Jiang et al., eq. 9)."""
    head, tail = _static_parts(model)
    t = np.array([1, 1, 0, 2, 3])
    model.eval()
    maps = []
    for upto in (1, 3):
        acts, grads = _manual_acts_and_grads(head[:upto], head[upto:] + tail, images, t)
        maps.append(_layercam_by_hand(acts, grads, (12, 12)).astype(np.float64))
    top = [m.max(axis=(1, 2), keepdims=True) for m in maps]
    shallow = np.tanh(3.0 * np.divide(maps[0], top[0], out=np.zeros_like(maps[0]), where=top[0] > 0))
    deep = np.divide(maps[1], top[1], out=np.zeros_like(maps[1]), where=top[1] > 0)
    expected = np.maximum(shallow, deep)
    names = [head[2].name, head[0].name]  # given deepest first: fused in call order all the same
    exp = tlxp.explain(model, images, "layercam", t, layer_name=names, gamma=3.0)
    assert exp.meta["layer_name"] == [head[0].name, head[2].name]
    np.testing.assert_allclose(exp.heatmap(), expected, atol=1e-5)
    assert exp.attributions.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("builder", [tiny_dynamic_cnn, tiny_keras_cnn])
def test_layercam_on_dynamic_and_keras_models(builder, images):
    model = _scaled(builder(seed=3)) if builder is tiny_dynamic_cnn else builder(seed=3)
    adapter = tlxp.as_adapter(model)
    adapter.prepare(images)
    before = model_state(model) if builder is tiny_dynamic_cnn else None
    layers = [name for name, shape in adapter.layer_call_order() if len(shape) == 3 and shape[-1] > 1]
    exp = tlxp.explain(model, images, "layercam", layer_name=layers)
    assert exp.heatmap().shape == (5, 12, 12) and np.isfinite(exp.attributions).all()
    assert exp.meta["layer_name"] == layers
    if before is not None:
        assert_same_state(before, model_state(model))


def test_layercam_errors(model, mlp_model, images, rng):
    adapter = tlxp.as_adapter(model)
    dense = [n for n in adapter.layer_names() if n.startswith("dense")][0]
    conv = [n for n in adapter.layer_names() if n.startswith("conv")][0]
    with pytest.raises(ValueError, match="layer_name: expected a layer with a 4-D output.*%s" % dense):
        tlxp.explain(model, images, "layercam", layer_name=dense)
    with pytest.raises(ValueError, match="layer_name: expected a layer with a 4-D output.*%s" % dense):
        tlxp.explain(model, images, "layercam", layer_name=[conv, dense])
    with pytest.raises(KeyError, match="no_such_layer"):
        tlxp.explain(model, images, "layercam", layer_name="no_such_layer")
    with pytest.raises(ValueError, match="layer_name: expected distinct"):
        tlxp.explain(model, images, "layercam", layer_name=[conv, conv])
    with pytest.raises(ValueError, match="layer_name: expected a layer name or a non-empty list"):
        tlxp.explain(model, images, "layercam", layer_name=[])
    with pytest.raises(TypeError, match="layer_name: expected None, a layer name or a list"):
        tlxp.explain(model, images, "layercam", layer_name=3)
    for gamma in (0.0, -1.0, 1e9, True, "2", float("nan")):
        with pytest.raises((ValueError, TypeError), match="gamma: expected .*0.001.*100"):
            tlxp.explain(model, images, "layercam", gamma=gamma)
    with pytest.raises(ValueError, match="layer_name.*4-D"):
        tlxp.explain(mlp_model, rng.random((2, 64), dtype=np.float32), "layercam")


def test_model_unchanged_even_after_an_error(images):
    model = _scaled(tiny_static_cnn(seed=12))
    before = model_state(model)
    tlxp.explain(model, images, "layercam")
    assert_same_state(before, model_state(model))
    with pytest.raises(RuntimeError, match="boom"):
        tlxp.explain(model, images, "layercam", targets=lambda s: (_ for _ in ()).throw(RuntimeError("boom")))
    assert_same_state(before, model_state(model))


def test_layercam_passes_the_randomization_sanity_check(model, images):
    before = model_state(model)
    res = metrics.randomization_sanity_check(model, images, "layercam")
    assert res.passed, res.correlations
    assert_same_state(before, model_state(model))


def test_layercam_through_the_explainer(model, images):
    explainer = tlxp.ModelExplainer(model, methods=["layercam"], config={"layercam": {"gamma": 2.0}})
    exp = explainer.explain(images, method="layercam", targets=[0, 1, 2, 3, 0])
    direct = tlxp.explain(model, images, "layercam", [0, 1, 2, 3, 0])
    np.testing.assert_allclose(exp.attributions, direct.attributions, rtol=1e-6)
    assert tlxp.estimate_cost(model, "layercam", 5).total == 10


def test_layercam_through_the_service(model, images):
    from fastapi.testclient import TestClient

    from tensorlayer_xplain.serve import create_app

    explainer = tlxp.ModelExplainer(model, methods=["layercam"])
    names = [n for n, s in tlxp.as_adapter(model).layer_call_order() if n.startswith("conv")]
    with TestClient(create_app(explainer)) as client:
        response = client.post("/explain", json={"inputs": images[:2].tolist(), "method": "layercam",
                                                 "targets": [1, 2], "params": {"layer_name": names}})
    assert response.status_code == 200, response.text
    direct = tlxp.explain(model, images[:2], "layercam", [1, 2], layer_name=names)
    np.testing.assert_allclose(response.json()["attributions"], direct.attributions, rtol=1e-5, atol=1e-6)
