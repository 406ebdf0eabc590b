"""Coverage simulation of the two-level continuous methods on popularity-like data.

Design: ``skmice.datasets.make_popularity(random_state=rep)`` (100 schools of
16-26 pupils, about 42% of ``popular`` missing at random given sex and the
teacher's experience). Analysis model, as in R's tutorial:
``popular ~ sex * texp + (1 + sex | school)`` by statsmodels MixedLM (REML),
``skmice.demo.fit_popularity_model``. ``popular`` is imputed with the
two-level predictor matrix of ``skmice.demo.popularity_setup`` (school -2,
sex random slope, texp, teachpop and sex * texp fixed) by each method; each
replication is pooled with skmice (``mi.analyze(fit).pool()`` for the fixed
effects by Rubin's rules, ``pool_extra()`` for the variance components and
the ICC, the mean over imputations). The complete data (before deletion)
are analysed too: their coverage is the benchmark the imputations can reach.

Recorded per method: coverage of the nominal 95% intervals of every fixed
effect against the simulator's truth (``sim.truth``), bias, average interval
width, and the relative bias of the intercept variance, the slope variance,
the residual variance and the ICC. Targets: coverage between 0.92 and 0.98,
relative bias of the variance components below 10% in absolute value. The
Monte Carlo standard error of a coverage of 0.95 over R replications is
``sqrt(0.95 * 0.05 / R)`` (0.015 for R = 200).

Usage::

    python benchmarks/simulate_coverage.py --reps 200 --m 5 --max-iter 10 --n-jobs 2 \\
        --out benchmarks/results/coverage_twolevel.md
    python benchmarks/simulate_coverage.py --reps 5 --methods 2l.pan   # timing run

Replication ``rep`` uses ``random_state=rep`` for the data and for the
imputations, so any subset of replications can be rerun exactly.
"""

from __future__ import annotations

import argparse
import math
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TERMS = ["Intercept", "sex", "texp", "sex:texp"]
COMPONENTS = {
    "var(intercept)": ("Intercept~~Intercept|school", "var_intercept"),
    "var(sex)": ("sex~~sex|school", "var_slope"),
    "var(residual)": ("Residual~~Residual", "var_residual"),
    "ICC": ("ICC|school", "icc"),
}
METHODS = ("2l.pan", "2l.pmm", "2l.norm")
COVERAGE_TARGET = (0.92, 0.98)
BIAS_TARGET = 0.10


def _truth(sim) -> dict:
    out = {f"fixed:{t}": float(sim.truth["fixed"][t]) for t in TERMS}
    for label, (_, key) in COMPONENTS.items():
        out[label] = float(sim.truth[key])
    return out


def _complete_data_row(fit, truth) -> dict:
    """Estimates, 95% Wald intervals (normal, statsmodels) and components of one fit."""
    from skmice.analysis import MultipleAnalyses

    row = {}
    ci = fit.conf_int(alpha=0.05)
    for t in TERMS:
        est = float(fit.fe_params[t])
        lo, hi = (float(v) for v in ci.loc[t])
        row.update(_interval(t, est, float(fit.bse_fe[t]), lo, hi, truth))
    extra = MultipleAnalyses([fit]).pool_extra()  # m = 1: the fit's own components
    for label, (key, _) in COMPONENTS.items():
        row[label] = float(extra[key])
    row["converged"] = bool(fit.converged)
    return row


def _interval(term, est, se, lo, hi, truth) -> dict:
    t = truth[f"fixed:{term}"]
    return {
        f"est:{term}": est,
        f"se:{term}": se,
        f"width:{term}": hi - lo,
        f"cover:{term}": bool(lo <= t <= hi),
    }


