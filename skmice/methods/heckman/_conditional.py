"""The target given non-selection: the draws of the imputations and their mean.

A row is missing when it was not selected, ``u < -w' gamma``. For a
continuous target ``u`` is drawn from its truncated normal distribution and
then ``e`` given ``u``; for a binary one ``P(y = 1 | not selected) =
Phi2(x' beta, -w' gamma; -rho) / Phi(-w' gamma)``. The mean of the
imputations as a function of the common ``atanh rho`` gives the scale of
its draw with ``rho_scale="imputation-mean"``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri_exp

from ._bvn import _mills, bivariate_normal_cdf
from ._likelihood import _ATANH_RHO_BOUND, _Layout, _linear_predictors


def draw_not_selected(theta, X, W, groups, lay: _Layout, rng):
    """Draw the target of each row given that it was not selected.

    ``theta`` holds one row of parameters per cluster, ``X`` and ``W`` the
    standardised designs of the rows, ``groups`` their clusters. Returns
    float values (codes 0.0 and 1.0 for binary targets).
    """
    n = X.shape[0]
    th, xb, wg, rho = _linear_predictors(theta, X, W, groups, lay)
    if lay.binary:
        return (rng.random(n) < _prob_not_selected(xb, wg, rho)).astype(float)
    sig = np.exp(th[:, lay.sigma])
    # u | u < -w'gamma by the inverse cdf in log space; then e | u
    log_p = log_ndtr(-wg) + np.log(rng.random(n))
    u = ndtri_exp(np.minimum(log_p, -1e-300))
    u = np.where(np.isfinite(u), u, -wg)
    e = rho * sig * u + sig * np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
    return xb + e


def _prob_not_selected(xb, wg, rho):
    """``P(y = 1 | not selected)`` of a binary target."""
    joint = bivariate_normal_cdf(xb, -wg, -rho)
    return np.clip(joint / np.maximum(ndtr(-wg), 1e-300), 0.0, 1.0)


def _imputation_mean(theta, X, W, groups, lay: _Layout) -> float:
    """Mean over the rows of the target's expectation given non-selection."""
    th, xb, wg, rho = _linear_predictors(theta, X, W, groups, lay)
    if lay.binary:
        return float(np.mean(_prob_not_selected(xb, wg, rho)))
    # E(e | u < -w'gamma) = -rho sigma phi(w'gamma) / Phi(-w'gamma)
    return float(np.mean(xb - rho * np.exp(th[:, lay.sigma]) * _mills(-wg)))


def _imputation_mean_map(theta, Binv_c, a_hat, a_centre, sd, missing, lay: _Layout, n_grid=81):
    """The map from the common ``atanh rho`` to the mean of the imputations.

    The cluster parameters follow ``atanh rho`` along their conditional
    maxima (to first order, ``theta_j(a) = theta_j - B_j^-1 c_j (a - a_hat)``)
    over ``a_centre +- 4 sd``. Returns ``(G(a_centre), G'(a_centre) sd,
    G on the grid, the grid)`` restricted to the stretch around
    ``a_centre`` where ``G`` is monotone, ordered by increasing ``G``; None
    when ``G`` does not move with ``atanh rho``.
    """
    X, W, groups = missing
    if groups.size == 0 or not sd > 0:
        return None
    r = lay.rho
    rest = lay.rest
    lo, hi = -_ATANH_RHO_BOUND, _ATANH_RHO_BOUND
    a_centre = float(np.clip(a_centre, lo, hi))
    grid = np.unique(np.clip(a_centre + sd * np.linspace(-4.0, 4.0, n_grid), lo, hi))

    def G(a):
        th = theta.copy()
        th[:, rest] -= Binv_c * (a - a_hat)
        th[:, r] = a
        return _imputation_mean(th, X, W, groups, lay)

    values = np.array([G(a) for a in grid])  # a loop over grid points, not clusters
    h = 1e-3 * sd
    slope = (G(a_centre + h) - G(a_centre - h)) / (2.0 * h) * sd
    if not (np.isfinite(slope) and abs(slope) > 1e-12 and np.all(np.isfinite(values))):
        return None
    sign = np.sign(slope)
    c = int(np.argmin(np.abs(grid - a_centre)))
    first, last = c, c
    while first > 0 and sign * (values[first] - values[first - 1]) > 0:
        first -= 1
    while last < grid.size - 1 and sign * (values[last + 1] - values[last]) > 0:
        last += 1
    g_grid, a_grid = values[first : last + 1], grid[first : last + 1]
    if sign < 0:
        g_grid, a_grid = g_grid[::-1], a_grid[::-1]
    if g_grid.size < 2:
        return None
    return G(a_centre), slope, g_grid, a_grid
