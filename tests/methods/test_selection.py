"""Tests of skmice/methods/_selection.py: Heckman selection models and delta adjustment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import multivariate_normal

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice._data import encode
from skmice._design import DesignBuilder
from skmice.datasets import make_hiv
from skmice.methods import (
    BayesianNormal,
    DeltaLogistic,
    DeltaNormal,
    Design,
    Heckman,
    Logistic,
    TwoLevelHeckman,
    bivariate_normal_cdf,
    get_method,
)
from skmice.methods._selection import _Layout, _Objective, _penalty_weights, meta_analysis_reml
from skmice.pooling import pool_scalar


def _selection_data(n=4000, rho=0.6, binary=False, n_groups=1, seed=0, strength=1.0):
    """y = 1 + x + e (binary: 1(0.2 + x + e > 0)); observed when 0.4 + 0.5 x + z + u > 0."""
    rng = np.random.default_rng(seed)
    x, z = rng.standard_normal(n), rng.standard_normal(n)
    e, u = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n).T
    y = (0.2 + x + e > 0).astype(float) if binary else 1 + x + e
    observed = 0.4 + 0.5 * x + strength * z + u > 0
    groups = np.arange(n) % n_groups
    design = Design(
        X=np.column_stack([np.ones(n), x]),
        groups=groups,
        n_groups=n_groups,
        W=np.column_stack([np.ones(n), x, z]),
    )
    return design, y, observed


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("r", [-1.0, -0.999, -0.95, -0.925, -0.5, 0.0, 0.3, 0.8, 0.93, 0.9999, 1.0])
def test_bivariate_normal_cdf_matches_scipy(r):
    rng = np.random.default_rng(1)
    h, k = rng.normal(0, 2, 15), rng.normal(0, 2, 15)
    got = bivariate_normal_cdf(h, k, r)
    if abs(r) == 1.0:
        from scipy.stats import norm

        want = norm.cdf(np.minimum(h, k)) if r > 0 else np.maximum(norm.cdf(h) - norm.cdf(-k), 0)
    else:
        mvn = multivariate_normal(cov=[[1, r], [r, 1]])
        want = np.array([mvn.cdf([a, b]) for a, b in zip(h, k)])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_bivariate_normal_cdf_broadcasts():
    out = bivariate_normal_cdf(np.zeros((2, 3)), 0.0, np.array([-0.5, 0.0, 0.5]))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0], 0.25 + np.arcsin([-0.5, 0.0, 0.5]) / (2 * np.pi))


@pytest.mark.parametrize("binary", [False, True])
def test_analytic_gradient_and_hessian(binary):
    design, y, s = _selection_data(n=400, binary=binary, n_groups=3, seed=2)
    lay = _Layout(2, 3, binary)
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.3, (3, lay.d))
    obj = _Objective(
        design.X,
        design.W,
        np.where(s, y, 0.0),
        s,
        design.groups,
        3,
        lay,
        _penalty_weights(lay, 1e-3, 1.0),
    )
    f, g, H = obj.derivatives(theta)
    num_g = approx_fprime(theta.ravel(), lambda t: obj.value(t.reshape(3, -1)).sum(), 1e-6)
    np.testing.assert_allclose(g.ravel(), num_g, atol=1e-3 * max(1.0, np.abs(g).max()))
    for c in range(lay.d):  # column c of every cluster's Hessian

        def gcol(t, c=c):
            th = theta.copy()
            th[:, c] = t
            return obj.derivatives(th)[1]

        step = 1e-6
        diff = (gcol(theta[:, c] + step) - gcol(theta[:, c] - step)) / (2 * step)
        np.testing.assert_allclose(H[:, :, c], diff, atol=1e-3 * max(1.0, np.abs(H).max()))


def test_meta_analysis_single_cluster_and_no_heterogeneity():
    est = np.array([[1.0, 2.0]])
    cov = np.array([np.diag([0.1, 0.2])])
    mu, cov_mu, tau, _ = meta_analysis_reml(est, cov)
    np.testing.assert_allclose(mu, est[0])
    np.testing.assert_allclose(cov_mu, cov[0])
    assert np.all(tau == 0)
    rng = np.random.default_rng(0)
    est = rng.normal(0.0, np.sqrt(0.05), size=(400, 1))  # no between-cluster variance
    mu, cov_mu, tau, _ = meta_analysis_reml(est, np.full((400, 1, 1), 0.05))
    assert abs(mu[0]) < 3 * np.sqrt(0.05 / 400)
    assert tau[0, 0] < 0.01


# ---------------------------------------------------------------------------
# single-level Heckman
# ---------------------------------------------------------------------------


def test_heckman_continuous_recovers_parameters_and_imputes_conditionally():
    design, y, s = _selection_data(n=6000, rho=0.7, seed=4)
    m = Heckman().fit(design, np.where(s, y, np.nan), np.random.default_rng(0))
    assert m.outcome_ == "continuous"
    lay = m._layout
    se_rho = np.sqrt(m.cov_mu_[lay.rho, lay.rho])
    assert abs(np.arctanh(0.7) - m.mu_[lay.rho]) < 4 * se_rho
    # x is standardised inside: the slope on x's scale is beta / sd(x)
    sd_x = design.X[:, 1].std()
    assert abs(m.mu_[1] / sd_x - 1.0) < 4 * np.sqrt(m.cov_mu_[1, 1]) / sd_x
    assert abs(np.exp(m.mu_[lay.sigma]) - 1.0) < 0.1
    # imputations follow y | not selected: mean and sd of the deleted values
    draws = np.concatenate([m.sample(design.take(~s), np.random.default_rng(k)) for k in range(5)])
    truth = y[~s]
    se = truth.std() / np.sqrt(truth.size)
    assert abs(draws.mean() - truth.mean()) < 5 * se + 0.05
    assert abs(draws.std() / truth.std() - 1) < 0.08


def test_heckman_continuous_uses_truncated_not_unconditional_variance():
    # micemd pitfall: e | u has variance sigma^2 (1 - rho^2) after u is drawn
    # from its truncated law; the unconditional sigma^2 overstates the spread
    design, y, s = _selection_data(n=6000, rho=0.9, seed=5)
    m = Heckman().fit(design, np.where(s, y, np.nan), np.random.default_rng(1))
    rows = design.take(~s)
    draws = m.sample(rows, np.random.default_rng(2))
    xb = rows.X @ np.array([1.0, 1.0])
    resid = draws - xb
    truth = y[~s] - xb
    assert abs(resid.var() / truth.var() - 1) < 0.12
    assert resid.var() < 0.8  # the unconditional variance is 1


def test_heckman_binary_recovers_prevalence_of_missing():
    design, y, s = _selection_data(n=8000, rho=-0.6, binary=True, seed=6)
    m = Heckman().fit(design, np.where(s, y, np.nan), np.random.default_rng(0))
    assert m.outcome_ == "binary"
    assert -0.9 < m.rho_ < -0.3
    draws = np.stack([m.sample(design.take(~s), np.random.default_rng(k)) for k in range(10)])
    assert set(np.unique(draws)) <= {0.0, 1.0}
    truth = y[~s].mean()
    mar = y[s].mean()  # the observed prevalence, far off under MNAR
    assert abs(draws.mean() - truth) < abs(mar - truth) / 3


def test_requires_exclusion_restriction():
    design, y, s = _selection_data(n=500)
    no_excl = Design(X=design.W, W=design.W, groups=design.groups, n_groups=1)
    with pytest.raises(ValueError, match="exclusion restriction"):
        Heckman().fit(no_excl, np.where(s, y, np.nan), np.random.default_rng(0))


def test_clear_errors():
    design, y, s = _selection_data(n=500)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="design.W is None"):
        Heckman().fit(Design(X=design.X), np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="no missing value"):
        Heckman().fit(design, y, rng)
    with pytest.raises(ValueError, match="no observed value"):
        Heckman().fit(design, np.full_like(y, np.nan), rng)
    with pytest.raises(ValueError, match="outcome must be"):
        Heckman(outcome="ordinal").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="min_observed"):
        Heckman(min_observed=0).fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="binary"):
        Heckman(outcome="binary").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="call fit"):
        Heckman().sample(design, rng)
    with pytest.raises(ValueError, match="random_effects"):
        TwoLevelHeckman(random_effects="slopes").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="tau_structure"):
        TwoLevelHeckman(tau_structure="full").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="groups"):
        TwoLevelHeckman().fit(Design(X=design.X, W=design.W), np.where(s, y, np.nan), rng)


def test_registered_and_flags():
    assert isinstance(get_method("2l.heckman"), TwoLevelHeckman)
    assert isinstance(get_method("heckman"), Heckman)
    assert TwoLevelHeckman.needs_groups and not Heckman.needs_groups
    for cls in (TwoLevelHeckman, Heckman):
        assert cls.needs_selection and cls.needs_all_rows
    assert not BayesianNormal.needs_selection and not BayesianNormal.needs_all_rows


# ---------------------------------------------------------------------------
# two-level
# ---------------------------------------------------------------------------


def test_two_level_deterministic_and_fallback_clusters():
    design, y, s = _selection_data(n=3000, rho=0.5, n_groups=6, seed=7)
    y_in = np.where(s, y, np.nan)
    y_in[design.groups == 5] = np.nan  # a systematically missing cluster
    small = np.flatnonzero(design.groups == 4)[5:]
    keep = np.setdiff1d(np.arange(3000), small)  # cluster 4: 5 rows only
    d = design.take(keep)
    d.n_groups = 7  # cluster 6 has no rows at all
    a = TwoLevelHeckman().fit(d, y_in[keep], np.random.default_rng(3))
    b = TwoLevelHeckman().fit(d, y_in[keep], np.random.default_rng(3))
    np.testing.assert_array_equal(a.theta_star_, b.theta_star_)
    assert a.fitted_clusters_.tolist() == [True, True, True, True, False, False, False]
    assert a.theta_star_.shape == (7, a._layout.d)
    assert np.all(np.isfinite(a.theta_star_))
    mis = d.take(np.isnan(y_in[keep]))
    out = a.sample(mis, np.random.default_rng(4))
    assert out.shape == (mis.n_rows,) and np.all(np.isfinite(out))
    # a cluster new to the method (code 9) draws from the population distribution
    new = Design(X=mis.X[:3], W=mis.W[:3], groups=np.array([9, 9, 0]), n_groups=10)
    assert np.all(np.isfinite(a.sample(new, np.random.default_rng(5))))


@pytest.mark.parametrize("random_effects", ["all", "all-but-rho", "intercepts"])
def test_random_effects_options(random_effects):
    design, y, s = _selection_data(n=3000, rho=0.5, n_groups=5, seed=12)
    m = TwoLevelHeckman(random_effects=random_effects)
    m.fit(design, np.where(s, y, np.nan), np.random.default_rng(0))
    r = m._layout.rho
    assert 0.1 < m.rho_ < 0.85
    common = np.ptp(m.theta_star_[:, r]) == 0
    assert common == (random_effects != "all")
    if random_effects != "all":
        assert np.all(m.tau_[r] == 0) and np.all(m.tau_[:, r] == 0)
        # the cluster estimates share their atanh rho
        assert np.ptp(m.theta_hat_[:, r]) == 0
    if random_effects == "intercepts":
        varying = np.flatnonzero(np.diag(m.tau_) > 0)
        assert set(varying) <= {0, m._layout.gamma.start, m._layout.sigma}
    draws = m.sample(design.take(~s), np.random.default_rng(1))
    assert abs(draws.mean() - y[~s].mean()) < 0.15


def test_rho_draw_in_the_scale_of_the_imputation_mean():
    from skmice.methods._selection import _imputation_mean

    b = make_hiv(region_sizes=[400] * 5, rho=-0.6, random_state=5)
    design, y = _hiv_design(b)
    m = TwoLevelHeckman(rho_scale="imputation-mean")
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(300):  # the estimates are cached: only the draws are renewed
        m.fit(design, y, rng)
        draws.append(m.theta_star_[0, m._layout.rho])
    centre, slope, g_grid, a_grid = m._cache["state"]["rho_map"]
    assert np.all(np.diff(g_grid) > 0) and slope < 0  # binary: higher rho, fewer positives
    means = np.interp(draws, a_grid[::-1], g_grid[::-1])  # the imputation mean of each draw
    # normal in the imputation-mean scale: centred at the estimate, spread |slope|
    assert abs(means.mean() - centre) < 4 * abs(slope) / np.sqrt(means.size)
    assert 0.8 < means.std() / abs(slope) < 1.2
    X, W, groups = _missing_rows(m, design, y)
    assert np.isfinite(_imputation_mean(m.theta_star_, X, W, groups, m._layout))
    # the default draws atanh rho from its normal approximation
    default = TwoLevelHeckman().fit(design, y, np.random.default_rng(0))
    assert default._cache["state"]["rho_map"] is None
    assert np.isfinite(default.theta_star_).all()
    with pytest.raises(ValueError, match="rho_scale"):
        TwoLevelHeckman(rho_scale="rho").fit(design, y, rng)


def _hiv_design(b):
    d = b.data
    mar = d["marital"].astype(str).to_numpy()
    X = np.column_stack(
        [np.ones(len(d)), d["age"], mar == "married", mar == "previously", d["condom"]]
    ).astype(float)
    W = np.column_stack([X, d["smoke"]]).astype(float)
    g = d["region"].to_numpy() - 1
    return Design(X=X, W=W, groups=g, n_groups=int(g.max()) + 1), d["hiv"].to_numpy(float)


def _missing_rows(m, design, y):
    from skmice.methods._selection import _standardise

    mis = np.isnan(y)
    X, W = _standardise(design.X[mis], design.W[mis], m._scaling)
    return X, W, design.groups[mis]


def test_single_cluster_equals_single_level():
    design, y, s = _selection_data(n=2000, seed=8)
    y_in = np.where(s, y, np.nan)
    a = TwoLevelHeckman().fit(design, y_in, np.random.default_rng(0))
    b = Heckman().fit(design, y_in, np.random.default_rng(0))
    np.testing.assert_allclose(a.mu_, b.mu_)
    np.testing.assert_allclose(a.theta_star_, b.theta_star_)
    assert np.all(a.tau_ == 0)


def test_fallback_to_single_level_when_no_cluster_can_be_fitted():
    design, y, s = _selection_data(n=600, n_groups=30, seed=9)  # 20 rows per cluster
    m = TwoLevelHeckman(min_observed=50).fit(
        design, np.where(s, y, np.nan), np.random.default_rng(0)
    )
    assert m.fallback_ and not m.fitted_clusters_.any()
    assert np.all(np.isfinite(m.sample(design.take(~s), np.random.default_rng(1))))


def test_refit_on_same_data_reuses_estimates_and_redraws():
    design, y, s = _selection_data(n=1500, n_groups=3, seed=10)
    y_in = np.where(s, y, np.nan)
    m = TwoLevelHeckman().fit(design, y_in, np.random.default_rng(0))
    first, mu = m.theta_star_.copy(), m.mu_.copy()
    m.fit(design, y_in, np.random.default_rng(1))
    np.testing.assert_array_equal(m.mu_, mu)
    assert not np.allclose(m.theta_star_, first)


# ---------------------------------------------------------------------------
# designs: predictor codes -3 and -4
# ---------------------------------------------------------------------------


def test_design_builder_selection_codes():
    frame = pd.DataFrame(
        {
            "g": [1, 1, 2, 2],
            "y": [1.0, np.nan, 2.0, 3.0],
            "a": [0.1, 0.2, 0.3, 0.4],
            "b": [1.0, 2.0, 0.0, 1.0],
            "c": [5.0, 6.0, 7.0, 9.0],
            "d": [0.0, 1.0, 1.0, 0.0],
        }
    )
    enc = encode(frame)
    pm = np.zeros((6, 6), dtype=np.int64)
    pm[1] = [-2, 0, 1, 2, -3, -4]  # a both, b both (random), c selection, d outcome
    builder = DesignBuilder(enc.infos, pm, 0)
    values = np.nan_to_num(enc.values)
    groups = np.array([0, 0, 1, 1])
    sel = builder.build(values, 1, groups, 2, two_level=True, selection=True).design
    np.testing.assert_array_equal(sel.X[:, 1:], values[:, [2, 3, 5]])
    np.testing.assert_array_equal(sel.W[:, 1:], values[:, [2, 3, 4]])
    assert np.all(sel.X[:, 0] == 1) and np.all(sel.W[:, 0] == 1)
    assert sel.take([0, 2]).W.shape == (2, 4)
    # other methods use -3 and -4 as fixed effects, as mice uses every nonzero code
    plain = builder.build(values, 1, groups, 2, two_level=True).design
    np.testing.assert_array_equal(plain.X[:, 1:], values[:, [2, 3, 4, 5]])
    np.testing.assert_array_equal(plain.Z[:, 1:], values[:, [3]])
    assert plain.W is None


def test_codes_one_and_two_are_equivalent_through_the_imputer():
    b = make_hiv(region_sizes=[150] * 4, random_state=1)
    pm2 = b.predictor_matrix
    pm1 = pm2.replace(2, 1)
    out = []
    for pm in (pm1, pm2):
        imp = MultilevelIterativeImputer(
            methods={"hiv": "2l.heckman"},
            predictor_matrix=pm,
            cluster="region",
            max_iter=1,
            random_state=0,
        )
        out.append(imp.fit_transform(b.data)["hiv"])
    pd.testing.assert_series_equal(out[0], out[1])


# ---------------------------------------------------------------------------
# through the imputer
# ---------------------------------------------------------------------------


def test_imputer_two_level_heckman_on_hiv_like_data():
    b = make_hiv(region_sizes=[200] * 5, random_state=2)
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=2,
        random_state=0,
    )
    out = imp.fit_transform(b.data)
    mis = b.data["hiv"].isna()
    assert out["hiv"].notna().all()
    assert set(out.loc[mis, "hiv"].unique()) <= {0.0, 1.0}
    pd.testing.assert_series_equal(out.loc[~mis, "hiv"], b.data.loc[~mis, "hiv"])
    assert imp.methods_["hiv"].outcome_ == "binary"
    # new data with a new region
    new = b.data.head(50).copy()
    new["region"] = 99
    assert imp.transform(new)["hiv"].notna().all()


def test_imputer_without_exclusion_restriction_fails_clearly():
    b = make_hiv(region_sizes=[200] * 3, random_state=3)
    pm = b.predictor_matrix.copy()
    pm.loc["hiv", "smoke"] = 2  # smoke in both equations: nothing excluded
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=pm,
        cluster="region",
        max_iter=1,
        random_state=0,
    )
    with pytest.raises(ValueError, match="'hiv'.*exclusion restriction"):
        imp.fit(b.data)


def test_selection_codes_are_fixed_effects_for_other_methods():
    b = make_hiv(region_sizes=[150] * 3, random_state=4)
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.pmm"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=1,
        random_state=0,
    )
    assert imp.fit_transform(b.data)["hiv"].notna().all()


def _prevalence(mi, n):
    est = np.array([d["hiv"].mean() for d in mi])
    res = pool_scalar(est, est * (1 - est) / n, dfcom=n - 1)
    return res.qbar, res.std_error


@pytest.mark.parametrize("rho", [-0.6, 0.6])
def test_heckman_corrects_mnar_bias_fast(rho):
    # a modest-size version of benchmarks/simulate_heckman.py (one replication,
    # a strong exclusion restriction so that one replication is conclusive);
    # rho < 0: refusers more often positive, rho > 0: less often
    b = make_hiv(region_sizes=[500] * 6, rho=rho, smoke_effect=1.2, random_state=11)
    n, truth = len(b.data), b.truth["expected_prevalence"]["overall"]
    heck = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=1,
    )
    mar = MultilevelIterativeImputer(methods={"hiv": "2l.pmm"}, cluster="region", max_iter=3)
    q_h, se_h = _prevalence(multiple_impute(b.data, heck, n_imputations=5, random_state=1), n)
    q_m, se_m = _prevalence(multiple_impute(b.data, mar, n_imputations=5, random_state=1), n)
    assert np.sign(rho) * (q_m - truth) > 3 * se_m  # MAR is biased, with the sign of rho
    assert abs(q_h - truth) < abs(q_m - truth) / 3
    assert abs(q_h - truth) < 2 * se_h


def _simulate_heckman():
    """benchmarks/simulate_heckman.py, imported (the slow tests run its replications)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import simulate_heckman

    return simulate_heckman


