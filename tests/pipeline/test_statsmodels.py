"""Tests of the statsmodels adapters (skmice/pipeline/_statsmodels.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skmice import StatsmodelsClassifier, StatsmodelsRegressor

sm = pytest.importorskip("statsmodels.api")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"])
    y = 0.5 + X["a"] - X["b"] + rng.normal(size=120)
    return X, y


def test_statsmodels_wrappers_match_statsmodels(data):
    X, y = data
    reg = StatsmodelsRegressor().fit(X, y)
    ols = sm.OLS(y.to_numpy(), sm.add_constant(X.to_numpy())).fit()
    np.testing.assert_allclose(reg.results_.params.to_numpy(), ols.params)
    assert list(reg.results_.params.index) == ["Intercept", "a", "b"]
    np.testing.assert_allclose(reg.predict(X), ols.fittedvalues)
    labels = np.where(y > 0.5, "yes", "no")
    clf = StatsmodelsClassifier().fit(X, labels)
    logit = sm.Logit((labels == "yes").astype(float), sm.add_constant(X.to_numpy())).fit(disp=0)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], logit.predict(), rtol=1e-6)
    assert clf.coef_.shape == (1, 2) and clf.classes_.tolist() == ["no", "yes"]
    with pytest.raises(ValueError, match="binary"):
        StatsmodelsClassifier().fit(X, np.arange(120) % 3)


@pytest.mark.parametrize("estimator", [StatsmodelsRegressor, StatsmodelsClassifier])
def test_without_intercept_and_unnamed_columns(data, estimator):
    X, y = data
    target = y.to_numpy() if estimator is StatsmodelsRegressor else (y > 0.5).astype(int)
    model = estimator(fit_intercept=False).fit(X.to_numpy(), target)
    assert list(model.results_.params.index) == ["x0", "x1"]
    np.testing.assert_array_equal(np.ravel(model.coef_), model.results_.params.to_numpy())
    assert np.all(np.ravel(model.intercept_) == 0.0)
    assert clone(model).get_params() == {"fit_intercept": False}


def test_regressor_weights_and_not_fitted(data):
    X, y = data
    w = np.linspace(0.5, 2.0, len(y))
    reg = StatsmodelsRegressor().fit(X, y, sample_weight=w)
    wls = sm.WLS(y.to_numpy(), sm.add_constant(X.to_numpy()), weights=w).fit()
    np.testing.assert_allclose(reg.results_.params.to_numpy(), wls.params)
    with pytest.raises(NotFittedError):
        StatsmodelsRegressor().predict(X)
    with pytest.raises(NotFittedError):
        StatsmodelsClassifier().decision_function(X)


def test_regressor_zero_weights_are_removed_rows(data):
    # scikit-learn's meaning of a zero weight: the row might as well not be
    # there; results_ (nobs, df_resid, standard errors) is that of the fit without it
    X, y = data
    w = np.ones(len(y))
    w[::3] = 0.0
    w[1::3] = 2.0
    weighted = StatsmodelsRegressor().fit(X, y, sample_weight=w)
    kept = w > 0
    subset = StatsmodelsRegressor().fit(X[kept], y[kept], sample_weight=w[kept])
    assert weighted.results_.nobs == kept.sum()
    assert weighted.results_.df_resid == subset.results_.df_resid
    np.testing.assert_allclose(weighted.results_.bse, subset.results_.bse)
    np.testing.assert_allclose(weighted.predict(X), subset.predict(X))


@pytest.mark.parametrize(
    "weights, match",
    [
        (lambda n: -np.ones(n), "Negative values in data passed to `sample_weight`"),
        (lambda n: np.zeros(n), "(?i)sample.weights? must contain at least one non-zero"),
        (lambda n: np.ones(n - 1), "sample_weight.shape"),
    ],
)
def test_regressor_bad_weights(data, weights, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        StatsmodelsRegressor().fit(X, y, sample_weight=weights(len(y)))


def test_classifier_is_binary_and_checks_fitted(data):
    X, y = data
    assert StatsmodelsClassifier().__sklearn_tags__().classifier_tags.multi_class is False
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        StatsmodelsClassifier().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="1 class"):
        StatsmodelsClassifier().fit(X, np.ones(len(y)))
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(StatsmodelsClassifier(), method)(X)
