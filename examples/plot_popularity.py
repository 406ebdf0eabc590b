"""
How (not) to impute clustered data: the popularity case study
=============================================================

Pupils (2,000) in schools (100) rate their popularity; 42% of the
popularity scores are missing, more often for boys. The analysis model is
``popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)``: a random
intercept and a random slope of ``sex`` over schools, and ``texp``, the
teacher's experience, a school-level variable.

We compare, against the simulator's truth:

1. complete cases (listwise deletion);
2. single-level PMM that ignores the schools;
3. the schools as fixed dummies (one indicator column per school, single
   level ``norm``);
4. two-level PMM (``2l.pmm``);
5. the two-level normal model (``2l.pan``);
6. the heteroscedastic two-level model (``2l.norm``).

Ignoring the clusters shrinks the intercept variance and the ICC; fixed
dummies overstate them; the two-level models recover them. The predictor
matrix comes from the analysis formula
(:func:`skmice.predictor_matrix_from_formula`), so the imputation model
contains every term of the analysis model.

Run it as a script (``python examples/plot_popularity.py``) or import it and
call ``main(quick=True)`` for a two-imputation smoke run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmice import MultilevelIterativeImputer, multiple_impute, predictor_matrix_from_formula
from skmice.datasets import make_popularity
from skmice.demo import fit_popularity_model

FORMULA = "popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)"
TERMS = ["Intercept", "sex", "texp", "sex:texp"]

# %%
# The data and the imputation model
# ---------------------------------
# ``predictor_matrix_from_formula`` reads the analysis formula: ``school`` is
# the cluster (-2), ``sex`` has a random slope (2), ``texp`` and the added
# product column ``sex_texp`` are fixed effects (1); ``teachpop`` is an
# auxiliary variable.


def imputation_model(data: pd.DataFrame):
    """The predictor matrix, methods and data (with ``sex_texp``) from the formula."""
    design = predictor_matrix_from_formula(FORMULA, data, auxiliary=["teachpop"])
    return design


def _dummy_setup(data: pd.DataFrame, predictor_matrix: pd.DataFrame):
    """Data with one indicator per school (but the first) as single-level predictors."""
    dummies = pd.get_dummies(data["school"], prefix="school", drop_first=True, dtype=float)
    wide = pd.concat([data, dummies], axis=1)
    cols = list(wide.columns)
    pm = predictor_matrix.reindex(index=cols, columns=cols, fill_value=0)
    pm.loc["popular", "school"] = 0
    pm.loc["popular", pm.loc["popular"] == 2] = 1
    pm.loc["popular", list(dummies.columns)] = 1
    return wide, pm


def _summarise(fit) -> dict:
    cov_re = np.asarray(fit.cov_re)
    out = {t: float(fit.fe_params[t]) for t in TERMS}
    out["var(intercept)"] = float(cov_re[0, 0])
    out["var(sex)"] = float(cov_re[1, 1])
    out["var(residual)"] = float(fit.scale)
    out["ICC"] = out["var(intercept)"] / (out["var(intercept)"] + out["var(residual)"])
    return out


def _pooled(fits) -> dict:
    """Rubin's rules for the fixed effects, averages for the variance components."""
    from skmice.analysis import MultipleAnalyses

    pooled = MultipleAnalyses(fits).pool()
    out = {t: float(pooled.loc[t, "estimate"]) for t in TERMS}
    extra = pd.DataFrame([_summarise(f) for f in fits]).mean()
    out.update({k: float(extra[k]) for k in ["var(intercept)", "var(sex)", "var(residual)", "ICC"]})
    out["fmi(sex)"] = float(pooled.loc["sex", "fmi"])
    return out


# %%
# Fit every approach and tabulate
# -------------------------------


