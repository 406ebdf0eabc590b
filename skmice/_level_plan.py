"""A target's design plan with several grouping levels: cluster means and Z's column names.

:class:`~skmice._plan.TargetPlan` lays out a target's design; the cluster
means of predictors with codes 3 and 4 are means within the units of the
lowest grouping level. :class:`LevelPlan` takes them at the levels the
imputer's ``cluster_means`` names instead (class means, school means, or
both), recomputed from the current completed data whenever the predictor
changed, and writes the data column of each column of the random part into
the design's levels (``Level.z_names``), so that a method can take random
slopes named by predictor.
"""

from __future__ import annotations

import numpy as np

from ._grouped import cluster_means
from ._plan import TargetPlan

__all__ = ["LevelPlan"]


class LevelPlan(TargetPlan):
    """A :class:`~skmice._plan.TargetPlan` with cluster means at chosen levels.

    Parameters
    ----------
    builder, target, levels, two_level, selection, rows, keep, missing
        As for :class:`~skmice._plan.TargetPlan`.
    mean_levels : list of int, optional
        Positions of the grouping levels (lowest first) whose unit means of
        the predictors with codes 3 and 4 enter ``X``, one block per level
        in this order. None: the lowest level only (mice's code 3).

    Attributes
    ----------
    z_sources : list
        The data column of every column of ``Z`` (None for the intercept).
    """

    def __init__(self, builder, target, levels, two_level, selection, rows, keep=True, *,
                 missing=None, mean_levels=None):
        super().__init__(builder, target, levels, two_level, selection, rows, keep, missing)
        self.z_sources = [None] * (self.q if two_level else 0)
        for b in self.blocks:
            if b.z is not None:
                self.z_sources[b.z] = [builder.infos[b.source].name] * (b.z.stop - b.z.start)
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
                self._restamp(part, cols)
                self._arrays[part][0][:, cols] = means[idx]

    def design(self, part, keep_x=None):
        """The design of a part of the rows, as :meth:`TargetPlan.design`."""
        design = super().design(part, keep_x)
        if self.z_sources:
            kept = self.z_sources
            if keep_x is not None:
                keep = np.asarray(keep_x, dtype=bool).copy()
                keep[0] = True
                kept = [s for s, z in zip(self.z_sources, self.z_in_x) if keep[z]]
            for level in design.levels:
                if level.Z is not None:
                    level.z_names = kept
        return design
