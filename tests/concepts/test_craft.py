"""CRAFT (issue 26): Sobol indices on known answers, the factorisation's reconstruction error, a concept
that alone drives the score ranked first, h through the adapter equal to the model, determinism, the
figure, an unchanged model and clear errors."""
import numpy as np
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Conv2d, Dense, Flatten, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.concepts import jansen_total_indices, layer_activations, replicated_design
from tensorlayer_xplain.concepts.craft import extract_crops

from conftest import assert_same_state, model_state, tiny_dynamic_cnn, tiny_keras_cnn, tiny_static_cnn


def two_channel_model():
    """12x12x2 -> Conv 1x1 (identity, relu) -> Flatten -> Dense(2): class 0 sums channel 0 only."""
    ni = Input([None, 12, 12, 2])
    conv = Conv2d(2, (1, 1), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=2)
    nn = conv(ni)
    nn = Flatten()(nn)
    dense = Dense(2, in_channels=12 * 12 * 2)
    nn = dense(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    conv.all_weights[0].assign(np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2))
    conv.all_weights[1].assign(np.zeros(2, np.float32))
    w = np.zeros((12, 12, 2, 2), np.float32)
    w[..., 0, 0] = 1.0  # class 0: channel 0 everywhere
    w[..., 1, 1] = 1.0  # class 1: channel 1 everywhere
    dense.all_weights[0].assign(w.reshape(-1, 2))
    dense.all_weights[1].assign(np.zeros(2, np.float32))
    return model, conv.name


@pytest.fixture(scope="module")
def two_channel():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 1.0, (24, 12, 12, 2)).astype(np.float32)
    images[:, :, :6, 1] = 0  # left half: channel 0 only; right half: channel 1 only (pure crops on each side)
    images[:, :, 6:, 0] = 0
    return two_channel_model(), images


def test_replicated_design_and_jansen_on_known_answers():
    masks = replicated_design(2, 1024)
    assert masks.shape == (1024 * 4, 2) and masks.min() >= 0 and masks.max() < 1
    a, c0 = masks[:1024], masks[2048:3072]
    assert np.array_equal(c0[:, 1], a[:, 1]) and np.array_equal(c0[:, 0], masks[1024:2048, 0])
    # additive f = 3 x0 + x1 with uniform factors: ST_i = a_i^2 / sum a_j^2 = (0.9, 0.1)
    st = jansen_total_indices(3 * masks[:, 0] + masks[:, 1], 1024, 2)
    np.testing.assert_allclose(st, [0.9, 0.1], atol=0.03)
    # product f = x0 x1: Var = 7/144, E[Var(f | x1)] = E[x1^2] Var(x0) = 1/36, so ST_0 = ST_1 = 4/7
    st = jansen_total_indices(masks[:, 0] * masks[:, 1], 1024, 2)
    np.testing.assert_allclose(st, [4 / 7, 4 / 7], atol=0.03)
    # a factor f does not read has no importance; a constant f gives zeros
    masks3 = replicated_design(3, 256)
    st = jansen_total_indices(np.sin(3 * masks3[:, 0]) + masks3[:, 2] ** 2, 256, 3)
    var_sin = 0.5 - np.sin(6) / 12 - ((1 - np.cos(3)) / 3) ** 2  # additive: ST_i = Var f_i / sum_j Var f_j
    var_square = 1 / 5 - 1 / 9
    np.testing.assert_allclose(st, [var_sin / (var_sin + var_square), 0.0, var_square / (var_sin + var_square)],
                               atol=0.03)
    assert st[1] == 0.0
    assert np.array_equal(jansen_total_indices(np.ones(len(masks3)), 256, 3), np.zeros(3))
    with pytest.raises(ValueError, match="nb_design: expected an int in"):
        replicated_design(2, 1)


