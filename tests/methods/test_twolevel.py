"""Tests of the two-level continuous methods (2l.pan / 2l.lmer, 2l.norm, 2l.pmm)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skmice.methods._base import Design, get_method
from skmice.methods._donors import match_donors
from skmice.methods._twolevel import (
    TwoLevelHeteroscedastic,
    TwoLevelNormal,
    TwoLevelPMM,
    _initial_dispersion,
    _normal_step,
    _ols,
    _prepare,
)

PSI = np.array([[0.5, 0.1], [0.1, 0.2]])
BETA = np.array([1.0, 2.0, 0.5])
SIGMA2 = 0.4


def simulate(n_groups=200, size=10, seed=0, psi=PSI, beta=BETA, sigma2=SIGMA2, sigma2_j=None):
    """Random intercept and slope of x, a cluster-level predictor w."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    n = g.size
    x = rng.standard_normal(n)
    w = rng.standard_normal(n_groups)[g]
    X = np.column_stack([np.ones(n), x, w])
    q = psi.shape[0]
    Z = X[:, :q].copy()
    b = rng.multivariate_normal(np.zeros(q), psi, n_groups)
    sd = np.sqrt(sigma2 if sigma2_j is None else sigma2_j[g])
    y = X @ beta + np.einsum("ij,ij->i", Z, b[g]) + sd * rng.standard_normal(n)
    return Design(X=X, Z=Z, groups=g, n_groups=n_groups), y, b


def run_chain(method, design, y, n_iter, seed=0, burn=50):
    rng = np.random.default_rng(seed)
    draws = []
    for it in range(n_iter):
        method.fit(design, y, rng)
        if it >= burn:
            draws.append(
                {
                    "beta": method.beta_.copy(),
                    "psi": method.psi_.copy(),
                    "sigma2": np.copy(method.sigma2_),
                    "b": method.b_.copy(),
                }
            )
    return {k: np.array([d[k] for d in draws]) for k in draws[0]}


def assert_within(draws, truth, n_sd=4.0):
    """Truth within n_sd posterior standard deviations of the posterior mean."""
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    assert np.all(np.abs(mean - truth) < n_sd * sd), (mean, sd, truth)


# ---------------------------------------------------------------- registry, API


def test_registered_names():
    assert type(get_method("2l.pan")) is TwoLevelNormal
    assert type(get_method("2l.lmer")) is TwoLevelNormal
    assert type(get_method("2l.norm")) is TwoLevelHeteroscedastic
    assert type(get_method("2l.pmm")) is TwoLevelPMM
    for cls in (TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM):
        assert cls.needs_groups
    assert TwoLevelPMM.supported_kinds == ("continuous", "binary", "categorical")


def test_parameters_stored_untouched():
    m = TwoLevelHeteroscedastic(fixed_effects="ignore", n_steps=3, n_burnin=7, warm_start=False)
    assert m.get_params() == {
        "fixed_effects": "ignore",
        "n_steps": 3,
        "n_burnin": 7,
        "warm_start": False,
    }
    assert TwoLevelPMM(donors=3).get_params()["donors"] == 3


@pytest.mark.parametrize(
    "method, match",
    [
        (TwoLevelNormal(n_steps=0), "n_steps"),
        (TwoLevelNormal(n_burnin=-1), "n_burnin"),
        (TwoLevelNormal(warm_start="yes"), "warm_start"),
        (TwoLevelHeteroscedastic(fixed_effects="all"), "fixed_effects"),
        (TwoLevelPMM(donors=0), "donors"),
    ],
)
def test_invalid_parameters(method, match):
    design, y, _ = simulate(10, 3)
    with pytest.raises(ValueError, match=match):
        method.fit(design, y, np.random.default_rng(0))