def run_replication(rep: int, methods=METHODS, m: int = 5, max_iter: int = 10) -> list[dict]:
    """One replication: the complete-data analysis and each method's pooled analysis.

    Parameters
    ----------
    rep : int
        Replication index, the seed of the data and of the imputations.
    methods : sequence of str
        Imputation methods for ``popular`` (two-level names; ``"pmm"`` runs
        single-level PMM that ignores the schools).
    m : int
        Number of imputations.
    max_iter : int
        Iterations of the chained equations.

    Returns
    -------
    list of dict
        One row per analysis (``method``, ``rep``, ``seconds``, estimates,
        coverage indicators, variance components).
    """
    import warnings

    from skmice import MultilevelIterativeImputer, multiple_impute
    from skmice.datasets import make_popularity
    from skmice.demo import fit_popularity_model, popularity_setup

    warnings.simplefilter("ignore")  # statsmodels convergence chatter; recorded instead
    sim = make_popularity(random_state=rep)
    truth = _truth(sim)
    data, pms = popularity_setup(sim.data)
    rows = []
    t0 = time.perf_counter()
    row = _complete_data_row(fit_popularity_model(sim.complete), truth)
    row.update(
        method="complete data", rep=rep, seconds=time.perf_counter() - t0, impute_seconds=0.0
    )
    rows.append(row)
    for method in methods:
        two_level = method != "pmm"
        imputer = MultilevelIterativeImputer(
            methods={"popular": method},
            predictor_matrix=pms["two_level" if two_level else "single"],
            cluster="school" if two_level else None,
            max_iter=max_iter,
        )
        t0 = time.perf_counter()
        mi = multiple_impute(data, imputer, n_imputations=m, random_state=rep)
        t_imp = time.perf_counter() - t0
        fits = mi.analyze(fit_popularity_model)
        pooled = fits.pool(conf_level=0.95)
        extra = fits.pool_extra()
        row = {"method": method, "rep": rep}
        for t in TERMS:
            p = pooled.loc[t]
            row.update(
                _interval(
                    t,
                    float(p["estimate"]),
                    float(p["std_error"]),
                    float(p["conf_low"]),
                    float(p["conf_high"]),
                    truth,
                )
            )
            row[f"fmi:{t}"] = float(p["fmi"])
        for label, (key, _) in COMPONENTS.items():
            row[label] = float(extra[key])
        row["converged"] = all(bool(f.converged) for f in fits)
        row["seconds"] = time.perf_counter() - t0
        row["impute_seconds"] = t_imp
        rows.append(row)
    return rows


def run(
    reps: int,
    methods=METHODS,
    m: int = 5,
    max_iter: int = 10,
    n_jobs: int = 2,
    start: int = 0,
    verbose: int = 0,
) -> pd.DataFrame:
    """Run replications ``start .. start + reps - 1`` in parallel; one row per analysis."""
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(run_replication)(rep, tuple(methods), m, max_iter)
        for rep in range(start, start + reps)
    )
    return pd.DataFrame([row for rows in results for row in rows])


def summarise(results: pd.DataFrame, truth: dict) -> dict:
    """Coverage, bias and width of the fixed effects; relative bias of the components.

    Returns a dict of DataFrames indexed by method: ``coverage``,
    ``coverage_se`` (Monte Carlo), ``bias``, ``width``, ``rel_bias`` (variance
    components and ICC, (mean - truth) / truth), ``rel_bias_se``, ``runs``.
    """
    order = list(dict.fromkeys(results["method"]))
    g = results.groupby("method", sort=False)
    cover = g[[f"cover:{t}" for t in TERMS]].mean().reindex(order)
    cover.columns = TERMS
    n = g.size().reindex(order)
    cover_se = np.sqrt(cover * (1 - cover)).div(np.sqrt(n), axis=0)
    bias = pd.DataFrame({t: g[f"est:{t}"].mean() - truth[f"fixed:{t}"] for t in TERMS})
    width = pd.DataFrame({t: g[f"width:{t}"].mean() for t in TERMS})
    labels = list(COMPONENTS)
    rel = pd.DataFrame({c: g[c].mean() / truth[c] - 1 for c in labels})
    rel_se = pd.DataFrame({c: g[c].std(ddof=1) / truth[c] for c in labels}).div(np.sqrt(n), axis=0)
    runs = pd.DataFrame(
        {
            "replications": n,
            "not converged": g["converged"].apply(lambda s: int((~s.astype(bool)).sum())),
            "seconds / rep": g["seconds"].mean(),
            "imputation seconds / rep": g["impute_seconds"].mean(),
        }
    )
    return {
        "coverage": cover,
        "coverage_se": cover_se,
        "bias": bias.reindex(order),
        "width": width.reindex(order),
        "rel_bias": rel.reindex(order),
        "rel_bias_se": rel_se.reindex(order),
        "runs": runs.reindex(order),
    }


def _md_table(df: pd.DataFrame, fmt, index_name="method") -> str:
    """A markdown table; ``fmt`` formats every cell (integers are printed as such)."""
    cols = [index_name, *map(str, df.columns)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * df.shape[1]) + "|"]
    cells = {
        c: [str(v) if pd.api.types.is_integer_dtype(df[c]) else fmt(v) for v in df[c]]
        for c in df.columns
    }
    for i, idx in enumerate(df.index):
        lines.append("| " + " | ".join([str(idx), *(cells[c][i] for c in df.columns)]) + " |")
    return "\n".join(lines)


def _flag_coverage(v, se):
    lo, hi = COVERAGE_TARGET
    return f"{v:.3f} ({se:.3f})" + ("" if lo <= v <= hi else " *")


