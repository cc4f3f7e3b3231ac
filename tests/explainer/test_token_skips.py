"""Token models and encoder-decoders: explain_all / visualize_all / compare_methods skip the methods that do not
apply, with the reason, instead of raising (issue 24)."""
import os

import numpy as np
import pytest

import tensorlayer_xplain as tlxp

from conftest import planted_token_model, tiny_luong


@pytest.fixture(scope="module")
def planted():
    return planted_token_model()


def _ids():
    ids = np.random.default_rng(4).integers(8, 30, (3, 12)).astype(np.int32)
    ids[:, 9:] = 0
    ids[:, 2] = 5
    return ids


def test_explain_all_on_a_token_model_skips_with_reasons(planted):
    explainer = tlxp.ModelExplainer(planted, methods=["gradcam", "integrated_gradients", "attention_rollout",
                                                      "guided_backprop", "occlusion"])
    with pytest.warns(UserWarning, match="skipped methods that do not apply.*gradcam"):
        exps = explainer.explain_all(_ids())
    assert list(exps) == ["integrated_gradients", "occlusion"]
    assert set(exps.skipped) == {"gradcam", "attention_rollout", "guided_backprop"}
    assert all("does not apply to token ids" in reason for reason in exps.skipped.values())
    np.testing.assert_allclose(exps["integrated_gradients"].attributions,
                               explainer.explain(_ids(), "integrated_gradients").attributions)
    with pytest.raises(ValueError, match="methods: none of .* applies to this model"):
        tlxp.ModelExplainer(planted, methods=["gradcam"]).explain_all(_ids())


@pytest.mark.slow
def test_compare_methods_on_token_models_and_encoder_decoders(planted, tmp_path):
    with pytest.warns(UserWarning, match="gradcam"):
        exps = tlxp.compare_methods(planted, _ids(), methods=["gradient", "gradcam", "lime"],
                                    config={"lime": {"num_samples": 100}}, name=str(tmp_path / "tokens.png"))
    assert list(exps) == ["gradient", "lime"] and "gradcam" in exps.skipped
    assert os.path.getsize(tmp_path / "tokens.png") > 1000
    luong = tiny_luong("dot", seed=8)
    src = np.array([[2, 3, 4, 5, 0], [6, 7, 8, 2, 3]], np.int32)
    dec = np.array([[1, 2, 3], [1, 4, 5]], np.int32)
    with pytest.warns(UserWarning, match="rise"):
        exps = tlxp.compare_methods(luong, src, methods=["attention", "rise", "gradient"],
                                    config={"attention": {"decoder_inputs": dec}, "gradient": {"decoder_inputs": dec}},
                                    name=str(tmp_path / "seq2seq.png"))
    assert list(exps) == ["attention", "gradient"] and "encoder-decoder" in exps.skipped["rise"]
    assert exps["attention"].shape == (2, 3, 5) and os.path.getsize(tmp_path / "seq2seq.png") > 1000
