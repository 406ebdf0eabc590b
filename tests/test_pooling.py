"""Tests for skmice.pooling: R mice 3.15 / mitml 0.4-4 references and hand-checkable cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skmice.pooling import (
    D1,
    D2,
    D3,
    POOL_COLUMNS,
    barnard_rubin,
    pool,
    pool_extra,
    pool_scalar,
    pool_without_variances,
    wald_statistics,
)
from tests._reference import load_json, reference_path

RTOL = 1e-6

# statsmodels (patsy) term names -> R term names for lm(y ~ x1 + x2 + g)
R_NAMES = {"Intercept": "(Intercept)", "g[T.b]": "gb", "g[T.c]": "gc", "x1": "x1", "x2": "x2"}


@pytest.fixture(scope="module")
def reference():
    return load_json("pooling_R.json")


def _case(reference, i):
    return reference["cases"][i]


def _refit(i):
    """Refit both R models with statsmodels on the completed datasets of case i."""
    smf = pytest.importorskip("statsmodels.formula.api")
    from skmice.analysis import MultipleAnalyses

    long = pd.read_csv(reference_path(f"pooling_case{i + 1}_long.csv"))
    groups = [g for _, g in long.groupby(".imp", sort=True)]
    fit1 = MultipleAnalyses(smf.ols("y ~ x1 + x2 + g", g).fit() for g in groups)
    fit0 = MultipleAnalyses(smf.ols("y ~ x1", g).fit() for g in groups)
    return fit1, fit0


def _assert_test_matches(res, ref):
    np.testing.assert_allclose(res.statistic, ref["statistic"], rtol=RTOL)
    np.testing.assert_allclose(res.df1, ref["df1"], rtol=RTOL)
    np.testing.assert_allclose(res.df2, ref["df2"], rtol=RTOL)
    np.testing.assert_allclose(res.p_value, ref["p"], rtol=RTOL)
    np.testing.assert_allclose(res.riv, ref["riv"], rtol=RTOL)


# ---------------------------------------------------------------------------
# R references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("i", [0, 1, 2])
def test_pool_matches_R(reference, i):
    c = _case(reference, i)
    res = pool(np.array(c["Q"]), np.array(c["U"]), dfcom=c["dfcom"], terms=c["terms"])
    assert list(res.columns) == list(POOL_COLUMNS)
    assert list(res.index) == c["terms"]
    for col, expected in c["pooled"].items():
        np.testing.assert_allclose(res[col].to_numpy(), expected, rtol=RTOL, err_msg=col)
    assert (res["m"] == c["m"]).all()


@pytest.mark.parametrize("i", [0, 1, 2])
def test_pool_of_refitted_models_matches_R(reference, i):
    c = _case(reference, i)
    fit1, _ = _refit(i)
    np.testing.assert_allclose(fit1.extract()[0].dfcom, c["dfcom"])
    res = fit1.pool().rename(index=R_NAMES).loc[c["terms"]]
    for col, expected in c["pooled"].items():
        np.testing.assert_allclose(res[col].to_numpy(), expected, rtol=RTOL, err_msg=col)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_pool_scalar_matches_R(reference, i):
    c = _case(reference, i)
    j = c["terms"].index("x1")
    Q = np.array(c["Q"])[:, j]
    U = np.array(c["U"])[:, j, j]
    res = pool_scalar(Q, U, dfcom=math.inf)
    for name, expected in c["scalar_x1_dfcom_inf"].items():
        np.testing.assert_allclose(getattr(res, name), expected, rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_D1_matches_R(reference, i):
    c = _case(reference, i)
    res = D1(
        np.array(c["Q"]),
        np.array(c["U"]),
        test_terms=["x2", "gb", "gc"],
        dfcom=c["dfcom"],
        terms=c["terms"],
    )
    _assert_test_matches(res, c["D1"])


@pytest.mark.parametrize("i", [0, 1, 2])
def test_D2_matches_R(reference, i):
    c = _case(reference, i)
    d = wald_statistics(
        np.array(c["Q"]), np.array(c["U"]), test_terms=["x2", "gb", "gc"], terms=c["terms"]
    )
    res = D2(d, k=3)
    _assert_test_matches(res, c["D2"])


@pytest.mark.parametrize("i", [0, 1, 2])
def test_D1_D2_from_refitted_models_match_R(reference, i):
    c = _case(reference, i)
    fit1, fit0 = _refit(i)
    _assert_test_matches(fit1.D1(fit0), c["D1"])
    _assert_test_matches(fit1.D2(fit0), c["D2"])


@pytest.mark.parametrize("i", [0, 1, 2])
def test_D3_matches_R(reference, i):
    """mice::D3 refits y ~ offset(X qbar) with a free intercept (mice::fix.coef)."""
    c = _case(reference, i)
    fit1, fit0 = _refit(i)
    _assert_test_matches(fit1.D3(fit0), c["D3"])


@pytest.mark.parametrize("i", [0, 1, 2])
def test_D3_low_level_matches_R(reference, i):
    """The arithmetic of D3 from explicit likelihood ratios, evaluated by hand."""
    c = _case(reference, i)
    fit1, fit0 = _refit(i)

    def loglik_fix_coef(fit, qbar):
        # R: lm(y ~ offset(X qbar)) keeps an intercept and re-estimates sigma by ML
        y, X = fit.model.endog, fit.model.exog
        r = y - X @ qbar
        r = r - r.mean()
        n = len(y)
        return -0.5 * n * (np.log(2 * np.pi * np.sum(r**2) / n) + 1)

    q1 = np.mean([f.params.to_numpy() for f in fit1], axis=0)
    q0 = np.mean([f.params.to_numpy() for f in fit0], axis=0)
    lr_own = np.array([2 * (a.llf - b.llf) for a, b in zip(fit1, fit0)])
    lr_pooled = np.array(
        [2 * (loglik_fix_coef(a, q1) - loglik_fix_coef(b, q0)) for a, b in zip(fit1, fit0)]
    )
    _assert_test_matches(D3(lr_own, lr_pooled, k=3), c["D3"])
    # the same from the means
    _assert_test_matches(D3(lr_own.mean(), lr_pooled.mean(), k=3, m=c["m"]), c["D3"])


# ---------------------------------------------------------------------------
# hand-checkable cases
# ---------------------------------------------------------------------------


def test_pool_two_imputations_by_hand():
    # Q = 1, 3: qbar = 2, b = 2, ubar = 1, t = 1 + 1.5 * 2 = 4
    res = pool([[1.0], [3.0]], [[1.0], [1.0]])
    row = res.iloc[0]
    assert row["estimate"] == pytest.approx(2.0)
    assert row["b"] == pytest.approx(2.0)
    assert row["ubar"] == pytest.approx(1.0)
    assert row["t"] == pytest.approx(4.0)
    assert row["std_error"] == pytest.approx(2.0)
    assert row["statistic"] == pytest.approx(1.0)
    assert row["riv"] == pytest.approx(3.0)
    assert row["lambda"] == pytest.approx(0.75)
    df = 1 / 0.75**2  # (m - 1) / lambda^2, large sample
    assert row["df"] == pytest.approx(df)
    assert row["fmi"] == pytest.approx((3 + 2 / (df + 3)) / 4)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(1.0, df))
    half = stats.t.ppf(0.975, df) * 2.0
    assert row["conf_low"] == pytest.approx(2.0 - half)
    assert row["conf_high"] == pytest.approx(2.0 + half)
    assert row["m"] == 2


def test_pool_small_sample_df_by_hand():
    # lambda = 0.75, dfcom = 10: df_obs = 11/13 * 10 * 0.25
    res = pool([[1.0], [3.0]], [[1.0], [1.0]], dfcom=10)
    df_old, df_obs = 1 / 0.75**2, 11 / 13 * 10 * 0.25
    assert res["df"].iloc[0] == pytest.approx(df_old * df_obs / (df_old + df_obs))
    assert res.attrs["dfcom"] == 10


def test_pool_lambda_floor_when_no_between_variance():
    # identical estimates: lambda floored at 1e-4 inside the df only, as R
    res = pool([[1.0], [1.0]], [[0.5], [0.5]], dfcom=10)
    assert res["b"].iloc[0] == 0 and res["lambda"].iloc[0] == 0 and res["riv"].iloc[0] == 0
    df_old, df_obs = 1 / 1e-8, 11 / 13 * 10 * (1 - 1e-4)
    assert res["df"].iloc[0] == pytest.approx(df_old * df_obs / (df_old + df_obs))
    assert barnard_rubin(2, 0.0, 0.5) == pytest.approx(1e8)


def test_pool_dfcom_none_equals_inf():
    Q = np.array([[1.0, 2.0], [1.3, 2.2], [0.8, 1.9]])
    U = np.array([np.diag([0.1, 0.2])] * 3)
    pd.testing.assert_frame_equal(pool(Q, U), pool(Q, U, dfcom=math.inf))


def test_pool_conf_level():
    Q, U = [[1.0], [3.0], [2.0]], [[1.0], [1.0], [1.2]]
    wide, narrow = pool(Q, U, conf_level=0.99), pool(Q, U, conf_level=0.80)
    assert wide["conf_low"].iloc[0] < narrow["conf_low"].iloc[0]
    df, se = narrow["df"].iloc[0], narrow["std_error"].iloc[0]
    assert narrow["conf_high"].iloc[0] == pytest.approx(2.0 + stats.t.ppf(0.9, df) * se)


def test_pool_full_covariances_use_the_diagonal():
    Q = np.array([[1.0, 2.0], [1.3, 2.2], [0.8, 1.9]])
    U = np.array([[[0.1, 0.05], [0.05, 0.2]]] * 3)
    a = pool(Q, U)
    b = pool(Q, np.array([[0.1, 0.2]] * 3))
    pd.testing.assert_frame_equal(a, b)


def test_pool_pandas_inputs_are_aligned_by_name():
    s1 = pd.Series({"a": 1.0, "b": 2.0})
    s2 = pd.Series({"b": 2.4, "a": 1.2})  # other order
    c1 = pd.DataFrame([[0.1, 0.0], [0.0, 0.2]], index=["a", "b"], columns=["a", "b"])
    c2 = c1.loc[["b", "a"], ["b", "a"]] * 1.5
    res = pool([s1, s2], [c1, c2])
    assert list(res.index) == ["a", "b"]
    assert res.loc["a", "estimate"] == pytest.approx(1.1)
    assert res.loc["b", "estimate"] == pytest.approx(2.2)
    assert res.loc["b", "ubar"] == pytest.approx(0.25)


def test_pool_scalar_by_hand():
    res = pool_scalar([1.0, 3.0], [1.0, 1.0])
    assert (res.m, res.qbar, res.ubar, res.b, res.t) == (2, 2.0, 1.0, 2.0, 4.0)
    assert res.r == pytest.approx(3.0) and res.lambda_ == pytest.approx(0.75)
    assert res.df == pytest.approx(1 / 0.75**2)
    assert res.std_error == pytest.approx(2.0)
    assert res.to_dict()["lambda"] == pytest.approx(0.75)


def test_D1_one_parameter_is_the_squared_t_statistic():
    rng = np.random.default_rng(0)
    Q = rng.normal(1.0, 0.2, size=(10, 2))
    U = np.array([np.diag([0.05, 0.04])] * 10)
    res = D1(Q, U, test_terms=[1])
    pooled = pool(Q, U)
    assert res.df1 == 1
    assert res.statistic == pytest.approx(pooled["statistic"].iloc[1] ** 2)
    assert res.riv == pytest.approx(pooled["riv"].iloc[1])
    t, r = 9, res.riv
    assert res.df2 == pytest.approx(4 + (t - 4) * (1 + (1 - 2 / t) / r) ** 2)


def test_D1_without_between_variance_is_the_wald_chi_square():
    Q = np.array([[0.5, 0.3]] * 4)
    U = np.array([np.diag([0.01, 0.02])] * 4)
    res = D1(Q, U)
    chi2 = 0.5**2 / 0.01 + 0.3**2 / 0.02
    assert res.riv == 0
    assert res.statistic == pytest.approx(chi2 / 2)
    assert math.isinf(res.df2)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 2))


def test_D1_warns_for_too_few_imputations_with_dfcom():
    Q = np.array([[0.5], [0.6], [0.4]])
    U = np.array([[[0.01]]] * 3)
    with pytest.warns(RuntimeWarning, match="k \\(m - 1\\)"):
        D1(Q, U, dfcom=50)


def test_D2_identical_statistics_by_hand():
    res = D2([6.0, 6.0, 6.0], k=2)
    assert res.riv == 0
    assert res.statistic == pytest.approx(3.0)
    assert res.p_value == pytest.approx(stats.chi2.sf(6.0, 2))


def test_D2_two_statistics_by_hand():
    d = np.array([4.0, 9.0])  # sqrt: 2, 3; var = 0.5; r = 1.5 * 0.5 = 0.75
    res = D2(d, k=1)
    r = 0.75
    assert res.riv == pytest.approx(r)
    assert res.statistic == pytest.approx((6.5 - 3 * r) / (1 + r))
    assert res.df2 == pytest.approx(1 * (1 + 1 / r) ** 2)


def test_D3_by_hand():
    res = D3([4.0, 6.0], [3.0, 4.0], k=1)  # dL_bar = 5, dL_tilde = 3.5
    r = 3 / 1 * 1.5
    assert res.riv == pytest.approx(r)
    assert res.statistic == pytest.approx(3.5 / (1 + r))
    assert res.df2 == pytest.approx(1 * 2 * (1 + 1 / r) ** 2 / 2)  # t = 1 <= 4


def test_wald_statistics_by_hand():
    Q = np.array([[1.0, 2.0], [2.0, 0.0]])
    U = np.array([np.diag([1.0, 4.0]), np.diag([2.0, 1.0])])
    np.testing.assert_allclose(wald_statistics(Q, U), [1 + 1, 2])
    np.testing.assert_allclose(wald_statistics(Q, U, test_terms=[1]), [1, 0])


def test_pool_extra_is_the_mean():
    res = pool_extra([pd.Series({"a": 1.0, "ICC|g": 0.2}), pd.Series({"ICC|g": 0.4, "a": 3.0})])
    assert list(res.index) == ["a", "ICC|g"]
    np.testing.assert_allclose(res.to_numpy(), [2.0, 0.3])
    np.testing.assert_allclose(pool_extra(np.array([[1.0, 2.0], [3.0, 4.0]])), [2.0, 3.0])


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

Q3 = np.array([[1.0, 2.0], [1.2, 1.8], [0.9, 2.1]])
U3 = np.array([np.diag([0.04, 0.09])] * 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"estimates": np.ones((3, 2, 2))}, "estimates"),
        ({"estimates": Q3[:1]}, "m >= 2"),
        ({"estimates": np.array([[1.0, np.nan], [1.0, 2.0]])}, "estimates"),
        ({"covariances": np.ones((3, 3, 3))}, "covariances"),
        ({"covariances": np.ones((2, 2))}, "covariances"),
        ({"covariances": -U3}, "covariances"),
        ({"terms": ["a"]}, "terms"),
        ({"dfcom": -1}, "dfcom"),
        ({"conf_level": 1.5}, "conf_level"),
    ],
)
def test_pool_validation(kwargs, match):
    args = {"estimates": Q3, "covariances": U3, **kwargs}
    with pytest.raises(ValueError, match=match):
        pool(**args)


def test_pool_validation_of_pandas_inputs():
    s1, s2 = pd.Series({"a": 1.0, "b": 2.0}), pd.Series({"a": 1.0, "c": 2.0})
    with pytest.raises(ValueError, match="estimates"):
        pool([s1, s2], [[0.1, 0.1], [0.1, 0.1]])
    c = pd.DataFrame(np.eye(2), index=["a", "x"], columns=["a", "x"])
    with pytest.raises(ValueError, match="covariances"):
        pool([s1, s1], [c, c])
    with pytest.raises(TypeError, match="dfcom"):
        pool(Q3, U3, dfcom="large")


def test_pool_scalar_validation():
    with pytest.raises(ValueError, match="variances"):
        pool_scalar([1.0, 2.0, 3.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="estimates"):
        pool_scalar([[1.0, 2.0]], [[0.1, 0.1]])
    with pytest.raises(ValueError, match="m >= 2"):
        pool_scalar([1.0], [0.1])


def test_D1_validation():
    with pytest.raises(ValueError, match="covariances"):
        D1(Q3, np.array([[0.04, 0.09]] * 3))
    with pytest.raises(ValueError, match="test_terms"):
        D1(Q3, U3, test_terms=["nope"], terms=["a", "b"])
    with pytest.raises(ValueError, match="test_terms"):
        D1(Q3, U3, test_terms=[])
    with pytest.raises(ValueError, match="covariances"):
        D1(Q3, np.zeros((3, 2, 2)))


def test_D2_D3_validation():
    with pytest.raises(ValueError, match="statistics"):
        D2([1.0, -2.0], k=1)
    with pytest.raises(ValueError, match="m >= 2"):
        D2([1.0], k=1)
    with pytest.raises(ValueError, match="k must be"):
        D2([1.0, 2.0], k=0)
    with pytest.raises(TypeError, match="k must be"):
        D2([1.0, 2.0], k=1.5)
    with pytest.raises(ValueError, match="lr_pooled"):
        D3([1.0, 2.0], [1.0, 2.0, 3.0], k=1)
    with pytest.raises(ValueError, match="m must be given"):
        D3(2.0, 1.0, k=1)
    with pytest.raises(ValueError, match="m >= 2"):
        D3(2.0, 1.0, k=1, m=1)


def test_pool_extra_validation():
    with pytest.raises(ValueError, match="values"):
        pool_extra([{"a": 1.0}, {"b": 1.0}])


def test_pool_without_variances_mean_and_between_variance():
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(5, 3))
    terms = ["a", "b", "c"]
    frame = pd.DataFrame(Q, columns=terms)
    table = pool_without_variances(frame)
    assert list(table.index) == terms
    assert list(table.columns) == ["estimate", "b", "between_sd", "m"]
    np.testing.assert_allclose(table["estimate"], Q.mean(axis=0))
    np.testing.assert_allclose(table["b"], Q.var(axis=0, ddof=1))
    np.testing.assert_allclose(table["between_sd"], Q.std(axis=0, ddof=1))
    assert (table["m"] == 5).all()
    # the same numbers, to the bit, from Series, dicts and a plain array
    series = [pd.Series(row, index=terms) for row in Q]
    pd.testing.assert_frame_equal(pool_without_variances(series), table, check_exact=True)
    dicts = [dict(zip(terms, row)) for row in Q]
    pd.testing.assert_frame_equal(pool_without_variances(dicts), table, check_exact=True)
    plain = pool_without_variances(Q)
    np.testing.assert_array_equal(plain.to_numpy(), table.to_numpy())
    # as pool(): the same mean and between-imputation variance
    rubin = pool(Q, np.full((5, 3), 0.1), terms=terms)
    np.testing.assert_allclose(table[["estimate", "b"]], rubin[["estimate", "b"]], rtol=1e-14)


def test_pool_without_variances_one_imputation_and_validation():
    table = pool_without_variances([{"a": 1.0, "b": 2.0}])
    assert table["estimate"].tolist() == [1.0, 2.0] and table["b"].isna().all()
    assert (table["m"] == 1).all()
    with pytest.raises(ValueError, match="empty"):
        pool_without_variances([])
