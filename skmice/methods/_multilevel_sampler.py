"""Gibbs sampler of the linear mixed model with several grouping factors (ml.norm, ml.pmm).

The model, for row ``i`` with unit ``g_k(i)`` at grouping level ``k = 1..K``::

    y_i = x_i' beta + sum_k z_ki' b_k,g_k(i) + e_i,
    b_k,u ~ N(0, Psi_k),  e_i ~ N(0, sigma^2),

where every level has a random intercept and some levels random slopes; the
levels may be nested (pupils in classes in schools) or crossed (pupils in
schools and in neighbourhoods): the sampler does not distinguish them.

Plain functions on numpy arrays; no loop over units or rows in Python (loops
run over the few levels and the few random columns).

*Cells.* The rows are reduced once per ``fit`` to the distinct combinations
of their units over all levels ("cells"): for nested levels a cell is a
unit of the lowest level; for crossed ones a (school, neighbourhood) pair.
Every random part ``Z_k`` is a subset of the columns of one matrix ``Z``
(the first level's), so the per-cell cross-products ``Z_c'Z_c``,
``Z_c'[X_c | y_c]`` (from :func:`skmice.methods._twolevel._prepare`, in
standardised units) and the global ``X'X``, ``X'y``, ``y'y`` hold all the data
a Gibbs step needs. A step then costs ``O(C q^2 K + sum_k N_k q_k^2 p)`` for
``C`` cells, ``N_k`` units and ``q_k`` random columns at level ``k``: it never
touches the rows again.

*The step.* The levels are grouped into *blocks*: chains of levels each
nested in the next (pupils in classes in schools: one block; schools and
neighbourhoods: two; classes in schools crossed with neighbourhoods: two).
For each block in turn, a joint draw of ``beta`` and all the block's random
effects given the other blocks' effects: backward, the lowest level's
effects are integrated out of its units' cross-products (Woodbury), which
are summed into the units of the level above, and so on up the chain; then
``beta`` with the whole block integrated out; forward, each level's effects
given ``beta`` and the levels above, all units of a level at once (batched
``q_k x q_k`` Cholesky factors). Then ``sigma^2`` and every ``Psi_k``. For
crossed factors this is the collapsed Gibbs sampler of Papaspiliopoulos,
Roberts and Zanella (2020), generalised to covariates and random slopes:
drawing ``beta`` (the global mean and the level covariates' effects) jointly
with each factor keeps its mixing time from growing with the data, where
single-site Gibbs (``beta | b``, then each ``b_k | beta, b_-k``) slows down.
For nested levels it is an exact joint draw of all random effects and
``beta``: single-site Gibbs mixes slowly there too when units hold many
rows (the school effect and its classes' effects are then nearly
confounded). ``collapsed=False`` gives the single-site sampler, kept for
comparisons.

*Row weights.* The logistic models (ml.bin, ml.polyreg) run the same step on
a weighted linear mixed model: given Polya-Gamma weights ``omega_i``,
:func:`reweight` replaces the cell statistics by ``Z_c' Omega_c [Z_c | X_c]``
and ``Z_c' kappa_c`` (the rows kept in standardised units by
:func:`standardised_rows`, the cells and standardisation unchanged), and
:func:`gibbs_step` runs with the residual variance fixed at 1 and the weak
prior ``Statistics.prior_prec`` on ``beta``. Only the cross-products are
recomputed per step (``O(n (p + q)^2)``); the blocked and collapsed updates
are those of the linear model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    batched_spd_inverse,
    cluster_crossprods,
    cluster_indicator,
    draw_mvn_precision,
)
from ._base import Design
from ._polyagamma import random_polyagamma
from ._twolevel import (
    SIGMA2_PRIOR_DF,
    SIGMA2_PRIOR_SCALE,
    _draw_fixed,
    _draw_psi,
    _inverse_psi,
    _minus_and_one,
    _ols,
    _prepare,
    _stack_dot,
    _z_transform,
)

__all__ = [
    "Block",
    "LevelStats",
    "Rows",
    "State",
    "Statistics",
    "gibbs_step",
    "initial_state",
    "linear_predictor",
    "make_cells",
    "new_unit_effects",
    "reweight",
    "standardised_rows",
    "statistics",
]

#: Gibbs sweeps over the effects of units new to the model when units at
#: several levels are new (a new class in a new school); one sweep is exact
#: when only one level has new units.
NEW_UNIT_SWEEPS = 10
#: Mixed-radix cell keys must stay below this (else rows are compared).
_MAX_KEY = 2**62


# ---------------------------------------------------------------------------
# cells and per-level statistics
# ---------------------------------------------------------------------------


def make_cells(levels) -> tuple[np.ndarray, int, list, bool]:
    """The cells of the rows: the distinct combinations of their units.

    Parameters
    ----------
    levels : list of tuple (groups, n_groups)
        Unit codes of every row and number of units, per level, lowest first.

    Returns
    -------
    cell : ndarray of int64, shape (n_rows,)
        Cell code of every row, in ``[0, n_cells)``.
    n_cells : int
    unit : list of ndarray of int64, shape (n_cells,)
        Unit of every cell at each level (0 for cells without rows).
    nested : bool
        Whether the lowest level is nested in every other: then the cells
        are the units of the lowest level (no sorting needed).

    Examples
    --------
    >>> import numpy as np
    >>> cell, C, unit, nested = make_cells([(np.array([0, 0, 1, 2]), 3),
    ...                                     (np.array([0, 0, 0, 1]), 2)])
    >>> cell.tolist(), C, unit[1].tolist(), nested
    ([0, 0, 1, 2], 3, [0, 0, 1], True)
    >>> cell, C, unit, nested = make_cells([(np.array([0, 1, 0, 1]), 2),
    ...                                     (np.array([0, 0, 1, 1]), 2)])
    >>> C, nested
    (4, False)
    """
    g0, N0 = levels[0]
    g0 = np.array(g0, dtype=np.int64)  # a copy: the design's arrays belong to the imputer
    parents = []
    for g, _ in levels[1:]:
        parent = np.full(max(int(N0), 1), -1, dtype=np.int64)
        parent[g0] = g
        if not np.array_equal(parent[g0], g):
            break
        parents.append(np.maximum(parent[: int(N0)], 0))
    else:
        return g0, int(N0), [np.arange(int(N0), dtype=np.int64), *parents], True
    width = 1.0
    for _, N in levels:
        width *= max(int(N), 1)
    if width < _MAX_KEY:
        key = np.zeros(g0.shape[0], dtype=np.int64)
        for g, N in levels:
            key *= max(int(N), 1)
            key += g
        _, first, cell = np.unique(key, return_index=True, return_inverse=True)
    else:  # pragma: no cover - astronomically many unit combinations
        stacked = np.column_stack([g for g, _ in levels])
        _, first, cell = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    unit = [np.asarray(g, dtype=np.int64)[first] for g, _ in levels]
    return cell, int(first.size), unit, False


@dataclass
class LevelStats:
    """One grouping level's part of the statistics (standardised units).

    ``cols``: the columns of ``Z`` this level's random effects load on
    (column 0, the intercept, first); ``unit``: the unit of every cell;
    ``N``: number of units; ``index``: the sparse units-by-cells indicator
    (None when the units are the cells); ``ZtZ`` (N, q, q) and ``ZtX``
    (N, q, p): the per-unit cross-products, which stay fixed within a fit.
    """

    cols: np.ndarray
    unit: np.ndarray
    N: int
    index: object
    ZtZ: np.ndarray
    ZtX: np.ndarray

    @property
    def q(self) -> int:
        return self.cols.size

    def sum(self, per_cell: np.ndarray) -> np.ndarray:
        """Sum a per-cell array (C, ...) over the cells of every unit (N, ...)."""
        if self.index is None:
            return per_cell
        C = per_cell.shape[0]
        flat = per_cell.reshape(C, -1)
        return (self.index @ flat).reshape((self.N,) + per_cell.shape[1:])


@dataclass
class Block:
    """A chain of nested levels updated jointly (with the fixed effects).

    ``levels``: positions in ``Statistics.levels``, lowest first, each
    nested in the next; ``parents[i]``: the unit of ``levels[i + 1]`` of
    every unit of ``levels[i]``; ``up[i]``: the sparse matrix summing
    per-unit arrays of ``levels[i]`` into those of ``levels[i + 1]``;
    ``ZtZ`` (N, q, q) and ``ZtX`` (N, q, p): the lowest level's per-unit
    cross-products over *all* columns of ``Z`` (the levels above load on
    some of them).
    """

    levels: list
    parents: list
    up: list
    ZtZ: np.ndarray
    ZtX: np.ndarray


@dataclass
class Statistics:
    """What a Gibbs step reads: the cell statistics ``pb``, the levels and their blocks."""

    pb: object  # skmice.methods._twolevel._Problem over the cells
    levels: list
    nested: bool
    blocks: list = None
    #: Prior precision of ``beta`` (p,), standardised units; None: flat prior.
    prior_prec: np.ndarray = None
    #: Cell of every row and the sparse cells-by-rows indicator.
    cell: np.ndarray = None
    cell_index: object = None

    @property
    def p(self) -> int:
        return self.pb.fixed.size


@dataclass
class State:
    """The sampler's state in standardised units."""

    beta: np.ndarray
    b: list
    psi: list
    sigma2: float


