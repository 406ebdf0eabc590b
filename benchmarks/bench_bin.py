"""Time the two-level logistic imputation (2l.bin) and its Polya-Gamma sampler.

Run from the repository root (with skmice installed, or ``PYTHONPATH=.``)::

    python benchmarks/bench_bin.py --label after

All times are process (CPU) times, best of ``--repeat`` runs, so that other
jobs on the machine do not inflate them. Three levels are timed, on the
hiv-like data of :func:`skmice.datasets.make_hiv` (6,416 rows in 9
regions, about 21% of ``hiv`` missing) and on the same simulator with
1,000 regions of 20 people (20,000 rows):

* ``PG draw``: one call of :func:`skmice.methods.random_polyagamma` on the
  linear predictor of the observed rows at the model's fitted state, per
  draw (nanoseconds);
* ``step``: one Polya-Gamma Gibbs step of the logistic mixed model on the
  observed rows (``_logit_step``: the PG draws, the joint draw of the fixed
  and random effects, the draw of ``Psi``), in milliseconds;
* ``m = 50``: the whole run ``multiple_impute(data, imputer,
  n_imputations=50, n_jobs=1)`` with ``hiv`` imputed by ``"2l.bin"``
  (every other column complete) and ``max_iter=10``, in seconds.

The table is appended to ``benchmarks/results/bin.md`` under ``--label``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_hiv
from skmice.methods import Design, TwoLevelLogistic, random_polyagamma
from skmice.methods._twolevel_binary import _initial_state, _logit_data, _logit_step

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {
    "hiv-like (6,416 rows / 9 clusters)": None,
    "20,000 rows / 1,000 clusters": [20] * 1_000,
}


def cpu_best(f, repeat, number=1):
    """Best process time of ``number`` calls of ``f`` over ``repeat`` runs, per call."""
    f()
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(number):
            f()
        best = min(best, (time.process_time() - t0) / number)
    return best


def observed_design(data):
    """Design of the observed ``hiv`` rows (all other columns as fixed effects)."""
    obs = data["hiv"].notna().to_numpy()
    d = data[obs]
    n = d.shape[0]
    X = np.column_stack(
        [
            np.ones(n),
            d["age"].to_numpy(float),
            (d["marital"] == "married").to_numpy(float),
            (d["marital"] == "previously").to_numpy(float),
            d["condom"].to_numpy(float),
            d["smoke"].to_numpy(float),
        ]
    )
    codes = d["region"].to_numpy() - 1
    design = Design(X=X, Z=X[:, :1], groups=codes, n_groups=int(data["region"].max()))
    return design, d["hiv"].to_numpy(float)


def bench_size(region_sizes, repeat, m):
    bunch = make_hiv(region_sizes=region_sizes, random_state=0)
    data = bunch.data
    design, y = observed_design(data)
    rng = np.random.default_rng(1)
    model = TwoLevelLogistic(n_burnin=50).fit(design, y, rng)
    eta = design.X @ model.beta_ + model.b_[design.groups, 0]
    t_pg = cpu_best(lambda: random_polyagamma(eta, rng), repeat, number=50) / eta.size

    d = _logit_data(design, y.shape[0], "2l.bin")
    kappa = y - 0.5
    state = _initial_state(d, kappa)
    for _ in range(30):
        state = _logit_step(d, state, kappa, rng)

    def step():
        _logit_step(d, state, kappa, rng)

    t_step = cpu_best(step, repeat, number=50)

    methods = {c: "" for c in data.columns}
    methods["hiv"] = "2l.bin"
    imputer = MultilevelIterativeImputer(methods=methods, cluster=bunch.cluster, max_iter=10)

    def run():
        multiple_impute(data, imputer, n_imputations=m, random_state=0, n_jobs=1)

    t_run = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        t_run = min(t_run, time.process_time() - t0)
    return {"rows": data.shape[0], "obs": y.shape[0], "pg_ns": 1e9 * t_pg,
            "step_ms": 1e3 * t_step, "run_s": t_run}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="row label in the table")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-m", type=int, default=50, help="number of imputations")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"## {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
        f"({os.cpu_count()} cores), {args.label}",
        "",
        f"Command: `python benchmarks/bench_bin.py --label {args.label}`",
        "",
        f"Process times, best of {args.repeat}; BLAS on one thread; max_iter = 10, "
        f"m = {args.m}, n_jobs = 1.",
        "",
        f"| data | observed rows | PG draw (ns) | step (ms) | m = {args.m} total (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    with threadpool_limits(1):
        for name, sizes in SIZES.items():
            r = bench_size(sizes, args.repeat, args.m)
            lines.append(
                f"| {name} | {r['obs']:,} | {r['pg_ns']:.0f} | {r['step_ms']:.2f} "
                f"| {r['run_s']:.2f} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n\n"
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "bin.md"
        if not path.exists():
            path.write_text(
                "# 2l.bin: Polya-Gamma draws, Gibbs steps and whole runs\n\n"
                "Written by `benchmarks/bench_bin.py`.\n\n"
            )
        with path.open("a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
