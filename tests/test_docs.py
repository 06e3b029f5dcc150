"""The documentation site builds with ``mkdocs build --strict``, and says what it should."""

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


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs build needs the docs extra")
    site = tmp_path / "site"
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
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
