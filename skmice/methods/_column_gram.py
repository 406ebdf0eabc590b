"""Per-cluster cross-products of a design's columns, kept between visits by stamp.

The chained-equations loop fits a target's model on the same rows at every
visit, and between two visits only the columns of the predictors imputed in
the meantime change. :class:`ColumnGram` keeps, for every pair of columns,
the per-cluster sums of their product (and their total), keyed by the
columns' stamps (:class:`~skmice.methods.Design` ``stamps``); a call
computes only the pairs with a column it has not seen, and
:meth:`ColumnGram.retain` forgets the pairs of columns rewritten since.
Without stamps every pair is computed afresh.

The per-cluster products of the left columns ``L`` (the random part, or
every column for the heteroscedastic sampler) with the right columns come
from one sparse product: a matrix with ``|L|`` entries per row, ``L_i[k]`` at
row ``units_i * |L| + k``, times the right columns gives every cluster's
``L_j'R_j`` at once, each right column read once. The totals of the
columns new to the sampler come from one dense product (BLAS). When every
pair is wanted (the heteroscedastic sampler, ``L`` = all of ``U``), the pairs
are kept one by one and a rewritten column is read once, as the values of the
cluster indicator, against a row-major copy of ``[U | y]``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._grouped import cluster_crossprods, cluster_indicator
from .._stamps import new_stamps

__all__ = ["ColumnGram"]

# The largest row-major copy of a design kept for the every-pair products; a larger
# design has them computed pair by pair, without a copy.
_MIRROR_MAX_BYTES = 64 * 2**20

# Left blocks (by their columns' stamps) whose values are kept between calls.
_KEEP_LEFT = 3


class ColumnGram:
    """Per-cluster sums of products of columns, kept by the columns' stamps.

    Parameters
    ----------
    groups : ndarray of int of shape (n_rows,)
        Unit code of each row, in ``[0, n_groups)`` (checked by the caller).
    n_groups : int
        Number of units.

    Attributes
    ----------
    groups : ndarray of int of shape (n_rows,)
        The unit codes it was made with.
    index : sparse matrix of shape (n_groups, n_rows)
        The cluster-indicator matrix of the rows
        (:func:`skmice._grouped.cluster_indicator`), made when first read,
        for callers that share it.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._column_gram import ColumnGram
    >>> g = np.array([0, 0, 1])
    >>> U, y = np.array([[1.0], [1.0], [1.0]]), np.array([2.0, 3.0, 5.0])
    >>> gram = ColumnGram(g, 2)
    >>> stamps = gram.retain([7, 8])  # the stamps of U's column and of y
    >>> gram.per_cluster(U, y, stamps, [0])[0]  # cluster 0: 1'[1 | y]
    array([[2., 5.]])
    >>> gram.totals(U, y, stamps)
    array([[ 3., 10.],
           [10., 38.]])
    """

    def __init__(self, groups, n_groups: int):
        self.groups = np.asarray(groups)
        self.n_groups = int(n_groups)
        self._index = None
        self._structure = {}  # width -> the left matrix (its values set at each use)
        self._left = {}  # stamps of a left block -> its values copied, row by row
        self._pairs = {}  # (left columns' stamps, stamp) -> per-cluster products
        self._totals = {}  # (stamp, stamp) -> its sum over the rows
        self._sym = {}  # (stamp, stamp) -> per-cluster products (every pair wanted)
        self._mirror = None  # [U | y] row by row, and the stamps of its columns

    @property
    def index(self):
        """The cluster-indicator matrix of the rows, made when first read."""
        if self._index is None:
            self._index = cluster_indicator(self.groups, self.n_groups)
        return self._index

    def retain(self, stamps) -> list:
        """Start a call: forget the pairs with a column whose stamp is not among
        ``stamps``, and return the stamps to use, a fresh one for each unknown column
        (stamp <= 0: computed afresh, its products never read back by a later call).

        Parameters
        ----------
        stamps : sequence of int, length r + 1
            The stamps of the columns of ``[U | y]``.

        Returns
        -------
        list of int
            The stamps to pass to :meth:`per_cluster` and :meth:`totals`.
        """
        stamps = [int(s) for s in stamps]
        unknown = [i for i, s in enumerate(stamps) if s <= 0]
        if unknown:
            for i, s in zip(unknown, new_stamps(len(unknown))):
                stamps[i] = int(s)
        current = set(stamps)
        self._pairs = {k: v for k, v in self._pairs.items()
                       if k[1] in current and current.issuperset(k[0])}
        self._totals = {k: v for k, v in self._totals.items()
                        if k[0] in current and k[1] in current}
        self._left = {k: v for k, v in self._left.items() if current.issuperset(k)}
        self._sym = {k: v for k, v in self._sym.items() if k[0] in current and k[1] in current}
        return stamps

    def per_cluster(self, U, y, stamps, left, right=None, left_values=None) -> np.ndarray:
        """Per-cluster cross-products of columns of ``[U | y]``.

        Parameters
        ----------
        U : ndarray of shape (n_rows, r)
            The design's columns.
        y : ndarray of shape (n_rows,)
            The target (position ``r``).
        stamps : sequence of int, length r + 1
            Each column's stamp, as returned by :meth:`retain`.
        left : sequence of int
            Positions of the left factor's columns in ``[U | y]``.
        right : sequence of int, optional
            Positions of the right factor's columns; all of them by default.
        left_values : ndarray of shape (n_rows, len(left)), optional
            The left columns as one C-contiguous array, when the caller has one
            (such as the design's ``Z``): read in place of a copy.

        Returns
        -------
        ndarray of shape (n_groups, len(left), len(right))
            ``[U_j | y_j][:, left]' [U_j | y_j][:, right]`` for every cluster.
        """
        left = [int(a) for a in left]
        right = list(range(U.shape[1] + 1)) if right is None else [int(b) for b in right]
        key = _key(stamps)
        if left == list(range(U.shape[1])) or (
                self._sym and all(key(a, b) in self._sym for a in left for b in right)):
            # every pair of columns (the heteroscedastic sampler): kept pair by pair
            self._compute_all(U, y, stamps)
            out = np.empty((self.n_groups, len(left), len(right)))
            for i, a in enumerate(left):
                for k, b in enumerate(right):
                    out[:, i, k] = self._sym[key(a, b)]
            return out
        owner = tuple(stamps[a] for a in left)
        missing = sorted({b for b in right if (owner, stamps[b]) not in self._pairs})
        if missing:
            self._compute(U, y, left, missing, stamps, left_values)
        out = np.empty((self.n_groups, len(left), len(right)))
        for k, b in enumerate(right):
            out[:, :, k] = self._pairs[owner, stamps[b]]
        return out

    def totals(self, U, y, stamps) -> np.ndarray:
        """The Gram matrix of ``[U | y]``, of shape (r + 1, r + 1).

        Pairs already summed from per-cluster products are not read again; the
        columns new since the last call are read against every column in one
        dense product.

        Parameters
        ----------
        U, y, stamps
            As in :meth:`per_cluster`.
        """
        r = U.shape[1]
        key = _key(stamps)
        # a column whose product with itself is kept was read against every column
        # (a later column then against it), so the new columns complete the matrix
        new = [b for b in range(r + 1) if key(b, b) not in self._totals]
        if new:
            self._compute_totals(U, y, new, stamps)
        return np.array([[self._totals[key(a, b)] for b in range(r + 1)]
                         for a in range(r + 1)])

    def _compute(self, U, y, left, cols, stamps, left_values=None) -> None:
        """The per-cluster products of the ``left`` columns with ``cols``: one sparse
        product, each column of ``cols`` read once."""
        N = self.n_groups
        S = self._left_matrix(len(left), U.shape[0])
        S.data = self._left_values(U, y, left, stamps, left_values)
        try:
            in_u = [b for b in cols if b < U.shape[1]]
            parts = []
            if len(in_u) > 1 and not U.flags.c_contiguous:
                # column-major U: a product per column, each read in place (a row-major
                # copy of U would cost more than the products)
                parts.extend((S @ U[:, b]).reshape(N, len(left), 1) for b in in_u)
            elif in_u:
                parts.append((S @ _columns(U, in_u)).reshape(N, len(left), -1))
            if cols[-1] == U.shape[1]:
                parts.append((S @ y).reshape(N, len(left), 1))
        finally:  # the matrix kept must not keep the caller's arrays alive
            S.data = np.broadcast_to(0.0, S.data.shape)
        sums = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
        owner = tuple(stamps[a] for a in left)
        for k, b in enumerate(cols):
            self._pairs[owner, stamps[b]] = sums[:, :, k]

    def _compute_all(self, U, y, stamps) -> None:
        """Every pair's per-cluster products (and totals), each column new since the
        last call read once: against a row-major copy of ``[U | y]`` refreshed in the
        columns whose stamps changed (most columns new: one sparse product), or, when
        that copy would exceed ``_MIRROR_MAX_BYTES``, one product per pair."""
        r = U.shape[1]
        key = _key(stamps)
        new = [c for c in range(r + 1) if key(c, c) not in self._sym]
        if not new:
            return
        column = [U[:, c] for c in range(r)] + [y]
        N = self.n_groups
        if 8 * U.shape[0] * (r + 1) > _MIRROR_MAX_BYTES:
            self._mirror = None
            for c in new:  # the column as the indicator's values, times each column
                todo = [b for b in range(r + 1) if key(c, b) not in self._sym]
                sums = cluster_crossprods(None, N, column[c][:, None], column[todo[0]],
                                          *[column[b] for b in todo[1:]], indicator=self.index)
                for b, per in zip(todo, sums if len(todo) > 1 else (sums,)):
                    self._sym[key(c, b)] = per[:, 0]
                    self._totals[key(c, b)] = float(per.sum())
            return
        mirror, seen = self._mirror if self._mirror is not None else (None, None)
        if mirror is None or mirror.shape != (U.shape[0], r + 1):
            mirror, seen = np.empty((U.shape[0], r + 1)), [0] * (r + 1)
        for c in range(r + 1):
            if seen[c] != stamps[c]:
                mirror[:, c] = column[c]
                seen[c] = stamps[c]
        self._mirror = (mirror, seen)
        if 2 * len(new) > r + 1:  # one product with every column on the left
            S = self._left_matrix(r + 1, U.shape[0])
            S.data = mirror.reshape(-1)
            try:
                sums = (S @ mirror).reshape(N, r + 1, r + 1)
            finally:
                S.data = np.broadcast_to(0.0, S.data.shape)
            new = list(range(r + 1))
        else:  # each new column as the values of the cluster indicator
            sums = np.stack([cluster_crossprods(None, N, column[c][:, None], mirror,
                                                indicator=self.index)[:, 0] for c in new], axis=1)
        totals = sums.sum(axis=0)
        for i, c in enumerate(new):
            for b in range(r + 1):
                self._sym[key(c, b)] = sums[:, i, b]
                self._totals[key(c, b)] = float(totals[i, b])

    def _compute_totals(self, U, y, cols, stamps) -> None:
        """The products of ``cols`` with every column of ``[U | y]``, summed over the rows."""
        r = U.shape[1]
        in_u = [b for b in cols if b < r]
        with_y = cols[-1] == r
        T = np.empty((r + 1, len(cols)))
        Uy = U.T @ y if with_y else None
        if len(in_u) == 1:  # one column (the usual visit): two matrix-vector products
            column = U[:, in_u[0]]
            T[:r, 0] = U.T @ column
            T[r, 0] = Uy[in_u[0]] if with_y else y @ column
        elif in_u:  # several: the whole Gram matrix in one product (BLAS)
            T[:r, : len(in_u)] = (U.T @ U)[:, in_u]
            T[r, : len(in_u)] = (Uy if with_y else y @ U)[in_u]
        if with_y:
            T[:r, -1] = Uy
            T[r, -1] = y @ y
        key = _key(stamps)
        for k, b in enumerate(cols):
            for a in range(r + 1):
                self._totals[key(a, b)] = float(T[a, k])

    def _left_matrix(self, width: int, n: int):
        """Sparse ``(n_groups * width, n_rows)`` with ``width`` entries per column, at
        rows ``units_i * width + k``: its values (``data``) are set by the caller."""
        S = self._structure.get(width)
        if S is None:
            indices, indptr = _structure(self.groups, width)
            S = sp.csc_array((np.zeros(n * width), indices, indptr),
                             shape=(self.n_groups * width, n))
            self._structure[width] = S
        return S

    def _left_values(self, U, y, left, stamps, left_values=None) -> np.ndarray:
        """The left columns row by row (``L.ravel()``): the caller's array when it
        has one, else a copy kept while the columns keep their stamps."""
        width = len(left)
        if left_values is not None and left_values.flags.c_contiguous:
            return left_values.reshape(-1)
        if left == list(range(width)) and width == U.shape[1] and U.flags.c_contiguous:
            return U.reshape(-1)  # every column of U, already row by row
        owner = tuple(stamps[a] for a in left)
        values = self._left.get(owner)
        if values is None:
            values = np.empty((U.shape[0], width))
            for k, a in enumerate(left):
                values[:, k] = y if a == U.shape[1] else U[:, a]
            values = values.reshape(-1)
            self._left = dict(list(self._left.items())[-_KEEP_LEFT + 1:])
            self._left[owner] = values
        return values


def _key(stamps):
    """The key of the pair of columns ``(a, b)``: their stamps, smaller first."""

    def key(a, b):
        s, t = stamps[a], stamps[b]
        return (s, t) if s <= t else (t, s)

    return key


def _columns(U, cols):
    """``U[:, cols]`` as a C-contiguous array."""
    if len(cols) == U.shape[1] and cols == list(range(U.shape[1])):
        return np.ascontiguousarray(U)
    if len(cols) == 1:
        return np.ascontiguousarray(U[:, cols[0]])[:, None]
    return np.ascontiguousarray(U[:, cols])


def _structure(units: np.ndarray, width: int):
    """Row indices and column pointers of the left matrix of ``width`` columns."""
    n = units.shape[0]
    big = max(n * width, (int(units.max(initial=0)) + 1) * width) >= np.iinfo(np.int32).max
    dtype = np.int64 if big else np.int32
    first = units.astype(dtype, copy=True)
    if width == 1:
        return first, np.arange(n + 1, dtype=dtype)
    first *= width
    indices = np.empty(n * width, dtype=dtype)
    for k in range(width):  # the (few) left columns: one strided write each
        np.add(first, k, out=indices[k::width])
    return indices, np.arange(0, n * width + 1, width, dtype=dtype)