def test_the_concept_that_drives_the_class_ranks_first_and_model_is_unchanged(two_channel):
    (model, layer), images = two_channel
    before = model_state(model)
    res = tlxp.craft(model, images, layer, n_concepts=2, patch_size=6, stride=3, class_index=0, nb_design=64)
    assert_same_state(before, model_state(model))
    # the two concepts are the two channels (non-negative, nearly axis-aligned)
    channel0 = int(np.argmax(res.concepts[:, 0] / res.concepts.sum(axis=1)))
    assert res.concepts[channel0, 0] > 5 * res.concepts[channel0, 1]
    # class 0's logit reads channel 0 only: its concept explains (nearly) all the variance
    assert res.order[0] == channel0
    assert res.importances[channel0] > 0.9 and res.importances[1 - channel0] < 0.1
    # class 1 reads the other channel: the ranking flips
    res1 = tlxp.craft(model, images, layer, n_concepts=2, patch_size=6, stride=3, class_index=1, nb_design=64)
    assert res1.order[0] == 1 - channel0 or not np.allclose(res1.concepts, res.concepts)
    assert res1.importances[res1.order[0]] > 0.9


@pytest.mark.slow
def test_factorisation_reconstructs_the_crop_activations(two_channel):
    """The stated error is ||A - U W|| / ||A|| on the crops' activations, recomputed here independently."""
    model = tiny_static_cnn(seed=2)
    adapter = tlxp.as_adapter(model)
    layer = [n for n, s in adapter.layer_call_order() if len(s) == 3][-1]  # 6 channels, relu
    x = np.random.default_rng(1).random((10, 12, 12, 1), dtype=np.float32)
    errors = {}
    for n_concepts in (1, 3, 6):
        res = tlxp.craft(model, x, layer, n_concepts=n_concepts, patch_size=6, stride=3, nb_design=8)
        errors[n_concepts] = res.reconstruction_error
    crops, origins = extract_crops(x, 6, 3)
    assert np.array_equal(crops, res.crops) and np.array_equal(origins, res.crop_origins)
    resized = tf.image.resize(crops, (12, 12), method="bicubic").numpy()
    acts = layer_activations(adapter, resized, layer).mean(axis=(1, 2))
    rebuilt = res.crop_coefficients @ res.concepts
    expected = np.linalg.norm(acts - rebuilt) / np.linalg.norm(acts)
    assert res.reconstruction_error == pytest.approx(expected, rel=1e-3, abs=1e-4)
    # as many concepts as channels: reconstructed within 5%; fewer concepts, a larger error
    assert errors[6] < 0.05 and errors[1] > errors[3] > errors[6]
    assert res.maps.shape == (10, 6, 6, 6) and res.concept_maps().shape == (10, 12, 12, 6)


@pytest.mark.slow
def test_crop_mode_mask_and_dense_layer_maps():
    model = tiny_static_cnn(seed=3)
    adapter = tlxp.as_adapter(model)
    x = np.random.default_rng(2).random((6, 12, 12, 1), dtype=np.float32)
    conv = [n for n, s in adapter.layer_call_order() if len(s) == 3][-1]
    res = tlxp.craft(model, x, conv, n_concepts=2, patch_size=6, stride=6, crop_mode="mask", nb_design=8)
    assert res.crops.shape == (6 * 4, 6, 6, 1) and res.params["crop_mode"] == "mask"
    # a crop in place: its vector is the mean of the layer's cells under it (a 6x6 grid: 3x3 cells per crop)
    canvas = np.zeros((1, 12, 12, 1), np.float32)
    canvas[0, 6:, :6] = res.crops[2]
    cells = layer_activations(adapter, canvas, conv)[0, 3:, :3].mean(axis=(0, 1))
    np.testing.assert_allclose(res.crop_coefficients[2] @ res.concepts, cells, rtol=0.5, atol=0.05 * cells.max())


