"""Is the first-visit burn-in of the two-level samplers long enough?

For each burn-in length, ``--chains`` independent chained-equations runs
(``make_clustered_regression``, m = 1, max_iter = 5, the design of
``run_benchmarks.py``) record the sampler's final state: variance components,
the coefficient of the other incomplete variable, the mean of the completed
variables. If a burn-in is long enough, the distribution of these over the
chains is the same as with the longest burn-in; the table gives, per
parameter, ``z`` = (mean - mean at the longest burn-in) / its standard error
and the ratio of the standard deviations over the chains. ``|z|`` well above
2-3, or standard deviations well below 1, mean that the chains have not
reached the posterior yet.

Usage::

    python benchmarks/bench_burnin.py --method 2l.norm --burnin 100 25 10 5
    python benchmarks/bench_burnin.py --method 2l.pan --burnin 50 10 5

Results go to ``benchmarks/results/burnin.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from skmice import MultilevelIterativeImputer
from skmice.datasets import make_clustered_regression
from skmice.methods import TwoLevelHeteroscedastic, TwoLevelNormal

HERE = Path(__file__).resolve().parent
METHODS = {"2l.norm": TwoLevelHeteroscedastic, "2l.pan": TwoLevelNormal}
DESIGNS = ((20_000, 1_000), (2_000, 1_000), (2_000, 100))  # rows, clusters


def final_state(method, burnin, rows, clusters, seed):
    """The samplers' state after one chained-equations run."""
    b = make_clustered_regression(rows, clusters, random_state=1)
    m = METHODS[method](n_burnin=burnin)
    imp = MultilevelIterativeImputer(
        methods={"y1": m, "y2": m},
        predictor_matrix=b.predictor_matrix,
        cluster="cluster",
        max_iter=5,
        random_state=seed,
    )
    out = imp.fit_transform(b.data)
    m1, m2 = imp.methods_["y1"], imp.methods_["y2"]
    res = {
        "psi00 y1": m1.psi_[0, 0],
        "psi11 y1": m1.psi_[1, 1],
        "psi01 y1": m1.psi_[0, 1],
        "psi y2": m2.psi_[0, 0],
        "beta y2 in y1": m1.beta_[-1],
        "beta y1 in y2": m2.beta_[-1],
        "mean y1": out["y1"].mean(),
        "mean y2": out["y2"].mean(),
    }
    if method == "2l.norm":
        res.update(
            {
                "sigma2_0 y1": m1.sigma2_0_,
                "theta y1": m1.theta_,
                "sigma2_0 y2": m2.sigma2_0_,
                "theta y2": m2.theta_,
            }
        )
    else:
        res.update({"sigma2 y1": m1.sigma2_, "sigma2 y2": m2.sigma2_})
    return res


def table(method, burnins, chains, rows, clusters, n_jobs):
    states = {
        burn: pd.DataFrame(
            Parallel(n_jobs=n_jobs)(
                delayed(final_state)(method, burn, rows, clusters, 1000 + s) for s in range(chains)
            )
        )
        for burn in burnins
    }
    longest = max(burnins)
    ref = states[longest]
    header = f"| parameter | mean ({longest}) | sd ({longest}) |" + "".join(
        f" z ({b}) | sd ratio ({b}) |" for b in burnins if b != longest
    )
    lines = [header, "|---" + "|---:" * (header.count("|") - 2) + "|"]
    for col in ref.columns:
        cells = [col, f"{ref[col].mean():.4g}", f"{ref[col].std():.3g}"]
        for b in burnins:
            if b == longest:
                continue
            d = states[b][col]
            se = np.sqrt(d.var() / chains + ref[col].var() / chains)
            cells += [f"{(d.mean() - ref[col].mean()) / se:.1f}", f"{d.std() / ref[col].std():.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=sorted(METHODS), default="2l.norm")
    parser.add_argument("--burnin", type=int, nargs="+", default=[100, 25, 10, 5])
    parser.add_argument("--chains", type=int, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "burnin.md"))
    args = parser.parse_args(argv)
    text = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores)\n",
        f"Command: `python benchmarks/bench_burnin.py {' '.join(argv or sys.argv[1:])}`\n",
        f"{args.method}, {args.chains} chains per burn-in, max_iter = 5; z against the burn-in "
        f"of {max(args.burnin)} steps.\n",
    ]
    for rows, clusters in DESIGNS:
        t0 = time.perf_counter()
        lines = table(args.method, args.burnin, args.chains, rows, clusters, args.n_jobs)
        text += [f"\n{rows:,} rows / {clusters:,} clusters ({time.perf_counter() - t0:.0f} s):\n"]
        text += lines
        print("\n".join(text[-len(lines) - 1 :]), flush=True)
    with open(args.out, "a") as fh:
        fh.write("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
