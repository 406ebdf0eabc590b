"""Tests of skmice/methods/heckman/_single_level.py: the single-level Heckman model."""

from __future__ import annotations

import numpy as np

from skmice.methods import Heckman, TwoLevelHeckman

from ._common import _selection_data


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


def test_single_cluster_equals_single_level():
    design, y, s = _selection_data(n=2000, seed=8)
    y_in = np.where(s, y, np.nan)
    a = TwoLevelHeckman().fit(design, y_in, np.random.default_rng(0))
    b = Heckman().fit(design, y_in, np.random.default_rng(0))
    np.testing.assert_allclose(a.mu_, b.mu_)
    np.testing.assert_allclose(a.theta_star_, b.theta_star_)
    assert np.all(a.tau_ == 0)
