"""Figures of the gradient, CAM and perturbation methods: files written, layouts, colormaps, return values."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize.cam import target_columns
from tensorlayer_xplain.visualize.compare import draw_method_grid


def _png(tmp_path, name):
    return str(tmp_path / (name + ".png"))


def test_gradcam_visualization_single(static_cnn, images, tmp_path):
    path = _png(tmp_path, "gradcam")
    exp = tlxp.gradcam_visualization(static_cnn, images[:3], name=path)
    assert isinstance(exp, tlxp.Explanation)
    assert exp.method == "gradcam" and len(exp) == 3
    assert plt.imread(path).shape[0] > 100


def test_gradcam_visualization_tutorial_style(static_cnn, images, tmp_path):
    """Target as third positional argument, target_class alias, other CAM methods, pdf by default."""
    name = str(tmp_path / "cam")
    exp = tlxp.gradcam_visualization(static_cnn, images[:2], 2, name=name, method="gradcam_plus_plus")
    assert (exp.targets == 2).all()
    assert (tmp_path / "cam.pdf").exists()
    exp = tlxp.gradcam_visualization(static_cnn, images[:1], target_class=3, name=_png(tmp_path, "c3"))
    assert exp.targets.tolist() == [3]


def test_gradcam_class_comparison(static_cnn, images, tmp_path):
    path = _png(tmp_path, "compare_classes")
    exps = tlxp.gradcam_visualization(static_cnn, images[:2], targets=[[1, 3], [0, 2]], name=path)
    assert [e.targets.tolist() for e in exps] == [[1, 0], [3, 2]]
    # a single input with a flat list of classes is the same comparison
    single = tlxp.gradcam_visualization(static_cnn, images[0], targets=[1, 3, 0], name=path)
    assert [int(e.targets[0]) for e in single] == [1, 3, 0]
    with pytest.raises(ValueError, match="targets"):
        tlxp.gradcam_visualization(static_cnn, images[:2], targets=np.zeros((2, 2, 2), int), name=path)
    with pytest.raises(TypeError, match="Explanation"):
        tlxp.gradcam_visualization(static_cnn, exps[0], targets=[[1, 3], [0, 2]], name=path)


def test_target_columns():
    assert target_columns(None, 4) == ([None], False)
    assert target_columns(3, 4) == ([3], False)
    cols, comparison = target_columns([[3, 8], [1, 2]], 2)
    assert comparison and [c.tolist() for c in cols] == [[3, 1], [8, 2]]
    cols, comparison = target_columns([3, 8], 1)
    assert comparison and [c.tolist() for c in cols] == [[3], [8]]
    assert target_columns([3, 8], 2) == ([[3, 8]], False)


def test_saliency_visualization(static_cnn, images, tmp_path):
    path = _png(tmp_path, "ig")
    exp = tlxp.saliency_visualization(static_cnn, images[:2], steps=8, name=path)
    assert exp.method == "integrated_gradients"
    assert "completeness_gap" in exp.meta
    assert (tmp_path / "ig.png").exists()
    again = tlxp.saliency_visualization(static_cnn, exp, name=_png(tmp_path, "again"))
    assert again is exp  # a precomputed explanation is drawn, not recomputed
    exp = tlxp.saliency_visualization(static_cnn, images[:1], "smoothgrad", saveable=False, second=0.01,
                                     n_samples=2)
    assert exp.method == "smoothgrad"


def test_gradient_visualization_still_works(static_cnn, images, tmp_path):
    exp = tlxp.gradient_visualization(static_cnn, images[:1], 1, name=_png(tmp_path, "grad"))
    assert exp.method == "gradient" and exp.targets.tolist() == [1]


def test_compare_methods(static_cnn, images, tmp_path):
    path = _png(tmp_path, "grid")
    methods = ["gradient", "integrated_gradients", "gradcam", "rise"]
    exps = tlxp.compare_methods(static_cnn, images[:2], methods, name=path,
                               config={"integrated_gradients": {"steps": 8}, "rise": {"n_masks": 32}})
    assert list(exps) == methods
    assert all(len(e) == 2 for e in exps.values())
    assert exps["integrated_gradients"].params == {"steps": 8}
    assert (tmp_path / "grid.png").exists()
    with pytest.raises(KeyError, match="config"):
        tlxp.compare_methods(static_cnn, images[:2], ["gradient"], config={"rise": {}}, name=path)
    with pytest.raises(TypeError, match="methods"):
        tlxp.compare_methods(static_cnn, images[:2], "gradient", name=path)


def test_method_grid_titles_and_colormaps(static_cnn, images):
    exps = {m: tlxp.explain(static_cnn, images[:2], m, **p) for m, p in
            [("gradient", {}), ("gradient_x_input", {}), ("gradcam", {})]}
    fig = plt.figure()
    try:
        axes = draw_method_grid(fig, exps)
        assert len(axes) == 2 and len(axes[0]) == 4
        for row in axes:
            for ax, method in zip(row[1:], exps):
                title = ax.get_title()
                assert title.startswith(method) and "ms/input" in title
        cmaps = {method: axes[0][1 + k].images[0].get_cmap().name for k, method in enumerate(exps)}
        assert cmaps["gradient_x_input"] == "bwr"  # signed: diverging
        assert cmaps["gradient"] == "hot" and cmaps["gradcam"] == "hot"  # magnitudes: sequential
        assert len(fig.axes) == 2 + 2 * 2 * 3  # 2 input panels, 6 maps each with a colorbar
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_mnist_figures(tmp_path):
    """The reference CNN on real digits (untrained weights are enough to check the layout end to end)."""
    X = tlxp.datasets.load_mnist(shape=(-1, 28, 28, 1))[4][:2]
    model = tlxp.models.cnn(seed=0)
    exp = tlxp.gradcam_visualization(model, X, name=_png(tmp_path, "mnist_cam"))
    assert exp.meta["layer_name"].startswith("maxpool2d")
    assert exp.heatmap().shape == (2, 28, 28)
