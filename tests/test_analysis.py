"""Tests for skmice.analysis: extraction from fitted models and MultipleAnalyses."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import skmice.analysis
from skmice.analysis import AnalysisEstimate, MultipleAnalyses, extract
from skmice.pooling import D1, pool, pool_extra

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")


def _linear_data(seed, n=60):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    d["g"] = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    d["y"] = 1 + 0.5 * d["x1"] - 0.3 * d["x2"] + 0.4 * (d["g"] == "c") + rng.normal(size=n)
    d["z"] = (d["y"] + rng.normal(size=n) > 1).astype(int)
    return d


@pytest.fixture(scope="module")
def datasets():
    return [_linear_data(seed) for seed in range(5)]


@pytest.fixture(scope="module")
def mixed_data():
    rng = np.random.default_rng(42)
    n_groups, size = 40, 12
    school = np.repeat(np.arange(n_groups), size)
    sex = rng.integers(0, 2, n_groups * size)
    u0 = rng.normal(0, 0.7, n_groups)
    u1 = rng.normal(0, 0.5, n_groups)
    y = 3 + 1.2 * sex + u0[school] + u1[school] * sex + rng.normal(0, 0.6, n_groups * size)
    return pd.DataFrame({"popular": y, "sex": sex, "school": school})


# ---------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------


def test_extract_ols(datasets):
    res = smf.ols("y ~ x1 + x2 + g", datasets[0]).fit()
    est = extract(res)
    pd.testing.assert_series_equal(est.params, res.params.astype(float), check_names=False)
    pd.testing.assert_frame_equal(est.cov, res.cov_params())
    assert est.dfcom == res.df_resid == 60 - 5
    assert est.llf(res.params.to_numpy()) == pytest.approx(res.llf)
    assert est.extra is None


def test_extract_ols_without_formula(datasets):
    d = datasets[0]
    res = sm.OLS(d["y"].to_numpy(), sm.add_constant(d[["x1", "x2"]].to_numpy())).fit()
    est = extract(res)
    assert list(est.params.index) == ["const", "x1", "x2"]
    np.testing.assert_allclose(est.cov.to_numpy(), res.cov_params())


def test_extract_wls(datasets):
    d = datasets[0]
    w = np.linspace(0.5, 2.0, len(d))
    res = smf.wls("y ~ x1 + x2", d, weights=w).fit()
    est = extract(res)
    np.testing.assert_allclose(est.params.to_numpy(), res.params.to_numpy())
    assert est.dfcom == 57


@pytest.mark.parametrize("kind", ["glm", "logit"])
def test_extract_logistic(datasets, kind):
    d = datasets[0]
    if kind == "glm":
        res = smf.glm("z ~ x1 + x2", d, family=sm.families.Binomial()).fit()
    else:
        res = smf.logit("z ~ x1 + x2", d).fit(disp=0)
    est = extract(res)
    assert list(est.params.index) == ["Intercept", "x1", "x2"]
    np.testing.assert_allclose(est.params.to_numpy(), res.params.to_numpy())
    np.testing.assert_allclose(est.cov.to_numpy(), res.cov_params().to_numpy())
    assert est.dfcom == 57  # glm df.residual = n - p, as R
    assert est.llf(res.params.to_numpy()) == pytest.approx(res.llf)


def test_extract_glm_and_logit_agree(datasets):
    d = datasets[1]
    a = extract(smf.glm("z ~ x1", d, family=sm.families.Binomial()).fit())
    b = extract(smf.logit("z ~ x1", d).fit(disp=0))
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.cov.to_numpy(), b.cov.to_numpy(), rtol=1e-5)


def test_extract_mixedlm_random_slope(mixed_data):
    res = smf.mixedlm("popular ~ sex", mixed_data, groups="school", re_formula="~sex").fit()
    est = extract(res)
    assert list(est.params.index) == ["Intercept", "sex"]
    np.testing.assert_allclose(est.params.to_numpy(), res.fe_params.to_numpy())
    np.testing.assert_allclose(est.cov.to_numpy(), res.cov_params().iloc[:2, :2].to_numpy())
    assert math.isinf(est.dfcom)
    assert list(est.extra.index) == [
        "Intercept~~Intercept|school",
        "sex~~sex|school",
        "Intercept~~sex|school",
        "Residual~~Residual",
        "ICC|school",
    ]
    cov_re = np.asarray(res.cov_re)
    np.testing.assert_allclose(
        est.extra.to_numpy()[:4], [cov_re[0, 0], cov_re[1, 1], cov_re[0, 1], res.scale]
    )
    assert est.extra["ICC|school"] == pytest.approx(cov_re[0, 0] / (cov_re[0, 0] + res.scale))
    # the truth is var(u0) = 0.49, var(u1) = 0.25, residual 0.36: loose sanity check
    assert 0.2 < est.extra["Intercept~~Intercept|school"] < 0.9
    assert 0.25 < est.extra["Residual~~Residual"] < 0.5


def test_extract_mixedlm_random_intercept(mixed_data):
    res = smf.mixedlm("popular ~ sex", mixed_data, groups="school").fit()
    est = extract(res)
    assert list(est.extra.index) == [
        "Intercept~~Intercept|school",
        "Residual~~Residual",
        "ICC|school",
    ]


def test_extract_sklearn_linear_regression(datasets):
    from sklearn.linear_model import LinearRegression

    d = datasets[0]
    reg = LinearRegression().fit(d[["x1", "x2"]], d["y"])
    est = extract(reg)
    assert list(est.params.index) == ["Intercept", "x1", "x2"]
    np.testing.assert_allclose(est.params.to_numpy(), [reg.intercept_, *reg.coef_])
    assert est.cov is None and math.isinf(est.dfcom) and est.llf is None
    ols = smf.ols("y ~ x1 + x2", d).fit()
    np.testing.assert_allclose(est.params.to_numpy(), ols.params.to_numpy())
    # numpy input, no intercept
    reg = LinearRegression(fit_intercept=False).fit(d[["x1", "x2"]].to_numpy(), d["y"])
    assert list(extract(reg).params.index) == ["x0", "x1"]


def test_extract_sklearn_logistic_regression(datasets):
    from sklearn.linear_model import LogisticRegression

    d = datasets[0]
    clf = LogisticRegression().fit(d[["x1"]], d["z"])
    est = extract(clf)
    assert list(est.params.index) == ["Intercept", "x1"]
    assert est.params.iloc[1] == pytest.approx(clf.coef_[0, 0])


def test_extract_tuple_and_dict():
    est = extract((pd.Series({"a": 1.0, "b": 2.0}), np.diag([0.1, 0.2])))
    assert list(est.cov.index) == ["a", "b"] and math.isinf(est.dfcom)
    est = extract({"params": [1.0, 2.0], "cov": np.eye(2), "dfcom": 12, "extra": {"v": 0.3}})
    assert est.dfcom == 12 and est.extra["v"] == 0.3
    assert extract(est) is est
    # a labelled covariance is aligned on the parameter names
    cov = pd.DataFrame([[2.0, 0.0], [0.0, 1.0]], index=["b", "a"], columns=["b", "a"])
    est = extract((pd.Series({"a": 1.0, "b": 2.0}), cov))
    assert est.cov.loc["b", "b"] == 2.0 and list(est.cov.index) == ["a", "b"]


def test_extract_errors():
    with pytest.raises(TypeError, match="cannot extract"):
        extract("not a model")
    with pytest.raises(ValueError, match="cov"):
        extract(([1.0, 2.0], np.eye(3)))
    with pytest.raises(ValueError, match="cov"):
        extract(([1.0, 2.0], [0.1, 0.2]))
    with pytest.raises(ValueError, match="dfcom"):
        extract(([1.0], np.eye(1), -3))
    with pytest.raises(TypeError, match="params"):
        extract({"cov": np.eye(1)})
    with pytest.raises(TypeError, match="tuple"):
        extract((1.0,))


# ---------------------------------------------------------------------------
# MultipleAnalyses
# ---------------------------------------------------------------------------


def test_multiple_analyses_pool_toy_list():
    fits = MultipleAnalyses(
        [
            ([1.0, 0.50], np.diag([0.04, 0.01]), 40),
            ([1.2, 0.45], np.diag([0.05, 0.01]), 40),
            ([0.9, 0.55], np.diag([0.04, 0.02]), 40),
        ]
    )
    res = fits.pool()
    expected = pool(
        [[1.0, 0.50], [1.2, 0.45], [0.9, 0.55]],
        [[0.04, 0.01], [0.05, 0.01], [0.04, 0.02]],
        dfcom=40,
    )
    pd.testing.assert_frame_equal(res, expected)
    # explicit dfcom overrides the first analysis's
    assert res["df"].iloc[0] != fits.pool(dfcom=math.inf)["df"].iloc[0]
    assert "MultipleAnalyses(m=3" in repr(fits)


def test_multiple_analyses_pool_statsmodels(datasets):
    fits = MultipleAnalyses(smf.ols("y ~ x1 + x2 + g", d).fit() for d in datasets)
    res = fits.pool()
    q = np.array([f.params.to_numpy() for f in fits])
    u = np.array([np.diag(f.cov_params().to_numpy()) for f in fits])
    pd.testing.assert_frame_equal(res, pool(q, u, dfcom=55, terms=list(fits[0].params.index)))
    text = fits.summary()
    assert "m = 5" in text and "dfcom = 55" in text and "g[T.c]" in text


def test_multiple_analyses_errors(datasets):
    from sklearn.linear_model import LinearRegression

    skl = MultipleAnalyses(LinearRegression().fit(d[["x1"]], d["y"]) for d in datasets)
    with pytest.raises(TypeError, match="covariance"):
        skl.pool()
    one = MultipleAnalyses([smf.ols("y ~ x1", datasets[0]).fit()])
    with pytest.raises(ValueError, match="m >= 2"):
        one.pool()
    mixed = MultipleAnalyses(
        [smf.ols("y ~ x1", datasets[0]).fit(), smf.ols("y ~ x2", datasets[1]).fit()]
    )
    with pytest.raises(ValueError, match="same model"):
        mixed.pool()
    fits = MultipleAnalyses(smf.ols("y ~ x1", d).fit() for d in datasets)
    with pytest.raises(TypeError, match="variance components"):
        fits.pool_extra()
    with pytest.raises(ValueError, match="same imputed datasets"):
        fits.D1(fits[:2])
    with pytest.raises(ValueError, match="nested"):
        fits.D1(fits)
    with pytest.raises(TypeError, match="D3 needs"):
        skl.D3(skl)
    with pytest.raises(ValueError, match="likelihood"):
        fits.D3(fits, likelihood="other")
    with pytest.raises(ValueError, match="use"):
        fits.D2(fits, use="score")


def test_multiple_analyses_pool_extra_mixedlm(mixed_data):
    rng = np.random.default_rng(3)
    fits = MultipleAnalyses()
    for _ in range(3):
        d = mixed_data.copy()
        d["popular"] = d["popular"] + rng.normal(0, 0.1, len(d))
        fits.append(smf.mixedlm("popular ~ sex", d, groups="school").fit())
    extra = fits.pool_extra()
    expected = pool_extra([extract(f).extra for f in fits])
    pd.testing.assert_series_equal(extra, expected)
    # pooled ICC is the mean of the ICCs (as mitml), not the ICC of the means
    iccs = [extract(f).extra["ICC|school"] for f in fits]
    assert extra["ICC|school"] == pytest.approx(np.mean(iccs))
    assert math.isinf(fits.pool().attrs["dfcom"])


def test_D1_method_matches_function(datasets):
    fit1 = MultipleAnalyses(smf.ols("y ~ x1 + x2 + g", d).fit() for d in datasets)
    fit0 = MultipleAnalyses(smf.ols("y ~ x1", d).fit() for d in datasets)
    res = fit1.D1(fit0)
    tested = ["x2", "g[T.b]", "g[T.c]"]
    expected = D1(
        [f.params for f in fit1], [f.cov_params() for f in fit1], test_terms=tested, dfcom=55
    )
    for name in ("statistic", "df1", "df2", "p_value", "riv"):
        assert getattr(res, name) == pytest.approx(getattr(expected, name), rel=1e-12)
    assert res.df1 == 3 and res.method == "D1" and res.m == 5


def test_D3_complete_data_equals_likelihood_ratio(datasets):
    """With identical imputations D3 reduces to the LR statistic (mice test-D3.R)."""
    d = datasets[0]
    fit1 = MultipleAnalyses(smf.ols("y ~ x1 + x2", d).fit() for _ in range(5))
    fit0 = MultipleAnalyses(smf.ols("y ~ x1", d).fit() for _ in range(5))
    lr = 2 * (fit1[0].llf - fit0[0].llf)
    for likelihood in ("mice", "mitml"):
        res = fit1.D3(fit0, likelihood=likelihood)
        assert res.statistic == pytest.approx(lr, rel=1e-8)
        assert res.riv == pytest.approx(0.0, abs=1e-8)
    # D2 on likelihood ratios: the same statistic
    assert fit1.D2(fit0, use="likelihood").statistic == pytest.approx(lr)


def test_D3_mitml_evaluation_by_hand(datasets):
    fit1 = MultipleAnalyses(smf.ols("y ~ x1 + x2", d).fit() for d in datasets)
    fit0 = MultipleAnalyses(smf.ols("y ~ x1", d).fit() for d in datasets)

    def ll_pooled(fits):
        q = np.mean([f.params.to_numpy() for f in fits], axis=0)
        s2 = np.mean([f.ssr / f.nobs for f in fits])
        out = []
        for f in fits:
            r = f.model.endog - f.model.exog @ q
            n = len(r)
            out.append(-n / 2 * np.log(2 * np.pi * s2) - r @ r / (2 * s2))
        return np.array(out)

    dl_bar = np.mean([2 * (a.llf - b.llf) for a, b in zip(fit1, fit0)])
    dl_tilde = np.mean(2 * (ll_pooled(fit1) - ll_pooled(fit0)))
    m, k = 5, 1
    r = (m + 1) / (k * (m - 1)) * (dl_bar - dl_tilde)
    res = fit1.D3(fit0, likelihood="mitml")
    assert res.riv == pytest.approx(r)
    assert res.statistic == pytest.approx(dl_tilde / (k * (1 + r)))


def test_D3_gaussian_glm_equals_ols(datasets):
    fits = [
        MultipleAnalyses(smf.ols(f, d).fit() for d in datasets) for f in ("y ~ x1 + x2", "y ~ x1")
    ]
    glms = [
        MultipleAnalyses(smf.glm(f, d).fit() for d in datasets) for f in ("y ~ x1 + x2", "y ~ x1")
    ]
    a, b = fits[0].D3(fits[1]), glms[0].D3(glms[1])
    assert a.statistic == pytest.approx(b.statistic, rel=1e-6)
    assert a.df2 == pytest.approx(b.df2, rel=1e-6)


@pytest.mark.parametrize("likelihood", ["mice", "mitml"])
def test_D3_logistic_glm_equals_logit(datasets, likelihood):
    glm = [
        MultipleAnalyses(smf.glm(f, d, family=sm.families.Binomial()).fit() for d in datasets)
        for f in ("z ~ x1 + x2", "z ~ x1")
    ]
    logit = [
        MultipleAnalyses(smf.logit(f, d).fit(disp=0) for d in datasets)
        for f in ("z ~ x1 + x2", "z ~ x1")
    ]
    a = glm[0].D3(glm[1], likelihood=likelihood)
    b = logit[0].D3(logit[1], likelihood=likelihood)
    assert a.statistic == pytest.approx(b.statistic, rel=1e-5)
    assert a.riv == pytest.approx(b.riv, rel=1e-4, abs=1e-6)


def test_D3_mitml_rejects_gaussian_glm(datasets):
    glms = [
        MultipleAnalyses(smf.glm(f, d).fit() for d in datasets) for f in ("y ~ x1 + x2", "y ~ x1")
    ]
    with pytest.raises(TypeError, match="fixed scale"):
        glms[0].D3(glms[1], likelihood="mitml")


def test_analysis_estimate_is_frozen():
    est = AnalysisEstimate(pd.Series({"a": 1.0}))
    with pytest.raises(AttributeError):
        est.dfcom = 3


def test_modules_import_without_statsmodels():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["statsmodels"] = None  # any import of statsmodels now fails
        import numpy as np
        from skmice.analysis import MultipleAnalyses
        fits = MultipleAnalyses([([1.0], np.eye(1)), ([2.0], np.eye(1))])
        print(float(fits.pool()["estimate"].iloc[0]))
        """
    )
    root = Path(skmice.analysis.__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.5"


def test_D2_likelihood_needs_ml_fits(mixed_data):
    fit1 = MultipleAnalyses(
        smf.mixedlm("popular ~ sex", mixed_data, groups="school").fit() for _ in range(2)
    )
    fit0 = MultipleAnalyses(
        smf.mixedlm("popular ~ 1", mixed_data, groups="school").fit() for _ in range(2)
    )
    with pytest.raises(ValueError, match="REML"):
        fit1.D2(fit0, use="likelihood")
    # Wald-based D2 and D1 work for mixed models (large-sample df2)
    assert fit1.D1(fit0).df1 == 1
    with pytest.raises(TypeError, match="D3 needs"):
        fit1.D3(fit0)
