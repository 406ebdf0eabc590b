"""Tests for the numerical kernels of skmice.mixed against direct dense computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import approx_fprime

from skmice.mixed import (
    ThetaLayout,
    fit_lmm_statistics,
    profiled_deviance,
    sufficient_statistics,
)


def _problem(seed=0, n_groups=15, q=2, p=3, unbalanced=True):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_groups) if unbalanced else np.full(n_groups, 5)
    codes = np.repeat(np.arange(n_groups), sizes)
    rng.shuffle(codes)  # rows need not be sorted by cluster
    n = codes.size
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, q - 1))])
    b = rng.normal(size=(n_groups, q)) @ np.diag(np.linspace(1.0, 0.5, q))
    y = X @ rng.normal(size=p) + np.sum(Z * b[codes], axis=1) + rng.normal(size=n) + 100.0
    return codes, n_groups, Z, X, y


def _dense_deviance(theta, layout, codes, n_groups, Z, X, y, reml):
    """-2 (RE)ML log-likelihood profiled over beta and sigma, with n x n matrices."""
    n, p = X.shape
    T = layout.factor(theta)
    Zfull = np.zeros((n, n_groups * layout.q))
    for j in range(n_groups):
        rows = codes == j
        Zfull[np.ix_(rows, np.arange(j * layout.q, (j + 1) * layout.q))] = Z[rows]
    G = np.kron(np.eye(n_groups), T @ T.T)
    V = np.eye(n) + Zfull @ G @ Zfull.T
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    e = y - X @ beta
    r2 = e @ Vi @ e
    nu = n - p if reml else n
    dev = np.linalg.slogdet(V)[1] + nu * (1 + math.log(2 * math.pi * r2 / nu))
    if reml:
        dev += np.linalg.slogdet(XtViX)[1]
    return dev, beta, r2 / nu, np.linalg.inv(XtViX) * r2 / nu


def test_theta_layout_blocks():
    layout = ThetaLayout((2, 1))
    assert layout.q == 3 and layout.size == 4
    assert layout.rows.tolist() == [0, 1, 1, 2] and layout.cols.tolist() == [0, 0, 1, 2]
    assert layout.bounds() == [(0.0, None), (None, None), (0.0, None), (0.0, None)]
    T = layout.factor([1.0, 2.0, 3.0, 4.0])
    assert T[2, 0] == 0 and T[2, 2] == 4 and T[1, 0] == 2
    np.testing.assert_array_equal(layout.gradient(T), [1.0, 2.0, 3.0, 4.0])


def test_sufficient_statistics_match_loops():
    codes, J, Z, X, y = _problem()
    Y = np.column_stack([y, y[::-1]])
    s = sufficient_statistics(codes, J, Z, X, Y)
    beta = np.linalg.lstsq(X, Y, rcond=None)[0]
    R = Y - X @ beta
    for j in range(J):
        rows = codes == j
        np.testing.assert_allclose(s.ZtZ[j], Z[rows].T @ Z[rows], atol=1e-12)
        np.testing.assert_allclose(s.ZtX[j], Z[rows].T @ X[rows], atol=1e-12)
        np.testing.assert_allclose(s.Ztr[j], Z[rows].T @ R[rows], atol=1e-9)
    np.testing.assert_allclose(s.rtr, (R**2).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.beta_ols, beta, rtol=1e-10)
    assert s.n_responses == 2 and s.response(1).rtr.shape == (1,)


def test_rank_deficient_x_is_an_error():
    codes, J, Z, X, y = _problem()
    X = np.column_stack([X, X[:, 1]])
    with pytest.raises(ValueError, match="rank deficient"):
        sufficient_statistics(codes, J, Z, X, y)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("blocks", [(1,), (2,), (1, 1), (3,), (1, 2)])
def test_deviance_matches_dense(reml, blocks):
    q = sum(blocks)
    codes, J, Z, X, y = _problem(seed=q, q=q)
    layout = ThetaLayout(blocks)
    s = sufficient_statistics(codes, J, Z, X, y)
    theta = np.linspace(0.3, 1.2, layout.size) * np.where(layout.diagonal, 1.0, -0.4)
    dev = profiled_deviance(theta, layout, s, reml)
    expected = _dense_deviance(theta, layout, codes, J, Z, X, y, reml)[0]
    assert dev == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("blocks", [(1,), (2,), (3,), (2, 1)])
def test_gradient_matches_finite_differences(reml, blocks):
    q = sum(blocks)
    codes, J, Z, X, y = _problem(seed=10 + q, q=q)
    layout = ThetaLayout(blocks)
    s = sufficient_statistics(codes, J, Z, X, y)
    theta = np.linspace(0.4, 1.1, layout.size) * np.where(layout.diagonal, 1.0, 0.3)
    _, grad = profiled_deviance(theta, layout, s, reml, gradient=True)
    numeric = approx_fprime(theta, lambda t: profiled_deviance(t, layout, s, reml), 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reml", [True, False])
def test_fit_matches_dense_solution(reml):
    codes, J, Z, X, y = _problem(seed=3)
    layout = ThetaLayout((2,))
    sol = fit_lmm_statistics(sufficient_statistics(codes, J, Z, X, y), layout, reml)
    dev, beta, sigma2, cov = _dense_deviance(sol.theta, layout, codes, J, Z, X, y, reml)
    assert sol.deviance == pytest.approx(dev, rel=1e-11)
    np.testing.assert_allclose(sol.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(sol.cov_beta, cov, rtol=1e-8)
    assert sol.sigma2 == pytest.approx(sigma2, rel=1e-10)
    T = layout.factor(sol.theta)
    np.testing.assert_allclose(sol.cov_re, sigma2 * T @ T.T, rtol=1e-10)
    # a minimum: no better point nearby
    for k in range(layout.size):
        for h in (-1e-4, 1e-4):
            t = sol.theta.copy()
            t[k] = max(t[k] + h, 0.0) if layout.diagonal[k] else t[k] + h
            assert _dense_deviance(t, layout, codes, J, Z, X, y, reml)[0] >= dev - 1e-9


def test_random_effects_are_conditional_modes():
    codes, J, Z, X, y = _problem(seed=4)
    layout = ThetaLayout((2,))
    sol = fit_lmm_statistics(sufficient_statistics(codes, J, Z, X, y), layout)
    # BLUP: b = G Z' V^{-1} (y - X beta), per cluster
    G = sol.cov_re
    for j in (0, 5, J - 1):
        rows = codes == j
        Vj = Z[rows] @ G @ Z[rows].T + sol.sigma2 * np.eye(rows.sum())
        blup = G @ Z[rows].T @ scipy.linalg.solve(Vj, y[rows] - X[rows] @ sol.beta)
        np.testing.assert_allclose(sol.random_effects[j], blup, rtol=1e-7, atol=1e-9)


def test_results_do_not_depend_on_a_shift_of_the_outcome():
    codes, J, Z, X, y = _problem(seed=5)
    layout = ThetaLayout((2,))
    a = fit_lmm_statistics(sufficient_statistics(codes, J, Z, X, y), layout)
    b = fit_lmm_statistics(sufficient_statistics(codes, J, Z, X, y + 1e6), layout)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.beta[1:], b.beta[1:], rtol=1e-7)
    assert b.beta[0] - a.beta[0] == pytest.approx(1e6, rel=1e-12)


def test_one_response_at_a_time():
    codes, J, Z, X, y = _problem()
    s = sufficient_statistics(codes, J, Z, X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="responses"):
        fit_lmm_statistics(s, ThetaLayout((2,)))