@pytest.mark.slow
def test_heckman_simulation_bias_and_coverage():
    """30 replications of the benchmark design (rho = -0.6); the full study is in benchmarks/."""
    sim = _simulate_heckman()
    one_replication, summarise = sim.one_replication, sim.summarise

    rows = [r for seed in range(1, 31) for r in one_replication(-0.6, seed, 5, 3)]
    table = summarise(pd.DataFrame(rows)).set_index("method")
    assert abs(table.loc["2l.heckman", "bias"]) <= abs(table.loc["2l.pmm (MAR)", "bias"]) / 3
    assert table.loc["2l.heckman", "coverage"] >= 0.85
    assert table.loc["2l.pmm (MAR)", "coverage"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.6, 0.0])
def test_heckman_simulation_identified_design(rho):
    """30 replications with a strong exclusion restriction (smoke_effect = 0.8), where the
    selection model is identified (benchmarks/results/heckman_strong_exclusion.md has 100)."""
    sim = _simulate_heckman()
    one_replication, summarise = sim.one_replication, sim.summarise

    rows = [r for seed in range(1, 31) for r in one_replication(rho, seed, 5, 3, smoke_effect=0.8)]
    table = summarise(pd.DataFrame(rows)).set_index("method")
    heck, mar = table.loc["2l.heckman"], table.loc["2l.pmm (MAR)"]
    if rho == 0.0:  # both unbiased: within 3 Monte Carlo standard errors (+ 0.005)
        assert abs(heck["bias"]) < 3 * heck["mc_se_bias"] + 0.005
        assert abs(mar["bias"]) < 3 * mar["mc_se_bias"] + 0.005
    else:
        assert abs(heck["bias"]) <= abs(mar["bias"]) / 3
    assert heck["coverage"] >= 0.85


