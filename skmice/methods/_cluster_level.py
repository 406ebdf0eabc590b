"""Level-specific variables: ``2lonly.mean``, ``2lonly.norm``, ``2lonly.pmm``.

A level-specific variable (class size, a teacher's experience, a school's
type) takes one value per unit of its grouping level. These methods get
every row of the data (``y`` NaN where missing, ``design.levels`` the unit
codes of every grouping level), aggregate the design to one row per unit of
the variable's level (unit means of the predictors over all of the unit's
rows), fit a single-level model on the units where the variable is observed,
and give every row its unit's value, so the variable stays constant within
units. Rows missing in a unit where the variable is observed elsewhere are
filled deductively with the unit's value (the imputer checks once, at fit
and at transform, that the observed values agree within units).

The level is the ``level`` parameter (a grouping column) or, by default, the
level the observed values show (:func:`unit_level`): with one grouping
column, that column.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .._grouped import cluster_means, cluster_sizes
from ._base import ConditionalMethod, Design, register_method
from ._linear import BayesianNormal, PredictiveMeanMatching

__all__ = ["ClusterMean", "ClusterNormal", "ClusterPMM", "resolve_level", "unit_level"]


_LEVEL_CONSTRAINT = {"level": "no_validation"}


def unit_level(y: np.ndarray, levels: list) -> int | None:
    """The grouping level a variable belongs to, as its observed values show.

    A variable belongs to a level when its observed values agree within
    every unit of the level and some unit has two or more of them (else
    nothing shows it). Among such levels the one with the fewest units is
    chosen: a school-level variable is constant within classes too, and
    belongs to the schools.

    Parameters
    ----------
    y : ndarray of shape (n_rows,)
        The variable, NaN where missing.
    levels : list of (codes, n_units)
        Unit codes of every row per grouping level, lowest first.

    Returns
    -------
    int or None
        Position of the level among ``levels``; None when the variable
        varies within units of every level.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._cluster_level import unit_level
    >>> classes, schools = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 0, 0, 1, 1])
    >>> unit_level(np.array([3., 3., 3., np.nan, 5., 5.]), [(classes, 3), (schools, 2)])
    1
    >>> unit_level(np.array([3., 3., 4., np.nan, 5., 5.]), [(classes, 3), (schools, 2)])
    0
    """
    from .._design import varying_clusters

    best = None
    observed = ~np.isnan(y)
    for k, (codes, n_units) in enumerate(levels):
        counts = np.bincount(codes[observed], minlength=n_units)
        if counts.max(initial=0) < 2 or varying_clusters(y, codes, n_units).size:
            continue
        if best is None or n_units <= levels[best][1]:
            best = k
    return best


def resolve_level(level, names: list, method: str) -> int | None:
    """Position of the level named by a method's ``level`` parameter (None: detect it).

    Parameters
    ----------
    level : None, grouping column label or int
        The ``level`` parameter: a grouping column's label, or a position
        among the levels (lowest first).
    names : list
        The grouping columns' labels, lowest first.
    method : str
        Name for messages.

    Raises
    ------
    ValueError
        When ``level`` is neither a grouping column nor a position.
    """
    if level is None:
        return None
    for k, name in enumerate(names):
        try:
            if name is not None and bool(name == level):
                return k
        except (TypeError, ValueError):
            continue
    if isinstance(level, Integral) and not isinstance(level, bool) and 0 <= level < len(names):
        return int(level)
    raise ValueError(
        f"{method}: level={level!r} is not a grouping column; the grouping levels are "
        f"{names} (lowest first)."
    )


def _aggregate(X, y, groups, n_groups):
    """Unit means of X, each unit's observed value of y, and which units have rows."""
    obs = ~np.isnan(y)
    y_c = np.full(n_groups, np.nan)
    y_c[groups[obs]] = y[obs]  # equal within a unit (checked by the imputer)
    return cluster_means(groups, n_groups, X), y_c, cluster_sizes(groups, n_groups) > 0


