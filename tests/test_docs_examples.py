"""Run the Python code blocks of the documentation, so copied examples keep working.

Every ``.rst`` file of the documentation (``README.rst`` and ``docs/**/*.rst``;
the generated ``docs/_autogen``, ``docs/generated`` and ``docs/_build`` are left
out) is one test case: its Python code blocks run in order, in one namespace,
as a reader copying them one after the other would run them. A new page is
picked up without editing this file.

What counts as a Python code block:

- ``.. code-block:: python`` (also ``code`` / ``sourcecode``, and the languages
  ``python3``, ``py``, ``pycon``);
- a ``::`` literal block whose text compiles as Python (or, after a
  ``.. highlight:: python`` directive, any ``::`` block); diagrams, formulas
  and shell lines do not compile and are shown only;
- a doctest block (a paragraph starting with ``>>>``), and any of the above
  whose text starts with ``>>>``: these run with :mod:`doctest` (``ELLIPSIS``
  and ``NORMALIZE_WHITESPACE``), so their printed output is checked too.

Blocks declared in another language (``bash``, ``console``, ``text``, ``r``,
...) are not run. A block that cannot run here on purpose (it needs a remote
Dask scheduler, say) is preceded by the comment ``.. skip-next-block: REASON``
(an rst comment, invisible in the rendered page); the reason is required.
Keep those rare: prefer an example that runs.

Plots use matplotlib's Agg backend; every file runs in its own temporary
working directory, so examples that write files leave nothing behind.
"""

from __future__ import annotations

import doctest
import io
import re
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_MARKER = "skip-next-block"
PYTHON_LANGUAGES = {"python", "python3", "py", "pycon", "ipython", "ipython3"}
# "" (no language given) and "default" mean Sphinx's default highlighting,
# treated as a ``::`` block: Python when the text compiles as Python.
GUESS_LANGUAGES = {"", "default", "guess"}

_CODE_DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_HIGHLIGHT = re.compile(r"^\s*\.\.\s+highlight::\s*(?P<lang>\S*)\s*$")
_SKIP = re.compile(rf"^\s*\.\.\s+{SKIP_MARKER}\b:?\s*(?P<reason>.*)$")
_OPTION = re.compile(r"^\s*:[\w-]+:")


@dataclass
class Block:
    """One code block of an rst file."""

    line: int  # 1-based line number of the block's first line of code
    code: str  # dedented
    language: str  # as declared ("" for ``::`` blocks), lower case
    literal: bool  # a ``::`` block (language undeclared)
    skip_reason: str | None = None

    @property
    def is_doctest(self) -> bool:
        return self.code.lstrip().startswith(">>>")

    @property
    def is_python(self) -> bool:
        if self.language in PYTHON_LANGUAGES:
            return True
        if self.language not in GUESS_LANGUAGES:
            return False
        if self.is_doctest:
            return True
        try:
            compile(self.code, "<block>", "exec")
        except SyntaxError:
            return False
        return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, parent_indent: int,
          options: bool = False) -> tuple[int, int, str]:
    """The indented block from ``lines[start]`` on: (first code line, end, dedented text).

    With ``options``, a directive's option lines (``:caption: ...``) are
    skipped first. The body ends before the first non-blank line indented no
    deeper than ``parent_indent``; ``end`` is that line's index.
    """
    i = start
    while (options and i < len(lines) and lines[i].strip() and _OPTION.match(lines[i])
           and _indent(lines[i]) > parent_indent):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > parent_indent):
        i += 1
    last = i
    while last > first and not lines[last - 1].strip():
        last -= 1
    return first, i, textwrap.dedent("\n".join(lines[first:last]))