def statistics(design: Design, y: np.ndarray, levels, cols, method: str,
               cache: dict) -> Statistics:
    """Reduce the observed rows to cell statistics; the per-level parts.

    Parameters
    ----------
    design : Design
        Fixed part ``X`` and the first level's ``Z`` (every level's random
        columns are among them).
    y : ndarray of shape (n_rows,)
    levels : list of tuple (groups, n_groups)
        Unit codes and number of units per level, lowest first.
    cols : list of ndarray of int
        Columns of ``Z`` with random effects at each level (0 first).
    method : str
        Name for messages.
    cache : dict
        Kept between calls: the cells are recomputed only when the unit
        codes change (the chained-equations loop fits on the same rows at
        every visit).
    """
    keys = cache.get("keys")
    if keys is not None and len(keys) == len(levels) and all(
        N == n and g.shape == k.shape and np.array_equal(g, k)
        for (g, N), (k, n) in zip(levels, keys)
    ):
        cell, C, unit, nested = cache["cells"]
    else:
        cell, C, unit, nested = make_cells(levels)
        cache.clear()
        cache["keys"] = [(np.array(g, copy=True), N) for g, N in levels]
        cache["cells"] = (cell, C, unit, nested)
        cache["prepare"] = {}
        cache["index"] = {}
    cell_design = Design(X=design.X, Z=design.Z, groups=cell, n_groups=C, z_in_x=design.z_in_x)
    pb = _prepare(cell_design, y, method, "normal", cache["prepare"])
    parts = []
    for k, ((_, N), c) in enumerate(zip(levels, cols)):
        identity = nested and k == 0
        if identity:
            index = None
        else:
            index = cache["index"].get(k)
            if index is None:
                index = cache["index"][k] = cluster_indicator(unit[k], N)
        parts.append(LevelStats(c, unit[k], int(N), index, None, None))
    st = Statistics(pb, parts, nested, cell=cell, cell_index=cache["prepare"]["gram"].index)
    st.blocks = _blocks(st, unit, cache)
    _level_sums(st)
    return st


