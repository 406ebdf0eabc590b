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
from sklearn.utils._param_validation import StrOptions

from ._base import ConditionalMethod, register_method
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

    _parameter_constraints = {"fallback": [StrOptions({"auto", "norm", "pmm"})]}

    def __init__(self, fallback="auto"):
        self.fallback = fallback

    def _fit(self, design, y, rng):
        """Fit the fallback model on the observed clusters."""
        kind = self.fallback
        if kind == "auto":
            kind = "pmm" if np.all(y == np.round(y)) else "norm"
        self.fallback_ = ClusterPMM() if kind == "pmm" else ClusterNormal()
        self.fallback_._fit(design, y, rng)

    def _sample(self, design, rng, observed):
        """Draw values for clusters with nothing observed, from the fallback model."""
        return self.fallback_._sample(design, rng, None)
