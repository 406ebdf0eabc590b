"""Gibbs updates shared by the models of the substantive-model-compatible sampler.

One function, :func:`mixed_step`, draws the parameters of a linear mixed
model with known row precisions,

    y_i = x_i' beta + z_i' b_j + e_i,   b_j ~ N(0, Psi),   e_i ~ N(0, 1 / w_i),

in the blocked form of the two-level samplers (beta with the random effects
integrated out, then the random effects given beta, then Psi), all clusters
at once. The normal models pass ``w = 1 / sigma^2`` and draw ``sigma^2``
afterwards from the residuals; the probit models pass ``w = 1`` on their
latent variable; the logistic outcome passes its Polya-Gamma draws
``omega`` with the working response ``kappa / omega``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from .._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    cluster_crossprods,
    draw_invwishart,
)
from ..methods._twolevel import PSI_PRIOR_SCALE, SIGMA2_PRIOR_DF, SIGMA2_PRIOR_SCALE, _draw_fixed

__all__ = ["draw_residual_variance", "mixed_step", "truncated_normal"]


def mixed_step(X, Z, y, w, codes, n_groups, psi, rng, *, update_fixed=True, beta=None,
               indicator=None):
    """One blocked Gibbs step of a linear mixed model with row precisions ``w``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Fixed-effects design.
    Z : ndarray, shape (n, q)
        Random-effects design (q = 0: no random effects).
    y : ndarray, shape (n,)
        Response (a working response for the logistic model).
    w : ndarray, shape (n,)
        Row precisions.
    codes : ndarray of int, shape (n,)
        Cluster of each row.
    n_groups : int
        Number of clusters.
    psi : ndarray, shape (q, q)
        Current covariance of the random effects.
    rng : numpy.random.Generator
    update_fixed : bool, default=True
        False keeps ``beta`` and ``psi`` and draws only the random effects
        (imputation of new data with fitted parameters).
    beta : ndarray, shape (p,), optional
        The fixed effects to keep when ``update_fixed`` is False.
    indicator : sparse matrix, optional
        :func:`skmice._grouped.cluster_indicator` of ``codes``, shared between calls.

    Returns
    -------
    beta : ndarray, shape (p,)
    b : ndarray, shape (n_groups, q)
    psi : ndarray, shape (q, q)
    """
    p, q = X.shape[1], Z.shape[1]
    Xw = X * w[:, None]
    if q == 0:
        if update_fixed:
            beta = _draw_fixed(X.T @ Xw, Xw.T @ y, 1.0, rng)
        return beta, np.zeros((n_groups, 0)), psi
    ZtWZ, ZtWX, ZtWy = cluster_crossprods(codes, n_groups, Z * w[:, None], Z, X, y,
                                          indicator=indicator)
    M = ZtWZ + np.linalg.inv(psi)[None]
    L = batched_cholesky(M)
    W = batched_solve_triangular(L, np.concatenate([ZtWX, ZtWy[:, :, None]], axis=2))
    if update_fixed:
        Wf = W.reshape(n_groups * q, p + 1)
        G = Wf.T @ Wf
        beta = _draw_fixed(X.T @ Xw - G[:p, :p], Xw.T @ y - G[:p, p], 1.0, rng)
    beta1 = np.append(-beta, 1.0)
    u = (W.reshape(n_groups * q, p + 1) @ beta1).reshape(n_groups, q)
    u += rng.standard_normal((n_groups, q))
    b = batched_solve_triangular(L, u, trans=True)
    if update_fixed:
        S = b.T @ b
        S.flat[:: q + 1] += PSI_PRIOR_SCALE
        psi = draw_invwishart(n_groups + q, S, rng)
    return beta, b, psi


def draw_residual_variance(resid, rng) -> float:
    """``sigma^2 | residuals``: scaled inverse chi-square with the two-level samplers' prior."""
    ssr = float(np.einsum("i,i->", resid, resid))
    return (ssr + SIGMA2_PRIOR_SCALE) / rng.chisquare(resid.size + SIGMA2_PRIOR_DF)


def truncated_normal(mean, positive, rng) -> np.ndarray:
    """Draw ``z ~ N(mean, 1)`` truncated to ``z > 0`` where ``positive``, else to ``z <= 0``.

    Inverse-CDF sampling on the side of the truncation point that keeps
    precision: the upper tail is drawn as the mirror image of a lower tail.

    Parameters
    ----------
    mean : ndarray
    positive : ndarray of bool, same shape
    rng : numpy.random.Generator

    Returns
    -------
    z : ndarray
    """
    mean = np.asarray(mean, dtype=np.float64)
    # z > 0 with mean m is -(z' <= 0) with z' ~ N(-m, 1): one lower-tail draw for both
    m = np.where(positive, -mean, mean)
    # z' <= 0: u ~ U(0, Phi(-m)), z' = m + Phi^-1(u)
    upper = ndtr(-m)
    u = rng.random(m.shape) * upper
    z = m + ndtri(np.maximum(u, 1e-300))
    z = np.minimum(z, 0.0)
    return np.where(positive, -z, z)