def collect_blocks(text: str) -> list[Block]:
    """The code and literal blocks of an rst text, in order (Python or not)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    default_language = ""  # ``.. highlight::`` sets the language of ``::`` blocks
    skip: str | None = None
    previous_blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if m := _SKIP.match(line):
            reason = m["reason"].strip()
            if not reason:
                raise ValueError(f"line {i + 1}: '.. {SKIP_MARKER}' needs a reason after ':'")
            skip = reason
            i += 1
            previous_blank = False
            continue
        if m := _HIGHLIGHT.match(line):
            default_language = m["lang"].lower()
            i += 1
            continue
        if m := _CODE_DIRECTIVE.match(line):
            first, i, code = _body(lines, i + 1, len(m["indent"]), options=True)
            blocks.append(Block(first + 1, code, m["lang"].lower(), False, skip))
            skip, previous_blank = None, True
            continue
        if stripped.startswith(">>>") and previous_blank:  # a doctest block: up to a blank line
            first = i
            while i < len(lines) and lines[i].strip():
                i += 1
            code = textwrap.dedent("\n".join(lines[first:i]))
            blocks.append(Block(first + 1, code, "pycon", False, skip))
            skip, previous_blank = None, False
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            # a paragraph ending with "::" (or "::" alone) introduces a literal block
            first, end, code = _body(lines, i + 1, _indent(line))
            if code.strip() and first > i + 1:
                blocks.append(Block(first + 1, code, default_language, True, skip))
                skip = None
                i, previous_blank = end, True
                continue
        previous_blank = not stripped
        i += 1
    return blocks


def _rst_files() -> list[Path]:
    files = [ROOT / "README.rst"] if (ROOT / "README.rst").exists() else []
    docs = ROOT / "docs"
    if docs.is_dir():
        for path in sorted(docs.rglob("*.rst")):
            parts = path.relative_to(docs).parts[:-1]
            if any(p.startswith(("_", ".")) or p == "generated" for p in parts):
                continue  # _autogen, generated, _build: written by the build
            files.append(path)
    return files


FILES = _rst_files()


def _run_doctest(block: Block, namespace: dict, name: str, filename: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.code, namespace, name, filename, block.line - 1)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # DocTest ran in a copy of the namespace
    if result.failed:
        raise AssertionError(f"doctest block at {name}:{block.line} failed:\n{report.getvalue()}")


def run_file(path: Path, root: Path = ROOT) -> int:
    """Run the Python blocks of ``path`` in order, in one namespace; return how many ran."""
    name = path.relative_to(root).as_posix()
    blocks = [b for b in collect_blocks(path.read_text(encoding="utf-8")) if b.is_python]
    namespace: dict = {"__name__": "__main__"}
    ran = 0
    for block in blocks:
        if block.skip_reason is not None:
            continue
        if block.is_doctest:
            _run_doctest(block, namespace, name, str(path))
        else:
            # pad with blank lines so tracebacks give the line numbers of the rst file
            code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                line = block.line
                for frame, lineno in traceback.walk_tb(exc.__traceback__):
                    if frame.f_code.co_filename == str(path):
                        line = lineno  # the failing line of the rst file
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise AssertionError(
                    f"the code block starting at {name}:{block.line} raised at line {line}:\n{tb}"
                ) from None
        ran += 1
    return ran


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """Agg backend, a scratch working directory, and every figure closed afterwards."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a test dependency
        plt = None
    else:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    yield
    if plt is not None:
        plt.close("all")


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(ROOT).as_posix() for p in FILES])
def test_docs_code_blocks_run(path, docs_env):
    blocks = [b for b in collect_blocks(path.read_text(encoding="utf-8")) if b.is_python]
    if not any(b.skip_reason is None for b in blocks):
        pytest.skip("no runnable Python code block")
    run_file(path)


def test_the_documentation_is_found():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.rst", "docs/index.rst", "docs/guide/pipeline.rst"} <= names
    assert not any("/_autogen/" in n or "/generated/" in n for n in names)


def test_skips_are_rare():
    """Every skipped block names its reason; there are few of them."""
    skipped = [(p.name, b.line, b.skip_reason) for p in FILES
               for b in collect_blocks(p.read_text(encoding="utf-8")) if b.skip_reason]
    assert len(skipped) <= 5, skipped


RST_SAMPLE = """\
Title
=====

.. code-block:: python
   :caption: options are skipped

    x = 1

.. code-block:: bash

    pip install skmice

A shell line::

    python -m skmice demo

A diagram::

    a -> b

Python in a literal block::

    y = x + 1

>>> y * 2
4

.. skip-next-block: needs a remote scheduler

.. code-block:: python

    raise RuntimeError("not run")

* a list item with code::

      z = y

.. highlight:: bash

::

    x = 2
"""


def test_collect_blocks():
    blocks = collect_blocks(RST_SAMPLE)
    summary = [(b.code, b.is_python, b.is_doctest, b.skip_reason) for b in blocks]
    assert summary == [
        ("x = 1", True, False, None),
        ("pip install skmice", False, False, None),
        ("python -m skmice demo", False, False, None),
        ("a -> b", False, False, None),
        ("y = x + 1", True, False, None),
        (">>> y * 2\n4", True, True, None),
        ('raise RuntimeError("not run")', True, False, "needs a remote scheduler"),
        ("z = y", True, False, None),
        ("x = 2", False, False, None),
    ]
    assert blocks[0].line == 7


def test_run_file_reports_the_failing_line(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(".. code-block:: python\n\n    a = 1\n\n"
                    "::\n\n    >>> a + 1\n    3\n")
    with pytest.raises(AssertionError, match=r"page.rst:7 failed"):
        run_file(page, tmp_path)
    page.write_text(".. code-block:: python\n\n    a = 1\n    b = a / 0\n")
    with pytest.raises(AssertionError, match=r"page.rst:3 raised at line 4"):
        run_file(page, tmp_path)