def test_invalid_designs():
    design, y, _ = simulate(10, 3)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="2l.pan is a two-level method"):
        TwoLevelNormal().fit(Design(X=design.X), y, rng)
    bad = Design(design.X.copy(), design.Z, design.groups, design.n_groups)
    bad.X[3, 1] = np.nan
    with pytest.raises(ValueError, match="2l.pan: design.X holds NaN"):
        TwoLevelNormal().fit(bad, y, rng)
    with pytest.raises(ValueError, match="2l.norm: y holds NaN"):
        TwoLevelHeteroscedastic().fit(design, np.r_[np.nan, y[1:]], rng)
    with pytest.raises(ValueError, match="intercept"):
        TwoLevelNormal().fit(Design(design.X[:, 1:], design.Z, design.groups, 10), y, rng)
    with pytest.raises(ValueError, match="n_groups"):
        TwoLevelNormal().fit(Design(design.X, design.Z, design.groups, 5), y, rng)
    with pytest.raises(ValueError, match="no observed values"):
        TwoLevelNormal().fit(design.take(np.zeros(y.size, bool)), y[:0], rng)
    with pytest.raises(NotFittedError):
        TwoLevelPMM().sample(design, rng)
    m = TwoLevelNormal().fit(design, y, rng)
    with pytest.raises(ValueError, match="columns"):
        m.sample(Design(design.X[:, :2], design.Z, design.groups, 10), rng)


# ------------------------------------------------------ recovery of parameters


def test_normal_recovers_parameters():
    design, y, _ = simulate(200, 10, seed=1)
    draws = run_chain(TwoLevelNormal(), design, y, 300, seed=1)
    assert_within(draws["beta"], BETA)
    assert_within(draws["psi"], PSI)
    assert_within(draws["sigma2"], SIGMA2)
    # and the posterior is reasonably concentrated (N = 200 clusters)
    assert draws["psi"][:, 0, 0].std() < 0.1
    assert draws["sigma2"].std() < 0.02


def test_blocked_beta_mixes_with_cluster_level_predictor():
    # w is cluster-level and far from zero: plain Gibbs beta | b mixes slowly
    design, y, _ = simulate(100, 20, seed=2, psi=np.array([[1.0]]))
    design.X[:, 2] += 3.0
    pb = _prepare(design, y, "test", "normal")
    rng = np.random.default_rng(0)
    lag1 = {}
    for blocked in (True, False):
        psi, s2, b, trace = np.eye(1), 0.5, None, []
        for _ in range(400):
            beta, b, psi, s2 = _normal_step(pb, psi, s2, rng, blocked=blocked, b=b)
            trace.append(beta[2])
        t = np.array(trace[50:]) - np.mean(trace[50:])
        lag1[blocked] = (t[1:] @ t[:-1]) / (t @ t)
    assert abs(lag1[True]) < 0.2
    assert lag1[False] > 0.7


def test_blocked_and_plain_gibbs_agree():
    design, y, _ = simulate(40, 5, seed=3)
    pb = _prepare(design, y, "test", "normal")
    rng = np.random.default_rng(1)
    means = {}
    for blocked in (True, False):
        psi, s2, b, trace = np.eye(2) * 0.3, 0.3, None, []
        for it in range(1500):
            beta, b, psi, s2 = _normal_step(pb, psi, s2, rng, blocked=blocked, b=b)
            if it >= 200:
                trace.append(np.r_[beta, psi[0, 0], s2])
        means[blocked] = np.array(trace)
    sd = means[True].std(axis=0)
    # plain Gibbs has autocorrelation times up to ~30 here: effective size >= 40
    assert np.all(np.abs(means[True].mean(0) - means[False].mean(0)) < 4 * sd / np.sqrt(40))


def test_heteroscedastic_recovers_variance_pattern():
    rng = np.random.default_rng(4)
    sigma2_j = np.exp(rng.normal(np.log(0.4), 0.6, 100))
    design, y, _ = simulate(100, 20, seed=4, sigma2_j=sigma2_j)
    m = TwoLevelHeteroscedastic()
    draws = run_chain(m, design, y, 300, seed=4)
    est = draws["sigma2"].mean(axis=0)
    assert np.corrcoef(np.log(est), np.log(sigma2_j))[0, 1] > 0.75
    lo, hi = np.quantile(draws["sigma2"], [0.05, 0.95], axis=0)
    assert np.mean((sigma2_j > lo) & (sigma2_j < hi)) > 0.75
    assert_within(draws["beta"], BETA)
    assert_within(draws["psi"], PSI)
    # theta ~ var(log sigma_j^2) / 2 = 0.18
    assert 0.05 < m.theta_ < 0.6


