"""Tests of the Polya-Gamma sampler and the two-level logistic method (2l.bin)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.exceptions import NotFittedError

from skmice import MultilevelIterativeImputer
from skmice.methods import Design, TwoLevelLogistic, get_method, random_polyagamma
from skmice.methods import _polyagamma as pg


def pg_mean(c):
    c = float(c)
    return 0.25 if c == 0 else np.tanh(c / 2) / (2 * c)


def pg_var(c):
    # (sinh c - c) / (4 c^3 cosh(c/2)^2), written without overflow for large c
    c = abs(float(c))
    if c == 0:
        return 1 / 24
    return (2 * np.tanh(c / 2) - c / np.cosh(min(c / 2, 300.0)) ** 2) / (4 * c**3)


@pytest.mark.parametrize(
    "c", [0.0, 0.1, 1.0, 2.5, 5.0, 5.99, 6.01, 8.0, 50.0, 1e3, 1e5, -4.0]
)
def test_polyagamma_moments(c):
    # both envelopes (|c| < 6 and above), the switch between them, very large
    # and negative c: mean and variance against the closed forms, 4 standard errors
    n = 200_000
    w = random_polyagamma(np.full(n, c), np.random.default_rng(int(abs(c) * 10) % 2**32))
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    mean, var = pg_mean(c), pg_var(c)
    assert abs(w.mean() - mean) < 4 * np.sqrt(var / n)
    # standard error of the sample variance: sqrt((m4 - var^2) / n), m4 estimated
    m4 = np.mean((w - w.mean()) ** 4)
    assert abs(w.var() - var) < 4 * np.sqrt((m4 - var**2) / n)


def reference_polyagamma(c, n, rng, terms=1_000):
    """Slow reference: PG(1, c) = sum_k g_k / (2 pi^2 ((k - 1/2)^2 + c^2 / (4 pi^2))).

    ``g_k ~ Exp(1)``; the first ``terms`` terms, plus the mean of the remaining
    tail (its standard deviation is below 1e-6 of that of the draw).
    """
    k = np.arange(1, terms + 1)
    inv = 1 / (2 * np.pi**2 * ((k - 0.5) ** 2 + c**2 / (4 * np.pi**2)))
    return rng.standard_exponential((n, terms)) @ inv + (pg_mean(c) - inv.sum())


@pytest.mark.parametrize("c", [0.0, 1.5, 5.5, 9.0])
def test_polyagamma_distribution_matches_series_representation(c):
    series = reference_polyagamma(c, 10_000, np.random.default_rng(5))
    exact = random_polyagamma(np.full(10_000, c), np.random.default_rng(6))
    assert stats.ks_2samp(series, exact).pvalue > 0.001


def jstar_cdf(c):
    """CDF of PG(1, c), from the alternating-series density of J*(1, |c|/2) integrated."""
    z = abs(c) / 2
    x = np.r_[np.linspace(1e-4, 0.05, 500, endpoint=False), np.linspace(0.05, 40 / (1 + z), 10**5)]
    k = (np.arange(40)[:, None] + 0.5) * np.pi  # (n + 1/2) pi
    sign = (-1.0) ** np.arange(40)[:, None]
    left = np.sum(sign * k * (2 / (np.pi * x)) ** 1.5 * np.exp(-2 * k**2 / (np.pi**2 * x)), 0)
    right = np.sum(sign * k * np.exp(-(k**2) * x / 2), 0)
    dens = np.exp(-z * z * x / 2) * np.where(x < 0.64, left, right)
    F = np.r_[0, np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(x))]
    return lambda w: np.interp(4 * np.asarray(w), x, F / F[-1])


@pytest.mark.parametrize("c", [0.5, 3.0, 5.9, 7.0, 20.0])
def test_polyagamma_distribution_matches_exact_cdf(c):
    w = random_polyagamma(np.full(100_000, c), np.random.default_rng(7))
    assert stats.kstest(w, jstar_cdf(c)).pvalue > 0.001


@pytest.mark.parametrize("z", [0.0, 0.5, 1.5, 2.9, 3.0, 6.0])
def test_polyagamma_acceptance_rate_matches_envelope(z):
    # the rate at which candidates are accepted is 1 / (cosh(z) * mass of the
    # envelope): a sharp check of the pieces' masses (the mixture weights)
    from scipy.integrate import quad

    K = np.pi**2 / 8 + z * z / 2
    if z < pg._TANGENT_ZMAX:
        t, a, v0 = pg._T, pg._A, pg._V0
        lam = v0 - z * z / v0**3
        h0 = -(v0**2) / 2 - z * z / (2 * v0**2)
        left = quad(lambda v: 2 * np.sqrt(2 / np.pi) * np.exp(h0 - lam * (v - v0)), a, np.inf)[0]
    else:
        t = pg._TRUNC

        def a0(x):  # first term of the series on x < t, tilted
            return np.exp(-z * z * x / 2 - 1 / (2 * x)) * np.pi / 2 * (2 / (np.pi * x)) ** 1.5

        left = quad(a0, 0, t)[0]
    right = quad(lambda x: np.pi / 2 * np.exp(-K * x), t, np.inf)[0]
    rate = 1 / (np.cosh(z) * (left + right))
    n = 400_000
    _, accepted = pg._pg_candidates(np.full(n, z), 1, np.random.default_rng(8))
    assert abs(accepted.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / n)


def test_polyagamma_deterministic_shape_symmetry_and_errors():
    c = np.array([[-3.0, 3.0], [0.0, 50.0]])
    w = random_polyagamma(c, np.random.default_rng(0))
    assert w.shape == (2, 2)
    assert random_polyagamma(1.0, np.random.default_rng(0)).shape == ()
    assert random_polyagamma(np.empty(0), np.random.default_rng(0)).shape == (0,)
    # both envelopes in one call; the same seed gives the same draws
    mixed = np.random.default_rng(2).normal(0, 6, 20_000)
    np.testing.assert_array_equal(
        random_polyagamma(mixed, np.random.default_rng(3)),
        random_polyagamma(mixed, np.random.default_rng(3)),
    )
    np.testing.assert_array_equal(random_polyagamma(mixed, 3), random_polyagamma(mixed, 3))
    a = random_polyagamma(np.full(50_000, -2.0), np.random.default_rng(1))
    b = random_polyagamma(np.full(50_000, 2.0), np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="finite"):
        random_polyagamma([np.nan], np.random.default_rng(0))
    with pytest.raises(ValueError, match="finite"):
        random_polyagamma([1.0, np.inf], np.random.default_rng(0))
    # finite values whose sum overflows are fine
    assert np.all(random_polyagamma([1e308, 1e308], np.random.default_rng(0)) >= 0)


def simulate(N=60, size=20, sd=1.0, seed=0, slope=False):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(N), size)
    n = g.size
    x = rng.standard_normal(n)
    u = rng.normal(0, sd, (N, 2)) * [1, 0.5 if slope else 0]
    eta = -0.5 + x + u[g, 0] + u[g, 1] * x
    y = (rng.random(n) < expit(eta)).astype(float)
    X = np.column_stack([np.ones(n), x])
    Z = X if slope else X[:, :1]
    return Design(X=X, Z=Z, groups=g, n_groups=N), y, u, rng


@pytest.mark.parametrize("sorted_rows", [True, False])
@pytest.mark.parametrize("with_offset", [False, True])
def test_random_intercept_step_matches_general_step(sorted_rows, with_offset):
    # the q = 1 step (segment sums over rows in cluster order, scalar algebra)
    # makes the same draws as the general batched step, given the same random
    # numbers: same rows order (the step sorts the rows by cluster, stably),
    # clusters without rows, and an offset (as in 2l.polyreg)
    from skmice.methods._twolevel_binary import (
        _logit_data,
        _logit_step_general,
        _logit_step_intercept,
    )

    rng = np.random.default_rng(13)
    N = 12
    g = rng.integers(0, N, 400)
    g = g[g != 5]  # a cluster without rows
    if sorted_rows:
        g.sort()
    n = g.size
    X = np.column_stack([np.ones(n), rng.normal(3, 2, n), rng.random(n) < 0.3])
    kappa = (rng.random(n) < 0.4) - 0.5
    offset = rng.standard_normal(n) if with_offset else None
    d = _logit_data(Design(X=X, Z=X[:, :1], groups=g, n_groups=N), n, "2l.bin")
    assert (d.order is None) == sorted_rows and not d.all_present
    o = np.arange(n) if d.order is None else d.order
    ds = _logit_data(Design(X=X[o], Z=X[o, :1], groups=g[o], n_groups=N), n, "2l.bin")
    state = {"beta": rng.standard_normal(3), "b": rng.standard_normal((N, 1)),
             "psi": np.array([[0.7]])}
    fast = _logit_step_intercept(d, state, kappa, np.random.default_rng(3), offset)
    general = _logit_step_general(
        ds, state, kappa[o], np.random.default_rng(3), None if offset is None else offset[o]
    )
    for key in ("beta", "b", "psi"):
        np.testing.assert_allclose(fast[key], general[key], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast["omega"][o], general["omega"], rtol=1e-9)


def test_fit_reuses_the_standardised_data_while_the_design_is_unchanged():
    import pickle

    design, y, _, rng = simulate(seed=14)
    m = TwoLevelLogistic().fit(design, y, rng)
    data = m._cache["data"]
    m.fit(Design(X=design.X.copy(), Z=design.Z.copy(), groups=design.groups.copy(),
                 n_groups=design.n_groups), y, rng)
    assert m._cache["data"] is data  # equal arrays: reused
    X2 = design.X.copy()
    X2[0, 1] += 1.0
    m.fit(Design(X=X2, Z=design.Z, groups=design.groups, n_groups=design.n_groups), y, rng)
    assert m._cache["data"] is not data
    np.testing.assert_array_equal(m._cache["X"], X2)
    assert "_cache" not in pickle.loads(pickle.dumps(m)).__dict__


def test_registered_and_kinds():
    m = get_method("2l.bin")
    assert isinstance(m, TwoLevelLogistic)
    assert m.needs_groups and m.supported_kinds == ("binary",)


def test_recovers_fixed_effects_and_variance():
    design, y, u, rng = simulate(N=100, size=30, sd=1.0, seed=1)
    m = TwoLevelLogistic()
    draws = []
    for _ in range(150):
        m.fit(design, y, rng)
        draws.append(np.r_[m.beta_, m.psi_[0, 0]])
    draws = np.array(draws[30:])
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    truth = np.array([-0.5, 1.0, 1.0])
    assert np.all(np.abs(mean - truth) < 3 * sd + 0.05), (mean, sd)
    # the random effects track the true cluster effects
    assert np.corrcoef(m.b_[:, 0], u[:, 0])[0, 1] > 0.7


def test_random_slope_runs_and_is_finite():
    design, y, _, rng = simulate(N=40, size=25, seed=2, slope=True)
    m = TwoLevelLogistic().fit(design, y, rng)
    assert m.b_.shape == (40, 2) and m.psi_.shape == (2, 2)
    assert np.all(np.linalg.eigvalsh(m.psi_) > 0)


def test_warm_start_and_burnin():
    design, y, _, rng = simulate(seed=3)
    m = TwoLevelLogistic(n_burnin=7, n_steps=2)
    m.fit(design, y, rng)
    assert m.n_iter_ == 9
    m.fit(design, y, rng)
    assert m.n_iter_ == 11
    cold = TwoLevelLogistic(n_burnin=7, warm_start=False)
    cold.fit(design, y, rng)
    cold.fit(design, y, rng)
    assert cold.n_iter_ == 8


def test_deterministic_given_seed():
    design, y, _, _ = simulate(seed=4)
    a = TwoLevelLogistic().fit(design, y, np.random.default_rng(9))
    b = TwoLevelLogistic().fit(design, y, np.random.default_rng(9))
    np.testing.assert_array_equal(a.beta_, b.beta_)
    np.testing.assert_array_equal(
        a.sample(design, np.random.default_rng(1)), b.sample(design, np.random.default_rng(1))
    )


def test_clusters_without_observed_rows_and_single_rows():
    rng = np.random.default_rng(5)
    g = np.r_[np.repeat(np.arange(30), 10), 30]  # cluster 30 has one row, 31 none
    n = g.size
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = (rng.random(n) < 0.4).astype(float)
    design = Design(X=X, Z=X[:, :1], groups=g, n_groups=32)
    m = TwoLevelLogistic().fit(design, y, rng)
    assert m.b_.shape == (32, 1) and np.all(np.isfinite(m.b_))
    out = m.sample(Design(X=X[:2], Z=X[:2, :1], groups=np.array([31, 30]), n_groups=32), rng)
    assert set(out) <= {0.0, 1.0}


def test_separation_stays_finite():
    rng = np.random.default_rng(6)
    g = np.repeat(np.arange(20), 10)
    x = rng.standard_normal(200)
    y = (x > 0).astype(float)  # perfectly separated
    X = np.column_stack([np.ones(200), x])
    m = TwoLevelLogistic().fit(Design(X=X, Z=X[:, :1], groups=g, n_groups=20), y, rng)
    assert np.all(np.isfinite(m.beta_)) and m.beta_[1] > 2


def test_new_clusters_use_their_observed_rows():
    design, y, _, rng = simulate(N=50, size=20, sd=1.0, seed=7)
    m = TwoLevelLogistic().fit(design, y, rng)
    # a new cluster whose 40 observed rows are all 1 at x = 0
    X = np.column_stack([np.ones(40), np.zeros(40)])
    new = Design(X=X, Z=X[:, :1], groups=np.full(40, 50), n_groups=51)
    p_post = m.predict_proba(new.take(slice(0, 5)), rng, observed=(new, np.ones(40)))
    p_prior = m.predict_proba(new.take(slice(0, 5)), rng)  # no rows: prior draw
    assert p_post.min() > 0.7  # population value at x = 0: about expit(-0.5) = 0.38
    assert np.all(p_post == p_post[0]) and p_prior.shape == (5,)
    with pytest.raises(TypeError, match="observed"):
        m.sample(new, rng, observed="nope")


def test_errors():
    design, y, _, rng = simulate(seed=8)
    with pytest.raises(ValueError, match="binary codes"):
        TwoLevelLogistic().fit(design, y + 1, rng)
    with pytest.raises(ValueError, match="random_effects"):
        TwoLevelLogistic(random_effects="blup").fit(design, y, rng)
    with pytest.raises(ValueError, match="n_steps"):
        TwoLevelLogistic(n_steps=0).fit(design, y, rng)
    with pytest.raises(ValueError, match="two-level"):
        TwoLevelLogistic().fit(Design(X=design.X), y, rng)
    with pytest.raises(NotFittedError):
        TwoLevelLogistic().sample(design, rng)
    m = TwoLevelLogistic().fit(design, y, rng)
    with pytest.raises(ValueError, match="columns"):
        m.sample(Design(X=design.X[:, :1], Z=design.Z, groups=design.groups, n_groups=60), rng)


def _cluster_tracking(random_effects, seed):
    """Correlation of imputed cluster proportions with the true cluster probabilities."""
    rng = np.random.default_rng(seed)
    N, size = 80, 24
    g = np.repeat(np.arange(N), size)
    n = g.size
    x = rng.standard_normal(n)
    u = rng.normal(0, 1.5, N)
    p = expit(-0.3 + 0.5 * x + u[g])
    y = (rng.random(n) < p).astype(float)
    miss = rng.random(n) < 0.5
    X = np.column_stack([np.ones(n), x])
    design = Design(X=X, Z=X[:, :1], groups=g, n_groups=N)
    m = TwoLevelLogistic(random_effects=random_effects)
    obs = design.take(~miss)
    for _ in range(30):
        m.fit(obs, y[~miss], rng)
    imputed = m.sample(design.take(miss), rng)
    counts = np.bincount(g[miss], minlength=N)
    prop_imp = np.bincount(g[miss], imputed, N) / np.maximum(counts, 1)
    prop_true = np.bincount(g[miss], p[miss], N) / np.maximum(counts, 1)
    has = counts > 0
    return np.corrcoef(prop_imp[has], prop_true[has])[0, 1]


def test_posterior_random_effects_track_clusters_better_than_r_prior_draws():
    post = _cluster_tracking("posterior", 11)
    prior = _cluster_tracking("prior", 11)
    # imputed cluster proportions follow the true cluster effects with the
    # posterior draws; with R's prior draws they hardly do
    # (with about 12 imputed rows per cluster, Bernoulli noise caps the
    # correlation near 0.8; over 20 replications: 0.76 against 0.04)
    assert post > 0.6, post
    assert prior < 0.35, prior
    assert post - prior > 0.4


@pytest.mark.slow
def test_posterior_vs_prior_tracking_over_replications():
    post = np.array([_cluster_tracking("posterior", s) for s in range(20)])
    prior = np.array([_cluster_tracking("prior", s) for s in range(20)])
    assert post.mean() > 0.7 and prior.mean() < 0.15
    assert np.all(post > prior)


def test_imputer_with_boolean_and_numeric_binary_columns():
    rng = np.random.default_rng(12)
    N, size = 40, 15
    g = np.repeat(np.arange(N), size)
    n = g.size
    x = rng.standard_normal(n)
    u = rng.normal(0, 1, N)
    flag = rng.random(n) < expit(x + u[g])
    club = (rng.random(n) < expit(-0.5 + x - u[g])).astype(float)
    df = pd.DataFrame({"g": g, "x": x, "flag": pd.array(flag, dtype="boolean"), "club": club})
    df.loc[rng.random(n) < 0.3, "flag"] = pd.NA
    df.loc[rng.random(n) < 0.3, "club"] = np.nan
    imp = MultilevelIterativeImputer(cluster="g", max_iter=3, random_state=0)
    out = imp.fit_transform(df)
    assert imp.method_names_["flag"] == "2l.bin" and imp.method_names_["club"] == "2l.bin"
    assert out.notna().all().all()
    assert out["flag"].dtype == df["flag"].dtype
    assert set(out["club"].unique()) <= {0.0, 1.0}
    # transform of new data with a new cluster
    new = df.iloc[:30].copy()
    new["g"] = 99
    done = imp.transform(new)
    assert done.notna().all().all()
