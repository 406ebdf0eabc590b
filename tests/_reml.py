"""A small REML fitter of linear mixed models, to analyse completed data in tests.

Independent of the imputation code (and of ``skmice.mixed``): dense algebra
on the ``Q x Q`` cross-products of the random-effects design, as lme4's
penalised least squares (Bates et al. 2015, section 3), so it suits data with
up to a thousand or two random effects. Nested and crossed factors alike;
each factor has a random intercept and optional random slopes with an
unstructured covariance.

``reml(y, X, factors)`` returns the estimates, the covariance of the fixed
effects and the standard errors of the variance components (from the
numerical Hessian of the REML deviance).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp

__all__ = ["reml"]


def _design(factors, n):
    """Sparse Z (n, Q) and, per factor, its (N, q) and offset in Q."""
    blocks, layout, offset = [], [], 0
    for codes, n_units, Zk in factors:
        Zk = np.ones((n, 1)) if Zk is None else np.asarray(Zk, dtype=float).reshape(n, -1)
        q = Zk.shape[1]
        rows = np.repeat(np.arange(n), q)
        cols = (np.asarray(codes)[:, None] * q + np.arange(q)).ravel()
        blocks.append(sp.csr_array((Zk.ravel(), (rows, cols)), shape=(n, n_units * q)))
        layout.append((n_units, q, offset))
        offset += n_units * q
    return sp.hstack(blocks).tocsr(), layout


def _lambda(layout, chol_factors):
    """Block-diagonal relative covariance factor: I_N (x) L_k per factor, sparse (Q, Q)."""
    return sp.block_diag([sp.kron(sp.eye_array(N), sp.csr_array(L)) for (N, _, _), L in
                          zip(layout, chol_factors)], format="csr")


class _Problem:
    def __init__(self, y, X, factors):
        n, self.p = X.shape
        self.n = n
        Z, self.layout = _design(factors, n)
        self.ZtZ = (Z.T @ Z).toarray()
        self.ZtX = Z.T @ X
        self.Zty = Z.T @ y
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)

    def solve(self, chol_factors):
        """Penalised least squares at relative covariance factors ``L_k`` (Psi_k = s2 L L')."""
        Lam = _lambda(self.layout, chol_factors)
        LtZtZ = Lam.T @ self.ZtZ
        A = (Lam.T @ LtZtZ.T).T + np.eye(Lam.shape[0])
        R = scipy.linalg.cholesky(A, lower=True)
        cX = scipy.linalg.solve_triangular(R, Lam.T @ self.ZtX, lower=True)
        cy = scipy.linalg.solve_triangular(R, Lam.T @ self.Zty, lower=True)
        XVX = self.XtX - cX.T @ cX
        XVy = self.Xty - cX.T @ cy
        yVy = self.yty - cy @ cy
        beta = np.linalg.solve(XVX, XVy)
        rss = max(yVy - beta @ XVy, 1e-300)
        logdet_A = 2 * np.sum(np.log(np.diag(R)))
        logdet_X = np.linalg.slogdet(XVX)[1]
        return beta, rss, logdet_A, logdet_X, XVX

    def profiled(self, theta):
        beta, rss, la, lx, _ = self.solve(self.unpack(theta))
        m = self.n - self.p
        return la + lx + m * (1 + np.log(2 * np.pi * rss / m))

    def deviance(self, sigma2, psis):
        """-2 REML log-likelihood at the variance components (not profiled)."""
        factors = []
        for P in psis:  # any F with F F' = P / sigma2 (the boundary and beyond: clipped)
            w, V = np.linalg.eigh(P / sigma2)
            factors.append(V * np.sqrt(np.maximum(w, 0.0)))
        beta, rss, la, lx, _ = self.solve(factors)
        m = self.n - self.p
        return m * np.log(2 * np.pi * sigma2) + la + lx + rss / sigma2

    def unpack(self, theta):
        out, i = [], 0
        for _, q, _ in self.layout:
            L = np.zeros((q, q))
            L[np.tril_indices(q)] = theta[i : i + q * (q + 1) // 2]
            out.append(L)
            i += q * (q + 1) // 2
        return out


def _vech(P):
    return P[np.tril_indices(P.shape[0])]


def _unvech(v, q):
    P = np.zeros((q, q))
    P[np.tril_indices(q)] = v
    return P + np.tril(P, -1).T


def reml(y, X, factors, se=True):
    """REML fit of ``y = X beta + sum_k Z_k b_k + e``.

    Parameters
    ----------
    y : ndarray (n,)
    X : ndarray (n, p)
    factors : list of tuple (codes, n_units, Z_k or None)
        Unit codes (0..n_units-1) per row and the factor's random design
        (None: a random intercept).
    se : bool
        Also the standard errors of the variance components.

    Returns
    -------
    dict with ``beta``, ``cov_beta``, ``psi`` (list of q_k x q_k), ``sigma2``,
    ``theta`` (variance parameters: sigma2, then each psi's lower triangle)
    and, with ``se``, ``cov_theta`` (their covariance from the Hessian).
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    pr = _Problem(y, X, factors)
    start = np.concatenate([_vech(0.5 * np.eye(q)) for _, q, _ in pr.layout])
    res = scipy.optimize.minimize(pr.profiled, start, method="L-BFGS-B")
    if not res.success:  # pragma: no cover - fall back to a derivative-free search
        res = scipy.optimize.minimize(pr.profiled, res.x, method="Nelder-Mead",
                                      options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-10})
    Ls = pr.unpack(res.x)
    beta, rss, _, _, XVX = pr.solve(Ls)
    sigma2 = rss / (pr.n - pr.p)
    psis = [sigma2 * L @ L.T for L in Ls]
    theta = np.concatenate([[sigma2], *[_vech(P) for P in psis]])
    out = {"beta": beta, "cov_beta": sigma2 * np.linalg.inv(XVX), "psi": psis,
           "sigma2": sigma2, "theta": theta}
    if se:
        qs = [q for _, q, _ in pr.layout]

        def dev(t):
            s2, i, P = t[0], 1, []
            for q in qs:
                P.append(_unvech(t[i : i + q * (q + 1) // 2], q))
                i += q * (q + 1) // 2
            return pr.deviance(s2, P)

        k = theta.size
        h = 1e-4 * np.maximum(np.abs(theta), 1e-2)
        H = np.empty((k, k))
        for a in range(k):
            for c in range(a, k):
                ea, ec = np.eye(k)[a] * h[a], np.eye(k)[c] * h[c]
                H[a, c] = H[c, a] = (dev(theta + ea + ec) - dev(theta + ea - ec)
                                     - dev(theta - ea + ec) + dev(theta - ea - ec)) / (
                                         4 * h[a] * h[c])
        out["cov_theta"] = 2 * np.linalg.inv(H)
    return out
