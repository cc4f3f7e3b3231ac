"""permutation_importance: finds the informative features, batched, seeded, clear errors."""
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize.importance import feature_groups

from conftest import assert_same_state, model_state


def _data(rng, n=120, d=6):
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 2 * x[:, 3] > 0).astype(np.int64)
    return x, y


def _uses_0_and_3(z):
    """A plain callable that only looks at features 0 and 3 (the truth of ``_data``)."""
    s = np.asarray(z)[:, 0] + 2 * np.asarray(z)[:, 3]
    return np.stack([-s, s], axis=1)


def _tl_model_using_0_and_3(d=6):
    """A static TL Dense model whose weights are zero except for features 0 and 3."""
    ni = tl.layers.Input([None, d])
    dense = tl.layers.Dense(2, in_channels=d)
    model = tl.models.Model(inputs=ni, outputs=dense(ni))
    w = np.zeros((d, 2), np.float32)
    w[0], w[3] = [-1, 1], [-2, 2]
    dense.W.assign(w)
    dense.b.assign(np.zeros(2, np.float32))
    return model


class CountingModel:
    """Wraps a callable and records the size of every batch it receives."""

    def __init__(self, fn):
        self.fn, self.batches = fn, []

    def __call__(self, z):
        self.batches.append(len(z))
        return self.fn(z)


@pytest.mark.parametrize("kind", ["callable", "tl"])
def test_finds_the_informative_features(kind, rng, tmp_path):
    x, y = _data(rng)
    model = _uses_0_and_3 if kind == "callable" else _tl_model_using_0_and_3()
    before = model_state(model) if kind == "tl" else None
    names = ["a", "b", "c", "d", "e", "f"]
    df = tlxp.permutation_importance(model, x, y, feature_names=names, n_repeats=4, name=str(tmp_path / "pi.png"))
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:3]) == ["feature", "importance_mean", "importance_std"]
    assert set(df["feature"][:2]) == {"a", "d"}
    assert df["feature"].iloc[0] == "d"  # feature 3 weighs twice as much
    assert (df["importance_mean"][:2] > 0.15).all()
    np.testing.assert_array_equal(df["importance_mean"][2:], 0.0)  # unused features: permuting changes nothing
    assert df["importance_mean"].is_monotonic_decreasing
    assert df.attrs["baseline"] == pytest.approx(1.0)
    assert df.attrs["importances"].shape == (6, 4)
    assert os.path.getsize(tmp_path / "pi.png") > 1000
    if before is not None:
        assert_same_state(before, model_state(model))


def test_seeded_and_independent_of_chunking(rng, tmp_path):
    x, y = _data(rng, n=40)
    name = str(tmp_path / "p.png")
    a = tlxp.permutation_importance(_uses_0_and_3, x, y, seed=1, name=name)
    b = tlxp.permutation_importance(_uses_0_and_3, x, y, seed=1, name=name, max_samples=50, batch_size=7)
    c = tlxp.permutation_importance(_uses_0_and_3, x, y, seed=2, name=name)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a.attrs["importances"], b.attrs["importances"])
    assert not np.array_equal(a.attrs["importances"], c.attrs["importances"])


def test_all_permuted_copies_go_through_the_model_in_large_batches(rng, tmp_path):
    x, y = _data(rng, n=30)
    model = CountingModel(_uses_0_and_3)
    tlxp.permutation_importance(model, x, y, n_repeats=5, batch_size=10_000, max_samples=10_000,
                               name=str(tmp_path / "b.png"))
    # one call for the intact data, one for all 6 features x 5 repeats x 30 samples
    assert model.batches == [30, 6 * 5 * 30]
    model.batches.clear()
    tlxp.permutation_importance(model, x, y, n_repeats=5, batch_size=64, max_samples=300,
                               name=str(tmp_path / "b.png"))
    assert max(model.batches) <= 64
    assert sum(model.batches) == 30 + 6 * 5 * 30


