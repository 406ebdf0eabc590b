"""Per-cluster cross-products of a design's columns, kept between visits by stamp.

The chained-equations loop fits a target's model on the same rows at every
visit, and between two visits only the columns of the predictors imputed in
the meantime change. :class:`ColumnGram` keeps, for every pair of columns,
the per-cluster sums of their product (and their total), keyed by the
columns' stamps (:class:`~skmice.methods.Design` ``stamps``); a call
computes only the pairs with a column it has not seen, one pass over the
rows per new column, and :meth:`ColumnGram.retain` forgets the pairs of
columns rewritten since. Without stamps every pair is computed afresh.
"""

from __future__ import annotations

import numpy as np

from .._grouped import cluster_crossprods

__all__ = ["ColumnGram"]


class ColumnGram:
    """Per-cluster sums of products of columns, kept by the columns' stamps.

    Parameters
    ----------
    index : sparse matrix of shape (n_groups, n_rows)
        The cluster-indicator matrix of the rows
        (:func:`skmice._grouped.cluster_indicator`); its values serve as
        scratch space and are restored.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._grouped import cluster_indicator
    >>> from skmice.methods._column_gram import ColumnGram
    >>> g = np.array([0, 0, 1])
    >>> U, y = np.array([[1.0], [1.0], [1.0]]), np.array([2.0, 3.0, 5.0])
    >>> gram = ColumnGram(cluster_indicator(g, 2))
    >>> per_cluster, totals = gram.products(U, y, [7, 8], [0, 1], [0, 1])
    >>> per_cluster[0]
    array([[ 2.,  5.],
           [ 5., 13.]])
    >>> totals
    array([[ 3., 10.],
           [10., 38.]])
    """

    def __init__(self, index):
        self.index = index
        self._pairs = {}  # (stamp, stamp) -> per-cluster sums of the product
        self._totals = {}  # (stamp, stamp) -> its sum over the rows

    def products(self, U, y, stamps, left, right, per_cluster: bool = True):
        """Per-cluster cross-products of columns of ``[U | y]`` and their totals.

        Parameters
        ----------
        U : ndarray of shape (n_rows, r)
            The design's columns.
        y : ndarray of shape (n_rows,)
            The target (position ``r``).
        stamps : sequence of int, length r + 1
            Each column's stamp; a column with a stamp <= 0 is computed afresh
            and not kept.
        left, right : sequence of int
            Positions of the left and right factors' columns in ``[U | y]``.
        per_cluster : bool, default=True
            Return the per-cluster sums (else None in their place: only the
            totals are wanted).

        Returns
        -------
        per_cluster : ndarray of shape (n_groups, len(left), len(right)) or None
            ``[U_j | y_j][:, left]' [U_j | y_j][:, right]``.
        totals : ndarray of shape (len(left), len(right))
            Their sums over the clusters.
        """
        # unknown columns (stamp <= 0) get identifiers of this call only
        stamps = [int(s) if s > 0 else -1 - i for i, s in enumerate(stamps)]
        keys = [[(min(stamps[a], stamps[b]), max(stamps[a], stamps[b])) for b in right]
                for a in left]
        wanted = self._pairs if per_cluster else self._totals
        compute = self._compute if per_cluster else self._compute_totals
        for row in keys:
            for b, key in zip(right, row):
                if key not in wanted:  # one pass gives all of b's pairs
                    compute(U, y, b, stamps)
        totals = np.array([[self._totals[key] for key in row] for row in keys])
        out = None
        if per_cluster:
            out = np.empty((self.index.shape[0], len(left), len(right)))
            for i, row in enumerate(keys):
                for k, key in enumerate(row):
                    out[:, i, k] = self._pairs[key]
        if min(stamps) <= 0:  # nothing of this call's own columns is kept
            self._pairs = {k: v for k, v in self._pairs.items() if k[0] > 0}
            self._totals = {k: v for k, v in self._totals.items() if k[0] > 0}
        return out, totals

    def retain(self, stamps) -> None:
        """Forget the pairs with a column whose stamp is not among ``stamps``."""
        current = {int(s) for s in stamps}
        self._pairs = {k: v for k, v in self._pairs.items() if k[0] in current and k[1] in current}
        self._totals = {k: v for k, v in self._totals.items()
                        if k[0] in current and k[1] in current}

    def _compute(self, U, y, a, stamps) -> None:
        """Column ``a``'s per-cluster products with every column: one pass over the rows."""
        column = y if a == U.shape[1] else U[:, a]
        N = self.index.shape[0]
        with_U, with_y = cluster_crossprods(None, N, column[:, None], U, y, indicator=self.index)
        sums = np.empty((N, U.shape[1] + 1))
        sums[:, :-1] = with_U[:, 0]
        sums[:, -1] = with_y[:, 0]
        totals = sums.sum(axis=0)
        for b, t in enumerate(stamps):
            key = (min(stamps[a], t), max(stamps[a], t))
            self._pairs[key] = sums[:, b]
            self._totals[key] = float(totals[b])

    def _compute_totals(self, U, y, a, stamps) -> None:
        """Column ``a``'s products with every column, summed over the rows."""
        column = y if a == U.shape[1] else U[:, a]
        totals = np.append(column @ U, column @ y)
        for b, t in enumerate(stamps):
            self._totals[(min(stamps[a], t), max(stamps[a], t))] = float(totals[b])
