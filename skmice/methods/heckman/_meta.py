"""Random-effects multivariate meta-analysis of per-cluster estimates (REML by EM).

Stage 2 of the two-level selection model pools the cluster likelihoods:
each is a normal approximation in information form, so that a cluster that
does not identify a parameter simply carries no information on it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["meta_analysis_reml"]


def meta_analysis_reml(estimates, covariances, structure="unstructured", max_iter=1000, tol=1e-8):
    """Random-effects multivariate meta-analysis by REML (EM algorithm).

    Model: ``theta_hat_j ~ N(theta_j, S_j)``, ``theta_j ~ N(mu, T)``.

    Parameters
    ----------
    estimates : ndarray of shape (K, d)
        Per-cluster estimates.
    covariances : ndarray of shape (K, d, d)
        Their within-cluster covariances ``S_j``.
    structure : {"unstructured", "diagonal"}, default="unstructured"
        Form of the between-cluster covariance ``T``.
    max_iter : int, default=1000
    tol : float, default=1e-8

    Returns
    -------
    mu : ndarray of shape (d,)
    cov_mu : ndarray of shape (d, d)
        Covariance of ``mu`` given ``T``.
    tau : ndarray of shape (d, d)
        Between-cluster covariance (0 with a single cluster).
    n_iter : int

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods.heckman._meta import meta_analysis_reml
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(1.0, 1.0, size=(200, 1)) + rng.normal(0, 0.5, size=(200, 1))
    >>> mu, cov_mu, tau, _ = meta_analysis_reml(theta, np.full((200, 1, 1), 0.25))
    >>> round(float(mu[0]), 1), bool(abs(tau[0, 0] - 1.0) < 0.3)  # truth: 1.0, 1.0
    (1.0, True)
    """
    est = np.asarray(estimates, dtype=float)
    P = np.linalg.inv(np.asarray(covariances, dtype=float))
    b = np.einsum("gij,gj->gi", P, est)
    return _meta_information(b, P, est, structure, max_iter=max_iter, tol=tol)


def _meta_information(b, P, start, structure="unstructured", fixed=None, max_iter=500, tol=1e-7):
    """REML meta-analysis with each cluster's likelihood given in information form.

    Cluster ``j`` contributes ``exp(-theta' P_j theta / 2 + theta' b_j)`` (a
    normal approximation of its log-likelihood; ``P_j`` may be singular, for
    parameters the cluster does not identify). ``start`` (K, d): rough
    estimates for the starting value of ``T``. ``fixed`` (d,) of bool: the
    parameters common to all clusters (zero rows and columns of ``T``).
    Returns ``mu, cov_mu, tau, n_iter``.
    """
    K, d = b.shape
    eye = np.eye(d)
    ridge = 1e-9 * np.maximum(np.abs(np.diagonal(P, axis1=1, axis2=2)).sum(0), 1.0)

    def pooled(tau):
        # A_j = (T + S_j)^-1 = (I + P_j T)^-1 P_j; A_j theta_hat_j = (I + P_j T)^-1 b_j
        M = eye + P @ tau
        A = np.linalg.solve(M, P)
        Ab = np.linalg.solve(M, b[..., None])[..., 0]
        cov_mu = np.linalg.inv(A.sum(axis=0) + np.diag(ridge))
        return A, Ab, cov_mu, cov_mu @ Ab.sum(axis=0)

    if K == 1:
        A, Ab, cov_mu, mu = pooled(np.zeros((d, d)))
        return mu, 0.5 * (cov_mu + cov_mu.T), np.zeros((d, d)), 0
    dev = start - start.mean(axis=0)
    tau = np.diag(np.maximum(np.einsum("gi,gi->i", dev, dev) / (K - 1), 1e-8))
    free = np.ones(d) if fixed is None else (~np.asarray(fixed, dtype=bool)).astype(float)
    tau *= np.outer(free, free)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        A, Ab, cov_mu, mu = pooled(tau)
        resid = Ab - np.einsum("gij,j->gi", A, mu)  # A_j (theta_hat_j - mu)
        e = resid @ tau  # T A_j (theta_hat_j - mu), T symmetric
        TA = tau @ A
        V = tau - TA @ tau + TA @ cov_mu @ np.swapaxes(TA, 1, 2)
        new = (np.einsum("gi,gj->ij", e, e) + V.sum(axis=0)) / K
        new = 0.5 * (new + new.T)
        if structure == "diagonal":
            new = np.diag(np.diag(new))
        new *= np.outer(free, free)
        change = np.max(np.abs(new - tau))
        tau = new
        if change < tol * (1.0 + np.max(np.abs(tau))):
            break
    A, Ab, cov_mu, mu = pooled(tau)
    return mu, 0.5 * (cov_mu + cov_mu.T), tau, n_iter


def _information(H, theta, pen):
    """Information form ``(P_j, b_j)`` of the cluster likelihoods, penalty taken out."""
    w, V = np.linalg.eigh(H - np.diag(pen))
    P = np.einsum("gij,gj,gkj->gik", V, np.maximum(w, 0.0), V)
    return P, np.einsum("gij,gj->gi", P, theta) + pen * theta


def _psd_sqrt(M):
    """A square root ``L`` (``L L' = M``) of each symmetrised positive semidefinite ``M``."""
    w, V = np.linalg.eigh(0.5 * (M + np.swapaxes(M, -1, -2)))
    return V * np.sqrt(np.maximum(w, 0.0))[..., None, :]