def to_markdown(
    summary: dict, truth: dict, command: str, seconds: float, m: int, max_iter: int
) -> str:
    """The report: settings, exact command, coverage and bias tables, notes."""
    cov, cov_se = summary["coverage"], summary["coverage_se"]
    cov_cells = pd.DataFrame(
        {t: [_flag_coverage(cov.loc[i, t], cov_se.loc[i, t]) for i in cov.index] for t in TERMS},
        index=cov.index,
    )
    rel, rel_se = summary["rel_bias"], summary["rel_bias_se"]
    rel_cells = pd.DataFrame(
        {
            c: [
                f"{100 * rel.loc[i, c]:+.1f}% ({100 * rel_se.loc[i, c]:.1f})"
                + ("" if abs(rel.loc[i, c]) < BIAS_TARGET or c == "ICC" else " *")
                for i in rel.index
            ]
            for c in rel.columns
        },
        index=rel.index,
    )
    truth_row = pd.DataFrame(
        {
            **{t: [f"{truth[f'fixed:{t}']:g}"] for t in TERMS},
            **{c: [f"{truth[c]:.3f}"] for c in COMPONENTS},
        },
        index=["truth"],
    )
    import sklearn
    import statsmodels

    import skmice

    n_reps = int(summary["runs"]["replications"].iloc[0])
    mc = math.sqrt(0.95 * 0.05 / n_reps)
    parts = [
        "# Coverage of the two-level imputation methods (popularity design)",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"Wall time {seconds / 60:.1f} min; skmice {skmice.__version__}, statsmodels "
        f"{statsmodels.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {platform.machine()}.",
        "",
        f"Design: `make_popularity(random_state=rep)` (100 schools of 16-26 pupils, about 42% "
        f"of `popular` missing at random), {n_reps} replications, m = {m} imputations, "
        f"max_iter = {max_iter}. Analysis: `popular ~ sex * texp + (1 + sex | school)`, "
        "statsmodels MixedLM (REML); fixed effects pooled by Rubin's rules (skmice "
        "`pool()`, Barnard-Rubin df), variance components and ICC averaged over "
        "imputations (`pool_extra()`). Complete data: the same model on the data before "
        "deletion, with statsmodels' normal-theory Wald intervals.",
        "",
        "## Truth",
        "",
        _md_table(truth_row, str, index_name=""),
        "",
        f"## Coverage of nominal 95% intervals (Monte Carlo SE in brackets; 0.95 has SE {mc:.3f})",
        "",
        f"Target: between {COVERAGE_TARGET[0]} and {COVERAGE_TARGET[1]} (`*` outside).",
        "",
        _md_table(cov_cells, str),
        "",
        "## Relative bias of the variance components and the ICC (Monte Carlo SE in "
        "brackets, percentage points)",
        "",
        f"Target: below {100 * BIAS_TARGET:.0f}% in absolute value for the variance "
        "components (`*` beyond).",
        "",
        _md_table(rel_cells, str),
        "",
        "## Bias and average 95% interval width of the fixed effects",
        "",
        "Bias:",
        "",
        _md_table(summary["bias"], lambda v: f"{v:+.4f}"),
        "",
        "Width:",
        "",
        _md_table(summary["width"], lambda v: f"{v:.4f}"),
        "",
        "## Runs",
        "",
        _md_table(summary["runs"], lambda v: f"{v:.2f}"),
        "",
    ]
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="replications (default 200)")
    parser.add_argument("--m", type=int, default=5, help="imputations (default 5)")
    parser.add_argument("--max-iter", type=int, default=10, help="iterations (default 10)")
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel replications")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="comma-separated methods (default 2l.pan,2l.pmm,2l.norm; "
        "'pmm' = single level, schools ignored)",
    )
    parser.add_argument("--start", type=int, default=0, help="first replication index")
    parser.add_argument("--out", default=None, help="markdown report to write")
    parser.add_argument(
        "--csv", default=None, help="per-replication results (default: next to --out, .csv)"
    )
    args = parser.parse_args(argv)
    methods = [s.strip() for s in args.methods.split(",") if s.strip()]
    command = (
        "python "
        + " ".join(shlex.quote(a) for a in ["benchmarks/simulate_coverage.py", *sys.argv[1:]])
        if argv is None
        else "python benchmarks/simulate_coverage.py " + shlex.join(argv)
    )

    from skmice.datasets import make_popularity

    truth = _truth(make_popularity(random_state=0))  # fixed design parameters
    t0 = time.perf_counter()
    results = run(args.reps, methods, args.m, args.max_iter, args.n_jobs, args.start, verbose=0)
    seconds = time.perf_counter() - t0
    summary = summarise(results, truth)
    report = to_markdown(summary, truth, command, seconds, args.m, args.max_iter)
    print(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        csv = Path(args.csv) if args.csv else out.with_suffix(".csv")
        results.to_csv(csv, index=False)
        print(f"\nWritten: {out}, {csv}", file=sys.stderr)
    elif args.csv:
        results.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