def _level_sums(st: Statistics) -> None:
    """Sum the cell cross-products into every level's and every block's units."""
    pb = st.pb
    p = pb.fixed.size
    for lv in st.levels:
        c = lv.cols
        lv.ZtZ = np.ascontiguousarray(lv.sum(pb.ZtZ[:, c[:, None], c]))  # (N, q, q)
        lv.ZtX = np.ascontiguousarray(lv.sum(pb.ZtXy[:, c, :p]))  # (N, q, p)
    for block in st.blocks:
        low = st.levels[block.levels[0]]
        block.ZtZ = np.ascontiguousarray(low.sum(pb.ZtZ))
        block.ZtX = np.ascontiguousarray(low.sum(pb.ZtXy[:, :, :p]))


def _parent_map(child: np.ndarray, n_child: int, parent: np.ndarray) -> np.ndarray | None:
    """The unit of the upper level of every unit of the lower one, given the units of
    every cell at both; None when the lower level is not nested in the upper."""
    out = np.full(max(n_child, 1), -1, dtype=np.int64)
    out[child] = parent
    if not np.array_equal(out[child], parent):
        return None
    return np.maximum(out[:n_child], 0)  # units without cells: any parent (no data)


def _blocks(st: Statistics, unit: list, cache: dict) -> list:
    """Group the levels into chains of nested levels (lowest first); each chain is
    drawn jointly. Pupils in classes in schools: one chain; schools and
    neighbourhoods: two; classes in schools crossed with neighbourhoods: two."""
    chains = []  # lists of level positions
    parents = []
    for k in range(len(st.levels)):
        for chain, pars in zip(chains, parents):
            top = chain[-1]
            par = _parent_map(unit[top], st.levels[top].N, unit[k])
            if par is not None:
                chain.append(k)
                pars.append(par)
                break
        else:
            chains.append([k])
            parents.append([])
    blocks = []
    for chain, pars in zip(chains, parents):
        key = ("block", tuple(chain))
        up = cache.get(key)
        if up is None:
            up = cache[key] = [cluster_indicator(par, st.levels[chain[i + 1]].N)
                               for i, par in enumerate(pars)]
        blocks.append(Block(chain, pars, up, None, None))  # sums: _level_sums
    return blocks