def test_heteroscedastic_ignore_reproduces_r_model():
    # R's 2l.norm: only Z, all random; the cluster-level w goes into the intercepts
    design, y, _ = simulate(100, 10, seed=5)
    honour = run_chain(TwoLevelHeteroscedastic(), design, y, 200, seed=5)
    m = TwoLevelHeteroscedastic(fixed_effects="ignore")
    ignore = run_chain(m, design, y, 200, seed=5)
    assert np.all(m.beta_ == 0) and m.mu_.shape == (2,)
    assert_within(honour["beta"], BETA)
    # intercept variance absorbs w's variance (0.5**2 = 0.25)
    assert ignore["psi"][:, 0, 0].mean() > honour["psi"][:, 0, 0].mean() + 0.1
    assert abs(m.mu_[1] - 2.0) < 0.3


# ---------------------------------------------------------------- imputations


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic])
def test_sample_given_draws_matches_model(cls):
    design, y, _ = simulate(50, 10, seed=6)
    m = cls().fit(design, y, np.random.default_rng(0))
    rows = np.repeat([0, 125], 20_000)  # two rows of clusters 0 and 12
    out = m.sample(design.take(rows), np.random.default_rng(1))
    for r in (0, 125):
        j = design.groups[r]
        mean = design.X[r] @ m.beta_ + design.Z[r] @ (m.b_[j] + m.mu_)
        var = m.sigma2_ if cls is TwoLevelNormal else m.sigma2_[j]
        vals = out[rows == r]
        assert abs(vals.mean() - mean) < 4 * np.sqrt(var / vals.size)
        assert abs(vals.var() / var - 1) < 4 * np.sqrt(2 / vals.size)


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_imputations_match_deleted_values(cls):
    design, y, _ = simulate(100, 10, seed=7)
    rng = np.random.default_rng(7)
    miss = rng.random(y.size) < 0.3
    obs = design.take(~miss)
    m = cls()
    imputed = []
    for _ in range(60):
        m.fit(obs, y[~miss], rng)
        imputed.append(m.sample(design.take(miss), rng))
    imputed = np.array(imputed)
    truth = y[miss]
    # per-imputation mean and variance against the deleted values
    se_mean = np.sqrt(2 * truth.var() / truth.size)
    assert abs(imputed.mean() - truth.mean()) < 4 * se_mean
    assert abs(imputed.var(axis=1).mean() / truth.var() - 1) < 4 * np.sqrt(2 / truth.size)
    # imputations keep the cluster structure: correlation with the deleted values
    assert np.corrcoef(imputed.mean(axis=0), truth)[0, 1] > 0.8


def test_pmm_imputes_observed_values_and_codes():
    design, y, _ = simulate(60, 8, seed=8)
    rng = np.random.default_rng(8)
    y_num = np.round(y, 1)
    miss = rng.random(y.size) < 0.3
    m = TwoLevelPMM().fit(design.take(~miss), y_num[~miss], rng)
    out = m.sample(design.take(miss), rng)
    assert np.all(np.isin(out, y_num[~miss]))
    codes = (y > np.median(y)).astype(float) + (y > np.quantile(y, 0.8))
    m = TwoLevelPMM().fit(design.take(~miss), codes[~miss], rng)
    out = m.sample(design.take(miss), rng)
    assert set(np.unique(out)) <= {0.0, 1.0, 2.0}
    assert np.mean(out == codes[miss]) > 0.5


def test_match_donors_matches_loop():
    rng = np.random.default_rng(9)
    means = np.sort(rng.standard_normal(50))
    queries = np.r_[rng.standard_normal(200), -10.0, 10.0]
    for donors in (1, 3, 5, 80):
        idx = match_donors(means, queries, donors, np.random.default_rng(0))
        d = min(donors, means.size)
        for q, i in zip(queries, idx):
            nearest = np.sort(np.abs(means - q))[:d]
            assert abs(means[i] - q) <= nearest[-1] + 1e-15


def test_pmm_donor_choice_is_random_among_nearest():
    means = np.arange(10.0)
    counts = np.bincount(
        match_donors(means, np.full(10_000, 4.2), 3, np.random.default_rng(0)), minlength=10
    )
    assert set(np.flatnonzero(counts)) == {3, 4, 5}
    assert np.all(np.abs(counts[[3, 4, 5]] / 10_000 - 1 / 3) < 0.03)


