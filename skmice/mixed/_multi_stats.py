"""Cross-products of a linear mixed model with several grouping factors.

lme4's penalised system ``Lambda' Z' Z Lambda + I`` is factorised by blocks
(:mod:`skmice.mixed._multi_deviance`): the grouping factor with the most
levels comes first, and its diagonal block is block diagonal (one small
block per level); the other factors ("the rest") form a dense block. The
levels of all factors fall apart into connected components (two levels are
connected when a row has both): each school with its classes when classes
are nested in schools, a single component when factors are crossed. The
system is block diagonal by component, so every component is factorised on
its own, all at once: each is padded to the same shape (empty levels add
nothing), ``J`` levels of the first factor and ``s_k`` levels of every other
factor ``k``, so that the rest has ``m = sum_k s_k q_k`` random effects per
component.

What the factorisation needs is computed here in one pass over the rows, as
for one factor (:mod:`skmice.mixed._sufficient`): per level of the first
factor ``Z_1j'Z_1j``, ``Z_1j'X`` and ``Z_1j'r``; per component the
cross-products of the first factor's columns with the rest's (``Z_1'Z_r``)
and of the rest with itself (``Z_r'Z_r``), ``Z_r'X`` and ``Z_r'r``; ``X'X``,
``X'r`` and ``r'r`` for OLS residuals ``r``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from .._grouped import cluster_crossprods
from ._sufficient import _ols, _Responses

__all__ = ["MultiStatistics", "multi_statistics"]


@dataclass(frozen=True)
class MultiStatistics(_Responses):
    """Cross-products of a design with several grouping factors and k responses.

    ``C`` components, each with ``J`` (padded) levels of the first factor and
    ``m`` random effects of the others.

    Attributes
    ----------
    S1 : ndarray, shape (C * J, q_1, q_1)
        ``Z_1j'Z_1j`` per (padded) level of the first factor, component by component.
    Z1X : ndarray, shape (C * J, q_1, p)
    Z1r : ndarray, shape (C * J, q_1, k)
    CT : ndarray, shape (C, J * q_1, m)
        ``Z_1'Z_r`` per component.
    D : ndarray, shape (C, m, m)
        ``Z_r'Z_r`` per component.
    ZrX : ndarray, shape (C, m, p)
    Zrr : ndarray, shape (C, m, k)
    XtX : ndarray, shape (p, p)
    Xtr : ndarray, shape (p, k)
    rtr : ndarray, shape (k,)
    beta_ols : ndarray, shape (p, k)
    n_obs : int
    rest : tuple of (int, int)
        ``(s_k, q_k)`` of the other factors: levels per component and random
        effects per level.
    slots : tuple of ndarray
        Per factor, where each of its levels sits: in ``[0, C * J)`` for the
        first factor, at the first of its ``q_k`` positions in the flattened
        ``(C, m)`` rest for the others.
    """

    S1: np.ndarray
    Z1X: np.ndarray
    Z1r: np.ndarray
    CT: np.ndarray
    D: np.ndarray
    ZrX: np.ndarray
    Zrr: np.ndarray
    XtX: np.ndarray
    Xtr: np.ndarray
    rtr: np.ndarray
    beta_ols: np.ndarray
    n_obs: int
    rest: tuple
    slots: tuple

    PER_RESPONSE: ClassVar[tuple] = ("Z1r", "Zrr", "Xtr", "rtr", "beta_ols")

    @property
    def q1(self) -> int:
        """Random effects per level of the first factor."""
        return self.S1.shape[1]

    @property
    def dims(self) -> list:
        """``(levels per component, q_k)`` of every factor, the first one first."""
        return [(self.CT.shape[1] // self.q1, self.q1), *self.rest]


def _rank_within(groups: np.ndarray, n_groups: int) -> tuple:
    """Position of each element among those of its group (in order), and the largest count."""
    counts = np.bincount(groups, minlength=n_groups)
    order = np.argsort(groups, kind="stable")
    starts = np.cumsum(counts) - counts
    rank = np.empty_like(groups)
    rank[order] = np.arange(groups.size) - starts[groups[order]]
    return rank, int(counts.max()) if counts.size else 0


def _components(codes: list, sizes: list) -> tuple:
    """Connected components of the levels of all factors (linked through the rows).

    Returns the component of every level of every factor and their number.
    """
    offsets = np.cumsum([0, *sizes])
    first = codes[0] + offsets[0]
    rows = np.concatenate([first] * (len(codes) - 1))
    cols = np.concatenate([c + o for c, o in zip(codes[1:], offsets[1:-1])])
    graph = scipy.sparse.coo_matrix(
        (np.ones(rows.size), (rows, cols)), shape=(offsets[-1], offsets[-1])
    )
    n_comp, label = connected_components(graph, directed=False)
    return [label[offsets[k]:offsets[k + 1]] for k in range(len(sizes))], n_comp


def _sparse_columns(index: np.ndarray, n_cols: int, Z: np.ndarray) -> scipy.sparse.csr_matrix:
    """The ``n x n_cols`` matrix with row ``i`` holding ``Z[i]`` from column ``index[i]``."""
    n, q = Z.shape
    cols = index[:, None] + np.arange(q)
    return scipy.sparse.csr_matrix(
        (Z.ravel(), cols.ravel(), np.arange(0, n * q + 1, q)), shape=(n, n_cols)
    )


def _blocks(product, n_comp: int, rows: int, cols: int) -> np.ndarray:
    """The diagonal blocks (``rows x cols`` each) of a sparse block-diagonal product."""
    coo = product.tocoo()
    out = np.zeros((n_comp, rows, cols))
    out[coo.row // rows, coo.row % rows, coo.col % cols] = coo.data
    return out


def multi_statistics(factors, X, Y, names=None) -> MultiStatistics:
    """Compute the cross-products of k responses sharing ``X`` and the factors.

    Parameters
    ----------
    factors : list of (codes, n_groups, Z)
        The grouping factors, the first one the one with the most levels;
        ``codes`` in ``[0, n_groups)``, ``Z`` of shape ``(n_obs, q_k)``.
    X : ndarray, shape (n_obs, p)
        Fixed-effects matrix (full column rank).
    Y : ndarray, shape (n_obs,) or (n_obs, k)
        Responses.
    names : list of str, optional
        Names of the columns of ``X``, for error messages.

    Returns
    -------
    MultiStatistics

    Raises
    ------
    ValueError
        If fewer than two factors are given, ``X`` is rank deficient or the
        inputs are not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.mixed._multi_stats import multi_statistics
    >>> cls = np.array([0, 0, 1, 1, 2, 2]); school = np.array([0, 0, 0, 0, 1, 1])
    >>> one = np.ones((6, 1))
    >>> s = multi_statistics([(cls, 3, one), (school, 2, one)], one, np.arange(6.0))
    >>> s.CT.shape, s.CT[:, :, 0].tolist(), s.D[:, 0, 0].tolist()
    ((2, 2, 1), [[2.0, 2.0], [2.0, 0.0]], [4.0, 2.0])
    """
    if len(factors) < 2:
        raise ValueError("multi_statistics needs at least two grouping factors.")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    codes = [np.asarray(c, dtype=np.int64) for c, _, _ in factors]
    sizes = [int(n) for _, n, _ in factors]
    Zs = [np.asarray(Z, dtype=np.float64) for _, _, Z in factors]
    for name, arr in (("Z", np.hstack(Zs)), ("X", X), ("y", Y)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has values that are not finite.")
    XtX = X.T @ X
    beta = _ols(X, XtX, Y, names)
    R = Y - X @ beta
    comp, n_comp = _components(codes, sizes)
    ranks = [_rank_within(c, n_comp) for c in comp]
    J, q1 = ranks[0][1], Zs[0].shape[1]
    slot1 = comp[0] * J + ranks[0][0]
    rest, offsets, start = [], [], 0
    for (_, s), Z in zip(ranks[1:], Zs[1:]):
        rest.append((s, Z.shape[1]))
        offsets.append(start)
        start += s * Z.shape[1]
    m = start
    slots = [slot1] + [
        c * m + off + r * q for c, (r, _), off, (_, q) in zip(comp[1:], ranks[1:], offsets, rest)
    ]
    row_slot1 = slot1[codes[0]]
    S1, Z1X, Z1r = cluster_crossprods(row_slot1, n_comp * J, Zs[0], Zs[0], X, R)
    Zr = sum(_sparse_columns(s[c], n_comp * m, Z)
             for s, c, Z in zip(slots[1:], codes[1:], Zs[1:]))
    Z1 = _sparse_columns(row_slot1 * q1, n_comp * J * q1, Zs[0])
    ZrT = Zr.T.tocsr()
    return MultiStatistics(
        S1=S1, Z1X=Z1X, Z1r=Z1r,
        CT=_blocks(Z1.T @ Zr, n_comp, J * q1, m), D=_blocks(ZrT @ Zr, n_comp, m, m),
        ZrX=np.asarray(ZrT @ X).reshape(n_comp, m, -1),
        Zrr=np.asarray(ZrT @ R).reshape(n_comp, m, -1),
        XtX=XtX, Xtr=X.T @ R, rtr=np.einsum("ik,ik->k", R, R), beta_ols=beta,
        n_obs=X.shape[0], rest=tuple(rest), slots=tuple(slots),
    )
