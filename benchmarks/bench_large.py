"""Large jobs: 10,000,000 rows on one machine, and a job spread over a Dask cluster.

Usage::

    python benchmarks/bench_large.py --rows 10000000 --clusters 100000   # time and peak memory
    python benchmarks/bench_large.py --dask --rows 1000000 --clusters 10000

``--dask`` runs the same multiple imputation with ``n_jobs=1`` and on a
``distributed.LocalCluster`` (2 worker processes) through
``joblib.parallel_backend("dask")``, and checks that the completed datasets
are identical bit for bit. Results are appended to ``results/large.md``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _job(rows, clusters, method, m, max_iter, n_jobs=1, backend=None):
    from skmice import MultilevelIterativeImputer, multiple_impute
    from skmice.datasets import make_clustered_regression

    b = make_clustered_regression(rows, clusters, random_state=1)
    imp = MultilevelIterativeImputer(methods={"y1": method, "y2": method},
                                     predictor_matrix=b.predictor_matrix, cluster="cluster",
                                     max_iter=max_iter)
    t0 = time.perf_counter()
    if backend is None:
        mi = multiple_impute(b.data, imp, n_imputations=m, n_jobs=n_jobs, random_state=1)
    else:
        import joblib

        with joblib.parallel_backend(backend):
            mi = multiple_impute(b.data, imp, n_imputations=m, random_state=1)
    return time.perf_counter() - t0, mi


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--clusters", type=int, default=100_000)
    parser.add_argument("--method", default="2l.pan")
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--dask", action="store_true")
    args = parser.parse_args(argv)
    cmd = "python benchmarks/bench_large.py " + " ".join(argv or sys.argv[1:])
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()}\n",
             f"Command: `{cmd}`\n"]
    if args.dask:
        from distributed import Client, LocalCluster

        seconds_local, local = _job(args.rows, args.clusters, args.method, args.m,
                                    args.max_iter)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster):
            seconds_dask, remote = _job(args.rows, args.clusters, args.method, args.m,
                                        args.max_iter, backend="dask")
        same = all(a.equals(b) for a, b in zip(local, remote))
        lines.append(
            f"{args.rows:,} rows / {args.clusters:,} clusters, {args.method}, m = {args.m}, "
            f"max_iter = {args.max_iter}: n_jobs = 1 {seconds_local:.1f} s; Dask LocalCluster "
            f"(2 workers) {seconds_dask:.1f} s; completed datasets identical: {same}.\n"
        )
    else:
        seconds, mi = _job(args.rows, args.clusters, args.method, args.m, args.max_iter,
                           n_jobs=args.n_jobs)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        y1 = np.mean([d["y1"].mean() for d in mi])
        lines.append(
            f"{args.rows:,} rows / {args.clusters:,} clusters, {args.method}, m = {args.m}, "
            f"max_iter = {args.max_iter}, n_jobs = {args.n_jobs}: {seconds:.1f} s, peak "
            f"memory {max(peak, kids):.2f} GB (the data, its complete version and the m "
            f"completed datasets included); mean of imputed-data y1 {y1:.4f}.\n"
        )
    text = "".join(lines)
    print(text)
    out = HERE / "results" / "large.md"
    with open(out, "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