# ---------------------------------------------------------------------------
# Gibbs steps
# ---------------------------------------------------------------------------


def _cell_dot(ZtZ: np.ndarray, E: np.ndarray) -> np.ndarray:
    """``ZtZ_c E_c`` for every cell: loops over the (few) columns, vectorised over cells."""
    out = ZtZ[:, :, 0] * E[:, 0:1]
    for j in range(1, E.shape[1]):
        out += ZtZ[:, :, j] * E[:, j : j + 1]
    return out


def cell_effects(st: Statistics, b: list) -> np.ndarray:
    """Per cell, every level's random effects placed on their columns of ``Z`` (C, q)."""
    pb = st.pb
    E = np.zeros((pb.ZtZ.shape[0], pb.q))
    for lv, bk in zip(st.levels, b):
        E[:, lv.cols] += bk[lv.unit]
    return E


def residual_ss(st: Statistics, beta: np.ndarray, E: np.ndarray) -> float:
    """``|y - X beta - sum_k Z_k b_k|^2`` from the cell statistics."""
    pb = st.pb
    beta1 = _minus_and_one(beta)
    r = _stack_dot(pb.ZtXy, beta1)  # Z_c'(y_c - X_c beta)
    ssr = (
        pb.yty
        - 2 * beta @ pb.Xty
        + beta @ pb.XtX @ beta
        - 2 * np.vdot(E, r)
        + np.vdot(E, _cell_dot(pb.ZtZ, E))
    )
    return max(float(ssr), 0.0)


def _sum_up(index, per_unit: np.ndarray) -> np.ndarray:
    """Sum a per-unit array (N, ...) into the units of the level above."""
    N = per_unit.shape[0]
    return (index @ per_unit.reshape(N, -1)).reshape((index.shape[0],) + per_unit.shape[1:])


def _block_step(st: Statistics, block: Block, state: State, b: list, Eo: np.ndarray,
                rng: np.random.Generator):
    """Joint draw of ``beta`` and every level's effects of one chain of nested levels,
    given the other chains' effects ``Eo`` (per cell, on the columns of ``Z``).

    Backward: the lowest level's effects are integrated out of the per-unit
    cross-products (``A = Z'V^-1 Z``, ``C = Z'V^-1 X``, ``d = Z'V^-1 r`` by
    Woodbury, ``V`` the covariance of the rows given the levels above),
    which are summed into the units of the next level, and so on to the top;
    then ``beta`` from ``X'V^-1 X`` and ``X'V^-1 r``. Forward: the top level's
    effects given ``beta``, each lower level's given ``beta`` and the levels
    above. With one level this is the blocked draw of 2l.pan.
    """
    pb = st.pb
    p = st.p
    C, q0 = pb.ZtZ.shape[:2]
    sigma2 = state.sigma2
    low = st.levels[block.levels[0]]
    t = pb.ZtXy[:, :, p] - _cell_dot(pb.ZtZ, Eo)  # Z_c'(y_c - other chains), per cell
    A, Cx, d = block.ZtZ, block.ZtX, low.sum(t)
    XtX = pb.XtX.copy()
    Xr = pb.Xty - Eo.reshape(-1) @ pb.ZtXy.reshape(C * q0, p + 1)[:, :p]
    saved = []
    n_chain = len(block.levels)
    for i, k in enumerate(block.levels):
        lv = st.levels[k]
        S = lv.cols
        top = i == n_chain - 1
        M = A[:, S[:, None], S] + sigma2 * _inverse_psi(state.psi[k])
        L = batched_cholesky(M)
        # [A_S. | C_S | d_S]: the rows of this level's columns
        R = np.concatenate([A[:, S, :], Cx[:, S, :], d[:, S, None]], axis=2)
        W = batched_solve_triangular(L, R)  # (N, q, q0 + p + 1)
        saved.append((L, W))
        Wx = W[:, :, q0:]  # the columns of X and r
        Wf = Wx.reshape(-1, p + 1)
        G = Wf.T @ Wf
        XtX -= G[:p, :p]
        Xr -= G[:p, p]
        if not top:  # the Schur complements, summed into the units of the level above
            Wa = W[:, :, :q0]
            A = A - np.einsum("nqa,nqb->nab", Wa, Wa)
            Cx = Cx - np.einsum("nqa,nqb->nab", Wa, Wx[:, :, :p])
            d = d - np.einsum("nqa,nq->na", Wa, Wx[:, :, p])
            up = block.up[i]
            A, Cx, d = _sum_up(up, A), _sum_up(up, Cx), _sum_up(up, d)
    if st.prior_prec is not None:
        XtX.flat[:: p + 1] += sigma2 * st.prior_prec
    beta = _draw_fixed(XtX, Xr, sigma2, rng)
    beta1 = _minus_and_one(beta)
    e_up = None  # effects of the levels above, per unit of the current level (q0 columns)
    for i in range(n_chain - 1, -1, -1):
        k = block.levels[i]
        lv = st.levels[k]
        L, W = saved[i]
        u = _stack_dot(np.ascontiguousarray(W[:, :, q0:]), beta1)
        if e_up is not None:
            u -= np.einsum("nqa,na->nq", W[:, :, :q0], e_up)
        u += np.sqrt(sigma2) * rng.standard_normal(u.shape)
        b[k] = batched_solve_triangular(L, u, trans=True)
        if i > 0:  # to the units of the level below
            par = block.parents[i - 1]
            mine = np.zeros((lv.N, q0))
            mine[:, lv.cols] = b[k]
            e_up = mine[par] if e_up is None else (e_up + mine)[par]
    return beta


