"""skmice against R's own packages on the tutorial's real data, side by side in one run.

Three parts, each written to ``benchmarks/results/side_by_side_<part>.md``:

* ``bin``: the real hiv data (GJRM's ``hiv``: 6,416 people in 9 regions, 1,318
  HIV test results missing), ``hiv`` imputed by micemd's ``2l.2stage.bin``
  and by skmice's ``2l.bin`` (region -2; age, marital status, condom, smoke
  as predictors), m = 50, max_iter = 10. CPU time (user + system) of the
  imputation alone, BLAS on one thread on both sides, best of ``--repeat``;
  and the pooled prevalence of the completed data.
* ``heckman``: the same data under MNAR: micemd's ``2l.2stage.heckman`` and
  skmice's ``2l.heckman`` (smoke in the selection equation only, -3; the
  other predictors in both, 2 in micemd's coding, 1 in skmice's), m = 20,
  max_iter = 5 (micemd: maxit = 1), two seeds, with skmice's default and its alternatives
  (``rho_prior="none"``, ``random_effects="all"``, ``rho_penalty=4``). The
  overall prevalence pooled by Rubin's rules (complete-data variance
  ``p (1 - p) / n``), and the prevalence among the untested in each
  imputation.
* ``popmis``: R mice's ``popmis`` (2,000 pupils in 100 schools, ``popular``
  missing), ``popular`` imputed with school -2, sex 2 (random slope), texp 1
  by miceadds' ``2l.pmm``, R's ``2l.pan``, skmice's ``2l.pmm`` and ``2l.pan``,
  m = 20, max_iter = 10. Every completed dataset, skmice's included, is
  analysed in R by ``lmer(popular ~ sex * texp + (1 + sex | school))`` and
  pooled by mitml's ``testEstimates`` (variance components as extra
  parameters).

R 4.2 with mice, miceadds, micemd, GJRM, lme4 and mitml is needed for this
benchmark only (``bash benchmarks/install_r.sh SOURCES``); skmice never needs
R. Run from the repository root::

    python benchmarks/side_by_side.py --part bin heckman popmis
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.methods import TwoLevelHeckman
from skmice.pooling import pool_scalar

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "r" / "side_by_side.R"
RESULTS = HERE / "results"
PREDICTORS = ["age", "married", "previously_married", "condom", "smoke"]


def rscript(*args) -> None:
    """Run the R side; stop with R's message when it fails."""
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: install R and the packages with benchmarks/install_r.sh.")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["Rscript", str(R_SCRIPT), *map(str, args)], capture_output=True,
                         text=True, env=env)
    if res.returncode:
        sys.exit(f"R failed ({' '.join(map(str, args))}):\n{res.stderr[-2000:]}")


