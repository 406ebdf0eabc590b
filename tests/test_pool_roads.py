"""Pooling is the same whichever road a scikit-learn model takes (issue 18, item 6).

Road 1: ``multiple_impute(...).analyze(lambda d: model.fit(...)).pool()``.
Road 2: ``MultipleImputationPipeline(imputer, model).fit(X, y).pool()``.
With the outcome in the imputation model (``include_target=True``) and the
same seed, the pipeline's chains impute exactly the datasets of
``multiple_impute`` on the data with the outcome as last column, so both
roads fit the same models on the same data: their pooled tables must agree
to rounding, and agree with statsmodels fitted on the same imputations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, multiple_impute
from skmice.analysis import MultipleAnalyses, extract, linear_model_estimate

smf = pytest.importorskip("statsmodels.formula.api")

M = 3
COLUMNS = ["estimate", "std_error", "df", "p_value", "conf_low", "conf_high", "fmi"]
ONE_HOT_NAMES = ["num__x1", "num__x2", "cat__g_b", "cat__g_c"]


@pytest.fixture(scope="module")
def df():
    """20 clusters of 10: x1 (30% missing) varies by cluster, g a 3-level category,
    y continuous and z binary outcomes (complete)."""
    rng = np.random.default_rng(7)
    n, clusters = 200, 20
    c = np.repeat(np.arange(clusters), n // clusters)
    x1 = rng.normal(size=n) + rng.normal(scale=0.7, size=clusters)[c]
    x2 = rng.normal(size=n)
    g = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    y = 1 + 0.5 * x1 - 0.3 * x2 + 0.6 * (g == "b") + rng.normal(size=n)
    z = (y + rng.normal(size=n) > 1.2).astype(int)
    out = pd.DataFrame({"c": c, "x1": x1, "x2": x2, "g": g, "y": y, "z": z})
    out.loc[rng.random(n) < 0.3, "x1"] = np.nan
    return out


def _imputer():
    return MultilevelIterativeImputer(cluster="c", max_iter=3)


def _roads(df, predictors, outcome, model):
    """The two roads on the same imputations: (analyze's pooled table, the fitted pipeline).

    The pipeline imputes ``df[["c", *predictors]]`` with the outcome appended
    last (include_target); multiple_impute the same columns in the same order.
    """
    columns = ["c", *predictors, outcome]
    mi = multiple_impute(df[columns], _imputer(), n_imputations=M, random_state=0)
    fits = mi.analyze(lambda d: clone(model).fit(d[predictors], d[outcome]))
    pipe = MultipleImputationPipeline(
        _imputer(), clone(model), n_imputations=M, include_target=True, random_state=0
    ).fit(df[["c", *predictors]], df[outcome])
    return mi, fits, pipe


def _one_hot(numeric=("x1", "x2")):
    return ColumnTransformer(
        [("num", "passthrough", list(numeric)), ("cat", OneHotEncoder(drop="first"), ["g"])]
    )


def _assert_same_table(a, b, rtol=1e-10):
    assert list(a.index) == list(b.index)
    pd.testing.assert_frame_equal(a[COLUMNS], b[COLUMNS], rtol=rtol, atol=1e-12)
    assert a.attrs["dfcom"] == b.attrs["dfcom"]


# ---------------------------------------------------------------------------
# the two roads agree, and agree with statsmodels
# ---------------------------------------------------------------------------


def test_linear_regression_same_pooled_table_both_roads_and_statsmodels(df):
    mi, fits, pipe = _roads(df, ["x1", "x2", "z"], "y", LinearRegression())
    # the pipeline's estimators were fitted on exactly analyze's datasets
    for est, fit in zip(pipe.estimators_, fits):
        np.testing.assert_array_equal(est.coef_, fit.coef_)
    road1, road2 = fits.pool(), pipe.pool()
    assert list(road1.index) == ["Intercept", "x1", "x2", "z"]
    _assert_same_table(road1, road2)
    assert road2.attrs["reason"] == ""
    assert road1.attrs["dfcom"] == len(df) - 4
    assert pipe.summary().startswith("Pooled estimates (Rubin's rules), m = 3, dfcom = 196")
    assert fits.summary() == pipe.summary()
    # statsmodels OLS pooled over the same imputations: the same table
    ols = mi.analyze(lambda d: smf.ols("y ~ x1 + x2 + z", d).fit()).pool()
    _assert_same_table(road1, ols, rtol=1e-8)


def test_pipeline_with_one_hot_encoder_names_and_same_table(df):
    model = make_pipeline(_one_hot(("x1", "x2", "z")), LinearRegression())
    mi, fits, pipe = _roads(df, ["x1", "x2", "g", "z"], "y", model)
    road1, road2 = fits.pool(), pipe.pool()
    names = ["Intercept", "num__x1", "num__x2", "num__z", "cat__g_b", "cat__g_c"]
    assert list(road1.index) == list(road2.index) == names
    _assert_same_table(road1, road2)
    np.testing.assert_allclose(road2["estimate"].iloc[1:], pipe.pooled_coef_, rtol=1e-12)
    ols = mi.analyze(lambda d: smf.ols("y ~ x1 + x2 + z + C(g)", d).fit()).pool()
    ols = ols.loc[["Intercept", "x1", "x2", "z", "C(g)[T.b]", "C(g)[T.c]"]]
    np.testing.assert_allclose(road1[COLUMNS].to_numpy(), ols[COLUMNS].to_numpy(), rtol=1e-8)


def test_unpenalised_logistic_regression_same_table_and_statsmodels_logit(df):
    # lbfgs run to a tight tolerance: at its default (1e-4) it stops some 1e-3 from the
    # maximum, and how far depends on the imputed data
    model = make_pipeline(_one_hot(("x1", "x2", "y")),
                          LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000))
    mi, fits, pipe = _roads(df, ["x1", "x2", "g", "y"], "z", model)
    road1, road2 = fits.pool(), pipe.pool()
    assert list(road1.index) == ["Intercept", "num__x1", "num__x2", "num__y", *ONE_HOT_NAMES[2:]]
    _assert_same_table(road1, road2)
    logit = mi.analyze(lambda d: smf.logit("z ~ x1 + x2 + y + C(g)", d).fit(disp=0)).pool()
    logit = logit.loc[["Intercept", "x1", "x2", "y", "C(g)[T.b]", "C(g)[T.c]"]]
    np.testing.assert_allclose(road1["estimate"], logit["estimate"].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(road1["std_error"], logit["std_error"].to_numpy(), rtol=1e-4)
    assert road1.attrs["dfcom"] == logit.attrs["dfcom"] == len(df) - 6


def test_pipeline_statsmodels_adapter_gets_the_pipeline_names(df):
    from skmice import StatsmodelsRegressor

    model = make_pipeline(_one_hot(), StatsmodelsRegressor())
    _, fits, pipe = _roads(df, ["x1", "x2", "g"], "y", model)
    same = _roads(df, ["x1", "x2", "g"], "y", make_pipeline(_one_hot(), LinearRegression()))[2]
    assert list(pipe.pool().index) == ["Intercept", *ONE_HOT_NAMES]
    _assert_same_table(pipe.pool(), same.pool(), rtol=1e-8)
    _assert_same_table(fits.pool(), pipe.pool())


def test_sample_weight_gives_weighted_least_squares_in_the_pipeline(df):
    import statsmodels.api as sm

    w = np.linspace(0.5, 2.0, len(df))
    columns = ["c", "x1", "x2", "y"]
    mi = multiple_impute(df[columns], _imputer(), n_imputations=M, random_state=0)
    pipe = MultipleImputationPipeline(
        _imputer(), LinearRegression(), n_imputations=M, include_target=True, random_state=0
    ).fit(df[["c", "x1", "x2"]], df["y"], sample_weight=w)

    def weighted(d):  # analyze cannot know the weights: compute the estimate in fn
        model = LinearRegression().fit(d[["x1", "x2"]], d["y"], sample_weight=w)
        return linear_model_estimate(model, d[["x1", "x2"]], d["y"], sample_weight=w)

    _assert_same_table(mi.analyze(weighted).pool(), pipe.pool())
    wls = mi.analyze(
        lambda d: sm.WLS(
            d["y"],
            sm.add_constant(d[["x1", "x2"]]).rename(columns={"const": "Intercept"}),
            weights=w,
        ).fit()
    ).pool()
    _assert_same_table(pipe.pool(), wls, rtol=1e-8)


# ---------------------------------------------------------------------------
# what cannot be pooled says why
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mi(df):
    return multiple_impute(df, _imputer(), n_imputations=2, random_state=0)


def test_non_linear_model_error_names_the_model(df, mi):
    forest = RandomForestRegressor(n_estimators=3, random_state=0)
    fits = mi.analyze(lambda d: clone(forest).fit(d[["x1", "x2"]], d["y"]))
    with pytest.raises(TypeError, match=r"RandomForestRegressor: it has no coefficients"):
        fits.pool()
    with pytest.raises(TypeError, match=r"\(params, cov\)"):
        fits.pool()
    pipe = MultipleImputationPipeline(
        _imputer(), make_pipeline(_one_hot(), forest), n_imputations=2, random_state=0
    ).fit(df[["c", "x1", "x2", "g"]], df["y"])
    with pytest.raises(AttributeError, match="RandomForestRegressor exposes no coefficients"):
        pipe.pool()


@pytest.mark.parametrize(
    "model, outcome, match",
    [
        (Ridge(), "y", r"Ridge is penalised \(alpha=1.0\)"),
        (LogisticRegression(), "z", r"LogisticRegression\(C=1.0\) is penalised.*C=np.inf"),
    ],
)
def test_penalised_models_say_what_to_use(df, mi, model, outcome, match):
    fits = mi.analyze(lambda d: clone(model).fit(d[["x1", "x2"]], d[outcome]))
    with pytest.raises(TypeError, match=match):
        fits.pool()
    # the pipeline gives the mean and between-imputation variance, with the same reason
    pipe = MultipleImputationPipeline(
        _imputer(), make_pipeline(_one_hot(), model), n_imputations=2, random_state=0
    ).fit(df[["c", "x1", "x2", "g"]], df[outcome])
    table = pipe.pool()
    assert list(table.columns) == ["estimate", "b", "between_sd", "m"]
    assert list(table.index) == ["Intercept", *ONE_HOT_NAMES]
    assert "penalised" in table.attrs["reason"] and "StatsmodelsRegressor" in table.attrs["reason"]


def test_data_unknown_to_analyze_is_named(mi):
    # numpy input: no feature_names_in_, the columns used are unknown
    fits = mi.analyze(lambda d: LinearRegression().fit(d[["x1", "x2"]].to_numpy(), d["y"]))
    with pytest.raises(TypeError, match="feature_names_in_"):
        fits.pool()
    # a subset of rows: the coefficients are the fit of no column on all rows
    fits = mi.analyze(lambda d: LinearRegression().fit(d[["x1", "x2"]][:150], d["y"][:150]))
    with pytest.raises(TypeError, match="none of the completed dataset's columns"):
        fits.pool()
    # a transformed outcome outside the dataset; then added to it in place
    fits = mi.analyze(lambda d: LinearRegression().fit(d[["x1"]], np.exp(d["y"] / 4)))
    with pytest.raises(TypeError, match=r"d\['log_y'\]"):
        fits.pool()

    def in_place(d):
        d["e"] = np.exp(d["y"] / 4)
        return LinearRegression().fit(d[["x1"]], d["e"])

    assert list(mi.analyze(in_place).pool().index) == ["Intercept", "x1"]
    # extract() without the data: no covariance, and how to supply it
    d = mi.complete(1)
    est = extract(LinearRegression().fit(d[["x1"]], d["y"]))
    assert est.cov is None and "data=" in est.no_cov_reason
    with pytest.raises(TypeError, match="linear_model_estimate"):
        MultipleAnalyses([est, est]).pool()
    assert extract(LinearRegression().fit(d[["x1"]], d["y"]), data=d).cov is not None


def test_rank_deficient_design_is_refused(mi):
    every_level = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["g"])]),
        LinearRegression(),
    )
    fits = mi.analyze(lambda d: clone(every_level).fit(d[["g"]], d["y"]))
    with pytest.raises(TypeError, match=r"rank deficient.*drop='first'"):
        fits.pool()


# ---------------------------------------------------------------------------
# the shared function itself
# ---------------------------------------------------------------------------


def test_linear_model_estimate_matches_statsmodels_wls_and_checks_its_input(mi):
    import statsmodels.api as sm

    d = mi.complete(1)
    w = np.linspace(0.0, 2.0, len(d))  # the first row has weight zero
    model = LinearRegression().fit(d[["x1", "x2"]], d["y"], sample_weight=w)
    est = linear_model_estimate(model, d[["x1", "x2"]], d["y"], sample_weight=w)
    keep = w > 0
    wls = sm.WLS(d["y"][keep], sm.add_constant(d[["x1", "x2"]][keep]), weights=w[keep]).fit()
    np.testing.assert_allclose(est.params.to_numpy(), wls.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(est.cov.to_numpy(), wls.cov_params().to_numpy(), rtol=1e-10)
    assert est.dfcom == wls.df_resid == keep.sum() - 3
    with pytest.raises(ValueError, match="not the least-squares fit"):
        linear_model_estimate(model, d[["x1", "x2"]], d["y"])  # the weights forgotten
    forest = RandomForestRegressor(2, random_state=0).fit(d[["x1"]], d["y"])
    with pytest.raises(TypeError, match="estimator must be a fitted"):
        linear_model_estimate(forest, d[["x1"]], d["y"])
    with pytest.raises(TypeError, match="penalised"):
        linear_model_estimate(Ridge().fit(d[["x1"]], d["y"]), d[["x1"]], d["y"])
    scaled = make_pipeline(StandardScaler(), LinearRegression()).fit(d[["x1", "x2"]], d["y"])
    est = linear_model_estimate(scaled, d[["x1", "x2"]], d["y"])
    assert list(est.params.index) == ["Intercept", "x1", "x2"]