def gibbs_step(st: Statistics, state: State, rng: np.random.Generator,
               collapsed: bool = True, fixed_sigma2: bool = False) -> State:
    """One Gibbs step over ``(beta, b_1..b_K, sigma^2, Psi_1..Psi_K)``.

    ``collapsed=True``: for every chain of nested levels (:class:`Block`) a
    joint draw of ``beta`` and the chain's effects given the other chains'
    (crossed factors are separate chains; nested ones one chain).
    ``collapsed=False``: single-site Gibbs, ``beta`` given every ``b_k``, then
    each ``b_k`` given ``beta`` and the others. ``fixed_sigma2=True`` keeps
    ``state.sigma2`` (weighted models, :func:`reweight`, whose row
    precisions are the weights).
    """
    pb = st.pb
    p = st.p
    C, q0 = pb.ZtZ.shape[:2]
    sigma2 = state.sigma2
    b = list(state.b)
    beta = state.beta
    E = cell_effects(st, b)
    if collapsed:
        for block in st.blocks:
            Eo = E
            for k in block.levels:
                Eo[:, st.levels[k].cols] -= b[k][st.levels[k].unit]
            beta = _block_step(st, block, state, b, Eo, rng)
            E = Eo
            for k in block.levels:
                E[:, st.levels[k].cols] += b[k][st.levels[k].unit]
    else:
        ZtX_flat = pb.ZtXy.reshape(C * q0, p + 1)[:, :p]
        P = pb.XtX if st.prior_prec is None else pb.XtX + np.diag(sigma2 * st.prior_prec)
        beta = _draw_fixed(P, pb.Xty - E.reshape(-1) @ ZtX_flat, sigma2, rng)
        for k, lv in enumerate(st.levels):
            Eo = E
            Eo[:, lv.cols] -= b[k][lv.unit]  # the other levels' effects
            t = pb.ZtXy[:, :, p] - _cell_dot(pb.ZtZ, Eo)  # Z_c'(y_c - other levels)
            d = lv.sum(np.ascontiguousarray(t[:, lv.cols]))
            M = lv.ZtZ + sigma2 * _inverse_psi(state.psi[k])
            L = batched_cholesky(M)
            u = batched_solve_triangular(L, d - _stack_dot(lv.ZtX, beta))
            u += np.sqrt(sigma2) * rng.standard_normal(u.shape)
            b[k] = batched_solve_triangular(L, u, trans=True)
            E = Eo
            E[:, lv.cols] += b[k][lv.unit]
    if not fixed_sigma2:
        ssr = residual_ss(st, beta, E)
        sigma2 = float((ssr + SIGMA2_PRIOR_SCALE) / rng.chisquare(pb.n + SIGMA2_PRIOR_DF))
    psi = [_draw_psi(bk, rng) for bk in b]
    return State(beta, b, psi, sigma2)


