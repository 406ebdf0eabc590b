"""Per-target design plans: a target's design laid out once, refreshed column by column.

A plan knows, for one target, where every predictor's block goes in ``X``
(fixed part), ``Z`` (random part) and ``W`` (selection equation), which
blocks are cluster means, and which rows are observed and which are to be
imputed. It holds the design of the observed rows, of the rows to impute and,
for methods that fit on every row, of all rows. A visit asks the plan for its
designs; the plan rewrites only the blocks whose source column changed since
its last visit (the imputer counts the writes to each column), so a visit of
a target with one incomplete predictor copies one column, not the design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._collinear import ObservedGram
from ._grouped import cluster_means
from ._stamps import new_stamps
from .methods._base import Design, Level

__all__ = ["TargetPlan"]

# Designs larger than this (all plans together) are rebuilt at every visit
# instead of kept between visits.
KEEP_BYTES = 512 * 2**20

# A block is rewritten in full when more than this share of its rows may have
# changed (a gather and scatter by position would cost more).
_SCATTER_SHARE = 0.25


def _write(A, rows, cols: slice, block) -> None:
    """``A[rows, cols] = block``; every row when ``rows`` is None (nothing for a
    block with no columns in ``A``: a predictor of the selection equation only)."""
    if cols.stop == cols.start:
        return
    if rows is None:
        A[:, cols] = block
    elif cols.stop - cols.start == 1:
        A[:, cols.start][rows] = block[:, 0]  # a column view: a direct scatter
    else:
        A[rows, cols] = block


@dataclass
class _Block:
    """One predictor's columns in the design."""

    source: int  # column of the data
    x: slice  # its columns in X (or an empty slice)
    z: slice | None  # its columns in Z (random part), if any
    x_mean: slice | None  # its cluster means in X (codes 3 and 4), if any
    w: slice | None  # its columns in W (selection equation), if any
    w_mean: slice | None  # its cluster means in W, if any