# ---------------------------------------------------------------------------
# delta adjustment
# ---------------------------------------------------------------------------


def _linear(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.integers(0, 2, n)])
    y = X @ [1.0, 2.0, 0.5] + rng.standard_normal(n)
    return X, y


def test_delta_normal_is_norm_shifted():
    X, y = _linear()
    base = BayesianNormal().fit(Design(X), y, np.random.default_rng(1))
    shifted = DeltaNormal(delta=-1.5).fit(Design(X), y, np.random.default_rng(1))
    a = base.sample(Design(X[:40]), np.random.default_rng(2))
    b = shifted.sample(Design(X[:40]), np.random.default_rng(2))
    np.testing.assert_allclose(b - a, -1.5)
    only = DeltaNormal(delta=2.0, rows=lambda D: D[:, 2] == 1).fit(
        Design(X), y, np.random.default_rng(1)
    )
    c = only.sample(Design(X[:40]), np.random.default_rng(2))
    np.testing.assert_allclose(c - a, 2.0 * (X[:40, 2] == 1))


def test_delta_logistic_shifts_log_odds():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(4000), rng.standard_normal(4000)])
    y = (rng.random(4000) < 0.3).astype(float)
    base = Logistic().fit(Design(X), y, np.random.default_rng(0))
    m = DeltaLogistic(delta=np.log(3.0)).fit(Design(X), y, np.random.default_rng(0))
    np.testing.assert_array_equal(m.beta_star_, base.beta_star_)
    draws = m.sample(Design(X), np.random.default_rng(1))
    p = 1 / (1 + np.exp(-(X @ m.beta_star_ + np.log(3.0))))
    assert abs(draws.mean() - p.mean()) < 4 * np.sqrt(p.mean() * (1 - p.mean()) / 4000)
    zero = DeltaLogistic(delta=0.0).fit(Design(X), y, np.random.default_rng(0))
    np.testing.assert_array_equal(
        zero.sample(Design(X), np.random.default_rng(1)),
        base.sample(Design(X), np.random.default_rng(1)),
    )


