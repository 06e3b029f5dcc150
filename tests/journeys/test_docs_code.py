"""Journey 8: every code block of README.md and of docs/**/*.md runs as it is written.

Each page's blocks run in order, as a reader would paste them, in a temporary copy of the
checkout (so ``examples/moons.csv`` is there and nothing is written into the repository):

- ``python``/``py`` blocks share one namespace for the page (one Python process; a block
  of ``>>>`` lines, or a ``pycon`` block, is checked as a doctest);
- ``bash``/``sh``/``shell``/``console`` blocks run through ``bash -e -o pipefail``
  (``$ `` prompts stripped; in ``console`` blocks the lines without a prompt are output),
  with ``python`` and ``chainrule`` on PATH and PYTHONPATH at the repository;
- floating-point warnings are errors (as in the suite), Matplotlib draws off screen, and
  ``CHAINRULE_FAST=1`` puts the lecture scripts in their documented fast mode.

A block that cannot run here says so in the Markdown, with a reason, in an HTML comment
right before it (hidden by GitHub and by the docs site)::

    <!-- no-run: needs a GPU -->

No block may install anything: a shell block that runs pip (or apt, conda) fails unrun,
and ``pip`` on PATH refuses.

A block in a language this test does not run (``text``, an untagged fence, an indented
block) must carry that marker too. A failure names the file and line its block starts at.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = {"python", "py", "python3"}
DOCTEST = {"pycon"}
SHELL = {"bash", "sh", "shell", "console"}
PAGE_TIMEOUT = 240                               # seconds for all the blocks of one page

_FENCE = re.compile(r"^( *)(`{3,}|~{3,})\s*\{?\s*\.?([^\s`{}]*)")
_MARKER = re.compile(r"^<!--\s*no-run\b\s*(?::(.*?))?-->\s*$", re.S)
_PIP = re.compile(r"\b(pip3?|-m\s+pip|uv\s+pip|conda|apt-get|apt)\s+(install|uninstall|remove)\b")
_LIST_ITEM = re.compile(r"^( *)([-*+]|\d{1,9}[.)])( +)\S")
_ADMONITION = re.compile(r"^( *)(!!!|\?\?\?\+?) ")


@dataclass(frozen=True)
class Block:
    path: str          # the page, relative to the repository root
    line: int          # where the block starts (its opening fence, or its first line)
    first: int         # the line of its first line of code
    lang: str          # the fence's language, "" for an untagged fence, "indented"
    code: str
    skip: str | None   # the no-run marker's reason, None where the block is unmarked

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def pages() -> list[str]:
    """README.md and every page of docs/, relative to the repository root."""
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
    return ["README.md", *docs]


def parse(text: str, path: str) -> tuple[list[Block], list[str]]:
    """The code blocks of one Markdown text, and what is wrong with its markers.

    Fenced blocks (at any indentation, inside lists too) and indented code blocks (four
    spaces past the list item or admonition they sit in, after a blank line) are found;
    fenced content keeps its indentation relative to the fence.
    """
    lines = text.split("\n")
    blocks, problems = [], []
    marker = None                        # (line, reason) of a no-run marker not yet used
    container = 0                        # content indent of the list item / admonition
    prev_blank, prev_opens = True, True  # may an indented code block start here?
    i = 0

    def take(start, first, lang, code):
        nonlocal marker
        skip = None
        if marker is not None:
            skip = marker[1]
            if not skip:
                problems.append(f"{path}:{marker[0]}: a no-run marker needs a reason "
                                "(<!-- no-run: why -->)")
            marker = None
        blocks.append(Block(path, start, first, lang, code, skip))

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        fence = _FENCE.match(line)
        if not stripped:
            prev_blank = True
            i += 1
            continue
        if fence and indent < container + 4:
            mark, lang = fence.group(2), fence.group(3).lower()
            close = re.compile(rf"^ *{re.escape(mark[0])}{{{len(mark)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j == len(lines):
                problems.append(f"{path}:{i + 1}: a code fence that is never closed")
            body = [ln[min(indent, len(ln) - len(ln.lstrip(" "))):] for ln in lines[i + 1:j]]
            take(i + 1, i + 2, lang, "\n".join(body) + "\n")
            if indent < container:
                container = 0
            i, prev_blank, prev_opens = j + 1, False, True
            continue
        if indent >= container + 4 and (prev_blank or prev_opens):
            j, body = i, []
            while j < len(lines) and (not lines[j].strip()
                                      or lines[j].startswith(" " * (container + 4))):
                body.append(lines[j][container + 4:])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            take(i + 1, i + 1, "indented", "\n".join(body) + "\n")
            i, prev_blank, prev_opens = i + len(body), False, False
            continue
        m = _MARKER.match(stripped)
        if marker is not None:
            problems.append(f"{path}:{marker[0]}: a no-run marker not followed by a code block")
            marker = None
        if m:
            marker = (i + 1, (m.group(1) or "").strip())
        if (item := _LIST_ITEM.match(line)) or (adm := _ADMONITION.match(line)):
            container = (len(item.group(1)) + len(item.group(2)) + len(item.group(3)) if item
                         else len(adm.group(1)) + 4)
        elif indent < container and prev_blank:
            container = 0                # a paragraph out of the list ends it
        prev_opens = bool(m) or stripped.startswith("#")
        prev_blank = False
        i += 1
    if marker is not None:
        problems.append(f"{path}:{marker[0]}: a no-run marker not followed by a code block")
    return blocks, problems


def page_blocks(path: str) -> tuple[list[Block], list[str]]:
    return parse((ROOT / path).read_text(encoding="utf-8"), path)


# -- running ------------------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import doctest, io, json, os, sys, traceback
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                        # what the blocks print goes to the log, not here
    ns = {"__name__": "__main__"}
    for request in sys.stdin:
        block = json.loads(request)
        error = None
        try:
            if block["doctest"]:
                test = doctest.DocTestParser().get_doctest(
                    block["code"], ns, block["path"], block["path"], block["first"] - 1)
                out = io.StringIO()
                runner = doctest.DocTestRunner(
                    optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
                runner.run(test, out=out.write, clear_globs=False)
                error = out.getvalue() if runner.failures else None
            else:
                source = "\\n" * (block["first"] - 1) + block["code"]
                exec(compile(source, block["path"], "exec"), ns)
        except BaseException as e:           # the block's frames only, not this loop's
            error = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))
        sys.stdout.flush(); sys.stderr.flush()
        reply.write(json.dumps({"error": error}) + "\\n")
        reply.flush()
""")


