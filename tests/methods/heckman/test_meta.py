"""Tests of skmice/methods/heckman/_meta.py: the REML meta-analysis."""

from __future__ import annotations

import numpy as np

from skmice.methods.heckman._meta import meta_analysis_reml


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
