"""Imputation under missing not at random: Heckman selection models and delta adjustment.

Selection models (Munoz et al. 2024; R micemd's ``2l.2stage.heckman``). For row
``i`` of cluster ``j``::

    outcome      y*_ij = x_ij' beta_j + e_ij
    selection    s*_ij = w_ij' gamma_j + u_ij,   y observed  <=>  s*_ij > 0
    (e, u) bivariate normal, var(u) = 1, var(e) = sigma_j^2, corr(e, u) = rho_j

Continuous targets: ``y = y*`` (Heckman's model); binary targets: ``y =
1(y* > 0)`` with ``var(e) = 1`` (bivariate probit with sample selection).
``w`` holds the outcome predictors plus at least one exclusion-restriction
variable that affects selection only.

The two stages:

1. Per cluster, (lightly penalised) maximum likelihood of ``theta_j =
   (beta_j, gamma_j, atanh rho_j[, log sigma_j])``: probit start for
   ``gamma_j`` and the Heckman two-step estimate for the outcome part, then
   damped Newton steps with the analytic gradient and Hessian, all clusters
   at once (the log-likelihood is a sum of per-cluster terms, so one
   vectorised computation serves every cluster).
2. Random-effects multivariate meta-analysis of the cluster likelihoods
   (normal approximations in information form): population mean ``mu`` and
   between-cluster covariance ``T`` by REML, computed by the EM algorithm;
   ``mu* ~ N(mu_hat, cov(mu_hat))``, then every fitted cluster's
   ``theta_j*`` from its posterior given its own data, ``mu*`` and ``T``,
   and every other cluster ``theta_j* ~ N(mu*, T)``.

Imputation draws each missing ``y`` from its distribution given
non-selection, ``u < -w' gamma_j``.

Delta adjustment (``mnar.norm``, ``mnar.logreg``): the MAR model's
imputations shifted by ``delta`` (on the logit scale for binary targets), for
sensitivity analyses (see :mod:`skmice.sensitivity`).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy import sparse
from scipy.special import expit, log_ndtr, ndtr, ndtri_exp

from ..exceptions import WeakIdentificationWarning
from ._base import ConditionalMethod, Design, register_method
from ._categorical import Logistic
from ._linear import BayesianNormal

__all__ = [
    "DeltaLogistic",
    "DeltaNormal",
    "Heckman",
    "TwoLevelHeckman",
    "bivariate_normal_cdf",
]

_LOG_2PI = np.log(2.0 * np.pi)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_ATANH_RHO_BOUND = 5.0  # |rho| <= 0.9999


# ---------------------------------------------------------------------------
# bivariate normal distribution
# ---------------------------------------------------------------------------


def bivariate_normal_cdf(h, k, r) -> np.ndarray:
    """``P(X < h, Y < k)`` for standard bivariate normal ``(X, Y)`` with correlation ``r``.

    Vectorised version of Genz's (2004) algorithm (Drezner and Wesolowsky's
    method with 20-point Gauss-Legendre quadrature; a series expansion for
    ``|r| >= 0.925``); absolute error below about ``1e-15``.

    Parameters
    ----------
    h, k : array-like
        Upper limits (broadcast together).
    r : array-like
        Correlations in ``[-1, 1]`` (broadcast with ``h`` and ``k``).

    Returns
    -------
    ndarray
        The probabilities.

    References
    ----------
    Genz, A. (2004). Numerical computation of rectangular bivariate and
    trivariate normal and t probabilities. *Statistics and Computing*, 14,
    251-260.

    Examples
    --------
    >>> from skmice.methods import bivariate_normal_cdf
    >>> float(bivariate_normal_cdf(0.0, 0.0, 0.5).round(6))  # 1/4 + asin(0.5) / (2 pi)
    0.333333
    """
    h, k, r = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(r, dtype=float)
    )
    shape = h.shape
    h, k, r = (-h).ravel(), (-k).ravel(), np.clip(r.ravel(), -1.0, 1.0)  # upper tail of (-h, -k)
    out = np.empty(h.shape)
    low = np.abs(r) < 0.925
    with np.errstate(all="ignore"):
        if low.any():
            hl, kl, rl = h[low], k[low], r[low]
            hk = hl * kl
            hs = 0.5 * (hl * hl + kl * kl)
            asr = np.arcsin(rl)
            sn = np.sin(asr[:, None] * (1.0 + _GL_X[None, :]) / 2.0)
            terms = np.exp((sn * hk[:, None] - hs[:, None]) / (1.0 - sn * sn))
            out[low] = asr / (4.0 * np.pi) * (terms @ _GL_W) + ndtr(-hl) * ndtr(-kl)
        high = ~low
        if high.any():
            hh, kh, rh = h[high], k[high], r[high]
            neg = rh < 0
            kh = np.where(neg, -kh, kh)
            hk = hh * kh
            bvn = np.zeros(hh.shape)
            inner = np.abs(rh) < 1.0
            if inner.any():
                hi, ki, hki, ri = hh[inner], kh[inner], hk[inner], rh[inner]
                as_ = (1.0 - ri) * (1.0 + ri)
                a = np.sqrt(as_)
                bs = (hi - ki) ** 2
                c = (4.0 - hki) / 8.0
                d = (12.0 - hki) / 16.0
                val = (
                    a
                    * np.exp(-(bs / as_ + hki) / 2.0)
                    * (1.0 - c * (bs - as_) * (1.0 - d * bs / 5.0) / 3.0 + c * d * as_ * as_ / 5.0)
                )
                b = np.sqrt(bs)
                corr = (
                    np.exp(-hki / 2.0)
                    * np.sqrt(2.0 * np.pi)
                    * ndtr(-b / a)
                    * b
                    * (1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0)
                )
                val = val - np.where(hki > -160.0, corr, 0.0)
                a2 = a / 2.0
                xs = (a2[:, None] * (_GL_X[None, :] + 1.0)) ** 2
                rs = np.sqrt(1.0 - xs)
                f = np.exp(-bs[:, None] / (2.0 * xs) - hki[:, None] / (1.0 + rs)) / rs - np.exp(
                    -(bs[:, None] / xs + hki[:, None]) / 2.0
                ) * (1.0 + c[:, None] * xs * (1.0 + d[:, None] * xs))
                f = np.where(np.isfinite(f), f, 0.0)
                val = val + a2 * (f @ _GL_W)
                bvn[inner] = -val / (2.0 * np.pi)
            pos_part = ndtr(-np.maximum(hh, kh))
            neg_part = np.where(kh > hh, ndtr(kh) - ndtr(hh), 0.0)
            out[high] = np.where(neg, -bvn + neg_part, bvn + pos_part)
    return np.clip(out, 0.0, 1.0).reshape(shape)


def _phi(z):
    return np.exp(-0.5 * z * z - 0.5 * _LOG_2PI)


def _mills(z):
    """``phi(z) / Phi(z)``, stable for very negative ``z``."""
    return np.exp(-0.5 * z * z - 0.5 * _LOG_2PI - log_ndtr(z))


# ---------------------------------------------------------------------------
# the selection models' log-likelihoods (vectorised over rows)
# ---------------------------------------------------------------------------


class _Layout:
    """Positions of the blocks of ``theta = (beta, gamma, atanh rho[, log sigma])``."""

    def __init__(self, p: int, r: int, binary: bool):
        self.p, self.r, self.binary = p, r, binary
        self.beta = slice(0, p)
        self.gamma = slice(p, p + r)
        self.rho = p + r
        self.sigma = None if binary else p + r + 1
        self.d = p + r + (1 if binary else 2)


def _row_derivatives(theta, X, W, y, s, groups, lay: _Layout, order: int):
    """Row log-likelihoods and their derivatives in ``eta = (xb, wg, atanh rho, log sigma)``.

    ``theta`` has one row per cluster; ``groups`` maps rows to those rows.
    Returns ``(ll, d1, d2)``: ``ll`` of shape (n,), ``d1`` (n, 4) and ``d2``
    (n, 4, 4) (None beyond ``order``). For binary targets the last entry of
    ``eta`` is unused (zero derivatives).
    """
    th = theta[groups]
    xb = np.einsum("ij,ij->i", X, th[:, lay.beta])
    wg = np.einsum("ij,ij->i", W, th[:, lay.gamma])
    rho = np.tanh(th[:, lay.rho])
    n = y.shape[0]
    ll = np.empty(n)
    m = ~s
    ll[m] = log_ndtr(-wg[m])
    d1 = d2 = None
    if order >= 1:
        d1 = np.zeros((n, 4))
        lam0 = _mills(-wg[m])
        d1[m, 1] = -lam0
    if order >= 2:
        d2 = np.zeros((n, 4, 4))
        d2[m, 1, 1] = -lam0 * (-wg[m] + lam0)
    rs = rho[s]
    sr2 = 1.0 - rs * rs
    sr = np.sqrt(sr2)
    if lay.binary:
        q = 2.0 * y[s] - 1.0
        h, k, r = q * xb[s], wg[s], q * rs
        prob = np.maximum(bivariate_normal_cdf(h, k, r), 1e-300)
        ll[s] = np.log(prob)
        if order == 0:
            return ll, d1, d2
        ph = _phi(h) * ndtr((k - r * h) / sr) / prob
        pk = _phi(k) * ndtr((h - r * k) / sr) / prob
        quad = h * h - 2.0 * r * h * k + k * k
        p2 = np.exp(-quad / (2.0 * sr2) - 0.5 * _LOG_2PI * 2.0) / sr / prob  # phi2 / P
        d1[s, 0] = q * ph
        d1[s, 1] = pk
        d1[s, 2] = q * p2 * sr2
        if order >= 2:
            # second derivatives of P (divided by P), then of log P
            phh = -h * ph - r * p2
            pkk = -k * pk - r * p2
            phk = p2
            phr = -p2 * (h - r * k) / sr2
            pkr = -p2 * (k - r * h) / sr2
            prr = p2 * (r / sr2 + (h * k * sr2 - r * quad) / sr2**2)
            lhh, lkk, lhk = phh - ph * ph, pkk - pk * pk, phk - ph * pk
            lhr, lkr, lrr = phr - ph * p2, pkr - pk * p2, prr - p2 * p2
            ds = d2[s]
            ds[:, 0, 0] = lhh
            ds[:, 1, 1] = lkk
            ds[:, 0, 1] = ds[:, 1, 0] = q * lhk
            ds[:, 0, 2] = ds[:, 2, 0] = lhr * sr2
            ds[:, 1, 2] = ds[:, 2, 1] = q * lkr * sr2
            ds[:, 2, 2] = lrr * sr2 * sr2 - 2.0 * rs * sr2 * q * p2
            d2[s] = ds
        return ll, d1, d2
    ls = th[s, lay.sigma]
    sig = np.exp(ls)
    z = (y[s] - xb[s]) / sig
    ws = wg[s]
    A = (ws + rs * z) / sr
    ll[s] = -0.5 * z * z - 0.5 * _LOG_2PI - ls + log_ndtr(A)
    if order == 0:
        return ll, d1, d2
    lam = _mills(A)
    # derivatives of z and A with respect to eta = (xb, wg, a, ls)
    zd = np.zeros((z.size, 4))
    zd[:, 0] = -1.0 / sig
    zd[:, 3] = -z
    Ad = np.empty((z.size, 4))
    Ad[:, 0] = -rs / (sr * sig)
    Ad[:, 1] = 1.0 / sr
    Ad[:, 2] = (z + rs * ws) / sr
    Ad[:, 3] = -rs * z / sr
    g = -z[:, None] * zd + lam[:, None] * Ad
    g[:, 3] -= 1.0
    d1[s] = g
    if order >= 2:
        zdd = np.zeros((z.size, 4, 4))
        zdd[:, 0, 3] = zdd[:, 3, 0] = 1.0 / sig
        zdd[:, 3, 3] = z
        Add = np.zeros((z.size, 4, 4))
        Add[:, 0, 3] = Add[:, 3, 0] = rs / (sr * sig)
        Add[:, 3, 3] = rs * z / sr
        Add[:, 0, 2] = Add[:, 2, 0] = -1.0 / (sr * sig)
        Add[:, 3, 2] = Add[:, 2, 3] = -z / sr
        Add[:, 1, 2] = Add[:, 2, 1] = rs / sr
        Add[:, 2, 2] = ws * sr + rs * (z + rs * ws) / sr
        dlam = -lam * (A + lam)
        d2[s] = (
            -np.einsum("ni,nj->nij", zd, zd)
            - z[:, None, None] * zdd
            + dlam[:, None, None] * np.einsum("ni,nj->nij", Ad, Ad)
            + lam[:, None, None] * Add
        )
    return ll, d1, d2


def _expand_rows(X, W, lay: _Layout):
    """Per-row factors E (n, d) and block index of each theta entry in eta."""
    n = X.shape[0]
    E = np.empty((n, lay.d))
    E[:, lay.beta] = X
    E[:, lay.gamma] = W
    E[:, lay.rho] = 1.0
    block = np.empty(lay.d, dtype=np.int64)
    block[lay.beta] = 0
    block[lay.gamma] = 1
    block[lay.rho] = 2
    if lay.sigma is not None:
        E[:, lay.sigma] = 1.0
        block[lay.sigma] = 3
    return E, block


def _sums(groups, n_groups, A):
    """Per-cluster column sums (a sparse indicator product when given one)."""
    if not isinstance(groups, np.ndarray):  # a sparse indicator matrix
        return np.asarray(groups @ A)
    out = np.empty((n_groups, A.shape[1]))
    for c in range(A.shape[1]):  # a few columns, not clusters
        out[:, c] = np.bincount(groups, weights=A[:, c], minlength=n_groups)
    return out


def _indicator(groups, n_groups):
    n = groups.shape[0]
    return sparse.csr_array((np.ones(n), (groups, np.arange(n))), shape=(n_groups, n))


def _penalty_weights(lay: _Layout, penalty: float, rho_penalty: float = 0.0) -> np.ndarray:
    pen = np.full(lay.d, penalty)
    pen[lay.rho] = max(penalty, rho_penalty)
    if lay.sigma is not None:
        pen[lay.sigma] = 0.0
    return pen


# ---------------------------------------------------------------------------
# stage 1: per-cluster maximum likelihood
# ---------------------------------------------------------------------------


def _batched_probit(A, t, groups, n_groups, penalty, max_iter=50):
    """Per-cluster probit fits of ``t`` on ``A`` by Newton steps (vectorised)."""
    k = A.shape[1]
    coef = np.zeros((n_groups, k))
    eye = np.eye(k) * penalty
    sign = 2.0 * t - 1.0
    ind = _indicator(groups, n_groups)
    AA = np.einsum("ij,ik->ijk", A, A).reshape(A.shape[0], k * k)
    for _ in range(max_iter):
        eta = np.einsum("ij,ij->i", A, coef[groups]) * sign
        lam = _mills(eta)
        score = _sums(ind, n_groups, A * (sign * lam)[:, None]) - coef * penalty
        wts = lam * (eta + lam)
        Hc = _sums(ind, n_groups, AA * wts[:, None]).reshape(n_groups, k, k) + eye
        step = np.linalg.solve(Hc, score[..., None])[..., 0]
        step = np.clip(step, -5.0, 5.0)
        coef += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return coef


def _start_values(X, W, y, s, groups, n_cl, lay: _Layout, penalty):
    """Probit selection fit, then the Heckman two-step (continuous) or probit outcome."""
    theta = np.zeros((n_cl, lay.d))
    gamma = _batched_probit(W, s.astype(float), groups, n_cl, max(penalty, 1e-6))
    theta[:, lay.gamma] = gamma
    go = groups[s]
    if lay.binary:
        theta[:, lay.beta] = _batched_probit(X[s], y[s], go, n_cl, max(penalty, 1e-6))
        return theta
    wg = np.einsum("ij,ij->i", W[s], gamma[go])
    imr = _mills(wg)
    U = np.column_stack([X[s], imr])
    k = U.shape[1]
    UtU = _sums(go, n_cl, np.einsum("ij,ik->ijk", U, U).reshape(-1, k * k)).reshape(n_cl, k, k)
    UtU += np.eye(k) * 1e-6
    Uty = _sums(go, n_cl, U * y[s][:, None])
    coef = np.linalg.solve(UtU, Uty[..., None])[..., 0]
    resid = y[s] - np.einsum("ij,ij->i", U, coef[go])
    cnt = np.maximum(np.bincount(go, minlength=n_cl), 1)
    delta = imr * (imr + wg)
    s2 = (
        np.bincount(go, weights=resid**2, minlength=n_cl)
        + coef[:, -1] ** 2 * np.bincount(go, weights=delta, minlength=n_cl)
    ) / cnt
    sig = np.sqrt(np.maximum(s2, 1e-8))
    rho = np.clip(coef[:, -1] / sig, -0.9, 0.9)
    theta[:, lay.beta] = coef[:, :-1]
    theta[:, lay.rho] = np.arctanh(rho)
    theta[:, lay.sigma] = np.log(sig)
    return theta


class _Objective:
    """Penalised negative log-likelihood per cluster, its gradient and Hessian (analytic)."""

    def __init__(self, X, W, y, s, groups, n_cl, lay, pen):
        self.args = (X, W, y, s, groups)
        self.n_cl, self.lay = n_cl, lay
        self.pen = pen
        self.ind = _indicator(groups, n_cl)
        self.E, self.block = _expand_rows(X, W, lay)
        self.EE = np.einsum("ni,nj->nij", self.E, self.E)

    def _f(self, ll, theta):
        f = -_sums(self.ind, self.n_cl, ll[:, None])[:, 0] + 0.5 * (self.pen * theta**2).sum(1)
        return np.where(np.isfinite(f), f, np.inf)

    def value(self, theta):
        ll, _, _ = _row_derivatives(theta, *self.args, self.lay, 0)
        return self._f(ll, theta)

    def derivatives(self, theta):
        """Objective, gradient (n_cl, d) and Hessian (n_cl, d, d)."""
        ll, d1, d2 = _row_derivatives(theta, *self.args, self.lay, 2)
        b, d = self.block, self.lay.d
        g = -_sums(self.ind, self.n_cl, self.E * d1[:, b]) + self.pen * theta
        rows = (self.EE * d2[:, b][:, :, b]).reshape(-1, d * d)
        H = -_sums(self.ind, self.n_cl, rows).reshape(self.n_cl, d, d) + np.diag(self.pen)
        return self._f(ll, theta), g, 0.5 * (H + np.swapaxes(H, 1, 2))


def _clip_rho(theta, lay):
    theta[:, lay.rho] = np.clip(theta[:, lay.rho], -_ATANH_RHO_BOUND, _ATANH_RHO_BOUND)
    return theta


def _line_search(obj, theta, f, step, active):
    """Per-cluster step halving: the largest of 1, 1/2, ... that lowers the objective."""
    t = np.ones(theta.shape[0])
    new = theta.copy()
    todo = active.copy()
    for _ in range(30):
        if not todo.any():
            break
        trial = _clip_rho(np.where(todo[:, None], theta + t[:, None] * step, new), obj.lay)
        ft = obj.value(trial)
        good = todo & (ft <= f + 1e-10 * np.abs(f))
        new[good] = trial[good]
        todo &= ~good
        t[todo] *= 0.5
    return new, active & ~todo


def _pin_bound(theta, g, H, lay):
    """Fix ``atanh rho`` of the clusters held at its bound (projected Newton)."""
    a = theta[:, lay.rho]
    pinned = (np.abs(a) >= _ATANH_RHO_BOUND - 1e-9) & (g[:, lay.rho] * a < 0)
    if pinned.any():
        g, H = g.copy(), H.copy()
        g[pinned, lay.rho] = 0.0
        H[pinned, lay.rho, :] = 0.0
        H[pinned, :, lay.rho] = 0.0
        H[pinned, lay.rho, lay.rho] = 1.0
    return g, H


def _fit_clusters(X, W, y, s, groups, n_cl, lay: _Layout, pen, max_iter, start=None):
    """Penalised ML per cluster, all clusters at once, by damped Newton steps.

    ``pen`` holds the ridge weight of every parameter. Returns the estimates
    (posterior modes), the Hessians of the penalised negative log-likelihood
    and a mask of the clusters whose fit converged to a maximum (``atanh
    rho`` may sit at its bound).
    """
    obj = _Objective(X, W, y, s, groups, n_cl, lay, pen)
    theta = _start_values(X, W, y, s, groups, n_cl, lay, pen[0]) if start is None else start
    theta = _clip_rho(theta.copy(), lay)
    active = np.ones(n_cl, dtype=bool)
    for _ in range(max_iter):
        f, g, H = obj.derivatives(theta)
        g, H = _pin_bound(theta, g, H, lay)
        w, V = np.linalg.eigh(np.where(np.isfinite(H), H, 0.0))
        # Newton direction; where H is not positive definite, a Levenberg shift
        shift = np.maximum(0.0, -w[:, 0] + 1e-3 * np.maximum(np.abs(w[:, -1]), 1.0))
        shift[w[:, 0] > 1e-8 * np.abs(w[:, -1])] = 0.0
        wt = w + shift[:, None]
        step = -np.einsum("gij,gj->gi", V, np.einsum("gji,gj->gi", V, g) / wt)
        dec = -np.einsum("gi,gi->g", g, step)
        active &= np.isfinite(dec) & (dec > 1e-9)
        if not active.any():
            break
        theta, moved = _line_search(obj, theta, f, step, active)
        active &= moved
    f, g, H = obj.derivatives(theta)
    finite = np.all(np.isfinite(H), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    H = np.where(finite[:, None, None], H, np.eye(lay.d))
    w = np.linalg.eigvalsh(H)
    pd_ = w[:, 0] > 1e-10 * np.abs(w[:, -1])
    gp, Hp = _pin_bound(theta, np.where(finite[:, None], g, 0.0), H, lay)
    wp, Vp = np.linalg.eigh(Hp)
    dec = np.einsum("gji,gj->gi", Vp, gp) ** 2 / np.where(wp > 0, wp, np.inf)
    ok = finite & pd_ & np.all(np.isfinite(theta), axis=1) & (dec.sum(axis=1) < 1e-3)
    return theta, H, ok


def _fit_shared_rho(X, W, y, s, groups, n_cl, lay: _Layout, pen, max_iter, theta, H):
    """Joint ML with ``atanh rho`` common to all clusters (other parameters per cluster).

    Newton steps on the joint problem, whose Hessian is block diagonal plus
    one shared row and column (an arrowhead): the shared step comes from the
    Schur complement, the cluster steps from per-cluster solves (all
    vectorised). ``theta`` and ``H``: per-cluster fits used as the start.
    Returns ``theta`` (common rho), the per-cluster Hessians, the Schur
    complement ``S`` (the joint precision of ``atanh rho``), ``B^-1 c`` (the
    cluster estimates' sensitivity to ``atanh rho``) and a convergence flag.
    """
    obj = _Objective(X, W, y, s, groups, n_cl, lay, pen)
    r = lay.rho
    rest = np.array([i for i in range(lay.d) if i != r])
    w_rr = np.clip(H[:, r, r], 1e-6, None)
    theta = theta.copy()
    theta[:, r] = np.clip(np.sum(w_rr * theta[:, r]) / w_rr.sum(), -3.0, 3.0)

    def newton_parts(theta):
        f, g, H = obj.derivatives(theta)
        B = H[:, rest][:, :, rest]
        c = H[:, rest, r]
        w, V = np.linalg.eigh(B)
        shift = np.maximum(0.0, -w[:, 0] + 1e-3 * np.maximum(np.abs(w[:, -1]), 1.0))
        shift[w[:, 0] > 1e-8 * np.abs(w[:, -1])] = 0.0
        Binv = np.einsum("gij,gj,gkj->gik", V, 1.0 / (w + shift[:, None]), V)
        Binv_g = np.einsum("gij,gj->gi", Binv, g[:, rest])
        Binv_c = np.einsum("gij,gj->gi", Binv, c)
        S = H[:, r, r].sum() - np.sum(c * Binv_c)
        return f, g, H, Binv_g, Binv_c, S

    converged = False
    for _ in range(max_iter):
        f, g, H, Binv_g, Binv_c, S = newton_parts(theta)
        ga = g[:, r].sum()
        delta = (-ga + np.sum(_c_dot(H, rest, r, Binv_g))) / max(S, 1e-8 * max(abs(S), 1.0))
        a = theta[0, r]
        if abs(a) >= _ATANH_RHO_BOUND - 1e-9 and delta * a > 0:
            delta = 0.0
        step = np.zeros_like(theta)
        step[:, rest] = -(Binv_g + Binv_c * delta)
        step[:, r] = delta
        dec = -np.sum(g * step)
        if not np.isfinite(dec) or dec < 1e-9:
            converged = np.isfinite(dec)
            break
        total, t = f.sum(), 1.0
        for _ in range(30):
            trial = _clip_rho(theta + t * step, lay)
            if obj.value(trial).sum() <= total + 1e-10 * abs(total):
                theta = trial
                break
            t *= 0.5
        else:
            converged = dec < 1e-3
            break
    f, g, H, Binv_g, Binv_c, S = newton_parts(theta)
    return theta, H, S, Binv_c, converged and S > 0


def _imputation_mean(theta, X, W, groups, lay: _Layout) -> float:
    """Mean over the rows of the target's expectation given non-selection."""
    th = theta[groups]
    xb = np.einsum("ij,ij->i", X, th[:, lay.beta])
    wg = np.einsum("ij,ij->i", W, th[:, lay.gamma])
    rho = np.tanh(th[:, lay.rho])
    if lay.binary:
        prob = bivariate_normal_cdf(xb, -wg, -rho) / np.maximum(ndtr(-wg), 1e-300)
        return float(np.mean(np.clip(prob, 0.0, 1.0)))
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
    rest = np.array([i for i in range(lay.d) if i != r])
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


def _c_dot(H, rest, r, Binv_g):
    """``c_j' B_j^-1 g_j`` per cluster (``c_j`` the coupling column of the shared parameter)."""
    return np.einsum("gi,gi->g", H[:, rest, r], Binv_g)


# ---------------------------------------------------------------------------
# stage 2: random-effects multivariate meta-analysis (REML by EM)
# ---------------------------------------------------------------------------


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
    >>> from skmice.methods._selection import meta_analysis_reml
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
    w, V = np.linalg.eigh(0.5 * (M + np.swapaxes(M, -1, -2)))
    return V * np.sqrt(np.maximum(w, 0.0))[..., None, :]


# ---------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------


def _check_number(value, name, method, low=None, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or (low is not None and not value >= low)
    ):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{method}: {name} must be {what} >= {low}, got {value!r}.")
    return value


def _column_in(col, M, tol=1e-10):
    scale = np.maximum(np.abs(col), 1.0)
    return bool(np.any(np.all(np.abs(M - col[:, None]) <= tol * scale[:, None], axis=0)))


@register_method("2l.heckman")
class TwoLevelHeckman(ConditionalMethod):
    """Two-level Heckman selection model imputation for MNAR targets (``2l.heckman``).

    The two-stage method of Munoz et al. (2024), R micemd's
    ``2l.2stage.heckman``: per-cluster maximum-likelihood fits of the
    selection model, a random-effects meta-analysis of the cluster
    estimates, parameter draws, and imputation from the distribution of the
    target given non-selection (see the module docstring of
    ``skmice.methods._selection`` for the equations). Continuous targets use
    Heckman's model, binary targets (codes 0 and 1) the bivariate probit with
    sample selection.

    The outcome equation uses the predictors with codes 1, 2 and -4 of the
    predictor matrix (``design.X``), the selection equation those with codes
    1, 2 and -3 (``design.W``); at least one selection-only variable (the
    exclusion restriction) is required. Every coefficient varies across
    clusters (micemd's convention; codes 1 and 2 are equivalent here).

    Parameters
    ----------
    outcome : {"auto", "continuous", "binary"}, default="auto"
        Model for the target: ``"auto"`` uses the bivariate probit when every
        observed value is 0 or 1.
    min_observed : int, default=10
        Clusters with fewer observed values than this, or than the number of
        parameters plus 2, with no missing value, or (binary) without both
        outcomes observed take their parameters from the population
        distribution (as do clusters whose fit fails).
    random_effects : {"all-but-rho", "all", "intercepts"}, default="all-but-rho"
        Which parameters vary across clusters. ``"all"``: every coefficient,
        ``rho`` and ``sigma`` (micemd). ``"all-but-rho"``: ``rho`` is common
        to all clusters and estimated from their joint likelihood (the other
        parameters per cluster, then meta-analysed); a cluster of a few
        hundred rows hardly identifies its own ``rho``, and pooling normal
        approximations of such flat likelihoods biases the pooled ``rho``
        (see Notes). ``"intercepts"``: as ``"all-but-rho"`` with only the two
        intercepts (and ``sigma``) varying in the meta-analysis.
    tau_structure : {"diagonal", "unstructured"}, default="diagonal"
        Between-cluster covariance ``T`` of the meta-analysis. With few
        clusters an unstructured ``T`` (``d (d + 1) / 2`` parameters) is
        poorly estimated and the intervals under-cover (see Notes).
    penalty : float, default=1e-3
        Ridge penalty ``penalty * |theta|^2 / 2`` on the coefficients (in
        standardised units) in the cluster fits: keeps estimates finite for
        separated or collinear clusters; negligible otherwise.
    rho_penalty : float, default=1.0
        Precision of a normal penalty on ``atanh rho`` centred at 0 in the
        cluster fits (a weak prior: rho in (-0.96, 0.96) with 95%
        probability). It keeps the fits of weakly identified clusters away
        from ``|rho| = 1``; it is removed again before the meta-analysis, so
        it does not shrink the pooled rho towards 0.
    max_iter : int, default=100
        Maximum Newton iterations of the cluster fits.
    rho_scale : {"atanh", "imputation-mean"}, default="atanh"
        Scale of the normal approximation from which the common ``atanh
        rho`` is drawn (``random_effects`` other than ``"all"``).
        ``"atanh"``: normal in ``atanh rho``. ``"imputation-mean"``: normal
        in the mean of the imputations (the mean over the rows to impute of
        the target's expectation given non-selection, a monotone function
        ``G`` of ``rho``) with the delta-method spread ``|G'| sd(atanh
        rho)``, mapped back to ``atanh rho``: no shift of the imputations'
        mean from the convexity of ``G``, but narrower intervals (see
        Notes).
    rho_prior : {"normal", "none"}, default="normal"
        What the draws of the common ``atanh rho`` rest on (``random_effects``
        other than ``"all"``). ``"normal"``: the likelihood times the normal
        prior of ``rho_penalty`` (``atanh rho ~ N(0, 1 / rho_penalty)``), a
        proper posterior, which the likelihood dominates wherever it
        identifies ``rho``. ``"none"``: the likelihood alone; where it is flat
        (a weak exclusion restriction) its normal approximation is very wide
        and the draws pile up at ``|rho|`` near 1, where the prevalence among
        non-responders is 0 or 1.

    Attributes
    ----------
    outcome_ : str
        ``"continuous"`` or ``"binary"``.
    theta_hat_ : ndarray of shape (n_groups, d)
        Stage-1 (penalised) estimates of ``(beta, gamma, atanh rho[, log
        sigma])`` for the standardised designs; NaN for clusters not fitted.
    fitted_clusters_ : ndarray of bool of shape (n_groups,)
        Clusters whose own fit entered the meta-analysis.
    mu_ : ndarray of shape (d,)
        Population mean of ``theta``; ``cov_mu_`` its covariance.
    tau_ : ndarray of shape (d, d)
        Between-cluster covariance.
    theta_star_ : ndarray of shape (n_groups, d)
        Parameters drawn in the last ``fit``.
    rho_ : float
        ``tanh`` of the population mean of ``atanh rho`` (its likelihood
        estimate).
    rho_interval_ : tuple of float
        95% interval of ``rho`` from the information of the likelihood
        (normal in ``atanh rho``).
    rho_weakly_identified_ : bool
        True when ``rho_interval_`` is wider than 1 (more than half of
        ``(-1, 1)``): the data hardly say how far the values are missing
        not at random. ``fit`` then warns once
        (:class:`~skmice.exceptions.WeakIdentificationWarning`).
    fallback_ : bool
        True when no cluster could be fitted on its own and a single-level
        model of all rows was used.
    n_groups_ : int

    See Also
    --------
    Heckman : the single-level version (no cluster column).
    DeltaNormal, DeltaLogistic : delta adjustment for sensitivity analyses.

    Notes
    -----
    ``fit`` receives every row (``needs_all_rows``): ``y`` is NaN where the
    target is missing, and the selection indicator is ``~isnan(y)``.

    Stage 1: probit start for the selection coefficients and the Heckman
    two-step (probit outcome, ``rho = 0``, for binary targets), then damped
    Newton steps with the analytic gradient and Hessian (step halving per
    cluster, a Levenberg shift where the Hessian is not positive definite,
    ``|atanh rho| <= 5`` with the bound handled by projection), all clusters
    at once. Designs are standardised with the means and standard
    deviations of all rows. A cluster fit fails when its Hessian is not
    positive definite or its Newton decrement exceeds ``1e-3``.

    Stage 2: each cluster's log-likelihood is approximated by a quadratic at
    its penalised estimate, with the penalty taken out (information form
    ``P_j = H_j - diag(penalty)``, projected on the positive semidefinite
    matrices, so clusters that do not identify a parameter simply carry no
    information on it). ``mu`` and ``T`` are estimated by REML with the EM
    algorithm, which keeps ``T`` positive semidefinite and handles
    covariances of any shape (method-of-moments estimators need
    ``S_j`` invertible). ``mu*`` is drawn from ``N(mu_hat, cov(mu_hat))``;
    ``T`` is not drawn (its uncertainty is ignored). With a single fitted
    cluster ``T = 0`` and ``theta* ~ N(theta_hat, H^-1)``: the single-level
    Heckman model with the weak prior of ``rho_penalty``. If no cluster can
    be fitted on its own, all rows are fitted as one cluster
    (``fallback_``); if that fails too, a ValueError is raised.

    Differences from micemd (ALGORITHMS.md, section 8): codes 1 and 2 both
    put a predictor in both equations (micemd ignores 1); the fallback uses
    the same probit likelihood (micemd mixes logit and probit); continuous
    imputations draw ``u`` from its truncated distribution and then ``e |
    u``, whose variance ``sigma^2 (1 - rho^2)`` is the conditional one
    (micemd uses the unconditional variance).

    With ``random_effects="all-but-rho"`` (the default) the common ``atanh
    rho`` is estimated jointly with every cluster's other parameters by
    Newton steps on the arrowhead-shaped joint Hessian (Schur complement for
    the common parameter, per-cluster solves for the rest); the other
    parameters are then meta-analysed given it, and each imputation first
    draws ``atanh rho`` from a normal approximation of its joint posterior
    (in the scale chosen by ``rho_scale``), shifting the cluster estimates
    accordingly.

    The joint likelihood of ``atanh rho`` is far from normal when the
    exclusion restriction is weak. With the hiv-like data of
    :func:`skmice.datasets.make_hiv` (9 clusters of about 700 rows, smoke
    shifting consent by 0.265 on the probit scale) its profile is steep
    towards ``rho = -1`` and nearly flat towards ``rho = +1`` (1 to 3
    log-likelihood units between the mode and ``rho = 0.98`` when the true
    rho is -0.6), and the prevalence among non-responders is convex in
    ``rho``. A normal draw in ``atanh rho`` (``rho_scale="atanh"``) then
    raises the imputations' mean by Jensen's inequality; a draw that is
    normal in the imputations' mean (``"imputation-mean"``) does not, but
    its intervals are narrower. Exact posteriors of ``atanh rho`` on a grid
    (profile, Laplace or meta-analytic marginal likelihood, priors flat in
    ``rho`` or in ``atanh rho`` or normal) follow the flat tail and bias the
    prevalence by -0.02 to -0.035 at ``rho = -0.6`` (20 replications), so
    they are not offered. 100 replications, m = 5, bias of the overall
    prevalence and coverage of its 95% interval for ``rho = -0.6, +0.6,
    0`` (MAR: -0.068, +0.044, 0.000): ``"atanh"`` +0.003, +0.022, +0.017
    and 91%, 97%, 86%; ``"imputation-mean"`` +0.001, +0.017, +0.014 and 89%,
    96%, 80% (benchmarks/results/heckman.md and
    heckman_imputation_mean.md). Drawing a diagonal ``T`` from a scaled
    inverse chi-squared distribution changed the coverage by 3 points (30
    replications at ``rho = 0``); ``T`` is not drawn. With a stronger
    exclusion restriction (``smoke_effect=0.8``) the bias is at most 0.006
    and the coverage 92-95% (heckman_strong_exclusion.md). Earlier pilots
    (30 replications): ``"all"`` pooled rho = -0.17, 0.21 for true 0, 0.6
    and covered 80-83%; an unstructured ``T`` covered 62% (16
    replications), a diagonal one 94%.

    Sampler state: when ``fit`` sees the same data again (a target whose
    predictors are complete) the stage-1 and stage-2 results are reused and
    only the draws are renewed; otherwise the previous estimates serve as
    start values.

    References
    ----------
    Munoz, J. et al. (2024). Multiple imputation of incomplete multilevel
    data using Heckman selection models. *Statistics in Medicine*.

    Heckman, J. J. (1979). Sample selection bias as a specification error.
    *Econometrica*, 47(1), 153-161.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelHeckman
    >>> rng = np.random.default_rng(0)
    >>> n, groups = 3000, np.repeat(np.arange(6), 500)
    >>> x, z = rng.standard_normal(n), rng.standard_normal(n)
    >>> e, u = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n).T
    >>> y = 1 + x + e
    >>> observed = 0.5 + 0.5 * x + z + u > 0
    >>> d = Design(X=np.column_stack([np.ones(n), x]), groups=groups, n_groups=6,
    ...            W=np.column_stack([np.ones(n), x, z]))
    >>> m = TwoLevelHeckman().fit(d, np.where(observed, y, np.nan), rng)
    >>> bool(0.3 < m.rho_ < 0.9)  # the true rho is 0.6
    True
    >>> imputed = m.sample(d.take(~observed), rng)
    >>> bool(abs(imputed.mean() - y[~observed].mean()) < 0.15)
    True
    """

    needs_groups = True
    needs_selection = True
    needs_all_rows = True
    supported_kinds = ("continuous", "binary")
    _name = "TwoLevelHeckman ('2l.heckman')"

    def __init__(
        self,
        outcome="auto",
        min_observed=10,
        random_effects="all-but-rho",
        tau_structure="diagonal",
        penalty=1e-3,
        rho_penalty=1.0,
        max_iter=100,
        rho_scale="atanh",
        rho_prior="normal",
    ):
        self.rho_prior = rho_prior
        self.outcome = outcome
        self.min_observed = min_observed
        self.random_effects = random_effects
        self.rho_scale = rho_scale
        self.tau_structure = tau_structure
        self.penalty = penalty
        self.rho_penalty = rho_penalty
        self.max_iter = max_iter

    # -- validation ------------------------------------------------------

    def _check_params(self):
        if self.outcome not in ("auto", "continuous", "binary"):
            raise ValueError(
                f"{self._name}: outcome must be 'auto', 'continuous' or 'binary', "
                f"got {self.outcome!r}."
            )
        if self.random_effects not in ("all", "all-but-rho", "intercepts"):
            raise ValueError(
                f"{self._name}: random_effects must be 'all', 'all-but-rho' or 'intercepts', "
                f"got {self.random_effects!r}."
            )
        if self.tau_structure not in ("unstructured", "diagonal"):
            raise ValueError(
                f"{self._name}: tau_structure must be 'unstructured' or 'diagonal', "
                f"got {self.tau_structure!r}."
            )
        if self.rho_scale not in ("imputation-mean", "atanh"):
            raise ValueError(
                f"{self._name}: rho_scale must be 'imputation-mean' or 'atanh', "
                f"got {self.rho_scale!r}."
            )
        if self.rho_prior not in ("normal", "none"):
            raise ValueError(
                f"{self._name}: rho_prior must be 'normal' or 'none', got {self.rho_prior!r}."
            )
        _check_number(self.min_observed, "min_observed", self._name, 1, integer=True)
        _check_number(self.penalty, "penalty", self._name, 0.0)
        _check_number(self.rho_penalty, "rho_penalty", self._name, 0.0)
        _check_number(self.max_iter, "max_iter", self._name, 1, integer=True)

    def _groups(self, design: Design, n: int):
        if design.groups is None:
            if self.needs_groups:
                raise ValueError(f"{self._name}: the design has no cluster codes (groups).")
            return np.zeros(n, dtype=np.int64), 1
        groups = np.asarray(design.groups, dtype=np.int64)
        if groups.shape != (n,) or (n and groups.min() < 0):
            raise ValueError(f"{self._name}: design.groups must hold one code >= 0 per row.")
        n_groups = max(int(design.n_groups), int(groups.max()) + 1 if n else 0)
        return groups, n_groups

    def _designs(self, design: Design):
        if not isinstance(design, Design):
            raise TypeError(f"{self._name}: design must be a Design, got {type(design).__name__}.")
        if design.W is None:
            raise ValueError(
                f"{self._name}: the design has no selection equation (design.W is None); give "
                "the selection-only predictors code -3 in the predictor matrix."
            )
        X = np.asarray(design.X, dtype=float)
        W = np.asarray(design.W, dtype=float)
        if X.ndim != 2 or W.ndim != 2 or W.shape[0] != X.shape[0]:
            raise ValueError(f"{self._name}: design.X and design.W must be 2-D with equal rows.")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(W))):
            raise ValueError(f"{self._name}: the design holds NaN or infinite values.")
        return X, W

    def _fixed_parameters(self, lay: _Layout) -> np.ndarray:
        """Parameters common to all clusters (no between-cluster variance)."""
        fixed = np.zeros(lay.d, dtype=bool)
        if self.random_effects == "intercepts":
            fixed[:] = True
            fixed[[0, lay.gamma.start]] = False
            if lay.sigma is not None:
                fixed[lay.sigma] = False
        elif self.random_effects == "all-but-rho":
            fixed[lay.rho] = True
        return fixed

    # -- fit -------------------------------------------------------------

    def fit(self, design: Design, y: np.ndarray, random_state: np.random.Generator):
        """Fit the selection model on every row and draw the parameters.

        Parameters
        ----------
        design : Design
            Design of all rows, with ``X`` (outcome), ``W`` (selection) and
            the cluster codes.
        y : ndarray of shape (n_rows,)
            The target, NaN where missing.
        random_state : numpy.random.Generator
            Source of randomness for the parameter draws.

        Returns
        -------
        self : TwoLevelHeckman
        """
        self._check_params()
        rng = _generator(random_state)
        X, W = self._designs(design)
        y = np.asarray(y, dtype=float)
        n = X.shape[0]
        if y.shape != (n,):
            raise ValueError(f"{self._name}: y must have one value per row ({n}), got {y.shape}.")
        s = ~np.isnan(y)
        if not s.any():
            raise ValueError(f"{self._name}: the target has no observed value.")
        if s.all():
            raise ValueError(
                f"{self._name}: the target has no missing value, so the selection equation "
                "cannot be fitted (fit receives every row, with NaN where y is missing)."
            )
        if not any(not _column_in(W[:, c], X) for c in range(W.shape[1])):
            raise ValueError(
                f"{self._name}: no exclusion restriction: every column of the selection "
                "equation is also in the outcome equation. Give at least one predictor that "
                "affects missingness but not the target code -3 in the predictor matrix."
            )
        groups, n_groups = self._groups(design, n)
        yo = y[s]
        binary = (
            bool(np.all((yo == 0) | (yo == 1)))
            if self.outcome == "auto"
            else (self.outcome == "binary")
        )
        if self.outcome == "binary" and not np.all((yo == 0) | (yo == 1)):
            raise ValueError(f"{self._name}: outcome='binary' needs observed values 0 and 1.")
        lay = _Layout(X.shape[1], W.shape[1], binary)
        key = (X, W, y, groups, binary)
        cache = getattr(self, "_cache", None)
        if cache is not None and _same_inputs(cache["key"], key):
            st = cache["state"]
        else:
            st = self._estimate(X, W, y, s, groups, n_groups, lay, cache)
            self._cache = {
                "key": tuple(
                    np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in key
                ),
                "state": st,
            }
        self.outcome_ = "binary" if binary else "continuous"
        self.n_groups_ = n_groups
        self._layout = lay
        self._scaling = st["scaling"]
        self.theta_hat_ = st["theta_hat"]
        self.fitted_clusters_ = st["fitted"]
        self.fallback_ = st["fallback"]
        self.mu_, self.cov_mu_, self.tau_ = st["mu"], st["cov_mu"], st["tau"]
        self.rho_ = float(np.tanh(self.mu_[lay.rho]))
        sd = float(np.sqrt(max(self.cov_mu_[lay.rho, lay.rho], 0.0)))
        self.rho_interval_ = tuple(
            float(v) for v in np.tanh(self.mu_[lay.rho] + np.array([-1.96, 1.96]) * sd)
        )
        self.rho_weakly_identified_ = self.rho_interval_[1] - self.rho_interval_[0] > 1.0
        if self.rho_weakly_identified_ and not getattr(self, "_warned_weak", False):
            warnings.warn(
                f"{self._name}: rho, the correlation of the outcome and selection errors, is "
                "weakly identified: the 95% interval of the likelihood covers "
                f"({self.rho_interval_[0]:.1f}, {self.rho_interval_[1]:.1f}), more than half "
                "of (-1, 1). The data cannot tell how far the missing values are not at random; "
                "the imputations then follow the prior on rho (rho_prior) and their spread. "
                "A stronger exclusion restriction (predictors with code -3 that move "
                "missingness) identifies it; report the result as a sensitivity analysis.",
                WeakIdentificationWarning,
                stacklevel=2,
            )
            self._warned_weak = True  # once per chain, not at every visit
        self._draw(st, rng)
        return self

    def _estimate(self, X, W, y, s, groups, n_groups, lay, cache):
        scaling = _scaling(X, W)
        Xs, Ws = _standardise(X, W, scaling)
        pen = _penalty_weights(lay, self.penalty, self.rho_penalty)
        n_obs = np.bincount(groups[s], minlength=n_groups)
        n_mis = np.bincount(groups[~s], minlength=n_groups)
        eligible = (n_obs >= max(self.min_observed, lay.d + 2)) & (n_mis >= 1)
        if lay.binary:
            ones = np.bincount(groups[s], weights=y[s], minlength=n_groups)
            eligible &= (ones >= 1) & (ones <= n_obs - 1)
        ys = np.where(s, y, 0.0)
        theta_hat = np.full((n_groups, lay.d), np.nan)
        hess = np.full((n_groups, lay.d, lay.d), np.nan)
        fitted = np.zeros(n_groups, dtype=bool)
        shared = None
        if eligible.any():
            idx = np.flatnonzero(eligible)
            code = np.full(n_groups, -1)
            code[idx] = np.arange(idx.size)
            rows = eligible[groups]
            data = (Xs[rows], Ws[rows], ys[rows], s[rows], code[groups[rows]], idx.size, lay)
            start = None
            if cache is not None:
                prev = cache["state"]["theta_hat"]
                if prev.shape == theta_hat.shape and np.all(np.isfinite(prev[idx])):
                    start = prev[idx]
            th, H, ok = _fit_clusters(*data, pen, self.max_iter, start)
            if start is not None and not ok.all():  # retry the failures from scratch
                th2, H2, ok2 = _fit_clusters(*data, pen, self.max_iter, None)
                better = ~ok & ok2
                th[better], H[better], ok[better] = th2[better], H2[better], True
            if self.random_effects != "all" and ok.sum() >= 2:
                # atanh rho common to the clusters: one joint fit of the fitted clusters
                keep = np.flatnonzero(ok)
                sub = np.isin(data[4], keep)
                recode = np.full(idx.size, -1)
                recode[keep] = np.arange(keep.size)
                pen_shared = pen.copy()
                pen_shared[lay.rho] = pen[lay.rho] / keep.size  # one prior in total
                th_s, H_s, S, Binv_c, conv = _fit_shared_rho(
                    data[0][sub],
                    data[1][sub],
                    data[2][sub],
                    data[3][sub],
                    recode[data[4][sub]],
                    keep.size,
                    lay,
                    pen_shared,
                    self.max_iter,
                    th[keep],
                    H[keep],
                )
                if conv:
                    th[keep], H[keep] = th_s, H_s
                    mis = ~data[3][sub]  # the rows to impute, for the scale of the rho draw
                    shared = dict(
                        S=S,
                        Binv_c=Binv_c,
                        a=th_s[0, lay.rho],
                        pen=pen[lay.rho],
                        rows=idx[keep],
                        missing=(data[0][sub][mis], data[1][sub][mis], recode[data[4][sub]][mis]),
                    )
            theta_hat[idx[ok]] = th[ok]
            hess[idx[ok]] = H[ok]
            fitted[idx[ok]] = True
        fallback = not fitted.any()
        if fallback:
            th, H, ok = _fit_clusters(
                Xs, Ws, ys, s, np.zeros(len(y), dtype=np.int64), 1, lay, pen, self.max_iter
            )
            if not ok[0]:
                raise ValueError(
                    f"{self._name}: the selection model could not be fitted in any cluster, nor "
                    "to all rows together (too few rows, too little missingness, or a weak "
                    "exclusion restriction)."
                )
            hess_f, theta_f = H, th
        else:
            hess_f, theta_f = hess[fitted], theta_hat[fitted]
        d = lay.d
        st = dict(
            scaling=scaling,
            theta_hat=theta_hat,
            hessian=hess,
            fitted=fitted,
            fallback=fallback,
            P=np.zeros((n_groups, d, d)),
            b=np.zeros((n_groups, d)),
            db=np.zeros((n_groups, d)),
            m1=np.zeros(d),
            a_hat=0.0,
            var_a=0.0,
            shared=False,
        )
        if theta_f.shape[0] == 1:
            # one cluster: the penalised fit is the (weak-prior) posterior
            st.update(mu=theta_f[0], cov_mu=np.linalg.inv(hess_f[0]), tau=np.zeros((d, d)))
            return st
        if shared is not None:
            self._shared_meta(st, shared, lay, pen)
            return st
        # the cluster likelihoods, with the penalty taken out again (information form)
        info_P, info_b = _information(hess_f, theta_f, pen)
        mu, cov_mu, tau, _ = _meta_information(
            info_b, info_P, theta_f, self.tau_structure, self._fixed_parameters(lay)
        )
        st["P"][fitted], st["b"][fitted] = info_P, info_b
        st.update(mu=mu, cov_mu=cov_mu, tau=tau)
        return st

    def _shared_meta(self, st, shared, lay, pen):
        """Meta-analysis of the cluster parameters given the common ``atanh rho``."""
        d, r = lay.d, lay.rho
        rest = np.array([i for i in range(d) if i != r])
        rows = shared["rows"]
        theta = st["theta_hat"][rows]
        H = st["hessian"][rows]
        P, b = _information(H[:, rest][:, :, rest], theta[:, rest], pen[rest])
        # how the information vectors move with atanh rho: theta_j(a) = theta_j - B_j^-1 c_j da
        db = -np.einsum("gij,gj->gi", P + np.diag(pen[rest]), shared["Binv_c"])
        fixed = self._fixed_parameters(lay)[rest]
        mu_r, cov_r, tau_r, _ = _meta_information(b, P, theta[:, rest], self.tau_structure, fixed)
        M = np.eye(d - 1) + P @ tau_r
        m1 = cov_r @ np.linalg.solve(M, db[..., None])[..., 0].sum(axis=0)
        # the common atanh rho: joint precision S (penalised), penalty taken out
        S, a, pr = shared["S"], shared["a"], shared["pen"]
        s_lik = S - pr
        a_lik, var_a = (a * (1 + pr / s_lik), 1.0 / s_lik) if s_lik > 1e-3 * S else (a, 1 / S)
        # the draw: the likelihood alone, or with the normal prior of rho_penalty kept
        a_draw, var_draw = (a, 1.0 / S) if self.rho_prior == "normal" else (a_lik, var_a)
        mu = np.empty(d)
        mu[rest], mu[r] = mu_r, a_lik
        cov_mu = np.zeros((d, d))
        cov_mu[np.ix_(rest, rest)] = cov_r
        cov_mu[r, r] = var_a
        tau = np.zeros((d, d))
        tau[np.ix_(rest, rest)] = tau_r
        full = np.zeros((rows.size, d, d))
        full[:, rest[:, None], rest[None, :]] = P
        st["P"][rows] = full
        bb = np.zeros((rows.size, d))
        bb[:, rest] = b
        st["b"][rows] = bb
        dd = np.zeros((rows.size, d))
        dd[:, rest] = db
        st["db"][rows] = dd
        st["m1"][rest] = m1
        st.update(mu=mu, cov_mu=cov_mu, tau=tau, a_hat=a, var_a=var_a, shared=True,
                  a_draw=a_draw, var_draw=var_draw)
        st["rho_map"] = None
        if self.rho_scale == "imputation-mean":
            st["rho_map"] = _imputation_mean_map(
                theta, shared["Binv_c"], a, a_draw, np.sqrt(var_draw), shared["missing"], lay
            )

    def _draw(self, st, rng):
        d = st["mu"].size
        r = self._layout.rho
        mu = st["mu"].copy()
        delta = 0.0
        if st["shared"]:
            # draw the common atanh rho, then the rest given it
            z = rng.standard_normal()
            if st.get("rho_map") is None:
                a_star = st["a_draw"] + np.sqrt(st["var_draw"]) * z
            else:
                # normal in the scale of the imputations' mean, mapped back to atanh rho
                centre, slope, g_grid, a_grid = st["rho_map"]
                a_star = float(np.interp(centre + slope * z, g_grid, a_grid))
            delta = a_star - st["a_hat"]
            mu = mu + st["m1"] * delta
            mu[r] = a_star
        mu_star = mu + _psd_sqrt(st["cov_mu"]) @ rng.standard_normal(d)
        if st["shared"]:
            mu_star[r] = mu[r]
        tau = st["tau"]
        n_groups = st["theta_hat"].shape[0]
        theta = mu_star + rng.standard_normal((n_groups, d)) @ _psd_sqrt(tau).T
        f = st["fitted"]
        if f.any() and not st["fallback"]:
            # theta_j | data_j, mu*, T: mean mu* + T (I + P_j T)^-1 (b_j - P_j mu*)
            P = st["P"][f]
            b = st["b"][f] + st["db"][f] * delta
            M = np.eye(d) + P @ tau
            gain = np.linalg.solve(M, (b - np.einsum("gij,j->gi", P, mu_star))[..., None])
            mean = mu_star + np.einsum("ij,gj->gi", tau, gain[..., 0])
            V = tau - tau @ np.linalg.solve(M, P) @ tau
            z = rng.standard_normal((int(f.sum()), d))
            theta[f] = mean + np.einsum("gij,gj->gi", _psd_sqrt(V), z)
        theta[:, r] = np.clip(theta[:, r], -_ATANH_RHO_BOUND, _ATANH_RHO_BOUND)
        self.theta_star_ = theta
        self._mu_star = mu_star

    # -- sample ----------------------------------------------------------

    def sample(self, design: Design, random_state: np.random.Generator, observed=None):
        """Draw the target for the rows of ``design`` given that they were not selected.

        Parameters
        ----------
        design : Design
            Design (``X``, ``W``, cluster codes) of the rows to impute.
        random_state : numpy.random.Generator
            Source of randomness.
        observed : ignored
            Present for the common signature; clusters new to the method get
            parameters drawn from the population distribution.

        Returns
        -------
        values : ndarray of shape (n_rows,)
            Imputed values (codes 0.0 and 1.0 for binary targets).
        """
        if not hasattr(self, "theta_star_"):
            raise ValueError(f"{self._name}: call fit before sample.")
        rng = _generator(random_state)
        X, W = self._designs(design)
        lay = self._layout
        if X.shape[1] != lay.p or W.shape[1] != lay.r:
            raise ValueError(
                f"{self._name}: the design has {X.shape[1]} outcome and {W.shape[1]} selection "
                f"columns; fit saw {lay.p} and {lay.r}."
            )
        n = X.shape[0]
        groups, n_groups = self._groups(design, n)
        theta = self.theta_star_
        if n_groups > theta.shape[0]:
            extra = n_groups - theta.shape[0]
            new = self._mu_star + rng.standard_normal((extra, lay.d)) @ _psd_sqrt(self.tau_).T
            new[:, lay.rho] = np.clip(new[:, lay.rho], -_ATANH_RHO_BOUND, _ATANH_RHO_BOUND)
            theta = np.vstack([theta, new])
        Xs, Ws = _standardise(X, W, self._scaling)
        th = theta[groups]
        xb = np.einsum("ij,ij->i", Xs, th[:, lay.beta])
        wg = np.einsum("ij,ij->i", Ws, th[:, lay.gamma])
        rho = np.tanh(th[:, lay.rho])
        if lay.binary:
            p_not_sel = ndtr(-wg)
            joint = bivariate_normal_cdf(xb, -wg, -rho)
            prob = np.clip(joint / np.maximum(p_not_sel, 1e-300), 0.0, 1.0)
            return (rng.random(n) < prob).astype(float)
        sig = np.exp(th[:, lay.sigma])
        # u | u < -w'gamma by the inverse cdf in log space; then e | u
        log_p = log_ndtr(-wg) + np.log(rng.random(n))
        u = ndtri_exp(np.minimum(log_p, -1e-300))
        u = np.where(np.isfinite(u), u, -wg)
        e = rho * sig * u + sig * np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
        return xb + e