def _shell_script(block: Block) -> str:
    lines, keep = [], block.lang != "console"
    for line in block.code.split("\n"):
        if line.startswith("$ "):
            lines.append(line[2:])
            keep = line.rstrip().endswith("\\")
        elif block.lang != "console" or keep:
            lines.append(line)
            keep = block.lang != "console" or line.rstrip().endswith("\\")
        else:
            lines.append("")             # output: dropped, line numbers kept
    # the first line reports a failing command at its line in the Markdown file
    trap = (f"trap 'echo \"{block.path}:$LINENO: exit $?: $BASH_COMMAND\" >&2' ERR")
    return trap + "\n" * max(block.first - 1, 1) + "\n".join(lines)


class PageRun:
    """One page's blocks, in order, in one working directory and one Python process."""

    def __init__(self, workdir: Path, env: dict, log: Path):
        self.workdir, self.env, self.log = workdir, env, log
        self.deadline = time.monotonic() + PAGE_TIMEOUT
        self._log = log.open("ab")
        self.python = None

    def _worker(self):
        if self.python is None:
            self.python = subprocess.Popen(
                [sys.executable, "-W", "error::RuntimeWarning", "-c", _WORKER],
                cwd=self.workdir, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._log, text=True)
        return self.python

    def run(self, block: Block) -> str | None:
        """None if the block ran, else what went wrong (the log says how long it took)."""
        start = time.monotonic()
        try:
            return self._run(block)
        finally:
            self._log.write(f"----- {block.where}: {time.monotonic() - start:.2f} s\n".encode())
            self._log.flush()

    def _run(self, block: Block) -> str | None:
        self._log.write(f"\n===== {block.where} ({block.lang})\n".encode())
        self._log.flush()
        left = self.deadline - time.monotonic()
        if block.lang in SHELL:
            if _PIP.search(block.code):
                return ("it runs pip, which would change this environment: mark it "
                        "<!-- no-run: installs ... -->")
            try:
                proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c",
                                       _shell_script(block)], cwd=self.workdir, env=self.env,
                                      stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=self._log, timeout=max(left, 1))
            except subprocess.TimeoutExpired:
                return f"still running after {PAGE_TIMEOUT} s for the page"
            return None if proc.returncode == 0 else f"exited {proc.returncode}"
        worker = self._worker()
        doctest_ = block.lang in DOCTEST or block.code.lstrip().startswith(">>>")
        worker.stdin.write(json.dumps({"path": block.path, "first": block.first,
                                       "code": block.code, "doctest": doctest_}) + "\n")
        worker.stdin.flush()
        ready, _, _ = select.select([worker.stdout], [], [], max(left, 1))
        answer = worker.stdout.readline() if ready else ""
        if not answer:
            return (f"still running after {PAGE_TIMEOUT} s for the page" if not ready
                    else f"the Python process died (exit {worker.wait()})")
        return json.loads(answer)["error"]

    def close(self):
        if self.python is not None:
            self.python.stdin.close()
            try:
                self.python.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.python.kill()
                self.python.wait()
        self._log.close()