class _ClusterLevel(ConditionalMethod):
    """One row per unit of the variable's level: aggregation before the single-level model."""

    cluster_level = True
    needs_all_rows = True

    def _set_level(self, design, y) -> None:
        """The variable's level: ``level``, else the one the observed values show."""
        names = [lv.name for lv in design.levels]
        k = resolve_level(self.level, names, self._label())
        if k is None and len(names) > 1:
            k = unit_level(y, [(np.asarray(lv.groups, dtype=np.int64), int(lv.n_groups))
                               for lv in design.levels])
        k = 0 if k is None else k
        self.level_index_ = k
        self.level_ = names[k] if names[k] is not None else k

    def _units(self, design):
        """Unit codes and number of units of the variable's level in ``design``."""
        k = self.level_index_
        if k >= len(design.levels):
            raise ValueError(
                f"{self._label()}: the design has {len(design.levels)} grouping levels; fit "
                f"imputed at level {self.level_!r}.")
        lv = design.levels[k]
        groups = np.asarray(lv.groups, dtype=np.int64)
        if groups.shape != (design.n_rows,) or (
                groups.size and (groups.min() < 0 or groups.max() >= lv.n_groups)):
            raise ValueError(
                f"{self._label()}: the unit codes of level {self.level_!r} must be "
                f"{design.n_rows} codes in [0, {lv.n_groups}).")
        return groups, int(lv.n_groups)

    def _fit(self, design, y, rng):
        self._set_level(design, y)
        groups, n_groups = self._units(design)
        Xc, y_c, present = _aggregate(design.X, y, groups, n_groups)
        has = ~np.isnan(y_c)
        self._clusters = (Xc, y_c, present)
        super()._fit(Design(X=Xc[has]), y_c[has], rng)

    def _sample(self, design, rng, observed):
        groups, n_groups = self._units(design)
        if observed is None:  # the rows of fit: their units as aggregated there
            Xc, y_c, present = self._clusters
            y_c = y_c.copy()
        else:  # new data: its own units, from its observed and missing rows
            o_design, o_y = observed
            Xc, y_c, present = _aggregate(
                np.vstack([design.X, o_design.X]),
                np.r_[np.full(design.n_rows, np.nan), o_y],
                np.r_[groups, self._units(o_design)[0]],
                n_groups,
            )
        need = present & np.isnan(y_c)
        if need.any():
            y_c[need] = super()._sample(Design(X=Xc[need]), rng, None)
            self._note_drawn(int(need.sum()))
        return y_c[groups]

    def _note_drawn(self, n_clusters: int) -> None:
        """Hook: called with the number of units drawn by the model."""


@register_method("2lonly.norm")
class ClusterNormal(_ClusterLevel, BayesianNormal):
    """Bayesian linear regression at the cluster level (mice's ``2lonly.norm``).

    :class:`~skmice.methods.BayesianNormal` on one row per cluster: the
    cluster means of the predictors and the cluster's value of the target.

    Parameters
    ----------
    ridge : float, default=1e-5
        As in :class:`~skmice.methods.BayesianNormal`.
    level : None, grouping column label or int, default=None
        The grouping level the variable belongs to (one of the imputer's
        ``cluster`` columns, or its position, lowest first). None: the level
        its observed values show (:func:`unit_level`); with one grouping
        column, that column.

    Attributes
    ----------
    beta_star_ : ndarray
        Drawn unit-level regression weights.
    sigma_star_ : float
        Drawn unit-level residual standard deviation.
    level_ : object
        The grouping column (or position) the variable was imputed at.
    level_index_ : int
        Its position among the grouping levels, lowest first.

    Notes
    -----
    Unlike R, which stops when a cluster has the variable partly observed,
    skmice fills such rows deductively with the cluster's observed value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(20), 5)
    >>> size = np.repeat(rng.normal(20, 3, 20), 5)
    >>> X = pd.DataFrame({"g": g, "size": size, "x": rng.normal(size=100)})
    >>> X.loc[X.g < 4, "size"] = np.nan
    >>> out = MultilevelIterativeImputer(cluster="g", methods={"size": "2lonly.norm"},
    ...                                  random_state=0).fit_transform(X)
    >>> bool((out.groupby("g")["size"].nunique() == 1).all())
    True
    """

    _parameter_constraints = {**BayesianNormal._parameter_constraints, **_LEVEL_CONSTRAINT}

    def __init__(self, ridge=1e-5, level=None):
        self.ridge = ridge
        self.level = level


