"""Measures of the codebase's shape, the before/after figures of the house issue.

    python tools/code_metrics.py [--root DIR] [--json]

Prints, for the package under ``DIR/chainrule`` (default: this checkout):

- functions and methods longer than 40 and than 60 lines (their names, over 60);
- lines below the command-line package that name one of the ``chainrule`` command's flags
  inside a string (a lower layer should speak of its own parameters);
- lists written more than once: literal collections that spell out three or more of the
  optimizer names, and literal defaults of ``max_categories``;
- cycles in the graph of module-level imports inside the package;
- type-hint coverage of the public API: the functions and classes named in each
  ``__all__`` (and ``Tensor``'s public methods) whose parameters and return are annotated;
- the README's length in lines.

Only the standard library is used, and nothing is imported from the measured tree, so the
script measures any revision checked out anywhere (``git worktree add /tmp/old REV``).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import tokenize
from pathlib import Path

OPTIMIZER_NAMES = {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"}
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def _modules(pkg: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(pkg.rglob("*.py")):
        parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _trees(pkg: Path) -> dict[str, tuple[Path, ast.Module]]:
    return {name: (path, ast.parse(path.read_text(), str(path)))
            for name, path in _modules(pkg).items()}


def long_functions(trees, limit: int) -> list[tuple[str, int]]:
    found = []
    for name, (_, tree) in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append((f"{name}.{node.name}:{node.lineno}", length))
    return sorted(found, key=lambda t: -t[1])


def _is_cli(name: str) -> bool:
    return name in ("chainrule.cli", "chainrule.cli_args") or name.startswith("chainrule.cli.")


def cli_flags(trees) -> set[str]:
    """Every flag the parser declares: the string arguments of ``add_argument`` in cli code."""
    flags = set()
    for name, (_, tree) in trees.items():
        if not _is_cli(name):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                            and arg.value.startswith("--"):
                        flags.add(arg.value[2:])
    return flags - {"help"}


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def flags_below_cli(trees) -> list[str]:
    """Lines of strings (docstrings left out) that name a flag, outside the CLI's modules."""
    flags = cli_flags(trees)
    lines = []
    for name, (path, tree) in trees.items():
        if _is_cli(name):
            continue
        docs = _docstring_lines(tree)
        where = "/".join(name.split(".")[1:]) or "chainrule"
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for tok in tokens:
            if tok.start[0] in docs:
                continue
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                if any(m.group(1) in flags for m in FLAG.finditer(tok.string)):
                    lines.append(f"{where}:{tok.start[0]}")
    return sorted(set(lines))


def repeated_lists(trees) -> dict[str, list[str]]:
    optimizer_lists, category_defaults = [], []
    for name, (_, tree) in trees.items():
        for node in ast.walk(tree):
            items = None
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [k for k in node.keys if k is not None]
            if items is not None:
                names = {e.value for e in items if isinstance(e, ast.Constant)} & OPTIMIZER_NAMES
                if len(names) >= 3:
                    optimizer_lists.append(f"{name}:{node.lineno}")
            # a literal default for max_categories: `max_categories=50` in a signature or a
            # call, or `max_categories: int = 50` in a dataclass
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults)) \
                    + list(node.args.defaults) + list(node.args.kw_defaults)
                for a, d in zip(args, defaults):
                    if a.arg == "max_categories" and isinstance(d, ast.Constant) \
                            and isinstance(d.value, int):
                        category_defaults.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == \
                    "max_categories" and isinstance(node.value, ast.Constant):
                category_defaults.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in ("max_categories", "default") and \
                            isinstance(kw.value, ast.Constant) and kw.value.value == 50 \
                            and _mentions(node, "max-categories"):
                        category_defaults.append(f"{name}:{node.lineno}")
    return {"optimizer name lists": optimizer_lists, "max_categories defaults": category_defaults}


def _mentions(call: ast.Call, text: str) -> bool:
    return any(isinstance(a, ast.Constant) and a.value == f"--{text}" for a in call.args)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_cycles(trees) -> list[list[str]]:
    """Strongly connected components (of more than one module) of the module-level imports."""
    names = set(trees)
    graph: dict[str, set[str]] = {n: set() for n in names}
    for name, (path, tree) in trees.items():
        is_package = path.name == "__init__.py"
        for node in tree.body:   # module level only: imports inside functions are lazy
            stmts = [node]
            if isinstance(node, ast.If):   # `if TYPE_CHECKING:` imports never run
                continue
            if isinstance(node, ast.Try):
                stmts = node.body
            for s in stmts:
                targets = []
                if isinstance(s, ast.Import):
                    targets = [a.name for a in s.names]
                elif isinstance(s, ast.ImportFrom):
                    base = _resolve(name, s, is_package)
                    targets = [base] + [f"{base}.{a.name}" for a in s.names]
                for t in targets:
                    # importing a.b.c runs a and a.b first
                    parts = t.split(".")
                    for i in range(1, len(parts) + 1):
                        dep = ".".join(parts[:i])
                        if dep in names and dep != name and not name.startswith(dep + "."):
                            graph[name].add(dep)
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def _hinted(fn: ast.FunctionDef, method: bool) -> bool:
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    if method and args and args[0].arg in ("self", "cls"):
        args = args[1:]
    extra = [a for a in (fn.args.vararg, fn.args.kwarg) if a is not None]
    if any(a.annotation is None for a in args + extra):
        return False
    return fn.returns is not None or fn.name == "__init__"


