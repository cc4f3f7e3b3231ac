"""The parts of feature visualization, without running the loop: objectives and their values, parameterizations,
transforms, regularizers, errors."""
import numpy as np
import pytest
import tensorflow as tf

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import objectives as O
from tensorlayer_xplain.features import objective_values, parameterization, regularizers, transforms
from tensorlayer_xplain.features.objectives import term_values


@pytest.mark.parametrize("shape", [(8, 6, 1), (7, 9, 3), (12, 12, 3)])
def test_fourier_parameterization_round_trips_an_image(shape):
    p = parameterization.Fourier()
    img = np.random.default_rng(0).uniform(0.02, 0.98, (2,) + shape).astype(np.float32)
    params = p.from_image(img)
    assert params.shape == (2,) + p.param_shape(*shape)
    np.testing.assert_allclose(p.to_image(tf.constant(params), *shape).numpy(), img, atol=1e-4)
    pix = parameterization.Pixels()
    np.testing.assert_allclose(pix.to_image(tf.constant(pix.from_image(img)), *shape).numpy(), img, atol=1e-5)


def test_fourier_colour_decorrelation_matches_lucid():
    """For RGB, the spatial signal is mixed by Lucid's normalised colour matrix before the sigmoid."""
    p = parameterization.Fourier()
    params = np.random.default_rng(0).normal(0, 0.05, (1,) + p.param_shape(4, 4, 3)).astype(np.float32)
    spatial = p._spatial(tf.constant(params), 4, 4).numpy()
    norm = parameterization.COLOR_CORRELATION / np.linalg.norm(parameterization.COLOR_CORRELATION, axis=0).max()
    expected = 1 / (1 + np.exp(-(spatial @ norm.T)))
    np.testing.assert_allclose(p.to_image(tf.constant(params), 4, 4, 3).numpy(), expected, atol=1e-6)
    # and the spatial signal is the inverse FFT of the 1/f-scaled spectrum, divided by 4
    scale = 1.0 / np.maximum(np.sqrt(np.fft.fftfreq(4)[:, None] ** 2 + np.fft.rfftfreq(4)[None] ** 2), 0.25) * 4
    planes = np.fft.irfft2((params[0, 0] + 1j * params[0, 1]) * scale, s=(4, 4))
    np.testing.assert_allclose(spatial[0], np.transpose(planes, (1, 2, 0)) / 4, atol=1e-5)


