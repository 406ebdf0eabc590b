"""Two-level imputation of continuous targets: 2l.pan / 2l.lmer, 2l.norm, 2l.pmm.

The model is the linear mixed model

    y_ij = x_ij' beta + z_ij' b_j + e_ij,    b_j ~ N(0, Psi),

with one residual variance (:class:`TwoLevelNormal`, R's ``2l.pan``), one
residual variance per cluster (:class:`TwoLevelHeteroscedastic`, R's
``2l.norm``), or used for predictive mean matching (:class:`TwoLevelPMM`,
miceadds' ``2l.pmm``). All three are Gibbs samplers whose state is kept
between calls to ``fit`` (warm start): the chained-equations loop calls
``fit`` once per iteration, so each call only needs a step or a few.

Implementation notes:

* Every call to ``fit`` reduces the data to sufficient statistics once: the
  global ``X'X``, ``X'y``, ``y'y`` and, per cluster, ``Z_j'Z_j``, ``Z_j'X_j``,
  ``Z_j'y_j`` (:mod:`skmice._grouped`); the heteroscedastic sampler also
  keeps ``X_j'X_j``, ``X_j'y_j`` and ``y_j'y_j`` per cluster. A Gibbs step
  then costs ``O(N q^2 p)`` (``O(N p^2)``) and never touches the rows again,
  so extra steps within a call are nearly free.
* The sampler works in standardised units: ``y`` centred and scaled by its
  standard deviation, the columns of ``X`` and ``Z`` (but the intercept)
  centred and scaled. The priors below are stated in those units, which makes
  the imputations equivariant to the location and scale of every variable;
  the state is stored in the original units and converted at every call.
* ``beta`` is drawn from its conditional posterior given the variance
  components with the random effects integrated out, then ``b_j`` given
  ``beta``: a joint (blocked) draw of ``(beta, b)``. This avoids the slow
  mixing of the plain Gibbs sampler of ``beta | b`` when fixed effects are
  cluster-level variables or cluster means.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.linalg.lapack import dpotrf, dtrtrs
from sklearn.utils._param_validation import Interval, StrOptions

from .._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    batched_spd_inverse,
    cluster_crossprods,
    draw_invwishart,
    draw_mvn_precision,
)
from .._stamps import new_stamps
from ._base import ConditionalMethod, register_method
from ._column_gram import ColumnGram
from ._donors import match_clustered_donors
from ._validation import all_finite

__all__ = ["TwoLevelHeteroscedastic", "TwoLevelNormal", "TwoLevelPMM"]

# Priors, in standardised units (y with unit variance, columns of Z with unit
# variance). sigma^2: pan's a = 1, B = 1 (R's 2l.pan). Psi: inverse-Wishart
# with pan's c = q degrees of freedom and scale D = 0.1 I_q: pan's D = I_q in
# raw units is not scale-free, and I_q in standardised units weighs as much as
# a cluster whose random slope explains all of y's variance, which inflated
# small slope variances (+15% on ref_a's); 0.1 I_q matches R's pooled
# variance components on ref_a within a few per cent while staying proper.
SIGMA2_PRIOR_DF = 1.0
SIGMA2_PRIOR_SCALE = 1.0
PSI_PRIOR_SCALE = 0.1  # D = PSI_PRIOR_SCALE * I_q, with df c = q
# Weak inverse-gamma prior IG(shape, scale) on the dispersion theta of the
# residual variances of 2l.norm (R uses none and needs N > 2 clusters).
THETA_PRIOR = (1.0, 0.05)
THETA_BOUNDS = (1e-8, 0.5)
PRECISION_BOUNDS = (1e-10, 1e10)  # of 1 / sigma_j^2, standardised units
# Gibbs sweeps over (b_j, sigma_j^2) for clusters new to a heteroscedastic model.
NEW_CLUSTER_SWEEPS = 5
# Relative ridge added to the precision of beta when it is (numerically)
# singular, as R's ridge = 1e-5 in mice.impute.norm.
RIDGE = 1e-5
# Columns whose mean exceeds this many standard deviations are centred
# physically before the cross-products are formed (not from the raw sums).
_CENTRE_RATIO = 1e3


# ---------------------------------------------------------------------------
# data preparation: sufficient statistics in standardised units
# ---------------------------------------------------------------------------


class _Problem:
    """Sufficient statistics of one ``fit`` call, in standardised units.

    Attributes (``p`` fixed columns, ``q`` random columns, ``N`` clusters):
    ``n``, ``N``, ``counts`` (N,), ``XtX`` (p, p), ``Xty`` (p,), ``yty``,
    ``ZtZ`` (N, q, q), ``ZtXy`` (N, q, p + 1) = [Z_j'X_j | Z_j'y_j], and for the
    heteroscedastic sampler ``XtX_j`` (N, p, p), ``Xty_j`` (N, p) and ``yty_j``
    (N,) over its fixed columns (all ``r`` columns of the union design ``U``).
    ``fixed`` and ``zmap`` index the fixed and random columns within ``U``;
    ``centre``/``scale`` (r,) and ``y_centre``/``y_scale`` define the
    standardisation.
    """


def _check_intercept(A: np.ndarray, name: str, method: str, sum_sq=None) -> None:
    """Check that column 0 is the intercept: on a sample of rows, and exactly through
    its sum of squares when given (sums of ones are exact in floating point)."""
    n = A.shape[0]
    sampled = A[:: max(1, n // 1024), 0]
    if not (np.all(sampled == 1.0) and (sum_sq is None or sum_sq == n)):
        raise ValueError(f"{method}: column 0 of design.{name} must be the intercept (all ones).")


def _match_columns(Z: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Index of the column of X equal to each column of Z (-1 when none)."""
    zmap = np.full(Z.shape[1], -1, dtype=np.int64)
    zmap[0] = 0  # both intercepts (checked by the caller)
    head = min(X.shape[0], 32)
    for k in range(1, Z.shape[1]):  # loop over the few random columns
        candidates = np.flatnonzero(np.all(X[:head] == Z[:head, k : k + 1], axis=0))
        for col in candidates:
            if np.array_equal(X[:, col], Z[:, k]):
                zmap[k] = col
                break
    return zmap


