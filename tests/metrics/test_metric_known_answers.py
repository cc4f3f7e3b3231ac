"""Known answers of the faithfulness, robustness, randomisation and axiomatic metrics of issue 27, and bad arguments."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics as M

SIDE = 4


@pytest.fixture(scope="module")
def linear():
    """A linear Keras model on 4x4x1 images: 2 classes, class 1's weights geometric, zero on the left half."""
    import tensorflow as tf

    inputs = tf.keras.Input((SIDE, SIDE, 1))
    dense = tf.keras.layers.Dense(2)
    outputs = dense(tf.keras.layers.Flatten()(inputs))
    model = tf.keras.Model(inputs, outputs)
    w = np.zeros((SIDE * SIDE, 2), np.float32)
    w[:, 1] = 0.3 * 1.5 ** np.arange(SIDE * SIDE) / 1.5 ** (SIDE * SIDE) * np.where(np.arange(16) % 2, -1.0, 1.0)
    w[:, 0] = -0.2 * w[:, 1]
    ignored = (np.arange(SIDE * SIDE) % SIDE) < SIDE // 2
    w[ignored] = 0.0
    dense.set_weights([w, np.zeros(2, np.float32)])
    return model, w, ignored


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0.2, 0.9, size=(n, SIDE, SIDE, 1)).astype(np.float32)


def test_infidelity_is_zero_for_the_gradient_of_a_linear_model(linear):
    model, w, _ = linear
    x = _images()
    exp = tlxp.explain(model, x, "gradient", targets=1, absolute=False)
    np.testing.assert_allclose(exp.attributions.reshape(3, -1), np.tile(w[:, 1], (3, 1)), atol=1e-7)
    for kwargs in ({}, {"perturb_patch_sizes": [1, 2, 3]}, {"perturbation": "noise", "n_perturb_samples": 8}):
        perfect = M.infidelity(exp, model=model, **kwargs).scores
        assert np.all(perfect < 1e-9), (kwargs, perfect)
        wrong = M.infidelity(exp.attributions[::-1] * 0 + 1.0, model=model, inputs=x, targets=1, **kwargs).scores
        assert np.all(wrong > 1e-4)


def test_monotonicity_correlation_is_maximal_for_the_weights_of_a_linear_model(linear):
    """Constant inputs, so each value's effect is w_i**2 * E[(u - x_i)**2], ranked as |w_i|."""
    model, w, ignored = linear
    x = np.full((2, SIDE, SIDE, 1), 0.5, np.float32)
    weights = np.tile(np.abs(w[:, 1]) + 1e-3 * ~ignored, (2, 1))  # ties among the ignored values only
    result = M.monotonicity_correlation(weights, model=model, inputs=x, targets=1, nr_samples=200, softmax=False,
                                        seed=0)
    reversed_map = M.monotonicity_correlation(-weights, model=model, inputs=x, targets=1, nr_samples=200,
                                              softmax=False, abs=False, seed=0)
    assert np.all(result.scores > 0.97), result.scores
    assert np.all(reversed_map.scores < -0.97)
    assert result.direction == "higher"


def test_non_sensitivity_is_zero_for_a_map_zero_exactly_where_the_model_does_not_look(linear):
    model, w, ignored = linear
    x = _images(seed=1).reshape(3, -1)
    x[:, np.flatnonzero(ignored)[0]] = 0.0  # the minimum ('black') sits on an ignored value
    x = x.reshape(3, SIDE, SIDE, 1)
    exp = tlxp.explain(model, x, "gradient", targets=1)
    assert np.all(M.non_sensitivity(exp, model=model).scores == 0)
    everywhere = np.ones((3, SIDE * SIDE))
    np.testing.assert_array_equal(M.non_sensitivity(everywhere, model=model, inputs=x, targets=1).scores,
                                  np.full(3, ignored.sum()))
    groups = M.non_sensitivity(exp, model=model, features_in_step=2).scores
    assert np.all(groups == 0)  # pairs never mix an ignored and a used value in this layout


def test_pixel_flipping_and_region_perturbation_prefer_the_true_ranking(linear):
    model, w, _ = linear
    x = _images(seed=2)
    exp = tlxp.explain(model, x, "gradient_x_input", targets=1)
    good = M.pixel_flipping(exp, model=model, softmax=False)
    bad = M.pixel_flipping(-exp.attributions, model=model, inputs=x, targets=1, softmax=False)
    assert np.all(good.scores < bad.scores) and good.details["curves"].shape == (3, SIDE * SIDE)
    good = M.region_perturbation(exp, model=model, patch_size=2, softmax=False)
    bad = M.region_perturbation(exp, model=model, patch_size=2, softmax=False, order="lerf")
    assert np.all(good.scores > bad.scores) and good.details["curves"].shape == (3, 4)


