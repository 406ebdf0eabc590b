"""The imputer's fixed cost per visit: the time of a visit minus its method's work.

A visit of a target refreshes its design plan, selects the predictors,
validates the method's input, calls the method's ``_fit`` (the Gibbs steps)
and ``_sample`` (the draws), and writes the draws back. This benchmark
times whole visits and, inside them, the method's ``_fit`` and ``_sample``;
the difference is the imputer's fixed cost per visit.

Data: :func:`skmice.datasets.make_clustered_regression` (two incomplete
continuous variables, y1 with a random slope), imputed by ``2l.pan``,
max_iter = 20, BLAS on one thread, process (CPU) time, best of ``--repeat``.
The last columns time the whole fit against one ``X'X`` pass over the same
design (rows x (intercept, x, w, y2), BLAS) and against one pass of the
two-level sufficient statistics of that design from scratch (``[X|y]'[X|y]``
and every cluster's ``Z_j'[X_j|y_j]``, with ``Z`` = intercept and x, as
:func:`skmice._grouped.cluster_crossprods` computes them): what a visit would
cost if it read its whole design again.

Run from the repository root::

    python benchmarks/bench_visit.py --rows 20000 1000000 --label after

The table is appended to ``benchmarks/results/visit.md``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer
from skmice._grouped import cluster_crossprods
from skmice._imputer import MultilevelIterativeImputer as _Imputer
from skmice.datasets import make_clustered_regression
from skmice.methods import registered_methods

RESULTS = Path(__file__).resolve().parent / "results"


class _Clock:
    """Process time spent inside wrapped functions."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, owner, name):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - t
                self.calls += 1

        setattr(owner, name, timed)
        return original


def run(rows: int, max_iter: int, method: str):
    b = make_clustered_regression(n_rows=rows, n_clusters=max(rows // 20, 1), random_state=0)
    X = b.data
    imp = MultilevelIterativeImputer(cluster="cluster", methods={"y1": method, "y2": method},
                                     predictor_matrix=b.predictor_matrix, max_iter=max_iter,
                                     random_state=0)
    visit, work = _Clock(), _Clock()
    cls = registered_methods()[method]
    fit, sample = ("_fit", "_sample") if "_fit" in vars(cls) else ("fit", "sample")
    originals = {
        (_Imputer, "_visit"): visit.wrap(_Imputer, "_visit"),
        (cls, fit): work.wrap(cls, fit),
        (cls, sample): work.wrap(cls, sample),
    }
    try:
        t = time.process_time()
        imp.fit_transform(X)
        total = time.process_time() - t
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
    # one X'X pass over a design of the same shape as y1's
    D = np.column_stack([np.ones(rows), X["x"], X["w"], X["y2"].fillna(0.0)])
    t = time.process_time()
    for _ in range(5):
        D.T @ D
    gram = (time.process_time() - t) / 5
    Dy = np.column_stack([D, X["y1"].fillna(0.0)])
    _, codes = np.unique(X["cluster"].to_numpy(), return_inverse=True)
    Z = np.ascontiguousarray(D[:, :2])
    t = time.process_time()
    for _ in range(3):
        Dy.T @ Dy
        cluster_crossprods(codes, codes.max() + 1, Z, Dy)
    stats = (time.process_time() - t) / 3
    return {
        "rows": rows, "visits": visit.calls, "total": total,
        "visit_ms": 1e3 * visit.seconds / visit.calls,
        "method_ms": 1e3 * work.seconds / visit.calls,
        "fixed_ms": 1e3 * (visit.seconds - work.seconds) / visit.calls,
        "gram_ms": 1e3 * gram,
        "stats_ms": 1e3 * stats,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000])
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--method", default="2l.pan")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    lines = []
    with threadpool_limits(1):
        for rows in args.rows:
            best = min((run(rows, args.max_iter, args.method) for _ in range(args.repeat)),
                       key=lambda r: r["total"])
            line = (f"| {rows:,} | {args.method} | {best['visits']} | {best['total']:.3f} | "
                    f"{best['visit_ms']:.3f} | {best['method_ms']:.3f} | {best['fixed_ms']:.3f} | "
                    f"{best['gram_ms']:.3f} | "
                    f"{1e3 * best['total'] / best['visits'] / best['gram_ms']:.1f} | "
                    f"{best['stats_ms']:.3f} | "
                    f"{1e3 * best['total'] / best['visits'] / best['stats_ms']:.2f} |")
            print(line, flush=True)
            lines.append(line)
    if args.no_save:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "visit.md"
    head = "" if out.exists() else (
        "# Fixed cost per visit\n\nWritten by `benchmarks/bench_visit.py`.\n")
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = "python benchmarks/bench_visit.py --rows " + " ".join(map(str, args.rows))
    if args.label:
        cmd += f" --label {args.label}"
    with out.open("a") as fh:
        fh.write(f"{head}\n## {now} on {platform.node()} ({args.label or 'run'})\n\n"
                 f"Command: `{cmd}`\n\nProcess times, best of {args.repeat}; BLAS on one "
                 f"thread; max_iter = {args.max_iter}; two targets.\n\n"
                 "| rows | method | visits | fit (s) | visit (ms) | method (ms) | fixed (ms) "
                 "| X'X pass (ms) | fit per visit / X'X pass | two-level statistics pass (ms) "
                 "| fit per visit / statistics pass |\n"
                 "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
