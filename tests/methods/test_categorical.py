"""Tests of skmice/methods/_categorical.py (logreg, polyreg) and their kernels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from skmice.methods import Design, Logistic, Multinomial, get_method
from skmice.methods._draws import augment_categorical, fit_logistic, fit_multinomial


def simulate_binary(n=1000, beta=(-0.5, 1.0, 0.5), seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, len(beta) - 1))])
    y = (rng.random(n) < expit(X @ np.asarray(beta))).astype(float)
    return X, y


def multinomial_probabilities(X, B):
    eta = np.column_stack([np.zeros(X.shape[0]), X @ B])
    prob = np.exp(eta - eta.max(axis=1, keepdims=True))
    return prob / prob.sum(axis=1, keepdims=True)


def simulate_multinomial(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    B = np.array([[0.3, -0.4], [1.0, -0.5], [0.0, 0.8]])  # p x (K - 1)
    prob = multinomial_probabilities(X, B)
    y = (rng.random(n)[:, None] > prob.cumsum(axis=1)[:, :-1]).sum(axis=1).astype(float)
    # MAR: missingness depends on the first predictor
    miss = rng.random(n) < expit(-0.5 + X[:, 1])
    return X, y, miss, B, prob


# ---------------------------------------------------------------------------
# registration, parameters, input checks


def test_registered_names_and_kinds():
    assert isinstance(get_method("logreg"), Logistic)
    assert isinstance(get_method("polyreg"), Multinomial)
    assert Logistic.supported_kinds == ("binary",)
    assert Multinomial.supported_kinds == ("binary", "categorical")
    assert Multinomial().get_params() == {"draw_parameters": True, "max_iter": 100, "ridge": 1e-5}


@pytest.mark.parametrize(
    "method, y, message",
    [
        (Logistic(), np.array([0.0, 1.0, 2.0, 1.0]), "binary codes"),
        (Logistic(ridge=-1), np.array([0.0, 1.0, 1.0, 1.0]), "ridge"),
        (Logistic(max_iter=0), np.array([0.0, 1.0, 1.0, 1.0]), "max_iter"),
        (Multinomial(), np.array([0.0, 1.5, 2.0, 1.0]), "category codes"),
        (Multinomial(), np.array([0.0, -1.0, 2.0, 1.0]), "category codes"),
        (Multinomial(draw_parameters="yes"), np.array([0.0, 1.0, 2.0, 1.0]), "draw_parameters"),
        (Logistic(), np.array([0.0, np.nan, 1.0, 1.0]), "NaN"),
    ],
)
def test_bad_input_raises_naming_the_problem(method, y, message):
    X = np.column_stack([np.ones(4), np.arange(4.0)])
    with pytest.raises(ValueError, match=message):
        method.fit(Design(X), y, np.random.default_rng(0))


@pytest.mark.parametrize("cls", [Logistic, Multinomial])
def test_sample_checks(cls):
    X, y = simulate_binary(50)
    rng = np.random.default_rng(0)
    with pytest.raises(AttributeError, match="fit"):
        cls().sample(Design(X), rng)
    m = cls().fit(Design(X), y, rng)
    with pytest.raises(ValueError, match="columns"):
        m.sample(Design(X[:, :2]), rng)


@pytest.mark.parametrize("cls", [Logistic, Multinomial])
def test_deterministic_given_the_generator(cls):
    X, y = simulate_binary(300)
    out = []
    for _ in range(2):
        rng = np.random.default_rng(5)
        out.append(cls().fit(Design(X[:200]), y[:200], rng).sample(Design(X[200:]), rng))
    np.testing.assert_array_equal(out[0], out[1])


# ---------------------------------------------------------------------------
# augmentation (White, Daniel and Royston 2010)


def r_augment(x, icod):
    """A literal transcription of mice's ``augment`` (R fills matrices by column)."""
    n, p = x.shape
    k = len(icod)
    nr = 2 * p * k
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    a = np.tile(mean, (nr, 1))
    cycle = np.concatenate([np.tile([0.5, -0.5], k), np.zeros(nr)])
    b = np.resize(cycle, nr * p).reshape(p, nr).T  # rep(..., length = nr * p), byrow = FALSE
    c = np.tile(sd, (nr, 1))
    d = np.clip(a + b * c, x.min(axis=0), x.max(axis=0))
    e = np.tile(np.repeat(icod, 2), p)
    w = np.full(nr, (p + 1) / nr)
    return d, e, w


