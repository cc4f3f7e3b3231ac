"""The smallest ModelExplainer use, and no method leaves the model changed, even on error."""
import pytest

import tensorlayer_xplain as tlxp

from conftest import assert_same_state, model_state


def test_explainer_minimal_api(static_cnn, images):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient"], config={"gradient": {"absolute": False}})
    exp = explainer.explain(images, method="gradient", target_class=2)
    assert isinstance(exp, tlxp.Explanation) and (exp.targets == 2).all()
    assert exp.attributions.min() < 0  # config absolute=False honoured
    assert exp.timings["total"] > 0 and exp.predictions.shape == (5, 4)
    with pytest.raises(KeyError, match="unknown 'gradiant'; did you mean 'gradient'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradiant"])
    with pytest.raises(TypeError, match="unknown 'absolut'; did you mean 'absolute'"):
        tlxp.ModelExplainer(static_cnn, methods=["gradient"], config={"gradient": {"absolut": True}})


def test_no_method_mutates_the_model_even_on_error(static_cnn, images):
    before = model_state(static_cnn)
    tlxp.explain(static_cnn, images, "gradient")
    with pytest.raises(ValueError):
        tlxp.explain(static_cnn, images, "gradient", targets=99)
    assert_same_state(before, model_state(static_cnn))