def _z_columns_in_x(design, Z: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Index of the column of X equal to each column of Z (-1 when none).

    Uses ``design.z_in_x`` when given and it agrees with the data on a sample
    of rows; otherwise compares the columns.
    """
    given = getattr(design, "z_in_x", None)
    if given is not None:
        zmap = np.array(given, dtype=np.int64)
        if zmap.shape == (Z.shape[1],) and zmap[0] == 0 and np.all(zmap < X.shape[1]):
            if getattr(design, "stamps", None) is not None:  # the imputer's plan: exact
                return zmap
            known = np.flatnonzero(zmap >= 0)
            rows = slice(None, None, max(1, X.shape[0] // 64))
            if np.array_equal(X[rows][:, zmap[known]], Z[rows][:, known]):
                return zmap
    return _match_columns(Z, X)


def _affine(centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Matrix T with (U - centre) / scale = U T for U whose column 0 is the intercept."""
    T = np.diag(1.0 / scale)
    T[0, 1:] = -centre[1:] / scale[1:]
    return T


def _standardised_target(y, cache, trusted: bool = False):
    """``(y - centre) / scale``, its stamp, centre and scale; kept in ``cache`` while
    ``y`` holds the same values (the observed rows of a target at every visit).

    ``trusted`` (a stamped design: the imputer's plans never modify the target
    they fit on in place): the same array object holds the same values.
    """
    kept = None if cache is None else cache.get("y")
    if kept is not None:
        ref, copy, out = kept
        if (trusted and ref is y) or (copy.shape == y.shape and np.array_equal(copy, y)):
            return out
    y_centre = float(y.mean())
    ys = y - y_centre
    y_scale = float(np.sqrt(ys @ ys / y.shape[0]))
    if not y_scale > 0:  # constant target
        y_scale = abs(y_centre) * 1e-6 if y_centre != 0 else 1.0
    ys /= y_scale
    out = (ys, new_stamps(1)[0], y_centre, y_scale)
    if cache is not None:
        cache["y"] = (y, y.copy(), out)
    return out


def _column_gram(groups, N, cache, trusted: bool = False) -> ColumnGram:
    """The cross-products kept for these rows' clusters (new ones when they changed).

    ``trusted`` (a stamped design): the same array of unit codes holds the same codes.
    """
    if cache is not None and cache.get("N") == N and cache.get("groups") is not None:
        ref, copy = cache["groups"]
        if (trusted and ref is groups) or np.array_equal(copy, groups):
            return cache["gram"]
    gram = ColumnGram(groups.copy(), N)
    if cache is not None:
        cache.update(N=N, groups=(groups, gram.groups), gram=gram)
    return gram


def _column_stamps(design, n_x: int, r: int, mode: str) -> np.ndarray:
    """The stamps of the columns of ``U`` (0, unknown, for columns not in ``X``)."""
    stamps = np.zeros(r, dtype=np.int64)
    if mode != "ignore" and getattr(design, "stamps", None) is not None:
        stamps[:n_x] = design.stamps
    return stamps


def _prepare(design, y, method: str, mode: str, cache: dict | None = None) -> _Problem:
    """Reduce the observed rows to sufficient statistics in standardised units.

    ``mode``: "normal" (fixed part X, random part Z), "honour" (fixed part X
    plus the columns of Z absent from X, all with weights), "ignore" (Z only:
    fixed part = means of the random coefficients).
    """
    X, Z, groups, N = design.X, design.Z, design.groups, design.n_groups
    n = y.shape[0]
    _check_intercept(Z, "Z", method)
    q = Z.shape[1]
    hetero = mode != "normal"
    n_x = X.shape[1]
    if mode == "ignore":
        U, zmap, extra = Z, np.arange(q), np.arange(q)
    else:
        zmap = _z_columns_in_x(design, Z, X)
        extra = np.flatnonzero(zmap < 0)
        U = X if extra.size == 0 else np.hstack([X, Z[:, extra]])
        zmap[extra] = n_x + np.arange(extra.size)
    r = U.shape[1]
    fixed = np.arange(n_x) if mode == "normal" else np.arange(r)

    trusted = getattr(design, "stamps", None) is not None
    ys, y_stamp, y_centre, y_scale = _standardised_target(y, cache, trusted)
    gram_of = _column_gram(groups, N, cache, trusted)
    stamps = _column_stamps(design, n_x, r, mode)

    def gram(U, stamps, left_values=None):
        # per-cluster cross-products with [U | y]: U_j'[U_j | y_j]
        # (heteroscedastic; U'U is their sum) or Z_j'[U_j | y_j], and the Gram
        # matrix of [U | y]; the pairs of columns whose stamps are unchanged
        # since the last visit are reused
        stamps = gram_of.retain([*stamps, y_stamp])
        left = range(r) if hetero else zmap
        per_cluster = gram_of.per_cluster(U, ys, stamps, left, left_values=left_values)
        return per_cluster, gram_of.totals(U, ys, stamps), stamps

    # Z itself holds the left columns of the normal model, when each is known equal to its
    # column of X (a stamped design, or columns compared in full)
    exact = trusted or getattr(design, "z_in_x", None) is None
    z_values = Z if mode == "normal" and exact and Z.flags.c_contiguous else None
    per_cluster, totals, used = gram(U, stamps, z_values)
    UtU = totals[:r, :r]
    _check_intercept(U, "Z" if mode == "ignore" else "X", method, UtU[0, 0])
    if not np.all(np.isfinite(UtU)):
        raise ValueError(f"{method}: the design contains NaN or infinite values.")
    mean = UtU[0] / n
    var = np.maximum(np.diag(UtU) / n - mean**2, 0.0)
    offset = np.zeros(r)
    far = (np.abs(mean) > _CENTRE_RATIO * np.sqrt(var)) & (np.arange(r) > 0)
    if np.any(far):  # centre physically, then redo the cross-products
        offset[far] = U[:, far].mean(axis=0)
        U = U - offset
        per_cluster, totals, used = gram(U, np.where(far, 0, stamps))  # centred: not kept
        UtU = totals[:r, :r]
        mean = UtU[0] / n
        var = np.maximum(np.diag(UtU) / n - mean**2, 0.0)
    constant = var <= 1e-24 * np.maximum(mean**2, np.finfo(float).tiny)
    scale = np.where(constant, 1.0, np.sqrt(var))
    centre = np.where(constant, 0.0, mean)
    scale[0], centre[0] = 1.0, 0.0
    T = _affine(centre, scale)
    T1 = np.zeros((r + 1, r + 1))  # T for [U | y] (y is standardised already)
    T1[:r, :r] = T
    T1[r, r] = 1.0

    pb = _Problem()
    pb.method, pb.mode = method, mode
    pb.n, pb.N, pb.q, pb.r, pb.n_x = n, N, q, r, n_x
    pb.fixed, pb.zmap, pb.extra = fixed, zmap, extra
    pb.centre, pb.scale = centre + offset, scale
    pb.y_centre, pb.y_scale = y_centre, y_scale
    pb.T = _affine(pb.centre, scale)
    Tz = T[zmap[:, None], zmap]
    fixed_y = np.empty(fixed.size + 1, dtype=np.intp)  # fixed columns of [U | y], then y
    fixed_y[:-1] = fixed
    fixed_y[-1] = r
    if hetero:
        pb.counts = per_cluster[:, 0, 0].copy()
        UtUy_j = _sandwich(T.T, per_cluster, T1)  # (N, r, r + 1), standardised
        Uty = totals[:r, r]
        pb.yty_j = gram_of.per_cluster(U, ys, used, [r], [r])[:, 0, 0]
        pb.yty = float(totals[r, r])
        pb.XtX_j = np.ascontiguousarray(UtUy_j[:, fixed[:, None], fixed])
        pb.Xty_j = UtUy_j[:, fixed, r]
        ZtUy = UtUy_j[:, zmap, :]
    else:
        Uty = totals[:r, r]
        pb.yty = float(totals[r, r])
        pb.counts = per_cluster[:, 0, 0].copy()
        if pb.counts.sum() != n:  # Z's column 0 summed exactly (its rows were sampled above)
            raise ValueError(f"{method}: column 0 of design.Z must be the intercept (all ones).")
    UtU_c = T.T @ UtU @ T
    pb.XtX = UtU_c if fixed.size == r else UtU_c[fixed[:, None], fixed]
    pb.Xty = (Uty @ T)[fixed]
    if hetero:
        pb.ZtZ = np.ascontiguousarray(ZtUy[:, :, zmap])
        pb.ZtXy = np.ascontiguousarray(ZtUy[:, :, fixed_y])
    else:  # standardised and the wanted columns taken in one product each
        pb.ZtZ = _sandwich(Tz.T, per_cluster, T1, zmap)
        pb.ZtXy = _sandwich(Tz.T, per_cluster, T1, fixed_y)
    if not (np.all(np.isfinite(pb.ZtXy)) and np.all(np.isfinite(pb.ZtZ))):
        raise ValueError(f"{method}: the design contains NaN or infinite values.")
    return pb


def _z_transform(pb: _Problem) -> np.ndarray:
    """T_z with Z_c = Z T_z (standardised random design); taken once per problem."""
    Tz = getattr(pb, "Tz", None)
    if Tz is None:
        Tz = pb.Tz = pb.T[pb.zmap[:, None], pb.zmap]
    return Tz


# ---------------------------------------------------------------------------
# Gibbs steps (standardised units)
# ---------------------------------------------------------------------------


def _draw_fixed(P, r, scale, rng) -> np.ndarray:
    """Draw beta ~ N(P^-1 r, scale P^-1); a ridge is added when P is singular."""
    P = (P + P.T) / 2
    d = P.diagonal().copy()
    if not (d > 0).all():
        d[~(d > 0)] = max(d.max(initial=0.0), 1.0)
    ridge = 0.0
    for _ in range(8):
        Pr = P if ridge == 0.0 else P + np.diag(ridge * d)
        L, info = dpotrf(Pr, lower=1, clean=1)
        if info == 0 and (L.diagonal() ** 2 >= 1e-11 * d).all():
            break
        ridge = RIDGE if ridge == 0.0 else ridge * 10
    else:  # pragma: no cover - only with non-finite input, caught earlier
        L = np.asfortranarray(batched_cholesky(Pr))
    u = dtrtrs(L, r, lower=1)[0]
    u += np.sqrt(scale) * rng.standard_normal(r.shape[0])
    return dtrtrs(L, u, lower=1, trans=1)[0]


def _draw_psi(b: np.ndarray, rng) -> np.ndarray:
    """Psi | b ~ inverse-Wishart(N + q, sum_j b_j b_j' + D)."""
    N, q = b.shape
    S = b.T @ b
    S.flat[:: q + 1] += PSI_PRIOR_SCALE
    return draw_invwishart(N + q, S, rng)


def _inverse_psi(psi: np.ndarray) -> np.ndarray:
    """Psi^-1 for one q x q covariance: closed form for q <= 2 (the usual random
    designs), else (and for a nearly singular Psi) by :func:`batched_spd_inverse`."""
    q = psi.shape[0]
    if q == 1 and psi[0, 0] > 0:
        return 1.0 / psi
    if q == 2:
        a, b, c = float(psi[0, 0]), float(psi[1, 0]), float(psi[1, 1])
        det = a * c - b * b
        if a > 0 and det > 1e-12 * a * c:
            return np.array([[c, -b], [-b, a]]) / det
    return batched_spd_inverse(psi[None])[0]


def _stack_dot(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A_j v for a C-contiguous stack A (N, q, k) and a vector v (k,): one BLAS call
    (``A @ v`` on a stack loops over the matrices)."""
    N, q, k = A.shape
    return (A.reshape(N * q, k) @ v).reshape(N, q)


def _minus_and_one(beta: np.ndarray) -> np.ndarray:
    """[-beta, 1]: with [Z_j'X_j | Z_j'y_j] it gives Z_j'(y_j - X_j beta)."""
    out = np.empty(beta.shape[0] + 1)
    np.negative(beta, out=out[:-1])
    out[-1] = 1.0
    return out


# _sandwich multiplies by a Kronecker product when it has at most this many
# rows (a * b): one matrix product over the whole stack.
_KRON_MAX = 64


def _sandwich(A: np.ndarray, Y: np.ndarray, B: np.ndarray, columns=None) -> np.ndarray:
    """A Y_j B for every matrix Y_j of a C-contiguous stack (N, a, b); with ``columns``,
    only those columns of each product, (N, a, len(columns)).

    Small stacks go through one matrix product: row by row,
    ``vec(A Y_j B) = vec(Y_j) (A' kron B)``.
    """
    N, a, b = Y.shape
    cols = np.arange(B.shape[1]) if columns is None else np.asarray(columns)
    if a * b <= _KRON_MAX:
        # the Kronecker product's wanted columns: rows (i, k), columns (i', c), A[i', i] B[k, c]
        K = (A.T[:, None, :, None] * B[None, :, None, cols]).reshape(a * b, a * cols.size)
        return (Y.reshape(N, a * b) @ K).reshape(N, a, cols.size)
    YB = (Y.reshape(N * a, b) @ B[:, cols]).reshape(N, a, cols.size)
    return np.ascontiguousarray(np.tensordot(YB, A, axes=([1], [1])).transpose(0, 2, 1))


def _normal_step(pb: _Problem, psi, sigma2, rng, *, blocked=True, b=None):
    """One Gibbs step of the homoscedastic model; returns (beta, b, psi, sigma2)."""
    p, q, N = pb.fixed.size, pb.q, pb.N
    M = pb.ZtZ + sigma2 * _inverse_psi(psi)
    L = batched_cholesky(M)
    if blocked or b is None:
        # beta with b integrated out: precision (X'X - sum X'Z M^-1 Z'X) / sigma2.
        W = batched_solve_triangular(L, pb.ZtXy)
        Wf = W.reshape(N * q, p + 1)
        G = Wf.T @ Wf
        beta = _draw_fixed(pb.XtX - G[:p, :p], pb.Xty - G[:p, p], sigma2, rng)
        beta1 = _minus_and_one(beta)
        u = _stack_dot(W, beta1)
        u += np.sqrt(sigma2) * rng.standard_normal((N, q))
        b = batched_solve_triangular(L, u, trans=True)
        Zr = _stack_dot(pb.ZtXy, beta1)  # Z_j'(y_j - X_j beta)
    else:
        # plain Gibbs: beta | b, then b | beta (kept for comparisons of mixing)
        ZtX = pb.ZtXy[:, :, :p]
        rhs = pb.Xty - np.einsum("jqp,jq->p", ZtX, b)
        beta = _draw_fixed(pb.XtX, rhs, sigma2, rng)
        Zr = _stack_dot(pb.ZtXy, _minus_and_one(beta))
        b = draw_mvn_precision(M, Zr, rng, scale=sigma2)
    ssr = (
        pb.yty
        - 2 * beta @ pb.Xty
        + beta @ pb.XtX @ beta
        + np.vdot(b, np.einsum("jkl,jl->jk", pb.ZtZ, b) - 2 * Zr)
    )
    ssr = max(float(ssr), 0.0)
    sigma2 = float((ssr + SIGMA2_PRIOR_SCALE) / rng.chisquare(pb.n + SIGMA2_PRIOR_DF))
    psi = _draw_psi(b, rng)
    return beta, b, psi, sigma2


def _hetero_step(pb: _Problem, state: dict, rng) -> dict:
    """One Gibbs step of the heteroscedastic model (Kasim and Raudenbush 1998)."""
    p, q, N = pb.fixed.size, pb.q, pb.N
    psi, tau = state["psi"], state["tau"]
    s0, theta = state["sigma2_0"], state["theta"]
    M = tau[:, None, None] * pb.ZtZ + _inverse_psi(psi)
    L = batched_cholesky(M)
    W = batched_solve_triangular(L, tau[:, None, None] * pb.ZtXy)
    Wf = W.reshape(N * q, p + 1)
    G = Wf.T @ Wf
    XtWX = (tau @ pb.XtX_j.reshape(N, p * p)).reshape(p, p)
    XtWy = tau @ pb.Xty_j
    beta = _draw_fixed(XtWX - G[:p, :p], XtWy - G[:p, p], 1.0, rng)
    beta1 = _minus_and_one(beta)
    u = _stack_dot(W, beta1)
    u += rng.standard_normal((N, q))
    b = batched_solve_triangular(L, u, trans=True)

    # SS_j = |y_j - X_j beta|^2 - 2 b_j'Z_j'(y_j - X_j beta) + b_j'Z_j'Z_j b_j
    Zr = _stack_dot(pb.ZtXy, beta1)
    ss = _cluster_ssr(pb, beta) + np.einsum(
        "jk,jk->j", b, np.einsum("jkl,jl->jk", pb.ZtZ, b) - 2 * Zr
    )
    ss = np.maximum(ss, 0.0)
    lo, hi = PRECISION_BOUNDS
    tau = rng.gamma(pb.counts / 2 + 1 / (2 * theta), 2 * theta / (theta * ss + s0))
    tau = np.clip(tau, lo, hi)
    # (sigma_0^2, theta) given the precisions of the clusters with data: those of
    # clusters without any are prior draws, integrated out (collapsed Gibbs), so
    # they cannot feed back into the dispersion they were drawn from
    tau_d = tau[pb.counts > 0]
    N_d = tau_d.size
    H = 1.0 / tau_d.mean()
    s0 = float(rng.gamma(N_d / (2 * theta) + 1, 2 * theta * H / N_d))
    s0 = min(max(s0, 1 / hi), 1 / lo)
    log_g = -np.mean(np.log(tau_d))
    D = max(s0 / H - np.log(s0) + log_g - 1, 0.0)
    a0, b0 = THETA_PRIOR
    theta = 1.0 / rng.gamma(N_d / 2 - 1 + a0, 1.0 / (N_d * D / 2 + b0))
    theta = min(max(float(theta), THETA_BOUNDS[0]), THETA_BOUNDS[1])
    psi = _draw_psi(b, rng)
    return {"beta": beta, "b": b, "psi": psi, "tau": tau, "sigma2_0": s0, "theta": theta}


def _ols(pb: _Problem) -> np.ndarray:
    """Pooled least-squares coefficients (a tiny ridge keeps singular X'X solvable)."""
    XtX = pb.XtX + 1e-8 * np.diag(np.maximum(np.diag(pb.XtX), 1.0))
    return np.linalg.solve(XtX, pb.Xty)


def _cluster_residual_sums(pb: _Problem, beta: np.ndarray) -> np.ndarray:
    """Per cluster, the sum of ``y - X beta`` (column 0 of Z is the intercept)."""
    p = pb.fixed.size
    return pb.ZtXy[:, 0, p] - pb.ZtXy[:, 0, :p] @ beta


def _cluster_ssr(pb: _Problem, beta: np.ndarray) -> np.ndarray:
    """Per cluster, ``|y_j - X_j beta|^2`` (heteroscedastic statistics)."""
    p = pb.fixed.size
    return (
        pb.yty_j
        - 2 * (pb.Xty_j @ beta)
        + pb.XtX_j.reshape(pb.N, p * p) @ np.outer(beta, beta).ravel()
    )


def _initial_values(pb: _Problem, beta: np.ndarray | None = None):
    """Starting sigma^2 and Psi (standardised units) from an ANOVA of OLS residuals
    (``beta``: the OLS coefficients, when the caller has them)."""
    p = pb.fixed.size
    if beta is None:
        beta = _ols(pb)
    ssr = max(pb.yty - beta @ pb.Xty, 0.0)
    total = max(ssr / max(pb.n - p, 1), 1e-6)
    rsum = _cluster_residual_sums(pb, beta)
    has = pb.counts > 0
    between = float(np.sum(rsum[has] ** 2 / pb.counts[has]))
    n_obs_groups = int(has.sum())
    within = max(ssr - between, 0.0)
    sigma2 = within / (pb.n - n_obs_groups) if pb.n > n_obs_groups else total / 2
    sigma2 = float(np.clip(sigma2, 1e-3 * total, total))
    denom = pb.n - np.sum(pb.counts**2) / pb.n
    psi0 = (between - (n_obs_groups - 1) * sigma2) / denom if denom > 0 else 0.0
    psi0 = float(np.clip(psi0, 0.05 * total, 10 * total))
    psi = np.diag(np.r_[psi0, np.full(pb.q - 1, 0.1 * psi0)])
    return sigma2, psi


def _initial_dispersion(pb: _Problem, sigma2: float, beta: np.ndarray) -> tuple[float, float]:
    """Starting ``(sigma_0^2, theta)`` of the heteroscedastic model, by moments.

    Per cluster with two or more observed rows, ``r_j`` = the residual sum of
    squares about the cluster mean (OLS residuals) over ``n_j - 1``. Given
    ``sigma_j^2``, ``r_j`` has mean ``sigma_j^2`` and variance about ``2 r_j^2 /
    (n_j + 1)``; what the spread of the ``r_j`` exceeds that by estimates the
    variance of the ``sigma_j^2``, whose squared coefficient of variation is
    about ``2 theta`` (``theta`` is kept in ``[0.01, 0.5]``).
    ``sigma_0^2 = 1 / E[1 / sigma_j^2]`` is started at the mean of the
    ``r_j`` over ``1 + 2 theta`` (the harmonic mean is below the mean). With
    fewer than 10 such clusters, or no residual variance: ``(sigma2, 0.1)``.
    ``beta``: the OLS coefficients.
    """
    n_j = pb.counts
    use = n_j >= 2
    if use.sum() < 10:
        return sigma2, 0.1
    ss = _cluster_ssr(pb, beta)
    rsum = _cluster_residual_sums(pb, beta)
    within = np.maximum(ss[use] - rsum[use] ** 2 / n_j[use], 0.0)
    r = within / (n_j[use] - 1)
    mean = float(r.mean())
    if not mean > 0:
        return sigma2, 0.1
    excess = float(np.mean((r - mean) ** 2) - np.mean(2 * r**2 / (n_j[use] + 1)))
    theta = min(max(excess / (2 * mean**2), 0.01), THETA_BOUNDS[1])
    return mean / (1 + 2 * theta), theta


# ---------------------------------------------------------------------------
# conversions between standardised and original units
# ---------------------------------------------------------------------------


def _to_internal_psi(pb: _Problem, psi):
    Tz_inv = np.linalg.inv(_z_transform(pb))
    return Tz_inv @ psi @ Tz_inv.T / pb.y_scale**2


def _to_original(pb: _Problem, beta, b, psi):
    """Fixed coefficients on U's columns, random effects and Psi in original units."""
    full = np.zeros(pb.r)
    full[pb.fixed] = beta
    coef = pb.y_scale * (pb.T @ full)
    coef[0] += pb.y_centre
    Tz = _z_transform(pb)
    b_o = pb.y_scale * (b @ Tz.T)
    psi_o = pb.y_scale**2 * (Tz @ psi @ Tz.T)
    return coef, b_o, (psi_o + psi_o.T) / 2


def _check_finite(method: str, *arrays) -> None:
    for a in arrays:
        if not all_finite(np.asarray(a, dtype=np.float64)):
            raise FloatingPointError(
                f"{method}: the sampler produced non-finite values; check the design for "
                "extreme or collinear columns."
            )


# The parameters every Gibbs-sampling method shares.
SAMPLER_CONSTRAINTS = {
    "n_steps": [Interval(Integral, 1, None, closed="left")],
    "n_burnin": [Interval(Integral, 0, None, closed="left")],
    "warm_start": ["boolean"],
}


# ---------------------------------------------------------------------------
# the estimators
# ---------------------------------------------------------------------------


class _TwoLevelBase(ConditionalMethod):
    """Shared parts of the two-level samplers: validation, prediction, new clusters."""

    needs_groups = True
    _name = "2l"

    _parameter_constraints = dict(SAMPLER_CONSTRAINTS)

    def _store_scaling(self, pb: _Problem):
        self.n_groups_ = pb.N
        self.n_features_x_ = pb.n_x
        self.n_features_z_ = pb.q
        zc = pb.centre[pb.zmap].copy()
        zs = pb.scale[pb.zmap].copy()
        zc[0], zs[0] = 0.0, 1.0
        self._scaling_ = {
            "y_centre": pb.y_centre,
            "y_scale": pb.y_scale,
            "z_centre": zc,
            "z_scale": zs,
            "Tz": _z_transform(pb),
        }

    def _internal_state(self, pb: _Problem):
        """The sampler's state of the last fit, in its internal (standardised) units,
        when this problem standardises the target and the random part as that fit
        did (the chained equations refit on the same observed rows); else None."""
        sc, state = getattr(self, "_scaling_", None), getattr(self, "_internal_", None)
        if sc is None or state is None or sc["y_scale"] != pb.y_scale:
            return None
        Tz = _z_transform(pb)
        return state if sc["Tz"].shape == Tz.shape and np.array_equal(sc["Tz"], Tz) else None

    def _store_coefficients(self, pb: _Problem, coef, b_o, psi_o):
        """Split the fixed coefficients on U into ``beta_`` (X) and ``mu_`` (Z)."""
        q = pb.q
        beta = np.zeros(pb.n_x)
        mu = np.zeros(q)
        if pb.mode == "ignore":
            mu[:] = coef
        else:
            beta[:] = coef[: pb.n_x]
            if pb.mode == "honour":
                mu[pb.extra] = coef[pb.n_x :]
        self.beta_ = beta
        self.mu_ = mu
        self.b_ = b_o
        self.psi_ = psi_o

    def _predict_mean(self, design, rng, observed):
        """x'beta + z'(mu + b_j) for the rows of ``design``, and the row variances' codes.

        Returns the linear predictor and, for every row, the residual variance
        (original units).
        """
        X, Z, groups = design.X, design.Z, design.groups
        N = self.n_groups_
        eta = X @ self.beta_
        coef, units = self.b_ + self.mu_, groups  # coefficients per unit, each row's unit
        if groups.size == 0 or groups.max() < N:  # all clusters seen in fit
            var = self._row_variance(groups)
        else:  # new clusters: their effects drawn, appended to the table
            known = groups < N
            codes, inverse = np.unique(groups[~known], return_inverse=True)
            b_new, var_new = self._new_clusters(codes, observed, rng)
            coef = np.vstack([coef, b_new + self.mu_])
            units = groups.copy()
            units[~known] = N + inverse
            var = np.empty(X.shape[0])
            var[known] = self._row_variance(groups[known])
            var[~known] = var_new[inverse]
        coef = np.ascontiguousarray(coef.T)
        for k in range(Z.shape[1]):  # the (few) random columns: one gather each
            eta += Z[:, k] * coef[k].take(units)
        return eta, var

    def _new_cluster_stats(self, codes, observed):
        """Per-new-cluster Z'Z, Z'r, r'r and counts (standardised units) from ``observed``."""
        K, q = codes.size, self.n_features_z_
        sc = self._scaling_
        ZtZ = np.zeros((K, q, q))
        Ztr = np.zeros((K, q))
        rtr = np.zeros(K)
        counts = np.zeros(K)
        if observed is None:
            return ZtZ, Ztr, rtr, counts
        o_design, o_y = observed
        Xo, Zo, go = o_design.X, o_design.Z, o_design.groups
        pos = np.searchsorted(codes, go)
        pos = np.minimum(pos, K - 1)
        keep = (codes[pos] == go) & np.isfinite(o_y)
        if not np.any(keep):
            return ZtZ, Ztr, rtr, counts
        pos = pos[keep]
        Zk = (Zo[keep] - sc["z_centre"]) / sc["z_scale"]
        eta = Xo[keep] @ self.beta_ + Zo[keep] @ self.mu_
        resid = (o_y[keep] - eta) / sc["y_scale"]
        ZtZ = cluster_crossprods(pos, K, Zk)
        Ztr = cluster_crossprods(pos, K, Zk, resid)
        rtr = np.bincount(pos, weights=resid**2, minlength=K)
        counts = np.bincount(pos, minlength=K).astype(float)
        return ZtZ, Ztr, rtr, counts

    def _draw_normal(self, design, rng, observed):
        """``x'beta + z'b_j + e`` with ``e`` normal with the rows' residual variances."""
        eta, var = self._predict_mean(design, rng, observed)
        out = rng.standard_normal(eta.shape[0])
        out *= np.sqrt(var)
        out += eta
        _check_finite(self._name, out)
        return out

    def _b_to_original(self, b_c):
        sc = self._scaling_
        return sc["y_scale"] * (b_c @ sc["Tz"].T)


# --------------------------------------------------------------------- 2l.pan


class TwoLevelNormal(_TwoLevelBase):
    """Two-level normal imputation with one residual variance (2l.pan, 2l.lmer).

    The linear mixed model ``y_ij = x_ij' beta + z_ij' b_j + e_ij`` with
    ``b_j ~ N(0, Psi)`` and ``e_ij ~ N(0, sigma^2)``, fitted by a Gibbs
    sampler over ``(beta, b_j, Psi, sigma^2)`` on the observed rows. The
    missing values are drawn as ``x'beta + z'b_j + e`` from the current draws,
    so the imputations are proper. The sampler state is kept between calls to
    :meth:`fit` (warm start): R's ``2l.pan`` runs a fresh chain of 500 steps at
    every visit; here the chained-equations iterations continue one chain.

    Parameters
    ----------
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=10
        Extra steps at the first call (and whenever the sampler is
        reinitialised). The chained-equations iterations continue the chain
        (one step per visit), so the burn-in only has to carry the variance
        components from their starting values (an analysis of variance of
        least-squares residuals, close to the posterior) into the posterior.
        A step costs ``O(N q^2 p)`` after the data have been reduced to
        sufficient statistics, so the burn-in is cheap.
    warm_start : bool, default=True
        Continue the chain of the previous call (the variance components
        ``Psi`` and ``sigma^2``; ``beta`` and ``b_j`` are drawn first in every
        step). With False every call starts a fresh chain and runs
        ``n_burnin + n_steps`` steps, as R does with 500.

    Attributes
    ----------
    beta_ : ndarray of shape (p,)
        Current draw of the fixed effects (coefficients of ``design.X``).
    b_ : ndarray of shape (n_groups, q)
        Current draw of the random effects of every cluster (clusters without
        observed rows are drawn from ``N(0, Psi)``).
    psi_ : ndarray of shape (q, q)
        Current draw of the random-effects covariance.
    sigma2_ : float
        Current draw of the residual variance.
    mu_ : ndarray of shape (q,)
        Zero (kept for a uniform prediction ``x'beta + z'(mu + b_j)``).
    n_groups_ : int
        Number of cluster codes seen by the last :meth:`fit`.
    n_iter_ : int
        Total number of Gibbs steps run by this chain.

    See Also
    --------
    TwoLevelHeteroscedastic : one residual variance per cluster (2l.norm).
    TwoLevelPMM : predictive mean matching on this model (2l.pmm).

    Notes
    -----
    *Priors*, in standardised units (``y`` and the columns of ``Z`` other
    than the intercept scaled to unit variance), as pan's prior used by R's
    ``2l.pan``: ``sigma^2 ~`` scaled-inverse-chi-square with ``a = 1`` degree
    of freedom and scale ``B = 1`` (worth one observation of variance
    ``var(y)``), ``Psi ~`` inverse-Wishart with ``c = q`` degrees of freedom and
    scale ``D = 0.1 I_q``, ``beta`` flat. R applies pan's ``D = I_q`` on the
    original scale, which makes the prior informative or negligible
    depending on the units of ``y``; standardising makes the imputations
    equivariant to location and scale (``y`` on the scale 1e-8 or 1e8 works
    alike), and ``0.1 I_q`` keeps the prior from inflating small slope
    variances (with ``I_q`` a random slope of a 0/1 predictor came out 15%
    too large on the reference data).

    *Steps*: (1) ``beta`` from its conditional posterior with the random
    effects integrated out, ``N(P^-1 r, sigma^2 P^-1)`` with
    ``P = X'X - sum_j X_j'Z_j M_j^-1 Z_j'X_j``, ``M_j = Z_j'Z_j + sigma^2 Psi^-1``,
    then ``b_j ~ N(M_j^-1 Z_j'(y_j - X_j beta), sigma^2 M_j^-1)`` (a joint draw
    of ``(beta, b)``, which mixes well also when fixed effects are cluster-level
    variables or cluster means); (2) ``sigma^2`` given the residual sum of
    squares; (3) ``Psi ~ IW(N + q, sum_j b_j b_j' + 0.1 I_q)``. All clusters count
    in ``N``, including those without observed rows.

    *Burn-in*: the chain starts from an analysis of variance of
    least-squares residuals, close to the posterior, and ``n_burnin = 10``
    plus one step per chained-equations iteration is several autocorrelation
    times (measured in the user guide, "Mixing of the two-level samplers"). A
    step costs ``O(N q^2 p)`` once a call has reduced its rows to sufficient
    statistics, so more ``n_steps`` per call are cheap.

    *New clusters* in :meth:`sample` (codes at or beyond ``n_groups_``) get
    ``b_j`` from its conditional posterior given that cluster's rows in
    ``observed``, the prior ``N(0, Psi)`` when it has none.

    ``2l.lmer`` maps here too: R's version fits ``lmer`` once per visit and
    fails when a cluster has a single observed row; this sampler does not.

    References
    ----------
    Schafer, J. L. and Yucel, R. M. (2002). Computational strategies for
    multivariate linear mixed-effects models with missing values. Journal of
    Computational and Graphical Statistics, 11(2), 437-457.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelNormal
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 10)
    >>> x = rng.standard_normal(300)
    >>> y = 1 + 2 * x + rng.standard_normal(30)[g] + 0.5 * rng.standard_normal(300)
    >>> X = np.column_stack([np.ones(300), x])
    >>> design = Design(X=X, Z=X[:, :1], groups=g, n_groups=30)
    >>> method = TwoLevelNormal().fit(design, y, rng)
    >>> method.beta_.round(0)
    array([1., 2.])
    >>> method.sample(design.take(slice(0, 3)), rng).shape
    (3,)
    """

    supported_kinds = ("continuous",)
    _name = "2l.pan"

    def __init__(self, n_steps=1, n_burnin=10, warm_start=True):
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start

    def _fit(self, design, y, rng):
        """Run Gibbs steps on the observed rows of the target."""
        pb = _prepare(design, y, self._name, "normal", self.__dict__.setdefault("_cache", {}))
        steps = self.n_steps
        warm = (
            self.warm_start
            and getattr(self, "psi_", None) is not None
            and self.psi_.shape == (pb.q, pb.q)
        )
        if warm:
            kept = self._internal_state(pb)
            if kept is not None:  # carried over in internal units, no conversion
                psi, sigma2 = kept["psi"], kept["sigma2"]
            else:
                psi = _to_internal_psi(pb, self.psi_)
                psi = (psi + psi.T) / 2
                sigma2 = self.sigma2_ / pb.y_scale**2
            warm = np.all(np.isfinite(psi)) and np.isfinite(sigma2) and sigma2 > 0
        if not warm:
            sigma2, psi = _initial_values(pb)
            steps += self.n_burnin
            self.n_iter_ = 0
        for _ in range(steps):
            beta, b, psi, sigma2 = _normal_step(pb, psi, sigma2, rng)
        _check_finite(self._name, beta, b, psi, sigma2)
        coef, b_o, psi_o = _to_original(pb, beta, b, psi)
        _check_finite(self._name, coef, b_o, psi_o)
        self._store_scaling(pb)
        self._store_coefficients(pb, coef, b_o, psi_o)
        self.sigma2_ = float(sigma2 * pb.y_scale**2)
        self._internal_ = {"psi": psi, "sigma2": sigma2}
        self.n_iter_ = getattr(self, "n_iter_", 0) + steps
        return self

    def _row_variance(self, groups):
        return np.full(groups.shape[0], self.sigma2_)

    def _new_clusters(self, codes, observed, rng):
        """Random effects of clusters unseen in fit, from their conditional posterior."""
        ZtZ, Ztr, _, _ = self._new_cluster_stats(codes, observed)
        s2 = self._internal_["sigma2"]
        psi_inv = batched_spd_inverse(self._internal_["psi"][None])[0]
        b_c = draw_mvn_precision(ZtZ + s2 * psi_inv, Ztr, rng, scale=s2)
        return self._b_to_original(b_c), np.full(codes.size, self.sigma2_)

    def _sample(self, design, rng, observed):
        """Draw imputations ``x'beta + z'b_j + e`` for the rows of ``design``."""
        return self._draw_normal(design, rng, observed)


register_method("2l.pan", TwoLevelNormal)
register_method("2l.lmer", TwoLevelNormal)


# -------------------------------------------------------------------- 2l.norm


@register_method("2l.norm")
class TwoLevelHeteroscedastic(_TwoLevelBase):
    """Two-level normal imputation with a residual variance per cluster (2l.norm).

    The model of Kasim and Raudenbush (1998): ``y_ij = x_ij' beta + z_ij' c_j
    + e_ij`` with ``c_j ~ N(mu, Psi)`` and ``e_ij ~ N(0, sigma_j^2)``, where the
    residual precisions ``1 / sigma_j^2`` follow a gamma distribution with
    mean ``1 / sigma_0^2`` and dispersion ``theta`` (``theta -> 0`` is the
    homoscedastic model). Fitted by a Gibbs sampler whose state is kept
    between calls to :meth:`fit`.

    Parameters
    ----------
    fixed_effects : {"honour", "ignore"}, default="honour"
        ``"honour"``: the columns of ``X`` that are not in ``Z`` get common
        fixed effects ``beta``, drawn by generalised least squares with the
        weights ``1 / sigma_j^2`` (and jointly with ``mu``). ``"ignore"``: R's
        model, which uses only ``Z`` (its code-2 columns and the intercept), all
        coefficients random, and silently drops fixed-only predictors.
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm. R runs a
        fresh chain of 100 steps at every visit.
    n_burnin : int, default=25
        Extra steps at the first call (and at reinitialisation).
    warm_start : bool, default=True
        Continue the chain of the previous call (``Psi``, the ``sigma_j^2``,
        ``sigma_0^2`` and ``theta``). The chain is reinitialised when the
        number of clusters or of random columns changes.

    Attributes
    ----------
    beta_ : ndarray of shape (p,)
        Fixed effects of the columns of ``design.X`` (zeros with
        ``fixed_effects="ignore"``).
    mu_ : ndarray of shape (q,)
        Means of the random coefficients not carried by a column of ``X``
        (all of ``mu`` with ``fixed_effects="ignore"``).
    b_ : ndarray of shape (n_groups, q)
        Random deviations ``c_j - mu`` of every cluster.
    psi_ : ndarray of shape (q, q)
        Covariance of the random coefficients.
    sigma2_ : ndarray of shape (n_groups,)
        Residual variance of every cluster (clusters without observed rows
        are drawn from the prior given ``sigma2_0_`` and ``theta_``).
    sigma2_0_ : float
        Typical residual variance (the inverse of the mean precision).
    theta_ : float
        Dispersion of the residual precisions.
    n_groups_ : int
        Number of cluster codes seen by the last :meth:`fit`.
    n_iter_ : int
        Total number of Gibbs steps run by this chain.

    See Also
    --------
    TwoLevelNormal : one residual variance (2l.pan).

    Notes
    -----
    Steps (standardised units, as in :class:`TwoLevelNormal`): (1) ``beta``
    (with ``mu``) from its conditional posterior with the random effects
    integrated out, then ``b_j = c_j - mu`` given ``beta``; (2)
    ``1/sigma_j^2 ~ Gamma(n_j/2 + 1/(2 theta), scale 2 theta / (theta SS_j +
    sigma_0^2))``; (3) ``sigma_0^2 ~ Gamma(N/(2 theta) + 1, scale 2 theta H / N)``,
    ``H`` the harmonic mean of the ``sigma_j^2``; (4) ``theta`` from R's
    (approximate) inverse-gamma conditional with shape ``N/2 - 1`` times a
    weak ``IG(1, 0.05)`` prior, so that it exists for ``N <= 2`` clusters;
    (5) ``Psi ~ IW(N + q, sum_j b_j b_j' + 0.1 I_q)``. Steps (3) and (4) use
    the ``N`` clusters with observed rows: the precisions of the others are
    draws from their prior, integrated out of these steps (a collapsed Gibbs
    step with the same posterior), so they cannot feed back into the
    dispersion they are drawn from.

    Mixing: ``beta`` is drawn jointly with the random effects as in
    :class:`TwoLevelNormal`; ``sigma_0^2`` and ``theta`` are the slowest
    (autocorrelation times of 3 to 6 with clusters of 10 to 20 rows, about 30
    with clusters of 2 rows), hence ``n_burnin = 25`` before the
    chained-equations iterations continue the chain (R runs 100 steps at
    every visit). The chain starts from moment estimates: ``sigma^2`` and
    ``Psi`` from an ANOVA of OLS residuals, ``theta`` from the spread of the
    per-cluster residual variances beyond their sampling noise (at least
    0.01) and ``sigma_0^2`` from their mean.

    Deviations from R, all to make the sampler robust: R's ``Psi^-1 ~
    Wishart(N - q - 1, S^-1)`` (an improper prior, failing for ``N <= q + 1``
    and breaking Cholesky factorisations) is replaced by the proper prior of
    :class:`TwoLevelNormal`; ``theta`` gets the prior above and is kept in
    ``[1e-8, 0.5]`` (the coefficient of variation of the precisions,
    ``sqrt(2 theta)``, at most 1: with ``theta`` up to 5, clusters without
    observed rows drew residual variances up to 1e10 times the others' when
    only a handful of rows were observed), the precisions in ``[1e-10,
    1e10]`` (standardised units);
    all clusters count, also the last one when it has no observed rows (R
    mis-sizes its arrays then). Clusters of size 1, without observed rows,
    with a constant target, and ``N <= 2q`` all work. New clusters in
    :meth:`sample` get ``(b_j, sigma_j^2)`` from a few Gibbs sweeps on their
    rows in ``observed`` (the prior when there are none).

    References
    ----------
    Kasim, R. M. and Raudenbush, S. W. (1998). Application of Gibbs sampling
    to nested variance components models with heterogeneous within-group
    variance. Journal of Educational and Behavioral Statistics, 23(2), 93-116.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelHeteroscedastic
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 10)
    >>> x = rng.standard_normal(300)
    >>> sd = np.exp(rng.normal(0, 0.5, 30))[g]
    >>> y = 1 + 2 * x + rng.standard_normal(30)[g] + sd * rng.standard_normal(300)
    >>> X = np.column_stack([np.ones(300), x])
    >>> design = Design(X=X, Z=X[:, :1], groups=g, n_groups=30)
    >>> method = TwoLevelHeteroscedastic().fit(design, y, rng)
    >>> method.sigma2_.shape
    (30,)
    >>> method.sample(design.take(slice(0, 3)), rng).shape
    (3,)
    """

    supported_kinds = ("continuous",)
    _name = "2l.norm"

    _parameter_constraints = {
        **_TwoLevelBase._parameter_constraints,
        "fixed_effects": [StrOptions({"honour", "ignore"})],
    }

    def __init__(self, fixed_effects="honour", n_steps=1, n_burnin=25, warm_start=True):
        self.fixed_effects = fixed_effects
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start

    def _fit(self, design, y, rng):
        """Run Gibbs steps on the observed rows of the target."""
        pb = _prepare(
            design, y, self._name, self.fixed_effects, self.__dict__.setdefault("_cache", {})
        )
        steps = self.n_steps
        state = None
        prev = getattr(self, "sigma2_", None)
        if (
            self.warm_start
            and prev is not None
            and prev.shape == (pb.N,)
            and self.psi_.shape == (pb.q, pb.q)
            and getattr(self, "_mode_", None) == self.fixed_effects
        ):
            kept = self._internal_state(pb)
            if kept is not None:  # carried over in internal units, no conversion
                state = {k: kept[k] for k in ("psi", "tau", "sigma2_0", "theta")}
            else:
                s2y = pb.y_scale**2
                psi = _to_internal_psi(pb, self.psi_)
                state = {
                    "psi": (psi + psi.T) / 2,
                    "tau": s2y / prev,
                    "sigma2_0": self.sigma2_0_ / s2y,
                    "theta": self.theta_,
                }
            if not all(np.all(np.isfinite(v)) for v in state.values()):
                state = None
        if state is None:
            beta0 = _ols(pb)
            sigma2, psi = _initial_values(pb, beta0)
            sigma2_0, theta = _initial_dispersion(pb, sigma2, beta0)
            state = {
                "psi": psi,
                "tau": np.full(pb.N, 1.0 / sigma2_0),
                "sigma2_0": sigma2_0,
                "theta": theta,
            }
            steps += self.n_burnin
            self.n_iter_ = 0
        for _ in range(steps):
            state = _hetero_step(pb, state, rng)
        _check_finite(self._name, *state.values())
        coef, b_o, psi_o = _to_original(pb, state["beta"], state["b"], state["psi"])
        _check_finite(self._name, coef, b_o, psi_o)
        self._store_scaling(pb)
        self._store_coefficients(pb, coef, b_o, psi_o)
        s2y = pb.y_scale**2
        self.sigma2_ = s2y / state["tau"]
        self.sigma2_0_ = float(state["sigma2_0"] * s2y)
        self.theta_ = float(state["theta"])
        self._mode_ = self.fixed_effects
        self._internal_ = state
        self.n_iter_ = getattr(self, "n_iter_", 0) + steps
        return self

    def _row_variance(self, groups):
        return self.sigma2_[groups]

    def _new_clusters(self, codes, observed, rng):
        """(b_j, sigma_j^2) of clusters unseen in fit: Gibbs sweeps on their rows."""
        ZtZ, Ztr, rtr, counts = self._new_cluster_stats(codes, observed)
        st = self._internal_
        psi_inv = batched_spd_inverse(st["psi"][None])[0]
        s0, theta = st["sigma2_0"], st["theta"]
        lo, hi = PRECISION_BOUNDS
        K = codes.size
        tau = np.clip(rng.gamma(1 / (2 * theta), 2 * theta / s0, size=K), lo, hi)
        for _ in range(NEW_CLUSTER_SWEEPS):
            b = draw_mvn_precision(tau[:, None, None] * ZtZ + psi_inv, tau[:, None] * Ztr, rng)
            ss = rtr - 2 * np.sum(b * Ztr, axis=1) + np.einsum("jk,jkl,jl->j", b, ZtZ, b)
            ss = np.maximum(ss, 0.0)
            tau = rng.gamma(counts / 2 + 1 / (2 * theta), 2 * theta / (theta * ss + s0))
            tau = np.clip(tau, lo, hi)
        var = self._scaling_["y_scale"] ** 2 / tau
        return self._b_to_original(b), var

    def _sample(self, design, rng, observed):
        """Draw imputations ``x'beta + z'c_j + e`` with ``e ~ N(0, sigma_j^2)``."""
        return self._draw_normal(design, rng, observed)


# --------------------------------------------------------------------- 2l.pmm


@register_method("2l.pmm")
class TwoLevelPMM(TwoLevelNormal):
    """Two-level predictive mean matching (2l.pmm).

    Runs the Gibbs sampler of :class:`TwoLevelNormal` and matches on the
    predicted means ``x'beta* + z'b_j*`` computed with the current draws, for
    the observed rows and for the rows to impute alike (miceadds'
    ``match_sampled_pars = TRUE``, its default). Every row to impute copies the
    observed value of one of its ``donors`` nearest observed rows of *other*
    clusters, chosen at random; rows of one cluster with the same predicted
    mean get distinct donors. Own-cluster donors are used only where no other
    cluster has one within ``tolerance`` residual standard deviations of the
    nearest. Imputations are therefore observed values, bit for bit: integers
    stay integers and codes of binary or categorical targets stay valid codes.

    Parameters
    ----------
    donors : int, default=5
        Number of candidate donors.
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=10
        Extra steps at the first call.
    warm_start : bool, default=True
        Continue the chain of the previous call.
    tolerance : float, default=0.25
        In residual standard deviations: how much farther than the nearest
        donors of any cluster the donors of other clusters may be before a row
        takes donors of its own cluster too.

    Attributes
    ----------
    beta_, b_, psi_, sigma2_, n_groups_, n_iter_
        As in :class:`TwoLevelNormal`.
    donor_means_ : ndarray of shape (n_obs,)
        Predicted means of the observed rows, sorted (ties in random order).
    donor_values_ : ndarray of shape (n_obs,)
        The observed values in the same order.
    donor_groups_ : ndarray of shape (n_obs,)
        Their cluster codes.

    See Also
    --------
    TwoLevelNormal : the sampler behind the predicted means.

    Notes
    -----
    Donors of the row's own cluster share its predicted mean exactly when
    they share its pattern of predictors (a random slope on a binary
    variable, cluster-level covariates), and copying them repeats the
    cluster's own residuals in its imputations: the random-effect variances
    of the completed data grow and the residual variance shrinks (miceadds'
    ``2l.pmm``, which matches that way, inflates the random slope variance of
    the popularity data by about a fifth). Donors of other clusters carry
    residuals independent of the cluster's own, which keeps the variance
    components at those of ``2l.pan`` (``docs/guide/methods.rst``).

    miceadds draws ``beta`` and the random effects but keeps the variance
    components at their estimates; here they are drawn too, so the
    imputation is fully proper. miceadds' known slips (the transposed Cholesky
    factor in the draw of ``beta``, random effects attached to the wrong
    clusters when the rows are not sorted by cluster) do not arise: clusters
    are addressed by their codes. New clusters in :meth:`sample` get random
    effects from their conditional posterior given their rows in ``observed``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelPMM
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 10)
    >>> x = rng.standard_normal(300)
    >>> y = np.round(1 + 2 * x + rng.standard_normal(30)[g] + rng.standard_normal(300))
    >>> X = np.column_stack([np.ones(300), x])
    >>> design = Design(X=X, Z=X[:, :1], groups=g, n_groups=30)
    >>> method = TwoLevelPMM(donors=5).fit(design, y, rng)
    >>> imputed = method.sample(design.take(slice(0, 4)), rng)
    >>> bool(np.all(np.isin(imputed, y)))
    True
    """

    supported_kinds = ("continuous", "binary", "categorical")
    _name = "2l.pmm"

    _parameter_constraints = {
        **_TwoLevelBase._parameter_constraints,
        "donors": [Interval(Integral, 1, None, closed="left")],
        "tolerance": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, donors=5, n_steps=1, n_burnin=10, warm_start=True, tolerance=0.25):
        self.donors = donors
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start
        self.tolerance = tolerance

    def _fit(self, design, y, rng):
        """Run Gibbs steps and store the predicted means of the observed rows."""
        super()._fit(design, y, rng)
        means, _ = self._predict_mean(design, rng, None)
        _check_finite(self._name, means)
        order = np.lexsort((rng.random(means.shape[0]), means))
        self.donor_means_ = means[order]
        self.donor_values_ = y[order]
        self.donor_groups_ = design.groups[order]

    def _sample(self, design, rng, observed):
        """Impute the observed value of a donor with a close predicted mean."""
        means, var = self._predict_mean(design, rng, observed)
        _check_finite(self._name, means)
        if means.shape[0] == 0:
            return np.empty(0)
        idx = match_clustered_donors(
            self.donor_means_, self.donor_groups_, means, design.groups,
            self.donors, self.tolerance * np.sqrt(var), rng,
        )
        return self.donor_values_[idx]