def initial_state(st: Statistics) -> State:
    """Starting values (standardised units) from analyses of variance of OLS residuals.

    ``sigma^2`` from the variation within the units of the lowest level,
    each level's intercept variance from the variation between its units
    (for nested levels less the level above's), slope variances a tenth of
    it; random effects start at zero.
    """
    pb = st.pb
    p = st.p
    beta = _ols(pb)
    ssr = max(pb.yty - beta @ pb.Xty, 0.0)
    total = max(ssr / max(pb.n - p, 1), 1e-6)
    rsum = pb.ZtXy[:, 0, p] - pb.ZtXy[:, 0, :p] @ beta  # per cell (column 0: intercept)
    raw, sigma2 = [], None
    for lv in st.levels:
        rs, n_u = lv.sum(rsum), lv.sum(pb.counts)
        has = n_u > 0
        between = float(np.sum(rs[has] ** 2 / n_u[has]))
        n_obs_units = int(has.sum())
        if sigma2 is None:
            within = max(ssr - between, 0.0)
            sigma2 = within / (pb.n - n_obs_units) if pb.n > n_obs_units else total / 2
            sigma2 = float(np.clip(sigma2, 1e-3 * total, total))
        denom = pb.n - np.sum(n_u**2) / pb.n
        raw.append((between - (n_obs_units - 1) * sigma2) / denom if denom > 0 else 0.0)
    psi = []
    for k, lv in enumerate(st.levels):
        v = raw[k] - (raw[k + 1] if st.nested and k + 1 < len(raw) else 0.0)
        v = float(np.clip(v, 0.05 * total, total))
        psi.append(np.diag(np.r_[v, np.full(lv.q - 1, 0.1 * v)]))
    b = [np.zeros((lv.N, lv.q)) for lv in st.levels]
    return State(beta, b, psi, sigma2)


# ---------------------------------------------------------------------------
# row weights: the Gaussian working model of Polya-Gamma augmentation
# ---------------------------------------------------------------------------


@dataclass
class Rows:
    """The observed rows in standardised units: ``X`` (n, p), ``Z`` (n, q) and their
    cells (``cell``, and the sparse indicator ``index``)."""

    X: np.ndarray
    Z: np.ndarray
    cell: np.ndarray
    index: object


def standardised_rows(st: Statistics, design: Design) -> Rows:
    """The rows of ``design`` (those ``st`` was built from) in the standardised units of ``st``."""
    pb = st.pb
    X, Z = design.X, design.Z
    U = X if pb.extra.size == 0 else np.hstack([X, Z[:, pb.extra]])
    Us = (U - pb.centre) / pb.scale
    Us[:, 0] = 1.0
    index = st.cell_index
    if index is None:
        index = cluster_indicator(st.cell, pb.ZtZ.shape[0])
    return Rows(np.ascontiguousarray(Us[:, pb.fixed]), np.ascontiguousarray(Us[:, pb.zmap]),
                st.cell, index)


def linear_predictor(st: Statistics, rows: Rows, state: State) -> np.ndarray:
    """``x_i' beta + sum_k z_ki' b_k`` of every row (standardised units)."""
    E = cell_effects(st, state.b)
    return rows.X @ state.beta + np.einsum("ij,ij->i", rows.Z, E[rows.cell])


def reweight(st: Statistics, rows: Rows, omega: np.ndarray, r: np.ndarray) -> None:
    """Make ``st`` the statistics of the weighted model of the same rows.

    The model ``z_i = x_i' beta + sum_k z_ki' b_k + e_i``, ``e_i ~ N(0, 1 /
    omega_i)`` with working response ``z_i = r_i / omega_i``: the cell
    cross-products become ``Z_c' Omega_c [Z_c | X_c]`` and ``Z_c' r_c``, the
    global ones ``X' Omega X`` and ``X' r``. :func:`gibbs_step` with
    ``fixed_sigma2=True`` and ``state.sigma2 = 1`` then draws ``(beta, b,
    Psi)`` given the weights. Polya-Gamma augmentation of a logistic model
    gives ``omega_i ~ PG(1, eta_i)`` and ``r_i = y_i - 1/2`` (minus ``omega_i``
    times an offset).

    Parameters
    ----------
    st : Statistics
        Modified in place (its standardisation and cells are kept).
    rows : Rows
        The rows ``st`` was built from (:func:`standardised_rows`).
    omega : ndarray of shape (n_rows,)
        Positive row weights.
    r : ndarray of shape (n_rows,)
        ``omega`` times the working response.
    """
    pb = st.pb
    q0 = pb.q
    Xw = rows.X * omega[:, None]
    B = np.concatenate([rows.Z * omega[:, None], Xw, r[:, None]], axis=1)
    per_cell = cluster_crossprods(rows.cell, pb.ZtZ.shape[0], rows.Z, B, indicator=rows.index)
    pb.ZtZ = np.ascontiguousarray(per_cell[:, :, :q0])
    pb.ZtXy = np.ascontiguousarray(per_cell[:, :, q0:])
    pb.XtX = Xw.T @ rows.X
    pb.Xty = rows.X.T @ r
    pb.yty = float(np.sum(r * r / omega))
    _level_sums(st)