def test_input_invariance_holds_for_the_gradient_and_fails_for_gradient_x_input(static_cnn, images):
    """Kindermans et al. (2019): a constant input shift absorbed by the model leaves the gradient unchanged."""
    grad = tlxp.explain(static_cnn, images, "gradient")
    assert np.all(M.input_invariance(grad, model=static_cnn).scores == 1)
    gxi = tlxp.explain(static_cnn, images, "gradient_x_input")
    assert np.all(M.input_invariance(gxi, model=static_cnn).scores == 0)
    assert np.all(M.input_invariance(gxi, model=static_cnn, input_shift=0.0).scores == 1)


def test_model_parameter_randomisation_on_a_tensorlayer_model_restores_the_weights(static_cnn, images):
    exp = tlxp.explain(static_cnn, images, "gradient")
    before = [w.numpy().copy() for w in static_cnn.all_weights]
    result = M.model_parameter_randomisation(exp, model=static_cnn, seed=3)
    for w, b in zip(static_cnn.all_weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
    n_layers = len(result.details["layers"])
    assert n_layers >= 2 and result.details["spearman"].shape == (n_layers, len(images))
    assert result.details["ssim"].shape == (n_layers, len(images))
    np.testing.assert_allclose(result.scores, result.details["spearman"][-1])
    np.testing.assert_allclose(M.model_parameter_randomisation(exp, model=static_cnn, seed=3,
                                                               similarity="ssim").scores,
                               result.details["ssim"][-1])
    # the map of the trained model itself would be perfectly similar: the randomised one is not
    assert np.nanmean(result.scores) < 0.9


def test_robustness_scores_are_zero_for_a_map_that_does_not_change(linear):
    """The gradient of a linear model is the same for every input: no explanation change under noise."""
    model, _, _ = linear
    x = _images(seed=3)
    exp = tlxp.explain(model, x, "gradient", targets=1)
    for metric in (M.local_lipschitz_estimate, M.relative_input_stability, M.relative_output_stability):
        scores = metric(exp, model=model, nr_samples=4, return_nan_when_prediction_changes=False).scores
        np.testing.assert_allclose(scores, 0.0, atol=1e-6)


def test_new_metrics_are_registered_with_their_family_and_direction():
    expected = {"pixel_flipping": ("faithfulness", "lower"), "region_perturbation": ("faithfulness", "higher"),
                "road": ("faithfulness", "lower"), "monotonicity_correlation": ("faithfulness", "higher"),
                "infidelity": ("faithfulness", "lower"), "local_lipschitz_estimate": ("robustness", "lower"),
                "relative_input_stability": ("robustness", "lower"),
                "relative_output_stability": ("robustness", "lower"),
                "model_parameter_randomisation": ("randomisation", "lower"),
                "non_sensitivity": ("axiomatic", "lower"), "input_invariance": ("axiomatic", "higher")}
    for name, (family, direction) in expected.items():
        assert (M.METRICS[name].family, M.METRICS[name].direction) == (family, direction)


def test_bad_arguments_give_clear_errors(linear):
    model, _, _ = linear
    x = _images()
    exp = tlxp.explain(model, x, "gradient", targets=1)
    with pytest.raises(TypeError, match="model"):
        M.pixel_flipping(exp)
    with pytest.raises(ValueError, match="features_in_step"):
        M.pixel_flipping(exp, model=model, features_in_step=0)
    with pytest.raises(ValueError, match="patch_size"):
        M.region_perturbation(exp, model=model, patch_size=9)
    with pytest.raises(ValueError, match="order"):
        M.region_perturbation(exp, model=model, patch_size=2, order="best")
    with pytest.raises(ValueError, match="finite"):
        M.infidelity(np.full((3, 16), np.nan), model=model, inputs=x, targets=1)
    with pytest.raises(ValueError, match="attributions"):
        M.road(np.ones((3, 15)), model=model, inputs=x, targets=1)
    with pytest.raises(ValueError, match="percentages"):
        M.road(exp, model=model, percentages=[50, 120])
    with pytest.raises(ValueError, match="perturbation"):
        M.infidelity(exp, model=model, perturbation="blur")
    with pytest.raises(ValueError, match="upper_bound"):
        M.relative_input_stability(exp, model=model, lower_bound=0.3, upper_bound=0.2)
    with pytest.raises(TypeError, match="method"):
        M.local_lipschitz_estimate(np.ones((3, 16)), model=model, inputs=x, targets=1)
    with pytest.raises(ValueError, match="layer_order"):
        M.model_parameter_randomisation(exp, model=model, layer_order="sideways")
    with pytest.raises(TypeError, match="plain callable"):
        M.model_parameter_randomisation(exp.attributions, model=lambda t: model(t), inputs=x, targets=1,
                                        method="gradient")
    with pytest.raises(ValueError, match="input_shift"):
        M.input_invariance(exp, model=model, input_shift=float("inf"))
    with pytest.raises(TypeError, match="softmax"):
        M.pixel_flipping(exp, model=model, softmax="yes")
    with pytest.raises(TypeError, match="perturb_baseline"):
        M.non_sensitivity(exp, model=model, perturb_baseline=None)
