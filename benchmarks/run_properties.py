"""The long run of the property-based tests (tests/test_properties.py).

CI runs 200 derandomized examples of each property; this job runs many more
(10,000 by default) with fresh seeds and records how many ran, how many
failed and how long it took in ``results/properties.md``. The examples are
run in chunks (``--chunk``), each a hypothesis run with its own seed, spread
over ``--jobs`` processes; each finished chunk is written at once, so an
interrupted run still records what it did.

Usage::

    python benchmarks/run_properties.py --examples 10000 --jobs 2

A failure stops that process and prints hypothesis' falsifying (shrunk)
example; the table then records it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "properties.md"


def _run_share(examples: int, seed: int) -> dict:
    """Run ``examples`` examples of the property with hypothesis seed ``seed``."""
    sys.path.insert(0, str(ROOT))
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    import tests.test_properties as tp

    count = [0]
    run = tp._run

    def counted(frame, s, methods):
        count[0] += 1
        run(frame, s, methods)

    @hseed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frame=tp.two_level_frames(), s=st.integers(0, 2**32 - 1), methods=tp.method_choices())
    def prop(frame, s, methods):
        counted(frame, s, methods)

    start = time.perf_counter()
    error = ""
    try:
        prop()
    except Exception:  # a falsified property: keep hypothesis' report
        error = traceback.format_exc(limit=3)[-3000:]
    return dict(seed=seed, examples=count[0], seconds=time.perf_counter() - start, error=error)


def _first_error_line(error: str) -> str:
    """The exception line of a traceback, shortened for the table."""
    lines = [ln for ln in error.splitlines() if "Error" in ln and not ln.startswith(" ")]
    return (lines[-1] if lines else error.strip().splitlines()[-1])[:160].replace("|", "/")


def _commit() -> str:
    try:
        import subprocess

        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except Exception:  # not a git checkout
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples in all")
    parser.add_argument("--jobs", type=int, default=1, help="processes")
    parser.add_argument("--chunk", type=int, default=500,
                        help="examples per hypothesis run (each with its own seed; each "
                             "finished chunk is recorded at once)")
    parser.add_argument("--seed", type=int, default=20261201, help="seed of the first chunk")
    parser.add_argument("--no-record", action="store_true", help="do not write results/")
    args = parser.parse_args(argv)
    n_chunks = -(-args.examples // args.chunk)
    shares = [min(args.chunk, args.examples - k * args.chunk) for k in range(n_chunks)]
    seeds = [args.seed + k for k in range(n_chunks)]
    record = None
    if not args.no_record:
        RESULTS.parent.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
        header = [
            f"## {stamp} UTC on {platform.node()} ({os.cpu_count()} cores, "
            f"{platform.machine()}, Python {platform.python_version()}), commit {_commit()}",
            "",
            f"Command: `python benchmarks/run_properties.py --examples {args.examples} "
            f"--jobs {args.jobs} --chunk {args.chunk} --seed {args.seed}`",
            "",
            "| seed | examples | minutes | result |",
            "|---:|---:|---:|---|",
        ]
        record = RESULTS.open("a")
        record.write("\n".join(header) + "\n")
        record.flush()
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(_run_share, n, sd) for n, sd in zip(shares, seeds)]
        for fut in as_completed(futures):
            r = fut.result()
            results.append(r)
            print(f"seed {r['seed']}: {r['examples']} examples in {r['seconds']:.0f} s"
                  + (" FAILED" if r["error"] else ""), flush=True)
            if r["error"]:
                print(r["error"], flush=True)
            if record is not None:
                result = "falsified: " + _first_error_line(r["error"]) if r["error"] else "passed"
                record.write(f"| {r['seed']} | {r['examples']} | {r['seconds'] / 60:.1f} | "
                             f"{result} |\n")
                record.flush()
    wall = time.perf_counter() - start
    total = sum(r["examples"] for r in results)
    failed = [r for r in results if r["error"]]
    print(f"{total} examples, {len(failed)} failed chunks, {wall / 60:.1f} minutes")
    if record is not None:
        record.write(f"\nIn all: {total} examples, {len(failed)} failed chunks, "
                     f"{wall / 60:.1f} minutes wall time.\n\n")
        record.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