class TargetPlan:
    """The design of one target, laid out once and refreshed column by column.

    Parameters
    ----------
    builder : DesignBuilder
        Column coding and predictor codes.
    target : int
        Column of the target.
    levels : list of tuple (groups, n_groups, name)
        The grouping factors, lowest first: unit code of each row, number of
        units, the grouping column's label. The random part and the cluster
        means (codes 3 and 4) belong to the first.
    two_level : bool
        Whether the design has a random part (codes 2 and 4).
    selection : bool
        Whether the design has a selection equation ``W``.
    rows : dict
        Row indices by part: ``"obs"`` and ``"mis"`` (and ``"all"`` for
        methods that fit on every row).
    keep : bool
        Keep the arrays between visits (refresh changed blocks only);
        otherwise they are built afresh at every visit.
    missing : ndarray of bool of shape (n, k), optional
        The data's missing cells. After a block's first write, only the rows
        where its source column is missing are rewritten (the only cells
        the chained equations change); without it, every row.
    """

    def __init__(self, builder, target, levels, two_level, selection, rows, keep=True,
                 missing=None):
        self.levels = list(levels)
        groups, n_groups = (self.levels[0][:2]) if self.levels else (None, 0)
        self.groups, self.n_groups = groups, n_groups
        self.rows = rows
        self.keep = keep
        self.two_level, self.selection = two_level, selection
        row = builder.pm[target]
        self.blocks: list[_Block] = []
        self.x_names = ["(Intercept)"]
        self.z_names = ["(Intercept)"] if two_level else []
        z_in_x = [0] if two_level else []
        p, q, r = 1, 1 if two_level else 0, 1
        self._expand = {}
        self._numeric = set()  # sources whose block is the column itself
        for j in np.flatnonzero((row > 0) | (row == -4) | (row == -3)):
            code = row[j]
            names = builder.block_names(j)
            width = len(names)
            if width == 0:
                continue
            in_x = code > 0 or code == -4 or (code == -3 and not selection)
            x = z = x_mean = w = w_mean = None
            if in_x:
                x = slice(p, p + width)
                self.x_names.extend(names)
                p += width
                if two_level and code in (2, 4):
                    z = slice(q, q + width)
                    self.z_names.extend(names)
                    z_in_x.extend(range(x.start, x.stop))
                    q += width
                if code in (3, 4) and groups is not None:
                    x_mean = slice(p, p + width)
                    self.x_names.extend(f"mean({nm})" for nm in names)
                    p += width
            if selection and (code > 0 or code == -3):
                w = slice(r, r + width)
                r += width
                if code in (3, 4) and groups is not None:
                    w_mean = slice(r, r + width)
                    r += width
            self.blocks.append(_Block(j, x if x is not None else slice(0, 0), z, x_mean, w,
                                      w_mean))
            self._expand[j] = builder.expander(j)
            if builder.infos[j].storage == "numeric":
                self._numeric.add(j)
        self.p, self.q, self.r = p, q, r
        self.z_in_x = np.asarray(z_in_x, dtype=np.int64)
        self._seen = {}
        self._missing = missing
        self._changing = {}  # (part, source) -> (positions in the part, data rows) or None
        self._arrays = None
        self._gram = None  # the collinearity check of the observed rows
        self._owned = None  # the columns of X each source writes (made on first use)

    def sources(self) -> list:
        """The data columns the design reads."""
        return [b.source for b in self.blocks]

    def _allocate(self):
        arrays = {}
        self._stamps = {part: np.zeros(self.p, dtype=np.int64) for part in self.rows}
        for part, idx in self.rows.items():
            self._stamps[part][0] = new_stamps(1)[0]  # the intercept
            n = len(idx)
            X = np.empty((n, self.p), order="F")  # column by column: refreshed by column
            X[:, 0] = 1.0
            Z = W = None
            if self.two_level:
                Z = np.empty((n, self.q))
                Z[:, 0] = 1.0
            if self.selection:
                W = np.empty((n, self.r))
                W[:, 0] = 1.0
            units = [(codes[idx], n, name) for codes, n, name in self.levels]
            arrays[part] = (X, Z, W, units)
        return arrays

    def refresh(self, values, versions) -> None:
        """Rewrite the blocks whose source column changed since the last refresh.

        Parameters
        ----------
        values : ndarray of shape (n, k)
            The current completed data.
        versions : ndarray of int of shape (k,)
            How many times each column has been written.
        """
        if self._arrays is None or not self.keep:
            self._arrays = self._allocate()
            self._seen = {}
            self._gram = None
        for b in self.blocks:
            last = self._seen.get(b.source)
            if last == versions[b.source]:
                continue
            self._seen[b.source] = versions[b.source]
            expand = self._expand[b.source]
            means = None
            if b.x_mean is not None or b.w_mean is not None:
                means = cluster_means(self.groups, self.n_groups,
                                      expand(values[:, b.source]))[self.groups]
            for part, idx in self.rows.items():
                X, Z, W, _ = self._arrays[part]
                # after the first write, the rows where the source is missing only
                rows = None if last is None or means is not None else \
                    self._changing_rows(part, b.source)
                self._restamp(part, b.x, b.x_mean)
                at = None if rows is None else rows[0]
                if at is None and b.source in self._numeric and b.x.stop > b.x.start:
                    # gathered straight into X's column (contiguous: X is column-major)
                    block = np.take(values[:, b.source], idx, out=X[:, b.x.start], mode="clip")
                    block = block[:, None]
                else:
                    block = expand(np.take(values[:, b.source], idx if at is None else rows[1]))
                    _write(X, at, b.x, block)
                if b.z is not None:
                    _write(Z, at, b.z, block)
                if b.w is not None:
                    _write(W, at, b.w, block)
                if means is not None:
                    part_means = means[idx]
                    if b.x_mean is not None:
                        X[:, b.x_mean] = part_means
                    if b.w_mean is not None:
                        W[:, b.w_mean] = part_means

    def _changing_rows(self, part, source):
        """The positions in ``part`` where ``source`` is missing, and their data rows;
        None (rewrite every row) without the missing cells or when most rows change."""
        key = (part, source)
        if key not in self._changing:
            rows = None
            if self._missing is not None:
                idx = self.rows[part]
                pos = np.flatnonzero(self._missing[idx, source])
                if pos.size <= _SCATTER_SHARE * idx.size:
                    rows = (pos, idx[pos])
            self._changing[key] = rows
        return self._changing[key]

    def _restamp(self, part, *slices) -> None:
        """Fresh stamps for the columns of X in ``slices`` (None entries skipped)."""
        stamps = self._stamps[part]
        for cols in slices:
            if cols is not None and cols.stop > cols.start:
                stamps[cols] = new_stamps(cols.stop - cols.start)

    def design(self, part: str, keep_x: np.ndarray | None = None) -> Design:
        """The design of a part of the rows (``"obs"``, ``"mis"`` or ``"all"``).

        ``keep_x`` (a mask of the columns of X) drops the columns not kept,
        and the columns of Z that copy them.
        """
        X, Z, W, units = self._arrays[part]
        z_in_x = self.z_in_x if self.two_level else None
        levels = [Level(codes, n, Z if k == 0 else None, z_in_x if k == 0 else None, name)
                  for k, (codes, n, name) in enumerate(units)]
        if not levels and Z is not None:
            levels = [Level(None, 0, Z, z_in_x)]
        design = Design(X=X, W=W, levels=levels, stamps=self._stamps[part].copy())
        return design if keep_x is None else design.keep_columns(keep_x)

    def collinear_drops(self, y: np.ndarray, eps: float, max_corr: float) -> dict:
        """The columns of X (but the intercept) to drop on the observed rows.

        As :func:`skmice._design.collinear_drops` on ``X[:, 1:]`` of the
        observed rows, with positions counted from column 1. The Gram matrix
        is kept between visits and only the columns rewritten since the last
        call are read again; with none, the last verdict stands.

        Parameters
        ----------
        y : ndarray of shape (n_obs,)
            The target's observed values (the same at every call).
        eps, max_corr : float
            Thresholds of :func:`skmice._design.collinear_drops`.

        Returns
        -------
        dict
            Column position in ``X[:, 1:]`` -> reason.
        """
        X = self._arrays["obs"][0]
        if not self.keep:  # designs rebuilt at every visit: nothing kept
            return ObservedGram(y).drops(X, None, eps, max_corr)
        if self._gram is None:
            self._gram = (ObservedGram(y), {})
        gram, seen = self._gram
        sources = [s for s, v in self._seen.items() if seen.get(s) != v]
        changed = self._x_columns(sources)
        # the columns of a block rewritten by position (after its first write, as
        # the collinearity check's own copy): the same rows are read again
        rows = {}
        for b in self.blocks:
            at = self._changing.get(("obs", b.source)) if b.source in seen else None
            if at is not None and b.source in sources and b.x_mean is None:
                rows.update(dict.fromkeys(range(b.x.start, b.x.stop), at[0]))
        self._gram = (gram, dict(self._seen))
        return gram.drops(X, changed, eps, max_corr, rows)

    def _x_columns(self, sources) -> set:
        """The columns of X written from these sources, and those of no block (always)."""
        if self._owned is None:
            owned, self._owned = set(), {}
            for b in self.blocks:
                cols = set(range(b.x.start, b.x.stop))
                if b.x_mean is not None:
                    cols |= set(range(b.x_mean.start, b.x_mean.stop))
                owned |= cols
                self._owned.setdefault(b.source, set()).update(cols)
            self._unowned = set(range(1, self.p)) - owned
        out = set(self._unowned)
        for s in sources:
            out |= self._owned.get(s, set())
        return out

    def nbytes(self) -> int:
        """Bytes the plan's arrays take."""
        n = sum(len(idx) for idx in self.rows.values())
        return 8 * n * (self.p + self.q + (self.r if self.selection else 0))
