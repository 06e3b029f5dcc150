"""No import circle holds chainrule together (DESIGN.md: imports point down only).

The graph is read from the source with ``ast``: an edge for every import that runs when
a module is imported (module level, and inside ``if``/``try``/``with`` and class bodies
there), none for an import inside a function (it runs when called) or under
``if TYPE_CHECKING:``. Importing ``a.b.c`` also runs ``a.b``'s ``__init__``, so an edge
goes to every package on the way that is not already above the importer; a name taken
from a package (not one of its submodules) is an edge to that package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import chainrule

ROOT = Path(chainrule.__file__).parent


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports of ``body`` that run when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time(node.body)
            yield from _import_time(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse,
                          node.finalbody):
                yield from _import_time(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _import_time(node.body)


def _resolve(node: ast.Import | ast.ImportFrom, package: str, modules: dict,
             top: str) -> tuple[set[str], set[str]]:
    """(modules whose import ``node`` runs, packages it takes a name from), inside ``top``."""
    targets, packages = set(), set()
    if isinstance(node, ast.Import):
        targets.update(a.name for a in node.names if a.name.split(".")[0] == top)
        packages.update(a.name for a in node.names if a.name == top)
        return targets, packages
    if node.level:
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(base + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != top:
        return targets, packages
    targets.add(base)
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            targets.add(f"{base}.{alias.name}")
        elif modules.get(base, (None, False))[1]:
            packages.add(base)
    return targets, packages


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules that importing it imports first."""
    modules = _modules(root)
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()   # modules whose import runs (and the packages on the way)
        packages: set[str] = set()  # packages a name is taken from: their __init__ ran
        for node in _import_time(ast.parse(path.read_text()).body):
            t, p = _resolve(node, package, modules, root.name)
            targets |= t
            packages |= p
        edges = set(packages)
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step in modules and not (name == step or name.startswith(step + ".")):
                    edges.add(step)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_package_has_no_import_circle():
    graph = import_graph()
    found = cycles(graph)
    detail = ["; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) for c in found]
    assert not found, f"import circles: {detail}"


def test_the_graph_sees_the_imports_a_circle_is_made_of(tmp_path):
    # a circle through a bottom-of-module import, a package's __init__ and a name taken
    # from it; function-level and TYPE_CHECKING imports are not edges
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\nfrom .a import A\n")
    (pkg / "a.py").write_text("class A:\n    pass\n\nfrom .sub.b import f  # noqa\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n"
        "def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("from pkg import A\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"} and graph["pkg.sub.b"] == set()
    assert graph["pkg.c"] == {"pkg"} and cycles(graph) == []
    (pkg / "sub" / "b.py").write_text("from .. import A\n")  # a name from the package
    assert cycles(import_graph(pkg)) == [["pkg", "pkg.a", "pkg.sub.b"]]
    (pkg / "sub" / "b.py").write_text("import pkg.c\n")
    assert cycles(import_graph(pkg)) == [["pkg", "pkg.a", "pkg.c", "pkg.sub.b"]]


# the engine and nn, below chainrule.compiler (the fusion rules and step capture, which
# register themselves with nn's containers)
ENGINE = ("chainrule.nn", "chainrule.ops", "chainrule.autograd", "chainrule.tensor",
          "chainrule.tensor_methods", "chainrule.functional", "chainrule.creation",
          "chainrule.backend", "chainrule.device", "chainrule.gradcheck")


def test_the_engine_never_imports_the_compiler():
    # not at import time, nor inside a function
    modules = _modules(ROOT)
    offenders = []
    for name, (path, is_package) in modules.items():
        if not name.startswith(ENGINE):
            continue
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets, _ = _resolve(node, package, modules, ROOT.name)
                offenders += [f"{name} imports {t}" for t in targets
                              if t.startswith(("chainrule.compiler", "chainrule.capture"))]
    assert not offenders
