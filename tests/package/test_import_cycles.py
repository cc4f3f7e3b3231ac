"""The package has no import cycles, lazy (function-level) imports included.

The test reads every module of ``tensorlayer_xplain`` with :mod:`ast` (nothing is imported), collects
every ``import`` / ``from ... import`` statement wherever it sits (module level, inside functions, under
``if TYPE_CHECKING``), resolves relative imports, and looks for a cycle among the package's modules.

An edge ``a -> b`` means module ``a`` imports module ``b``. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. Importing ``pkg.sub`` also runs ``pkg/__init__``,
but a package's ``__init__`` re-exporting its children is not a cycle by itself, so an edge to
``pkg.sub`` does not add an edge to ``pkg`` (otherwise every child that imports a sibling would form a
cycle with its package's ``__init__``). A child importing its own package's ``__init__`` is an edge like
any other.
"""
import ast
import pathlib

PACKAGE = "tensorlayer_xplain"
ROOT = pathlib.Path(__file__).resolve().parents[2] / PACKAGE


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules():
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(current, is_package, level, module):
    if level == 0:
        return module
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name, path, modules):
    """The package modules that module ``name`` (file ``path``) imports, anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = {}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            # ``import a.b.c`` of a non-module tail: walk up to the nearest module.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target.startswith(PACKAGE) and target != name:
                found.setdefault(target, node.lineno)
    return found


def import_graph():
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph):
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def one_cycle(graph, component):
    """A shortest closed path through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return component


def describe(graph, cycle):
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        steps.append(f"  {a} -> {b}  (line {graph[a][b]})")
    return "\n".join(steps)


def test_finder_sees_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_relative_imports_resolve():
    assert _resolve("p.a.b", False, 1, "c") == "p.a.c"
    assert _resolve("p.a.b", False, 2, "c") == "p.c"
    assert _resolve("p.a", True, 1, "c") == "p.a.c"
    assert _resolve("p.a", True, 2, None) == "p"


def test_graph_covers_lazy_imports():
    graph = import_graph()
    assert len(graph) > 50
    # Every module of the package is in the graph, and the top-level __init__ imports something.
    assert graph[PACKAGE]


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    message = "\n\n".join(
        f"import cycle among {len(c)} modules: {', '.join(c)}\n{describe(graph, one_cycle(graph, c))}"
        for c in cycles
    )
    assert not cycles, message
