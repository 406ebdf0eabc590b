"""Smoke-run every example script.

Convention for ``examples/*.py`` (sphinx-gallery style scripts):

- A module docstring with a title, then code. Importing the module must not
  run the example: the work is in ``main()``, called under
  ``if __name__ == "__main__":``.
- ``main`` accepts ``quick`` as a keyword and has defaults for every other
  parameter. ``main(quick=True)`` is a small, fast run (a few imputations of
  a few iterations, small data) that finishes in seconds; it is what this
  test calls. ``main()`` / ``main(quick=False)`` is the real run.
- Files are written only where the caller says (an ``out_dir`` parameter);
  with no such argument an example writes nothing or only into a temporary
  directory. Figures are closed in quick mode. This test runs with the
  matplotlib "Agg" backend in a temporary working directory.

Scripts without a ``main`` function are skipped (with the reason shown).
An example that needs an optional dependency which is missing raises
ImportError, and the test is skipped.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []


def _load(path: Path):
    name = f"_skmice_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        pass
    try:
        module = _load(path)
    except ImportError as exc:
        pytest.skip(f"{path.name} needs an optional dependency: {exc}")
    assert (module.__doc__ or "").strip(), f"{path.name} has no docstring (title)"
    main = getattr(module, "main", None)
    if not callable(main):
        pytest.skip(f"{path.name} defines no main(); see the convention in this file")
    assert "quick" in inspect.signature(main).parameters, f"{path.name}: main() takes no quick"
    try:
        main(quick=True)
    except ImportError as exc:
        pytest.skip(f"{path.name} needs an optional dependency: {exc}")
    finally:
        try:
            import matplotlib.pyplot as plt

            plt.close("all")
        except ImportError:
            pass


def test_examples_follow_the_layout():
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        if "def main(" in text:
            assert 'if __name__ == "__main__":' in text, f"{path.name}: main() is not guarded"
