"""Substantive-model-compatible imputation against chained equations: bias and coverage.

Run from the repository root::

    python benchmarks/simulate_smc.py --reps 200 --n-jobs 2
    python benchmarks/simulate_smc.py --part speed
    python benchmarks/simulate_smc.py --part r --reps 20

``coverage`` (default)
    :func:`skmice.datasets.make_random_slope` (a level-1 predictor ``x`` with
    a random slope, a level-2 ``w``, their cross-level interaction; ``x``
    missing at random given ``y``, in one cell ``y`` missing too) in the
    cells below; per replication m = 5 imputations by
    ``SubstantiveModelImputer`` (``--smc-iter`` iterations per chain) and by
    chained equations (``2l.pmm``, and ``2l.pan`` with a random slope of
    ``y`` in ``x``'s model, max_iter = 10), each completed dataset analysed
    with the analysis model (``skmice.mixed.lmer``, REML), pooled by Rubin's
    rules; complete data and listwise deletion alongside. Reports the
    coverage of the 95% intervals of the fixed effects, the relative bias of
    the interaction and of the slope variance.
``speed``
    20,000 rows / 1,000 clusters and 1,000,000 rows / 50,000 clusters, m = 5
    chains one after the other.
``r``
    R's jomo (``jomo.lmer``, the substantive-model-compatible sampler of jomo)
    on the first replications of chosen cells, side by side; ``r-speed``:
    jomo on the 20,000-row data of ``speed``.

Tables are appended to ``benchmarks/results/smc.md`` (per-replication
estimates to ``results/smc_coverage.csv``).
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
from joblib import Parallel, delayed

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_random_slope
from skmice.mixed import lmer
from skmice.smc import SubstantiveModelImputer, parameter_rhat

RESULTS = Path(__file__).resolve().parent / "results"
FORMULA = "y ~ x * w + (1 + x | cluster)"
CELLS = {
    "A: 30 x 20, ICC .2, x 30%": dict(n_clusters=30, cluster_size=20, icc=0.2, missing_x=0.3),
    "B: 150 x 5, ICC .2, x 30%": dict(n_clusters=150, cluster_size=5, icc=0.2, missing_x=0.3),
    "C: 100 x 10, ICC .5, x 40%, y 20%": dict(n_clusters=100, cluster_size=10, icc=0.5,
                                              missing_x=0.4, missing_y=0.2),
    "D: 60 x 10, ICC .1, x 20%": dict(n_clusters=60, cluster_size=10, icc=0.1, missing_x=0.2),
}
FIXED = ["Intercept", "x", "w", "x:w"]
VC = {"slope variance": "x~~x|cluster", "intercept variance": "Intercept~~Intercept|cluster"}
TRUE_VC = {"slope variance": "var(cluster: x)", "intercept variance": "var(cluster: (Intercept))"}


def _single(fit) -> dict:
    ci = fit.conf_int()
    out = {}
    for k in FIXED:
        out[f"{k}|est"] = fit.fe_params[k]
        out[f"{k}|lo"], out[f"{k}|hi"] = ci.loc[k].iloc[0], ci.loc[k].iloc[1]
    vc = fit.variance_components
    out["slope variance"] = float(vc.loc["x~~x|cluster"]) if "x~~x|cluster" in vc.index else np.nan
    out["intercept variance"] = float(vc.loc["Intercept~~Intercept|cluster"])
    return out


def _pooled(mi) -> dict:
    an = mi.analyze_mixed(FORMULA)
    p = an.pool()
    extra = an.pool_extra()
    out = {}
    for k in FIXED:
        out[f"{k}|est"] = p.loc[k, "estimate"]
        out[f"{k}|lo"], out[f"{k}|hi"] = p.loc[k, "conf_low"], p.loc[k, "conf_high"]
    for name, key in VC.items():
        out[name] = float(extra[key])
    return out


def _fcs(kind: str, max_iter: int):
    if kind == "2l.pmm":
        return MultilevelIterativeImputer(cluster="cluster", max_iter=max_iter,
                                          methods={"x": "2l.pmm", "y": "2l.pmm"})
    pm = pd.DataFrame(0, index=["cluster", "y", "x", "w"], columns=["cluster", "y", "x", "w"])
    pm.loc["x", ["y", "w"]] = [2, 1]
    pm.loc["y", ["x", "w"]] = [2, 1]
    pm.loc[["x", "y"], "cluster"] = -2
    return MultilevelIterativeImputer(cluster="cluster", max_iter=max_iter, predictor_matrix=pm,
                                      methods={"x": "2l.pan", "y": "2l.pan"})


def replication(cell: str, rep: int, m: int, smc_iter: int) -> list[dict]:
    sim = make_random_slope(**CELLS[cell], random_state=10_000 + rep)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows.append({"method": "complete data", **_single(lmer(FORMULA, sim.complete))})
        rows.append({"method": "listwise", **_single(lmer(FORMULA, sim.data.dropna()))})
        t = time.process_time()
        mi = multiple_impute(sim.data, SubstantiveModelImputer(FORMULA, max_iter=smc_iter),
                             n_imputations=m, random_state=rep)
        rhat = parameter_rhat(mi)["rhat"].max()
        rows.append({"method": "SubstantiveModelImputer", **_pooled(mi),
                     "seconds": time.process_time() - t, "max_rhat": rhat})
        for kind in ("2l.pmm", "2l.pan, y random slope"):
            mi = multiple_impute(sim.data, _fcs(kind, 10), n_imputations=m, random_state=rep)
            rows.append({"method": f"chained {kind}", **_pooled(mi)})
    for r in rows:
        r.update(cell=cell, rep=rep)
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (cell, method), g in results.groupby(["cell", "method"], sort=False):
        truth = make_random_slope(**CELLS[cell], random_state=0).truth
        row = {"cell": cell, "method": method, "reps": len(g)}
        for k in FIXED:
            t = truth["(Intercept)" if k == "Intercept" else k]
            row[f"cover {k}"] = float(((g[f"{k}|lo"] <= t) & (t <= g[f"{k}|hi"])).mean())
        row["x:w rel. bias"] = g["x:w|est"].mean() / truth["x:w"] - 1
        row["x rel. bias"] = g["x|est"].mean() / truth["x"] - 1
        for name in VC:
            row[f"{name} rel. bias"] = g[name].mean() / truth[TRUE_VC[name]] - 1
        if "seconds" in g and g["seconds"].notna().any():
            row["s/rep"] = g["seconds"].mean()
        if "max_rhat" in g and g["max_rhat"].notna().any():
            row["median max R-hat"] = g["max_rhat"].median()
            row["share max R-hat < 1.05"] = (g["max_rhat"] < 1.05).mean()
        out.append(row)
    return pd.DataFrame(out)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else (f"{v:+.3f}" if "bias" in c else f"{v:.3f}"))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _append(title: str, command: str, body: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "smc.md"
    head = "" if path.exists() else "# Substantive-model-compatible imputation\n\n" \
        "Written by `benchmarks/simulate_smc.py`.\n"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    with path.open("a") as fh:
        fh.write(f"{head}\n## {title}, {stamp} on {platform.node()}\n\nCommand: `{command}`\n\n"
                 f"{body}\n")


def part_coverage(args) -> None:
    cells = list(CELLS) if not args.cells else [c for c in CELLS if c[0] in args.cells]
    csv = RESULTS / "smc_coverage.csv"
    t0 = time.time()
    if not args.summarise_only:
        jobs = [(c, r) for r in range(args.start, args.start + args.reps) for c in cells]
        runs = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
            delayed(replication)(c, r, args.m, args.smc_iter) for c, r in jobs)
        for k, rows in enumerate(runs, start=1):  # saved as they finish
            pd.DataFrame(rows).to_csv(csv, mode="a", header=not csv.exists(), index=False)
            print(f"{k}/{len(jobs)} replications, {time.time() - t0:.0f} s", flush=True)
    results = pd.read_csv(csv)
    results = results[results["cell"].isin(cells)]
    reps = results.groupby("cell")["rep"].nunique().min()
    table = summarise(results)
    se = np.sqrt(0.95 * 0.05 / reps)
    body = (f"{reps} replications per cell, m = {args.m}, SubstantiveModelImputer "
            f"max_iter = {args.smc_iter}, chained equations max_iter = 10; 95% coverage "
            f"(Monte Carlo s.e. {se:.3f}); relative bias of the pooled estimates; s/rep: CPU "
            "seconds of the five chains; R-hat: the largest over the parameters of a "
            "replication's five chains (second halves), its median and the share of "
            "replications where it is below 1.05.\n\n" + _markdown(table))
    print(body)
    _append("Coverage and bias", " ".join(["python", *sys.argv]), body)


def part_speed(args) -> None:
    from threadpoolctl import threadpool_limits

    lines = ["| rows | clusters | m | max_iter | seconds (one core) | per iteration (ms) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for rows, clusters, iters in [(20_000, 1_000, args.smc_iter), (1_000_000, 50_000, 100)]:
        sim = make_random_slope(n_clusters=clusters, cluster_size=rows // clusters,
                                missing_x=0.3, missing_y=0.1, random_state=0)
        with threadpool_limits(1):
            t = time.perf_counter()
            multiple_impute(sim.data, SubstantiveModelImputer(FORMULA, max_iter=iters),
                            n_imputations=5, random_state=0)
            s = time.perf_counter() - t
        lines.append(f"| {rows:,} | {clusters:,} | 5 | {iters} | {s:.2f} | "
                     f"{1000 * s / (5 * iters):.2f} |")
        print(lines[-1])
    head = ("`make_random_slope` with x 30% and y 10% missing, clusters of 20; the m = 5 chains "
            "one after the other on one core (BLAS on one thread), wall time.\n\n")
    _append("Speed", " ".join(["python", *sys.argv]), head + "\n".join(lines))


R_JOMO = r"""
suppressMessages({library(jomo); library(lme4); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$cluster <- factor(d$cluster)
t <- system.time(imp <- jomo.lmer(y ~ x * w + (1 + x | cluster), d, nburn = 1000,
                                  nbetween = 200, nimp = 5, output = 0))["elapsed"]
if (!"cluster" %in% names(imp)) imp$cluster <- imp$clus  # jomo names the cluster "clus"
est <- lapply(1:5, function(i) {
  f <- lmer(y ~ x * w + (1 + x | cluster), subset(imp, Imputation == i), REML = TRUE)
  vc <- as.data.frame(VarCorr(f))
  list(fe = as.list(fixef(f)), se = as.list(sqrt(diag(as.matrix(vcov(f))))),
       slope = vc$vcov[2], intercept = vc$vcov[1])
})
cat(toJSON(list(seconds = t, est = est), auto_unbox = TRUE, digits = 10))
"""


def _jomo_row(r: dict) -> dict:
    """Rubin's rules (dfcom = inf, as analyze_mixed) on jomo's five lmer fits."""
    from scipy import stats

    from skmice import pool_scalar

    out = {"method": "R jomo.lmer", "seconds": r["seconds"]}
    for k, name in zip(FIXED, ["(Intercept)", "x", "w", "x:w"]):
        p = pool_scalar([e["fe"][name] for e in r["est"]], [e["se"][name] ** 2 for e in r["est"]])
        half = stats.t.ppf(0.975, p.df) * p.std_error
        out[f"{k}|est"], out[f"{k}|lo"], out[f"{k}|hi"] = p.qbar, p.qbar - half, p.qbar + half
    out["slope variance"] = float(np.mean([e["slope"] for e in r["est"]]))
    out["intercept variance"] = float(np.mean([e["intercept"] for e in r["est"]]))
    return out


def _run_jomo(cell: str, rep: int, script: str) -> dict | None:
    sim = make_random_slope(**CELLS[cell], random_state=10_000 + rep)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        sim.data.to_csv(path, index=False, na_rep="NA")
        res = subprocess.run(["Rscript", script, str(path)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    if res.returncode != 0:
        print(res.stderr[-2000:])
        return None
    text = res.stdout[res.stdout.index("{"):]  # jomo prints a notice first
    return {**_jomo_row(json.loads(text)), "cell": cell, "rep": rep}


def part_r(args) -> None:
    if shutil.which("Rscript") is None:
        print("Rscript not found: R's jomo could not be run.")
        return
    cells = list(CELLS) if not args.cells else [c for c in CELLS if c[0] in args.cells]
    jobs = [(c, r) for r in range(args.start, args.start + args.reps) for c in cells]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "jomo.R"
        script.write_text(R_JOMO)
        rows = Parallel(n_jobs=args.n_jobs)(delayed(_run_jomo)(c, r, str(script))
                                            for c, r in jobs)
    jomo = pd.DataFrame([r for r in rows if r is not None])
    jomo.to_csv(RESULTS / "smc_jomo.csv", index=False)
    ours = pd.read_csv(RESULTS / "smc_coverage.csv")
    ours = ours.merge(jomo[["cell", "rep"]], on=["cell", "rep"])  # the same datasets
    table = summarise(pd.concat([ours, jomo], ignore_index=True))
    table = table.sort_values(["cell", "method"], kind="stable")
    body = (f"R's jomo.lmer (nburn = 1000, nbetween = 200, 5 imputations, one chain) on the "
            f"first {args.reps} datasets of each cell, next to skmice on the same datasets "
            "(from `results/smc_coverage.csv`); jomo's five lmer fits pooled by Rubin's rules "
            "as `analyze_mixed` does; s/rep is the imputation's time (R: jomo.lmer's elapsed "
            "time; skmice: CPU time of the five chains).\n\n" + _markdown(table))
    print(body)
    _append("Side by side with R's jomo", " ".join(["python", *sys.argv]), body)


def part_r_speed(args) -> None:
    """R's jomo.lmer on the 20,000-row data of ``--part speed``."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: R's jomo could not be run.")
        return
    sim = make_random_slope(n_clusters=1_000, cluster_size=20, missing_x=0.3, missing_y=0.1,
                            random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        script, path = Path(tmp) / "jomo.R", Path(tmp) / "d.csv"
        script.write_text(R_JOMO)
        sim.data.to_csv(path, index=False, na_rep="NA")
        res = subprocess.run(["Rscript", str(script), str(path)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = json.loads(res.stdout[res.stdout.index("{"):])["seconds"]
    body = ("R's jomo.lmer (nburn = 1000, nbetween = 200, nimp = 5: 2,000 iterations of one "
            "chain) on the 20,000-row, 1,000-cluster data of `--part speed`: "
            f"{seconds:.1f} s, {1000 * seconds / 2000:.1f} ms per iteration.")
    print(body)
    _append("R's jomo at 20,000 rows", " ".join(["python", *sys.argv]), body)


def part_reference(args) -> None:
    """R's reference data ref_a: an incomplete predictor (extrav), the outcome, auxiliaries."""
    root = Path(__file__).resolve().parents[2] / "shared" / "reference"
    if not (root / "ref_a.csv").exists():
        print(f"{root / 'ref_a.csv'} not found.")
        return
    data = pd.read_csv(root / "ref_a.csv")
    truth = json.loads((root / "ref_a_truth.json").read_text())["model1"]
    r_pan = json.loads((root / "ref_a_R_2l.pan.json").read_text())["model1"]
    model = "popular ~ 1 + sex + texp + sex:texp + extrav + (1 + sex | school)"
    t = time.perf_counter()
    mi = multiple_impute(data, SubstantiveModelImputer(model, auxiliary=["club", "tsize"],
                                                       max_iter=args.smc_iter),
                         n_imputations=args.m, random_state=1, n_jobs=args.n_jobs)
    seconds = time.perf_counter() - t
    an = mi.analyze_mixed(model)
    pooled, extra = an.pool(), an.pool_extra()
    names = ["Intercept" if k == "(Intercept)" else k for k in truth["term"]]
    table = pd.DataFrame({
        "term": names + ["sex slope variance", "intercept variance", "residual variance"],
        "complete data (lme4)": list(truth["estimate"]) + [
            truth["varcomp"]["sex~~NA"], truth["varcomp"]["(Intercept)~~NA"],
            truth["varcomp"]["NA~~NA"]],
        "complete-data s.e.": list(truth["se"]) + [np.nan] * 3,
        "SubstantiveModelImputer": list(pooled.loc[names, "estimate"]) + [
            extra["sex~~sex|school"], extra["Intercept~~Intercept|school"],
            extra["Residual~~Residual"]],
        "R mice 2l.pan (m = 20)": [r_pan["fixed"]["estimate"][r_pan["fixed"]["term"].index(k)]
                                   if "fixed" in r_pan and k in r_pan["fixed"].get("term", [])
                                   else np.nan for k in truth["term"]] + [
            r_pan["extra"]["sex~~sex|school"], r_pan["extra"]["Intercept~~Intercept|school"],
            r_pan["extra"]["Residual~~Residual"]],
    })
    rhat = parameter_rhat(mi)["rhat"].max()
    body = (f"`ref_a.csv` (1,957 pupils, 100 schools; popular 42% missing, extrav 21%, club 26%, "
            f"tsize missing for whole schools): analysis model `{model}`, auxiliary club and "
            f"tsize; m = {args.m} chains of {args.smc_iter} iterations in {seconds:.1f} s "
            f"(n_jobs = {args.n_jobs}); largest R-hat {rhat:.3f}.\n\n" + _markdown(table))
    print(body)
    _append("R's reference data ref_a", " ".join(["python", *sys.argv]), body)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["coverage", "speed", "r", "r-speed", "reference"],
                        default="coverage")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--smc-iter", type=int, default=500)
    parser.add_argument("--cells", default="", help="cell letters, e.g. AC (default all)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--summarise-only", action="store_true",
                        help="tabulate results/smc_coverage.csv without running")
    args = parser.parse_args(argv)
    {"coverage": part_coverage, "speed": part_speed, "r": part_r, "r-speed": part_r_speed,
     "reference": part_reference}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