def test_patches_on_images_with_an_importance_map(static_cnn, images, tmp_path):
    x = np.concatenate([images, images[::-1], images[:, ::-1]])  # 15 images 12x12
    y = np.argmax(tlxp.as_adapter(static_cnn).predict(x), axis=1)
    before = model_state(static_cnn)
    df = tlxp.permutation_importance(static_cnn, x, y, patch_size=4, n_repeats=2, top_k=5,
                                    name=str(tmp_path / "patch.png"))
    assert len(df) == 9  # 3 x 3 patches of 4x4
    assert df.attrs["importance_map"].shape == (3, 3)
    row = df.set_index("feature_index").loc[4]  # the centre patch
    assert row["feature"] == "r4:8 c4:8"
    np.testing.assert_allclose(np.sort(df.attrs["importance_map"].ravel())[::-1], df["importance_mean"])
    assert os.path.exists(tmp_path / "patch.png")
    assert_same_state(before, model_state(static_cnn))


def test_feature_groups(static_cnn, mlp_model):
    adapter = tlxp.as_adapter(static_cnn)
    ids, names, grid = feature_groups(adapter, patch_size=(5, 12))  # ragged last patch row
    assert grid == (3, 1) and names == ["r0:5 c0:12", "r5:10 c0:12", "r10:12 c0:12"]
    assert ids.reshape(12, 12)[11, 0] == 2 and ids.reshape(12, 12)[4, 11] == 0
    ids, names, grid = feature_groups(adapter, patch_size=1)
    assert len(names) == 144 and names[13] == "r1 c1" and grid == (12, 12)
    ids, names, grid = feature_groups(tlxp.as_adapter(mlp_model), groups=np.arange(64) // 16)
    assert names == ["g0", "g1", "g2", "g3"] and grid is None


def test_other_metrics(rng, tmp_path):
    x, y = _data(rng, n=50)
    name = str(tmp_path / "m.png")
    df = tlxp.permutation_importance(_uses_0_and_3, x, y, metric="neg_log_loss", name=name)
    assert set(df["feature"][:2]) == {"f0", "f3"}
    calls = []

    def balanced_hits(labels, scores):
        calls.append(scores.shape)
        return float(np.mean(np.argmax(scores, 1) == labels))

    df = tlxp.permutation_importance(_uses_0_and_3, x, y, metric=balanced_hits, n_repeats=2, name=name)
    assert set(df["feature"][:2]) == {"f0", "f3"} and df.attrs["metric"] == "balanced_hits"
    assert calls[0] == (50, 2) and len(calls) == 1 + 6 * 2


def test_errors(rng, tmp_path):
    x, y = _data(rng, n=20)
    name = str(tmp_path / "err.png")
    with pytest.raises(ValueError, match="feature_names: expected 6 names"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, feature_names=["a", "b"], name=name)
    with pytest.raises(ValueError, match="y: expected one label per sample"):
        tlxp.permutation_importance(_uses_0_and_3, x, y[:-3], name=name)
    with pytest.raises(ValueError, match="y: expected the true class"):
        tlxp.permutation_importance(_uses_0_and_3, x, None, name=name)
    with pytest.raises(ValueError, match="n_repeats: expected an int >= 1"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, n_repeats=0, name=name)
    with pytest.raises(ValueError, match="metric: expected one of"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, metric="f1", name=name)
    with pytest.raises(ValueError, match="patch_size"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, patch_size=0, name=name)
    with pytest.raises(ValueError, match="groups: pass either"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, patch_size=2, groups=np.zeros(6, int), name=name)
    with pytest.raises(ValueError, match="groups: expected ids 0..G-1"):
        tlxp.permutation_importance(_uses_0_and_3, x, y, groups=np.array([0, 0, 2, 2, 3, 3]), name=name)
    assert not os.path.exists(name)


def test_tf_tensors_accepted(rng, tmp_path):
    x, y = _data(rng, n=20)
    df = tlxp.permutation_importance(_uses_0_and_3, tf.constant(x), y, n_repeats=1, name=str(tmp_path / "t.png"))
    assert len(df) == 6