@register_method("2lonly.pmm")
class ClusterPMM(_ClusterLevel, PredictiveMeanMatching):
    """Predictive mean matching at the cluster level (mice's ``2lonly.pmm``).

    :class:`~skmice.methods.PredictiveMeanMatching` on one row per cluster:
    imputed cluster values are observed cluster values.

    Parameters
    ----------
    donors : int, default=5
    matchtype : int, default=1
    ridge : float, default=1e-5
    level : None, grouping column label or int, default=None
        The grouping level the variable belongs to, as in
        :class:`ClusterNormal`.

    Attributes
    ----------
    beta_star_ : ndarray
        Drawn unit-level regression weights.
    level_ : object
        The grouping column (or position) the variable was imputed at.
    level_index_ : int
        Its position among the grouping levels, lowest first.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(30), 4)
    >>> X = pd.DataFrame({"g": g, "size": np.repeat(rng.integers(10, 30, 30), 4) * 1.0,
    ...                   "x": rng.normal(size=120)})
    >>> X.loc[X.g < 5, "size"] = np.nan
    >>> out = MultilevelIterativeImputer(cluster="g", methods={"size": "2lonly.pmm"},
    ...                                  random_state=0).fit_transform(X)
    >>> bool(set(out["size"]) <= set(X["size"].dropna()))
    True
    """

    _parameter_constraints = {**PredictiveMeanMatching._parameter_constraints,
                              **_LEVEL_CONSTRAINT}

    def __init__(self, donors=5, matchtype=1, ridge=1e-5, level=None):
        self.donors = donors
        self.matchtype = matchtype
        self.ridge = ridge
        self.level = level


class _Fallback(ConditionalMethod):
    """The single-level model of ``2lonly.mean``: pmm or norm, as ``fallback`` says."""

    def _fit(self, design, y, rng):
        kind = self.fallback
        if kind == "auto":
            kind = "pmm" if np.all(y == np.round(y)) else "norm"
        self.fallback_ = PredictiveMeanMatching() if kind == "pmm" else BayesianNormal()
        self.fallback_._fit(design, y, rng)

    def _sample(self, design, rng, observed):
        return self.fallback_._sample(design, rng, None)


@register_method("2lonly.mean")
class ClusterMean(_ClusterLevel, _Fallback):
    """Deductive fill of a cluster-level variable (mice's ``2lonly.mean``).

    Rows missing in a cluster where the variable is observed get the
    cluster's value. R leaves clusters with nothing observed missing; skmice
    draws them from a cluster-level model instead (``fallback``), and records
    it in the imputer's ``log_``.

    Parameters
    ----------
    fallback : {"auto", "norm", "pmm"}, default="auto"
        Model for clusters with nothing observed: ``"norm"``
        (:class:`ClusterNormal`), ``"pmm"`` (:class:`ClusterPMM`) or
        ``"auto"``: pmm when every observed value is an integer (category
        codes, counts), norm otherwise.
    level : None, grouping column label or int, default=None
        The grouping level the variable belongs to, as in
        :class:`ClusterNormal`.

    Attributes
    ----------
    fallback_ : ConditionalMethod
        The fitted fallback model.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer
    >>> X = pd.DataFrame({"g": [1, 1, 2, 2, 3, 3], "size": [4.0, np.nan, 7.0, 7.0, 5.0, np.nan],
    ...                   "x": [0.1, 0.5, 0.2, 0.3, 0.9, 0.4]})
    >>> out = MultilevelIterativeImputer(cluster="g", methods={"size": "2lonly.mean"},
    ...                                  random_state=0).fit_transform(X)
    >>> out["size"].tolist()
    [4.0, 4.0, 7.0, 7.0, 5.0, 5.0]
    """

    supported_kinds = ("continuous", "binary", "categorical")
    _parameter_constraints = {"fallback": [StrOptions({"auto", "norm", "pmm"})],
                              **_LEVEL_CONSTRAINT}

    def __init__(self, fallback="auto", level=None):
        self.fallback = fallback
        self.level = level

    def _note_drawn(self, n_clusters):
        if not getattr(self, "_fallback_noted", False):
            self._fallback_noted = True
            self._note("2lonly.mean fallback",
                       f"{n_clusters} clusters with nothing observed drawn by the fallback model")