def test_augmentation_matches_r():
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.standard_normal(30), rng.exponential(size=30), rng.random(30) < 0.3])
    y = rng.integers(3, size=30).astype(float)
    X = np.column_stack([np.ones(30), x])
    icod = np.array([0.0, 1.0, 2.0])
    Xa, ya, wa = augment_categorical(X, y, icod)
    d, e, w = r_augment(x, icod)
    np.testing.assert_allclose(Xa[30:, 1:], d)
    np.testing.assert_array_equal(Xa[30:, 0], 1.0)
    np.testing.assert_array_equal(ya[30:], e)
    np.testing.assert_allclose(wa[30:], w)
    np.testing.assert_array_equal(Xa[:30], X)
    np.testing.assert_array_equal(ya[:30], y)
    np.testing.assert_array_equal(wa[:30], 1.0)
    # total pseudo weight p + 1, split equally over categories
    assert wa[30:].sum() == pytest.approx(4.0)


def test_augmentation_skipped_without_predictors():
    X = np.ones((5, 1))
    y = np.array([0.0, 1, 1, 0, 1])
    Xa, ya, wa = augment_categorical(X, y, np.array([0.0, 1.0]))
    assert Xa.shape == (5, 1) and np.all(wa == 1)


# ---------------------------------------------------------------------------
# kernels against statsmodels (no penalty)


def test_fit_logistic_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    X, y = simulate_binary(800, seed=2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 800)
    fit = fit_logistic(X, y, w, ridge=0.0)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit()
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.linalg.inv(fit.hessian), ref.cov_params(), rtol=1e-6)
    assert fit.converged


def test_fit_multinomial_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    X, y, _, _, _ = simulate_multinomial(1000, seed=3)
    fit = fit_multinomial(X, y, 3, ridge=0.0)
    ref = sm.MNLogit(y, X).fit(disp=0)
    np.testing.assert_allclose(fit.coef.reshape(2, 3).T, ref.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.linalg.inv(fit.hessian), ref.cov_params(), rtol=1e-6, atol=1e-12)


def test_multinomial_with_two_categories_is_logistic():
    X, y = simulate_binary(500, seed=4)
    rng = np.random.default_rng(0)
    a = Logistic().fit(Design(X), y, rng)
    b = Multinomial().fit(Design(X), y, rng)
    np.testing.assert_allclose(b.beta_hat_[:, 0], a.beta_hat_, rtol=1e-7)
    np.testing.assert_allclose(b.cov_, a.cov_, rtol=1e-6)


# ---------------------------------------------------------------------------
# logreg: statistics


def test_logreg_recovers_coefficients_on_average():
    beta = np.array([-0.5, 1.0, 0.5])
    estimates = []
    for seed in range(30):
        X, y = simulate_binary(600, beta=tuple(beta), seed=100 + seed)
        m = Logistic().fit(Design(X), y, np.random.default_rng(seed))
        estimates.append(m.beta_star_)
    estimates = np.array(estimates)
    # beta* = beta_hat + posterior noise: mean beta, spread about sqrt(2) x the SE
    se = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - beta) < 4 * se + 0.02)


def test_logreg_draws_follow_the_posterior_covariance():
    X, y = simulate_binary(400, seed=5)
    rng = np.random.default_rng(1)
    draws = np.array([Logistic().fit(Design(X), y, rng).beta_star_ for _ in range(1500)])
    m = Logistic().fit(Design(X), y, rng)
    se = np.sqrt(np.diag(m.cov_))
    assert np.all(np.abs(draws.mean(axis=0) - m.beta_hat_) < 4 * se / np.sqrt(1500))
    np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.1)


