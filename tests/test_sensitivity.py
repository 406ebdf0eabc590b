"""Tests of skmice/sensitivity.py: delta-adjustment analyses and tipping points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.sensitivity import delta_analysis, plot_tipping_point, tipping_point


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n)})
    X["y"] = 0.3 + X["x"] + rng.normal(size=n)
    X["b"] = (rng.random(n) < 1 / (1 + np.exp(-X["x"]))).astype(float)
    X.loc[X["x"] > 0.5, "y"] = np.nan
    X.loc[rng.random(n) < 0.3, "b"] = np.nan
    return X


def _mean_of(col):
    return lambda d: smf.ols(f"{col} ~ 1", d).fit()


def test_delta_zero_is_the_mar_norm_analysis():
    X = _data()
    imp = MultilevelIterativeImputer(methods={"y": "norm", "b": "logreg"}, max_iter=2)
    res = delta_analysis(X, "y", [0.0], _mean_of("y"), imputer=imp, random_state=3)
    mi = multiple_impute(X, imp, n_imputations=5, random_state=3)
    want = mi.analyze(_mean_of("y")).pool()
    assert res["estimate"].iloc[0] == pytest.approx(want["estimate"].iloc[0])
    assert res["std_error"].iloc[0] == pytest.approx(want["std_error"].iloc[0])


def test_shift_moves_the_estimate_by_delta_times_fraction_missing():
    X = _data().drop(columns="b")  # y the only incomplete column: exact arithmetic
    frac = X["y"].isna().mean()
    res = delta_analysis(
        X,
        "y",
        [-1.0, 0.0, 2.0],
        _mean_of("y"),
        term="Intercept",
        random_state=1,
        imputer=MultilevelIterativeImputer(max_iter=2),
    )
    est = res["estimate"].to_numpy()
    # common random numbers: the mean moves by exactly delta * fraction missing
    assert est[2] - est[1] == pytest.approx(2.0 * frac, rel=1e-8)
    assert est[1] - est[0] == pytest.approx(1.0 * frac, rel=1e-8)
    assert list(res.columns[:3]) == ["delta", "term", "estimate"]


def test_binary_column_gets_mnar_logreg_and_rows_selection():
    X = _data()
    res = delta_analysis(
        X,
        "b",
        [-3.0, 0.0, 3.0],
        _mean_of("b"),
        term="Intercept",
        random_state=0,
        imputer=MultilevelIterativeImputer(max_iter=2),
    )
    est = res["estimate"].to_numpy()
    assert est[0] < est[1] < est[2]
    # shifting only rows with x > 0 moves the estimate less
    part = delta_analysis(
        X,
        "b",
        [3.0],
        _mean_of("b"),
        rows=lambda D: D[:, 1] > 0,
        random_state=0,
        imputer=MultilevelIterativeImputer(max_iter=2),
    )
    assert est[1] < part["estimate"].iloc[0] < est[2]


def test_string_methods_keep_other_columns():
    X = _data()
    imp = MultilevelIterativeImputer(methods="pmm", max_iter=1)
    res = delta_analysis(X, "y", [1.0], _mean_of("y"), imputer=imp, random_state=0)
    assert len(res) == 1 and np.isfinite(res["estimate"]).all()


def test_errors():
    X = _data()
    f = _mean_of("y")
    with pytest.raises(TypeError, match="DataFrame"):
        delta_analysis(X.to_numpy(), "y", [0.0], f)
    with pytest.raises(ValueError, match="not a column"):
        delta_analysis(X, "z", [0.0], f)
    with pytest.raises(ValueError, match="no missing"):
        delta_analysis(X, "x", [0.0], f)
    with pytest.raises(ValueError, match="deltas"):
        delta_analysis(X, "y", [], f)
    with pytest.raises(TypeError, match="deltas"):
        delta_analysis(X, "y", 1.0, f)
    with pytest.raises(ValueError, match="method"):
        delta_analysis(X, "y", [0.0], f, method="mnar.pmm")
    with pytest.raises(TypeError, match="callable"):
        delta_analysis(X, "y", [0.0], "y ~ 1")
    with pytest.raises(ValueError, match="term"):
        delta_analysis(
            X,
            "y",
            [0.0],
            f,
            term="slope",
            imputer=MultilevelIterativeImputer(max_iter=1),
            n_imputations=2,
        )


def _table(lo, hi, deltas=(-2.0, -1.0, 0.0, 1.0, 2.0)):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return pd.DataFrame(
        {"delta": deltas, "term": "x", "estimate": (lo + hi) / 2, "conf_low": lo, "conf_high": hi}
    )


def test_tipping_point():
    # significant at delta = 0; the interval reaches 0 at delta = -0.5
    res = _table([-0.5, -0.2, 0.1, 0.4, 0.7], [0.5, 0.8, 1.1, 1.4, 1.7])
    assert tipping_point(res) == pytest.approx(-1 / 3)
    # never changes over the grid
    assert np.isnan(tipping_point(_table([1, 1, 1, 1, 1], [2, 2, 2, 2, 2])))
    # not significant at 0, becomes significant above the null line
    res = _table([-1.0, -0.6, -0.2, 0.2, 0.6], [1, 1, 1, 1, 1])
    assert tipping_point(res) == pytest.approx(0.5)
    assert tipping_point(res, null=-0.5) == pytest.approx(-0.75)
    both = pd.concat([res, res.assign(term="z")])
    with pytest.raises(ValueError, match="several terms"):
        tipping_point(both)
    with pytest.raises(ValueError, match="results"):
        tipping_point(pd.DataFrame({"a": [1]}))


def test_plot_tipping_point():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _table([-0.5, -0.2, 0.1, 0.4, 0.7], [0.5, 0.8, 1.1, 1.4, 1.7])
    ax = plot_tipping_point(res)
    assert ax.get_xlabel() == "delta" and ax.get_ylabel() == "x"
    assert len(ax.lines) == 3  # estimate, null line, tipping point
    plt.close("all")
