"""The profiled (RE)ML deviance with several grouping factors, by blocks.

The random effects of the first factor (the one with the most levels) come
first; ``Lambda = diag(I ⊗ T_1, Lambda_r)`` and the Cholesky factor of
``A = Lambda' Z' Z Lambda + I`` (Bates et al., 2015) is taken by blocks::

    L = [[L_1, 0], [L_21, L_2]]
    L_1 L_1' = I ⊗ T_1' Z_1j'Z_1j T_1 + I        (block diagonal: batched q_1 x q_1)
    L_21     = Lambda_r' Z_r'Z_1 (I ⊗ T_1) L_1^{-T}
    L_2 L_2' = Lambda_r' Z_r'Z_r Lambda_r + I - L_21 L_21'   (Schur complement)

``A`` is block diagonal by connected component of the levels
(:mod:`skmice.mixed._multi_stats`), so ``L_21`` and the Schur complement are
dense per component and factorised for all components at once: one
``q_k``-sized block per school when classes are nested in schools, one
dense block for crossed factors. The rest of lme4's blocked solve
(``R_ZX``, ``c_u``, ``R_X``, ``beta``, the penalised residual sum of
squares, the deviance) is that of :mod:`skmice.mixed._deviance` with ``L``
in place of the per-cluster blocks.

The gradient with respect to theta is exact: the derivative of the
deviance with respect to ``G_k = T_k T_k'`` is the sum over the levels of
factor ``k`` of the diagonal blocks of ``Z'H^{-1}Z - (nu / r^2)
Z'H^{-1}e e'H^{-1}Z`` (minus, for REML, ``Z'H^{-1}X (X'H^{-1}X)^{-1}
X'H^{-1}Z``), with ``Z'H^{-1}Z = Z'Z - W'W`` and ``W = L^{-1} Lambda'
Z'Z``; ``d deviance / dT_k = 2 M_k T_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._grouped import batched_cholesky, batched_solve_triangular
from ._criterion import fixed_effects, profiled_criterion
from ._multi_stats import MultiStatistics

__all__ = ["MultiParts", "multi_gradient", "multi_parts", "multi_solution"]


def _segments(stats: MultiStatistics):
    """(start, s_k, q_k) of each of the rest's factors within a component."""
    out, start = [], 0
    for s, q in stats.rest:
        out.append((start, s, q))
        start += s * q
    return out


def _factor_blocks(T: np.ndarray, stats: MultiStatistics) -> list:
    """The diagonal blocks ``T_k`` of the block-diagonal factor ``T``."""
    out, start = [], 0
    for _, q in stats.dims:
        out.append(T[start:start + q, start:start + q])
        start += q
    return out


def _lam_t(Ts: list, stats: MultiStatistics, M: np.ndarray) -> np.ndarray:
    """``Lambda_r' M`` per component, for ``M`` of shape (C, m) or (C, m, c)."""
    out = np.empty_like(M)
    C = M.shape[0]
    for T, (start, s, q) in zip(Ts, _segments(stats)):
        seg = M[:, start:start + s * q]
        out[:, start:start + s * q] = np.matmul(
            T.T, seg.reshape(C, s, q, -1)).reshape(seg.shape)
    return out


def _lam_both(Ts: list, stats: MultiStatistics, M: np.ndarray) -> np.ndarray:
    """``Lambda_r' M Lambda_r`` per component, for ``M`` of shape (C, m, m)."""
    return _lam_t(Ts, stats, _lam_t(Ts, stats, M).transpose(0, 2, 1)).transpose(0, 2, 1)


def _solve(L: np.ndarray, B: np.ndarray, trans: bool = False) -> np.ndarray:
    """``L^{-1} B`` (or ``L'^{-1} B``) for each component's lower-triangular ``L``."""
    if L.shape[0] == 1:  # one component (crossed factors): one LAPACK call
        out = scipy.linalg.solve_triangular(L[0], B[0], lower=True, trans=1 if trans else 0,
                                            check_finite=False)
        return out[None]
    return batched_solve_triangular(L, B, trans=trans)


@dataclass
class MultiParts:
    """The blocked factorisation at one theta, for one response.

    Attributes
    ----------
    deviance, beta, sigma2, pwrss : as :class:`~skmice.mixed._deviance.DevianceParts`
    RX : ndarray, shape (p, p)
    Ts : list of ndarray
        The factors ``T_k``, the first factor's first.
    L1 : ndarray, shape (C * J, q_1, q_1)
    G : ndarray, shape (C, J * q_1, m)
        ``L_1^{-1} T_1' Z_1'Z_r`` per component.
    L21 : ndarray, shape (C, m, J * q_1)
    L2 : ndarray, shape (C, m, m)
    R1X, cu1 : ndarray, shapes (C * J, q_1, p), (C * J, q_1)
    R2X, cu2 : ndarray, shapes (C, m, p), (C, m)
    TtS : ndarray, shape (C * J, q_1, q_1)
    """

    deviance: float
    beta: np.ndarray
    sigma2: float
    pwrss: float
    RX: np.ndarray
    Ts: list
    L1: np.ndarray
    G: np.ndarray
    L21: np.ndarray
    L2: np.ndarray
    R1X: np.ndarray
    cu1: np.ndarray
    R2X: np.ndarray
    cu2: np.ndarray
    TtS: np.ndarray


