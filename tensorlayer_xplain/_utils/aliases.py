"""The package's old module paths, kept importable after the modules moved into subpackages.

``import tensorlayer_xplain.store`` (or ``from tensorlayer_xplain.store import open_store``) gives the
module :mod:`tensorlayer_xplain.scale.store` itself: the same object under both names, so attributes,
``monkeypatch.setattr`` and ``isinstance`` behave as before. The modules are imported only when an old
path is first used (``tensorlayer_xplain.app`` does not import Gradio until then), and ``tlxp.store``
works as an attribute too (the package's ``__getattr__``).
"""
import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["ALIASES", "install"]

#: Old module path (relative to the package) -> where the module lives now.
ALIASES = {
    "store": "scale.store",
    "store_writer": "scale.writer",
    "distributed": "scale.ray",
    "streaming": "scale.chunking",
    "cache": "explainer.cache",
    "applicability": "methods.applicability",
    "pixels": "adapter.pixels",
    "multi_input": "methods.multi_input",
    "app": "serve.demo",
    "timing": "_utils.timing",
    "map_checks": "_utils.map_checks",
    "methods.shap_deep": "methods.shap.deep",
    "methods.shap_kernel": "methods.shap.kernel",
}


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``<package>.<old path>`` and loads it as the module at its new path."""

    def __init__(self, package):
        self.package = package
        self.targets = {"%s.%s" % (package, old): "%s.%s" % (package, new) for old, new in ALIASES.items()}
        self.specs = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.targets:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(self.targets[spec.name])
        self.specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # The import system set ``__spec__`` to the alias's spec; give the module its own back, so its
        # relative imports and ``__spec__.name`` keep naming where it lives.
        module.__spec__ = self.specs[module.__spec__.name]


def install(package):
    """Register the finder for ``package`` (once) and return a module ``__getattr__`` for old names."""
    if not any(isinstance(f, _AliasFinder) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder(package))  # before path finders (an editable install's maps names)

    def __getattr__(name):
        if name in ALIASES:
            return importlib.import_module("%s.%s" % (package, name))
        raise AttributeError("module %r has no attribute %r" % (package, name))

    return __getattr__
