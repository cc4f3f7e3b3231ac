"""shared_docstring: blocks substituted with the placeholder's indentation, unknown blocks refused,
nothing left unexpanded in the public docstrings, and the figure conventions written only once."""
import glob
import inspect
import os
import re
import textwrap

import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain._utils import docstrings as _docstrings
from tensorlayer_xplain._utils.docstrings import SHARED_PARAMETERS, shared_docstring

_PACKAGE = os.path.dirname(tlxp.__file__)
_LEFT_OVER = re.compile(r"%\(\w+\)s")


def test_block_is_substituted_with_the_placeholder_indentation():
    def figure(saveable=True, name="f", fig_idx=1, second=10):
        """Draw.

        Parameters
        ----------
        %(figure_conventions)s
        extra : int
        """

    doc = shared_docstring(figure).__doc__
    lines = doc.split("\n")
    start = lines.index("        saveable : bool")
    block = SHARED_PARAMETERS["figure_conventions"].split("\n")
    assert lines[start:start + len(block)] == ["        " + line for line in block]
    assert lines[start + len(block)] == "        extra : int"
    assert "%(" not in doc


def test_only_whole_line_placeholders_are_replaced():
    def f():
        """Scale by 50%(figure_model)s, and %(figure_model)s inline stays."""

    assert shared_docstring(f).__doc__ == "Scale by 50%(figure_model)s, and %(figure_model)s inline stays."


def test_unknown_block_raises_key_error_naming_it():
    def f():
        """Doc.

        %(no_such_block)s
        """

    with pytest.raises(KeyError, match="no_such_block"):
        shared_docstring(f)


def test_object_without_docstring_is_returned_unchanged():
    def f():
        pass

    assert shared_docstring(f) is f and f.__doc__ is None


def _public_objects():
    for module in (tlxp, tlxp.visualize):
        for name in module.__all__:
            obj = getattr(module, name)
            yield "%s.%s" % (module.__name__, name), obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") or attr == "__init__":
                        yield "%s.%s.%s" % (module.__name__, name, attr), member


def test_no_placeholder_is_left_in_a_public_docstring():
    checked = 0
    for label, obj in _public_objects():
        doc = inspect.getdoc(obj) if not isinstance(obj, property) else obj.fget.__doc__
        if doc:
            checked += 1
            assert not _LEFT_OVER.search(doc), "%s: unexpanded %s" % (label, _LEFT_OVER.search(doc).group())
    assert checked > 50
    # the figure functions do use the shared blocks
    assert SHARED_PARAMETERS["figure_conventions"].split("\n")[0] in tlxp.visualize.gradcam_visualization.__doc__


_CONVENTION_LINES = re.compile(r"^[ \t]+(saveable : bool|saveable, name, fig_idx, second|fig_idx : int)\b", re.M)


def test_figure_sources_do_not_spell_out_the_conventions():
    sources = glob.glob(os.path.join(_PACKAGE, "visualize", "*.py"))
    assert len(sources) > 10
    spelled = {os.path.basename(path): _CONVENTION_LINES.findall(open(path, encoding="utf-8").read())
               for path in sources}
    assert {name: found for name, found in spelled.items() if found} == {}
    # the regex does find the lines where they are written once
    assert len(_CONVENTION_LINES.findall(textwrap.indent(SHARED_PARAMETERS["figure_conventions"], "    "))) == 2
    assert "saveable : bool" in open(_docstrings.__file__, encoding="utf-8").read()


def test_every_shared_block_is_a_numpydoc_parameter_list():
    for key, text in SHARED_PARAMETERS.items():
        lines = text.split("\n")
        entry = r"^\w+( : \S|(, \w+)+$)"  # 'name : type', or numpydoc's 'a, b, c' for parameters described together
        assert re.match(entry, lines[0]), key
        assert all(line.startswith("    ") or re.match(entry, line) for line in lines), key
