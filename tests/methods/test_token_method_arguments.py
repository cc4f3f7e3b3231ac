"""Token versions of lime and Kernel SHAP check their choice arguments as the image versions do (found by the fuzz)."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods._engine.checks import l1_reg_value

from conftest import planted_token_model

IDS = np.array([[5, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]])


@pytest.fixture(scope="module")
def model():
    return planted_token_model()


@pytest.mark.parametrize("value", [0, "x", None, ["auto"]])
def test_token_lime_names_a_bad_feature_selection(model, value):
    with pytest.raises(ValueError, match="feature_selection: expected one of auto, none"):
        tlxp.explain(model, IDS, "lime", num_samples=16, feature_selection=value)


@pytest.mark.parametrize("value", [None, True, -1.0, "num_features(0)", "lasso", 1e30])
def test_token_kernel_shap_names_a_bad_l1_reg(model, value):
    with pytest.raises(ValueError, match="l1_reg: expected False, 'auto', 'aic', 'bic'"):
        tlxp.explain(model, IDS, "shap_kernel", nsamples=16, l1_reg=value)


def test_l1_reg_accepts_what_shap_reads():
    for value in (False, 0, "auto", "aic", "bic", "num_features(3)", 0.01):
        assert l1_reg_value("l1_reg", value) == value
    exp = tlxp.explain(planted_token_model(), IDS, "shap_kernel", nsamples=16, l1_reg="num_features(2)")
    assert np.count_nonzero(exp.attributions) <= 2
