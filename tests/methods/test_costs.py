"""The cost model: declared costs of the built-in and user methods, count ranges, budgets."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.perturbation import occlusion_windows

from conftest import CountingLinear, tiny_static_cnn

SIZE, N_CLASSES = 12, 4


@pytest.fixture(scope="module")
def model():
    return tiny_static_cnn(seed=7, size=SIZE, n_classes=N_CLASSES)


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(3).random((16, SIZE, SIZE, 1)).astype(np.float32)


def test_costs_of_the_builtin_methods(model):
    n = 3
    cost = tlxp.estimate_cost(model, "integrated_gradients", n, steps=20)
    assert (cost.forward, cost.backward, cost.total) == (63, 63, 126)
    assert tlxp.estimate_cost(model, "gradient", n) == tlxp.Cost("gradient", n, n, n, 2 * n)
    assert tlxp.estimate_cost(model, "gradcam", n).total == 2 * n
    assert tlxp.estimate_cost(model, "smoothgrad", n, n_samples=5).total == 2 * n * 5
    nested = tlxp.estimate_cost(model, "smoothgrad", n, n_samples=5, base_method="ig", base_params={"steps": 9})
    assert (nested.forward, nested.backward) == (n * 5 * 10, n * 5 * 10)
    assert tlxp.estimate_cost(model, "rise", n, n_masks=300) == tlxp.Cost("rise", n, 900, 0, 900)
    assert tlxp.estimate_cost(model, "lime", n, num_samples=70).forward == 210
    windows = len(occlusion_windows((SIZE, SIZE), (4, 4), (2, 2))[0])
    assert tlxp.estimate_cost(model, "occlusion", n).forward == n * (windows + 1) and windows == 25
    channels = tlxp.as_adapter(model).capture(np.zeros((1, SIZE, SIZE, 1), np.float32),
                                              [tlxp.methods.cam.default_cam_layer(tlxp.as_adapter(model))]).outputs
    assert tlxp.estimate_cost(model, "scorecam", n).forward == n * (list(channels.values())[0].shape[-1] + 1)
    background = np.zeros((7, SIZE, SIZE, 1), np.float32)
    assert tlxp.estimate_cost(model, "shap", n, n_samples=11, background=background) == tlxp.Cost("shap", n, 40, 33, 73)
    assert tlxp.estimate_cost(model, "shap_kernel", n, nsamples=30, background=background).forward == n * 30 * 7
    assert tlxp.estimate_cost(model, "shap_kernel", n, nsamples=30, background=background,
                              n_segments=(4, 9)).forward == n * 2 * 30 * 7  # one game per scale
    assert tlxp.estimate_cost(model, "shap_kernel", n, background=background, granularity="feature").forward == \
        n * (2 * SIZE * SIZE + 2048) * 7  # shap's 'auto' coalitions
    assert tlxp.estimate_cost(model, "shap_partition", n, max_evals=50).forward == 150
    assert tlxp.estimate_cost(model, "shap_deep", n, background=background).total == 2 * n * 7


def test_user_methods_state_their_cost_or_get_the_default(model):
    @tlxp.register_method("triple_pass", cost=lambda adapter, n, reps=3: (n * reps, n))
    def triple_pass(adapter, inputs, targets, reps=3):
        return inputs

    @tlxp.register_method("plain_user_method")
    def plain_user_method(adapter, inputs, targets):
        return inputs

    try:
        assert tlxp.estimate_cost(model, "triple_pass", 2, reps=5) == tlxp.Cost("triple_pass", 2, 10, 2, 12)
        assert tlxp.estimate_cost(model, "plain_user_method", 4).total == 8
        with pytest.raises(TypeError, match="cost: expected a callable"):
            tlxp.register_method("bad_cost", cost=5)(plain_user_method)
        assert "bad_cost" not in tlxp.available_methods()  # nothing half-registered
    finally:
        tlxp.unregister_method("triple_pass")
        tlxp.unregister_method("plain_user_method")


@pytest.mark.parametrize("method, key", [("integrated_gradients", "steps"), ("smoothgrad", "n_samples"),
                                         ("rise", "n_masks"), ("lime", "num_samples"), ("gradient", "batch_size")])
@pytest.mark.parametrize("value", [-5, 0, 1.5, 10 ** 30, True])
def test_count_parameters_are_range_checked(model, digits, method, key, value):
    with pytest.raises(ValueError, match=r"^%s: expected an int between 1 and \d+ for %s, got" % (key, method)):
        tlxp.estimate_cost(model, method, 1, **{key: value})
    with pytest.raises(ValueError, match="^%s: expected an int" % key):
        tlxp.explain(model, digits[:1], method, **{key: value})


def test_batch_size_has_a_cap_and_floats_must_be_finite(model, digits):
    with pytest.raises(ValueError, match="batch_size: expected an int between 1 and 8192"):
        tlxp.explain(model, digits[:1], "integrated_gradients", steps=10000, batch_size=10 ** 9)
    with pytest.raises(ValueError, match="noise_level: expected a number between 0 and 10"):
        tlxp.explain(model, digits[:1], "smoothgrad", noise_level=float("inf"))


def test_explainer_budget_fails_before_any_model_call(digits):
    model = CountingLinear()
    explainer = tlxp.ModelExplainer(tlxp.ModelAdapter(model, input_shape=(6,)), methods=["gradient"], max_cost=1000)
    x = np.zeros((64, 6), np.float32)
    with pytest.raises(ValueError) as err:
        explainer.explain(x, "integrated_gradients", steps=10000)
    message = str(err.value)
    assert message.startswith("max_cost:") and "steps=10000" in message and "1280128" in message and "1000" in message
    assert model.calls == 0
    stream = (x[i:i + 8] for i in range(0, 64, 8))  # a stream is checked chunk by chunk
    with pytest.raises(ValueError, match="max_cost"):
        explainer.explain(stream, "integrated_gradients", steps=100)
    assert explainer.explain(x[:2], "integrated_gradients", steps=10).attributions.shape == (2, 6)
    with pytest.raises(ValueError, match="max_cost: expected None or a positive int"):
        tlxp.ModelExplainer(model, max_cost=-1)
