"""MkDocs hooks: put code beside formulas, and pull the CLI help and README sections in.

In a page's Markdown:

- ``{{ src("chainrule.functional.softmax") }}`` becomes a link, labelled with the file and
  line where that object is defined, to its entry in the API reference (which shows its
  source); with ``extra: source_url`` set in mkdocs.yml it links to that line online.
- ``{{ cli_help("train") }}`` becomes the output of ``chainrule train --help`` (``""``: the
  top-level help), taken from the installed parser, so the reference cannot drift.
- ``{{ readme("## Performance") }}`` becomes that section of README.md, heading left out.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CALL = re.compile(r"\{\{\s*(src|cli_help|readme)\(\s*(['\"])(.*?)\2\s*\)\s*\}\}")


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ValueError(f"docs: cannot import {dotted!r}")


def _src(dotted: str, config) -> str:
    obj = inspect.unwrap(_resolve(dotted))
    path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT).as_posix()
    lines, start = inspect.getsourcelines(obj)
    end = start + len(lines) - 1
    label = f"`{path}:{start}`"
    base = (config.get("extra") or {}).get("source_url")
    if base:
        return f"[{label}]({base.rstrip('/')}/{path}#L{start}-L{end})"
    return f"[{label}][{dotted}]"


def _cli_help(command: str) -> str:
    from chainrule.cli import main

    os.environ["COLUMNS"] = "96"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(([command] if command else []) + ["--help"])
    return "```text\n" + out.getvalue().rstrip() + "\n```"


def _readme(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n") + len(heading) + 1
    nxt = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start)
    return text[start:nxt.start() if nxt else len(text)].strip()


def on_page_markdown(markdown, page, config, files, **kwargs):
    def expand(m):
        kind, arg = m.group(1), m.group(3)
        if kind == "src":
            return _src(arg, config)
        if kind == "cli_help":
            return _cli_help(arg)
        return _readme(arg)

    return _CALL.sub(expand, markdown)
