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
