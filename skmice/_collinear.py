"""Constant and collinear predictors, judged from one shifted Gram matrix.

The check behind ``remove_collinear`` needs only the Gram matrix of the
predictors and the target, ``A A'`` with ``A = [X, y]'`` shifted by its first
row (exact zeros for constant columns, no cancellation when a column's mean
dwarfs its spread), and the column sums of ``A``. :func:`drops_from_gram`
decides from those; :class:`ObservedGram` keeps them for one target between
visits of the chained equations and recomputes only the rows of the
predictors that changed, so that a visit whose design changed in one column
reads that column once instead of the whole design.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dsyev

__all__ = ["ObservedGram", "drops_from_gram", "is_constant", "shifted_gram"]

TARGET_CONSTANT = "the target is constant"


def is_constant(y: np.ndarray) -> bool:
    """Whether ``y`` is constant relative to its magnitude."""
    lo, hi = y.min(), y.max()
    return bool(hi - lo <= 1e-10 * max(abs(lo), abs(hi), 1e-300))


def shifted_gram(X: np.ndarray, y: np.ndarray):
    """``A``, ``A A'``, the row sums of ``A`` and the shift, for ``A = [X, y]' - first row``.

    Parameters
    ----------
    X : ndarray of shape (n, k)
    y : ndarray of shape (n,)

    Returns
    -------
    A : ndarray of shape (k + 1, n)
    G : ndarray of shape (k + 1, k + 1)
    sums : ndarray of shape (k + 1,)
    first : ndarray of shape (k + 1,)
        The first row of ``[X, y]``, subtracted from every row.
    """
    k, n = X.shape[1], X.shape[0]
    A = np.empty((k + 1, n))  # held transposed: the shift and sums run along rows
    A[:k] = X.T
    A[k] = y
    first = A[:, 0].copy()
    A -= first[:, None]
    return A, A @ A.T, A.sum(axis=1), first


def drops_from_gram(G: np.ndarray, sums: np.ndarray, first: np.ndarray, n: int,
                    eps: float, max_corr: float) -> dict:
    """The predictors to drop, from the shifted Gram matrix of ``[X, y]``.

    Parameters
    ----------
    G, sums, first : ndarray
        As returned by :func:`shifted_gram` (the target last).
    n : int
        Number of rows.
    eps, max_corr : float
        As in :func:`skmice._design.collinear_drops`.

    Returns
    -------
    dict
        Column position -> reason, as :func:`skmice._design.collinear_drops`.
    """
    k = G.shape[0] - 1
    mean = sums / n
    diag = G.diagonal() / n
    var = diag - mean * mean
    np.maximum(var, 0.0, out=var)
    tiny = np.sqrt(diag[:k])  # the column's magnitude, then its smallest spread
    tiny += np.abs(first[:k])
    np.maximum(tiny, 1e-300, out=tiny)
    tiny *= 1e-10
    constant = ~(var[:k] > tiny * tiny)
    flagged = bool(constant.any())
    drops = dict.fromkeys(np.flatnonzero(constant).tolist(), "constant") if flagged else {}
    if len(drops) == k:
        return drops
    inv_sd = 1.0 / np.sqrt(np.where(var > 0, var, 1.0))
    cor = G / n
    cor -= mean[:, None] * mean
    cor *= inv_sd[:, None]
    cor *= inv_sd
    r = np.abs(cor[:k, k])
    high = r >= max_corr
    if flagged:
        high &= ~constant
    if high.any():
        flagged = True
        for i in np.flatnonzero(high).tolist():
            drops[i] = f"correlation with the target {r[i]:.6g} >= max_corr"
    idx = np.flatnonzero(~(constant | high)) if flagged else np.arange(k)
    if len(idx) <= 1:
        return drops
    cx = cor[:k, :k] if len(idx) == k else cor[idx[:, None], idx]
    while len(idx) > 1:
        w = _eigenvalues(cx)
        if w[0] / w[-1] >= eps:
            break
        _, v = np.linalg.eigh(cx)
        drop = int(np.argmax(np.abs(v[:, 0])))
        drops[int(idx[drop])] = "collinear with other predictors"
        sel = np.arange(len(idx)) != drop
        idx = idx[sel]
        cx = cx[sel][:, sel]
    return drops


def _eigenvalues(S: np.ndarray) -> np.ndarray:
    """The eigenvalues of a symmetric matrix, ascending (LAPACK's dsyev directly:
    the check needs no eigenvectors unless it drops a column)."""
    w, _, info = dsyev(S, compute_v=0)
    return w if info == 0 else np.linalg.eigvalsh(S)


class ObservedGram:
    """The collinearity check of one target's design, kept between visits.

    Holds the shifted ``[X, y]`` of the observed rows (predictors without the
    intercept), its Gram matrix and sums, and the last verdict. :meth:`drops`
    recomputes the rows of the columns that changed (one pass over each), and
    nothing when none did: the target's observed values never change.

    Parameters
    ----------
    y : ndarray of shape (n,)
        The target on its observed rows.
    """

    def __init__(self, y: np.ndarray):
        self.y = y
        self._constant = None
        self._state = None
        self._drops = None

    def drops(self, X: np.ndarray, changed, eps: float, max_corr: float,
              rows: dict | None = None) -> dict:
        """The columns of ``X[:, 1:]`` to drop (as :func:`skmice._design.collinear_drops`).

        Parameters
        ----------
        X : ndarray of shape (n, p)
            The design of the observed rows, intercept first.
        changed : collection of int or None
            The columns of ``X`` rewritten since the last call (0 is the
            intercept); only these are read again. None: all of them.
        eps, max_corr : float
            As in :func:`skmice._design.collinear_drops`.
        rows : dict, optional
            For changed columns of ``X``: the only rows where they may have
            changed (the others are not read again).

        Returns
        -------
        dict
            Column position in ``X[:, 1:]`` -> reason.
        """
        n, k = X.shape[0], X.shape[1] - 1
        if k == 0:
            return {}
        if self._constant is None:
            self._constant = n < 2 or is_constant(self.y)
        if self._constant:
            return dict.fromkeys(range(k), TARGET_CONSTANT)
        if self._state is None or changed is None or self._state[1].shape[0] != k + 1:
            self._state = shifted_gram(X[:, 1:], self.y)
        else:
            cols = np.array(sorted(c - 1 for c in changed if c > 0), dtype=np.intp)
            if not cols.size and self._drops is not None:
                return dict(self._drops)
            A, G, sums, first = self._state
            for c in cols.tolist():  # each changed column: one shifted copy, one product
                at = None if rows is None else rows.get(c + 1)
                if at is None:
                    first[c] = X[0, c + 1]
                    np.subtract(X[:, c + 1], first[c], out=A[c])
                else:  # only these rows changed (the shift stays): rewritten by position
                    A[c, at] = X[:, c + 1][at] - first[c]
                sums[c] = A[c].sum()
            if cols.size == 1:  # the usual visit: one matrix-vector product
                c = int(cols[0])
                G[:, c] = G[c, :] = A @ A[c]
            elif cols.size:
                cross = A @ A[cols].T
                G[:, cols] = cross
                G[cols, :] = cross.T
        _, G, sums, first = self._state
        self._drops = drops_from_gram(G, sums, first, n, eps, max_corr)
        return dict(self._drops)

    def nbytes(self) -> int:
        """Bytes of the kept arrays."""
        return 0 if self._state is None else self._state[0].nbytes