def test_objectives_compose(static_cnn_layers):
    model, (conv1, conv2), dense = static_cnn_layers
    x = np.random.default_rng(1).random((6, 12, 12, 1), dtype=np.float32)
    a, b = O.channel(conv2, 1), O.class_logit(2)
    va, vb = objective_values(model, a, x), objective_values(model, b, x)
    np.testing.assert_allclose(objective_values(model, a + b, x), va + vb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(objective_values(model, 2 * a - b / 4, x), 2 * va - vb / 4, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(objective_values(model, sum([a, b, a]), x), 2 * va + vb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(objective_values(model, -a, x), -va, rtol=1e-6)
    assert repr(a - 0.5 * O.diversity(conv2)) == "Objective(channel(%r, 1) - 0.5 * diversity(%r))" % (conv2, conv2)


def test_term_values_equal_their_formulas(static_cnn_layers):
    model, (conv1, conv2), dense = static_cnn_layers
    x = np.random.default_rng(1).random((5, 12, 12, 1), dtype=np.float32)
    cap = tlxp.ModelAdapter(model).capture(x, [conv2, dense])
    a, scores = cap.outputs[conv2], cap.scores
    v = np.random.default_rng(2).normal(size=a.shape[-1]).astype(np.float32)
    cases = [
        (O.channel(conv2, 4), a[..., 4].mean(axis=(1, 2))),
        (O.neuron(conv2, 3), a[:, 3, 3, 3]),            # Lucid's neuron: the channel at the centre
        (O.neuron(conv2, (1, 2, 5)), a[:, 1, 2, 5]),
        (O.neuron(dense, 1), cap.outputs[dense][:, 1]),
        (O.layer(conv2), (a ** 2).mean(axis=(1, 2, 3))),
        (O.direction(conv2, v), (a @ v).mean(axis=(1, 2))),
        (O.class_logit(3), scores[:, 3]),
        (O.diversity(conv2), np.zeros(len(x))),          # alone, an input has no others to differ from
    ]
    for obj, expected in cases:
        np.testing.assert_allclose(objective_values(model, obj, x), expected, rtol=1e-5, atol=1e-6, err_msg=repr(obj))


def test_diversity_equals_lucid_formula():
    rng = np.random.default_rng(0)
    acts = rng.random((6, 3, 3, 4)).astype(np.float32)  # two objectives x three images
    got = term_values((("diversity", "l"),), [None], {"l": tf.constant(acts)}, None, group_size=3).numpy()[:, 0]
    flat = acts.reshape(6, 9, 4)
    gram = np.einsum("bpi,bpj->bij", flat, flat).reshape(6, -1) / 9
    gram /= np.linalg.norm(gram, axis=1, keepdims=True)
    expected = []
    for i in range(6):
        others = [j for j in range(6) if j // 3 == i // 3 and j != i]
        expected.append(np.mean([gram[i] @ gram[j] for j in others]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_clear_errors(static_cnn_layers):
    model, (conv1, conv2), dense = static_cnn_layers
    fv = tlxp.feature_visualization
    with pytest.raises(KeyError, match="no layer named 'nope'.*available layers"):
        fv(model, O.channel("nope", 0), steps=2)
    with pytest.raises(ValueError, match="needs a layer output with channels.*%s.*outputs \\(N, 4\\)" % dense):
        fv(model, O.channel(dense, 0), steps=2)
    with pytest.raises(ValueError, match="needs a layer output with channels"):
        fv(model, O.channel(conv2, 0) - O.diversity(dense), steps=2)
    with pytest.raises(ValueError, match="has 6 channels"):
        fv(model, O.channel(conv2, 6), steps=2)
    with pytest.raises(ValueError, match="out of range for a model with 4 outputs"):
        fv(model, O.class_logit(4), steps=2)
    with pytest.raises(ValueError, match="vector: .* 3 values but layer"):
        fv(model, O.direction(conv2, [1.0, 2.0, 3.0]), steps=2)
    with pytest.raises(ValueError, match="does not fit"):
        fv(model, O.neuron(conv2, (9, 0, 0)), steps=2)
    with pytest.raises(TypeError, match="objective: expected an Objective"):
        fv(model, "channel", steps=2)
    with pytest.raises(TypeError, match="objective: expected an Objective"):
        fv(model, [], steps=2)
    with pytest.raises(ValueError, match="steps: expected an int in \\[1, 100000\\]"):
        fv(model, O.class_logit(0), steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        fv(model, O.class_logit(0), learning_rate=-1)
    with pytest.raises(ValueError, match="images_per_objective"):
        fv(model, O.class_logit(0), images_per_objective=0)
    with pytest.raises(ValueError, match="parameterization: expected one of"):
        fv(model, O.class_logit(0), parameterization="wavelets")
    with pytest.raises(ValueError, match="transforms: expected"):
        fv(model, O.class_logit(0), transforms="strong")
    with pytest.raises(ValueError, match="regularizers: unknown names"):
        fv(model, O.class_logit(0), regularizers={"l3": 1.0})
    with pytest.raises(ValueError, match="value_range"):
        fv(model, O.class_logit(0), value_range=(1, 0))
    from conftest import tiny_token_model

    with pytest.raises(TypeError, match="model: feature visualization optimises one image input; this model "
                                        "takes token ids"):
        fv(tiny_token_model(), O.class_logit(0), steps=2)
    with pytest.raises(TypeError, match="index: expected a non-negative int"):
        O.channel(conv2, -1)
    with pytest.raises(TypeError, match="layer_name"):
        O.layer(3)
    with pytest.raises(TypeError, match="can multiply only by a real number"):
        O.layer(conv2) * O.layer(conv2)
    with pytest.raises(ValueError, match="vector: expected a non-empty 1-D"):
        O.direction(conv2, [[1.0]])


def test_transforms_are_seeded_and_identities_hold():
    img = tf.constant(np.random.default_rng(0).random((2, 10, 10, 3)), tf.float32)
    seed = tf.constant([4, 7])
    np.testing.assert_allclose(transforms.rotate([0])(img, seed).numpy(), img.numpy(), atol=1e-6)
    np.testing.assert_allclose(transforms.scale([1.0])(img, seed).numpy(), img.numpy(), atol=1e-6)
    # a 180-degree rotation about the centre flips both axes
    np.testing.assert_allclose(transforms.rotate([180])(img, seed).numpy(), img.numpy()[:, ::-1, ::-1], atol=1e-5)
    assert transforms.jitter(3)(img, seed).shape == (2, 7, 7, 3)
    assert transforms.pad(2)(img, seed).shape == (2, 14, 14, 3)
    chain = transforms.standard_transforms(10)
    a = transforms.apply(chain, img, tf.constant(3), tf.constant(5), (10, 10))
    b = transforms.apply(chain, img, tf.constant(3), tf.constant(5), (10, 10))
    c = transforms.apply(chain, img, tf.constant(3), tf.constant(6), (10, 10))
    assert a.shape == (2, 10, 10, 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.abs(a.numpy() - c.numpy()).max() > 1e-4
    # the same transform for every row: a batch of two copies gives two equal rows
    twin = transforms.apply(chain, tf.concat([img[:1], img[:1]], 0), tf.constant(3), tf.constant(5), (10, 10))
    np.testing.assert_allclose(twin[0].numpy(), twin[1].numpy(), atol=0)
    with tf.GradientTape() as tape:
        tape.watch(img)
        total = tf.reduce_sum(transforms.apply(chain, img, tf.constant(3), tf.constant(5), (10, 10)))
    assert np.abs(tape.gradient(total, img).numpy()).sum() > 0


def test_regularizers_equal_their_formulas():
    x = np.random.default_rng(0).random((3, 6, 5, 2)).astype(np.float32)
    t = tf.constant(x)
    np.testing.assert_allclose(regularizers.l1(0.3)(t).numpy(), 0.3 * np.abs(x - 0.5).mean(axis=(1, 2, 3)), rtol=1e-5)
    tv = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(regularizers.total_variation(2.0)(t).numpy(), 2.0 * tv, rtol=1e-5)
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="symmetric")
    box = sum(padded[:, i:i + 6, j:j + 5] for i in range(3) for j in range(3)) / 9
    np.testing.assert_allclose(regularizers.blur(1.0)(t).numpy(), ((x - box) ** 2).mean(axis=(1, 2, 3)), rtol=1e-4)
    assert [r.kind for r in regularizers.get_regularizers({"l1": 1, "tv": 1, "blur": 1})] == [
        "l1", "total_variation", "blur"]
    with pytest.raises(ValueError, match="weight"):
        regularizers.l1(-1)