def test_logreg_imputed_proportion_matches_the_truth():
    beta = np.array([-0.5, 1.0, 0.5])
    X, y = simulate_binary(2000, beta=tuple(beta), seed=6)
    rng = np.random.default_rng(2)
    miss = rng.random(2000) < expit(X[:, 1])  # MAR on x1
    target = expit(X[miss] @ beta).mean()
    props = np.array(
        [
            Logistic().fit(Design(X[~miss]), y[~miss], rng).sample(Design(X[miss]), rng).mean()
            for _ in range(100)
        ]
    )
    se = props.std(ddof=1)  # dominated by parameter uncertainty, shared by all draws
    assert abs(props.mean() - target) < 3 * se


def test_logreg_all_observed_values_equal():
    """Both categories are augmented: finite fit, imputations mostly the observed value."""
    X, _ = simulate_binary(200, seed=7)
    rng = np.random.default_rng(3)
    for value in (0.0, 1.0):
        y = np.full(200, value)
        agree = []
        for _ in range(100):
            m = Logistic().fit(Design(X), y, rng)
            assert np.all(np.isfinite(m.beta_star_)) and np.all(np.isfinite(m.cov_))
            agree.append(np.mean(m.sample(Design(X), rng) == value))
        # the pseudo-observations weigh (p + 1) / 2 = 1.5 rows against 200
        assert np.mean(agree) > 0.95


def test_logreg_perfect_separation():
    rng = np.random.default_rng(4)
    n = 200
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = (x > 0).astype(float)
    m = Logistic().fit(Design(X), y, rng)
    assert np.all(np.isfinite(m.beta_star_))
    out = m.sample(Design(X), rng)
    assert np.mean(out == y) > 0.85
    # without augmentation, the ridge alone keeps the estimate finite
    fit = fit_logistic(X, y)
    assert np.all(np.isfinite(fit.coef)) and fit.coef[1] > 5


@pytest.mark.parametrize("cls", [Logistic, Multinomial])
def test_single_observed_row(cls):
    X, _ = simulate_binary(10)
    rng = np.random.default_rng(0)
    m = cls().fit(Design(X[:1]), np.array([1.0]), rng)
    out = m.sample(Design(X), rng)
    assert np.all(np.isfinite(out)) and set(out) <= {0.0, 1.0}


def test_logreg_intercept_only():
    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.3).astype(float)
    m = Logistic().fit(Design(np.ones((500, 1))), y, rng)
    assert m.beta_hat_[0] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=1e-4)


def test_logreg_constant_predictor_among_observed_rows_is_aliased():
    X, y = simulate_binary(300, seed=8)
    Xd = np.column_stack([X, np.ones(300)])
    rng = np.random.default_rng(0)
    m = Logistic().fit(Design(Xd), y, rng)
    assert m.beta_star_[3] == 0.0 and m.cov_[3, 3] == 0.0
    Xnew = Xd.copy()
    Xnew[:, 3] = 0.0
    p = expit(Xnew @ m.beta_star_)
    assert 0.05 < p.mean() < 0.95  # no intercept explosion


def test_logreg_numerical_failure_names_the_method():
    X = np.column_stack([np.ones(10), np.linspace(1, 2, 10) * 1e200])
    y = np.array([0.0, 1.0] * 5)
    with pytest.raises(FloatingPointError, match="logreg"):
        Logistic().fit(Design(X), y, np.random.default_rng(0))


# ---------------------------------------------------------------------------
# polyreg: statistics