@register_method("heckman")
class Heckman(TwoLevelHeckman):
    """Single-level Heckman selection model imputation (``heckman``).

    :class:`TwoLevelHeckman` with every row in one cluster: Heckman's model
    for continuous targets, the bivariate probit with sample selection for
    binary ones; ``theta* ~ N(theta_hat, S)`` from the maximum-likelihood fit.
    Needs no cluster column; with one, the cluster codes are ignored.

    Parameters
    ----------
    outcome : {"auto", "continuous", "binary"}, default="auto"
    min_observed : int, default=10
    penalty : float, default=1e-3
    rho_penalty : float, default=1.0
    max_iter : int, default=100
        As in :class:`TwoLevelHeckman`.

    Attributes
    ----------
    outcome_, theta_hat_, mu_, cov_mu_, theta_star_, rho_
        As in :class:`TwoLevelHeckman`.

    See Also
    --------
    TwoLevelHeckman : the two-level version.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Heckman
    >>> rng = np.random.default_rng(1)
    >>> n = 2000
    >>> x, z = rng.standard_normal(n), rng.standard_normal(n)
    >>> e, u = rng.multivariate_normal([0, 0], [[1, -0.5], [-0.5, 1]], size=n).T
    >>> y = (x + e > 0).astype(float)
    >>> observed = 0.8 + 0.3 * x + z + u > 0
    >>> d = Design(X=np.column_stack([np.ones(n), x]), W=np.column_stack([np.ones(n), x, z]))
    >>> m = Heckman().fit(d, np.where(observed, y, np.nan), rng)
    >>> m.outcome_, bool(-0.9 < m.rho_ < -0.1)
    ('binary', True)
    """

    needs_groups = False
    _name = "Heckman ('heckman')"

    def __init__(
        self, outcome="auto", min_observed=10, penalty=1e-3, rho_penalty=1.0, max_iter=100
    ):
        self.outcome = outcome
        self.min_observed = min_observed
        self.penalty = penalty
        self.rho_penalty = rho_penalty
        self.max_iter = max_iter

    tau_structure = "diagonal"
    random_effects = "all-but-rho"
    rho_scale = "atanh"
    rho_prior = "normal"  # one cluster: the penalised fit is the posterior

    def _groups(self, design, n):
        return np.zeros(n, dtype=np.int64), 1


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _scaling(X, W):
    out = []
    for M in (X, W):
        centre = M.mean(axis=0)
        scale = M.std(axis=0)
        const = scale <= 1e-12 * np.maximum(np.abs(centre), 1.0)
        centre[const] = 0.0
        scale[const] = 1.0
        centre[0], scale[0] = 0.0, 1.0
        out.append((centre, scale))
    return out