def read_json(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def hiv_matrix(selection: bool) -> pd.DataFrame:
    cols = ["region", "hiv", *PREDICTORS]
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["hiv", PREDICTORS] = 1
    pm.loc["hiv", "region"] = -2
    if selection:
        pm.loc["hiv", "smoke"] = -3
    return pm


def skmice_hiv(data, method, m, max_iter, seed, selection=False):
    """Impute hiv m times; CPU seconds, prevalences overall and among the untested."""
    imp = MultilevelIterativeImputer(cluster="region", methods={"hiv": method},
                                     predictor_matrix=hiv_matrix(selection),
                                     max_iter=max_iter)
    missing = data["hiv"].isna().to_numpy()
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.process_time()
        mi = multiple_impute(data, imp, n_imputations=m, random_state=seed, n_jobs=1)
        seconds = time.process_time() - t0
    completed = [d["hiv"].to_numpy(dtype=float) for d in mi]
    return {
        "cpu_seconds": seconds,
        "prevalence": [float(c.mean()) for c in completed],
        "untested": [float(c[missing].mean()) for c in completed],
        "warnings": sorted({type(w.message).__name__ for w in caught}),
        "rho_interval": [getattr(imp.methods_["hiv"], "rho_interval_", None)
                         for imp in mi.imputers],
    }


def _interval(res) -> str:
    intervals = [iv for iv in res.get("rho_interval") or [] if iv is not None]
    return "" if not intervals else f"({intervals[0][0]:.2f}, {intervals[0][1]:.2f})"


def pooled(prevalence, n):
    p = np.asarray(prevalence)
    res = pool_scalar(p, p * (1 - p) / n, dfcom=n - 1)
    return res.qbar, res.std_error, res.fmi


def part_bin(data, csv, tmp, args):
    rows = []
    r_runs = []
    for _ in range(args.repeat):
        out = tmp / "rbin.json"
        rscript("bin", csv, 50, 10, 1, out)
        r_runs.append(read_json(out))
    r = min(r_runs, key=lambda x: x["cpu_seconds"])
    s = min((skmice_hiv(data, "2l.bin", 50, 10, 1) for _ in range(args.repeat)),
            key=lambda x: x["cpu_seconds"])
    n = len(data)
    for name, res in (("R micemd 2l.2stage.bin", r), ("skmice 2l.bin", s)):
        q, se, fmi = pooled(res["prevalence"], n)
        rows.append(f"| {name} | {res['cpu_seconds']:.2f} | {q:.4f} | {se:.4f} | {fmi:.2f} | "
                    f"{np.mean(res['untested']):.3f} |")
    ratio = r["cpu_seconds"] / s["cpu_seconds"]
    return (
        "m = 50, max_iter = 10, n_jobs = 1, best of "
        f"{args.repeat} runs; CPU seconds of the imputation alone, BLAS on one thread. "
        "micemd's 2l.2stage.bin fits one logistic regression per region with every predictor "
        "random (code 2); skmice's 2l.bin is the logistic mixed model with a random intercept "
        "and fixed predictors (code 1), drawn by Polya-Gamma Gibbs steps.\n\n"
        "| method | CPU s | pooled prevalence | SE | fmi | mean prevalence among untested |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
        + f"\n\nR CPU / skmice CPU: **{ratio:.1f}x**.\n"
    )


def part_heckman(data, csv, tmp, args):
    n = len(data)
    configs = {
        "skmice 2l.heckman (default)": TwoLevelHeckman(),
        "skmice rho_prior='none'": TwoLevelHeckman(rho_prior="none"),
        "skmice random_effects='all'": TwoLevelHeckman(random_effects="all"),
        "skmice rho_penalty=4": TwoLevelHeckman(rho_penalty=4.0),
    }
    rows = []
    for seed in (1, 2):
        out = tmp / f"rheck{seed}.json"
        rscript("heckman", csv, args.m_heckman, 1, seed, out)
        results = [("R micemd 2l.2stage.heckman", read_json(out))]
        for name, method in configs.items():
            results.append((name, skmice_hiv(data, method, args.m_heckman, 5, seed,
                                             selection=True)))
        for name, res in results:
            q, se, fmi = pooled(res["prevalence"], n)
            u = np.asarray(res["untested"])
            rows.append(
                f"| {name} | {seed} | {q:.4f} | {se:.4f} | {fmi:.2f} | {u.mean():.3f} | "
                f"{u.min():.3f} to {u.max():.3f} | {int((u == 0).sum())} | "
                f"{int((u == 1).sum())} | {res['cpu_seconds']:.1f} | {_interval(res)} |"
            )
    cc = data["hiv"].mean()
    return (
        f"m = {args.m_heckman}; max_iter = 5 for skmice, maxit = 1 for micemd (hiv is the "
        "only incomplete variable and its predictors are complete, so further iterations "
        "only redraw from the same model; micemd takes about 3 s per imputation and "
        f"iteration here). Complete cases: prevalence {cc:.4f} "
        f"({int(data['hiv'].notna().sum())} tested of {n}). Prevalence pooled by Rubin's "
        "rules with complete-data variance p (1 - p) / n and dfcom = n - 1; 'untested' is the "
        "prevalence among the 1,318 people without a test result, per imputation.\n\n"
        "| method | seed | pooled prevalence | SE | fmi | untested: mean | range | "
        "# at 0 | # at 1 | CPU s | rho interval (chain 1) |\n"
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|\n"
        + "\n".join(rows) + "\n"
    )


def part_popmis(tmp, args):
    m = args.m_popmis
    csv = tmp / "popmis.csv"
    rscript("export-popmis", csv)
    data = pd.read_csv(csv)
    rows = []
    cols = ["school", "popular", "sex", "texp"]
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["popular", ["school", "sex", "texp"]] = [-2, 2, 1]
    results = []
    for method in ("2l.pmm", "2l.pan"):
        out = tmp / f"r_{method}.json"
        rscript("popmis", method, m, 10, 1, out)
        label = "R miceadds 2l.pmm" if method == "2l.pmm" else "R mice 2l.pan"
        results.append((label, read_json(out)))
    for method in ("2l.pmm", "2l.pan"):
        imp = MultilevelIterativeImputer(cluster="school", methods={"popular": method},
                                         predictor_matrix=pm, max_iter=10)
        with threadpool_limits(1):
            t0 = time.process_time()
            mi = multiple_impute(data, imp, n_imputations=m, random_state=1, n_jobs=1)
            seconds = time.process_time() - t0
        long = tmp / f"s_{method}.csv"
        mi.long().to_csv(long, index=False)
        out = tmp / f"s_{method}.json"
        rscript("analyse", long, out)
        results.append((f"skmice {method}", {**read_json(out), "cpu_seconds": seconds}))
    for name, res in results:
        fx = res["fixed"]
        rows.append(
            f"| {name} | {res['var_sex']:.3f} (SD {res['sd_between_var_sex']:.3f}) | "
            f"{res['cov']:+.3f} | {res['residual']:.3f} (SD {res['sd_between_residual']:.3f}) "
            f"| {res['icc']:.3f} | {res['var_intercept']:.3f} | "
            + " | ".join(f"{v:.3f}" for v in fx.values())
            + f" | {res['cpu_seconds']:.1f} |"
        )
    names = " | ".join(next(iter(results))[1]["fixed"])
    return (
        f"m = {m}, max_iter = 10, seed 1; every completed dataset analysed in R by "
        "lmer(popular ~ sex * texp + (1 + sex | school)) and pooled by mitml::testEstimates. "
        "SD: between-imputation standard deviation of the component. Complete data (figures "
        "of the issue, from the tutorial authors' complete file, not recomputed here): "
        "var(sex) 0.226, cov +0.023, residual 0.392, ICC 0.512.\n\n"
        f"| method | var(sex) | cov(int, sex) | residual | ICC | var(intercept) | {names} | "
        "CPU s |\n|---|---:|---:|---:|---:|---:|" + "---:|" * len(results[0][1]["fixed"])
        + "---:|\n" + "\n".join(rows) + "\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["bin", "heckman", "popmis"],
                        choices=["bin", "heckman", "popmis"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--m-heckman", type=int, default=20)
    parser.add_argument("--m-popmis", type=int, default=20)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        csv = tmp / "hiv.csv"
        data = None
        if {"bin", "heckman"} & set(args.part):
            rscript("export-hiv", csv)
            data = pd.read_csv(csv)
        for part in args.part:
            t0 = time.perf_counter()
            if part == "bin":
                body = part_bin(data, csv, tmp, args)
            elif part == "heckman":
                body = part_heckman(data, csv, tmp, args)
            else:
                body = part_popmis(tmp, args)
            now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
            text = (f"# Side by side with R: {part}\n\nWritten by `benchmarks/side_by_side.py`."
                    f"\n\n## {now} on {platform.node()} ({os.cpu_count()} cores)\n\n"
                    f"Command: `python benchmarks/side_by_side.py --part {part}`\n\n{body}\n"
                    f"Wall time of the part: {time.perf_counter() - t0:.0f} s.\n")
            (RESULTS / f"side_by_side_{part}.md").write_text(text)
            print(text, flush=True)


if __name__ == "__main__":
    main()
