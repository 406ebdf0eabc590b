"""The long run of the data-safety fuzzer (generator and checks in tests/_fuzz.py).

CI runs a few hundred cases (``tests/test_fuzz.py``), each on one group of
entry points; this job runs every entry point on every case:
``MultilevelIterativeImputer.fit_transform`` and ``transform`` (the same
frame, a frame with a new cluster), ``multiple_impute`` and
``MultiplyImputedData.complete`` / ``long`` / ``analyze`` (and iteration),
``MultipleImputationPipeline`` ``fit`` / ``predict`` (cases with a complete
numeric target) and the ``skmice impute`` command (a quarter of the cases).
It records in ``results/fuzz.md`` the date, the command, the commit, how
many cases each entry point ran and how they ended (passed, rejected with an
allowed error, failed), the failures by kind with the number of cases each
affected, one shrunk reproducer per kind, and the most frequent allowed
rejections (to review: each is a ValueError or TypeError naming a column).

Usage::

    python benchmarks/fuzz.py --cases 5000 --seed 0 --out benchmarks/results/fuzz.md
    python benchmarks/fuzz.py --repro 17 --seed 0      # shrink case 17, print reproducers

Case ids 0..N-1 of ``--seed 0`` are the ids the CI slice uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests._fuzz import (  # noqa: E402
    ENTRY_POINTS,
    check_frame_code,
    make_case,
    reproducer,
    run_case,
    shrink,
)

CHECKS = {
    "a": "only ValueError/TypeError, naming the column or parameter",
    "b": "observed cells unchanged",
    "c": "dtypes, categories and their order kept",
    "d": "input not modified",
    "e": "same random_state, same result",
    "f": "imputations valid for the column",
    "g": "datasets handed out are the caller's own",
    "h": "method '' leaves cells missing, all else filled",
}


def _run_chunk(ids: list, base: int) -> list:
    """Run every entry point on the cases ``ids`` (in a worker process)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for case_id in ids:
            case = make_case(case_id, base)
            result = run_case(case, tmp=tmp)
            out.append(result)
    return out


def _shrink_one(case_id: int, base: int, index: int, seconds: float):
    """Shrink the ``index``-th failure of a case; return (failure, reproducer, note)."""
    case = make_case(case_id, base)
    result = run_case(case)
    failure = result.failures[index]
    small = shrink(case, failure, budget_seconds=seconds)
    again = [f for f in run_case(small, (_group(failure.entry),)).failures
             if f.key == failure.key and f.entry == failure.entry]
    if again:
        failure = again[0]
    else:  # pragma: no cover - the shrinker only keeps failing cases
        small = case
    note = ""
    if check_frame_code(small.frame) is not None:
        note = "(the printed frame is approximate: rebuild it with make_case)"
    return failure, reproducer(small, failure), note, len(small.frame), len(small.columns)