def _standardise(X, W, scaling):
    (cx, sx), (cw, sw) = scaling
    return (X - cx) / sx, (W - cw) / sw


def _same_inputs(old, new) -> bool:
    for a, b in zip(old, new):
        if isinstance(a, np.ndarray):
            if not (
                isinstance(b, np.ndarray)
                and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=True)
            ):
                return False
        elif a != b:
            return False
    return True


# ---------------------------------------------------------------------------
# delta adjustment (sensitivity analysis)
# ---------------------------------------------------------------------------


def _check_delta(delta, rows, name):
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not np.isfinite(delta):
        raise ValueError(f"{name}: delta must be a finite number, got {delta!r}.")
    if rows is not None and not callable(rows):
        raise TypeError(
            f"{name}: rows must be None (every imputed row) or a callable taking the design "
            f"matrix X of the rows to impute and returning a boolean mask, got {rows!r}."
        )


def _delta_rows(rows, X, name):
    if rows is None:
        return np.ones(X.shape[0], dtype=bool)
    mask = np.asarray(rows(X))
    if mask.shape != (X.shape[0],):
        raise ValueError(
            f"{name}: rows(X) must return one value per row ({X.shape[0]}), got shape {mask.shape}."
        )
    return mask.astype(bool)


@register_method("mnar.norm")
class DeltaNormal(BayesianNormal):
    """Bayesian linear regression imputation shifted by ``delta`` (``mnar.norm``).

    The imputations of :class:`~skmice.methods.BayesianNormal` (``norm``)
    plus ``delta`` in the chosen rows: the delta-adjustment (pattern-mixture)
    model of a sensitivity analysis under MNAR, where the missing values are
    assumed to be ``delta`` higher than MAR predicts. As R mice's
    ``mnar.norm`` with a constant shift.

    Parameters
    ----------
    delta : float, default=0.0
        Shift added to the imputations (0: the MAR model).
    rows : callable or None, default=None
        None shifts every imputed row; a callable receives the design matrix
        ``X`` of the rows to impute (intercept first, then the predictors in
        the predictor matrix's column order, categories as dummies) and
        returns a boolean mask of the rows to shift.
    ridge : float, default=1e-5
        As in :class:`~skmice.methods.BayesianNormal`.

    Attributes
    ----------
    beta_star_, sigma_star_
        As in :class:`~skmice.methods.BayesianNormal`.

    See Also
    --------
    DeltaLogistic : binary targets.
    skmice.sensitivity.delta_analysis : run the analysis over a grid of deltas.

    References
    ----------
    Van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed.,
    section 3.8.6. Chapman & Hall/CRC.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import DeltaNormal, Design
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(200), rng.standard_normal(200)])
    >>> y = X @ [1.0, 2.0] + rng.standard_normal(200)
    >>> mar = DeltaNormal(delta=0.0).fit(Design(X), y, np.random.default_rng(1))
    >>> mnar = DeltaNormal(delta=-2.0).fit(Design(X), y, np.random.default_rng(1))
    >>> a = mar.sample(Design(X[:5]), np.random.default_rng(2))
    >>> b = mnar.sample(Design(X[:5]), np.random.default_rng(2))
    >>> np.round(b - a, 6).tolist()
    [-2.0, -2.0, -2.0, -2.0, -2.0]
    """

    def __init__(self, delta=0.0, rows=None, ridge=1e-5):
        self.delta = delta
        self.rows = rows
        self.ridge = ridge

    _name = "DeltaNormal ('mnar.norm')"

    def fit(self, design: Design, y: np.ndarray, random_state: np.random.Generator):
        """Fit ``norm`` on the observed rows (see :class:`~skmice.methods.BayesianNormal`).

        Parameters
        ----------
        design : Design
        y : ndarray of shape (n_obs,)
        random_state : numpy.random.Generator

        Returns
        -------
        self : DeltaNormal
        """
        _check_delta(self.delta, self.rows, self._name)
        return super().fit(design, y, random_state)

    def sample(self, design: Design, random_state: np.random.Generator, observed=None):
        """Draw the ``norm`` imputations and add ``delta`` to the chosen rows.

        Parameters
        ----------
        design : Design
        random_state : numpy.random.Generator
        observed : ignored

        Returns
        -------
        values : ndarray of shape (n_rows,)
        """
        values = super().sample(design, random_state, observed)
        mask = _delta_rows(self.rows, np.asarray(design.X, dtype=float), self._name)
        return values + float(self.delta) * mask


