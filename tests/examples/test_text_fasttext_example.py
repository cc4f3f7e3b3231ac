"""examples/text_fasttext.py: TL's fastText model finds its planted words through IG, occlusion and LIME."""
import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _example():
    spec = importlib.util.spec_from_file_location("text_fasttext", os.path.join(ROOT, "examples", "text_fasttext.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_word_scores_share_bigrams_between_their_words():
    example = _example()
    doc = [3, 4, 5]
    attributions = np.array([1.0, 0.0, 0.0, 2.0, 4.0, 0.0])  # unigrams 3 4 5, bigrams (3,4) (4,5), padding
    np.testing.assert_allclose(example.word_scores(attributions, doc, 10), [2.0, 3.0, 2.0])
    assert example.augment_with_bigrams(doc, 10)[:3] == doc
    assert all(10 <= b < 10 + example.N_BUCKETS for b in example.augment_with_bigrams(doc, 10)[3:])


@pytest.mark.slow
def test_text_fasttext_example_recalls_the_planted_words(tmp_path, capsys):
    example = _example()
    accuracy, recall = example.main(["--out", str(tmp_path), "--n-train", "2000", "--epochs", "3",
                                        "--n-explain", "30", "--lime-samples", "300"])
    assert accuracy > 0.97
    assert set(recall) == {"integrated_gradients", "occlusion", "lime"}
    assert min(recall.values()) >= 0.9, recall
    assert "recall of the planted words" in capsys.readouterr().out
    assert (tmp_path / "fasttext_ig_tokens.png").stat().st_size > 1000
    page = (tmp_path / "fasttext_ig_tokens.html").read_text()
    assert any(">%s</mark>" % word in page for word in example.POSITIVE + example.NEGATIVE)
