"""The documentation site builds with ``mkdocs build --strict``, and says what it should."""

import html.parser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_every_lecture_example_has_a_tutorial_with_its_figure():
    sys.path.insert(0, str(ROOT / "examples" / "lecture"))
    try:
        from run_all import EXAMPLES
    finally:
        sys.path.remove(str(ROOT / "examples" / "lecture"))
    pages = "\n".join(p.read_text() for p in (DOCS / "tutorials").glob("*.md"))
    for name in EXAMPLES:
        assert f"examples/lecture/{name}.py" in pages, name
        assert f"../img/lecture/{name}.png" in pages, name
        assert (DOCS / "img" / "lecture" / f"{name}.png").is_file(), name


def _build(site):
    """Run ``mkdocs build --strict`` into ``site``; its process (output not quietened)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


class _Fetches(html.parser.HTMLParser):
    """The scripts and style sheets (and preconnected hosts) a page asks a browser to load."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and rel & {"stylesheet", "preload", "modulepreload", "preconnect",
                                       "dns-prefetch"}:
            self.urls.append(attrs.get("href") or "")


def _external_fetches(text: str) -> list[str]:
    parser = _Fetches()
    parser.feed(text)
    return [url for url in parser.urls if re.match(r"(https?:)?//", url, re.I)]


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
                   "mathjax"):
        pytest.importorskip(module, reason="the docs build needs the docs extra")
    site = tmp_path / "site"
    proc = _build(site)
    log = proc.stdout + proc.stderr
    # -q would hide the warnings (and strict mode then counts none): every line is read,
    # and a warning or error fails the test whatever the exit code says
    problems = [line for line in log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert proc.returncode == 0 and not problems, log
    page = (site / "tutorials" / "stable-softmax" / "index.html").read_text()
    assert 'src="../../img/lecture/stable_softmax.png"' in page
    # a formula's code link: the file and line, pointing into the API reference
    link = re.search(r'href="([^"]+)"[^>]*><code>chainrule/ops/softmax\.py:(\d+)</code>', page)
    assert link and link.group(1) == "../../api/ops/#chainrule.ops.softmax.softmax_array"
    import inspect

    from chainrule.ops.softmax import softmax_array
    assert int(link.group(2)) == inspect.getsourcelines(softmax_array)[1]
    api = (site / "api" / "nn" / "index.html").read_text()
    assert 'id="chainrule.nn.Linear"' in api and "Source code in" in api
    cli = (site / "cli" / "index.html").read_text()
    assert "--checkpoint-every" in cli                        # generated from the parser
    assert not (site / "hooks.py").exists()
    # offline: no page loads a script or a style sheet from elsewhere, and the maths
    # renderer (MathJax, with its licence) is served by the site itself
    for page_html in site.rglob("*.html"):
        external = _external_fetches(page_html.read_text())
        assert not external, (str(page_html.relative_to(site)), external)
    assert '<script src="../../js/mathjax/tex-svg-full.js"></script>' in page
    assert (site / "js" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    assert "Apache License" in (site / "js" / "mathjax" / "LICENSE").read_text()
    assert '<span class="arithmatex">' in page


def test_readme_layout_lists_every_module_and_subpackage():
    # README "Development": the package tree, one line per top-level module and per
    # subpackage (train/metrics/ too), and nothing that is not there.
    text = (ROOT / "README.md").read_text()
    block = text[text.index("      chainrule/\n"):]
    block = block[:block.index("\n\n")]
    listed = {line.split()[0] for line in block.splitlines()[1:] if line[8:9].strip()}
    package = ROOT / "chainrule"
    present = {p.name for p in package.glob("*.py")}
    present |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    present |= {f"{p.parent.name}/{p.name}/" for p in package.glob("*/*")
                if (p / "__init__.py").is_file()}
    assert listed == present
