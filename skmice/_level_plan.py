"""A target's design plan with several grouping levels: cluster means and named slopes.

:class:`~skmice._plan.TargetPlan` lays out a target's design; the cluster
means of predictors with codes 3 and 4 are means within the units of the
lowest grouping level. :class:`LevelPlan` takes them at the levels the
imputer's ``cluster_means`` names instead (class means, school means, or
both), recomputed from the current completed data whenever the predictor
changed, and tells the imputer the names of the random part's columns that
each design holds, so that random slopes can be named by predictor.
"""

from __future__ import annotations

import numpy as np

from ._grouped import cluster_means
from ._plan import TargetPlan

__all__ = ["LevelPlan", "is_position", "names_predictors", "slope_positions"]


class LevelPlan(TargetPlan):
    """A :class:`~skmice._plan.TargetPlan` with cluster means at chosen levels.

    Parameters
    ----------
    builder, target, levels, two_level, selection, rows, keep
        As for :class:`~skmice._plan.TargetPlan`.
    mean_levels : list of int, optional
        Positions of the grouping levels (lowest first) whose unit means of
        the predictors with codes 3 and 4 enter ``X``, one block per level
        in this order. None: the lowest level only (mice's code 3).
    on_design : callable, optional
        Called with the source column of every column of ``Z`` (the
        intercept as None) when the plan is made and each time a design is
        handed out, after the columns not kept are dropped.

    Attributes
    ----------
    z_sources : list
        The data column of every column of ``Z`` (None for the intercept).
    """

    def __init__(self, builder, target, levels, two_level, selection, rows, keep=True, *,
                 mean_levels=None, on_design=None):
        super().__init__(builder, target, levels, two_level, selection, rows, keep)
        self._on_design = on_design
        self.z_sources = [None] * (self.q if two_level else 0)
        for b in self.blocks:
            if b.z is not None:
                self.z_sources[b.z] = [builder.infos[b.source].name] * (b.z.stop - b.z.start)
        if on_design is not None and self.z_sources:
            on_design(self.z_sources)  # names checked before the first visit
        self._means = []  # (source, columns of X, level position)
        self._mean_seen = {}
        if mean_levels is None or list(mean_levels) == [0]:
            return
        names = [name for _, _, name in self.levels]
        for b in self.blocks:
            if b.x_mean is None:
                continue
            width = b.x_mean.stop - b.x_mean.start
            base = self.x_names[b.x.start:b.x.stop]
            for n, k in enumerate(mean_levels):
                if n == 0:  # the lowest level's block, reused
                    cols = b.x_mean
                    self.x_names[cols] = [f"mean({nm} | {names[k]})" for nm in base]
                else:
                    cols = slice(self.p, self.p + width)
                    self.p += width
                    self.x_names.extend(f"mean({nm} | {names[k]})" for nm in base)
                if n or k != 0:
                    self._means.append((b.source, cols, k, builder.expander(b.source)))

    def _allocate(self):
        self._mean_seen = {}
        return super()._allocate()

    def refresh(self, values, versions) -> None:
        """Rewrite the changed blocks, then the unit means at levels above the lowest."""
        super().refresh(values, versions)
        for source, cols, k, expand in self._means:
            key = (source, cols.start)
            if self._mean_seen.get(key) == versions[source]:
                continue
            self._mean_seen[key] = versions[source]
            codes, n_units, _ = self.levels[k]
            means = cluster_means(codes, n_units, expand(values[:, source]))[codes]
            for part, idx in self.rows.items():
                super().design(part).X[:, cols] = means[idx]

    def design(self, part, keep_x=None):
        """The design of a part of the rows, as :meth:`TargetPlan.design`."""
        design = super().design(part, keep_x)
        if self._on_design is not None and self.z_sources:
            kept = self.z_sources
            if keep_x is not None:
                keep = np.asarray(keep_x, dtype=bool).copy()
                keep[0] = True
                kept = [s for s, z in zip(self.z_sources, self.z_in_x) if keep[z]]
            self._on_design(kept)
        return design


def slope_positions(spec: dict, z_sources: list, level_names: list, method: str) -> dict:
    """A ``random_slopes`` dict naming predictors, as positions of the columns of ``Z``.

    Parameters
    ----------
    spec : dict
        ``{level: [predictor, ...] or "all"}``; a predictor is an integer
        (a column position of ``Z``, 1 to ``q - 1``, kept as it is) or the
        label of a data column with code 2 (all its dummy columns when
        categorical).
    z_sources : list
        The data column of each column of ``Z`` (None for the intercept).
    level_names : list
        The grouping columns, lowest first (for messages).
    method : str
        Name for messages.

    Returns
    -------
    dict
        ``{level: [positions]}`` (or ``"all"``), for ``slope_columns``.

    Raises
    ------
    ValueError
        Naming a predictor that has no column in ``Z`` (not code 2, or
        dropped as constant or collinear).

    Examples
    --------
    >>> from skmice._level_plan import slope_positions
    >>> slope_positions({"school": ["ses"]}, [None, "x", "ses"], ["class", "school"], "ml.pmm")
    {'school': [2]}
    """
    out = {}
    coded = list(z_sources[1:])
    for level, columns in spec.items():
        if isinstance(columns, str) and columns == "all":
            out[level] = columns
            continue
        if isinstance(columns, str) or not np.iterable(columns):
            columns = [columns]
        positions = []
        for c in columns:
            at = [i for i, s in enumerate(z_sources) if i and _same(s, c)]
            if is_position(c):
                positions.append(int(c))
            elif at:
                positions.extend(at)
            else:
                raise ValueError(
                    f"{method}: random_slopes[{level!r}] names {c!r}, which is not in the "
                    f"random part of the target's model (the predictors with code 2 there: "
                    f"{list(dict.fromkeys(coded))}; grouping levels {level_names}). Give it "
                    "code 2 in the predictor matrix (a predictor dropped as constant or "
                    "collinear has no random slope either)."
                )
        out[level] = sorted(set(positions))
    return out


def is_position(value) -> bool:
    """Whether a ``random_slopes`` entry is a column position (an integer)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def names_predictors(spec) -> bool:
    """Whether a ``random_slopes`` value names predictors (a dict with a non-integer entry)."""
    if not isinstance(spec, dict):
        return False
    for columns in spec.values():
        if isinstance(columns, str):
            if columns != "all":
                return True
            continue
        if not np.iterable(columns):
            columns = [columns]
        if any(not is_position(c) for c in columns):
            return True
    return False


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
