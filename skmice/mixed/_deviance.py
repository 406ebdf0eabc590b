"""The profiled (RE)ML deviance of a linear mixed model, vectorised over clusters.

With one grouping factor, lme4's sparse Cholesky factor ``L_theta`` of
``Lambda' Z' Z Lambda + I`` (Bates et al., 2015, section 3) is block
diagonal: one q x q block per cluster, ``L_j L_j' = T' Z_j'Z_j T + I``. All
the blocks are factorised at once (:func:`skmice._grouped.batched_cholesky`),
and the rest of lme4's blocked solve follows from the per-cluster sufficient
statistics:

* ``R_ZX,j = L_j^{-1} T' Z_j'X_j`` and ``c_u,j = L_j^{-1} T' Z_j'y_j``;
* ``R_X'R_X = X'X - sum_j R_ZX,j' R_ZX,j`` and
  ``c_beta = X'y - sum_j R_ZX,j' c_u,j``; ``beta = (R_X'R_X)^{-1} c_beta``;
* the penalised residual sum of squares
  ``r^2 = y'y - sum_j |c_u,j|^2 - c_beta' beta``;
* ``-2 log L = log|L|^2 + n (1 + log(2 pi r^2 / n))`` (ML) and
  ``log|L|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p)))`` (REML),
  with ``sigma^2 = r^2 / n`` or ``r^2 / (n - p)``.

The gradient with respect to theta is exact: with ``H = I + Z T T' Z'`` and
the GLS residuals ``e``, the derivative of the deviance with respect to
``G = T T'`` is ``M = sum_j [Z_j'H_j^{-1}Z_j - (nu / r^2) Z_j'H_j^{-1}e_j
e_j'H_j^{-1}Z_j]`` (``nu = n`` or ``n - p``), minus, for REML,
``sum_j Z_j'H_j^{-1}X_j (X'H^{-1}X)^{-1} X_j'H_j^{-1}Z_j``; every
``Z_j'H_j^{-1}(.)`` follows by Woodbury from the same blocks, and
``d deviance / dT = 2 M T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._grouped import batched_cholesky, batched_solve_triangular
from ._criterion import fixed_effects, profiled_criterion
from ._multi_deviance import multi_gradient, multi_parts
from ._sufficient import SufficientStatistics

__all__ = ["DevianceParts", "deviance_parts", "profiled_deviance"]

@dataclass
class DevianceParts:
    """The blocked factorisation at one theta, for one response.

    Attributes
    ----------
    deviance : float
        ``-2`` times the (RE)ML log-likelihood, profiled over beta and sigma.
    beta : ndarray, shape (p,)
        Fixed effects of the residual response (add ``beta_ols``).
    sigma2 : float
        Residual variance.
    RX : ndarray, shape (p, p)
        Lower Cholesky factor of ``X'H^{-1}X`` (``R_X'`` in lme4's notation).
    L : ndarray, shape (n_groups, q, q)
        Per-cluster factors ``L_j``.
    RZX : ndarray, shape (n_groups, q, p)
    cu : ndarray, shape (n_groups, q)
    pwrss : float
        Penalised weighted residual sum of squares ``r^2``.
    TtS : ndarray, shape (n_groups, q, q)
        ``T' Z_j'Z_j`` (reused by the gradient).
    """

    deviance: float
    beta: np.ndarray
    sigma2: float
    RX: np.ndarray
    L: np.ndarray
    RZX: np.ndarray
    cu: np.ndarray
    pwrss: float
    TtS: np.ndarray


def deviance_parts(T: np.ndarray, stats: SufficientStatistics, reml: bool) -> DevianceParts | None:
    """Factorise at ``T`` for the single response of ``stats``.

    Parameters
    ----------
    T : ndarray, shape (q, q)
        Lower-triangular relative covariance factor.
    stats : SufficientStatistics
        With one response.
    reml : bool
        REML or ML deviance.

    Returns
    -------
    DevianceParts or None
        None when ``X'H^{-1}X`` is not positive definite (which cannot
        happen with a full-rank ``X``, but guards the optimiser).
    """
    J, q, p = stats.ZtX.shape
    n = stats.n_obs
    S = stats.ZtZ
    Tt = T.T
    TtS = np.matmul(Tt, S)  # (J, q, q)
    A = np.matmul(TtS, T)
    A[:, np.arange(q), np.arange(q)] += 1.0
    L = batched_cholesky(A)
    RZX = batched_solve_triangular(L, np.matmul(Tt, stats.ZtX))  # (J, q, p)
    cu = batched_solve_triangular(L, np.matmul(Tt, stats.Ztr[:, :, 0:1]))[:, :, 0]  # (J, q)
    RZX2 = RZX.reshape(J * q, p)
    C = stats.XtX - RZX2.T @ RZX2
    cb = stats.Xtr[:, 0] - RZX2.T @ cu.reshape(J * q)
    solved = fixed_effects(C, cb)
    if solved is None:
        return None
    RX, beta = solved
    pwrss = float(stats.rtr[0] - np.dot(cu.ravel(), cu.ravel()) - cb @ beta)
    pwrss = max(pwrss, np.finfo(float).tiny)
    logdet_L = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    dev, nu = profiled_criterion(logdet_L, RX, pwrss, n, reml)
    return DevianceParts(
        deviance=dev, beta=beta, sigma2=pwrss / nu, RX=RX, L=L, RZX=RZX, cu=cu, pwrss=pwrss,
        TtS=TtS,
    )


def _gradient_T(T: np.ndarray, parts: DevianceParts, stats: SufficientStatistics,
                reml: bool) -> np.ndarray:
    """Derivative of the profiled deviance with respect to ``T`` (q x q)."""
    J, q, p = stats.ZtX.shape
    n = stats.n_obs
    nu = n - p if reml else n
    L, RZX, beta = parts.L, parts.RZX, parts.beta
    W = batched_solve_triangular(L, parts.TtS)  # L^{-1} T' S, (J, q, q)
    W2 = W.reshape(J * q, q)
    # sum_j Z'H^{-1}Z = sum_j S_j - W_j'W_j
    M = stats.ZtZ.sum(axis=0) - W2.T @ W2
    # Z'H^{-1}e = Z'e - W' L^{-1} T' Z'e, with Z'e = Z'r - Z'X beta
    Ze = stats.Ztr[:, :, 0] - np.matmul(stats.ZtX, beta)
    ue = parts.cu - np.matmul(RZX, beta)
    ze = Ze - np.einsum("jab,ja->jb", W, ue)
    M -= (nu / parts.pwrss) * (ze.T @ ze)
    if reml and p:
        # Z'H^{-1}X = Z'X - W' R_ZX; its C^{-1}-weighted outer products, with C = RX RX'
        zx = stats.ZtX - np.matmul(W.transpose(0, 2, 1), RZX)  # (J, q, p)
        V = scipy.linalg.solve_triangular(parts.RX, zx.reshape(J * q, p).T, lower=True)
        V = V.reshape(p, J, q).transpose(2, 1, 0).reshape(q, J * p)
        M -= V @ V.T
    M = 0.5 * (M + M.T)
    return 2.0 * M @ T


def profiled_deviance(theta, layout, stats: SufficientStatistics, reml: bool,
                      gradient: bool = False):
    """The profiled (RE)ML deviance at ``theta``, optionally with its gradient.

    Parameters
    ----------
    theta : array-like
        Entries of the relative covariance factor (see
        :class:`~skmice.mixed.ThetaLayout`).
    layout : ThetaLayout
        Where they go in ``T``.
    stats : SufficientStatistics or MultiStatistics
        With one response (a ``MultiStatistics`` for several grouping
        factors, whose deviance is :mod:`skmice.mixed._multi_deviance`'s).
    reml : bool
        REML (True) or ML deviance.
    gradient : bool, default=False
        Also return the gradient with respect to theta.

    Returns
    -------
    deviance : float
        ``inf`` where the factorisation fails.
    grad : ndarray, shape (len(theta),)
        Only with ``gradient=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.mixed import ThetaLayout, profiled_deviance, sufficient_statistics
    >>> rng = np.random.default_rng(0)
    >>> codes = np.repeat(np.arange(20), 5)
    >>> y = rng.normal(size=20)[codes] + rng.normal(size=100)
    >>> s = sufficient_statistics(codes, 20, np.ones((100, 1)), np.ones((100, 1)), y)
    >>> dev, grad = profiled_deviance([1.0], ThetaLayout((1,)), s, reml=True, gradient=True)
    >>> round(dev, 4), grad.shape
    (310.4716, (1,))
    """
    one = isinstance(stats, SufficientStatistics)
    T = layout.factor(np.asarray(theta, dtype=np.float64))
    parts = (deviance_parts if one else multi_parts)(T, stats, reml)
    if parts is None or not np.isfinite(parts.deviance):
        return (math.inf, np.zeros(layout.size)) if gradient else math.inf
    if not gradient:
        return parts.deviance
    return parts.deviance, layout.gradient((_gradient_T if one else multi_gradient)(
        T, parts, stats, reml))
