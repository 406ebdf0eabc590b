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

import functools
import math

import numpy as np
from scipy.special import ndtr, ndtri

from .._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    cluster_crossprods,
    draw_invwishart,
)
from ..methods._twolevel import PSI_PRIOR_SCALE, SIGMA2_PRIOR_DF, SIGMA2_PRIOR_SCALE, _draw_fixed

__all__ = ["CovarianceWalk", "draw_residual_variance", "mixed_step", "truncated_normal"]


def mixed_step(X, Z, y, w, codes, n_groups, psi, rng, *, update_fixed=True, beta=None,
               indicator=None, psi_walk=None):
    """One blocked Gibbs step of a linear mixed model with row precisions ``w``.

    beta is drawn with the random effects integrated out; then, with
    ``psi_walk``, Metropolis-Hastings steps on ``Psi`` with the random
    effects integrated out too (:class:`CovarianceWalk`: what keeps a
    weakly identified random-slope variance mixing); then the random effects
    given both, and ``Psi`` given the random effects.

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
    psi_walk : CovarianceWalk, optional
        The collapsed Metropolis-Hastings update of ``Psi``.

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
    ZtWXy = np.concatenate([ZtWX, ZtWy[:, :, None]], axis=2)
    L = batched_cholesky(ZtWZ + np.linalg.inv(psi)[None])
    W = batched_solve_triangular(L, ZtWXy)  # L_j^-1 Z_j'W [X_j y_j]
    if update_fixed:
        Wf = W.reshape(n_groups * q, p + 1)
        G = Wf.T @ Wf
        beta = _draw_fixed(X.T @ Xw - G[:p, :p], Xw.T @ y - G[:p, p], 1.0, rng)
        if psi_walk is not None:
            psi, L = psi_walk.step(ZtWZ, ZtWy - ZtWX @ beta, psi, rng)
            W = batched_solve_triangular(L, ZtWXy)
    beta1 = np.append(-beta, 1.0)
    u = (W.reshape(n_groups * q, p + 1) @ beta1).reshape(n_groups, q)
    u += rng.standard_normal((n_groups, q))
    b = batched_solve_triangular(L, u, trans=True)
    if update_fixed:
        S = b.T @ b
        S.flat[:: q + 1] += PSI_PRIOR_SCALE
        psi = draw_invwishart(n_groups + q, S, rng)
    return beta, b, psi


@functools.lru_cache(maxsize=8)
def _lower(q: int) -> tuple:
    """Row and column indices of the lower triangle of a q x q matrix, row by row."""
    return np.tril_indices(q)


@functools.lru_cache(maxsize=8)
def _jacobian_powers(q: int) -> np.ndarray:
    """Powers of C_ii in the Jacobian of theta -> Psi = C C' (log diagonal):
    2^q prod_i C_ii^(q - i + 1) for C -> Psi, times prod_i C_ii for the logs (i = 1..q)."""
    return np.arange(q + 1, 1, -1, dtype=np.float64)


class CovarianceWalk:
    """Random-walk Metropolis-Hastings on a random-effects covariance, effects integrated out.

    The target is ``p(Psi | y, beta)`` with the random effects integrated
    out: per cluster, with ``A_j = Z_j'W Z_j`` and ``c_j = Z_j'W (y_j - X_j
    beta)``, the log likelihood is ``-log|Psi|/2 - log|M_j|/2 + c_j'M_j^-1
    c_j / 2`` with ``M_j = A_j + Psi^-1``, times the inverse-Wishart prior of
    the Gibbs step. The walk moves the log-Cholesky parameters of ``Psi``;
    its step is adapted toward an acceptance rate of about 0.3 while
    ``adapting``.

    Parameters
    ----------
    n_steps : int, default=5
        Steps per update.
    """

    target = 0.3

    def __init__(self, n_steps: int = 5):
        self.n_steps = n_steps
        self.scale = 0.1
        self.adapting = True
        self.accepted = self.proposed = 0

    @staticmethod
    def _unpack(theta, q):
        """Cholesky factor ``C`` (log diagonal in ``theta``), ``Psi^-1`` and ``log diag(C)``."""
        if q == 1:
            log_d = theta[:1]
            return np.exp(log_d)[None], np.exp(-2.0 * log_d)[None], log_d
        if q == 2:
            a, c, b = float(theta[0]), float(theta[1]), float(theta[2])
            ea, eb = math.exp(a), math.exp(b)
            C = np.array([[ea, 0.0], [c, eb]])
            # Psi = C C' = [[ea^2, c ea], [c ea, c^2 + eb^2]], det = ea^2 eb^2
            det = (ea * eb) ** 2
            inv = np.array([[c * c + eb * eb, -c * ea], [-c * ea, ea * ea]]) / det
            return C, inv, np.array([a, b])
        C = np.zeros((q, q))
        C[_lower(q)] = theta
        log_d = np.diag(C).copy()
        C[np.diag_indices(q)] = np.exp(log_d)
        return C, np.linalg.inv(C @ C.T), log_d

    @staticmethod
    def _cluster_terms(A, c, inv):
        """Sum over clusters of log|M_j| and of c_j'M_j^-1 c_j, M_j = A_j + inv."""
        q = inv.shape[0]
        if q == 1:
            m = A[:, 0, 0] + inv[0, 0]
            return np.log(m).sum(), np.einsum("j,j->", c[:, 0] ** 2, 1.0 / m)
        if q == 2:
            m11, m12, m22 = A[:, 0, 0] + inv[0, 0], A[:, 0, 1] + inv[0, 1], A[:, 1, 1] + inv[1, 1]
            det = m11 * m22 - m12 * m12
            c1, c2 = c[:, 0], c[:, 1]
            quad = (m22 * c1 * c1 - 2.0 * m12 * c1 * c2 + m11 * c2 * c2) / det
            return np.log(det).sum(), quad.sum()
        M = A + inv[None]
        return np.linalg.slogdet(M)[1].sum(), np.einsum(
            "jk,jk->", c, np.linalg.solve(M, c[:, :, None])[:, :, 0])

    def _log_target(self, theta, A, c):
        q = A.shape[1]
        _, inv, log_diag = self._unpack(theta, q)
        log_det_m, quad = self._cluster_terms(A, c, inv)
        log_det_psi = 2.0 * log_diag.sum()
        loglik = -0.5 * A.shape[0] * log_det_psi - 0.5 * log_det_m + 0.5 * quad
        prior = -(2 * q + 1) / 2 * log_det_psi - 0.5 * PSI_PRIOR_SCALE * np.trace(inv)
        jacobian = float(np.dot(_jacobian_powers(q), log_diag))
        return loglik + prior + jacobian

    def step(self, A, c, psi, rng):
        """Move ``Psi``; returns it and the Cholesky factors of ``A_j + Psi^-1``."""
        q = psi.shape[0]
        C = np.linalg.cholesky(psi)
        C[np.diag_indices(q)] = np.log(np.diag(C))
        theta = C[_lower(q)]
        f = self._log_target(theta, A, c)
        for _ in range(self.n_steps):
            proposal = theta + self.scale * rng.standard_normal(theta.size)
            fp = self._log_target(proposal, A, c)
            self.proposed += 1
            if np.log(rng.random()) < fp - f:
                theta, f = proposal, fp
                self.accepted += 1
        C, inv, _ = self._unpack(theta, q)
        return C @ C.T, batched_cholesky(A + inv[None])

    def adapt(self, iteration: int) -> None:
        """Move the step toward the target acceptance rate (during the warm-up)."""
        if self.proposed:
            rate = self.accepted / self.proposed
            self.scale *= float(np.exp((rate - self.target) / np.sqrt(iteration)))
            self.accepted = self.proposed = 0


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
