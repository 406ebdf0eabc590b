"""Vectorised per-cluster kernels for the two-level samplers.

Plain functions on numpy arrays; none of them loops over clusters or rows in
Python. The per-cluster algebra is done on stacks: an array of shape
``(n_groups, q, q)`` holds one small matrix per cluster, and every operation
runs on the whole stack at once.

* Segment sums: :func:`cluster_sizes`, :func:`cluster_sums` and
  :func:`cluster_crossprods` compute per-cluster counts, sums and
  cross-products (such as ``Z_j'Z_j``, ``Z_j'X_j``, ``Z_j'y_j``) in one pass
  over the rows, without sorting, as products with a sparse cluster-indicator
  matrix (:func:`cluster_indicator`, which can be shared between calls).
* Batched linear algebra for stacks of small SPD matrices:
  :func:`batched_cholesky` (never fails: pivots that are not positive are
  raised to a small positive floor), :func:`batched_solve_triangular`,
  :func:`batched_spd_inverse`.
* Draws: :func:`draw_mvn_precision` (one multivariate normal draw per cluster
  given its precision matrix), :func:`draw_wishart`, :func:`draw_invwishart`
  (Bartlett decomposition) and :func:`draw_scaled_inv_chi2`.

Triangular solves, and for the small dimensions of random-effect designs
(``q <= 4``) the Cholesky factorisation, are written as loops over ``q``
vectorised over the clusters, faster than ``np.linalg.cholesky`` on stacks
of small matrices (timings in ``benchmarks/results/gibbs.md``); ``q = 1``
and ``q = 2`` (random intercept, intercept and slope: the usual designs) are
written out in closed form, a few whole-array operations per factor or solve.
Larger ``q`` factorises with LAPACK through ``np.linalg``. Single matrices
(the Wishart scale) go to LAPACK directly.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf

__all__ = [
    "batched_cholesky",
    "batched_solve_triangular",
    "batched_spd_inverse",
    "cluster_crossprods",
    "cluster_indicator",
    "cluster_means",
    "cluster_sizes",
    "cluster_sums",
    "draw_invwishart",
    "draw_mvn_precision",
    "draw_scaled_inv_chi2",
    "draw_wishart",
]

#: Relative floor of the Cholesky pivots (times the largest diagonal entry).
PIVOT_RTOL = 1e-12

_LOOP_MAX_Q = 4
_TINY = np.finfo(float).tiny


# ---------------------------------------------------------------------------
# segment sums
# ---------------------------------------------------------------------------


def _check_groups(groups, n_groups: int, n_rows: int | None = None) -> np.ndarray:
    """Validate cluster codes: 1-d integers in ``[0, n_groups)``."""
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be 1-dimensional, got shape {groups.shape}.")
    if groups.size and not np.issubdtype(groups.dtype, np.integer):
        raise TypeError(f"groups must hold integer cluster codes, got dtype {groups.dtype}.")
    n_groups = int(n_groups)
    if n_groups < 0:
        raise ValueError(f"n_groups must be >= 0, got {n_groups}.")
    if n_rows is not None and groups.shape[0] != n_rows:
        raise ValueError(f"groups has {groups.shape[0]} rows, the data {n_rows}.")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError(
            f"cluster codes must lie in [0, n_groups={n_groups}); "
            f"got codes from {groups.min()} to {groups.max()}."
        )
    return groups


def _indicator(groups: np.ndarray, n_groups: int, data=None):
    """Sparse ``(n_groups, n_rows)`` matrix with ``data[i]`` at ``(groups[i], i)``.

    With ``data=None`` it is the cluster-indicator matrix (ones). The product
    ``_indicator(g, N, a) @ B`` is ``sum_{i in j} a_i b_i'`` for every cluster
    ``j``: one scatter-add pass over the rows, no sorting. When the rows are
    already sorted by cluster (the usual layout of data) the matrix is built
    in CSR form, whose products add contiguous segments (faster); the values
    are in row order in both forms, so ``data`` can be swapped in place.
    """
    n = groups.shape[0]
    index_dtype = np.int32 if max(n, n_groups) < np.iinfo(np.int32).max else np.int64
    data = np.ones(n) if data is None else np.ascontiguousarray(data, dtype=np.float64)
    if n > 1 and np.all(groups[1:] >= groups[:-1]):
        indptr = np.searchsorted(groups, np.arange(n_groups + 1)).astype(index_dtype)
        return sp.csr_array((data, np.arange(n, dtype=index_dtype), indptr), shape=(n_groups, n))
    return sp.csc_array(
        (data, groups.astype(index_dtype, copy=False), np.arange(n + 1, dtype=index_dtype)),
        shape=(n_groups, n),
    )


def cluster_indicator(groups, n_groups: int):
    """Sparse ``(n_groups, n_rows)`` cluster-indicator matrix, to share between calls.

    Building it costs about one pass over ``groups``; pass it as
    ``indicator=`` to :func:`cluster_crossprods` to compute several sets of
    cross-products over the same rows without rebuilding it.

    Parameters
    ----------
    groups : array-like of int, shape (n_rows,)
        Cluster code of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of clusters.

    Returns
    -------
    indicator : scipy.sparse.csr_array or scipy.sparse.csc_array
        Ones at ``(groups[i], i)``; CSR when the rows are sorted by cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import cluster_indicator
    >>> cluster_indicator(np.array([0, 0, 1]), 2).toarray()
    array([[1., 1., 0.],
           [0., 0., 1.]])
    """
    groups = _check_groups(groups, n_groups)
    return _indicator(groups, int(n_groups))


def cluster_sizes(groups, n_groups: int) -> np.ndarray:
    """Number of rows of each cluster.

    Parameters
    ----------
    groups : array-like of int, shape (n_rows,)
        Cluster code of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of clusters (clusters without rows get 0).

    Returns
    -------
    sizes : ndarray of int64, shape (n_groups,)

    Examples
    --------
    >>> from skmice._grouped import cluster_sizes
    >>> cluster_sizes([0, 2, 2], 4)
    array([1, 0, 2, 0])
    """
    groups = _check_groups(groups, n_groups)
    return np.bincount(groups, minlength=int(n_groups)).astype(np.int64)


def cluster_sums(groups, n_groups: int, A) -> np.ndarray:
    """Per-cluster column sums.

    Parameters
    ----------
    groups : array-like of int, shape (n_rows,)
        Cluster code of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of clusters.
    A : array-like, shape (n_rows,) or (n_rows, k)
        Values to sum.

    Returns
    -------
    sums : ndarray, shape (n_groups,) or (n_groups, k)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import cluster_sums
    >>> cluster_sums(np.array([0, 1, 0]), 2, np.array([1.0, 2.0, 3.0]))
    array([4., 2.])
    """
    A = np.asarray(A, dtype=np.float64)
    groups = _check_groups(groups, n_groups, A.shape[0])
    n_groups = int(n_groups)
    if A.ndim == 1:
        return np.bincount(groups, weights=A, minlength=n_groups)
    if A.ndim != 2:
        raise ValueError(f"A must be 1- or 2-dimensional, got shape {A.shape}.")
    if A.shape[0] == 0:
        return np.zeros((n_groups, A.shape[1]))
    return _indicator(groups, n_groups) @ np.ascontiguousarray(A)


def cluster_means(groups, n_groups: int, A) -> np.ndarray:
    """Per-cluster column means (0 for clusters without rows).

    Parameters
    ----------
    groups : array-like of int, shape (n_rows,)
        Cluster code of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of clusters.
    A : array-like, shape (n_rows, k)
        Values to average.

    Returns
    -------
    means : ndarray, shape (n_groups, k)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import cluster_means
    >>> cluster_means(np.array([0, 1, 0]), 3, np.array([[1.0], [2.0], [3.0]])).ravel()
    array([2., 2., 0.])
    """
    A = np.asarray(A, dtype=np.float64)
    sizes = np.maximum(cluster_sizes(groups, n_groups), 1).astype(np.float64)
    out = np.empty((int(n_groups), A.shape[1]))
    for c in range(A.shape[1]):  # a few columns, not clusters; one bincount each
        out[:, c] = cluster_sums(groups, n_groups, A[:, c]) / sizes
    return out


def cluster_crossprods(groups, n_groups: int, A, B=None, *more, indicator=None) -> np.ndarray:
    """Per-cluster cross-products ``sum_{i in j} a_i b_i'``.

    One pass over the rows per column of ``A`` and per right factor, as the
    product of a sparse cluster-indicator matrix (holding that column of
    ``A`` as its values) with ``B``; the rows need not be sorted by cluster.

    Parameters
    ----------
    groups : array-like of int, shape (n_rows,)
        Cluster code of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of clusters; clusters without rows get zeros.
    A : array-like, shape (n_rows, a)
        Left factor (such as ``Z``); keep ``a`` the smaller of the two.
    B : array-like, shape (n_rows, b) or (n_rows,), optional
        Right factor (such as ``X`` or ``y``). Defaults to ``A``.
    *more : array-like, shape (n_rows, b') or (n_rows,)
        Further right factors, computed in the same pass over the columns
        of ``A`` (sharing the sparse structure); a tuple of results is then
        returned.
    indicator : sparse matrix, optional
        The result of :func:`cluster_indicator` for these ``groups`` (then not
        validated again); its values serve as scratch space and are restored.

    Returns
    -------
    crossprods : ndarray, shape (n_groups, a, b), or (n_groups, a) when ``B``
        is 1-dimensional; a tuple of such arrays when ``more`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import cluster_crossprods
    >>> g = np.array([0, 0, 1])
    >>> Z = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])
    >>> cluster_crossprods(g, 2, Z)[0]
    array([[ 2.,  5.],
           [ 5., 13.]])
    >>> cluster_crossprods(g, 2, Z, np.array([1.0, 1.0, 2.0]))
    array([[ 2.,  5.],
           [ 2., 10.]])
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-dimensional, got shape {A.shape}.")
    rights = [A if B is None else B, *more]
    for i, R in enumerate(rights):
        R = np.ascontiguousarray(R, dtype=np.float64)
        if R.ndim not in (1, 2):
            raise ValueError(f"B must be 1- or 2-dimensional, got shape {R.shape}.")
        if R.shape[0] != A.shape[0]:
            raise ValueError(f"A has {A.shape[0]} rows, B {R.shape[0]}.")
        rights[i] = R
    n_groups = int(n_groups)
    if indicator is None:
        groups = _check_groups(groups, n_groups, A.shape[0])
    elif indicator.shape != (n_groups, A.shape[0]):
        raise ValueError(
            f"indicator has shape {indicator.shape}, expected {(n_groups, A.shape[0])}."
        )
    a = A.shape[1]
    outs = [np.zeros((n_groups, a) + R.shape[1:]) for R in rights]
    if A.shape[0] and n_groups:
        At = np.ascontiguousarray(A.T)  # one pass instead of a strided copy per column
        if indicator is None:
            indicator = _indicator(groups, n_groups, At[0])
        original = indicator.data
        try:
            for k in range(a):  # loop over the (few) columns of A, not over clusters
                indicator.data = At[k]
                for out, R in zip(outs, rights):
                    out[:, k] = indicator @ R
        finally:  # a shared indicator must not keep At alive
            indicator.data = original
    return tuple(outs) if more else outs[0]


# ---------------------------------------------------------------------------
# batched linear algebra on stacks of small matrices
# ---------------------------------------------------------------------------


def _as_stack(M) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"expected a stack of square matrices, got shape {M.shape}.")
    return M


def batched_cholesky(M, *, rtol: float = PIVOT_RTOL) -> np.ndarray:
    """Lower Cholesky factors of a stack of symmetric positive (semi)definite matrices.

    Never fails: a pivot below ``rtol`` times the matrix's largest diagonal
    entry (for instance in a singular or slightly indefinite matrix) is
    raised to that floor, which amounts to a tiny ridge on that pivot. Only
    the lower triangle of ``M`` is read.

    Parameters
    ----------
    M : array-like, shape (..., q, q)
        Stack of symmetric matrices.
    rtol : float, default=1e-12
        Relative floor of the pivots.

    Returns
    -------
    L : ndarray, shape (..., q, q)
        Lower-triangular factors with ``L @ L.T == M`` (up to the floor).

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import batched_cholesky
    >>> M = np.array([[[4.0, 2.0], [2.0, 3.0]], [[1.0, 0.0], [0.0, 9.0]]])
    >>> batched_cholesky(M)
    array([[[2.        , 0.        ],
            [1.        , 1.41421356]],
    <BLANKLINE>
           [[1.        , 0.        ],
            [0.        , 3.        ]]])
    """
    M = _as_stack(M)
    q = M.shape[-1]
    if q <= 2:
        return _cholesky_small(M, rtol)
    diag = np.diagonal(M, axis1=-2, axis2=-1)
    floor = rtol * np.maximum(diag.max(axis=-1), 0.0)
    floor = np.where(floor > 0, floor, np.finfo(float).tiny)
    if q > _LOOP_MAX_Q:
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            L = None
        if L is not None and np.all(np.diagonal(L, axis1=-2, axis2=-1) ** 2 >= floor[..., None]):
            return L
    L = np.zeros_like(M)
    for i in range(q):  # loops over the matrix dimension, vectorised over the stack
        for j in range(i + 1):
            s = M[..., i, j] - np.einsum("...k,...k->...", L[..., i, :j], L[..., j, :j])
            if i == j:
                L[..., i, i] = np.sqrt(np.maximum(s, floor))
            else:
                L[..., i, j] = s / L[..., j, j]
    return L


def _cholesky_small(M: np.ndarray, rtol: float) -> np.ndarray:
    """Closed-form :func:`batched_cholesky` for ``q = 1`` and ``q = 2``."""
    tiny = _TINY
    L = np.empty_like(M)
    if M.shape[-1] == 1:
        m = M[..., 0, 0]
        L[..., 0, 0] = np.sqrt(np.maximum(m, np.maximum(rtol * m, tiny)))
        return L
    L[..., 0, 1] = 0.0
    a, b, c = M[..., 0, 0], M[..., 1, 0], M[..., 1, 1]
    floor = np.maximum(rtol * np.maximum(a, c), tiny)
    l11 = np.sqrt(np.maximum(a, floor))
    l21 = b / l11
    L[..., 0, 0] = l11
    L[..., 1, 0] = l21
    L[..., 1, 1] = np.sqrt(np.maximum(c - l21 * l21, floor))
    return L


def _solve_small(L: np.ndarray, X: np.ndarray, trans: bool) -> np.ndarray:
    """Closed-form triangular solve for ``q = 1`` and ``q = 2``; ``X`` is (..., q, k)."""
    if L.shape[-1] == 1:
        return X / L[..., 0:1, 0:1]
    if X.shape[-1] > 1:
        # several right-hand sides: multiply by the inverse, one small product per
        # matrix (the substitution below would run numpy's inner loop once per
        # matrix and row, over only X.shape[-1] values)
        inv = np.zeros(L.shape)
        inv[..., 0, 0] = 1.0 / L[..., 0, 0]
        inv[..., 1, 1] = 1.0 / L[..., 1, 1]
        inv[..., 1, 0] = -L[..., 1, 0] * inv[..., 0, 0] * inv[..., 1, 1]
        return np.matmul(np.swapaxes(inv, -1, -2) if trans else inv, X)
    l11, l21, l22 = L[..., 0, 0:1], L[..., 1, 0:1], L[..., 1, 1:2]
    out = np.empty(np.broadcast_shapes(L.shape[:-2], X.shape[:-2]) + X.shape[-2:])
    if trans:  # [l11 l21; 0 l22] x = b: back substitution
        x1 = np.divide(X[..., 1, :], l22, out=out[..., 1, :])
        np.divide(X[..., 0, :] - l21 * x1, l11, out=out[..., 0, :])
    else:  # [l11 0; l21 l22] x = b: forward substitution
        x0 = np.divide(X[..., 0, :], l11, out=out[..., 0, :])
        np.divide(X[..., 1, :] - l21 * x0, l22, out=out[..., 1, :])
    return out


def batched_solve_triangular(L, B, *, trans: bool = False) -> np.ndarray:
    """Solve ``L x = b`` (or ``L' x = b``) for a stack of lower-triangular ``L``.

    Parameters
    ----------
    L : array-like, shape (..., q, q)
        Lower-triangular matrices (the upper triangle is not read).
    B : array-like, shape (..., q) or (..., q, k)
        Right-hand sides.
    trans : bool, default=False
        Solve with the transpose ``L'`` (upper triangular) instead.

    Returns
    -------
    x : ndarray, same shape as ``B``

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import batched_solve_triangular
    >>> L = np.array([[[2.0, 0.0], [1.0, 1.0]]])
    >>> batched_solve_triangular(L, np.array([[2.0, 3.0]]))
    array([[1., 2.]])
    >>> batched_solve_triangular(L, np.array([[2.0, 3.0]]), trans=True)
    array([[-0.5,  3. ]])
    """
    L = _as_stack(L)
    B = np.asarray(B, dtype=np.float64)
    q = L.shape[-1]
    vector = B.ndim == L.ndim - 1
    if q <= 2:
        X = _solve_small(L, B[..., None] if vector else B, trans)
        return X[..., 0] if vector else X
    X = B[..., None].copy() if vector else B.copy()
    order = range(q - 1, -1, -1) if trans else range(q)
    done: list[int] = []
    for i in order:
        for k in done:
            coef = L[..., k, i] if trans else L[..., i, k]
            X[..., i, :] -= coef[..., None] * X[..., k, :]
        X[..., i, :] /= L[..., i, i][..., None]
        done.append(i)
    return X[..., 0] if vector else X


def batched_spd_inverse(M, *, rtol: float = PIVOT_RTOL) -> np.ndarray:
    """Inverses of a stack of symmetric positive definite matrices (via Cholesky).

    Parameters
    ----------
    M : array-like, shape (..., q, q)
        Stack of SPD matrices (see :func:`batched_cholesky` for the pivot floor).
    rtol : float, default=1e-12
        Relative floor of the Cholesky pivots.

    Returns
    -------
    inverse : ndarray, shape (..., q, q), exactly symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import batched_spd_inverse
    >>> batched_spd_inverse(np.array([[[4.0, 2.0], [2.0, 3.0]]]))
    array([[[ 0.375, -0.25 ],
            [-0.25 ,  0.5  ]]])
    """
    M = _as_stack(M)
    L = batched_cholesky(M, rtol=rtol)
    eye = np.broadcast_to(np.eye(M.shape[-1]), M.shape)
    Linv = batched_solve_triangular(L, eye)
    return np.swapaxes(Linv, -1, -2) @ Linv


# ---------------------------------------------------------------------------
# draws
# ---------------------------------------------------------------------------


def draw_mvn_precision(
    M,
    h,
    random_state: np.random.Generator | None = None,
    *,
    scale=1.0,
    noise=None,
    rtol: float = PIVOT_RTOL,
) -> np.ndarray:
    """One draw per matrix of ``N(M^-1 h, scale * M^-1)``, given the precision ``M``.

    With ``M = L L'`` the draw is ``L'^-1 (L^-1 h + sqrt(scale) e)``, ``e``
    standard normal: one Cholesky factorisation and two triangular solves per
    matrix, all batched.

    Parameters
    ----------
    M : array-like, shape (..., q, q)
        Precision matrices (up to ``scale``), symmetric positive definite.
    h : array-like, shape (..., q)
        Linear terms; the mean is ``M^-1 h``.
    random_state : numpy.random.Generator, optional
        Source of the standard normal noise (required unless ``noise`` is given).
    scale : float or array-like broadcastable to (...,), default=1.0
        Multiplier of the covariance ``M^-1``.
    noise : array-like, shape (..., q), optional
        Standard normal deviates to use instead of drawing them.
    rtol : float, default=1e-12
        Relative floor of the Cholesky pivots.

    Returns
    -------
    draws : ndarray, shape (..., q)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import draw_mvn_precision
    >>> M = np.array([[[2.0, 0.0], [0.0, 4.0]]])
    >>> draw_mvn_precision(M, np.array([[2.0, 4.0]]), noise=np.zeros((1, 2)))
    array([[1., 1.]])
    >>> draw_mvn_precision(M, np.zeros((1, 2)), np.random.default_rng(0)).shape
    (1, 2)
    """
    M = _as_stack(M)
    h = np.asarray(h, dtype=np.float64)
    if h.shape != M.shape[:-1]:
        raise ValueError(f"h has shape {h.shape}, expected {M.shape[:-1]}.")
    if noise is None:
        if random_state is None:
            raise ValueError("draw_mvn_precision needs random_state or noise.")
        noise = random_state.standard_normal(h.shape)
    noise = np.asarray(noise, dtype=np.float64)
    L = batched_cholesky(M, rtol=rtol)
    u = batched_solve_triangular(L, h)
    u += np.sqrt(np.asarray(scale, dtype=np.float64))[..., None] * noise
    return batched_solve_triangular(L, u, trans=True)


@functools.lru_cache(maxsize=16)
def _strict_lower(q: int) -> tuple[np.ndarray, int]:
    """Flat indices of the strictly lower triangle of a q x q matrix, and their number."""
    rows, cols = np.tril_indices(q, -1)
    return rows * q + cols, rows.size


def _bartlett_factor(df: float, q: int, rng: np.random.Generator) -> np.ndarray:
    """Lower-triangular Bartlett factor A with A A' ~ Wishart(df, I_q)."""
    A = np.zeros((q, q))
    A.flat[:: q + 1] = np.sqrt(rng.chisquare(df - np.arange(q)))
    lower, size = _strict_lower(q)
    A.flat[lower] = rng.standard_normal(size)
    return A


def _check_wishart_args(df, scale):
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim != 2 or scale.shape[0] != scale.shape[1]:
        raise ValueError(f"scale must be a square matrix, got shape {scale.shape}.")
    q = scale.shape[0]
    df = float(df)
    if not df > q - 1:
        raise ValueError(f"df must exceed q - 1 = {q - 1} for a proper Wishart, got {df}.")
    return df, scale, q


def draw_wishart(df: float, scale, random_state: np.random.Generator) -> np.ndarray:
    """Draw ``W ~ Wishart(df, scale)`` (mean ``df * scale``) by the Bartlett decomposition.

    Parameters
    ----------
    df : float
        Degrees of freedom, ``> q - 1``.
    scale : array-like, shape (q, q)
        Scale matrix, symmetric positive definite.
    random_state : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    W : ndarray, shape (q, q), symmetric positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import draw_wishart
    >>> draw_wishart(5.0, np.eye(2), np.random.default_rng(0)).shape
    (2, 2)
    """
    df, scale, q = _check_wishart_args(df, scale)
    C = batched_cholesky(scale)
    F = C @ _bartlett_factor(df, q, random_state)
    W = F @ F.T
    return (W + W.T) / 2


def draw_invwishart(df: float, scale, random_state: np.random.Generator) -> np.ndarray:
    """Draw ``S ~ inverse-Wishart(df, scale)`` (mean ``scale / (df - q - 1)``).

    ``S = W^-1`` with ``W ~ Wishart(df, scale^-1)``; computed without
    inverting ``scale``: with ``scale = C C'`` and the Bartlett factor ``A``,
    ``S = (C A'^-1)(C A'^-1)'``.

    Parameters
    ----------
    df : float
        Degrees of freedom, ``> q - 1``.
    scale : array-like, shape (q, q)
        Scale matrix, symmetric positive definite.
    random_state : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    S : ndarray, shape (q, q), symmetric positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import draw_invwishart
    >>> draw_invwishart(10.0, np.eye(2), np.random.default_rng(0)).shape
    (2, 2)
    """
    df, scale, q = _check_wishart_args(df, scale)
    if q <= 2:
        S = _invwishart_small(df, scale, random_state)
        if S is not None:
            return S
    C, info = dpotrf(scale, lower=1, clean=1)
    if info != 0:  # not numerically positive definite: the floored factorisation
        C = batched_cholesky(scale)
    A = _bartlett_factor(df, q, random_state)
    # C A'^-1 = (A^-1 C')': solve A Y = C' (lower triangular A). Not with LAPACK:
    # a matrix right-hand side goes to the BLAS-3 trsm, which a multithreaded
    # BLAS on a busy machine makes a thousand times slower at these sizes.
    Y = batched_solve_triangular(A[None], C.T[None])[0]
    S = Y.T @ Y
    return (S + S.T) / 2


def _invwishart_small(df: float, scale: np.ndarray, rng) -> np.ndarray | None:
    """:func:`draw_invwishart` in closed form for ``q <= 2`` (the same draws from
    ``rng``); None when ``scale`` is not clearly positive definite."""
    q = scale.shape[0]
    s00 = scale[0, 0]
    if not s00 > 0:
        return None
    if q == 1:
        chi = rng.chisquare(df - np.arange(1))
        rng.standard_normal(0)
        return np.array([[s00 / chi[0]]])
    c11 = np.sqrt(s00)
    c21 = scale[1, 0] / c11
    rest = scale[1, 1] - c21 * c21
    if not rest > 1e-12 * scale[1, 1]:
        return None
    c22 = np.sqrt(rest)
    chi = rng.chisquare(df - np.arange(2))
    a21 = rng.standard_normal(1)[0]
    a11, a22 = np.sqrt(chi[0]), np.sqrt(chi[1])
    # Y = A^-1 C' for the Bartlett factor A = [a11 0; a21 a22]; S = Y'Y
    y00, y01 = c11 / a11, c21 / a11
    y10, y11 = -a21 * y00 / a22, (c22 - a21 * y01) / a22
    off = y00 * y01 + y10 * y11
    return np.array([[y00 * y00 + y10 * y10, off], [off, y01 * y01 + y11 * y11]])


def draw_scaled_inv_chi2(df, scale_sum, random_state: np.random.Generator) -> np.ndarray:
    """Draw ``scale_sum / chi2(df)``: a scaled-inverse-chi-square variance.

    With ``scale_sum`` the prior scale plus a residual sum of squares and
    ``df`` the prior plus the data degrees of freedom, this is the
    conditional posterior of a normal variance.

    Parameters
    ----------
    df : float or array-like
        Degrees of freedom, positive.
    scale_sum : float or array-like
        Sum of squares, non-negative.
    random_state : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    variance : ndarray (0-d for scalar input)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import draw_scaled_inv_chi2
    >>> float(draw_scaled_inv_chi2(10.0, 10.0, np.random.default_rng(0))) > 0
    True
    """
    df = np.asarray(df, dtype=np.float64)
    scale_sum = np.asarray(scale_sum, dtype=np.float64)
    if np.any(df <= 0):
        raise ValueError("df must be positive.")
    if np.any(scale_sum < 0):
        raise ValueError("scale_sum must be non-negative.")
    shape = np.broadcast_shapes(df.shape, scale_sum.shape)
    return scale_sum / random_state.chisquare(np.broadcast_to(df, shape))
