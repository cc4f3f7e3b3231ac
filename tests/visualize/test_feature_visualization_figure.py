"""feature_visualization_figure: the TL conventions (saveable, name, fig_idx), titles, the trace panel, errors."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import objectives as O
from tensorlayer_xplain.visualize.features import objective_label

pytestmark = pytest.mark.slow  # module fixtures train or explain for seconds (see setup.cfg)

@pytest.fixture(scope="module")
def result(static_cnn_layers):
    model, (_, conv2), _ = static_cnn_layers
    return tlxp.feature_visualization(model, [O.channel(conv2, c) for c in range(3)], steps=4,
                                      images_per_objective=2)


def test_figure_is_saved_and_closed(result, tmp_path):
    out = tlxp.feature_visualization_figure(result, name=str(tmp_path / "fv.png"), show_trace=True)
    assert out is result
    path = tmp_path / "fv.png"
    assert path.stat().st_size > 1000
    image = plt.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > image.shape[1] / 4
    assert not plt.get_fignums()
    # TL's default: name + '.pdf'
    tlxp.feature_visualization_figure(result, name=str(tmp_path / "fv"), fig_idx=7, columns=3)
    assert (tmp_path / "fv.pdf").exists()
    tlxp.feature_visualization_figure(result, saveable=False, second=0)  # headless: draws and closes


def test_titles_name_the_objective():
    assert objective_label(O.channel("conv2", 5)) == "conv2 ch 5"
    assert objective_label(O.class_logit(3)) == "class 3"
    assert objective_label(O.class_logit(1), class_names=["cat", "dog"]) == "dog"
    assert objective_label(O.neuron("dense", (1, 2, 3))) == "dense unit 1,2,3"
    assert objective_label(O.layer("conv1")) == "conv1 layer"
    assert objective_label(O.channel("c", 1) - O.diversity("c")) == "channel('c', 1) - diversity('c')"


def test_bad_arguments(result, tmp_path):
    with pytest.raises(TypeError, match="result: expected what tlxp.feature_visualization returned"):
        tlxp.feature_visualization_figure(np.zeros((2, 8, 8, 1)), name=str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="columns"):
        tlxp.feature_visualization_figure(result, name=str(tmp_path / "x.png"), columns=0)
    assert not (tmp_path / "x.png").exists()
