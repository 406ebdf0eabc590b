"""Cluster-level variables: ``2lonly.mean``, ``2lonly.norm``, ``2lonly.pmm``.

A cluster-level variable (school size, a teacher's experience) takes one
value per cluster. These methods get every row of the data (``y`` NaN where
missing, ``groups`` the cluster codes), aggregate the design to one row per
cluster (cluster means of the predictors over all of the cluster's rows), fit
a single-level model on the clusters where the variable is observed, and give
every row its cluster's value, so the variable stays constant within
clusters. Rows missing in a cluster where the variable is observed elsewhere
are filled deductively with the cluster's value (the imputer checks once, at
fit and at transform, that the observed values agree within clusters).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .._grouped import cluster_means, cluster_sizes
from ._base import ConditionalMethod, Design, register_method
from ._linear import BayesianNormal, PredictiveMeanMatching

__all__ = ["ClusterMean", "ClusterNormal", "ClusterPMM"]


def _aggregate(X, y, groups, n_groups):
    """Cluster means of X, each cluster's observed value of y, and which clusters have rows."""
    obs = ~np.isnan(y)
    y_c = np.full(n_groups, np.nan)
    y_c[groups[obs]] = y[obs]  # equal within a cluster (checked by the imputer)
    return cluster_means(groups, n_groups, X), y_c, cluster_sizes(groups, n_groups) > 0


class _ClusterLevel(ConditionalMethod):
    """One row per cluster: aggregation before the single-level model that follows in the MRO."""

    cluster_level = True
    needs_all_rows = True

    def _fit(self, design, y, rng):
        Xc, y_c, present = _aggregate(design.X, y, design.groups, design.n_groups)
        has = ~np.isnan(y_c)
        self._clusters = (Xc, y_c, present)
        super()._fit(Design(X=Xc[has]), y_c[has], rng)

    def _sample(self, design, rng, observed):
        if observed is None:  # the rows of fit: their clusters as aggregated there
            Xc, y_c, present = self._clusters
            y_c = y_c.copy()
        else:  # new data: its own clusters, from its observed and missing rows
            o_design, o_y = observed
            Xc, y_c, present = _aggregate(
                np.vstack([design.X, o_design.X]),
                np.r_[np.full(design.n_rows, np.nan), o_y],
                np.r_[design.groups, o_design.groups],
                design.n_groups,
            )
        need = present & np.isnan(y_c)
        if need.any():
            y_c[need] = super()._sample(Design(X=Xc[need]), rng, None)
            self._note_drawn(int(need.sum()))
        return y_c[design.groups]

    def _note_drawn(self, n_clusters: int) -> None:
        """Hook: called with the number of clusters drawn by the model."""


@register_method("2lonly.norm")
class ClusterNormal(_ClusterLevel, BayesianNormal):
    """Bayesian linear regression at the cluster level (mice's ``2lonly.norm``).

    :class:`~skmice.methods.BayesianNormal` on one row per cluster: the
    cluster means of the predictors and the cluster's value of the target.

    Parameters
    ----------
    ridge : float, default=1e-5
        As in :class:`~skmice.methods.BayesianNormal`.

    Attributes
    ----------
    beta_star_ : ndarray
        Drawn cluster-level regression weights.
    sigma_star_ : float
        Drawn cluster-level residual standard deviation.

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

    Attributes
    ----------
    beta_star_ : ndarray
        Drawn cluster-level regression weights.

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
    _parameter_constraints = {"fallback": [StrOptions({"auto", "norm", "pmm"})]}

    def __init__(self, fallback="auto"):
        self.fallback = fallback

    def _note_drawn(self, n_clusters):
        if not getattr(self, "_fallback_noted", False):
            self._fallback_noted = True
            self._note("2lonly.mean fallback",
                       f"{n_clusters} clusters with nothing observed drawn by the fallback model")