def _checkout_copy(dest: Path) -> None:
    """The repository's files (as a clone has them, the package left out) under ``dest``."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=30).stdout
        files = [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", "__pycache__", "site", ".pytest_cache", ".ruff_cache", ".hypothesis"}
        files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    for f in files:
        if f.startswith("chainrule/"):   # the package is imported from the repository
            continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A bin/ of shims (python, chainrule: this interpreter, this checkout) and the env."""
    base = tmp_path_factory.mktemp("docs_code")
    bin_ = base / "bin"
    bin_.mkdir()
    for name, args in (("python", ""), ("python3", ""), ("chainrule", " -m chainrule")):
        shim = bin_ / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n')
        shim.chmod(0o755)
    for name in ("pip", "pip3"):         # a block never installs into this environment
        (bin_ / name).write_text("#!/bin/sh\necho 'docs test: pip is not run' >&2\nexit 1\n")
        (bin_ / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(ROOT), MPLBACKEND="Agg", CHAINRULE_FAST="1",
               MPLCONFIGDIR=str(base / "mpl"), PYTHONWARNINGS="error::RuntimeWarning",
               PIP_REQUIRE_VIRTUALENV="1", PIP_NO_INDEX="1")
    env.pop("CHAINRULE_TEST_DEVICE", None)
    return base, env


def run_blocks(blocks: list[Block], workdir: Path, env: dict) -> tuple[str | None, Path]:
    """Run the runnable blocks in order; the first failure (with the log's tail), if any."""
    log = workdir.parent / f"{workdir.name}.log"
    run = PageRun(workdir, env, log)
    try:
        for block in blocks:
            if block.skip is not None or block.lang not in PYTHON | DOCTEST | SHELL:
                continue
            error = run.run(block)
            if error is not None:
                run.close()
                tail = log.read_text(errors="replace")[-4000:]
                return (f"the {block.lang} block at {block.where} failed: {error}\n"
                        f"--- output (tail of {log}):\n{tail}"), log
    finally:
        run.close()
    return None, log


# -- tests ---------------------------------------------------------------------------------

def _kind(block: Block) -> str:
    if block.lang == "indented":
        return "an indented block"
    return f"a {block.lang!r} block" if block.lang else "an untagged fence"


