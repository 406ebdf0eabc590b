"""Time one Gibbs step of the two-level samplers against one X'X pass.

Run from the repository root (with skmice installed, or ``PYTHONPATH=.``)::

    python benchmarks/bench_gibbs.py            # speed table
    python benchmarks/bench_gibbs.py --mixing   # also the mixing comparison

The table is appended to ``benchmarks/results/gibbs.md``. BLAS runs on one
thread, as inside the imputer (``--blas-threads`` to change
it; the yardstick ``X'X`` then uses the same threads).

For each size (rows / clusters, q = 2 random columns, p = 5 fixed columns)
the table gives, in milliseconds (best of a few repeats):

* ``X'X``: ``np.dot(X.T, X)`` over the same rows (the yardstick);
* ``fit``: one call of ``fit`` on a warm sampler with ``n_steps=1``, i.e.
  the data reduced to sufficient statistics plus one Gibbs step: what the
  chained-equations loop pays per visit;
* ``step``: one more Gibbs step within a call (reusing the statistics);
* ``sample``: drawing imputations for 10% of the rows.

``--mixing`` compares the blocked draw of ``(beta, b)`` with the plain Gibbs
draw of ``beta | b`` on data with a cluster-level predictor: lag-1
autocorrelation and integrated autocorrelation time of each parameter.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from skmice.methods import Design, TwoLevelHeteroscedastic, TwoLevelNormal
from skmice.methods._twolevel import _hetero_step, _normal_step, _prepare

RESULTS = Path(__file__).resolve().parent / "results"


def simulate(n_rows, n_groups, p=5, q=2, seed=0, sort=False):
    """Two-level data: random intercept and slope, a cluster-level predictor."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n_rows)
    if sort:
        g.sort()
    X = np.empty((n_rows, p))
    X[:, 0] = 1.0
    X[:, 1:] = rng.standard_normal((n_rows, p - 1))
    X[:, p - 1] = rng.standard_normal(n_groups)[g]  # cluster-level
    Z = X[:, :q].copy()
    b = rng.standard_normal((n_groups, q)) * [0.7, 0.4]
    y = X @ np.linspace(1, 0.2, p) + np.einsum("ij,ij->i", Z, b[g])
    y += 0.6 * rng.standard_normal(n_rows)
    return Design(X=X, Z=Z, groups=g, n_groups=n_groups), y


def best_of(f, repeat):
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def bench(n_rows, n_groups, repeat, sort):
    design, y = simulate(n_rows, n_groups, sort=sort)
    X = design.X
    rng = np.random.default_rng(1)
    rows = []
    t_xx = best_of(lambda: np.dot(X.T, X), repeat)
    mis = design.take(slice(0, n_rows // 10))
    for cls, mode in ((TwoLevelNormal, "normal"), (TwoLevelHeteroscedastic, "honour")):
        m = cls(n_burnin=20).fit(design, y, rng)
        t_fit = best_of(lambda m=m: m.fit(design, y, rng), repeat)
        pb, st = _prepare(design, y, "bench", mode), m._internal_
        if mode == "normal":
            t_step = best_of(
                lambda pb=pb, st=st: _normal_step(pb, st["psi"], st["sigma2"], rng), repeat
            )
        else:
            t_step = best_of(lambda pb=pb, st=st: _hetero_step(pb, st, rng), repeat)
        t_prep = best_of(lambda mode=mode: _prepare(design, y, "bench", mode), repeat)
        t_sample = best_of(lambda m=m: m.sample(mis, rng), repeat)
        rows.append((cls.__name__, t_xx, t_prep, t_step, t_fit, t_sample))
    return rows


def speed_table(repeat) -> list:
    """Print the speed table; return its lines."""
    header = (
        f"{'rows':>9} {'clusters':>8} {'method':<24} {'XtX':>7} {'prepare':>8} "
        f"{'step':>7} {'fit':>7} {'fit/XtX':>7} {'sample':>7}"
    )
    lines = ["times in ms, q = 2, p = 5"]
    for sort in (False, True):
        lines += ["", "rows sorted by cluster" if sort else "rows in random order", header]
        for n_rows, n_groups in ((20_000, 1_000), (1_000_000, 10_000)):
            for name, t_xx, t_prep, t_step, t_fit, t_sample in bench(
                n_rows, n_groups, repeat, sort
            ):
                lines.append(
                    f"{n_rows:>9} {n_groups:>8} {name:<24} {t_xx:7.2f} {t_prep:8.2f} "
                    f"{t_step:7.2f} {t_fit:7.2f} {t_fit / t_xx:7.1f} {t_sample:7.2f}"
                )
    print("\n".join(lines))
    return lines


def iact(x, max_lag=200):
    """Integrated autocorrelation time (initial positive sequence estimator)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    n = x.size
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / (np.arange(n, 0, -1) * x.var())
    tau = 1.0
    for k in range(1, min(max_lag, n - 1), 2):
        pair = acf[k] + acf[k + 1]
        if pair <= 0:
            break
        tau += 2 * pair
    return tau, acf[1]


def mixing(n_steps=3000):
    """Blocked versus plain Gibbs on data with a cluster-level predictor."""
    print(f"\nmixing over {n_steps} steps (after 200 burn-in): lag-1 autocorrelation / IACT")
    for n_groups, size, icc in ((100, 20, 0.5), (200, 10, 0.3), (2000, 2, 0.3)):
        rng = np.random.default_rng(3)
        g = np.repeat(np.arange(n_groups), size)
        n = g.size
        w = rng.standard_normal(n_groups)[g] + 3.0  # cluster-level, not centred
        x = rng.standard_normal(n)
        X = np.column_stack([np.ones(n), x, w])
        y = 1 + 0.5 * x + 0.8 * w + np.sqrt(icc) * rng.standard_normal(n_groups)[g]
        y += np.sqrt(1 - icc) * rng.standard_normal(n)
        design = Design(X=X, Z=X[:, :1], groups=g, n_groups=n_groups)
        pb = _prepare(design, y, "bench", "normal")
        print(f"N = {n_groups}, n_j = {size}, ICC = {icc}")
        for blocked in (True, False):
            psi, s2, b = np.eye(1) * 0.5, 0.5, None
            trace = []
            for it in range(n_steps + 200):
                beta, b, psi, s2 = _normal_step(pb, psi, s2, rng, blocked=blocked, b=b)
                if it >= 200:
                    trace.append((beta[2], beta[0], psi[0, 0], s2))
            trace = np.array(trace)
            cells = []
            for k, label in enumerate(("beta_w", "beta_0", "psi", "sigma2")):
                tau, r1 = iact(trace[:, k])
                cells.append(f"{label} {r1:5.2f}/{tau:6.1f}")
            print(f"  {'blocked' if blocked else 'plain  '}: " + "  ".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mixing", action="store_true")
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="BLAS threads (0: the library's default)"
    )
    args = parser.parse_args()
    with threadpool_limits(limits=args.blas_threads or None, user_api="blas"):
        lines = speed_table(args.repeat)
        if args.mixing:
            mixing()
    command = " ".join(["python benchmarks/bench_gibbs.py", *sys.argv[1:]])
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores)"
    with (RESULTS / "gibbs.md").open("a") as fh:
        fh.write(f"\n## {stamp}\n\nCommand: `{command}`\n\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
