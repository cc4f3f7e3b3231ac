"""install()/uninstall(): the figure functions as tl.visualize.<name>, never overwriting TensorLayer's."""
import os
import sys

import pytest
import tensorlayer as tl

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import _install

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

@pytest.fixture
def clean_tl_visualize():
    """Make sure every test starts and ends with TensorLayer's visualize module untouched."""
    tlxp.uninstall()
    module = sys.modules["tensorlayer.visualize"]  # tl.visualize is a LazyImport proxy of it
    names = set(vars(module))
    exported = list(module.__all__)
    yield
    tlxp.uninstall()
    assert set(vars(module)) == names
    assert module.__all__ == exported


def test_figure_functions_are_read_from_visualize_all():
    found = _install.figure_functions()
    assert {"gradient_visualization", "embedding_visualization", "decision_boundary",
            "permutation_importance"} <= set(found)
    # helpers and types are not figure functions
    assert not {"tl_figure", "figure_path", "draw_attribution_rows", "DecisionBoundary"} & set(found)
    assert set(found) <= set(tlxp.visualize.__all__)


def test_install_adds_then_uninstall_removes(clean_tl_visualize):
    tl_tsne = tl.visualize.tsne_embedding
    added = tlxp.install()
    assert "gradient_visualization" in added and "embedding_visualization" in added
    for name in added:
        assert getattr(tl.visualize, name) is getattr(tlxp.visualize, name)
        assert tl.visualize.__all__.count(name) == 1
    # TensorLayer's own (broken on current scikit-learn) tsne_embedding is kept, and reported
    assert "tsne_embedding" in added.skipped and "tsne_embedding" not in added
    assert tl.visualize.tsne_embedding is tl_tsne
    assert sorted(added) == _install.installed()

    again = tlxp.install()  # idempotent
    assert list(again) == [] and again.skipped == added.skipped
    assert all(tl.visualize.__all__.count(name) == 1 for name in added)

    removed = tlxp.uninstall()
    assert sorted(removed) == sorted(added)
    assert not any(hasattr(tl.visualize, name) for name in added)
    assert tl.visualize.tsne_embedding is tl_tsne
    assert tlxp.uninstall() == []


def test_installed_function_works_from_tl_namespace(clean_tl_visualize, static_cnn, images, tmp_path):
    tlxp.install()
    exp = tl.visualize.gradient_visualization(static_cnn, images[:2], name=str(tmp_path / "grad.png"))
    assert exp.attributions.shape == (2, 12, 12, 1)
    assert os.path.exists(tmp_path / "grad.png")
    ns = {}
    exec("from tensorlayer.visualize import *", ns)  # __all__ is honoured
    assert ns["permutation_importance"] is tlxp.permutation_importance


def test_uninstall_leaves_a_name_the_user_replaced(clean_tl_visualize):
    tlxp.install()

    def mine(*args, **kwargs):
        return "user's own"

    sys.modules["tensorlayer.visualize"].decision_boundary = mine  # what `tl.visualize.x = ...` should do
    try:
        removed = tlxp.uninstall()
        assert "decision_boundary" not in removed
        assert tl.visualize.decision_boundary is mine
    finally:
        module = sys.modules["tensorlayer.visualize"]
        del module.decision_boundary
        if "decision_boundary" in module.__all__:
            module.__all__.remove("decision_boundary")
