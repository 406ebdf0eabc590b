"""Three-level and cross-classified data: ml.norm against two-level imputation.

Run from the repository root (``PYTHONPATH=.``: the analysis uses
``tests/_reml.py``, a small REML fitter checked against lme4)::

    python benchmarks/bench_levels.py --part coverage --reps 200 --n-jobs 2
    python benchmarks/bench_levels.py --part mixing
    python benchmarks/bench_levels.py --part speed
    python benchmarks/bench_levels.py --part r --reps 5
    python benchmarks/bench_levels.py --part binary --reps 150 --n-jobs 2 --r-reps 3

Each part appends its table, the command and the machine to
``benchmarks/results/levels.md`` (``--part coverage`` also writes the
per-replication estimates to ``results/levels_coverage.csv``).

``coverage``
    ``make_three_level`` (50 schools x 5 classes x 20 pupils, ICC 0.10 and
    0.15, a random slope of ``x`` at school level, 30% of ``y`` missing at
    random) and ``make_crossed`` (4,000 pupils in 40 schools x 30
    neighbourhoods): per replication m = 5 imputations (max_iter = 5) by
    ``ml.norm`` and by ``2l.pan`` on one grouping level (the other ignored),
    each completed dataset analysed by REML with the true model, pooled by
    Rubin's rules (Barnard-Rubin df): coverage of the 95% intervals of the
    fixed effects, relative bias of the pooled variance components. The
    complete data's analysis is the reference.
``mixing``
    Chains of the ``ml.norm`` sampler on complete crossed data (20,000
    pupils, 200 schools x 100 neighbourhoods) and three-level data (50,000
    pupils, 1,000 classes, 100 schools), the collapsed (blocked) sampler
    against single-site Gibbs: split R-hat and bulk ESS of the fixed effects
    and variance components over 4 chains of 1,000 draws.
``speed``
    1,000,000 rows: pupils in 10,000 classes in 1,000 schools (``ml.norm``
    with both levels against ``2l.pan`` on the classes) and the crossed
    design with 1,000 schools x 10,000 neighbourhoods (``ml.norm`` against
    ``2l.pan`` on the schools); ``y`` 30% and ``x`` 20% missing, m = 5
    chains one after the other, max_iter = 5, one BLAS thread.
``r``
    Side by side with miceadds' ``ml.lmer`` (R, lme4 at every visit) on the
    same data sets: m = 5, maxit = 5, the same imputation model; every
    completed data set of both analysed with lme4 (``lmer``, REML) and the
    estimates averaged over the imputations. Needs ``Rscript`` with mice,
    miceadds, lme4 and jsonlite (``benchmarks/install_r.sh``).
``binary``
    ``make_three_level(outcome="binary")``: 30 schools x 4 classes x 10
    pupils, logit-scale variances 0.3 (class) and 0.5 (school), no random
    slope, 30% of ``y`` missing at random; per replication m = 5 imputations
    by ``ml.bin`` and by ``2l.bin`` on one grouping level (the other
    ignored). Each completed data set is analysed with the true model, the
    three-level logistic model, by a long ``ml.bin`` chain on the completed
    data (posterior means and variances, 60 burn-in + 300 draws), pooled by
    Rubin's rules: coverage of the fixed effects, relative bias of the level
    variances. With ``--r-reps k > 0`` (and ``Rscript``), also miceadds'
    ``ml.lmer(model = "binary")`` on k of the data sets side by side with
    ``ml.bin`` (both analysed by lme4's ``glmer``).
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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skmice import MultilevelIterativeImputer  # noqa: E402
from skmice.datasets import make_crossed, make_three_level  # noqa: E402
from skmice.diagnostics import bulk_ess, split_rhat  # noqa: E402
from skmice.methods import Design, Level, MultilevelLogistic, MultilevelNormal  # noqa: E402
from skmice.pooling import pool_scalar  # noqa: E402
from tests._reml import reml  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "levels.md"


def _machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def _append(title: str, body: str) -> None:
    OUT.parent.mkdir(exist_ok=True)
    cmd = "python benchmarks/bench_levels.py " + " ".join(sys.argv[1:])
    stamp = time.strftime("%Y-%m-%d %H:%M")
    with OUT.open("a") as fh:
        fh.write(f"\n## {title}\n\n``{cmd}`` ({stamp}; {_machine()})\n\n{body}\n")
    print(body)


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = [str(c).replace("|", "\\|") for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = [floatfmt.format(v) if isinstance(v, (float, np.floating))
                 else str(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# designs: data, imputation set-ups and the analysis model
# ---------------------------------------------------------------------------

DESIGNS = {
    "three-level": dict(
        make=lambda seed: make_three_level(random_state=seed),
        x_cols=["x", "class_size", "school_ses"],
        # (grouping column, random slope of x)
        factors=[("class", False), ("school", True)],
        setups={
            "ml.norm": (["class", "school"], MultilevelNormal(random_slopes="school")),
            "2l.pan on classes": ("class", "2l.pan"),
            "2l.pan on schools": ("school", "2l.pan"),
        },
    ),
    "crossed": dict(
        make=lambda seed: make_crossed(random_state=seed),
        x_cols=["x", "school_ses", "deprivation"],
        factors=[("school", False), ("neighbourhood", False)],
        setups={
            "ml.norm": (["school", "neighbourhood"], "ml.norm"),
            "2l.pan on schools": ("school", "2l.pan"),
            "2l.pan on neighbourhoods": ("neighbourhood", "2l.pan"),
        },
    ),
}


def _predictor_matrix(sim, cluster):
    pm = sim.predictor_matrix.copy()
    kept = cluster if isinstance(cluster, list) else [cluster]
    for c in sim.cluster:
        if c not in kept:
            pm.loc["y", c] = 0
    return pm  # x keeps its code: 2l.pan's random slope is at its one level


def _analyse(d: pd.DataFrame, spec) -> dict:
    n = len(d)
    X = np.column_stack([np.ones(n)] + [d[c].to_numpy() for c in spec["x_cols"]])
    factors = [(d[c].to_numpy() - 1, int(d[c].max()),
                np.column_stack([np.ones(n), d["x"]]) if slope else None)
               for c, slope in spec["factors"]]
    fit = reml(d["y"].to_numpy(), X, factors, se=False)
    out = {"beta": fit["beta"], "var_beta": np.diag(fit["cov_beta"]),
           "vc": np.r_[[p[0, 0] for p in fit["psi"]],
                       [p[1, 1] for p in fit["psi"] if p.shape[0] > 1], fit["sigma2"]]}
    return out


def _vc_names(spec):
    names = [f"var({c})" for c, _ in spec["factors"]]
    names += [f"var(x | {c})" for c, slope in spec["factors"] if slope]
    return names + ["var(residual)"]


def _truth(sim, design):
    t = sim.truth
    if design == "three-level":
        vc = [t["var_class"], t["var_school"], t["var_slope"], t["var_residual"]]
    else:
        vc = [t["var_school"], t["var_neighbourhood"], t["var_residual"]]
    return np.array(list(t["fixed"].values())), np.array(vc)


def _replication(design: str, rep: int, m: int, max_iter: int) -> list[dict]:
    spec = DESIGNS[design]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = spec["make"](10_000 + rep)
        beta_true, vc_true = _truth(sim, design)
        n = len(sim.data)
        rows = []
        ref = _analyse(sim.complete, spec)
        setups = {"complete data": None, **spec["setups"]}
        for label, setup in setups.items():
            if setup is None:
                fits = [ref]
                seconds = 0.0
            else:
                fits, seconds = _impute_and_analyse(sim, setup, m, max_iter, rep,
                                                    lambda d, seed: _analyse(d, spec))
            rows.append({"design": design, "rep": rep, "setup": label, "seconds": seconds,
                         **_pooled(fits, beta_true, n)})
    return rows


def _impute_and_analyse(sim, setup, m: int, max_iter: int, rep: int, analyse):
    """m imputations of ``sim.data`` by ``setup`` (cluster, method), each completed data
    set analysed by ``analyse(data, seed)``; returns the analyses and the seconds spent
    imputing."""
    cluster, method = setup
    pm = _predictor_matrix(sim, cluster)
    fits, seconds = [], 0.0
    for k in range(m):
        imp = MultilevelIterativeImputer(cluster=cluster, predictor_matrix=pm,
                                         methods={"y": method}, max_iter=max_iter,
                                         random_state=rep * 1000 + k)
        t0 = time.perf_counter()
        completed = imp.fit_transform(sim.data)
        seconds += time.perf_counter() - t0
        fits.append(analyse(completed, rep * 1000 + k))
    return fits, seconds


def _pooled(fits: list, beta_true: np.ndarray, n: int) -> dict:
    """Rubin's rules over the analyses of the completed data sets: pooled fixed
    effects (``beta{j}``), whether their 95% intervals cover the truth
    (``cover{j}``), and the averaged variance components (``vc{j}``)."""
    p = beta_true.size
    row = {}
    for j in range(p):
        est = [f["beta"][j] for f in fits]
        var = [f["var_beta"][j] for f in fits]
        if len(fits) == 1:
            q, se, df = est[0], np.sqrt(var[0]), n - p
        else:
            pooled = pool_scalar(est, var, dfcom=n - p)
            q, se, df = pooled.qbar, np.sqrt(pooled.t), pooled.df
        row[f"beta{j}"] = q
        row[f"cover{j}"] = float(abs(q - beta_true[j]) <= stats.t.ppf(0.975, df) * se)
    for j, v in enumerate(np.mean([f["vc"] for f in fits], axis=0)):
        row[f"vc{j}"] = v
    return row


def _summary(df, fixed_names, vc_names, vc_true, beta_true=None) -> pd.DataFrame:
    """Per set-up: coverage of the fixed effects (and their bias, given ``beta_true``),
    relative bias of the variance components, seconds of imputation."""
    lines = []
    for setup, g in df.groupby("setup", sort=False):
        row = {"setup": setup}
        for j, name in enumerate(fixed_names):
            row[f"cover {name}"] = g[f"cover{j}"].mean()
        if beta_true is not None:
            for j, name in enumerate(fixed_names):
                row[f"bias {name}"] = g[f"beta{j}"].mean() - beta_true[j]
        for j, name in enumerate(vc_names):
            row[f"relbias {name}"] = g[f"vc{j}"].mean() / vc_true[j] - 1
        row["imputation s"] = g["seconds"].mean()
        lines.append(row)
    return pd.DataFrame(lines)


def part_coverage(reps: int, m: int, max_iter: int, n_jobs: int, designs=None) -> None:
    for design, spec in DESIGNS.items():
        if designs and design not in designs:
            continue
        t0 = time.perf_counter()
        jobs = Parallel(n_jobs=n_jobs)(
            delayed(_replication)(design, r, m, max_iter) for r in range(reps))
        df = pd.DataFrame([row for rows in jobs for row in rows])
        csv = RESULTS / "levels_coverage.csv"
        df.to_csv(csv, mode="a", header=not csv.exists(), index=False)
        sim = spec["make"](0)
        beta_true, vc_true = _truth(sim, design)
        fixed_names = list(sim.truth["fixed"])
        vc_names = _vc_names(spec)
        tab = _summary(df, fixed_names, vc_names, vc_true)
        mc_cover = np.sqrt(0.95 * 0.05 / reps)
        truth = ", ".join(f"{k} = {v:g}" for k, v in
                          zip(fixed_names + vc_names, [*beta_true, *vc_true]))
        note = (f"{reps} replications of `{design}` (truth: {truth}); m = {m}, max_iter = "
                f"{max_iter}; coverage of nominal 95% intervals (Monte Carlo SE "
                f"{mc_cover:.3f}), relative bias of the pooled variance components (mean of "
                f"the pooled estimates / truth - 1); {time.perf_counter() - t0:.0f} s in all.")
        _append(f"Coverage and bias: {design}", note + "\n\n" + _table(tab))


# ---------------------------------------------------------------------------
# mixing on the crossed design
# ---------------------------------------------------------------------------


def _mixing_design(kind: str):
    """Complete data, its design for the method, and the parameter names."""
    if kind == "crossed":
        sim = make_crossed(n_rows=20_000, n_schools=200, n_neighbourhoods=100, random_state=1)
        d = sim.complete
        n = len(d)
        X = np.column_stack([np.ones(n), d["x"], d["school_ses"], d["deprivation"]])
        levels = [Level(d["school"].to_numpy() - 1, int(d["school"].max()), X[:, :1].copy(),
                        np.array([0]), "school"),
                  Level(d["neighbourhood"].to_numpy() - 1, int(d["neighbourhood"].max()),
                        name="neighbourhood")]
        names = ["Intercept", "x", "school_ses", "deprivation", "var(school)",
                 "var(neighbourhood)", "var(residual)"]
        call = ("make_crossed(n_rows=20_000, n_schools=200, n_neighbourhoods=100, "
                "random_state=1)")
    else:
        sim = make_three_level(n_schools=100, n_classes=10, n_pupils=50, var_slope=0.0,
                               random_state=1)
        d = sim.complete
        n = len(d)
        X = np.column_stack([np.ones(n), d["x"], d["class_size"], d["school_ses"]])
        levels = [Level(d["class"].to_numpy() - 1, int(d["class"].max()), X[:, :1].copy(),
                        np.array([0]), "class"),
                  Level(d["school"].to_numpy() - 1, int(d["school"].max()), name="school")]
        names = ["Intercept", "x", "class_size", "school_ses", "var(class)", "var(school)",
                 "var(residual)"]
        call = ("make_three_level(n_schools=100, n_classes=10, n_pupils=50, var_slope=0.0, "
                "random_state=1)")
    return Design(X=X, levels=levels), d["y"].to_numpy(), names, call


def _chain(sampler: str, kind: str, n_draws: int, seed: int) -> np.ndarray:
    design, y, names, _ = _mixing_design(kind)
    with threadpool_limits(1):
        method = MultilevelNormal(sampler=sampler)
        rng = np.random.default_rng(seed)
        out = np.empty((n_draws, len(names)))
        for i in range(n_draws):
            method.fit(design, y, rng)
            out[i] = np.r_[method.beta_, method.psi_[0][0, 0], method.psi_[1][0, 0],
                           method.sigma2_]
    return out


def part_mixing(n_chains: int, n_draws: int, n_jobs: int) -> None:
    for kind in ("crossed", "three-level"):
        _, _, names, call = _mixing_design(kind)
        rows = []
        for sampler in ("collapsed", "single-site"):
            t0 = time.perf_counter()
            chains = Parallel(n_jobs=n_jobs)(
                delayed(_chain)(sampler, kind, n_draws, 100 + c) for c in range(n_chains))
            seconds = time.perf_counter() - t0
            arr = np.stack(chains)  # (chains, draws, params)
            for j, name in enumerate(names):
                ess = bulk_ess(arr[:, :, j])
                rows.append({"sampler": sampler, "parameter": name,
                             "posterior mean": float(arr[:, :, j].mean()),
                             "R-hat": split_rhat(arr[:, :, j]), "bulk ESS": ess,
                             "ESS / s": ess / seconds / min(n_jobs, n_chains)})
        df = pd.DataFrame(rows)
        note = (f"`{call}`, complete data; {n_chains} chains x {n_draws} draws of "
                "`MultilevelNormal` (one Gibbs step per `fit`, after its 20 burn-in steps "
                "from the same starting values), seeds 100, 101, ...; split R-hat "
                "(rank-normalised, folded) and bulk ESS of `skmice.diagnostics`. `ESS / s`: "
                "per second of one core (data preparation included).")
        _append(f"Mixing, {kind}: collapsed (blocked) against single-site Gibbs",
                note + "\n\n" + _table(df))


# ---------------------------------------------------------------------------
# speed at a million rows
# ---------------------------------------------------------------------------


def _with_missing_x(sim, seed=0):
    data = sim.data.copy()
    rng = np.random.default_rng(seed)
    data.loc[rng.random(len(data)) < 0.2, "x"] = np.nan
    pm = sim.predictor_matrix.copy()
    others = [c for c in pm.columns if c not in ("x", "pupil") and c not in sim.cluster]
    pm.loc["x", others] = 1
    pm.loc["x", sim.cluster] = -2
    return data, pm


def _time(data, pm, cluster, methods, m: int, max_iter: int) -> float:
    pm = pm.copy()
    kept = cluster if isinstance(cluster, list) else [cluster]
    for c in pm.columns:
        if (pm.loc[:, c] == -2).any() and c not in kept:
            pm.loc[:, c] = 0
    t0 = time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(m):
            MultilevelIterativeImputer(cluster=cluster, predictor_matrix=pm, methods=methods,
                                       max_iter=max_iter, random_state=k).fit_transform(data)
    return time.perf_counter() - t0


def part_speed(m: int, max_iter: int) -> None:
    rows = []
    sim = make_three_level(n_schools=1000, n_classes=10, n_pupils=100, random_state=0)
    data, pm = _with_missing_x(sim)
    ml = MultilevelNormal(random_slopes="school")
    for label, cluster, methods in [
        ("ml.norm, (1 | class) + (1 + x | school)", ["class", "school"],
         {"y": ml, "x": "ml.norm"}),
        ("2l.pan, (1 + x | class)", "class", {"y": "2l.pan", "x": "2l.pan"}),
    ]:
        rows.append({"design": "three-level: 1,000,000 pupils, 10,000 classes, 1,000 schools",
                     "imputation": label, "seconds": _time(data, pm, cluster, methods, m,
                                                           max_iter)})
    sim = make_crossed(n_rows=1_000_000, n_schools=1000, n_neighbourhoods=10_000, random_state=0)
    data, pm = _with_missing_x(sim)
    for label, cluster, methods in [
        ("ml.norm, (1 | school) + (1 | neighbourhood)", ["school", "neighbourhood"],
         {"y": "ml.norm", "x": "ml.norm"}),
        ("2l.pan, (1 | school)", "school", {"y": "2l.pan", "x": "2l.pan"}),
    ]:
        rows.append({"design": "crossed: 1,000,000 pupils, 1,000 schools x 10,000 "
                               "neighbourhoods",
                     "imputation": label, "seconds": _time(data, pm, cluster, methods, m,
                                                           max_iter)})
    df = pd.DataFrame(rows)
    note = (f"Two incomplete variables (y 30%, x 20%), m = {m} chains one after the other, "
            f"max_iter = {max_iter}, one BLAS thread; wall-clock seconds for all m chains, "
            "including encoding and decoding.")
    _append("Speed at 1,000,000 rows", note + "\n\n" + _table(df, "{:.1f}"))


# ---------------------------------------------------------------------------
# side by side with miceadds' ml.lmer
# ---------------------------------------------------------------------------

R_SCRIPT = r"""
suppressMessages({library(mice); library(miceadds); library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; design <- args[2]; m <- as.integer(args[3])
d <- read.csv(file.path(dir, "data.csv"))
if (design == "three-level") {
  xs <- c("x", "class_size", "school_ses")
  levels_id <- list(y = c("class", "school"))
  random_slopes <- list(y = list(school = "x"))
  # variables_levels is required: its default (NULL) stops ml.lmer (miceadds #32)
  variables_levels <- c(school = "", class = "", pupil = "", x = "", class_size = "class",
                        school_ses = "school", y = "")
  fml <- y ~ 1 + x + class_size + school_ses + (1 | class) + (1 + x | school)
} else {
  xs <- c("x", "school_ses", "deprivation")
  levels_id <- list(y = c("school", "neighbourhood"))
  random_slopes <- NULL
  variables_levels <- c(school = "", neighbourhood = "", x = "", school_ses = "school",
                        deprivation = "neighbourhood", y = "")
  fml <- y ~ 1 + x + school_ses + deprivation + (1 | school) + (1 | neighbourhood)
}
meth <- make.method(d); meth[] <- ""; meth["y"] <- "ml.lmer"
pred <- make.predictorMatrix(d); pred[, ] <- 0; pred["y", xs] <- 1
t0 <- proc.time()[["elapsed"]]
imp <- mice(d, method = meth, predictorMatrix = pred, m = m, maxit = 5, levels_id = levels_id,
            random_slopes = random_slopes, variables_levels = variables_levels,
            printFlag = FALSE, seed = 1)
seconds <- proc.time()[["elapsed"]] - t0
analyse <- function(data) {
  f <- lmer(fml, data = data, REML = TRUE)
  v <- as.data.frame(VarCorr(f))
  v <- v[is.na(v$var2), ]
  c(fixef(f), setNames(v$vcov, ifelse(is.na(v$var1), v$grp, paste0("var(", v$var1, " | ",
                                                                   v$grp, ")"))))
}
mean_of <- function(datasets) rowMeans(sapply(datasets, analyse))
own <- lapply(seq_len(m), function(k) complete(imp, k))
sk <- lapply(seq_len(m), function(k) read.csv(file.path(dir, sprintf("skmice_%d.csv", k))))
cmpl <- read.csv(file.path(dir, "complete.csv"))
out <- list(seconds = seconds, ml_lmer = as.list(mean_of(own)), skmice = as.list(mean_of(sk)),
            complete = as.list(analyse(cmpl)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = 10), file.path(dir, "out.json"))
"""


def _side_by_side(sim, setup, m: int, script: str, args: list):
    """m imputations by skmice (timed, one BLAS thread) and the R ``script`` on the same
    data in a temporary folder (``data.csv``, ``complete.csv``, ``skmice_k.csv``);
    returns the seconds of skmice and R's ``out.json`` (or its last error line)."""
    cluster, method = setup
    pm = _predictor_matrix(sim, cluster)
    with tempfile.TemporaryDirectory() as tmp:
        sim.data.to_csv(Path(tmp, "data.csv"), index=False)
        sim.complete.to_csv(Path(tmp, "complete.csv"), index=False)
        t0 = time.perf_counter()
        with threadpool_limits(1):
            for k in range(m):
                imp = MultilevelIterativeImputer(cluster=cluster, predictor_matrix=pm,
                                                 methods={"y": method}, max_iter=5,
                                                 random_state=k)
                imp.fit_transform(sim.data).to_csv(Path(tmp, f"skmice_{k + 1}.csv"),
                                                   index=False)
        sk_seconds = time.perf_counter() - t0
        Path(tmp, "run.R").write_text(script)
        done = subprocess.run(["Rscript", str(Path(tmp, "run.R")), tmp, *args],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return sk_seconds, done.stderr.strip().splitlines()[-1]
        return sk_seconds, json.loads(Path(tmp, "out.json").read_text())


def part_r(reps: int, m: int) -> None:
    if shutil.which("Rscript") is None:
        _append("Side by side with miceadds' ml.lmer", "Rscript not found: not run.")
        return
    rows, order = [], {}
    for design, spec in DESIGNS.items():
        for rep in range(reps):
            sim = spec["make"](20_000 + rep)
            sk_seconds, res = _side_by_side(sim, spec["setups"]["ml.norm"], m, R_SCRIPT,
                                            [design, str(m)])
            if isinstance(res, str):
                rows.append({"design": design, "rep": rep, "setup": "ml.lmer", "error": res})
                continue
            order[design] = ["setup", "seconds", *res["complete"]]
            for label, key, seconds in [("complete data", "complete", 0.0),
                                        ("ml.lmer (miceadds)", "ml_lmer", res["seconds"]),
                                        ("ml.norm (skmice)", "skmice", sk_seconds)]:
                rows.append({"design": design, "rep": rep, "setup": label, "seconds": seconds,
                             **res[key]})
    df = pd.DataFrame(rows)
    parts = []
    for design, g in df.groupby("design", sort=False):
        tab = g.drop(columns=["design", "rep"]).groupby("setup", sort=False).mean(
            numeric_only=True).reset_index()
        tab = tab[[c for c in order.get(design, tab.columns) if c in tab.columns]]
        parts.append(f"**{design}** ({reps} data sets, seeds 20000...; means over data sets "
                     "of the estimates averaged over the m imputations; seconds: the m "
                     "imputations)\n\n" + _table(tab))
    if "error" in df:
        errors = df["error"].dropna()
        if len(errors):
            parts.append("R errors: " + "; ".join(errors.astype(str)))
    note = (f"m = {m}, maxit = 5; miceadds' `ml.lmer` with `levels_id`, `random_slopes` "
            "(three-level: x at school) and `variables_levels` (required: its default NULL "
            "stops `ml.lmer`); skmice's `ml.norm` with the same model. Both analysed by lme4.")
    _append("Side by side with miceadds' ml.lmer", note + "\n\n" + "\n\n".join(parts))


# ---------------------------------------------------------------------------
# binary targets: ml.bin against 2l.bin, and miceadds' ml.lmer(model = "binary")
# ---------------------------------------------------------------------------

BINARY_SETUPS = {
    "ml.bin": (["class", "school"], "ml.bin"),
    "2l.bin on classes": ("class", "2l.bin"),
    "2l.bin on schools": ("school", "2l.bin"),
}
BINARY_VC = ["var(class)", "var(school)"]


def _binary_data(seed: int):
    sim = make_three_level(n_schools=30, n_classes=4, n_pupils=10, icc_class=0.3,
                           icc_school=0.5, var_slope=0.0, missing_rate=0.3, outcome="binary",
                           random_state=seed)
    sim.predictor_matrix.loc["y", "x"] = 1  # no random slope
    return sim


def _analyse_binary(d: pd.DataFrame, seed: int) -> dict:
    """Posterior means and variances of the three-level logistic model on complete data."""
    n = len(d)
    X = np.column_stack([np.ones(n), d["x"], d["class_size"], d["school_ses"]])
    design = Design(X=X, levels=[
        Level(d["class"].to_numpy() - 1, int(d["class"].max()), X[:, :1].copy(), np.array([0]),
              "class"),
        Level(d["school"].to_numpy() - 1, int(d["school"].max()), name="school")])
    method = MultilevelLogistic(n_burnin=60)
    rng = np.random.default_rng(seed)
    y = d["y"].to_numpy(dtype=float)
    draws = []
    for _ in range(300):
        method.fit(design, y, rng)
        draws.append(np.r_[method.beta_, [p[0, 0] for p in method.psi_]])
    draws = np.array(draws)
    p = X.shape[1]
    return {"beta": draws[:, :p].mean(0), "var_beta": draws[:, :p].var(0),
            "vc": draws[:, p:].mean(0)}


def _binary_replication(rep: int, m: int, max_iter: int) -> list[dict]:
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = _binary_data(30_000 + rep)
        beta_true = np.array(list(sim.truth["fixed"].values()))
        n = len(sim.data)
        rows = []
        setups = {"complete data": None, **BINARY_SETUPS}
        for label, setup in setups.items():
            if setup is None:
                fits, seconds = [_analyse_binary(sim.complete, rep)], 0.0
            else:
                fits, seconds = _impute_and_analyse(sim, setup, m, max_iter, rep,
                                                    _analyse_binary)
            rows.append({"rep": rep, "setup": label, "seconds": seconds,
                         **_pooled(fits, beta_true, n)})
    return rows


R_BINARY_SCRIPT = r"""
suppressMessages({library(mice); library(miceadds); library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; m <- as.integer(args[2])
d <- read.csv(file.path(dir, "data.csv"))
meth <- make.method(d); meth[] <- ""; meth["y"] <- "ml.lmer"
pred <- make.predictorMatrix(d); pred[, ] <- 0; pred["y", c("x", "class_size", "school_ses")] <- 1
variables_levels <- c(school = "", class = "", pupil = "", x = "", class_size = "class",
                      school_ses = "school", y = "")
warns <- character(0)
t0 <- proc.time()[["elapsed"]]
imp <- withCallingHandlers(
  mice(d, method = meth, predictorMatrix = pred, m = m, maxit = 5, printFlag = FALSE, seed = 1,
       blots = list(y = list(levels_id = c("class", "school"), model = "binary",
                             variables_levels = variables_levels))),
  warning = function(w) {warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")})
seconds <- proc.time()[["elapsed"]] - t0
analyse <- function(data) {
  f <- glmer(y ~ 1 + x + class_size + school_ses + (1 | class) + (1 | school), data = data,
             family = binomial)
  v <- as.data.frame(VarCorr(f))
  c(fixef(f), setNames(v$vcov, paste0("var(", v$grp, ")")))
}
mean_of <- function(datasets) rowMeans(sapply(datasets, analyse))
own <- lapply(seq_len(m), function(k) complete(imp, k))
sk <- lapply(seq_len(m), function(k) read.csv(file.path(dir, sprintf("skmice_%d.csv", k))))
out <- list(seconds = seconds, warnings = length(warns), ml_lmer = as.list(mean_of(own)),
            skmice = as.list(mean_of(sk)),
            complete = as.list(analyse(read.csv(file.path(dir, "complete.csv")))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = 10), file.path(dir, "out.json"))
"""


def _binary_r(r_reps: int, m: int) -> str:
    """miceadds' ml.lmer(model = "binary") and ml.bin on the same data sets, timed."""
    if r_reps <= 0:
        return ""
    if shutil.which("Rscript") is None:
        return "Rscript not found: miceadds' ml.lmer not run."
    rows, errors = [], []
    for rep in range(r_reps):
        sim = _binary_data(40_000 + rep)
        sk_seconds, res = _side_by_side(sim, BINARY_SETUPS["ml.bin"], m, R_BINARY_SCRIPT,
                                        [str(m)])
        if isinstance(res, str):
            errors.append(f"data set {rep}: {res}")
            continue
        for label, key, seconds in [("complete data", "complete", 0.0),
                                    ("ml.lmer binary (miceadds)", "ml_lmer", res["seconds"]),
                                    ("ml.bin (skmice)", "skmice", sk_seconds)]:
            rows.append({"rep": rep, "setup": label, "seconds": seconds,
                         "R warnings": float(res["warnings"]) if key == "ml_lmer" else 0.0,
                         **res[key]})
    out = (f"miceadds' `ml.lmer` with `model = \"binary\"`, `levels_id = c(\"class\", "
           f"\"school\")` and `variables_levels` against `ml.bin`, on {r_reps} data sets of "
           f"the same design (seeds 40000...); m = {m}, maxit = 5; every completed data set "
           "analysed by lme4's `glmer` (the true model); means over data sets of the "
           "estimates averaged over the m imputations; seconds: the m imputations.")
    if rows:
        tab = pd.DataFrame(rows).drop(columns=["rep"]).groupby("setup", sort=False).mean(
            numeric_only=True).reset_index()
        out += "\n\n" + _table(tab)
    if errors:
        out += "\n\nR errors: " + "; ".join(errors)
    return out


def part_binary(reps: int, m: int, max_iter: int, n_jobs: int, r_reps: int) -> None:
    t0 = time.perf_counter()
    jobs = Parallel(n_jobs=n_jobs)(
        delayed(_binary_replication)(r, m, max_iter) for r in range(reps))
    df = pd.DataFrame([row for rows in jobs for row in rows])
    sim = _binary_data(0)
    beta_true = np.array(list(sim.truth["fixed"].values()))
    vc_true = np.array([sim.truth["var_class"], sim.truth["var_school"]])
    fixed_names = list(sim.truth["fixed"])
    tab = _summary(df, fixed_names, BINARY_VC, vc_true, beta_true)
    truth = ", ".join(f"{k} = {v:g}" for k, v in
                      zip(fixed_names + BINARY_VC, [*beta_true, *vc_true]))
    note = (f"{reps} replications of 30 schools x 4 classes x 10 pupils, binary `y` "
            f"(`make_three_level(outcome=\"binary\")`; truth, logit scale: {truth}), 30% "
            f"missing at random; m = {m}, max_iter = {max_iter}. Each completed data set "
            "analysed by the three-level logistic model (posterior means and variances of a "
            "300-draw `ml.bin` chain on the completed data), pooled by Rubin's rules: coverage "
            f"of nominal 95% intervals (Monte Carlo SE {np.sqrt(0.95 * 0.05 / reps):.3f}), bias "
            "of the pooled fixed effects, relative bias of the level variances (mean of the "
            "averaged posterior means / truth - 1; the complete-data row, analysed the same "
            "way, is the reference). "
            f"{time.perf_counter() - t0:.0f} s in all (machine shared with other jobs).")
    body = note + "\n\n" + _table(tab)
    r_part = _binary_r(r_reps, m)
    if r_part:
        body += "\n\n" + r_part
    _append("Binary targets: ml.bin against 2l.bin (three-level)", body)


def main(argv=None) -> None:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["coverage", "mixing", "speed", "r", "binary"],
                    required=True)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--max-iter", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--design", choices=list(DESIGNS), action="append",
                    help="coverage: only this design (repeatable; default both)")
    ap.add_argument("--r-reps", type=int, default=3,
                    help="binary: data sets for miceadds' ml.lmer side by side (0: none)")
    ap.add_argument("--out", type=Path, default=OUT, help="the markdown file to append to")
    args = ap.parse_args(argv)
    OUT = args.out
    if args.part == "coverage":
        part_coverage(args.reps, args.m, args.max_iter, args.n_jobs, args.design)
    elif args.part == "mixing":
        part_mixing(args.chains, args.draws, args.n_jobs)
    elif args.part == "r":
        part_r(args.reps, args.m)
    elif args.part == "binary":
        part_binary(args.reps, args.m, args.max_iter, args.n_jobs, args.r_reps)
    else:
        part_speed(args.m, args.max_iter)


if __name__ == "__main__":
    main()
