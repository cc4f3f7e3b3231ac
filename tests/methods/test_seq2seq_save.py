"""Seq2seq explanations round-trip through ``.npz`` (no pickle), and each kind is read by its own class."""
import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods.seq2seq import Seq2seqExplanation


def _explanation(with_decoder):
    rng = np.random.default_rng(0)
    return Seq2seqExplanation(
        "occlusion", rng.normal(size=(2, 3, 5)).astype(np.float32), rng.integers(0, 9, (2, 5)),
        rng.integers(0, 9, (2, 3)), rng.integers(0, 9, (2, 3)), rng.normal(size=(2, 3, 9)),
        params={"mask_token": 0}, timings={"total": 0.5}, meta={"mask_token": 0, "gap": np.arange(2.0)},
        decoder_attributions=rng.normal(size=(2, 3, 3)) if with_decoder else None)


@pytest.mark.parametrize("with_decoder", [True, False])
def test_seq2seq_explanation_round_trips(tmp_path, with_decoder):
    exp = _explanation(with_decoder)
    path = exp.save(str(tmp_path / "s2s"))
    back = Seq2seqExplanation.load(path)
    for name in ("attributions", "inputs", "decoder_inputs", "targets", "predictions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(exp, name))
    if with_decoder:
        np.testing.assert_array_equal(back.decoder_attributions, exp.decoder_attributions)
    else:
        assert back.decoder_attributions is None
    assert back.method == "occlusion" and back.params == exp.params and back.timings == exp.timings
    np.testing.assert_array_equal(back.meta["gap"], exp.meta["gap"])
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert "decoder_inputs" in data.files


def test_each_kind_is_read_by_its_own_class(tmp_path):
    path = _explanation(True).save(str(tmp_path / "s2s.npz"))
    with pytest.raises(ValueError, match=r"path: .*s2s.npz holds a saved Seq2seqExplanation; read it with "
                                         r"Seq2seqExplanation.load"):
        tlxp.Explanation.load(path)
    image = tlxp.Explanation("gradient", np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), np.zeros(1, int),
                             np.zeros((1, 3)), (4, 4, 1))
    image_path = image.save(str(tmp_path / "image.npz"))
    with pytest.raises(ValueError, match="holds a saved Explanation; read it with Explanation.load"):
        Seq2seqExplanation.load(image_path)
    assert tlxp.Explanation.load(image_path).attributions.shape == (1, 4, 4)


def test_figure_draws_the_decoder_inputs_beside_the_source(tmp_path):
    import matplotlib.image
    import matplotlib.pyplot as plt

    with_decoder, without = _explanation(True), _explanation(False)
    tlxp.seq2seq_visualization(with_decoder, name=str(tmp_path / "both.png"), n=2)
    tlxp.seq2seq_visualization(without, name=str(tmp_path / "source.png"), n=2)
    assert not plt.get_fignums()
    both, source = (matplotlib.image.imread(str(tmp_path / f)) for f in ("both.png", "source.png"))
    assert both.shape[0] == source.shape[0] and both.shape[1] > 1.5 * source.shape[1]  # a second panel per row
