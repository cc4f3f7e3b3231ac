"""The documentation stays true: docstrings of every public name, the error table, the API page, the gallery.

The Sphinx build itself (``sphinx-build -W``) runs in ``.ci/run``; these checks need no Sphinx.
"""
import importlib.util
import inspect
import os
import re

import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain import metrics, visualize
from tensorlayer_xplain.explainer import ModelExplainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

_SECTION = re.compile(r"^[ \t]*(Parameters|Returns|Yields|Attributes|Examples)[ \t]*\n[ \t]*-{3,}[ \t]*$", re.M)


def load_docs_script(name):
    spec = importlib.util.spec_from_file_location("docs_" + name, os.path.join(DOCS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_objects():
    """``{label: object}`` of every name the docs promise to document with an example."""
    found = {}
    for name in tlxp.__all__:
        obj = getattr(tlxp, name)
        if not name.startswith("_") and not inspect.ismodule(obj):
            found["tensorlayer_xplain." + name] = obj
    for name in visualize.__all__:
        found["tensorlayer_xplain.visualize." + name] = getattr(visualize, name)
    for name in tlxp.available_methods():
        found["method %r (%s)" % (name, tlxp.get_method(name).__name__)] = tlxp.get_method(name)
    for name in metrics.__all__:
        obj = getattr(metrics, name)
        if inspect.isfunction(obj):
            found["tensorlayer_xplain.metrics." + name] = obj
    for name, obj in vars(ModelExplainer).items():
        if not name.startswith("_"):
            found["ModelExplainer." + name] = obj.fget if isinstance(obj, property) else obj
    return found


PUBLIC = public_objects()


def test_public_names_are_found():
    assert len(PUBLIC) > 60
    assert "tensorlayer_xplain.explain" in PUBLIC and "ModelExplainer.explain_all" in PUBLIC
    assert any(label.startswith("method 'shap_deep'") for label in PUBLIC)


@pytest.mark.parametrize("label", sorted(PUBLIC))
def test_public_name_has_numpydoc_docstring_with_example(label):
    doc = inspect.getdoc(PUBLIC[label])
    assert doc and doc.strip(), "%s has no docstring" % label
    sections = set(_SECTION.findall(doc))
    assert sections & {"Parameters", "Returns", "Yields", "Attributes"}, \
        "%s: the docstring needs a Parameters or Returns section" % label
    assert "Examples" in sections, "%s: the docstring needs an Examples section" % label
    examples = doc.split("Examples", 1)[1]
    assert ">>>" in examples, "%s: the Examples section has no >>> example" % label


def test_section_regex_rejects_a_docstring_without_sections():
    assert not _SECTION.findall("Do something.\n\nParameters: none, really.")
    assert set(_SECTION.findall("x\n\nParameters\n----------\na : int\n\nExamples\n--------\n>>> 1\n")) \
        == {"Parameters", "Examples"}


@pytest.fixture
def builtin_registries():
    """Only the library's own methods and metrics registered (messages list the known names)."""
    from tensorlayer_xplain.methods import registry

    saved = [(table, dict(table)) for table in (registry._REGISTRY, registry._ALIASES, metrics.METRICS)]
    ours = lambda fn: getattr(fn, "__module__", "").startswith("tensorlayer_xplain.")  # noqa: E731
    for name, spec in list(registry._REGISTRY.items()):
        if not ours(spec.fn):
            del registry._REGISTRY[name]
    for alias, name in list(registry._ALIASES.items()):
        if name not in registry._REGISTRY:
            del registry._ALIASES[alias]
    for name, spec in list(metrics.METRICS.items()):
        if not ours(spec.fn):
            del metrics.METRICS[name]
    try:
        yield
    finally:
        for table, content in saved:
            table.clear()
            table.update(content)


@pytest.mark.slow
def test_error_table_matches_what_the_library_raises(builtin_registries):
    """docs/errors_table.rst is what docs/make_error_table.py produces now (rerun it after changing a message)."""
    script = load_docs_script("make_error_table")
    rows = script.run_cases()
    assert len(rows) == len(script.CASES)
    silent = [label for label, _, kind, _ in rows if kind == "(no error)"]
    assert not silent, "bad input accepted without an error: %s" % silent
    assert {kind for _, _, kind, _ in rows} <= {"ValueError", "TypeError", "KeyError"}
    with open(script.OUTPUT, encoding="utf-8") as f:
        committed = f.read()
    assert script.render(rows) == committed, "docs/errors_table.rst is stale: run python docs/make_error_table.py"


def _api_entries():
    """Fully qualified names listed in docs/api.rst's autosummary blocks."""
    with open(os.path.join(DOCS, "api.rst"), encoding="utf-8") as f:
        text = f.read()
    module, names, in_block = "tensorlayer_xplain", [], False
    for line in text.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
        elif line.startswith(".. autosummary::"):
            in_block = True
        elif in_block and re.match(r"^   [A-Za-z_][\w.]*$", line):
            names.append(module + "." + line.strip())
        elif in_block and line and not line.startswith(" "):
            in_block = False
    return names


def _resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_api_reference_lists_every_public_name():
    documented = {id(_resolve(name)) for name in _api_entries()}
    missing = [label for label, obj in PUBLIC.items()
               if not label.startswith("ModelExplainer.") and id(obj) not in documented]
    assert not missing, "add these to docs/api.rst: %s" % missing


def test_gallery_page_and_images_are_in_sync_and_small():
    script = load_docs_script("make_gallery")
    with open(script.RST, encoding="utf-8") as f:
        assert f.read() == script.render(), "docs/gallery.rst is stale: run python docs/make_gallery.py"
    sizes = {item.name: os.path.getsize(os.path.join(script.GALLERY, item.name + ".png")) for item in script.ITEMS}
    assert all(size > 2000 for size in sizes.values()), sizes
    total = sum(os.path.getsize(os.path.join(DOCS, folder, name))
                for folder in ("gallery", "_static") if os.path.isdir(os.path.join(DOCS, folder))
                for name in os.listdir(os.path.join(DOCS, folder)))
    assert total < 2 * 1024 * 1024, "committed docs images take %d bytes" % total


def test_every_page_is_in_a_toctree():
    pages = set()
    for folder, _, files in os.walk(DOCS):
        if "_build" in folder or "generated" in folder or "_templates" in folder:
            continue
        for name in files:
            if name.endswith(".rst") and name != "errors_table.rst":
                pages.add(os.path.relpath(os.path.join(folder, name), DOCS)[:-4])
    listed = {"index"}
    for page in pages:
        with open(os.path.join(DOCS, page + ".rst"), encoding="utf-8") as f:
            text = f.read()
        for block in re.findall(r"\.\. toctree::\n((?:[ \t]+.*\n|\n)+)", text):
            for entry in re.findall(r"^[ \t]+([\w/]+)[ \t]*$", block, re.M):
                listed.add(os.path.normpath(os.path.join(os.path.dirname(page), entry)))
    assert pages <= listed, "pages missing from every toctree: %s" % sorted(pages - listed)
