"""The analysis side of multiple imputation: skmice.mixed against lme4 + mitml and statsmodels.

Two parts, appended to ``benchmarks/results/mixed.md``:

* ``popmis``: R mice's ``popmis`` (2,000 pupils in 100 schools, ``popular``
  missing), m = 50, the tutorial's model ``popular ~ sex * texp + (1 + sex |
  school)``. End to end, wall-clock seconds: skmice (``2l.pan`` imputation,
  ``analyze_mixed``, ``pool`` and ``pool_extra``) against R (mice ``2l.pan``,
  ``with(imp, lmer(...))``, ``mitml::testEstimates``, timed inside R) and against
  statsmodels' MixedLM as the analysis of skmice's imputations. Then skmice's
  50 completed datasets are analysed by lme4 + mitml in R, and the pooled
  tables compared.
* ``large``: 200,000 rows in 10,000 clusters (``make_popularity``), one random
  slope: one fit by skmice, lme4 and statsmodels (statsmodels in a subprocess
  capped by ``--timeout``).
* ``several``: several grouping factors at ``--rows`` rows (default 100,000
  and 1,000,000): pupils in classes in schools (``make_three_level``, 100
  or 1,000 schools, 10 classes each; random intercepts, and a random slope at
  the school level) and pupils in 1,000 schools crossed with 100
  neighbourhoods (``make_crossed``). One fit each by skmice, lme4 and, where
  it can express the model (variance components within schools), statsmodels
  MixedLM (capped by ``--timeout``).

BLAS runs on one thread on both sides (skmice limits it itself; R gets
``OPENBLAS_NUM_THREADS=1``). Run from the repository root::

    python benchmarks/bench_mixed.py                 # both parts
    python benchmarks/bench_mixed.py --part large --timeout 600
    python benchmarks/bench_mixed.py --part several --rows 100000 1000000
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

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice._sim_levels import make_crossed, make_three_level
from skmice.datasets import make_popularity
from skmice.mixed import lmer

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "r" / "bench_mixed.R"
RESULTS = HERE / "results" / "mixed.md"
FORMULA = "popular ~ sex * texp + (1 + sex | school)"
COLUMNS = [("estimate", "Estimate"), ("std_error", "Std.Error"), ("statistic", "t.value"),
           ("df", "df"), ("p_value", "P(>|t|)"), ("riv", "RIV"), ("fmi", "FMI")]


def rscript(*args) -> None:
    """Run the R side; stop with R's message when it fails."""
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: install R, mice, lme4 and mitml (benchmarks/install_r.sh).")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["Rscript", str(R_SCRIPT), *map(str, args)], capture_output=True,
                         text=True, env=env)
    if res.returncode:
        sys.exit(f"R failed ({' '.join(map(str, args))}):\n{res.stderr[-2000:]}")