def test_every_block_runs_or_says_why_not():
    problems = []
    for path in pages():
        blocks, bad = page_blocks(path)
        problems += bad
        problems += [f"{b.where}: {_kind(b)} this test cannot run; mark it "
                     "<!-- no-run: why --> if it is not meant to"
                     for b in blocks if b.skip is None and b.lang not in PYTHON | DOCTEST | SHELL]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("path", pages())
def test_page_code_runs(path, sandbox, tmp_path):
    blocks, _ = page_blocks(path)
    if not any(b.skip is None and b.lang in PYTHON | DOCTEST | SHELL for b in blocks):
        return
    base, env = sandbox
    workdir = tmp_path / "checkout"
    _checkout_copy(workdir)
    failure, _ = run_blocks(blocks, workdir, env)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


_SAMPLE = """\
# A page

Text.

<!-- no-run: needs a GPU -->
```python
raise SystemExit("not run")
```

```python
x = 41
```

1. A list item:

       indented code in a list item

   and its paragraph.
- Another item

    its second paragraph, not code (4 spaces, the item's content at 2)

Out of the list, and a paragraph
    that goes on (not code).

    $ echo skipped
<!-- no-run -->

    raw

```console
$ python -c "print(x)" || echo no-x-in-the-shell
output line
```

```text
out
```

```py
y = x + 1
assert y == 42, y
```

<!-- no-run: dangling -->
Text.
"""


def test_parse_finds_each_kind_of_block_and_each_marker_problem():
    blocks, problems = parse(_SAMPLE, "page.md")
    got = [(b.line, b.lang, b.skip, b.code) for b in blocks]
    assert got == [
        (6, "python", "needs a GPU", 'raise SystemExit("not run")\n'),
        (10, "python", None, "x = 41\n"),
        (16, "indented", None, "indented code in a list item\n"),
        (26, "indented", None, "$ echo skipped\n"),
        (29, "indented", "", "raw\n"),
        (31, "console", None, '$ python -c "print(x)" || echo no-x-in-the-shell\noutput line\n'),
        (36, "text", None, "out\n"),
        (40, "py", None, "y = x + 1\nassert y == 42, y\n"),
    ]
    assert problems == ["page.md:27: a no-run marker needs a reason (<!-- no-run: why -->)",
                        "page.md:45: a no-run marker not followed by a code block"]


def test_a_failing_block_is_reported_at_its_file_and_line(sandbox, tmp_path):
    base, env = sandbox
    work = tmp_path / "work"
    work.mkdir()
    blocks, _ = parse(_SAMPLE, "page.md")
    ok = [b for b in blocks if b.lang in {"python", "py", "console"} and b.skip is None]
    assert run_blocks(ok, work, env)[0] is None           # the namespace is shared: y == 42
    broken = parse("Text.\n\n```python\nz = 1\n\nz = undefined_name\n```\n", "bad.md")[0]
    failure, _ = run_blocks(broken, work, env)
    assert failure.startswith("the python block at bad.md:3 failed")
    assert 'File "bad.md", line 6' in failure and "NameError" in failure
    shell = parse("x\n\n```bash\ntrue\nfalse\necho never\n```\n", "sh.md")[0]
    failure, _ = run_blocks(shell, work, env)
    assert failure.startswith("the bash block at sh.md:3 failed: exited 1")
    assert "sh.md:5: exit 1: false" in failure and "never" not in failure
    doc = parse("x\n\n```pycon\n>>> 1 + 1\n2\n>>> 2 + 2\n5\n```\n", "doc.md")[0]
    failure, _ = run_blocks(doc, work, env)
    assert failure.startswith("the pycon block at doc.md:3 failed")
    assert 'File "doc.md", line 6' in failure and "Expected:\n    5" in failure
    pip = parse("x\n\n```sh\npip install -e .\n```\n", "pip.md")[0]
    assert "it runs pip" in run_blocks(pip, work, env)[0]
