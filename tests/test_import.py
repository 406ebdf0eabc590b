"""``import skmice`` stays light: no optional dependency is imported by skmice itself.

statsmodels, matplotlib, Dask, tqdm and pyarrow are optional: skmice imports
them inside the functions that need them. Each check runs in a fresh
interpreter, and a finder on ``sys.meta_path`` records which file executed
the ``import`` statement of each optional module. A runtime dependency may
import one itself (pandas imports pyarrow when it is installed): that is
pandas' cost, not skmice's, and is allowed. ``benchmarks/bench_import.py``
measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("statsmodels", "matplotlib", "dask", "distributed", "tqdm", "pyarrow", "patsy")
RUNTIME = ("numpy", "scipy", "pandas", "sklearn", "joblib", "threadpoolctl")
# every public module; none of them may import an optional dependency at import time
PUBLIC_MODULES = (
    "skmice",
    "skmice.amputation",
    "skmice.analysis",
    "skmice.datasets",
    "skmice.diagnostics",
    "skmice.exceptions",
    "skmice.methods",
    "skmice.mixed",
    "skmice.pipeline",
    "skmice.plotting",
    "skmice.pooling",
    "skmice.sensitivity",
    "skmice.cli",
)

# Run in a fresh interpreter: import MODULES and report, for every optional
# module that got imported, the file and line of the import statement that
# brought it in (the innermost frame outside importlib).
_PROBE = r"""
import importlib, json, os, sys, traceback

OPTIONAL = set(json.loads(sys.argv[1]))
MODULES = json.loads(sys.argv[2])
BLOCK = json.loads(sys.argv[3])
for name in BLOCK:
    sys.modules[name] = None   # importing it now raises ImportError
seen = {}

class Recorder:
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in OPTIONAL and top not in seen:
            frames = [f for f in traceback.extract_stack()[:-1]
                      if not f.filename.startswith("<frozen importlib")]
            importer = frames[-1] if frames else None
            seen[top] = None if importer is None else [importer.filename, importer.lineno]
        return None

sys.meta_path.insert(0, Recorder())
for module in MODULES:
    importlib.import_module(module)
present = {name: seen.get(name) for name in OPTIONAL
           if sys.modules.get(name) is not None}
print(json.dumps(present))
"""


def _probe(modules, block=()) -> dict:
    """{optional module present after importing ``modules``: [importer file, line]}."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(OPTIONAL), json.dumps(list(modules)),
         json.dumps(list(block))],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _package_of(filename: str) -> str:
    """The top-level package a file belongs to ('skmice', 'pandas', ...), or ''."""
    packages = {"skmice", *RUNTIME}
    for part in reversed(Path(filename).parts[:-1]):  # the innermost package directory
        if part in packages:
            return part
    return ""


def test_import_skmice_imports_no_optional_dependency():
    """The brief's check: ``python -c "import skmice, sys; ..."`` in a fresh process."""
    present = _probe(["skmice"])
    by_skmice = {name: where for name, where in present.items()
                 if where is not None and _package_of(where[0]) == "skmice"}
    assert not by_skmice, (
        "import skmice imported optional dependencies itself (import them inside the "
        f"functions that need them): {by_skmice}")
    # whatever optional module is there came from a runtime dependency (pandas -> pyarrow)
    for name, where in present.items():
        assert where is not None and _package_of(where[0]) in RUNTIME, (name, where)
    for name in ("statsmodels", "matplotlib", "dask", "distributed", "tqdm", "patsy"):
        assert name not in present, (name, present[name])


def test_public_modules_import_no_optional_dependency():
    present = _probe(PUBLIC_MODULES)
    by_skmice = {name: where for name, where in present.items()
                 if where is None or _package_of(where[0]) not in RUNTIME}
    assert not by_skmice, by_skmice


def test_public_modules_import_without_optional_dependencies():
    """With every optional dependency unavailable, every public module still imports."""
    present = _probe(PUBLIC_MODULES, block=OPTIONAL)
    assert present == {}


@pytest.mark.parametrize("name", ["tqdm", "statsmodels"])
def test_probe_sees_an_import_by_skmice(name, tmp_path):
    """The probe itself: a module of a package called skmice that imports ``name``."""
    pkg = tmp_path / "fake" / "skmice"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"import {name}\n")
    pytest.importorskip(name)
    fake_path = f"sys.path.insert(0, {str(pkg.parent)!r})"
    code = _PROBE.replace("sys.meta_path.insert(0, Recorder())",
                          f"sys.meta_path.insert(0, Recorder()); {fake_path}")
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(OPTIONAL), json.dumps(["skmice"]), "[]"],
        capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path,
    )
    present = json.loads(out.stdout.strip().splitlines()[-1])
    assert _package_of(present[name][0]) == "skmice"
    assert present[name][0] == str(pkg / "__init__.py")