@pytest.mark.slow
def test_h_through_the_adapter_equals_the_model(tiny_model_builders):
    """scores_with_layer_output with the layer's own activations gives the model's scores (TL static,
    dynamic, Keras); changed activations change them, and the model is restored."""
    x = np.random.default_rng(0).random((7, 12, 12, 1), dtype=np.float32)
    for build in tiny_model_builders:
        model = build(seed=5)
        adapter = tlxp.ModelAdapter(model, input_shape=(12, 12, 1), batch_size=3)
        layer = [n for n, s in adapter.layer_call_order() if len(s) == 3 and "layerlist" not in n][-1]
        acts = layer_activations(adapter, x, layer)
        np.testing.assert_allclose(adapter.scores_with_layer_output(x, layer, acts), adapter.predict(x), atol=1e-5)
        zeroed = adapter.scores_with_layer_output(x, layer, np.zeros_like(acts))
        assert not np.allclose(zeroed, adapter.predict(x))
        np.testing.assert_allclose(zeroed[0], zeroed[1], atol=1e-6)  # nothing of the input gets past the layer
        assert "forward" not in vars(adapter.layer(layer)) and "call" not in vars(adapter.layer(layer))
        with pytest.raises(ValueError, match="activations: layer .* outputs"):
            adapter.scores_with_layer_output(x, layer, acts[..., :1])


@pytest.mark.slow
def test_craft_is_deterministic_draws_and_keeps_figures_closed(tmp_path):
    model = tiny_dynamic_cnn(seed=1)
    x = np.random.default_rng(3).random((5, 12, 12, 1), dtype=np.float32)
    layer = "conv2d_%d" % max(int(layer.name.split("_")[-1]) for layer in tlxp.as_adapter(model).iter_layers()
                               if layer.name.startswith("conv2d"))
    a = tlxp.craft(model, x, layer, n_concepts=3, patch_size=6, stride=3, seed=7, nb_design=8)
    b = tlxp.craft(model, x, layer, n_concepts=3, patch_size=6, stride=3, seed=7, nb_design=8)
    np.testing.assert_array_equal(a.importances, b.importances)
    np.testing.assert_array_equal(a.concepts, b.concepts)
    assert a.plot(name=str(tmp_path / "craft.png"), n_concepts=2, n_crops=3, n_images=2) is a
    assert (tmp_path / "craft.png").stat().st_size > 1000
    with pytest.raises(ValueError, match=r"n_crops: expected an int in \[1, 20\]"):
        a.plot(name=str(tmp_path / "bad.png"), n_crops=0)
    assert not (tmp_path / "bad.png").exists()


def test_craft_errors_name_the_argument():
    model = tiny_keras_cnn(seed=4)
    x = np.random.default_rng(4).random((4, 12, 12, 1), dtype=np.float32)
    adapter = tlxp.as_adapter(model, input_shape=(12, 12, 1))
    names = [n for n, _ in adapter.layer_call_order()]
    conv, logits = names[0], names[-1]
    with pytest.raises(KeyError, match="layer_name: no layer named 'nope'"):
        tlxp.craft(model, x, "nope")
    with pytest.raises(ValueError, match="layer_name: CRAFT factorises non-negative activations"):
        tlxp.craft(model, x, logits, n_concepts=2, patch_size=6)
    with pytest.raises(ValueError, match=r"patch_size: expected an int in \[2, 12\]"):
        tlxp.craft(model, x, conv, patch_size=13)
    with pytest.raises(ValueError, match=r"n_concepts: expected an int in \[1, 64\]"):
        tlxp.craft(model, x, conv, n_concepts=0)
    with pytest.raises(ValueError, match=r"n_concepts: expected at most min\(crops, channels\) = 4"):
        tlxp.craft(model, x, conv, n_concepts=5, patch_size=6)
    with pytest.raises(ValueError, match="crop_mode: expected 'resize' or 'mask'"):
        tlxp.craft(model, x, conv, crop_mode="pad")
    with pytest.raises(ValueError, match="inputs: expected at least 1 examples, got 0"):
        tlxp.craft(model, x[:0], conv)
    with pytest.raises(ValueError, match="nb_design: 100 inputs x 4096 design points x .* more than 20000000"):
        tlxp.craft(model, np.repeat(x, 25, axis=0), conv, n_concepts=64, nb_design=4096)
    with pytest.raises(ValueError, match=r"class_index: expected an int in \[0, 3\]"):
        tlxp.craft(model, x, conv, class_index=4, patch_size=6)