# ---------------------------------------------------------------------------
# conversions between standardised and original units
# ---------------------------------------------------------------------------


def level_transforms(st: Statistics) -> list:
    """Per level, ``T_k`` with ``Z_k,std = Z_k T_k`` (rows and columns ``cols``)."""
    Tz = _z_transform(st.pb)
    return [Tz[np.ix_(lv.cols, lv.cols)] for lv in st.levels]


def to_original(st: Statistics, state: State):
    """``(beta, b, psi, sigma2)`` in the units of the data."""
    pb = st.pb
    full = np.zeros(pb.r)
    full[pb.fixed] = state.beta
    coef = pb.y_scale * (pb.T @ full)
    coef[0] += pb.y_centre
    beta = coef[: pb.n_x]
    s = pb.y_scale
    b, psi = [], []
    for T, bk, pk in zip(level_transforms(st), state.b, state.psi):
        b.append(s * (bk @ T.T))
        po = s**2 * (T @ pk @ T.T)
        psi.append((po + po.T) / 2)
    return beta, b, psi, float(state.sigma2 * s**2)


def to_internal(st: Statistics, b: list, psi: list, sigma2: float, beta=None) -> State:
    """A state in this call's standardised units from one in the data's units.

    ``beta`` (the data's units) is converted when given; otherwise the
    state's ``beta`` is zero (the collapsed step draws it first).
    """
    pb = st.pb
    s = pb.y_scale
    b_c, psi_c = [], []
    for T, bk, pk in zip(level_transforms(st), b, psi):
        Ti = np.linalg.inv(T)
        b_c.append((bk / s) @ Ti.T)
        pc = Ti @ pk @ Ti.T / s**2
        psi_c.append((pc + pc.T) / 2)
    beta_c = np.zeros(st.p)
    if beta is not None:
        coef = np.zeros(pb.r)
        coef[: pb.n_x] = beta
        coef[0] -= pb.y_centre
        beta_c = np.linalg.solve(pb.T, coef / s)[pb.fixed]
    return State(beta_c, b_c, psi_c, float(sigma2 / s**2))


# ---------------------------------------------------------------------------
# random effects of rows: known units and units new to the model
# ---------------------------------------------------------------------------


def random_part(Z: np.ndarray, levels, cols, b) -> np.ndarray:
    """``sum_k z_ki' b_k,g_k(i)`` for every row (codes must index ``b``)."""
    out = np.zeros(Z.shape[0])
    for g, c, bk in zip(levels, cols, b):
        out += np.einsum("ij,ij->i", Z[:, c], bk[g])
    return out


