"""What ``import skmice`` costs, against its runtime dependencies imported alone.

Every number is the best of ``--repeat`` fresh interpreters (``sys.executable
-c ...``), so nothing is cached in ``sys.modules``; the operating system's
file cache is warm after the first run. Two times per row: the import
statement alone (``time.perf_counter`` around it, inside the interpreter)
and the whole process (interpreter start-up included, timed by this script).

Rows:

- ``python -c pass``: the interpreter's start-up;
- the runtime dependencies' top-level packages (``import numpy, scipy,
  pandas, sklearn, joblib, threadpoolctl``): what any user of them pays;
- the same dependencies *as skmice imports them*: every module that a line
  of skmice imports first while ``import skmice`` runs (``numpy``,
  ``scipy.linalg``, ``sklearn.metrics``, ...; found by a finder on
  ``sys.meta_path`` in a first interpreter), imported without skmice;
- ``import skmice``;
- ``import skmice`` timed after those dependencies were imported in the same
  interpreter: skmice's own cost.

The difference of the third and fourth rows estimates skmice's own cost too,
with the noise of two sets of processes; ``python -X importtime`` gives it a
third way (the sum of the self times of the ``skmice.*`` modules) and lists
the slowest skmice modules. The script also
reports which optional dependencies (statsmodels, matplotlib, dask,
distributed, tqdm, pyarrow) are in ``sys.modules`` after ``import skmice``
and which file imported them.

Run from the repository root::

    python benchmarks/bench_import.py

The table is appended to ``benchmarks/results/import.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("numpy", "scipy", "pandas", "sklearn", "joblib", "threadpoolctl")
DISTRIBUTIONS = {"numpy": "numpy", "scipy": "scipy", "pandas": "pandas",
                 "sklearn": "scikit-learn", "joblib": "joblib",
                 "threadpoolctl": "threadpoolctl", "pyarrow": "pyarrow"}
OPTIONAL = ("statsmodels", "matplotlib", "dask", "distributed", "tqdm", "pyarrow")

# In a fresh interpreter: import skmice and list (1) the modules that a line
# of skmice imported (the innermost frame outside importlib is in skmice) and
# that are not skmice, in import order; (2) every optional module present
# afterwards, with the file and line that imported it.
_SURVEY = r"""
import json, os, sys, traceback
OPTIONAL = set(json.loads(sys.argv[1]))
direct, optional = [], {}

def importer():
    frames = [f for f in traceback.extract_stack()[:-2]
              if not f.filename.startswith("<frozen importlib")]
    return frames[-1] if frames else None

class Recorder:
    def find_spec(self, fullname, path=None, target=None):
        if fullname in sys.modules:
            return None
        frame = importer()
        top = fullname.partition(".")[0]
        if frame is not None:
            parts = frame.filename.split(os.sep)
            if "skmice" in parts and top != "skmice" and not top.startswith("__editable"):
                direct.append(fullname)
            if top in OPTIONAL and top not in optional:
                optional[top] = f"{frame.filename}:{frame.lineno}"
        return None

sys.meta_path.insert(0, Recorder())
import skmice
present = {name: optional.get(name, "?") for name in OPTIONAL if name in sys.modules}
print(json.dumps({"direct": direct, "optional": present}))
"""

_TIMED = ("import time\n{setup}\nt = time.perf_counter()\n{stmt}\n"
          "print(time.perf_counter() - t)")


def _run(code: str, *args: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter: (process wall time, stdout)."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return time.perf_counter() - t, out.stdout


def best_of(stmt: str, repeat: int, setup: str = "") -> tuple[float, float]:
    """(import statement, whole process): the best of ``repeat`` fresh interpreters.

    ``setup`` runs before the timer starts (its time counts in the process only).
    """
    inner, whole = [], []
    for _ in range(repeat):
        wall, out = _run(_TIMED.format(setup=setup, stmt=stmt))
        inner.append(float(out.strip().splitlines()[-1]))
        whole.append(wall)
    return min(inner), min(whole)


def survey() -> dict:
    _, out = _run(_SURVEY, json.dumps(OPTIONAL))
    return json.loads(out.strip().splitlines()[-1])


def own_importtime(repeat: int) -> tuple[float, float, list[tuple[str, float]]]:
    """From ``-X importtime`` (best run): skmice's self time, the total, the slowest modules."""
    best = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import skmice"],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        rows = []
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if m:
                rows.append((m[3], int(m[1]) / 1e6, int(m[2]) / 1e6))
        own = [(name, self_) for name, self_, _ in rows
               if name.startswith(("skmice", "__editable___skmice"))]
        total = next(cum for name, _, cum in rows if name == "skmice")
        result = (sum(s for _, s in own), total, sorted(own, key=lambda r: -r[1])[:5])
        if best is None or result[1] < best[1]:
            best = result
    return best


