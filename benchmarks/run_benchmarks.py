"""Side-by-side benchmarks: skmice against R mice, scikit-learn and statsmodels.

One command measures, in the same run (so that ratios are stable on a noisy
machine), for each size of the two-level design of
``skmice.datasets.make_clustered_regression`` (two incomplete continuous
variables, y1 with a random slope; m = 5, max_iter = 5):

* speed (best of 5 runs up to 20,000 rows, of 3 up to 200,000 rows): skmice's
  two-level methods (2l.pan, 2l.norm, 2l.pmm) and, when installed, R mice's
  2l.pan, 2l.norm and 2l.lmer (``bash benchmarks/install_r.sh``; R runs are
  skipped where they would take more than ``--r-timeout`` seconds, 10 minutes
  by default), scikit-learn's ``IterativeImputer`` and statsmodels'
  ``MICEData`` (single level: they ignore the clusters);
* memory: peak resident memory of each run (each run in a fresh process);
* accuracy: the pooled coefficient of y1 in ``lm(y2 ~ y1 + x)``, the mean of
  the completed y1, and the intercept variance of y1 (one-way ANOVA estimate
  on the completed data) against the complete data: the single-level tools
  shrink the latter.

Usage::

    python benchmarks/run_benchmarks.py                       # 2k, 20k, 200k, 1M rows
    python benchmarks/run_benchmarks.py --sizes 2000 20000 --tools skmice R
    python benchmarks/run_benchmarks.py --sizes 10000000 --tools skmice --methods 2l.pan

Results go to ``benchmarks/results/benchmarks.md`` (a table per run, with the
command) and ``benchmarks/results/time_vs_rows.png`` (log-log plot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def n_clusters_for(n_rows: int) -> int:
    """Clusters of about 20 rows up to 10,000 clusters, then larger clusters."""
    return int(min(max(n_rows // 20, 1), 10_000)) if n_rows < 10_000_000 else 100_000


def _data(n_rows, seed=1):
    from skmice.datasets import make_clustered_regression

    return make_clustered_regression(n_rows, n_clusters_for(n_rows), random_state=seed)


def _accuracy(completed, complete, cluster="cluster"):
    coefs, means, var_u = [], [], []
    for d in completed:
        X = np.column_stack([np.ones(len(d)), d["y1"].to_numpy(), d["x"].to_numpy()])
        coefs.append(np.linalg.lstsq(X, d["y2"].to_numpy(), rcond=None)[0][1])
        means.append(float(d["y1"].mean()))
        var_u.append(_anova_between(d["y1"].to_numpy(), d[cluster].to_numpy()))
    Xc = np.column_stack([np.ones(len(complete)), complete["y1"], complete["x"]])
    return {
        "coef_y1": float(np.mean(coefs)),
        "mean_y1": float(np.mean(means)),
        "var_u_y1": float(np.mean(var_u)),
        "complete_coef_y1": float(np.linalg.lstsq(Xc, complete["y2"], rcond=None)[0][1]),
        "complete_mean_y1": float(complete["y1"].mean()),
        "complete_var_u_y1": _anova_between(complete["y1"].to_numpy(),
                                            complete[cluster].to_numpy()),
    }


def _anova_between(y, g):
    """One-way ANOVA estimate of the between-cluster variance."""
    _, codes = np.unique(g, return_inverse=True)
    n_j = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=y) / n_j
    n, k = len(y), len(n_j)
    msb = np.sum(n_j * (means - y.mean()) ** 2) / (k - 1)
    msw = np.sum((y - means[codes]) ** 2) / (n - k)
    n0 = (n - np.sum(n_j**2) / n) / (k - 1)
    return float(max((msb - msw) / n0, 0.0))


def _warm_worker():
    import skmice  # noqa: F401

    return True


def job_skmice(n_rows, method, m=5, max_iter=5, n_jobs=1):
    from skmice import MultilevelIterativeImputer, multiple_impute

    b = _data(n_rows)
    if n_jobs != 1:  # start the worker processes before timing (they are reused)
        from joblib import Parallel, delayed

        Parallel(n_jobs=n_jobs)(delayed(_warm_worker)() for _ in range(2 * n_jobs))
    imp = MultilevelIterativeImputer(methods={"y1": method, "y2": method},
                                     predictor_matrix=b.predictor_matrix, cluster="cluster",
                                     max_iter=max_iter)
    # best of 5 (of 3) where a run is short: the machine may be shared
    repeats = 5 if n_rows <= 20_000 else 3 if n_rows <= 200_000 else 1
    seconds = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        mi = multiple_impute(b.data, imp, n_imputations=m, n_jobs=n_jobs, random_state=1)
        seconds = min(seconds, time.perf_counter() - t0)
    return {"seconds": seconds, **_accuracy(list(mi), b.complete)}


def job_sklearn(n_rows, method="IterativeImputer", m=5, max_iter=5, n_jobs=1):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    b = _data(n_rows)
    cols = ["x", "w", "y1", "y2"]
    t0 = time.perf_counter()
    completed = []
    for i in range(m):
        arr = IterativeImputer(max_iter=max_iter, sample_posterior=True,
                               random_state=i).fit_transform(b.data[cols])
        d = b.data.copy()
        d[cols] = arr
        completed.append(d)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, **_accuracy(completed, b.complete)}


def job_statsmodels(n_rows, method="MICEData", m=5, max_iter=5, n_jobs=1):
    from statsmodels.imputation.mice import MICEData

    b = _data(n_rows)
    cols = ["x", "w", "y1", "y2"]
    t0 = time.perf_counter()
    completed = []
    for i in range(m):
        np.random.seed(i)  # noqa: NPY002 - MICEData draws from numpy's global generator
        md = MICEData(b.data[cols].copy())
        md.update_all(max_iter)
        d = b.data.copy()
        d[cols] = md.data[cols].to_numpy()
        completed.append(d)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, **_accuracy(completed, b.complete)}


def job_r(n_rows, method, m=5, max_iter=5, n_jobs=1, timeout=600):
    b = _data(n_rows)
    with tempfile.TemporaryDirectory() as tmp:
        csv, out = Path(tmp) / "data.csv", Path(tmp) / "out.json"
        b.data.to_csv(csv, index=False, na_rep="NA")
        script = HERE / "r" / "impute_twolevel.R"
        cmd = ["Rscript", str(script), str(csv), method, str(m), str(max_iter), "1", str(out),
               str(Path(tmp) / "completed.csv")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError("R error: " + " ".join(proc.stderr.split())[-300:])
        res = json.loads(out.read_text())
        import pandas as pd

        long = pd.read_csv(Path(tmp) / "completed.csv")
        completed = [g.drop(columns=[".imp"]) for _, g in long.groupby(".imp")]
    return {"seconds": res["seconds"], **_accuracy(completed, b.complete)}


JOBS = {"skmice": job_skmice, "sklearn": job_sklearn, "statsmodels": job_statsmodels,
        "R": job_r}


def run_isolated(tool, n_rows, method, n_jobs, timeout):
    """Run one job in a fresh Python process; return its result and peak memory."""
    code = (
        "import json, resource, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from run_benchmarks import JOBS\n"
        f"r = JOBS[{tool!r}]({n_rows}, {method!r}, n_jobs={n_jobs})\n"
        "own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "r['peak_mb'] = max(own, kids) / 1024\n"
        "print(json.dumps(r))\n"
    )
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "note": f"over {timeout} s"}
    except subprocess.CalledProcessError as exc:
        lines = [ln for ln in exc.stderr.strip().splitlines() if "Error" in ln or "error" in ln]
        return {"seconds": float("nan"), "note": "failed: " + (lines or ["?"])[-1][-160:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000, 200_000,
                                                                   1_000_000])
    parser.add_argument("--tools", nargs="+", default=["skmice", "R", "sklearn", "statsmodels"])
    parser.add_argument("--methods", nargs="+", default=["2l.pan", "2l.norm", "2l.pmm"])
    parser.add_argument("--r-methods", nargs="+", default=["2l.pan", "2l.norm", "2l.lmer"])
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--r-timeout", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", default=str(RESULTS / "benchmarks.md"))
    args = parser.parse_args(argv)
    have_r = shutil.which("Rscript") is not None
    rows = []
    r_skip = {}  # method -> size at which R exceeded the timeout
    for n in args.sizes:
        for tool in args.tools:
            if tool == "R" and not have_r:
                continue
            if tool == "skmice":
                runs = [(meth, nj) for meth in args.methods for nj in args.n_jobs]
            elif tool == "R":
                runs = [(meth, 1) for meth in args.r_methods]
            else:
                runs = [(tool, 1)]
            for method, n_jobs in runs:
                if tool == "R" and method in r_skip and n > r_skip[method]:
                    rows.append({"tool": tool, "method": method, "n": n, "n_jobs": 1,
                                 "seconds": float("inf"),
                                 "note": f"skipped: over {args.r_timeout:.0f} s at "
                                         f"{r_skip[method]:,} rows"})
                    continue
                timeout = args.r_timeout if tool == "R" else args.timeout
                res = run_isolated(tool, n, method, n_jobs, timeout)
                res.update(tool=tool, method=method, n=n, n_jobs=n_jobs)
                if tool == "R" and not np.isfinite(res["seconds"]):
                    r_skip[method] = n
                rows.append(res)
                print(json.dumps(res), flush=True)
    _report(rows, args, argv)


def _report(rows, args, argv):
    nan = float("nan")
    by = {(r["tool"], r["method"], r["n"], r["n_jobs"]): r for r in rows}
    pairs = {"2l.pan": "2l.pan", "2l.norm": "2l.norm", "2l.pmm": "2l.lmer"}
    lines = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()})\n",
        f"Command: `python benchmarks/run_benchmarks.py {' '.join(argv or sys.argv[1:])}`\n",
        "m = 5, max_iter = 5; two incomplete variables (y1 random slope, y2 random intercept). "
        "`R / skmice` compares with R's method of the same model (2l.pmm with 2l.lmer). "
        "Accuracy columns: imputed (complete data).\n",
        "| rows | tool | method | n_jobs | seconds | R / skmice | peak MB | coef y1 | mean y1 "
        "| var(u0) of y1 | note |",
        "|---:|---|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    for r in rows:
        ratio = nan
        if r["tool"] == "skmice":
            rr = by.get(("R", pairs.get(r["method"], ""), r["n"], 1))
            if rr is not None and np.isfinite(rr.get("seconds", nan)):
                ratio = rr["seconds"] / r["seconds"]

        def pair(key, r=r):
            v, c = r.get(key, nan), r.get("complete_" + key, nan)
            return "" if not np.isfinite(v) else f"{v:.3f} ({c:.3f})"

        lines.append(
            f"| {r['n']:,} | {r['tool']} | {r['method']} | {r['n_jobs']} | {r['seconds']:.2f} "
            f"| {'' if not np.isfinite(ratio) else f'{ratio:.0f}x'} "
            f"| {r.get('peak_mb', nan):.0f} | {pair('coef_y1')} | {pair('mean_y1')} "
            f"| {pair('var_u_y1')} | {r.get('note', '')} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        fh.write(text)
    _plot(rows_from_results(out), out.parent / "time_vs_rows.png")


def rows_from_results(path) -> list:
    """Rows of every table in a results file (the latest per tool, method, n_jobs, size)."""
    latest = {}
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].replace(",", "").isdigit():
            continue
        try:
            seconds = float(cells[4])
        except ValueError:
            continue
        n = int(cells[0].replace(",", ""))
        latest[(cells[1], cells[2], cells[3], n)] = {
            "n": n, "tool": cells[1], "method": cells[2], "n_jobs": int(cells[3]),
            "seconds": seconds}
    return list(latest.values())


def _plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    series = {}
    for r in rows:
        if np.isfinite(r.get("seconds", np.nan)):
            label = f"{r['tool']} {r['method']}" + (
                f" (n_jobs={r['n_jobs']})" if r["tool"] == "skmice" else "")
            series.setdefault(label, []).append((r["n"], r["seconds"]))
    colours = plt.get_cmap("tab20").colors
    for k, (label, pts) in enumerate(sorted(series.items())):
        pts.sort()
        style = "-o" if label.startswith("skmice") else "--s"
        ax.plot(*zip(*pts), style, label=label, markersize=4, color=colours[k % 20])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows")
    ax.set_ylabel("seconds (m = 5, max_iter = 5)")
    ax.set_title("Imputation time versus rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
