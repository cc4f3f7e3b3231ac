"""Float sequences (N, T, F) through a TensorLayer LSTM: every registered method either runs or says why not.

Issue 24, point 3: every method that applies attributes per time step and feature,
with its defaults (only the sample counts lowered to keep the test fast); the ones
that do not apply are skipped with a reason, and the ones that need data name it.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods import registry
from tensorlayer_xplain.methods.applicability import skip_reason

T, F = 7, 4
#: Lower sample counts (the defaults stay otherwise) and the data some methods need.
FAST = {"smoothgrad": {"n_samples": 8}, "vargrad": {"n_samples": 8}, "lime": {"num_samples": 100},
        "shap_partition": {"max_evals": 100}, "shap_kernel": {"nsamples": 100}, "shap": {"n_samples": 16},
        "rise": {"n_masks": 100}, "sobol": {"nb_design": 8}}
#: Methods that need no self-attention, 4-D maps, ReLUs or propagation rules for a recurrent layer.
NOT_FOR_AN_LSTM = {"attention_rollout", "gradcam", "gradcam_plus_plus", "layercam", "scorecam", "guided_backprop",
                   "deeplift", "lrp"}


@pytest.fixture(scope="module")
def lstm_and_data():
    tf.random.set_seed(0)
    ni = tl.layers.Input([None, T, F])
    rnn = tl.layers.RNN(cell=tf.keras.layers.LSTMCell(units=6), return_last_output=True, return_last_state=False,
                        in_channels=F)(ni)
    model = tl.models.Model(ni, tl.layers.Dense(3, in_channels=6)(rnn))
    model.eval()
    rng = np.random.default_rng(1)
    return model, rng.random((2, T, F)).astype(np.float32), rng.random((16, T, F)).astype(np.float32)


def _data_for(method, background):
    if method in ("shap", "shap_kernel", "shap_deep"):
        return {"background": background}
    if method == "lime_tabular":
        return {"training_data": background}
    return {}


@pytest.mark.parametrize("method", sorted(registry.available_methods()))
def test_every_method_runs_per_step_and_feature_or_says_why_not(method, lstm_and_data):
    model, x, background = lstm_and_data
    reason = skip_reason(tlxp.as_adapter(model), method)
    if method in NOT_FOR_AN_LSTM:
        assert reason, method
        return
    assert reason is None, reason
    params = dict(FAST.get(method, {}), **_data_for(method, background))
    if method == "shap_deep":  # shap's DeepExplainer has no rule for the LSTM's ops: a clear error names them
        with pytest.raises(ValueError, match="model: shap_deep .* no DeepLIFT rule for the op"):
            tlxp.explain(model, x, method, **params)
        return
    exp = tlxp.explain(model, x, method, **params)
    assert exp.attributions.shape == (2, T, F), method
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0, method


def test_sobol_default_grid_fits_a_short_sequence(lstm_and_data):
    model, x, _ = lstm_and_data
    exp = tlxp.explain(model, x, "sobol", nb_design=8)
    assert exp.meta["grid_indices"].shape == (2, F, F)  # min(8, T, F) cells per side
    with pytest.raises(ValueError, match=r"grid_size: expected an int between 1 and 4 .* got 8"):
        tlxp.explain(model, x, "sobol", grid_size=8, nb_design=8)


def test_data_hungry_methods_name_what_they_need(lstm_and_data):
    model, x, _ = lstm_and_data
    with pytest.raises(ValueError, match=r"training_data: .*an array \(M, 7, 4\)"):
        tlxp.explain(model, x, "lime_tabular")
    with pytest.raises(ValueError, match=r"background: method 'shap' needs a background set"):
        tlxp.explain(model, x, "shap")