def multi_parts(T: np.ndarray, stats: MultiStatistics, reml: bool) -> MultiParts | None:
    """Factorise at the block-diagonal ``T`` (all factors) for one response.

    Returns None when a factorisation fails.
    """
    C, Jq, m = stats.CT.shape
    q1, p = stats.q1, stats.p
    Ts = _factor_blocks(T, stats)
    T1, Tr = Ts[0], Ts[1:]
    TtS = np.matmul(T1.T, stats.S1)
    A = np.matmul(TtS, T1)
    A[:, np.arange(q1), np.arange(q1)] += 1.0
    L1 = batched_cholesky(A)
    CT = stats.CT.reshape(C * Jq // q1, q1, m)
    G = batched_solve_triangular(L1, np.matmul(T1.T, CT)).reshape(C, Jq, m)
    L21 = _lam_t(Tr, stats, G.transpose(0, 2, 1))  # (C, m, Jq)
    S = _lam_both(Tr, stats, stats.D) - np.matmul(L21, L21.transpose(0, 2, 1))
    S[:, np.arange(m), np.arange(m)] += 1.0
    try:
        L2 = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None
    R1X = batched_solve_triangular(L1, np.matmul(T1.T, stats.Z1X))
    cu1 = batched_solve_triangular(L1, np.matmul(T1.T, stats.Z1r[:, :, 0:1]))[:, :, 0]
    R1X2 = R1X.reshape(-1, p)
    R2X = _solve(L2, _lam_t(Tr, stats, stats.ZrX) - np.matmul(L21, R1X2.reshape(C, Jq, p)))
    cu2 = _solve(L2, _lam_t(Tr, stats, stats.Zrr[:, :, 0])
                 - np.einsum("cmr,cr->cm", L21, cu1.reshape(C, Jq)))
    R2X2 = R2X.reshape(-1, p)
    solved = fixed_effects(
        stats.XtX - R1X2.T @ R1X2 - R2X2.T @ R2X2,
        stats.Xtr[:, 0] - R1X2.T @ cu1.ravel() - R2X2.T @ cu2.ravel(),
    )
    if solved is None:
        return None
    RX, beta = solved
    cb = stats.Xtr[:, 0] - R1X2.T @ cu1.ravel() - R2X2.T @ cu2.ravel()
    pwrss = float(stats.rtr[0] - cu1.ravel() @ cu1.ravel() - cu2.ravel() @ cu2.ravel()
                  - cb @ beta)
    pwrss = max(pwrss, np.finfo(float).tiny)
    logdet = 2.0 * float(np.sum(np.log(np.diagonal(L1, axis1=1, axis2=2))))
    logdet += 2.0 * float(np.sum(np.log(np.diagonal(L2, axis1=1, axis2=2))))
    dev, nu = profiled_criterion(logdet, RX, pwrss, stats.n_obs, reml)
    return MultiParts(
        deviance=dev, beta=beta, sigma2=pwrss / nu, pwrss=pwrss, RX=RX, Ts=Ts, L1=L1, G=G,
        L21=L21, L2=L2, R1X=R1X, cu1=cu1, R2X=R2X, cu2=cu2, TtS=TtS,
    )


def _rest_sums(stats: MultiStatistics, z: np.ndarray) -> list:
    """Per rest factor: ``sum_l z_l z_l'`` over its levels, for ``z`` of shape (..., m)."""
    out = []
    for start, s, q in _segments(stats):
        seg = z[..., start:start + s * q].reshape(-1, s, q)
        out.append(np.einsum("rla,rlb->ab", seg, seg))
    return out


def _gradient_T(parts: MultiParts, stats: MultiStatistics, reml: bool) -> list:
    """Derivative of the profiled deviance with respect to each ``T_k``."""
    C, Jq, m = stats.CT.shape
    q1, p = stats.q1, stats.p
    J = Jq // q1
    nu = stats.n_obs - p if reml else stats.n_obs
    L2, L21, G, beta = parts.L2, parts.L21, parts.G, parts.beta
    Tr = parts.Ts[1:]
    # W = L^{-1} Lambda' Z'Z by blocks of rows (1, rest) and columns (1, rest)
    W11 = batched_solve_triangular(parts.L1, parts.TtS)  # (C J, q1, q1), block diagonal
    W11c = W11.reshape(C, J, q1, q1)
    L21W11 = np.einsum("cmja,cjab->cmjb", L21.reshape(C, m, J, q1), W11c)
    W21 = _solve(L2, _lam_t(Tr, stats, stats.CT.transpose(0, 2, 1))
                 - L21W11.reshape(C, m, Jq)).reshape(C, m, J, q1)
    W2r = _solve(L2, _lam_t(Tr, stats, stats.D) - np.matmul(L21, G))  # (C, m, m)
    M1 = (stats.S1.sum(axis=0) - np.einsum("jab,jac->bc", W11, W11)
          - np.einsum("cmja,cmjb->ab", W21, W21))
    # sum over levels of the diagonal blocks of Z_r'Z_r, minus those of W'W
    diag = [np.einsum("clalb->ab", stats.D[:, s0:s0 + s * q, s0:s0 + s * q].reshape(C, s, q, s, q))
            for s0, s, q in _segments(stats)]
    Mr = [d - g1 - g2 for d, g1, g2 in zip(diag, _rest_sums(stats, G), _rest_sums(stats, W2r))]
    # Z'H^{-1}e = Z'e - W'(c_u - R_ZX beta)
    ue1 = parts.cu1 - np.matmul(parts.R1X, beta)  # (C J, q1)
    ue2 = parts.cu2 - np.matmul(parts.R2X, beta)  # (C, m)
    z1 = (stats.Z1r[:, :, 0] - np.matmul(stats.Z1X, beta)
          - np.einsum("jab,ja->jb", W11, ue1)
          - np.einsum("cmjb,cm->cjb", W21, ue2).reshape(C * J, q1))
    zr = (stats.Zrr[:, :, 0] - np.matmul(stats.ZrX, beta)
          - np.einsum("crm,cr->cm", G, ue1.reshape(C, Jq))
          - np.einsum("cnm,cn->cm", W2r, ue2))
    w = nu / parts.pwrss
    M1 -= w * (z1.T @ z1)
    Mr = [M - w * o for M, o in zip(Mr, _rest_sums(stats, zr))]
    if reml and p:
        R1X, R2X = parts.R1X, parts.R2X
        zx1 = (stats.Z1X - np.matmul(W11.transpose(0, 2, 1), R1X)
               - np.einsum("cmja,cmp->cjap", W21, R2X).reshape(C * J, q1, p))
        zxr = (stats.ZrX - np.matmul(G.transpose(0, 2, 1), R1X.reshape(C, Jq, p))
               - np.matmul(W2r.transpose(0, 2, 1), R2X))
        V1 = scipy.linalg.solve_triangular(parts.RX, zx1.reshape(-1, p).T, lower=True)
        V1 = V1.reshape(p, C * J, q1)
        M1 -= np.einsum("pja,pjb->ab", V1, V1)
        Vr = scipy.linalg.solve_triangular(parts.RX, zxr.reshape(-1, p).T, lower=True)
        Mr = [M - o for M, o in zip(Mr, _rest_sums(stats, Vr.reshape(p, C, m)))]
    return [2.0 * (0.5 * (M + M.T)) @ T for M, T in zip([M1, *Mr], parts.Ts)]


def multi_gradient(T: np.ndarray, parts: MultiParts, stats: MultiStatistics,
                   reml: bool) -> np.ndarray:
    """Derivative of the profiled deviance with respect to the block-diagonal ``T``."""
    return scipy.linalg.block_diag(*_gradient_T(parts, stats, reml))


def multi_solution(theta, layout, stats: MultiStatistics, reml: bool = True) -> dict:
    """Fixed effects, covariances and conditional modes at ``theta`` (several factors).

    As :func:`~skmice.mixed._fit.solve_at_theta`, with ``RX`` (the factor of
    ``X'H^{-1}X``) in place of ``cov_beta``; ``cov_re`` is the block-diagonal
    ``sigma^2 T T'`` of all factors and ``random_effects`` a list with one
    ``(n_k, q_k)`` array per factor.
    """
    T = layout.factor(np.asarray(theta, dtype=np.float64))
    parts = multi_parts(T, stats, reml)
    if parts is None:
        raise ValueError("X'V^{-1}X is not positive definite at the optimum.")
    C, Jq, m = stats.CT.shape
    ue2 = parts.cu2 - np.matmul(parts.R2X, parts.beta)
    u2 = _solve(parts.L2, ue2, trans=True)  # (C, m)
    rhs1 = (parts.cu1 - np.matmul(parts.R1X, parts.beta)
            - np.einsum("cmr,cm->cr", parts.L21, u2).reshape(-1, stats.q1))
    u1 = batched_solve_triangular(parts.L1, rhs1, trans=True)
    ranef = [u1[stats.slots[0]] @ parts.Ts[0].T]
    flat = u2.ravel()
    for Tk, slot, (_, q) in zip(parts.Ts[1:], stats.slots[1:], stats.rest):
        ranef.append(flat[slot[:, None] + np.arange(q)] @ Tk.T)
    return {
        "beta": parts.beta + stats.beta_ols[:, 0],
        "RX": parts.RX,
        "cov_re": parts.sigma2 * (T @ T.T),
        "sigma2": parts.sigma2,
        "deviance": parts.deviance,
        "random_effects": ranef,
    }