def read_json(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def r_table(res: dict) -> pd.DataFrame:
    return pd.DataFrame(res["estimates"], index=res["terms"], columns=res["columns"])


def statsmodels_fit(d):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm("popular ~ sex * texp", d, groups="school", re_formula="~sex").fit()


def part_popmis(tmp: Path, args) -> str:
    m, max_iter = args.m, args.max_iter
    csv = tmp / "popmis.csv"
    rscript("export-popmis", csv)
    data = pd.read_csv(csv)
    cols = ["school", "popular", "sex", "texp"]
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["popular", ["school", "sex", "texp"]] = [-2, 2, 1]
    imputer = MultilevelIterativeImputer(cluster="school", methods={"popular": "2l.pan"},
                                         predictor_matrix=pm, max_iter=max_iter)
    timings = {}
    for n_jobs in (1, 2):
        t0 = time.perf_counter()
        mi = multiple_impute(data, imputer, n_imputations=m, random_state=1, n_jobs=n_jobs)
        t1 = time.perf_counter()
        fits = mi.analyze_mixed(FORMULA, n_jobs=n_jobs)
        t2 = time.perf_counter()
        table, extra = fits.pool(), fits.pool_extra()
        t3 = time.perf_counter()
        timings[n_jobs] = (t1 - t0, t2 - t1, t3 - t2, t3 - t0)
    # statsmodels as the analysis of the same imputations
    t0 = time.perf_counter()
    sm_fits = mi.analyze(statsmodels_fit)
    sm_table = sm_fits.pool()
    sm_seconds = time.perf_counter() - t0
    # R end to end
    r_out = tmp / "r_end_to_end.json"
    rscript("end-to-end", m, max_iter, 1, r_out)
    r = read_json(r_out)
    # lme4 + mitml on skmice's completed datasets
    long = tmp / "skmice_long.csv"
    mi.long().drop(columns=".id").to_csv(long, index=False)
    a_out = tmp / "r_analyse.json"
    rscript("analyse", long, a_out)
    same = read_json(a_out)
    ref = r_table(same)
    diffs = []
    for ours, theirs in COLUMNS:
        d = np.abs(table[ours].to_numpy() - ref[theirs].to_numpy())
        text = f"{ours} {d.max():.1e}"
        if ours in ("statistic", "df"):  # large values: their relative difference
            text += f" (relative {(d / np.abs(ref[theirs].to_numpy())).max():.1e})"
        diffs.append(text)
    r_extra = pd.Series(same["extra"], index=same["extra_names"])
    extra_diff = float(np.abs(extra[r_extra.index] - r_extra).max())
    sm_diff = float(np.abs(sm_table["estimate"] - table["estimate"]).max())
    s1, s2 = timings[1], timings[2]
    lines = [
        f"popmis (2,000 pupils, 100 schools), m = {m}, max_iter = maxit = {max_iter}, "
        f"model `{FORMULA}`. Wall-clock seconds.",
        "",
        "| | impute | analyse | pool | end to end | vs R |",
        "|---|---:|---:|---:|---:|---:|",
        f"| R: mice 2l.pan + lmer + mitml (timed in R) | {r['impute_seconds']:.2f} | "
        f"{r['analyse_seconds']:.2f} | {r['pool_seconds']:.2f} | {r['total_seconds']:.2f} | 1 |",
        f"| skmice 2l.pan + analyze_mixed + pool, n_jobs = 1 | {s1[0]:.2f} | {s1[1]:.3f} | "
        f"{s1[2]:.3f} | {s1[3]:.2f} | {r['total_seconds'] / s1[3]:.0f}x faster |",
        f"| skmice, n_jobs = 2 | {s2[0]:.2f} | {s2[1]:.3f} | {s2[2]:.3f} | {s2[3]:.2f} | "
        f"{r['total_seconds'] / s2[3]:.0f}x faster |",
        f"| skmice 2l.pan + statsmodels MixedLM + pool | {s1[0]:.2f} | {sm_seconds:.2f} | | "
        f"{s1[0] + sm_seconds:.2f} | {r['total_seconds'] / (s1[0] + sm_seconds):.1f}x |",
        "",
        f"lme4 + mitml on skmice's {m} completed datasets (lmer {same['analyse_seconds']:.2f} s, "
        f"testEstimates {same['pool_seconds']:.2f} s) against `analyze_mixed(...).pool()`, "
        "max abs difference per column (pool()'s default dfcom = inf is mitml's Rubin df): "
        + "; ".join(diffs) + f". pool_extra() against extra.pars: {extra_diff:.1e}. "
        f"statsmodels MixedLM's pooled estimates differ from skmice's by up to {sm_diff:.1e}.",
        "",
        "Pooled by skmice (fixed effects; mitml's table on the same data agrees as above):",
        "",
        "```",
        table[["estimate", "std_error", "statistic", "df", "p_value", "riv", "fmi"]]
        .round(5).to_string(),
        "",
        extra.round(5).to_string(),
        "```",
        "",
        "R's own imputations (mice 2l.pan, seed 1), pooled by mitml:",
        "",
        "```",
        r_table(r).round(5).to_string(),
        "```",
    ]
    return "\n".join(lines) + "\n"


_STATSMODELS_PROBE = r"""
import sys, time, warnings, pandas as pd, statsmodels.formula.api as smf
d = pd.read_csv(sys.argv[1])
warnings.simplefilter("ignore")
t0 = time.perf_counter()
fit = smf.mixedlm("popular ~ sex * texp", d, groups="school", re_formula="~sex").fit()
print(time.perf_counter() - t0, *fit.fe_params.tolist())
"""


def run_probe(code: str, argv: list, timeout: float, params) -> tuple:
    """Seconds of a statsmodels fit run in a subprocess, and its largest difference to ``params``.

    ``code`` prints the seconds and the fixed effects; both are returned as
    text for the tables (``"> timeout (stopped)"`` or ``"failed"`` otherwise).
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", code, *map(str, argv)],
                             capture_output=True, text=True, timeout=timeout, env=env)
        seconds, *theirs = map(float, out.stdout.split())
        return f"{seconds:.1f}", f"{np.abs(np.asarray(params) - np.array(theirs)).max():.1e}"
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} (stopped)", "n/a"
    except ValueError:
        return "failed", "n/a"


def part_large(tmp: Path, args) -> str:
    sim = make_popularity(n_schools=args.clusters, min_size=10, max_size=30, random_state=0)
    data = sim.complete.drop(columns="pupil")
    csv = tmp / "large.csv"
    data.to_csv(csv, index=False)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fit = lmer(FORMULA, data)
        times.append(time.perf_counter() - t0)
    r_out = tmp / "r_fit.json"
    rscript("fit", csv, r_out)
    r = read_json(r_out)
    r_diff = float(np.abs(fit.params.to_numpy() - np.array(list(r["fixef"].values()))).max())
    sm_text, sm_diff = run_probe(_STATSMODELS_PROBE, [csv], args.timeout, fit.params)
    return (
        f"{data.shape[0]:,} rows in {args.clusters:,} clusters, `{FORMULA}`, REML, one fit. "
        "Seconds (wall clock; skmice from the DataFrame, design and sufficient statistics "
        "included; lme4 timed in R around lmer()).\n\n"
        "| | seconds | max abs diff of fixed effects vs skmice |\n|---|---:|---:|\n"
        f"| skmice.mixed.lmer (first call; best of {args.repeat}) | {times[0]:.3f}; "
        f"{min(times):.3f} | |\n"
        f"| lme4::lmer | {r['seconds']:.2f} | {r_diff:.1e} |\n"
        f"| statsmodels MixedLM | {sm_text} | {sm_diff} |\n"
        f"\nskmice: llf {fit.llf:.4f}, lme4: {r['loglik']:.4f}; theta "
        f"{np.round(fit.theta, 6).tolist()} vs {np.round(r['theta'], 6).tolist()}.\n"
    )


_STATSMODELS_VC = r"""
import sys, time, warnings, pandas as pd, statsmodels.formula.api as smf
d = pd.read_csv(sys.argv[1])
warnings.simplefilter("ignore")
t0 = time.perf_counter()
fit = smf.mixedlm(sys.argv[2], d, groups="school", re_formula="1",
                  vc_formula={"class": "0 + C(Q('class'))"}).fit()
print(time.perf_counter() - t0, *fit.fe_params.tolist())
"""

#: (simulator, formula, statsmodels fixed part or None) of the part "several"
SEVERAL = [
    ("three_level", "y ~ x + class_size + school_ses + (1 | school/class)",
     "y ~ x + class_size + school_ses"),
    ("three_level", "y ~ x + school_ses + (1 + x | school) + (1 | class)", None),
    ("crossed", "y ~ x + school_ses + deprivation + (1 | school) + (1 | neighbourhood)", None),
]


def _several_data(kind: str, rows: int) -> pd.DataFrame:
    if kind == "three_level":
        schools = 100 if rows <= 200_000 else 1000
        return make_three_level(n_schools=schools, n_classes=10,
                                n_pupils=rows // (10 * schools), random_state=0).complete
    return make_crossed(n_rows=rows, n_schools=1000, n_neighbourhoods=100,
                        random_state=0).complete


def part_several(tmp: Path, args) -> str:
    lines = [
        "Several grouping factors, REML, one fit each. Seconds (wall clock; skmice from the "
        "DataFrame, design and cross-products included, first call and best of "
        f"{args.repeat}; lme4 timed in R around lmer(); statsmodels MixedLM with the classes "
        "as a variance component within schools, where it can express the model). The machine "
        "is shared: timings are indicative.",
        "",
        "| rows | model | levels | skmice | lme4 | statsmodels | max abs diff of fixed "
        "effects (lme4; statsmodels) | llf skmice - lme4 |",
        "|---:|---|---|---:|---:|---:|---|---:|",
    ]
    for rows in args.rows:
        for kind, formula, sm_fixed in SEVERAL:
            data = _several_data(kind, rows)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fit = lmer(formula, data)
                times.append(time.perf_counter() - t0)
            csv = tmp / "several.csv"
            data.to_csv(csv, index=False)
            r_out = tmp / "r_several.json"
            rscript("fit-formula", csv, formula, r_out)
            r = read_json(r_out)
            r_diff = np.abs(fit.params.to_numpy() - np.array(list(r["fixef"].values()))).max()
            sm_text, sm_diff = "n/a", "n/a"
            if sm_fixed is not None:
                sm_text, sm_diff = run_probe(_STATSMODELS_VC, [csv, sm_fixed], args.timeout,
                                             fit.params)
            levels = ", ".join(f"{g} {n:,}" for g, n in fit.n_groups.items())
            lines.append(
                f"| {len(data):,} | `{formula}` | {levels} | {times[0]:.2f}; {min(times):.2f} | "
                f"{r['seconds']:.2f} | {sm_text} | {r_diff:.1e}; {sm_diff} | "
                f"{fit.llf - r['loglik']:.1e} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["popmis", "large", "several"],
                        choices=["popmis", "large", "several"])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="rows of the datasets of the part 'several'")
    parser.add_argument("--m", type=int, default=50)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    RESULTS.parent.mkdir(exist_ok=True)
    command = "python benchmarks/bench_mixed.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for part in args.part:
            t0 = time.perf_counter()
            body = {"popmis": part_popmis, "large": part_large,
                    "several": part_several}[part](tmp, args)
            now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
            text = (f"\n## {part}: {now} on {platform.node()} ({os.cpu_count()} cores)\n\n"
                    f"Command: `{command.strip()}`\n\n{body}\n"
                    f"Wall time of the part: {time.perf_counter() - t0:.0f} s.\n")
            if not RESULTS.exists():
                RESULTS.write_text("# Mixed-model analyses: skmice.mixed, lme4 + mitml, "
                                   "statsmodels\n\nWritten by `benchmarks/bench_mixed.py`.\n")
            with open(RESULTS, "a") as fh:
                fh.write(text)
            print(text, flush=True)


if __name__ == "__main__":
    main()
