"""Tests of skmice/methods/heckman/_two_level.py: the two-level Heckman model."""

from __future__ import annotations

import numpy as np
import pytest

from skmice.datasets import make_hiv
from skmice.methods import Design, TwoLevelHeckman

from ._common import _hiv_design, _selection_data


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
    from skmice.methods.heckman._conditional import _imputation_mean

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


def _missing_rows(m, design, y):
    from skmice.methods.heckman._estimate import _standardise

    mis = np.isnan(y)
    X, W = _standardise(design.X[mis], design.W[mis], m._scaling)
    return X, W, design.groups[mis]


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
