"""Tests of skmice/methods/_estimator.py (any scikit-learn estimator as a method)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import BayesianRidge, LinearRegression, LogisticRegression
from sklearn.svm import SVC

from skmice.methods import Design, EstimatorMethod


def simulate_continuous(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = 1.0 + 2.0 * x[:, 0] - x[:, 1] + rng.standard_normal(n)
    miss = rng.random(n) < expit(-0.5 + x[:, 0])
    return np.column_stack([np.ones(n), x]), y, miss


def simulate_binary(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = (rng.random(n) < expit(-0.3 + 1.5 * x[:, 0] + 0.5 * x[:, 1])).astype(float)
    miss = rng.random(n) < expit(-0.5 + x[:, 1])
    return np.column_stack([np.ones(n), x]), y, miss, expit(-0.3 + 1.5 * x[:, 0] + 0.5 * x[:, 1])


# ---------------------------------------------------------------------------
# parameters and resolution of ``proper``


def test_init_stores_parameters_untouched():
    est = BayesianRidge()
    m = EstimatorMethod(est, proper="whatever")
    assert m.estimator is est and m.proper == "whatever"
    assert set(m.get_params(deep=False)) == {"estimator", "proper"}


@pytest.mark.parametrize(
    "estimator, kinds",
    [
        (BayesianRidge(), ("continuous",)),
        (RandomForestRegressor(), ("continuous",)),
        (LogisticRegression(), ("binary", "categorical")),
        (RandomForestClassifier(), ("binary", "categorical")),
    ],
)
def test_supported_kinds_follow_the_estimator(estimator, kinds):
    assert EstimatorMethod(estimator).supported_kinds == kinds


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (BayesianRidge(), "posterior"),
        (LinearRegression(), "bootstrap"),
        (RandomForestRegressor(n_estimators=5), "bootstrap"),
        (LogisticRegression(), "bootstrap"),
    ],
)
def test_auto_resolution(estimator, expected):
    X, y, _ = simulate_continuous(60)
    if expected == "bootstrap" and isinstance(estimator, LogisticRegression):
        y = (y > 1).astype(float)
    m = EstimatorMethod(estimator).fit(Design(X), y, np.random.default_rng(0))
    assert m.proper_ == expected


def test_bad_parameters():
    X, y, _ = simulate_continuous(60)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="proper"):
        EstimatorMethod(BayesianRidge(), proper="exact").fit(Design(X), y, rng)
    with pytest.raises(ValueError, match="return_std"):
        EstimatorMethod(RandomForestRegressor(), proper="posterior").fit(Design(X), y, rng)
    with pytest.raises(ValueError, match="predict_proba"):
        EstimatorMethod(SVC()).fit(Design(X), (y > 1).astype(float), rng)
    with pytest.raises(TypeError, match="implementing .fit. and .predict."):
        EstimatorMethod(object()).fit(Design(X), y, rng)
    with pytest.raises(AttributeError, match="fit"):
        EstimatorMethod(BayesianRidge()).sample(Design(X), rng)


# ---------------------------------------------------------------------------
# the design given to the estimator


def test_intercept_column_is_dropped():
    X, y, _ = simulate_continuous(100)
    m = EstimatorMethod(LinearRegression(), proper="none").fit(
        Design(X), y, np.random.default_rng(0)
    )
    assert m.estimator_.n_features_in_ == 2
    ref = LinearRegression().fit(X[:, 1:], y)
    np.testing.assert_allclose(m.sample(Design(X), np.random.default_rng(1)), ref.predict(X[:, 1:]))


def test_intercept_only_design():
    rng = np.random.default_rng(0)
    y = rng.normal(3, 1, size=200)
    X = np.ones((200, 1))
    for est in (BayesianRidge(), RandomForestRegressor(n_estimators=10)):
        out = EstimatorMethod(est).fit(Design(X), y, rng).sample(Design(X), rng)
        assert np.all(np.isfinite(out))
        assert abs(out.mean() - 3) < 0.5


def test_random_state_is_derived_from_the_generator():
    X, y, miss = simulate_continuous(200)
    est = RandomForestRegressor(n_estimators=10)
    out = []
    for _ in range(2):
        rng = np.random.default_rng(3)
        m = EstimatorMethod(est).fit(Design(X[~miss]), y[~miss], rng)
        out.append(m.sample(Design(X[miss]), rng))
    np.testing.assert_array_equal(out[0], out[1])
    assert isinstance(m.estimator_.random_state, int)
    assert est.random_state is None  # the user's estimator is untouched
    assert not hasattr(est, "estimators_")
    other = EstimatorMethod(est).fit(Design(X[~miss]), y[~miss], np.random.default_rng(4))
    assert other.estimator_.random_state != m.estimator_.random_state


# ---------------------------------------------------------------------------
# regressors


def test_bayesian_ridge_posterior_draws():
    X, y, miss = simulate_continuous(600, seed=1)
    rng = np.random.default_rng(0)
    n_rep = 50
    means, spreads = [], []
    for _ in range(n_rep):
        m = EstimatorMethod(BayesianRidge()).fit(Design(X[~miss]), y[~miss], rng)
        out = m.sample(Design(X[miss]), rng)
        pred = m.estimator_.predict(X[miss][:, 1:])
        means.append(out.mean())
        spreads.append(np.std(out - pred))
    truth = X[miss].mean(axis=0) @ [1.0, 2.0, -1.0]
    se = np.std(means, ddof=1) / np.sqrt(n_rep) + 1 / np.sqrt((~miss).sum())
    assert abs(np.mean(means) - truth) < 4 * se
    assert abs(np.mean(spreads) - 1.0) < 0.1  # residual sd of the model


@pytest.mark.parametrize("estimator", [LinearRegression(), RandomForestRegressor(n_estimators=30)])
def test_bootstrap_regressor_adds_residual_noise(estimator):
    X, y, miss = simulate_continuous(500, seed=2)
    rng = np.random.default_rng(1)
    m = EstimatorMethod(estimator).fit(Design(X[~miss]), y[~miss], rng)
    assert m.proper_ == "bootstrap"
    out = m.sample(Design(X[miss]), rng)
    pred = m.estimator_.predict(X[miss][:, 1:])
    noise = out - pred
    assert np.isin(noise.round(10), m.residuals_.round(10)).all()
    # out-of-bag residuals: about the model's residual sd (forests a bit more)
    assert 0.8 < noise.std() < 1.8
    assert np.corrcoef(out, y[miss])[0, 1] > 0.6


def test_bootstrap_spreads_the_parameters():
    """Refits on bootstrap resamples vary like the sampling distribution."""
    X, y, _ = simulate_continuous(200, seed=3)
    rng = np.random.default_rng(2)
    slopes = np.array(
        [
            EstimatorMethod(LinearRegression()).fit(Design(X), y, rng).estimator_.coef_[0]
            for _ in range(400)
        ]
    )
    ref = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ ref[0]
    se = np.sqrt(resid @ resid / (200 - 3) * np.linalg.inv(X.T @ X)[1, 1])
    assert abs(slopes.std(ddof=1) / se - 1) < 0.2
    assert abs(slopes.mean() - ref[0][1]) < 4 * se / np.sqrt(400)


def test_none_is_plain_prediction():
    X, y, miss = simulate_continuous(200, seed=4)
    m = EstimatorMethod(DummyRegressor(), proper="none").fit(
        Design(X[~miss]), y[~miss], np.random.default_rng(0)
    )
    np.testing.assert_allclose(m.sample(Design(X[miss]), np.random.default_rng(0)), y[~miss].mean())


def test_single_observed_row_regressor():
    X, y, _ = simulate_continuous(20)
    rng = np.random.default_rng(0)
    for est in (BayesianRidge(), LinearRegression()):
        out = EstimatorMethod(est).fit(Design(X[:1]), y[:1], rng).sample(Design(X), rng)
        assert np.all(np.isfinite(out))


# ---------------------------------------------------------------------------
# classifiers


@pytest.mark.parametrize(
    "estimator", [LogisticRegression(), RandomForestClassifier(n_estimators=50, max_depth=4)]
)
def test_classifier_draws_classes_with_the_right_proportion(estimator):
    X, y, miss, prob = simulate_binary(800, seed=5)
    rng = np.random.default_rng(3)
    props = []
    for _ in range(30):
        m = EstimatorMethod(estimator).fit(Design(X[~miss]), y[~miss], rng)
        out = m.sample(Design(X[miss]), rng)
        assert set(np.unique(out)) <= {0.0, 1.0}
        props.append(out.mean())
    target = prob[miss].mean()
    se = np.std(props, ddof=1)
    assert abs(np.mean(props) - target) < 3 * se + 0.02


def test_multiclass_codes_are_kept():
    rng = np.random.default_rng(6)
    n = 400
    x = rng.standard_normal(n)
    y = np.digitize(x + rng.standard_normal(n), [-0.7, 0.7]) * 2.0  # codes 0, 2, 4
    X = np.column_stack([np.ones(n), x])
    m = EstimatorMethod(LogisticRegression()).fit(Design(X), y, rng)
    np.testing.assert_array_equal(m.classes_, [0.0, 2.0, 4.0])
    out = m.sample(Design(X), rng)
    assert set(np.unique(out)) <= {0.0, 2.0, 4.0}
    assert np.corrcoef(out, x)[0, 1] > 0.4


def test_classifier_with_a_single_observed_class():
    X, _, _, _ = simulate_binary(50)
    rng = np.random.default_rng(0)
    m = EstimatorMethod(LogisticRegression()).fit(Design(X), np.ones(50), rng)
    assert m.estimator_ is None and m.constant_ == 1.0
    np.testing.assert_array_equal(m.sample(Design(X), rng), 1.0)


def test_classifier_none_predicts_the_mode():
    X, y, _, _ = simulate_binary(300, seed=7)
    m = EstimatorMethod(LogisticRegression(), proper="none").fit(
        Design(X), y, np.random.default_rng(0)
    )
    ref = LogisticRegression().fit(X[:, 1:], y)
    np.testing.assert_array_equal(
        m.sample(Design(X), np.random.default_rng(0)), ref.predict(X[:, 1:])
    )


def test_classifier_without_predict_proba_works_with_none():
    X, y, _, _ = simulate_binary(100)
    m = EstimatorMethod(SVC(), proper="none").fit(Design(X), y, np.random.default_rng(0))
    assert set(m.sample(Design(X), np.random.default_rng(0))) <= {0.0, 1.0}


class _Broken(BaseEstimator):
    """A regressor that predicts NaN."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.full(X.shape[0], np.nan)


def test_non_finite_predictions_raise_naming_the_method():
    X, y, _ = simulate_continuous(50)
    rng = np.random.default_rng(0)
    with pytest.raises(FloatingPointError, match="EstimatorMethod"):
        EstimatorMethod(_Broken(), proper="none").fit(Design(X), y, rng).sample(Design(X), rng)
