"""Fan-out efficiency of MultipleImputationPipeline: m chains on n_jobs workers.

Run from the repository root (with skmice installed, or ``PYTHONPATH=.``)::

    python benchmarks/bench_fanout.py                      # 200,000 rows, m = 4, n_jobs = 2
    python benchmarks/bench_fanout.py --rows 20000 --clusters 500 --repeat 1   # quick look

The data are :func:`skmice.datasets.make_clustered_regression` (two
incomplete two-level variables ``y1``, ``y2``; default imputation methods
``2l.pmm`` and ``2lonly.pmm``) with a binary outcome simulated from the
complete ``y1`` and ``y2``; the estimator is a logistic regression. The
pipeline uses ``include_target=True`` unless ``--no-target``.

Measured, after one warm-up call that also starts the loky workers, over
``--repeat`` calls:

* ``fit``: ``pipe.fit(X, y)`` with ``n_jobs=1`` and with ``n_jobs=N``;
* ``predict_proba`` on the same rows (every chain imputes them with
  ``transform``);
* for each, the best wall time and, with psutil (installed with
  dask.distributed), the CPU seconds of the main process and of every
  worker. Their ratio is the number of cores actually obtained: on a shared
  machine other processes take cores and the wall-clock speed-up drops, so
  the table also gives the wall time with a core per worker (main process
  CPU plus the busiest worker's CPU), which does not depend on the load.

It checks that both runs give identical predictions, and appends a table
with the command line, the machine and its load to
``benchmarks/results/fanout.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
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

try:  # CPU accounting of the worker processes (installed with dask.distributed)
    import psutil
except ImportError:  # pragma: no cover
    psutil = None


def make_data(n_rows, n_clusters, seed=0):
    """Incomplete two-level X (cluster, x, w, y1, y2) and a binary outcome."""
    b = make_clustered_regression(n_rows, n_clusters, random_state=seed)
    c = b.complete
    rng = np.random.default_rng(seed + 1)
    z = (c["y1"] - c["y1"].mean()) / c["y1"].std() + (c["y2"] - c["y2"].mean()) / c["y2"].std()
    y = (z + rng.logistic(size=n_rows) > 0).astype(int).to_numpy()
    return b.data, y


def cpu_by_process():
    """CPU seconds (user + system) of this process and of its live children (the workers)."""
    if psutil is None:
        return {}
    me = psutil.Process()
    out = {me.pid: sum(me.cpu_times()[:2])}
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        out[child.pid] = times.user + times.system
    return out


def measure(fn, repeat):
    """Time ``repeat`` calls: best wall time, and CPU seconds per call.

    Returns a dict: ``wall`` (best), ``mean_wall``, ``cpu`` (all processes,
    per call), ``parent`` and ``worker_max`` (the busiest worker's CPU per
    call), ``cores`` (CPU seconds per wall second actually obtained) and
    ``idle_wall`` = ``parent + worker_max``: the wall time the call needs
    when every worker has a core to itself. ``out``: the last result.
    """
    before = cpu_by_process()
    walls, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    after = cpu_by_process()
    used = {pid: (t - before.get(pid, 0.0)) / repeat for pid, t in after.items()}
    parent = used.pop(os.getpid(), float("nan"))
    worker_max = max(used.values(), default=0.0)
    cpu = parent + sum(used.values())
    mean_wall = sum(walls) / repeat
    return dict(
        wall=min(walls),
        mean_wall=mean_wall,
        cpu=cpu,
        parent=parent,
        worker_max=worker_max,
        cores=cpu / mean_wall,
        idle_wall=parent + worker_max,
        out=out,
    )


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
    busy_before = psutil.cpu_percent(interval=1.0) if psutil is not None else float("nan")

    results = {}
    for n_jobs in (1, args.n_jobs):
        p = clone(pipe).set_params(n_jobs=n_jobs)
        t0 = time.perf_counter()
        p.fit(X, y)  # warm-up (starts the workers)
        cold = time.perf_counter() - t0
        fit = measure(lambda p=p: p.fit(X, y), args.repeat)
        pred = measure(lambda p=p: p.predict_proba(X), args.repeat)
        results[n_jobs] = dict(cold=cold, fit=fit, predict=pred, pipe=p)
        print(
            f"n_jobs={n_jobs}: fit {fit['wall']:.2f} s (first {cold:.2f} s, "
            f"{fit['cpu']:.2f} CPU s on {fit['cores']:.2f} cores), "
            f"predict_proba {pred['wall']:.2f} s",
            flush=True,
        )
    load_after = os.getloadavg()

    serial, parallel = results[1], results[args.n_jobs]
    identical = np.array_equal(serial["predict"]["out"], parallel["predict"]["out"])
    pair_mb = len(pickle.dumps((serial["pipe"].imputers_[0], serial["pipe"].estimators_[0]))) / 1e6
    x_mb = X.memory_usage(deep=True).sum() / 1e6

    def ratio(key, field):
        return serial[key][field] / parallel[key][field]

    print(
        f"speed-up fit {ratio('fit', 'wall'):.2f}x measured, "
        f"{ratio('fit', 'idle_wall'):.2f}x with a core per worker; "
        f"predict {ratio('predict', 'wall'):.2f}x; identical: {identical}"
    )

    command = "python benchmarks/bench_fanout.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    cpu = platform.processor() or platform.machine()
    nj = args.n_jobs

    def row(label, key, field, fmt="{:.2f}"):
        a, b = serial[key][field], parallel[key][field]
        return f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.2f}x |"

    lines = [
        "",
        f"## {datetime.datetime.now().isoformat(timespec='minutes')}",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {os.cpu_count()} logical cores ({cpu}), Python {platform.python_version()}; "
        f"CPU busy {busy_before:.0f}% just before the run (other processes), load average "
        f"(1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        f"Data: {args.rows:,} rows, {args.clusters:,} clusters, X {x_mb:.1f} MB; m = {args.m}, "
        f"max_iter = {args.max_iter}, include_target = {not args.no_target}; one fitted "
        f"(imputer, estimator) pair pickles to {pair_mb:.1f} MB.",
        "",
        f"| fit | n_jobs = 1 | n_jobs = {nj} | ratio |",
        "|---|---|---|---|",
        row("wall time, best of repeats (s)", "fit", "wall"),
        f"| wall time, first call (s) | {serial['cold']:.2f} | {parallel['cold']:.2f} | "
        f"{serial['cold'] / parallel['cold']:.2f}x |",
        row("CPU time, all processes (s)", "fit", "cpu"),
        row("cores obtained (CPU s / wall s)", "fit", "cores"),
        row("wall time with a core per worker (s) [1]", "fit", "idle_wall"),
        "",
        f"| predict_proba | n_jobs = 1 | n_jobs = {nj} | ratio |",
        "|---|---|---|---|",
        row("wall time, best of repeats (s)", "predict", "wall"),
        row("CPU time, all processes (s)", "predict", "cpu"),
        row("wall time with a core per worker (s) [1]", "predict", "idle_wall"),
        "",
        "[1] CPU time of the main process plus that of the busiest worker, per call: the "
        "wall time when nothing else competes for the cores (n_jobs = 1: the CPU time).",
        "",
        f"Predictions identical for n_jobs = 1 and {nj}: {identical}.",
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
