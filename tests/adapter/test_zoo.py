"""TensorLayer's model zoo at 224x224x3 with random weights: MobileNetV1 and ResNet50 (BatchNorm inside).

Slow on CPU (about half a minute per model on two cores), so one image and two methods each.
"""
import numpy as np
import pytest
import tensorlayer as tl

import tensorlayer_xplain as tlxp

from conftest import assert_same_state, model_state

pytestmark = pytest.mark.slow  # minutes on two cores; `pytest -m "not slow"` leaves it out

ZOO = {"MobileNetV1": lambda: tl.models.MobileNetV1(pretrained=False),
       "ResNet50": lambda: tl.models.ResNet50(pretrained=False)}


@pytest.fixture(scope="module", params=sorted(ZOO))
def zoo_model(request):
    return ZOO[request.param]()


def test_zoo_gradient_and_gradcam(zoo_model):
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    before = model_state(zoo_model)
    explainer = tlxp.ModelExplainer(zoo_model, methods=["gradient", "gradcam"])
    assert explainer.adapter.image_shape == (224, 224, 3)
    grad = explainer.explain(x, method="gradient")
    cam = explainer.explain(x, method="gradcam")
    assert grad.shape == (1, 224, 224, 3) and np.isfinite(np.asarray(grad)).all() and np.ptp(grad.heatmap()) > 0
    assert cam.shape == (1, 224, 224, 3) and cam.heatmap().shape == (1, 224, 224)
    shapes = dict(explainer.adapter.layer_call_order())
    h, w, _ = shapes[cam.meta["layer_name"]]
    assert (h, w) == (7, 7), cam.meta["layer_name"]  # the last feature map, not the 1x1 head
    assert grad.predictions.shape == (1, 1000)
    assert_same_state(before, model_state(zoo_model))