def test_pmm_rows_not_sorted_by_cluster():
    # near-deterministic cluster effects and >= 5 observed rows per cluster: every
    # row must get a donor of its own cluster
    rng = np.random.default_rng(10)
    g = rng.permutation(np.repeat(np.arange(30), 20))
    X = np.ones((g.size, 1))
    y = 10.0 * g + 0.01 * rng.standard_normal(g.size)
    design = Design(X=X, Z=X.copy(), groups=g, n_groups=30)
    miss = rng.random(g.size) < 0.25
    m = TwoLevelPMM()
    for _ in range(5):
        m.fit(design.take(~miss), y[~miss], rng)
    out = m.sample(design.take(miss), rng)
    np.testing.assert_array_equal(np.round(out / 10), g[miss])


# ------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_systematically_missing_clusters(cls):
    design, y, _ = simulate(40, 10, seed=11)
    empty = np.isin(design.groups, [0, 17, 39])  # incl. the last cluster (R's 2l.norm slip)
    m = cls()
    rng = np.random.default_rng(11)
    draws = []
    for _ in range(100):
        m.fit(design.take(~empty), y[~empty], rng)
        draws.append(m.sample(design.take(empty), rng))
        assert m.b_.shape == (40, 2)
    draws = np.array(draws)
    assert np.all(np.isfinite(draws))
    if cls is not TwoLevelPMM:
        # between-cluster plus residual variance, roughly var(y) given x and w
        resid = draws - design.X[empty] @ BETA
        assert 0.5 < resid.var() / (PSI[0, 0] + SIGMA2 + 0.2) < 2.0
    if cls is TwoLevelHeteroscedastic:
        # the empty last cluster's residual variance comes from the prior, not too small
        assert m.sigma2_[39] > 0.05 * m.sigma2_0_


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_clusters_of_size_one_and_constant_targets(cls):
    rng = np.random.default_rng(12)
    sizes = rng.integers(1, 4, 300)
    sizes[:100] = 1
    g = np.repeat(np.arange(300), sizes)
    n = g.size
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = 1 + x + rng.standard_normal(300)[g] + 0.5 * rng.standard_normal(n)
    y[np.isin(g, [150, 151, 152])] = 7.0  # constant within some clusters
    design = Design(X=X, Z=X.copy(), groups=g, n_groups=300)
    m = cls()
    for _ in range(5):
        m.fit(design, y, rng)
    out = m.sample(design, rng)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(m.b_))


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
@pytest.mark.parametrize("case", ["one_row", "one_cluster", "two_clusters", "constant"])
def test_degenerate_data(cls, case):
    rng = np.random.default_rng(13)
    design, y, _ = simulate(5, 6, seed=13)
    if case == "one_row":
        rows = np.array([7])
    elif case == "one_cluster":
        rows = design.groups == 2
    elif case == "two_clusters":  # N <= 2q: R's 2l.norm fails
        rows = design.groups < 2
    else:
        rows = np.ones(y.size, bool)
        y = np.full(y.size, 3.25)
    m = cls()
    for _ in range(3):
        m.fit(design.take(rows), y[rows], rng)
    out = m.sample(design, rng)
    assert out.shape == (30,) and np.all(np.isfinite(out))
    if case == "constant":
        if cls is TwoLevelPMM:
            assert np.all(out == 3.25)
        else:
            assert np.all(np.abs(out - 3.25) < 1e-3)


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic])
@pytest.mark.parametrize("q", [1, 3])
def test_q_one_and_three(cls, q):
    import warnings

    sm = pytest.importorskip("statsmodels.api")
    psi = np.diag([0.5, 0.2, 0.3])[:q, :q]
    design, y, _ = simulate(150, 8, seed=14, psi=psi)
    draws = run_chain(cls(), design, y, 300, seed=14)
    assert draws["psi"].shape[1:] == (q, q)
    # the posterior is centred on this sample's estimate (REML), which for q = 3
    # lies 5 posterior sds below the generating value of the third variance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reml = sm.MixedLM(y, design.X, groups=design.groups, exog_re=design.Z).fit(reml=True)
    assert_within(draws["psi"][:, range(q), range(q)], np.diag(np.asarray(reml.cov_re)))
    assert_within(draws["beta"], BETA)


