"""Tests of skmice/methods/heckman/_bvn.py: the bivariate normal distribution function."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from skmice.methods import bivariate_normal_cdf


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