def test_polyreg_imputed_proportions_match_the_truth():
    X, y, miss, _, prob = simulate_multinomial(1500, seed=9)
    target = prob[miss].mean(axis=0)
    rng = np.random.default_rng(1)
    props = []
    for _ in range(60):
        m = Multinomial().fit(Design(X[~miss]), y[~miss], rng)
        out = m.sample(Design(X[miss]), rng)
        props.append(np.bincount(out.astype(int), minlength=3) / miss.sum())
    props = np.array(props)
    se = props.std(axis=0, ddof=1)
    assert np.all(np.abs(props.mean(axis=0) - target) < 3 * se)
    # complete cases would be off: the check has power
    assert np.abs(np.bincount(y[~miss].astype(int)) / (~miss).sum() - target).max() > 0.03


def test_polyreg_draws_parameters_unless_told_not_to():
    X, y, _, _, _ = simulate_multinomial(600, seed=10)
    rng = np.random.default_rng(2)
    r_like = Multinomial(draw_parameters=False).fit(Design(X), y, rng)
    np.testing.assert_array_equal(r_like.beta_star_, r_like.beta_hat_)
    draws = np.array(
        [Multinomial().fit(Design(X), y, rng).beta_star_.T.ravel() for _ in range(1000)]
    )
    se = np.sqrt(np.diag(r_like.cov_))
    assert np.all(np.abs(draws.mean(axis=0) - r_like.beta_hat_.T.ravel()) < 4 * se / np.sqrt(1000))
    np.testing.assert_allclose(draws.std(axis=0), se, rtol=0.1)


def test_polyreg_category_observed_once():
    X, y, _, _, _ = simulate_multinomial(400, seed=11)
    y = y.copy()
    y[7] = 3.0  # a fourth category, observed once
    rng = np.random.default_rng(3)
    m = Multinomial().fit(Design(X), y, rng)
    np.testing.assert_array_equal(m.classes_, [0.0, 1.0, 2.0, 3.0])
    assert np.all(np.isfinite(m.beta_star_)) and m.beta_star_.shape == (3, 3)
    out = m.sample(Design(X), rng)
    assert set(out) <= {0.0, 1.0, 2.0, 3.0}
    assert np.mean(out == 3.0) < 0.05


def test_polyreg_imputes_only_observed_codes():
    X, y, _, _, _ = simulate_multinomial(300, seed=12)
    y = np.where(y == 1.0, 4.0, y)  # codes 0, 2, 4: 1 and 3 unobserved
    rng = np.random.default_rng(4)
    m = Multinomial().fit(Design(X), y, rng)
    np.testing.assert_array_equal(m.classes_, [0.0, 2.0, 4.0])
    assert set(m.sample(Design(X), rng)) <= {0.0, 2.0, 4.0}


def test_polyreg_single_category():
    X, _, _, _, _ = simulate_multinomial(50)
    rng = np.random.default_rng(5)
    m = Multinomial().fit(Design(X), np.full(50, 2.0), rng)
    np.testing.assert_array_equal(m.sample(Design(X), rng), 2.0)


def test_polyreg_intercept_only_matches_observed_frequencies():
    rng = np.random.default_rng(6)
    y = rng.choice(3, size=900, p=[0.5, 0.3, 0.2]).astype(float)
    m = Multinomial(draw_parameters=False).fit(Design(np.ones((900, 1))), y, rng)
    proba = m.predict_proba(Design(np.ones((1, 1))))[0]
    np.testing.assert_allclose(proba, np.bincount(y.astype(int)) / 900, atol=1e-4)
    out = m.sample(Design(np.ones((20000, 1))), rng)
    freq = np.bincount(out.astype(int), minlength=3) / 20000
    assert np.all(np.abs(freq - proba) < 4 * np.sqrt(proba * (1 - proba) / 20000))


def test_polyreg_perfect_prediction_stays_finite():
    rng = np.random.default_rng(7)
    n = 300
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = np.digitize(x, [-0.5, 0.5]).astype(float)  # separated by x
    m = Multinomial().fit(Design(X), y, rng)
    assert np.all(np.isfinite(m.beta_star_))
    assert np.mean(m.sample(Design(X), rng) == y) > 0.8
