"""MkDocs hooks: put code beside formulas, and pull the CLI help and README sections in.

In a page's Markdown:

- ``{{ src("chainrule.functional.softmax") }}`` becomes a link, labelled with the file and
  line where that object is defined, to its entry in the API reference (which shows its
  source); with ``extra: source_url`` set in mkdocs.yml it links to that line online.
- ``{{ cli_help("train") }}`` becomes the output of ``chainrule train --help`` (``""``: the
  top-level help), taken from the installed parser, so the reference cannot drift.
- ``{{ readme("## Performance") }}`` becomes that section of README.md, heading left out.

And the site serves its own maths renderer: MathJax 3 (``js/mathjax/``, with its Apache-2.0
LICENSE), copied from the ``django-static-mathjax`` package of the ``docs`` extra, so the
formulas render without a network.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import posixpath
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ("es5/tex-svg-full.js", "LICENSE")   # SVG output: no font files to fetch
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


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6}) +(.+?)\s*$")
_ANCHOR_LINK = re.compile(r"\[([^\]]+)\]\(#([^)\s]+)\)")


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line index, level, title) of each heading, those inside fenced code skipped."""
    out, fence = [], None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else fence or m.group(1)
        elif fence is None and (h := _HEADING.match(line)):
            out.append((i, len(h.group(1)), h.group(2)))
    return out


def _section_end(heads, k: int, n_lines: int) -> int:
    line, level, _ = heads[k]
    return next((h[0] for h in heads[k + 1:] if h[1] <= level), n_lines)


def _github_slug(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _included_sections(config) -> dict[str, str]:
    """README heading -> the docs page (path in docs_dir) that includes that section."""
    docs = Path(config["docs_dir"])
    out = {}
    for md in sorted(docs.rglob("*.md")):
        for m in _CALL.finditer(md.read_text(encoding="utf-8")):
            if m.group(1) == "readme":
                out.setdefault(m.group(3), md.relative_to(docs).as_posix())
    return out


def _readme(heading: str, page=None, config=None) -> str:
    """A README section, its README-internal ``(#anchor)`` links made to work on the site.

    An anchor inside the section stays on the page; one in a section another page includes
    links to that page; one the site does not have points at the README (``source_url``)
    or, without it, loses its link and says ``(README)``.
    """
    from markdown.extensions.toc import slugify

    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    heads = _headings(lines)
    titles = ["#" * level + " " + title for _, level, title in heads]
    if heading not in titles:
        raise ValueError(f"docs: README.md has no heading {heading!r}")
    k = titles.index(heading)
    start, end = heads[k][0] + 1, _section_end(heads, k, len(lines))
    text = "\n".join(lines[start:end]).strip()
    if page is None:
        return text
    here = posixpath.dirname(page.file.src_uri)
    base = (config.get("extra") or {}).get("source_url")
    sections = {}
    for h, where in _included_sections(config).items():
        if h in titles:
            i = titles.index(h)
            sections[i] = (heads[i][0], _section_end(heads, i, len(lines)), where)

    def relink(m):
        label, anchor = m.group(1), m.group(2)
        target = next((i for i, h in enumerate(heads) if _github_slug(h[2]) == anchor), None)
        if target is None:
            return m.group(0)                   # not a README heading: left for the check
        line, title = heads[target][0], heads[target][2]
        if start <= line < end:
            return f"[{label}](#{slugify(title, '-')})"
        holders = [(e - s, s, where) for s, e, where in sections.values() if s <= line < e]
        if holders:
            _, s, where = min(holders)
            url = posixpath.relpath(where, here or ".")
            return f"[{label}]({url})" if s == line else f"[{label}]({url}#{slugify(title, '-')})"
        if base:
            return f"[{label}]({base.rstrip('/')}/README.md#{anchor})"
        return f"{label} (README)"

    return _ANCHOR_LINK.sub(relink, text)


def on_page_markdown(markdown, page, config, files, **kwargs):
    def expand(m):
        kind, arg = m.group(1), m.group(3)
        if kind == "src":
            return _src(arg, config)
        if kind == "cli_help":
            return _cli_help(arg)
        return _readme(arg, page, config)

    return _CALL.sub(expand, markdown)


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    spec = importlib.util.find_spec("mathjax")
    static = None
    if spec and spec.submodule_search_locations:
        static = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    if static is None or not all((static / name).is_file() for name in MATHJAX):
        raise RuntimeError("docs: MathJax is missing; install the docs extra "
                           "(pip install -e \".[docs]\", which has django-static-mathjax)")
    for name in MATHJAX:
        files.append(File.generated(config, f"js/mathjax/{Path(name).name}",
                                    abs_src_path=str(static / name)))
    return files

