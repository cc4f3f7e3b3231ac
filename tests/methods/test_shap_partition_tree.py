"""shap_partition builds ``shap.maskers.Image``'s pixel hierarchy once per image shape."""
import numpy as np
import pytest

from tensorlayer_xplain.methods import shap as shap_methods
from tensorlayer_xplain.methods.shap._common import import_shap


@pytest.mark.parametrize("shape", [(6, 5, 3), (4, 7, 1)])
def test_the_kept_tree_is_shaps_own_and_built_once(shape):
    shap = import_shap()
    first = shap_methods._exact_image_masker(0.0, shape)
    second = shap_methods._exact_image_masker("blur(3,3)", shape)
    np.testing.assert_array_equal(first.clustering, shap.maskers.Image(0.0, shape).clustering)
    assert second.clustering is first.clustering  # reused, not rebuilt
    with pytest.raises(ValueError):
        first.clustering[0, 0] = -1.0  # shared between explanations: nobody may change it


def test_partition_values_are_unchanged_by_the_kept_tree(static_cnn, images):
    import tensorlayer_xplain as tlxp

    shap_methods._image_partition_tree.cache_clear()
    first = tlxp.explain(static_cnn, images[:1], "shap_partition", max_evals=40).attributions
    again = tlxp.explain(static_cnn, images[:1], "shap_partition", max_evals=40).attributions  # kept tree
    np.testing.assert_array_equal(first, again)
