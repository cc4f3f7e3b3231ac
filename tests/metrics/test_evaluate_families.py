"""ModelExplainer.evaluate with 'all' / a family / a list: the tidy table, and the ranking figure."""
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics as M

FAST = {"steps": 3, "n_subsets": 4, "nr_samples": 3, "nr_runs": 4, "subset_size": 20}


def test_evaluate_all_gives_one_row_per_method_and_metric(static_cnn, images, tmp_path):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient", "gradient_x_input"])
    masks = np.zeros((3, 12, 12), bool)
    masks[:, 3:8, 3:8] = True
    table = explainer.evaluate(images[:3], metrics="all", masks=masks, top_k_intersection={"k": 20}, **FAST)
    assert list(table.columns) == ["method", "metric", "family", "direction", "mean", "spread", "n"]
    assert set(table["metric"]) == set(M.metrics_of("all"))
    assert len(table) == 2 * len(M.metrics_of("all"))
    assert set(table["family"]) >= {"faithfulness", "robustness", "localisation", "complexity", "randomisation",
                                    "axiomatic"}
    spars = table[(table.metric == "sparseness")].set_index("method")
    for method in ("gradient", "gradient_x_input"):
        exp = tlxp.explain(static_cnn, images[:3], method)
        scores = M.sparseness(exp).scores
        assert spars.loc[method, "mean"] == pytest.approx(scores.mean())
        assert spars.loc[method, "spread"] == pytest.approx(scores.std())
        assert spars.loc[method, "n"] == 3
    assert (table.loc[table.metric == "complexity", "direction"] == "lower").all()
    assert (table.loc[table.metric == "randomization", "n"] == 3).all()  # per input, not per layer

    ranked = tlxp.visualize.metric_ranking_visualization(table, name=str(tmp_path / "ranking.png"))
    assert os.path.getsize(tmp_path / "ranking.png") > 1000 and not plt.get_fignums()
    assert set(ranked["rank"].dropna()) <= {1.0, 2.0}


def test_family_selection_skips_localisation_without_masks(static_cnn, images):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient"])
    table = explainer.evaluate(images[:2], metrics="complexity")
    assert list(table["metric"]) == ["sparseness", "complexity", "effective_complexity"]
    none = explainer.evaluate(images[:2], metrics=["complexity", "sparseness"], tidy=False)
    assert list(none.columns) == ["complexity", "sparseness"]
    with pytest.raises(ValueError, match="masks: every selected metric .*auc.* needs masks="):
        explainer.evaluate(images[:2], metrics="localisation")
    with pytest.raises(TypeError, match="masks: a localisation metric needs masks"):
        explainer.evaluate(images[:2], metrics=["auc"])


def test_method_ranks_follow_each_metrics_direction():
    import pandas as pd

    t = pd.DataFrame({"method": ["a", "b", "a", "b"], "metric": ["low", "low", "high", "high"],
                      "family": ["complexity"] * 4, "direction": ["lower", "lower", "higher", "higher"],
                      "mean": [1.0, 2.0, 1.0, 2.0]})
    assert tlxp.visualize.method_ranks(t)["rank"].tolist() == [1.0, 2.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="tidy: expected the long table"):
        tlxp.visualize.method_ranks(t.drop(columns="direction"))


def test_report_shows_the_last_evaluation_per_family_with_the_ranking_figure(static_cnn, images, tmp_path):
    explainer = tlxp.ModelExplainer(static_cnn, methods=["gradient", "gradient_x_input"])
    assert explainer.last_evaluation is None
    table = explainer.evaluate(images, metrics=["sparseness", "complexity", "input_invariance", "pixel_flipping"],
                               pixel_flipping={"features_in_step": 12})
    assert explainer.last_evaluation is table
    path = explainer.report(images, str(tmp_path / "report.html"))
    text = open(path, encoding="utf-8").read()
    assert "<h2>Evaluation</h2>" in text and "<h3>complexity</h3>" in text and "<h3>axiomatic</h3>" in text
    assert "methods ranked per metric" in text and text.count("data:image/png;base64,") >= 1
    assert "input_invariance &uarr;" in text and "pixel_flipping &darr;" in text
    without = open(explainer.report(images, str(tmp_path / "plain.html"), evaluation=False), encoding="utf-8").read()
    assert "<h2>Evaluation</h2>" not in without
    with pytest.raises(TypeError, match="evaluation"):
        explainer.report(images, str(tmp_path / "bad.html"), evaluation="all")