def _group(entry: str) -> str:
    from tests._fuzz import ENTRY_GROUP

    return ENTRY_GROUP[entry]


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _versions() -> str:
    import numpy
    import pandas
    import sklearn

    import skmice

    return (f"Python {platform.python_version()}, numpy {numpy.__version__}, pandas "
            f"{pandas.__version__}, scikit-learn {sklearn.__version__}, skmice "
            f"{skmice.__version__}")


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0, help="sequence of cases (0 = CI's ids)")
    parser.add_argument("--start", type=int, default=0, help="first case id")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--shrink-seconds", type=float, default=30.0,
                        help="time to shrink each kind of failure (0: no shrinking)")
    parser.add_argument("--out", default=str(HERE / "results" / "fuzz.md"))
    parser.add_argument("--repro", type=int, default=None, metavar="CASE_ID",
                        help="shrink the failures of one case and print reproducers")
    args = parser.parse_args(argv)

    if args.repro is not None:
        case = make_case(args.repro, args.seed)
        result = run_case(case)
        print(case.describe())
        if not result.failures:
            print("no failure")
            return 0
        seen = set()
        for k, f in enumerate(result.failures):
            if (f.entry, f.key) in seen:
                continue
            seen.add((f.entry, f.key))
            print(f"\n# --- {f}")
            _, code, note, _, _ = _shrink_one(args.repro, args.seed, k, args.shrink_seconds)
            print(code + (f"\n# {note}" if note else ""))
        return 1

    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    commit = _git("rev-parse", "--short", "HEAD")  # the code the workers import
    dirty = _git("status", "--porcelain", "--", "skmice")
    ids = list(range(args.start, args.start + args.cases))
    chunks = [ids[i:i + args.chunk] for i in range(0, len(ids), args.chunk)]
    start = time.perf_counter()
    results = []
    print(f"{len(ids)} cases in {len(chunks)} chunks on {args.jobs} processes", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_run_chunk, c, args.seed) for c in chunks]
        for done, fut in enumerate(as_completed(futures), start=1):
            results.extend(fut.result())
            if done % max(1, len(chunks) // 20) == 0 or done == len(chunks):
                n_fail = sum(1 for r in results if r.failures)
                print(f"  {len(results)} cases, {n_fail} failing, "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
    results.sort(key=lambda r: r.case_id)
    run_seconds = time.perf_counter() - start

    # tallies
    per_entry = {e: Counter() for e in ENTRY_POINTS}
    for r in results:
        for e, o in r.outcomes.items():
            per_entry[e][o] += 1
    kinds = defaultdict(lambda: {"cases": set(), "entries": Counter(), "first": None})
    for r in results:
        for k, f in enumerate(r.failures):
            kind = kinds[f.key]
            if not any(g.key == f.key and g.entry == f.entry for g in r.failures[:k]):
                kind["entries"][f.entry] += 1  # cases per entry point
            kind["cases"].add(f.case_id)
            if kind["first"] is None:
                kind["first"] = (r.case_id, k, f)
    rejections = Counter()
    for r in results:
        for e, m in set(r.rejections):
            rejections[(e, m)] += 1
    failing = [r for r in results if r.failures]
    ordered = sorted(kinds.items(), key=lambda kv: (kv[0][0], -len(kv[1]["cases"])))

    # reproducers
    repros = {}
    if args.shrink_seconds > 0 and ordered:
        print(f"shrinking {len(ordered)} kinds of failure", flush=True)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futs = {pool.submit(_shrink_one, v["first"][0], args.seed, v["first"][1],
                                args.shrink_seconds): key for key, v in ordered}
            for fut in as_completed(futs):
                try:
                    repros[futs[fut]] = fut.result()
                except Exception as exc:  # noqa: BLE001 - report, do not lose the run
                    repros[futs[fut]] = (None, f"# shrinking failed: {exc!r}", "", 0, 0)
    total_seconds = time.perf_counter() - start

    # the report
    lines = [
        "# Data-safety fuzzer",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command}`",
        f"- commit: {commit}" + (" with uncommitted changes under skmice/" if dirty else ""),
        f"- {_versions()}",
        f"- {len(results)} cases (ids {ids[0]}..{ids[-1]} of sequence {args.seed}), "
        f"{args.jobs} processes, {run_seconds:.0f} s "
        f"(+ {total_seconds - run_seconds:.0f} s shrinking)",
        "",
        "Generator and checks: `tests/_fuzz.py`; the CI slice: `tests/test_fuzz.py`.",
        "Checks: " + "; ".join(f"({k}) {v}" for k, v in CHECKS.items()) + ".",
        "",
        "## Cases per entry point",
        "",
        "An entry point runs when the previous step of its chain succeeded (transform after "
        "fit, complete/long/analyze after multiple_impute); the pipeline runs on cases with "
        "a complete numeric target column, the command line on a quarter of the cases. "
        "*Rejected*: a ValueError or TypeError naming the offending column or parameter "
        "(allowed).",
        "",
        "| entry point | cases | passed | rejected (allowed) | failed |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in ENTRY_POINTS:
        c = per_entry[e]
        lines.append(f"| {e} | {sum(c.values())} | {c['ok']} | {c['rejected']} | "
                     f"{c['failed']} |")
    lines += ["", "## Failures by kind", ""]
    if not ordered:
        lines.append("None.")
    else:
        lines += ["| check | kind | cases | entry points (cases) | first case |",
                  "|---|---|---:|---|---:|"]
        for (check, what), v in ordered:
            entries = ", ".join(f"{e} ({n})" for e, n in v["entries"].most_common())
            lines.append(f"| ({check}) | {_md(what)} | {len(v['cases'])} | {entries} | "
                         f"{v['first'][0]} |")
        lines += ["", "## Reproducers (shrunk)", ""]
        for n, ((check, what), v) in enumerate(ordered, start=1):
            f = v["first"][2]
            lines += [f"### {n}. ({check}) {what}", "",
                      f"{len(v['cases'])} cases; first: case {v['first'][0]} "
                      f"({f.entry}): {_md(f.detail)[:400]}", ""]
            if (check, what) in repros:
                _, code, note, n_rows, n_cols = repros[(check, what)]
                lines += [f"Shrunk to {n_rows} rows, {n_cols} columns. {note}".strip(), "",
                          "```python", code, "```", ""]
    lines += ["## Most frequent allowed rejections", ""]
    if rejections:
        lines += ["| entry point | message (names and numbers elided) | cases |", "|---|---|---:|"]
        for (e, m), n in rejections.most_common(20):
            lines.append(f"| {e} | {_md(m)} | {n} |")
    else:
        lines.append("None.")
    lines += ["", f"**Failures: {len(failing)} of {len(results)} cases failing, "
              f"{sum(len(r.failures) for r in results)} failures of {len(ordered)} kinds.**",
              ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"{len(failing)} of {len(results)} cases failing ({len(ordered)} kinds); "
          f"wrote {out}")
    return 0 if not failing else 1


if __name__ == "__main__":
    sys.exit(main())
