"""Two-level imputation speed: skmice against R mice, side by side in one run.

The design (skmice.datasets.make_clustered_regression): two incomplete
continuous variables, y1 with a random intercept and a random slope, y2 with
a random intercept, m = 5, max_iter = 5. For each size, skmice's
TwoLevelNormal ("2l.pan") and TwoLevelHeteroscedastic ("2l.norm") are timed,
and, when Rscript with mice is installed, R's 2l.pan and 2l.norm on the same
CSV file, so the ratios are measured on the same machine in the same run.
Accuracy is reported as the pooled coefficient of y1 in lm(y2 ~ y1 + x) and
the mean of the completed y1, against the complete data.

Install R and the packages (Debian): ``bash benchmarks/install_r.sh``.

Usage::

    python benchmarks/bench_twolevel.py                  # 20,000 rows, R if installed
    python benchmarks/bench_twolevel.py --sizes 20000 1000000 --no-r
    python benchmarks/bench_twolevel.py --sizes 1000000 --memory   # peak RSS per run

Results are printed and appended to benchmarks/results/twolevel.md.
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
CLUSTERS = {2_000: 100, 20_000: 1_000, 200_000: 5_000, 1_000_000: 10_000}


def run_skmice(n_rows, method, m=5, max_iter=5, n_jobs=1, seed=1):
    """Time one skmice multiple imputation; return seconds and accuracy numbers."""
    import statsmodels.api as sm

    from skmice import MultilevelIterativeImputer, multiple_impute
    from skmice.datasets import make_clustered_regression

    b = make_clustered_regression(n_rows, CLUSTERS.get(n_rows, max(n_rows // 20, 1)),
                                  random_state=seed)
    imp = MultilevelIterativeImputer(methods={"y1": method, "y2": method},
                                     predictor_matrix=b.predictor_matrix, cluster="cluster",
                                     max_iter=max_iter)
    t0 = time.perf_counter()
    mi = multiple_impute(b.data, imp, n_imputations=m, n_jobs=n_jobs, random_state=seed)
    seconds = time.perf_counter() - t0
    coefs = []
    for d in mi:
        X = sm.add_constant(d[["y1", "x"]].to_numpy())
        coefs.append(np.linalg.lstsq(X, d["y2"].to_numpy(), rcond=None)[0][1])
    Xc = sm.add_constant(b.complete[["y1", "x"]].to_numpy())
    complete_coef = np.linalg.lstsq(Xc, b.complete["y2"].to_numpy(), rcond=None)[0][1]
    return {
        "tool": "skmice", "method": method, "n": n_rows, "m": m, "max_iter": max_iter,
        "n_jobs": n_jobs, "seconds": seconds,
        "coef_y1": float(np.mean(coefs)), "complete_coef_y1": float(complete_coef),
        "mean_y1": float(np.mean([d["y1"].mean() for d in mi])),
        "complete_mean_y1": float(b.complete["y1"].mean()),
    }


def run_r(n_rows, method, m=5, max_iter=5, seed=1, timeout=3600):
    """Time R mice on the same data (None when Rscript or mice is missing)."""
    if shutil.which("Rscript") is None:
        return None
    from skmice.datasets import make_clustered_regression

    b = make_clustered_regression(n_rows, CLUSTERS.get(n_rows, max(n_rows // 20, 1)),
                                  random_state=seed)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        out = Path(tmp) / "out.json"
        b.data.to_csv(csv, index=False, na_rep="NA")
        cmd = ["Rscript", str(HERE / "r" / "impute_twolevel.R"), str(csv), method, str(m),
               str(max_iter), str(seed), str(out)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            print(f"R {method} failed: {exc.stderr[-500:]}", file=sys.stderr)
            return None
        except subprocess.TimeoutExpired:
            return {"tool": "R mice", "method": method, "n": n_rows, "seconds": float("inf")}
        res = json.loads(out.read_text())
    return {"tool": "R mice", "method": method, "n": n_rows, "m": m, "max_iter": max_iter,
            "seconds": res["seconds"], "coef_y1": res["coef_y1"],
            "mean_y1": res["mean_y1"]}


def peak_memory(n_rows, method, m=5, max_iter=5, n_jobs=1):
    """Run one skmice job in a fresh process and return (seconds, peak RSS in MB)."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(HERE)!r});"
        "from bench_twolevel import run_skmice;"
        f"r = run_skmice({n_rows}, {method!r}, {m}, {max_iter}, {n_jobs});"
        "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "print(json.dumps(r))"
    )
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--methods", nargs="+", default=["2l.pan", "2l.norm"])
    parser.add_argument("--no-r", action="store_true", help="skip R even if installed")
    parser.add_argument("--memory", action="store_true",
                        help="run skmice in a subprocess and report peak RSS")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--out", default=None, help="results file (markdown, appended)")
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        for method in args.methods:
            if args.memory:
                sk = peak_memory(n, method, n_jobs=args.n_jobs)
            else:
                run_skmice(min(n, 2_000), method)  # warm-up (imports, caches)
                sk = run_skmice(n, method, n_jobs=args.n_jobs)
            rows.append(sk)
            r = None if args.no_r else run_r(n, method)
            if r is not None:
                rows.append(r)
                sk["ratio_vs_r"] = r["seconds"] / sk["seconds"]
            print(json.dumps(sk), flush=True)
            if r is not None:
                print(json.dumps(r), flush=True)
    lines = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()})\n",
        f"Command: `python benchmarks/bench_twolevel.py {' '.join(argv or sys.argv[1:])}`\n",
        "| rows | method | tool | n_jobs | seconds | R / skmice | peak MB | coef y1 (complete) "
        "| mean y1 (complete) |",
        "|---:|---|---|---:|---:|---:|---:|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        coef = f"{r.get('coef_y1', nan):.3f} ({r.get('complete_coef_y1', nan):.3f})"
        mean = f"{r.get('mean_y1', nan):.3f} ({r.get('complete_mean_y1', nan):.3f})"
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['tool']} | {r.get('n_jobs', 1)} "
            f"| {r['seconds']:.2f} | {r.get('ratio_vs_r', nan):.0f} "
            f"| {r.get('peak_mb', nan):.0f} | {coef} | {mean} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else HERE / "results" / "twolevel.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