def test_delta_methods_registered_and_validated():
    assert isinstance(get_method("mnar.norm"), DeltaNormal)
    assert isinstance(get_method("mnar.logreg"), DeltaLogistic)
    X, y = _linear()
    with pytest.raises(ValueError, match="delta"):
        DeltaNormal(delta=np.nan).fit(Design(X), y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="delta"):
        DeltaLogistic(delta="1").fit(Design(X), (y > 1).astype(float), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rows"):
        DeltaNormal(rows=[1, 2]).fit(Design(X), y, np.random.default_rng(0))
    m = DeltaNormal(rows=lambda D: D[:3, 1] > 0).fit(Design(X), y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one value per row"):
        m.sample(Design(X[:10]), np.random.default_rng(0))


def _rho_draws(prior, design, y, n=200):
    """The common rho drawn by ``n`` fits on the same data (the estimates are cached)."""
    import warnings

    from skmice.exceptions import WeakIdentificationWarning

    m = TwoLevelHeckman(rho_prior=prior)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakIdentificationWarning)
        draws = [np.tanh(m.fit(design, y, rng).theta_star_[0, m._layout.rho]) for _ in range(n)]
    return m, np.array(draws)


def test_weakly_identified_rho_warns_and_its_draws_do_not_pile_at_the_bounds():
    # the hiv data's own weak exclusion restriction: the likelihood of rho is nearly flat
    b = make_hiv(random_state=7)
    design, y = _hiv_design(b)
    from skmice.exceptions import WeakIdentificationWarning

    with pytest.warns(WeakIdentificationWarning, match="rho, the correlation .* weakly"):
        m = TwoLevelHeckman().fit(design, y, np.random.default_rng(0))
    assert m.rho_weakly_identified_
    lo, hi = m.rho_interval_
    assert hi - lo > 1.0 and -1 < lo < hi < 1
    _, none = _rho_draws("none", design, y)
    _, normal = _rho_draws("normal", design, y)
    # the prior keeps the draws off the bounds, where the prevalence among refusers is 0 or 1
    assert np.std(np.arctanh(normal)) < 0.95 * np.std(np.arctanh(none))
    assert np.mean(np.abs(normal) > 0.8) <= np.mean(np.abs(none) > 0.8)


def test_identified_rho_does_not_warn_and_the_prior_hardly_matters():
    import warnings

    from skmice.exceptions import WeakIdentificationWarning

    b = make_hiv(rho=-0.6, smoke_effect=1.2, random_state=7)
    design, y = _hiv_design(b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeakIdentificationWarning)
        m = TwoLevelHeckman().fit(design, y, np.random.default_rng(0))
    assert not m.rho_weakly_identified_
    _, none = _rho_draws("none", design, y, n=100)
    _, normal = _rho_draws("normal", design, y, n=100)
    se = np.sqrt(none.var() / none.size + normal.var() / normal.size)
    assert abs(np.arctanh(none).mean() - np.arctanh(normal).mean()) < 0.1 + 3 * se