@pytest.mark.parametrize("scale", [1e-8, 1e8])
@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_extreme_scales_are_equivariant(cls, scale):
    design, y, _ = simulate(30, 6, seed=15)
    shifted = Design(
        design.X * [1, scale, 1 / scale] + [0, 1e3 * scale, 0], design.Z, design.groups, 30
    )
    shifted.Z = shifted.X[:, :2].copy()
    out = {}
    for label, d, target in (("plain", design, y), ("scaled", shifted, y * scale + 5 * scale)):
        m = cls()
        rng = np.random.default_rng(0)
        for _ in range(3):
            m.fit(d, target, rng)
        out[label] = m.sample(d.take(slice(0, 20)), rng)
    np.testing.assert_allclose(out["scaled"], out["plain"] * scale + 5 * scale, rtol=1e-6)


# --------------------------------------------------------- new clusters, state


def _split_new(design, y, new_codes):
    fit_rows = ~np.isin(design.groups, new_codes)
    fit_design = design.take(fit_rows)
    fit_design.n_groups = int(min(new_codes))
    return fit_design, y[fit_rows]


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_new_clusters_posterior_shrinkage(cls):
    # clusters 40 and 41 unseen in fit; 40 has many observed rows at sample time
    rng = np.random.default_rng(16)
    g = np.r_[np.repeat(np.arange(40), 10), np.full(200, 40), np.full(20, 41)]
    n = g.size
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    effect = rng.standard_normal(42) * 0.7
    effect[40] = 3.0
    y = X @ [1.0, 2.0] + effect[g] + 0.5 * rng.standard_normal(n)
    design = Design(X=X, Z=X[:, :1].copy(), groups=g, n_groups=42)
    fit_design, y_fit = _split_new(design, y, [40, 41])
    m = cls()
    for _ in range(30):
        m.fit(fit_design, y_fit, rng)
    obs40 = np.flatnonzero(g == 40)[:150]
    observed = (design.take(obs40), y[obs40])
    target = np.r_[np.flatnonzero(g == 40)[150:], np.flatnonzero(g == 41)]
    draws = np.array([m.sample(design.take(target), rng, observed=observed) for _ in range(200)])
    resid = draws - X[target] @ m.beta_
    own = np.mean(y[obs40] - X[obs40] @ m.beta_)
    in40 = g[target] == 40
    # many observed rows: the effect is close to the cluster's own mean residual
    # (pmm: donors at the edge of the observed distribution are scarce, so less close)
    assert abs(resid[:, in40].mean() - own) < (0.6 if cls is TwoLevelPMM else 0.15)
    # no observed rows: the prior N(0, psi); mean near 0, spread psi + sigma2
    if cls is not TwoLevelPMM:
        assert abs(resid[:, ~in40].mean()) < 0.3
        assert 0.3 < resid[:, ~in40].var() < 1.5
    # without `observed` the new cluster 40 is drawn from the prior too
    plain = np.array([m.sample(design.take(target), rng) for _ in range(200)])
    assert abs((plain - X[target] @ m.beta_)[:, in40].mean()) < 0.5


def test_warm_start_keeps_and_reinitialises_state():
    design, y, _ = simulate(20, 5, seed=17)
    rng = np.random.default_rng(17)
    m = TwoLevelNormal(n_burnin=10, n_steps=2)
    m.fit(design, y, rng)
    assert m.n_iter_ == 12
    m.fit(design, y, rng)
    assert m.n_iter_ == 14
    # one random column fewer: reinitialised with a new burn-in
    d1 = Design(design.X, design.Z[:, :1].copy(), design.groups, 20)
    m.fit(d1, y, rng)
    assert m.n_iter_ == 12 and m.psi_.shape == (1, 1)
    # fewer fixed columns: the variance components carry over
    d2 = Design(design.X[:, :2].copy(), design.Z[:, :1].copy(), design.groups, 20)
    m.fit(d2, y, rng)
    assert m.n_iter_ == 14 and m.beta_.shape == (2,)
    cold = TwoLevelNormal(n_burnin=10, warm_start=False)
    cold.fit(design, y, rng)
    cold.fit(design, y, rng)
    assert cold.n_iter_ == 11
    h = TwoLevelHeteroscedastic(n_burnin=5)
    h.fit(design, y, rng)
    h.fit(design, y, rng)
    assert h.n_iter_ == 7
    h.fit(design.take(design.groups < 10), y[design.groups < 10], rng)
    assert h.n_iter_ == 8  # same cluster codes (n_groups = 20): warm


