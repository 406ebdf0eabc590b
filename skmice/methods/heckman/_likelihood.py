"""The selection models' likelihood and its optimiser, all clusters at once.

For the parameters ``theta_j = (beta_j, gamma_j, atanh rho_j[, log
sigma_j])`` of every cluster (one row of ``theta`` each): the row
log-likelihoods with their analytic first and second derivatives, the
penalised objective per cluster, start values (probit fits and the Heckman
two-step estimate) and damped Newton steps, either cluster by cluster or
with ``atanh rho`` common to the clusters. Each computation is vectorised
over rows and clusters; loops run over iterations or a few columns only.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import log_ndtr, ndtr

from ._bvn import _LOG_2PI, _mills, _phi, bivariate_normal_cdf

_ATANH_RHO_BOUND = 5.0  # |rho| <= 0.9999


class _Layout:
    """Positions of the blocks of ``theta = (beta, gamma, atanh rho[, log sigma])``."""

    def __init__(self, p: int, r: int, binary: bool):
        self.p, self.r, self.binary = p, r, binary
        self.beta = slice(0, p)
        self.gamma = slice(p, p + r)
        self.rho = p + r
        self.sigma = None if binary else p + r + 1
        self.d = p + r + (1 if binary else 2)

    @property
    def rest(self) -> np.ndarray:
        """Positions of every parameter but ``atanh rho``."""
        return np.array([i for i in range(self.d) if i != self.rho])


def _linear_predictors(theta, X, W, groups, lay: _Layout):
    """Per row: its cluster's parameters, ``x' beta``, ``w' gamma`` and ``rho``."""
    th = theta[groups]
    xb = np.einsum("ij,ij->i", X, th[:, lay.beta])
    wg = np.einsum("ij,ij->i", W, th[:, lay.gamma])
    return th, xb, wg, np.tanh(th[:, lay.rho])


def _row_derivatives(theta, X, W, y, s, groups, lay: _Layout, order: int):
    """Row log-likelihoods and their derivatives in ``eta = (xb, wg, atanh rho, log sigma)``.

    ``theta`` has one row per cluster; ``groups`` maps rows to those rows.
    Returns ``(ll, d1, d2)``: ``ll`` of shape (n,), ``d1`` (n, 4) and ``d2``
    (n, 4, 4) (None beyond ``order``). For binary targets the last entry of
    ``eta`` is unused (zero derivatives).
    """
    th, xb, wg, rho = _linear_predictors(theta, X, W, groups, lay)
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
# the optimiser: penalised maximum likelihood per cluster
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


def _shifted_eigh(H):
    """Eigendecomposition ``(w, V)`` of each Hessian, shifted to be positive definite.

    Where a Hessian is not positive definite its eigenvalues get a
    Levenberg shift, so that ``V diag(1 / w) V'`` gives a descent direction.
    """
    w, V = np.linalg.eigh(H)
    shift = np.maximum(0.0, -w[:, 0] + 1e-3 * np.maximum(np.abs(w[:, -1]), 1.0))
    shift[w[:, 0] > 1e-8 * np.abs(w[:, -1])] = 0.0
    return w + shift[:, None], V


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
        wt, V = _shifted_eigh(np.where(np.isfinite(H), H, 0.0))  # the Newton direction
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


def _c_dot(H, rest, r, Binv_g):
    """``c_j' B_j^-1 g_j`` per cluster (``c_j`` the coupling column of the shared parameter)."""
    return np.einsum("gi,gi->g", H[:, rest, r], Binv_g)


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
    rest = lay.rest
    w_rr = np.clip(H[:, r, r], 1e-6, None)
    theta = theta.copy()
    theta[:, r] = np.clip(np.sum(w_rr * theta[:, r]) / w_rr.sum(), -3.0, 3.0)

    def newton_parts(theta):
        f, g, H = obj.derivatives(theta)
        B = H[:, rest][:, :, rest]
        c = H[:, rest, r]
        w, V = _shifted_eigh(B)
        Binv = np.einsum("gij,gj,gkj->gik", V, 1.0 / w, V)
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
