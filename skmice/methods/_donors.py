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


def _segments(sizes: np.ndarray):
    """Segment id and offset within the segment of every element of concatenated segments."""
    starts = np.cumsum(sizes) - sizes
    seg = np.repeat(np.arange(sizes.size), sizes)
    return seg, np.arange(seg.size) - starts[seg], starts


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
    seg, offset, _ = _segments(W)
    cand = lo[seg] + offset
    dist = np.abs(sorted_means[cand] - q_val[seg])
    own = donor_groups[cand] == q_grp[seg]

    # the P-th nearest distance per query group, of all donors and of other clusters
    # ``offset`` also numbers the positions of any ordering sorted by segment first
    def pth(d):
        o = np.lexsort((d, seg))
        at = o[offset == P[seg[o]] - 1]
        out = np.full(P.size, np.inf)
        out[seg[at]] = d[at]
        return out

    d_other = np.where(own, np.inf, dist)
    use_other = pth(d_other) <= pth(dist) + q_tol
    eff = np.where(use_other[seg], d_other, dist)

    o = np.lexsort((rng.random(eff.size), eff, seg))  # nearest first, ties at random
    pool = o[offset < P[seg[o]]]  # the P nearest of each query group, grouped
    shuffled = pool[np.lexsort((rng.random(pool.size), seg[pool]))]
    starts = np.cumsum(P) - P
    # distinct within a query group (as far as there are donors: n may be < m_g)
    pick = shuffled[starts[group_of] + rank % P[group_of]]
    out = np.empty(m, dtype=np.int64)
    out[order] = cand[pick]
    return out
