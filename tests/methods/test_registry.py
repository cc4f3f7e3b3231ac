"""The method registry: register, look up, aliases, and the errors naming what is known."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp


def test_registry_register_lookup_alias_and_errors(static_cnn, images):
    assert "gradient" in tlxp.available_methods()
    assert tlxp.get_method("saliency") is tlxp.get_method("gradient")

    @tlxp.register_method("double_input_test", signed=True)
    def double_input_test(adapter, inputs, targets, factor=2.0):
        return factor * inputs

    try:
        assert tlxp.method_parameters("double_input_test") == {"factor": 2.0}
        explainer = tlxp.ModelExplainer(static_cnn, methods=["double_input_test"])
        exp = explainer.explain(images, "double_input_test", factor=3.0)
        np.testing.assert_allclose(exp.attributions, 3 * images)
        assert exp.meta["signed"] is True
        with pytest.raises(ValueError, match="already registered"):
            tlxp.register_method("double_input_test")(double_input_test)
        with pytest.raises(TypeError, match="unknown 'factr'; did you mean 'factor'"):
            tlxp.explain(static_cnn, images, "double_input_test", factr=1)
    finally:
        tlxp.unregister_method("double_input_test")
    with pytest.raises(KeyError, match="method: unknown 'double_input_test'.*Known: .*gradient"):
        tlxp.get_method("double_input_test")
    with pytest.raises(TypeError, match=r"must take \(adapter, inputs, targets"):
        tlxp.register_method("bad_signature")(lambda x: x)
