"""The old module paths (before the subpackages) still import, as the very same module objects."""
import importlib
import pathlib

import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain._utils.aliases import ALIASES

PACKAGE_DIR = pathlib.Path(tlxp.__file__).parent


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_old_path_is_the_moved_module(old, new):
    moved = importlib.import_module("tensorlayer_xplain." + new)
    aliased = importlib.import_module("tensorlayer_xplain." + old)
    assert aliased is moved
    # the module keeps its real name and spec (relative imports inside it resolve where it lives)
    assert moved.__name__ == moved.__spec__.name == "tensorlayer_xplain." + new
    assert pathlib.Path(moved.__file__).is_relative_to(PACKAGE_DIR)
    # no stale file is left at the old path
    assert not (PACKAGE_DIR / (old.replace(".", "/") + ".py")).exists()


def test_from_import_and_attribute_access():
    from tensorlayer_xplain.distributed import explain_with_ray
    from tensorlayer_xplain.scale.ray import explain_with_ray as moved
    from tensorlayer_xplain.store import ExplanationStore, open_store

    assert explain_with_ray is moved
    assert ExplanationStore is tlxp.ExplanationStore and open_store is tlxp.open_store
    assert tlxp.store is importlib.import_module("tensorlayer_xplain.scale.store")
    assert tlxp.multi_input.MultiInputAdapter is tlxp.MultiInputAdapter
    assert tlxp.multi_input.MultiInputExplanation is tlxp.MultiInputExplanation
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        tlxp.not_a_module  # noqa: B018


def test_monkeypatching_the_old_path_reaches_the_moved_module(monkeypatch):
    import tensorlayer_xplain.adapter.pixels as moved
    import tensorlayer_xplain.pixels as old

    monkeypatch.setattr(old, "_warned", "sentinel")
    assert moved._warned == "sentinel"


def test_unknown_submodule_still_fails():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tensorlayer_xplain.no_such_module")
