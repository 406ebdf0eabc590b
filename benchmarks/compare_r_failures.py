"""Degenerate shapes on which R mice stops, and skmice on the same data.

Two shapes of real clustered data (tests/test_degenerate.py tests skmice on
them without R):

* ``one observed row``: 30 clusters of 8 rows, y with a random slope of x,
  and one cluster with exactly one observed y; R's ``2l.lmer`` stops with
  "non-conformable arguments" (a one-row design loses its matrix shape);
* ``few clusters``: 3 clusters of 40 rows, y with a random slope of x; R's
  ``2l.norm`` draws the random-effect covariance from an improper Wishart
  (``N - q - 1`` degrees of freedom) and stops with "the leading minor of
  order 1 is not positive definite".

For each shape, each method (R's and skmice's of the same name) and three
seeds, the run completes or fails; skmice's rows also give the mean of the
imputed y (pooled over the m = 5 imputations) against the true mean of
the deleted values. Results go to
``results/r_failures.md``.

Usage::

    python benchmarks/compare_r_failures.py
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "r_failures.md"


def one_observed_row(seed=10):
    """30 clusters of 8 rows; cluster 5 has exactly one observed y."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 8)
    n = g.size
    x = rng.standard_normal(n)
    u0, u1 = rng.standard_normal(30), 0.5 * rng.standard_normal(30)
    y = 1 + x + u0[g] + u1[g] * x + 0.6 * rng.standard_normal(n)
    d = pd.DataFrame({"g": g + 1, "x": x, "y": y})
    d.loc[rng.random(n) < 0.3, "y"] = np.nan
    rows = d.index[d["g"] == 5]  # one observed row: the first
    d.loc[rows[1:], "y"] = np.nan
    d.loc[rows[0], "y"] = y[rows[0]]
    return d, y


def few_clusters(seed=12):
    """3 clusters of 40 rows, y with a random slope of x."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(3), 40)
    n = g.size
    x = rng.standard_normal(n)
    y = 1 + x + rng.standard_normal(3)[g] + 0.3 * rng.standard_normal(3)[g] * x
    y = y + 0.6 * rng.standard_normal(n)
    d = pd.DataFrame({"g": g + 1, "x": x, "y": y})
    d.loc[rng.random(n) < 0.3, "y"] = np.nan
    return d, y


SHAPES = {"one observed row": one_observed_row, "few clusters": few_clusters}
METHODS = ["2l.lmer", "2l.pan", "2l.norm"]


def _skmice(data, method, seed):
    from skmice import MultilevelIterativeImputer, make_predictor_matrix, multiple_impute

    pm = make_predictor_matrix(data, cluster="g")
    pm.loc["y", "x"] = 2
    imp = MultilevelIterativeImputer(cluster="g", methods={"y": method}, predictor_matrix=pm,
                                     max_iter=5)
    try:
        mi = multiple_impute(data, imp, n_imputations=5, random_state=seed)
    except Exception as exc:  # noqa: BLE001 - the table records any failure
        return f"error: {exc}", np.nan
    mis = data["y"].isna()
    return "completed", float(np.mean([d.loc[mis, "y"].mean() for d in mi]))


def _r(csv, method, seed):
    script = HERE / "r" / "impute_shape.R"
    try:
        proc = subprocess.run(["Rscript", str(script), str(csv), method, "x", str(seed)],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "error: timed out"
    line = (proc.stdout.strip().splitlines() or ["error: " + proc.stderr.strip()[-200:]])[-1]
    return line.strip()


def main() -> int:
    have_r = shutil.which("Rscript") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape, make in SHAPES.items():
            data, y_full = make()
            csv = Path(tmp) / "data.csv"
            data.to_csv(csv, index=False, na_rep="NA")
            observed = float(y_full[data["y"].isna().to_numpy()].mean())
            for method in METHODS:
                for seed in (1, 2, 3):
                    r = _r(csv, method, seed) if have_r else "R not installed"
                    sk, mean = _skmice(data, method, seed)
                    rows.append((shape, method, seed, r, sk, mean, observed))
                    print(rows[-1], flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"## {stamp} UTC on {platform.node()} ({os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()})",
        "",
        "Command: `python benchmarks/compare_r_failures.py` (m = 5, maxit = 5; y with a random "
        "slope of x)",
        "",
        "| shape | method | seed | R mice | skmice | skmice: mean of imputed y | true mean of "
        "the missing y |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for shape, method, seed, r, sk, mean, obs in rows:
        lines.append(f"| {shape} | {method} | {seed} | {r} | {sk} | {mean:.3f} | {obs:.3f} |")
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
