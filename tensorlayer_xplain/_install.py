"""Expose the figure functions as ``tl.visualize.<name>`` without editing TensorLayer's files.

Users who learnt ``tl.visualize`` can keep that namespace::

    import tensorlayer as tl
    import tensorlayer_xplain as tlxp
    tlxp.install()
    tl.visualize.gradcam_visualization(model, X_test[:4], name='gradcam')

A name TensorLayer already defines (e.g. ``tsne_embedding``) is never
overwritten; such names are reported in ``install().skipped`` and logged.
"""
import importlib
import inspect
import logging

__all__ = ["install", "uninstall", "installed", "figure_functions", "InstallResult"]

_LOG = logging.getLogger("tensorlayer_xplain")

#: name -> the object put on ``tensorlayer.visualize`` by :func:`install` (what uninstall removes).
_INSTALLED = {}


class InstallResult(list):
    """The names :func:`install` added, with ``skipped``: names TensorLayer already defines."""

    def __init__(self, added=(), skipped=()):
        super().__init__(added)
        self.skipped = list(skipped)

    def __repr__(self):
        return "InstallResult(added=%s, skipped=%s)" % (list(self), self.skipped)


def _tl_visualize():
    """The real ``tensorlayer.visualize`` module.

    ``tl.visualize`` is a ``LazyImport`` proxy: reads go to the real module but
    attributes set on the proxy land on the proxy itself, where nobody sees them.
    """
    return importlib.import_module("tensorlayer.visualize")


def figure_functions():
    """``{name: function}`` of the public figure functions of :mod:`tensorlayer_xplain.visualize`.

    Read from its ``__all__`` at call time: every public callable following the
    TL figure convention (it takes ``saveable``); helpers such as ``tl_figure``
    and ``figure_path`` are left out.
    """
    from . import visualize

    found = {}
    for name in getattr(visualize, "__all__", []):
        obj = getattr(visualize, name, None)
        if name.startswith("_") or name in ("tl_figure", "figure_path") or not inspect.isfunction(obj):
            continue
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            continue
        if "saveable" in params:
            found[name] = obj
    return found


def install():
    """Add the figure functions to ``tensorlayer.visualize`` and its ``__all__``.

    Idempotent: a second call adds nothing. Never overwrites a name TensorLayer
    already defines; those are listed in ``result.skipped`` (and logged at INFO level).

    Returns
    -------
    InstallResult
        A list of the names this call added, with a ``skipped`` attribute.

    Examples
    --------
    >>> import tensorlayer as tl, tensorlayer_xplain as tlxp
    >>> added = tlxp.install()
    >>> 'gradient_visualization' in added, added.skipped
    (True, ['tsne_embedding'])
    >>> tl.visualize.gradient_visualization(model, X_test[:2])
    """
    module = _tl_visualize()
    exported = getattr(module, "__all__", None)
    added, skipped = [], []
    for name, function in figure_functions().items():
        current = getattr(module, name, None)
        if name in _INSTALLED and current is _INSTALLED[name]:
            continue  # already ours
        if hasattr(module, name):
            skipped.append(name)
            continue
        setattr(module, name, function)
        _INSTALLED[name] = function
        if isinstance(exported, list) and name not in exported:
            exported.append(name)
        added.append(name)
    if skipped:
        _LOG.info("tensorlayer_xplain.install: kept TensorLayer's own %s", ", ".join(skipped))
    return InstallResult(added, skipped)


def uninstall():
    """Remove exactly what :func:`install` added (names replaced since then are left alone).

    Returns
    -------
    list of str
        The names removed from ``tensorlayer.visualize``.

    Examples
    --------
    >>> added = tlxp.install()
    >>> set(added) <= set(tlxp.uninstall())
    True
    """
    module = _tl_visualize()
    exported = getattr(module, "__all__", None)
    removed = []
    for name, function in list(_INSTALLED.items()):
        if getattr(module, name, None) is function:
            delattr(module, name)
            if isinstance(exported, list) and name in exported:
                exported.remove(name)
            removed.append(name)
        del _INSTALLED[name]
    return removed


def installed():
    """Names currently added to ``tensorlayer.visualize`` by :func:`install`."""
    return sorted(_INSTALLED)
