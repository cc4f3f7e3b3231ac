"""python -m benchmarks.run: the suite's table builder, settings and outputs on a tiny model (no timing assertions)."""
import os

import numpy as np
import pandas as pd
import pytest

import tensorlayer_xplain as tlxp
from benchmarks import machine, report, run, settings

from conftest import tiny_mlp, tiny_static_cnn

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

TINY_RUN = {"batch": 4, "min_repeats": 1, "max_repeats": 1, "budget": 0.0, "metric_images": 3, "steps": 4,
            "n_subsets": 4}


@pytest.fixture(scope="module")
def tiny_table():
    rng = np.random.default_rng(0)
    model = tiny_static_cnn(seed=0)
    X = rng.random((10, 12, 12, 1)).astype(np.float32)
    return run.build_table({"tiny": (model, X, X)}, "quick", methods=["gradient", "attention"], run=TINY_RUN,
                             log=None)


def test_table_has_one_row_per_method_plus_random(tiny_table):
    table, notes = tiny_table
    assert list(table["method"]) == ["gradient", "attention", "random"]
    assert (table["model"] == "tiny").all()
    assert notes == []
    for column in ("deletion_auc", "insertion_auc"):
        assert table[column].between(0, 1).all(), table[column]
    assert np.allclose(table["ins_minus_del"], table["insertion_auc"] - table["deletion_auc"])


def test_gradient_is_paired_with_its_floor_and_attention_has_none(tiny_table):
    table, _ = tiny_table
    grad, att = (table[table["method"] == m].iloc[0] for m in ("gradient", "attention"))
    assert grad["baseline"] == "tf.function floor"
    assert grad["ratio"] > 0 and grad["repeats"] == 1
    assert grad["baseline_max_rel_diff"] < 1e-5  # the floor computes the same saliency
    assert att["baseline"] == "—" and np.isnan(att["ratio"])
    assert "activation attention" in att["note"]
    (user,) = table.attrs["user_path"]  # the user's path for gradient, against the same floor
    assert user["method"] == "gradient" and user["ratio"] > 0 and user["target"] == 1.1
    assert user["met"] == (user["ratio"] <= 1.1)


def test_outputs_markdown_csv_png(tiny_table, tmp_path):
    table, notes = tiny_table
    info = machine.machine()
    assert info["cores"] >= 1 and info["tensorflow"]
    use = machine.usage_since(machine.usage_start())
    assert use["wall"] >= 0 and (use["others_cores"] is None or use["others_cores"] >= 0)
    page = report.markdown(table, notes + ["tiny: x skipped (test)"], info, "quick", TINY_RUN, use)
    assert "| tiny | gradient |" in page and "| tiny | attention |" in page
    assert "tracemalloc" in page and "x skipped (test)" in page
    assert "| tiny | gradient | 4 |" in page.split("User path:")[1]
    md, csv, png = report.write_outputs(table, page, str(tmp_path), "suite_test")
    assert open(md).read() == page
    back = pd.read_csv(csv)
    assert list(back["method"]) == list(table["method"])
    assert os.path.getsize(png) > 1000


def test_applies_skips_what_does_not_fit():
    cnn = tlxp.as_adapter(tiny_static_cnn(seed=1))
    mlp = tlxp.as_adapter(tiny_mlp(seed=1))
    cnn.prepare(np.zeros((1, 12, 12, 1), np.float32))
    mlp.prepare(np.zeros((1, 64), np.float32))
    assert settings.applies("gradcam", cnn) is None
    assert "4-D" in settings.applies("gradcam", mlp)
    assert "flat" in settings.applies("lime_tabular", cnn)
    assert settings.applies("lime_tabular", mlp) is None
    assert "self-attention" in settings.applies("attention_rollout", cnn)


def test_settings_resolve_defaults_and_quick_overrides():
    X = np.zeros((50, 784), np.float32)
    given, resolved, work = settings.resolve_params("integrated_gradients", "full", X)
    assert given == {} and resolved["steps"] == tlxp.method_parameters("integrated_gradients")["steps"]
    given, resolved, work = settings.resolve_params("integrated_gradients", "quick", X)
    assert given["steps"] == resolved["steps"] < tlxp.method_parameters("integrated_gradients")["steps"]
    assert work == "steps=%d" % given["steps"]
    given, _, _ = settings.resolve_params("lime_tabular", "full", X)
    assert given["training_data"].shape == (50, 784)  # Train(1000) capped at the rows there are
    with pytest.raises(ValueError, match="mode"):
        settings.resolve_params("gradient", "fast", X)


def test_a_failing_method_becomes_a_note():
    @tlxp.register_method("_suite_test_broken")
    def broken(adapter, inputs, targets):
        raise ValueError("broken on purpose")

    try:
        rng = np.random.default_rng(1)
        X = rng.random((6, 12, 12, 1)).astype(np.float32)
        table, notes = run.build_table({"tiny": (tiny_static_cnn(seed=2), X, X)}, "quick",
                                         methods=["_suite_test_broken"], run=TINY_RUN, log=None)
    finally:
        tlxp.unregister_method("_suite_test_broken")
    assert list(table["method"]) == ["random"]
    assert any("_suite_test_broken failed (ValueError: broken on purpose)" in note for note in notes)


def test_benchmarks_edit_no_sys_path_and_import_no_private_module():
    import ast

    folder = os.path.dirname(run.__file__)
    scripts = sorted(f for f in os.listdir(folder) if f.endswith(".py"))
    assert {"run.py", "settings.py", "timing.py", "memory.py", "machine.py", "report.py"} <= set(scripts)
    for script in scripts:
        tree = ast.parse(open(os.path.join(folder, script), encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
                raise AssertionError("%s uses sys.path" % script)
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                private = [part for part in name.split(".")[1:] if part.startswith("_")]
                assert not (name.startswith("tensorlayer_xplain") and private), "%s imports %s" % (script, name)
