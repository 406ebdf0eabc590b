"""Fan-out efficiency of MultipleImputationPipeline: m chains on n_jobs workers.

Run from the repository root (with skmice installed, or ``PYTHONPATH=.``)::

    python benchmarks/bench_fanout.py                      # 200,000 rows, m = 4, n_jobs = 2
    python benchmarks/bench_fanout.py --rows 20000 --clusters 500 --repeat 1   # quick look

The data are :func:`skmice.datasets.make_clustered_regression` (two
incomplete two-level variables ``y1``, ``y2``; default imputation methods
``2l.pmm`` and ``2lonly.pmm``) with a binary outcome simulated from the
complete ``y1`` and ``y2``; the estimator is a logistic regression. The
pipeline uses ``include_target=True`` unless ``--no-target``.

Measured (wall clock, best of ``--repeat`` after one warm-up run that also
starts the loky workers):

* ``fit``: ``pipe.fit(X, y)`` with ``n_jobs=1`` and with ``n_jobs=N``;
* ``predict``: ``pipe.predict_proba(X)`` on the same rows (every chain
  imputes them with ``transform``);
* ``one chain``: the same pipeline with ``n_imputations=1`` (one imputer
  ``fit_transform`` plus one estimator fit) in the main process: the ideal
  parallel time is ``ceil(m / N)`` of these.

It checks that both runs give identical predictions, and appends a table
with the command line, the machine and its load to
``benchmarks/results/fanout.md`` (``--out``). The speed-up cannot exceed the
number of idle cores: read the load average recorded with the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
from skmice.datasets import make_clustered_regression


def make_data(n_rows, n_clusters, seed=0):
    """Incomplete two-level X (cluster, x, w, y1, y2) and a binary outcome."""
    b = make_clustered_regression(n_rows, n_clusters, random_state=seed)
    c = b.complete
    rng = np.random.default_rng(seed + 1)
    z = (c["y1"] - c["y1"].mean()) / c["y1"].std() + (c["y2"] - c["y2"].mean()) / c["y2"].std()
    y = (z + rng.logistic(size=n_rows) > 0).astype(int).to_numpy()
    return b.data, y


def best_of(fn, repeat):
    """Minimum wall time of ``repeat`` calls and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--clusters", type=int, default=5_000)
    parser.add_argument("--m", type=int, default=4, help="number of imputations")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-target", action="store_true", help="include_target=False")
    parser.add_argument("--out", default="benchmarks/results/fanout.md")
    args = parser.parse_args(argv)

    X, y = make_data(args.rows, args.clusters)
    pipe = MultipleImputationPipeline(
        MultilevelIterativeImputer(cluster="cluster", max_iter=args.max_iter),
        LogisticRegression(),
        n_imputations=args.m,
        include_target=not args.no_target,
        random_state=0,
    )
    load_before = os.getloadavg()

    # one chain in the main process: the unit of work
    one = clone(pipe).set_params(n_imputations=1, n_jobs=1)

    def one_chain():
        return one.fit(X, y)

    t_chain, _ = best_of(one_chain, args.repeat)

    results = {}
    for n_jobs in (1, args.n_jobs):
        p = clone(pipe).set_params(n_jobs=n_jobs)
        t0 = time.perf_counter()
        p.fit(X, y)  # warm-up (starts the workers)
        cold = time.perf_counter() - t0
        t_fit, p = best_of(lambda p=p: p.fit(X, y), args.repeat)
        t_pred, proba = best_of(lambda p=p: p.predict_proba(X), args.repeat)
        results[n_jobs] = dict(cold=cold, fit=t_fit, predict=t_pred, proba=proba, pipe=p)
        print(
            f"n_jobs={n_jobs}: fit {t_fit:.2f} s (first {cold:.2f} s), "
            f"predict_proba {t_pred:.2f} s",
            flush=True,
        )
    load_after = os.getloadavg()

    serial, parallel = results[1], results[args.n_jobs]
    identical = np.array_equal(serial["proba"], parallel["proba"])
    pair_mb = len(pickle.dumps((serial["pipe"].imputers_[0], serial["pipe"].estimators_[0]))) / 1e6
    x_mb = X.memory_usage(deep=True).sum() / 1e6
    ideal = t_chain * math.ceil(args.m / args.n_jobs)
    speed_fit = serial["fit"] / parallel["fit"]
    speed_pred = serial["predict"] / parallel["predict"]
    print(f"speed-up fit {speed_fit:.2f}x, predict {speed_pred:.2f}x; identical: {identical}")

    command = "python benchmarks/bench_fanout.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    cpu = platform.processor() or platform.machine()
    lines = [
        "",
        f"## {datetime.datetime.now().isoformat(timespec='minutes')}",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {os.cpu_count()} logical cores ({cpu}), Python {platform.python_version()}, "
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        f"Data: {args.rows:,} rows, {args.clusters:,} clusters, X {x_mb:.1f} MB; m = {args.m}, "
        f"max_iter = {args.max_iter}, include_target = {not args.no_target}; one fitted "
        f"(imputer, estimator) pair pickles to {pair_mb:.1f} MB.",
        "",
        f"| | n_jobs = 1 | n_jobs = {args.n_jobs} | speed-up |",
        "|---|---|---|---|",
        f"| fit (s) | {serial['fit']:.2f} | {parallel['fit']:.2f} | {speed_fit:.2f}x |",
        f"| fit, first call (s) | {serial['cold']:.2f} | {parallel['cold']:.2f} | "
        f"{serial['cold'] / parallel['cold']:.2f}x |",
        f"| predict_proba (s) | {serial['predict']:.2f} | {parallel['predict']:.2f} | "
        f"{speed_pred:.2f}x |",
        "",
        f"One chain (imputer fit_transform + estimator fit) in the main process: "
        f"{t_chain:.2f} s; ideal fit with {args.n_jobs} workers: {ideal:.2f} s "
        f"(speed-up bound {args.m * t_chain / ideal:.2f}x). "
        f"Predictions identical for n_jobs = 1 and {args.n_jobs}: {identical}.",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a") as fh:
        if new:
            fh.write("# Fan-out of MultipleImputationPipeline (benchmarks/bench_fanout.py)\n")
        fh.write("\n".join(lines))
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