def new_unit_effects(fitted: dict, mis_levels, observed, rng, offset=None) -> list:
    """Random effects of every unit code in use, drawing those of units new to the model.

    Units seen in ``fit`` keep their draws. A unit new at any level gets its
    effects from their conditional posterior given its rows in ``observed``
    (the new data's observed rows) and the fitted parameters, or from the
    prior ``N(0, Psi_k)`` when it has none. When new units sit at several
    levels (a new class in a new school) their effects are drawn by
    ``NEW_UNIT_SWEEPS`` Gibbs sweeps over the levels, each vectorised over
    the new units. For a logistic model (``fitted["logit"]``, binary
    ``observed`` targets) every sweep first draws the Polya-Gamma weights of
    the new units' rows given their current linear predictors, then the
    effects from the weighted model (``NEW_UNIT_SWEEPS`` sweeps even with
    one level).

    Parameters
    ----------
    fitted : dict
        ``beta``, ``b``, ``cols``, ``n_units`` (original units), ``psi_c``,
        ``sigma2_c`` (standardised), ``y_scale``, ``z_centre``, ``z_scale``,
        ``T`` (per level); ``logit`` (optional, default False): the model is
        the logistic one (``sigma2_c = 1``, ``y_scale = 1``).
    mis_levels : list of tuple (groups, n_groups)
        Unit codes of the rows to impute, per level.
    observed : tuple (Design, ndarray) or None
        Observed rows of the same data.
    rng : numpy.random.Generator
    offset : ndarray of shape (n_observed_rows,), optional
        Added to the linear predictor of the observed rows (the other
        categories' part of a multinomial logit).

    Returns
    -------
    list of ndarray
        Per level, ``(n_total, q_k)`` effects indexed by unit code.
    """
    b_fit, cols, n_fit = fitted["b"], fitted["cols"], fitted["n_units"]
    K = len(b_fit)
    totals = []
    for k in range(K):
        total = max(n_fit[k], int(mis_levels[k][1]))
        g = mis_levels[k][0]
        if g.size:
            total = max(total, int(g.max()) + 1)
        if observed is not None:
            og = observed[0].levels[k].groups
            if og.size:
                total = max(total, int(og.max()) + 1, int(observed[0].levels[k].n_groups))
        totals.append(total)
    if all(t == n for t, n in zip(totals, n_fit)):
        return b_fit
    s2 = fitted["sigma2_c"]
    n_new = [t - n for t, n in zip(totals, n_fit)]
    precision = [s2 * batched_spd_inverse(fitted["psi_c"][k][None])[0] for k in range(K)]
    new_c = [np.zeros((n_new[k], cols[k].size)) for k in range(K)]

    rows = None
    if observed is not None:
        o_design, o_y = observed
        o_groups = [lv.groups for lv in o_design.levels[:K]]
        touched = np.zeros(o_y.shape[0], dtype=bool)
        for k in range(K):
            touched |= o_groups[k] >= n_fit[k]
        touched &= np.isfinite(o_y)
        if touched.any():
            rows = np.flatnonzero(touched)
    if rows is None:  # no observed rows of any new unit: prior draws
        for k in range(K):
            if n_new[k]:
                M = np.broadcast_to(precision[k], (n_new[k],) + precision[k].shape)
                new_c[k] = draw_mvn_precision(M, np.zeros((n_new[k], cols[k].size)), rng,
                                              scale=s2)
    else:
        Z = o_design.Z[rows]
        g_rows = [g[rows] for g in o_groups]
        known_b = [np.where((g < n)[:, None], bk[np.minimum(g, n - 1)], 0.0) if n else
                   np.zeros((g.size, c.size))
                   for g, n, bk, c in zip(g_rows, n_fit, b_fit, cols)]
        eta = o_design.X[rows] @ fitted["beta"]
        if offset is not None:
            eta += offset[rows]
        for k in range(K):
            eta += np.einsum("ij,ij->i", Z[:, cols[k]], known_b[k])
        logit = fitted.get("logit", False)
        r = (o_y[rows] - eta) / fitted["y_scale"]
        Zc = (Z - fitted["z_centre"]) / fitted["z_scale"]
        new_pos = [np.where(g >= n, g - n, -1) for g, n in zip(g_rows, n_fit)]
        active = [k for k in range(K) if n_new[k]]
        sweeps = 1 if len(active) == 1 and not logit else NEW_UNIT_SWEEPS
        omega = None
        for _ in range(sweeps):
            if logit:  # r: the working residual kappa / omega - eta
                current = eta.copy()
                for m in active:
                    on = new_pos[m] >= 0
                    current[on] += np.einsum("ij,ij->i", Zc[on][:, cols[m]],
                                             new_c[m][new_pos[m][on]])
                omega = random_polyagamma(current, rng)
                r = (o_y[rows] - 0.5) / omega - eta
            for k in active:
                sel = new_pos[k] >= 0
                res = r[sel].copy()
                for m in active:
                    if m == k:
                        continue
                    pos = new_pos[m][sel]
                    on = pos >= 0
                    res[on] -= np.einsum("ij,ij->i", Zc[sel][on][:, cols[m]],
                                         new_c[m][pos[on]])
                Zk = Zc[sel][:, cols[k]]
                Zw = Zk if omega is None else Zk * omega[sel, None]
                ZtZ = cluster_crossprods(new_pos[k][sel], n_new[k], Zw, Zk)
                Ztr = cluster_crossprods(new_pos[k][sel], n_new[k], Zw, res)
                new_c[k] = draw_mvn_precision(ZtZ + precision[k], Ztr, rng, scale=s2)
    out = []
    for k in range(K):
        if n_new[k]:
            b_new = fitted["y_scale"] * (new_c[k] @ fitted["T"][k].T)
            out.append(np.vstack([b_fit[k], b_new]))
        else:
            out.append(b_fit[k])
    return out