def _all_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", "") == "__all__" for t in targets) and \
                    isinstance(node.value, (ast.List, ast.Tuple)):
                return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return []


def _definitions(trees) -> dict[str, dict[str, ast.AST]]:
    return {name: {n.name: n for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n in tree.body}
            for name, (_, tree) in trees.items()}


def _find(name: str, module: str, trees, defs, seen=None):
    """The definition that ``module``'s name ``name`` refers to, following re-exports."""
    seen = seen or set()
    if (module, name) in seen or module not in trees:
        return None
    seen.add((module, name))
    if name in defs[module]:
        return defs[module][name]
    path, tree = trees[module]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if (a.asname or a.name) == name:
                    base = _resolve(module, node, path.name == "__init__.py")
                    found = _find(a.name, base, trees, defs, seen)
                    if found is None:
                        found = _find(name, f"{base}.{a.name}", trees, defs, seen)
                    if found is not None:
                        return found
    return None


def _class_hinted(cls: ast.ClassDef) -> bool:
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
                None)
    public = [n for n in cls.body if isinstance(n, ast.FunctionDef)
              and not n.name.startswith("_")]
    fns = ([init] if init is not None else []) + public
    return all(_hinted(f, method=True) for f in fns)


def hint_coverage(trees) -> tuple[dict[str, tuple[int, int]], list[int]]:
    """Per module, (hinted, counted) over its ``__all__``; and over distinct definitions."""
    defs = _definitions(trees)
    cover: dict[str, tuple[int, int]] = {}
    unique: dict[int, bool] = {}   # a name exported from several modules counts once
    for module, (_, tree) in trees.items():
        names = _all_names(tree)
        counted = hinted = 0
        for n in names:
            node = _find(n, module, trees, defs)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                ok = _hinted(node, method=False) if isinstance(node, ast.FunctionDef) \
                    else _class_hinted(node)
                unique[id(node)] = ok
                counted += 1
                hinted += ok
        if counted:
            cover[module] = (hinted, counted)
    # Tensor's public methods (its mixin's too)
    counted = hinted = 0
    for module in ("chainrule.tensor", "chainrule.tensor_methods"):
        for node in defs.get(module, {}).values():
            if isinstance(node, ast.ClassDef) and node.name in ("Tensor", "TensorMethods"):
                for f in node.body:
                    if isinstance(f, ast.FunctionDef) and not f.name.startswith("_"):
                        ok = _hinted(f, method=True)
                        unique[id(f)] = ok
                        counted += 1
                        hinted += ok
    cover["Tensor methods"] = (hinted, counted)
    return cover, [sum(unique.values()), len(unique)]


def measure(root: Path) -> dict:
    trees = _trees(root / "chainrule")
    cover, total = hint_coverage(trees)
    readme = root / "README.md"
    return {
        "functions over 40 lines": len(long_functions(trees, 40)),
        "functions over 60 lines": long_functions(trees, 60),
        "flag names below cli": flags_below_cli(trees),
        "lists written more than once": repeated_lists(trees),
        "import cycles": import_cycles(trees),
        "type hints": {k: list(v) for k, v in sorted(cover.items())},
        "type hints total": total,
        "py.typed": (root / "chainrule" / "py.typed").exists(),
        "README lines": len(readme.read_text().splitlines()) if readme.exists() else 0,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--json", action="store_true", help="print the measures as JSON")
    a = p.parse_args(argv)
    m = measure(a.root)
    if a.json:
        print(json.dumps(m, indent=1))
        return
    over60 = m["functions over 60 lines"]
    print(f"functions over 40 lines: {m['functions over 40 lines']}")
    print(f"functions over 60 lines: {len(over60)}")
    for name, n in over60:
        print(f"    {n:4d}  {name}")
    print(f"lines naming a CLI flag below cli: {len(m['flag names below cli'])}"
          f" in {len({s.split(':')[0] for s in m['flag names below cli']})} files")
    for what, where in m["lists written more than once"].items():
        print(f"{what}: {len(where)}  {' '.join(where)}")
    print(f"import cycles: {len(m['import cycles'])}")
    for comp in m["import cycles"]:
        print("    " + " <-> ".join(comp))
    h, n = m["type hints total"]
    print(f"type hints on the public API: {h}/{n} ({100 * h / max(n, 1):.0f}%), "
          f"py.typed: {m['py.typed']}")
    for module, (h, n) in m["type hints"].items():
        print(f"    {module}: {h}/{n}")
    print(f"README lines: {m['README lines']}")


if __name__ == "__main__":
    main()