def test_reproducible_with_same_seed():
    design, y, _ = simulate(20, 5, seed=18)
    outs = []
    for _ in range(2):
        m = TwoLevelPMM()
        rng = np.random.default_rng(5)
        m.fit(design, y, rng)
        outs.append(m.sample(design, rng))
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("cls", [TwoLevelNormal, TwoLevelHeteroscedastic, TwoLevelPMM])
def test_many_small_clusters_run_quickly(cls):
    # 20,000 clusters of sizes 1-3: vectorised, a few steps well under a second
    rng = np.random.default_rng(19)
    g = np.repeat(np.arange(20_000), rng.integers(1, 4, 20_000))
    n = g.size
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 3))])
    y = X @ [1.0, 0.5, -0.5, 0.2] + rng.standard_normal(20_000)[g] + rng.standard_normal(n)
    design = Design(X=X, Z=X[:, :2].copy(), groups=g, n_groups=20_000)
    miss = rng.random(n) < 0.2
    m = cls(n_burnin=5)
    for _ in range(3):
        m.fit(design.take(~miss), y[~miss], rng)
        out = m.sample(design.take(miss), rng)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("theta", [0.0, 0.1])
def test_heteroscedastic_starting_dispersion_from_moments(theta):
    # precisions 1 / sigma_j^2 ~ Gamma(1 / (2 theta), rate sigma_0^2 / (2 theta)):
    # the starting theta is near the truth (or at its floor 0.01 without dispersion)
    rng = np.random.default_rng(5)
    n_groups, s0 = 1000, 0.4
    tau = np.full(n_groups, 1 / s0)
    if theta:
        tau = rng.gamma(1 / (2 * theta), 2 * theta / s0, n_groups)
    design, y, _ = simulate(n_groups, 20, seed=6, psi=np.array([[0.5]]), sigma2_j=1 / tau)
    pb = _prepare(design, y, "test", "honour")
    sigma2_0, start = _initial_dispersion(pb, 1.0, _ols(pb))
    if theta:
        assert 0.06 < start < 0.15
    else:
        assert start == 0.01
    assert abs(sigma2_0 * pb.y_scale**2 / s0 - 1) < 0.1


def test_heteroscedastic_starting_dispersion_with_few_clusters():
    design, y, _ = simulate(8, 20, seed=1, psi=np.array([[0.5]]))
    pb = _prepare(design, y, "test", "honour")
    assert _initial_dispersion(pb, 0.7, _ols(pb)) == (0.7, 0.1)


@pytest.mark.parametrize("shape", [(7, 2, 5, 5), (3, 1, 4, 4), (5, 3, 6, 6), (4, 10, 11, 11)])
def test_sandwich_matches_the_products_it_stands_for(shape):
    from skmice.methods._twolevel import _sandwich

    N, a, b, c = shape  # (4, 10, 11, 11) takes the path without the Kronecker product
    rng = np.random.default_rng(0)
    Y, A, B = rng.normal(size=(N, a, b)), rng.normal(size=(a, a)), rng.normal(size=(b, c))
    expected = np.einsum("ij,njk,kl->nil", A, Y, B)
    np.testing.assert_allclose(_sandwich(A, Y, B), expected, rtol=1e-12, atol=1e-12)
    cols = np.array([c - 1, 0])
    np.testing.assert_allclose(_sandwich(A, Y, B, cols), expected[:, :, cols], rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("name", ["2l.pan", "2l.norm"])
def test_warm_state_carries_over_in_internal_units(name, monkeypatch):
    from skmice.methods import _twolevel

    rng = np.random.default_rng(0)
    n, N = 400, 20
    g = rng.integers(0, N, n)
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = 1.0 + 0.5 * x + rng.standard_normal(N)[g] + rng.standard_normal(n)
    design = Design(X=X, Z=X.copy(), groups=g, n_groups=N)
    method = get_method(name).fit(design, y, 1)
    calls = []
    original = _twolevel._to_internal_psi
    monkeypatch.setattr(_twolevel, "_to_internal_psi",
                        lambda pb, psi: (calls.append(1), original(pb, psi))[1])
    method.fit(design, y, 2)  # same standardisation: the internal state is reused
    assert calls == []
    method.fit(design, 10.0 * y, 3)  # the target rescaled: converted through psi_
    assert calls == [1]
    assert np.all(np.isfinite(method.psi_))