def compare(quick: bool = False, random_state: int = 2024) -> pd.DataFrame:
    """Pooled estimates and ICC of every approach against the truth.

    Parameters
    ----------
    quick : bool, default=False
        2 imputations of 3 iterations, 30 schools (a smoke run) instead of
        20 imputations of 10 iterations and 100 schools.
    random_state : int, default=2024

    Returns
    -------
    DataFrame
        Rows: parameters; columns: truth, complete data, each approach.
    """
    m, max_iter, n_schools = (2, 3, 30) if quick else (20, 10, 100)
    sim = make_popularity(n_schools=n_schools, random_state=random_state)
    data = sim.data.drop(columns="pupil")
    design = imputation_model(data)
    truth = dict(sim.truth["fixed"])
    truth.update(
        {
            "var(intercept)": sim.truth["var_intercept"],
            "var(sex)": sim.truth["var_slope"],
            "var(residual)": sim.truth["var_residual"],
            "ICC": sim.truth["icc"],
        }
    )
    table = {"truth": truth, "complete data": _summarise(fit_popularity_model(sim.complete))}
    table["complete cases"] = _summarise(fit_popularity_model(design.data.dropna()))

    single = design.predictor_matrix.copy()
    single.loc["popular", "school"] = 0
    single.loc["popular", single.loc["popular"] == 2] = 1
    wide, dummy_pm = _dummy_setup(design.data, design.predictor_matrix)
    configs = [
        ("pmm, cluster ignored", design.data, {"popular": "pmm"}, single, None),
        ("norm, school dummies", wide, {"popular": "norm"}, dummy_pm, None),
        ("2l.pmm", design.data, {"popular": "2l.pmm"}, design.predictor_matrix, "school"),
        ("2l.pan", design.data, {"popular": "2l.pan"}, design.predictor_matrix, "school"),
        ("2l.norm", design.data, {"popular": "2l.norm"}, design.predictor_matrix, "school"),
    ]
    for label, frame, methods, pm, cluster in configs:
        imputer = MultilevelIterativeImputer(
            methods=methods, predictor_matrix=pm, cluster=cluster, max_iter=max_iter
        )
        mi = multiple_impute(frame, imputer, n_imputations=m, random_state=random_state)
        table[label] = _pooled([fit_popularity_model(d) for d in mi])
    return pd.DataFrame(table)


# %%
# Plots (when skmice.plotting and matplotlib are available)
# ---------------------------------------------------------


def plots(quick: bool = False, random_state: int = 2024):
    """Missing-data pattern, correlations, predictor matrix and traces.

    Returns the list of matplotlib figures, or an empty list when
    :mod:`skmice.plotting` (or matplotlib) is not available.
    """
    try:
        import matplotlib.pyplot as plt

        from skmice.plotting import plot_corr, plot_pattern, plot_pred, plot_trace
    except ImportError:
        return []
    sim = make_popularity(n_schools=30 if quick else 100, random_state=random_state)
    design = imputation_model(sim.data.drop(columns="pupil"))
    imputer = MultilevelIterativeImputer(
        methods={"popular": "2l.pmm"},
        cluster="school",
        predictor_matrix=design.predictor_matrix,
        max_iter=3 if quick else 20,
    )
    mi = multiple_impute(
        design.data, imputer, n_imputations=2 if quick else 5, random_state=random_state
    )
    figures = []
    for draw in (
        lambda: plot_pattern(design.data),
        lambda: plot_corr(design.data),
        lambda: plot_pred(design.predictor_matrix),
        lambda: plot_trace(mi),
    ):
        obj = draw()
        first = obj[0] if isinstance(obj, (list, tuple, np.ndarray)) else obj
        first = np.ravel(first)[0] if isinstance(first, np.ndarray) else first
        figures.append(first if hasattr(first, "savefig") else first.figure)
    if quick:
        for fig in figures:
            plt.close(fig)
    return figures


def main(quick: bool = False) -> pd.DataFrame:
    """Print the imputation model and the comparison table; draw the plots.

    Parameters
    ----------
    quick : bool, default=False
        A small, fast run (smoke test).

    Returns
    -------
    DataFrame
        The comparison table.
    """
    sim = make_popularity(n_schools=30 if quick else 100, random_state=2024)
    design = imputation_model(sim.data.drop(columns="pupil"))
    print("Imputation model from", FORMULA)
    print(design.predictor_matrix.loc[["popular"]].to_string())
    for note in design.notes:
        print(" -", note)
    table = compare(quick=quick)
    with pd.option_context("display.width", 200):
        print(table.round(3).to_string())
    plots(quick=quick)
    return table


if __name__ == "__main__":
    main()
    try:
        import matplotlib.pyplot as plt

        plt.show()
    except ImportError:
        pass
