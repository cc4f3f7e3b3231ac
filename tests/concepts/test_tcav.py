"""TCAV (issue 26): CAVs separate separable activations, a planted concept is significant and a random one
is not, the table's columns and determinism, the figure, an unchanged model and clear errors."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Input

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.concepts import TCAV_COLUMNS, train_cav

from conftest import assert_same_state, model_state, tiny_keras_cnn

CORNER = np.zeros(64, bool)
CORNER[:8] = True  # the planted concept: the first 8 features (top row of an 8x8 image) bright


def planted_mlp():
    """64 inputs -> Dense(64, relu, identity) -> Dense(2): class 0 sums the corner, class 1 the rest."""
    ni = Input([None, 64])
    hidden = Dense(64, act=tf.nn.relu, in_channels=64)
    nn = hidden(ni)
    out = Dense(2, in_channels=64)
    nn = out(nn)
    model = tl.models.Model(inputs=ni, outputs=nn)
    hidden.all_weights[0].assign(np.eye(64, dtype=np.float32))
    hidden.all_weights[1].assign(np.zeros(64, np.float32))
    w = np.stack([CORNER, ~CORNER], axis=1).astype(np.float32)
    w[~CORNER, 1] = np.random.default_rng(1).uniform(0.5, 1.5, (~CORNER).sum())
    out.all_weights[0].assign(w)
    out.all_weights[1].assign(np.zeros(2, np.float32))
    return model, hidden.name


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    model, layer = planted_mlp()
    inputs = rng.random((60, 64), dtype=np.float32)
    targets = np.repeat([0, 1], 30)
    concept = rng.random((30, 64), dtype=np.float32)
    concept[:, CORNER] += 2.0
    randoms = [rng.random((30, 64), dtype=np.float32) for _ in range(30)]
    noise = rng.random((30, 64), dtype=np.float32)
    return model, layer, inputs, targets, {"corner": concept, "noise": noise}, randoms


@pytest.mark.parametrize("model_type", ["linear", "logistic"])
def test_cav_separates_linearly_separable_activations(model_type):
    rng = np.random.default_rng(0)
    normal = rng.normal(size=20)
    normal /= np.linalg.norm(normal)
    points = rng.normal(size=(200, 20))
    side = points @ normal
    keep = np.abs(side) > 0.5  # a margin: linearly separable
    pos, neg = points[keep & (side > 0)], points[keep & (side < 0)]
    cav = train_cav(pos, neg, model_type=model_type, seed=0)
    assert cav.accuracy == 1.0
    assert np.linalg.norm(cav.direction) == pytest.approx(1.0, abs=1e-5)
    assert float(cav.direction @ normal) > 0.9  # points towards the concept, along the true normal
    # one scale for all features: the direction does not depend on the activations' magnitude
    small = train_cav(pos * 1e-4, neg * 1e-4, model_type=model_type, seed=0)
    assert float(small.direction @ cav.direction) > 0.99
    swapped = train_cav(neg, pos, model_type=model_type, seed=0)
    assert float(swapped.direction @ normal) < -0.9


def test_cav_bad_input():
    with pytest.raises(ValueError, match="cav_model: expected one of"):
        train_cav(np.ones((5, 2)), np.zeros((5, 2)), model_type="svm")
    with pytest.raises(ValueError, match="at least 3 examples"):
        train_cav(np.ones((2, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="other_acts: expected activations of 2 values"):
        train_cav(np.ones((5, 2)), np.zeros((5, 3)))


def test_tcav_planted_concept_is_significant_and_random_one_is_not(planted):
    model, layer, inputs, targets, concepts, randoms = planted
    before = model_state(model)
    df = tlxp.tcav(model, layer, inputs, targets, concepts, randoms, seed=0)
    assert_same_state(before, model_state(model))
    assert isinstance(df, pd.DataFrame) and tuple(df.columns) == TCAV_COLUMNS and len(df) == 4
    rows = df.set_index(["concept", "class"])
    corner = rows.loc[("corner", 0)]
    # every class-0 input's logit grows along the corner direction: score 1, far above the random CAVs
    assert corner["score"] == 1.0 and corner["cav_accuracy"] == 1.0
    assert corner["significant"] and corner["p_value"] < 1e-3
    assert corner["derivative"] > 0.5  # d logit_0 / d corner direction = sum of the unit CAV's corner weights
    noise = df[df["concept"] == "noise"]
    assert not noise["significant"].any() and (noise["p_value"] > df.attrs["threshold"]).all()
    assert df.attrs["threshold"] == pytest.approx(0.05 / 4)  # Bonferroni over the 4 rows
    assert df.attrs["run_scores"][("corner", 0)].shape == (30,)
    # the random CAVs' scores per class are those of the t-test
    from scipy.stats import ttest_ind

    expected = ttest_ind(df.attrs["run_scores"][("noise", 1)], df.attrs["random_run_scores"][1]).pvalue
    assert rows.loc[("noise", 1), "p_value"] == pytest.approx(expected)


def test_tcav_is_deterministic_and_seeded(planted):
    model, layer, inputs, targets, concepts, randoms = planted
    pool = np.concatenate(randoms)
    a = tlxp.tcav(model, layer, inputs, targets, concepts, pool, n_runs=5, seed=3)
    b = tlxp.tcav(model, layer, inputs, targets, concepts, pool, n_runs=5, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["n_runs"] == 5).all()
    c = tlxp.tcav(model, layer, inputs, targets, concepts, pool, n_runs=5, seed=4)
    assert not np.allclose(a["random_derivative"], c["random_derivative"])  # other random sets drawn


@pytest.mark.slow
def test_tcav_runs_on_keras_and_draws(tmp_path):
    rng = np.random.default_rng(0)
    model = tiny_keras_cnn()
    layer = [n for n, s in tlxp.as_adapter(model, input_shape=(12, 12, 1)).layer_call_order() if len(s) == 3][0]
    x = rng.random((12, 12, 12, 1), dtype=np.float32)
    df = tlxp.tcav(model, layer, x, rng.integers(0, 4, 12), {"bright": x + 1.0},
                   [rng.random((12, 12, 12, 1), dtype=np.float32) for _ in range(3)], seed=0)
    assert set(df["layer"]) == {layer} and df["score"].between(0, 1).all()
    out = tlxp.tcav_visualization(df, name=str(tmp_path / "tcav.png"))
    assert out is df and (tmp_path / "tcav.png").stat().st_size > 1000
    with pytest.raises(TypeError, match="results: expected the DataFrame tlxp.tcav returns"):
        tlxp.tcav_visualization({"score": [1.0]}, name=str(tmp_path / "bad.png"))
    assert not (tmp_path / "bad.png").exists()


def test_tcav_errors_name_the_argument(planted):
    model, layer, inputs, targets, concepts, randoms = planted
    with pytest.raises(KeyError, match="layer_name: no layer named 'nope'"):
        tlxp.tcav(model, "nope", inputs, targets, concepts, randoms)
    with pytest.raises(ValueError, match="concepts: expected at least one concept"):
        tlxp.tcav(model, layer, inputs, targets, {}, randoms)
    with pytest.raises(ValueError, match=r"concepts\['empty'\]: expected at least 6 examples, got 0"):
        tlxp.tcav(model, layer, inputs, targets, {"empty": np.zeros((0, 64), np.float32)}, randoms)
    with pytest.raises(ValueError, match=r"targets: expected one class index per input \(60\)"):
        tlxp.tcav(model, layer, inputs, targets[:10], concepts, randoms)
    with pytest.raises(ValueError, match="targets: class index 5 is out of range"):
        tlxp.tcav(model, layer, inputs, np.full(60, 5), concepts, randoms)
    with pytest.raises(ValueError, match="random_sets: expected at least 2 sets"):
        tlxp.tcav(model, layer, inputs, targets, concepts, randoms[:1])
    with pytest.raises(ValueError, match=r"n_runs: expected an int in \[2, 500\]"):
        tlxp.tcav(model, layer, inputs, targets, concepts, randoms, n_runs=1)
    with pytest.raises(ValueError, match="n_runs: expected at most len"):
        tlxp.tcav(model, layer, inputs, targets, concepts, randoms[:3], n_runs=4)
    with pytest.raises(ValueError, match="alpha: expected a significance level"):
        tlxp.tcav(model, layer, inputs, targets, concepts, randoms, alpha=1.5)
    with pytest.raises(TypeError, match="targets: expected the class of each input"):
        tlxp.tcav(model, layer, inputs, None, concepts, randoms)