@register_method("mnar.logreg")
class DeltaLogistic(Logistic):
    """Logistic regression imputation with a log-odds offset ``delta`` (``mnar.logreg``).

    As :class:`~skmice.methods.Logistic` (``logreg``), but the imputations of
    the chosen rows are drawn from ``Bernoulli(logistic(X beta* + delta))``:
    the odds of category 1 among the missing values are ``exp(delta)`` times
    those MAR predicts (delta adjustment on the logit scale).

    Parameters
    ----------
    delta : float, default=0.0
        Log odds ratio added for the chosen rows (0: the MAR model).
    rows : callable or None, default=None
        As in :class:`DeltaNormal`.
    ridge : float, default=1e-5
    max_iter : int, default=100
        As in :class:`~skmice.methods.Logistic`.

    Attributes
    ----------
    beta_star_
        As in :class:`~skmice.methods.Logistic`.

    See Also
    --------
    DeltaNormal : continuous targets.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import DeltaLogistic, Design
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(400), rng.standard_normal(400)])
    >>> y = (rng.random(400) < 0.3).astype(float)
    >>> m = DeltaLogistic(delta=3.0).fit(Design(X), y, rng)
    >>> bool(m.sample(Design(X), rng).mean() > 0.7)
    True
    """

    def __init__(self, delta=0.0, rows=None, ridge=1e-5, max_iter=100):
        self.delta = delta
        self.rows = rows
        self.ridge = ridge
        self.max_iter = max_iter

    _name = "DeltaLogistic ('mnar.logreg')"

    def fit(self, design: Design, y: np.ndarray, random_state: np.random.Generator):
        """Fit ``logreg`` on the observed rows (see :class:`~skmice.methods.Logistic`).

        Parameters
        ----------
        design : Design
        y : ndarray of shape (n_obs,)
        random_state : numpy.random.Generator

        Returns
        -------
        self : DeltaLogistic
        """
        _check_delta(self.delta, self.rows, self._name)
        return super().fit(design, y, random_state)

    def sample(self, design: Design, random_state: np.random.Generator, observed=None):
        """Draw 0/1 codes with the log odds shifted by ``delta`` in the chosen rows.

        Parameters
        ----------
        design : Design
        random_state : numpy.random.Generator
        observed : ignored

        Returns
        -------
        values : ndarray of shape (n_rows,)
        """
        if not hasattr(self, "beta_star_"):
            raise ValueError(f"{self._name}: call fit before sample.")
        X = np.asarray(design.X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{self._name}: the design has {X.shape[-1]} columns; fit saw "
                f"{self.n_features_in_}."
            )
        rng = _generator(random_state)
        mask = _delta_rows(self.rows, X, self._name)
        prob = expit(X @ self.beta_star_ + float(self.delta) * mask)
        return (rng.random(X.shape[0]) <= prob).astype(float)
