"""Donor matching for two-level predictive mean matching.

Two-level PMM imputes a row with the observed value of a donor whose
predicted mean ``x'beta + z'b_j`` is close to the row's. Rows of one cluster
that share a response pattern share their predicted mean exactly, and the
nearest donors are then the cluster's own observed rows: copying them repeats
the cluster's own residuals, which inflates the random-effect variances and
shrinks the residual variance of the completed data (a random slope variance
inflated by half in the popularity data). The matching here avoids both:

- donors come from other clusters, whose residuals are independent of the
  cluster's own, unless no other cluster has a donor within ``tolerance`` of
  the predicted mean (clusters far apart: then the nearest donors, own cluster
  included, as plain PMM);
- rows of one cluster with the same predicted mean draw distinct donors
  (without replacement) from the ``max(donors, m)`` nearest, ``m`` their
  number.

All of it is vectorised over the rows: no Python loop over rows or clusters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_donors", "match_clustered_donors"]


def match_donors(sorted_means, queries, donors, rng) -> np.ndarray:
    """Index of a random donor among the ``donors`` nearest ``sorted_means`` of each query.

    ``sorted_means`` is sorted ascending; the ``donors`` nearest values of a
    query form a contiguous block around its insertion point, so only a
    window of ``2 * donors`` candidates per query is examined.

    Parameters
    ----------
    sorted_means : ndarray of shape (n,)
        Predicted means of the donors, sorted ascending.
    queries : ndarray of shape (m,)
        Predicted means of the rows to impute.
    donors : int
        Number of nearest donors to choose from.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (m,)
        Positions in ``sorted_means``.

    Examples
    --------
    >>> import numpy as np
    >>> match_donors(np.arange(10.0), np.array([4.2, 9.9]), 1, np.random.default_rng(0))
    array([4, 9])
    """
    n = sorted_means.shape[0]
    d = min(donors, n)
    m = queries.shape[0]
    pos = np.searchsorted(sorted_means, queries)
    cand = pos[:, None] + np.arange(-d, d)[None, :]
    valid = (cand >= 0) & (cand < n)
    cand = np.clip(cand, 0, n - 1)
    dist = np.abs(sorted_means[cand] - queries[:, None])
    dist[~valid] = np.inf
    nearest = np.argpartition(dist, d - 1, axis=1)[:, :d]
    pick = nearest[np.arange(m), rng.integers(0, d, size=m)]
    return cand[np.arange(m), pick]


def _own_in_window(own_keys, n, clusters, lo, hi) -> np.ndarray:
    """Number of donors of ``clusters`` at sorted positions in ``[lo, hi)``."""
    base = clusters.astype(np.int64) * (n + 1)
    return np.searchsorted(own_keys, base + hi) - np.searchsorted(own_keys, base + lo)


def _windows(sorted_means, donor_groups, q_pos, q_group, P):
    """Half-widths of index windows around ``q_pos`` holding ``P`` other-cluster donors per side.

    Starting from ``P``, each query group's half-width doubles until each
    side holds at least ``P`` donors of other clusters or reaches the end.
    """
    n = sorted_means.shape[0]
    order = np.lexsort((np.arange(n), donor_groups))
    own_keys = donor_groups[order].astype(np.int64) * (n + 1) + order
    E = P.copy()
    todo = np.ones(P.size, dtype=bool)
    while todo.any():
        i = np.flatnonzero(todo)
        lo = np.maximum(q_pos[i] - E[i], 0)
        hi = np.minimum(q_pos[i] + E[i], n)
        left = (q_pos[i] - lo) - _own_in_window(own_keys, n, q_group[i], lo, q_pos[i])
        right = (hi - q_pos[i]) - _own_in_window(own_keys, n, q_group[i], q_pos[i], hi)
        ok = ((left >= P[i]) | (lo == 0)) & ((right >= P[i]) | (hi == n))
        E[i[~ok]] *= 2
        todo[i[ok]] = False
    return E


def match_clustered_donors(
    sorted_means, donor_groups, queries, groups, donors, tolerance, rng
) -> np.ndarray:
    """Donors for the rows of a two-level PMM, from other clusters and distinct within one.

    Parameters
    ----------
    sorted_means : ndarray of shape (n,)
        Predicted means of the donors, sorted ascending.
    donor_groups : ndarray of int, shape (n,)
        Cluster codes of the donors, in the same order.
    queries : ndarray of shape (m,)
        Predicted means of the rows to impute.
    groups : ndarray of int, shape (m,)
        Cluster codes of the rows to impute (codes of new clusters have no
        donors of their own).
    donors : int
        Size of the donor pool of a row (grown to ``m_g`` for ``m_g`` rows of
        one cluster sharing a predicted mean).
    tolerance : ndarray of shape (m,)
        How much farther than the nearest donors (own cluster included) the
        other clusters' donors may be; beyond it, a row's pool is the nearest
        donors of any cluster.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (m,)
        Positions in ``sorted_means``.

    Examples
    --------
    >>> import numpy as np
    >>> means = np.array([0.0, 0.0, 0.01, 0.02, 5.0])
    >>> donor_groups = np.array([0, 0, 1, 2, 3])
    >>> idx = match_clustered_donors(means, donor_groups, np.array([0.0, 0.0]),
    ...                              np.array([0, 0]), 1, np.full(2, 0.5),
    ...                              np.random.default_rng(0))
    >>> sorted(donor_groups[idx].tolist())  # other clusters, two distinct donors
    [1, 2]
    """
    n = sorted_means.shape[0]
    m = queries.shape[0]
    if m == 0:
        return np.empty(0, dtype=np.int64)
    pos = np.searchsorted(sorted_means, queries)
    order = np.lexsort((pos, groups))
    g_sorted, p_sorted = groups[order], pos[order]
    new = np.ones(m, dtype=bool)
    new[1:] = (g_sorted[1:] != g_sorted[:-1]) | (p_sorted[1:] != p_sorted[:-1])
    first = np.flatnonzero(new)
    group_of = np.cumsum(new) - 1  # query group of each sorted query
    size = np.diff(np.append(first, m))
    rank = np.arange(m) - first[group_of]
    P = np.minimum(np.maximum(size, donors), n)
    q_val, q_pos, q_grp = queries[order][first], p_sorted[first], g_sorted[first]
    q_tol = tolerance[order][first]

    E = _windows(sorted_means, donor_groups, q_pos, q_grp, P)
    lo = np.maximum(q_pos - E, 0)
    W = np.minimum(q_pos + E, n) - lo
    # query groups in classes of window width (windows double: a few classes),
    # each class a matrix of candidate positions, one row per query group
    starts = np.cumsum(P) - P
    pools = np.empty(int(P.sum()), dtype=np.int64)  # each group's pool, shuffled, in a row
    width_class = np.ceil(np.log2(np.maximum(W, 1))).astype(np.int64)
    for cls in np.unique(width_class).tolist():  # loop over width classes, not groups
        g = np.flatnonzero(width_class == cls)
        chosen = _pools(sorted_means, donor_groups, lo[g], W[g], q_val[g], q_grp[g],
                        q_tol[g], P[g], rng)
        k = np.arange(chosen.shape[1])
        kept = k < P[g][:, None]
        pools[(starts[g][:, None] + k)[kept]] = chosen[kept]
    # distinct within a query group (as far as there are donors: n may be < m_g)
    out = np.empty(m, dtype=np.int64)
    out[order] = pools[starts[group_of] + rank % P[group_of]]
    return out


def _pools(sorted_means, donor_groups, lo, W, q_val, q_grp, q_tol, P, rng) -> np.ndarray:
    """The ``P`` nearest donors of each query group, in random order (positions).

    One row per query group: its window of candidates ``lo + [0, W)``, padded
    to the widest. Donors of other clusters are used when the ``P``-th
    nearest of them lies within ``q_tol`` of the ``P``-th nearest of all;
    ties in distance are broken at random.
    """
    n = sorted_means.shape[0]
    cols = np.arange(int(W.max()))
    valid = cols < W[:, None]
    cand = np.minimum(lo[:, None] + cols, n - 1)
    dist = np.where(valid, np.abs(sorted_means[cand] - q_val[:, None]), np.inf)
    d_other = np.where(donor_groups[cand] == q_grp[:, None], np.inf, dist)
    at = (P - 1)[:, None]

    def pth(d):  # the P-th nearest distance of each row
        return np.take_along_axis(np.sort(d, axis=1), at, axis=1)[:, 0]

    use_other = pth(d_other) <= pth(dist) + q_tol
    eff = np.where(use_other[:, None], d_other, dist)
    # nearest first, the padding after every candidate, ties at random
    o = np.lexsort((rng.random(eff.shape), ~valid, eff), axis=1)[:, : int(P.max())]
    keys = rng.random(o.shape)
    keys[np.arange(o.shape[1]) >= P[:, None]] = 2.0  # only the P nearest are shuffled
    shuffled = np.take_along_axis(o, np.argsort(keys, axis=1), axis=1)
    return np.take_along_axis(cand, shuffled, axis=1)

