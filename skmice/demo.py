"""The popularity case study on simulated data (``skmice demo``).

Pupils in schools, popularity missing at random: how (not) to impute
clustered data. Compares, against the simulator's truth and the complete
data: listwise deletion, single-level PMM that ignores the schools, and the
two-level methods. The analysis model is the tutorial's
``popular ~ sex * texp + (1 + sex | school)`` fitted by statsmodels' MixedLM
on each completed dataset and pooled by Rubin's rules.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ._imputer import MultilevelIterativeImputer
from ._multiple import multiple_impute
from .datasets import make_popularity

__all__ = ["fit_popularity_model", "popularity_setup", "run_demo"]

_TERMS = ["Intercept", "sex", "texp", "sex:texp"]


def fit_popularity_model(data: pd.DataFrame):
    """Fit ``popular ~ sex * texp + (1 + sex | school)`` with statsmodels MixedLM.

    Parameters
    ----------
    data : DataFrame
        Complete popularity data.

    Returns
    -------
    statsmodels MixedLMResults
    """
    import warnings

    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("popular ~ sex * texp", data, groups="school",
                            re_formula="~sex")
        return model.fit(reml=True, method=["lbfgs"])


def _summarise(fit) -> dict:
    fe = fit.fe_params
    cov_re = np.asarray(fit.cov_re)
    out = {t: float(fe[t]) for t in _TERMS}
    out["var(intercept)"] = float(cov_re[0, 0])
    out["var(sex)"] = float(cov_re[1, 1])
    out["var(residual)"] = float(fit.scale)
    out["ICC"] = out["var(intercept)"] / (out["var(intercept)"] + out["var(residual)"])
    return out


def popularity_setup(data: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Data and predictor matrices for imputing ``popular``.

    Adds the (complete) interaction ``sex_texp`` as a predictor so that the
    imputation model contains the analysis model's terms, drops the pupil id.

    Parameters
    ----------
    data : DataFrame
        Output of :func:`~skmice.datasets.make_popularity` (``data``).

    Returns
    -------
    data : DataFrame
        Columns school, popular, sex, texp, teachpop, sex_texp.
    predictor_matrices : dict
        ``"single"`` (school not used) and ``"two_level"`` (school -2, sex
        random slope 2, the rest fixed).
    """
    d = data.drop(columns=["pupil"]).copy()
    d["sex_texp"] = d["sex"] * d["texp"]
    cols = list(d.columns)
    single = pd.DataFrame(0, index=cols, columns=cols)
    single.loc["popular", ["sex", "texp", "teachpop", "sex_texp"]] = 1
    two = single.copy()
    two.loc["popular", "school"] = -2
    two.loc["popular", "sex"] = 2
    return d, {"single": single, "two_level": two}


def run_demo(quick: bool = False, out_dir=None, random_state=2024, verbose: bool = True):
    """Run the popularity case study and print the pooled table.

    Parameters
    ----------
    quick : bool, default=False
        m = 2 and 3 iterations (a smoke test) instead of m = 10 and 10.
    out_dir : str or Path, optional
        Where to write the table (CSV) and the figures (PNG: missing-data
        pattern, predictor matrix, traces, observed versus imputed values;
        needs matplotlib).
    random_state : int, default=2024
    verbose : bool, default=True
        Print the table.

    Returns
    -------
    DataFrame
        Rows: parameters; columns: truth, complete data, and each method.
    """
    try:
        import statsmodels  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The demo's analysis model needs statsmodels: pip install 'skmice[stats]'."
        ) from exc
    m, max_iter = (2, 3) if quick else (10, 10)
    sim = make_popularity(random_state=random_state)
    data, pms = popularity_setup(sim.data)
    truth = dict(sim.truth["fixed"])
    truth.update({"var(intercept)": sim.truth["var_intercept"],
                  "var(sex)": sim.truth["var_slope"],
                  "var(residual)": sim.truth["var_residual"], "ICC": sim.truth["icc"]})
    columns = {"truth": truth}
    timings = {}
    columns["complete data"] = _summarise(fit_popularity_model(sim.complete))
    columns["listwise deletion"] = _summarise(fit_popularity_model(data.dropna()))
    configs = [
        ("pmm (cluster ignored)", {"popular": "pmm"}, pms["single"]),
        ("2l.pmm", {"popular": "2l.pmm"}, pms["two_level"]),
        ("2l.pan", {"popular": "2l.pan"}, pms["two_level"]),
        ("2l.norm", {"popular": "2l.norm"}, pms["two_level"]),
    ]
    kept = {}
    for label, methods, pm in configs:
        imputer = MultilevelIterativeImputer(
            methods=methods, predictor_matrix=pm, cluster="school", max_iter=max_iter
        )
        t0 = time.perf_counter()
        mi = multiple_impute(data, imputer, n_imputations=m, random_state=random_state)
        timings[label] = time.perf_counter() - t0
        kept[label] = mi
        fits = [_summarise(fit_popularity_model(d)) for d in mi]
        columns[label] = pd.DataFrame(fits).mean().to_dict()
    table = pd.DataFrame(columns)
    if verbose:
        n_mis = int(data["popular"].isna().sum())
        print(f"Popularity case study: {len(data)} pupils in {data['school'].nunique()} "
              f"schools, popular missing {n_mis} ({n_mis / len(data):.1%}), m = {m}, "
              f"max_iter = {max_iter}.")
        print("Analysis model: popular ~ sex * texp + (1 + sex | school), statsmodels MixedLM;")
        print("fixed effects pooled by Rubin's rules, variance components averaged.\n")
        with pd.option_context("display.width", 200, "display.precision", 3):
            print(table.round(3).to_string())
        print("\nImputation time (all m chains): " + ", ".join(
            f"{k} {v:.2f} s" for k, v in timings.items()))
        print("Single-level PMM ignores the schools: it shrinks the intercept variance and "
              "the ICC; the two-level methods recover them.")
    if out_dir is not None:
        from pathlib import Path

        path = Path(out_dir)
        path.mkdir(parents=True, exist_ok=True)
        table.to_csv(path / "popularity_pooled.csv")
        written = [path / "popularity_pooled.csv"] + _write_figures(data, kept, pms, path)
        if verbose:
            print("\nWrote " + ", ".join(str(p) for p in written))
    return table


def _write_figures(data, kept, pms, path) -> list:
    """Missing-data pattern, predictor matrix, traces and imputed values (2l.pan)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(figures skipped: pip install 'skmice[plot]' for matplotlib)")
        return []
    from . import plotting

    mi = kept["2l.pan"]
    figures = {
        "pattern.png": plotting.plot_pattern(data),
        "predictor_matrix.png": plotting.plot_pred(pms["two_level"]),
        "trace_2l.pan.png": plotting.plot_trace(mi),
        "imputed_2l.pan.png": plotting.plot_imputed(mi, "popular", kind="density"),
        "imputed_pmm_single_level.png": plotting.plot_imputed(
            kept["pmm (cluster ignored)"], "popular", kind="density", clusters=4),
        "imputed_2l.pan_by_school.png": plotting.plot_imputed(
            mi, "popular", kind="density", clusters=4),
    }
    written = []
    for name, obj in figures.items():
        fig = obj if hasattr(obj, "savefig") else obj.figure
        fig.savefig(path / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path / name)
    return written