def _unique(names):
    seen, out = set(), []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    load_before = _load()
    found = survey()
    direct = _unique(found["direct"])
    # the dependencies as skmice imports them: importable names, in skmice's order
    as_used = "; ".join(f"import {name}" for name in direct)
    rows = [
        ("`python -c pass` (interpreter start-up)", "pass", ""),
        ("runtime dependencies, top-level packages: `import "
         + ", ".join(RUNTIME) + "`", "import " + ", ".join(RUNTIME), ""),
        (f"runtime dependencies as skmice imports them ({len(direct)} modules, no skmice)",
         as_used, ""),
        ("`import skmice`", "import skmice", ""),
        ("`import skmice` once those dependencies are imported (skmice's own cost)",
         "import skmice", as_used),
    ]
    results = []
    for label, stmt, setup in rows:
        inner, whole = best_of(stmt, args.repeat, setup)
        results.append((label, inner, whole))
        print(f"{label}: import {inner:.3f} s, process {whole:.3f} s", flush=True)
    own_self, own_total, slowest = own_importtime(args.repeat)
    print(f"-X importtime: skmice.* self times {own_self * 1e3:.1f} ms of "
          f"{own_total * 1e3:.1f} ms", flush=True)
    print("optional modules after import skmice:", found["optional"] or "none")

    deps_used, skmice, own = results[2][1], results[3][1], results[4][1]
    versions = ", ".join(
        f"{dist} {metadata.version(dist)}" for mod, dist in DISTRIBUTIONS.items()
        if _installed(dist))
    lines = ["| what is imported | import statement (s) | whole process (s) |",
             "|---|---:|---:|"]
    lines += [f"| {label} | {inner:.3f} | {whole:.3f} |" for label, inner, whole in results]
    notes = [
        f"skmice's own share: {own:.3f} s measured after its dependencies (last row); "
        f"{skmice - deps_used:.3f} s as the difference of the rows `import skmice` and "
        f"dependencies as skmice imports them; by `python -X importtime -c \"import skmice\"`, the "
        f"self times of the skmice.* modules add up to {own_self * 1e3:.0f} ms of "
        f"{own_total * 1e3:.0f} ms. Slowest skmice modules (self time): "
        + ", ".join(f"{name} {t * 1e3:.1f} ms" for name, t in slowest) + ".",
        "Modules that skmice's own lines import (first import only): "
        + ", ".join(f"`{n}`" for n in direct) + ".",
        "Optional dependencies in sys.modules after `import skmice`: "
        + (", ".join(f"{name} (imported by `{_short(where)}`)"
                     for name, where in sorted(found["optional"].items()))
           or "none") + ".",
    ]
    print("\n".join(lines))
    if args.no_save:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "import.md"
    head = "" if out.exists() else (
        "# Import time\n\nWritten by `benchmarks/bench_import.py`: best of N fresh "
        "interpreters each.\n")
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = "python benchmarks/bench_import.py" + (
        f" --repeat {args.repeat}" if args.repeat != 5 else "") + (
        f" --label {shlex.quote(args.label)}" if args.label else "")
    with out.open("a") as fh:
        fh.write(f"{head}\n## {now} on {platform.node()} ({args.label or 'run'})\n\n"
                 f"Command: `{cmd}`\n\nPython {platform.python_version()}, {versions}; "
                 f"{os.cpu_count()} cores, load average {load_before} before and "
                 f"{_load()} after the run; best of {args.repeat}.\n\n")
        fh.write("\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n")


def _short(where: str) -> str:
    """A file path relative to the checkout or to site-packages."""
    where = where.replace(str(ROOT) + os.sep, "")
    marker = "site-packages" + os.sep
    return where.split(marker, 1)[1] if marker in where else where


def _load() -> str:
    """The 1-minute load average (other work on the machine slows every row)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        return "?"


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
