"""Cluster-level variables: ``2lonly.mean``, ``2lonly.norm``, ``2lonly.pmm``.

A cluster-level variable (school size, a teacher's experience) takes one
value per cluster. The imputer aggregates the design to one row per cluster
(cluster means of the predictors), hands these methods the clusters where the
variable is observed, and copies the imputed cluster value to every row of
the cluster, so the variable stays constant within clusters. Rows missing in
a cluster where the variable is observed elsewhere are filled deductively
with the cluster's value (a cluster whose observed values differ is an
error).
"""

from __future__ import annotations

import numpy as np

from ._base import ConditionalMethod, Design, register_method
from ._linear import BayesianNormal, PredictiveMeanMatching

__all__ = ["ClusterMean", "ClusterNormal", "ClusterPMM"]


@register_method("2lonly.norm")
class ClusterNormal(BayesianNormal):
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

    cluster_level = True


@register_method("2lonly.pmm")
class ClusterPMM(PredictiveMeanMatching):
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

    cluster_level = True


@register_method("2lonly.mean")
class ClusterMean(ConditionalMethod):
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

    cluster_level = True
    supported_kinds = ("continuous", "binary", "categorical")

    def __init__(self, fallback="auto"):
        self.fallback = fallback

    def fit(self, design: Design, y: np.ndarray, random_state: np.random.Generator):
        """Fit the fallback model on the observed clusters.

        Parameters
        ----------
        design : Design
            One row per observed cluster.
        y : ndarray
            The observed clusters' values.
        random_state : numpy.random.Generator

        Returns
        -------
        self : ClusterMean
        """
        if self.fallback not in ("auto", "norm", "pmm"):
            raise ValueError(
                f"ClusterMean: fallback must be 'auto', 'norm' or 'pmm', got {self.fallback!r}."
            )
        kind = self.fallback
        if kind == "auto":
            kind = "pmm" if np.all(y == np.round(y)) else "norm"
        self.fallback_ = ClusterPMM() if kind == "pmm" else ClusterNormal()
        self.fallback_.fit(design, y, random_state)
        return self

    def sample(self, design: Design, random_state: np.random.Generator, observed=None):
        """Draw values for clusters with nothing observed, from the fallback model.

        Parameters
        ----------
        design : Design
            One row per cluster to impute.
        random_state : numpy.random.Generator
        observed : ignored

        Returns
        -------
        values : ndarray of shape (n_rows,)
        """
        return self.fallback_.sample(design, random_state)
