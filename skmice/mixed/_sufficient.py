"""Per-cluster sufficient statistics of a linear mixed model with one grouping factor.

Everything the profiled (RE)ML deviance needs is a handful of cross-products,
computed in one pass over the rows (:func:`skmice._grouped.cluster_crossprods`):
``Z_j'Z_j``, ``Z_j'X_j`` and ``Z_j'r_j`` per cluster ``j``, and ``X'X``,
``X'r``, ``r'r`` overall. After this pass the optimisation never touches the
rows again.

Several responses sharing ``X``, ``Z`` and the clusters (the m completed
datasets of a multiple imputation, when only the outcome was imputed) are
handled at once: the statistics of ``Z`` and ``X`` are computed once and those
of the responses as columns of one matrix.

The responses enter as residuals ``r = y - X b0`` from ordinary least
squares: the mixed model for ``r`` has the same variance components and
``beta - b0`` as fixed effects, and its cross-products carry no large
common offset, so the penalised residual sum of squares is not computed as
a small difference of large numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import scipy.linalg

from .._grouped import cluster_crossprods

__all__ = ["SufficientStatistics", "sufficient_statistics"]


class _Responses:
    """What statistics of k responses sharing one fixed-effects matrix have in common.

    ``PER_RESPONSE`` names the fields whose last axis runs over the responses.
    """

    PER_RESPONSE: ClassVar[tuple] = ()

    @property
    def p(self) -> int:
        """Fixed effects."""
        return self.XtX.shape[0]

    @property
    def n_responses(self) -> int:
        """Number of responses k."""
        return self.rtr.shape[0]

    def response(self, k: int):
        """The statistics of response ``k`` alone (views, no copy)."""
        sl = slice(k, k + 1)
        return replace(self, **{name: getattr(self, name)[..., sl] for name in self.PER_RESPONSE})


@dataclass(frozen=True)
class SufficientStatistics(_Responses):
    """Cross-products of one grouping factor's design with k responses.

    Attributes
    ----------
    ZtZ : ndarray, shape (n_groups, q, q)
    ZtX : ndarray, shape (n_groups, q, p)
    Ztr : ndarray, shape (n_groups, q, k)
        Per cluster, with the OLS residuals ``r`` of each response.
    XtX : ndarray, shape (p, p)
    Xtr : ndarray, shape (p, k)
        ``X'r`` (zero up to rounding: kept for exactness).
    rtr : ndarray, shape (k,)
        Residual sums of squares of the OLS fits.
    beta_ols : ndarray, shape (p, k)
        The OLS coefficients ``b0`` the residuals are taken from.
    n_obs : int
        Number of rows.
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Ztr: np.ndarray
    XtX: np.ndarray
    Xtr: np.ndarray
    rtr: np.ndarray
    beta_ols: np.ndarray
    n_obs: int

    PER_RESPONSE: ClassVar[tuple] = ("Ztr", "Xtr", "rtr", "beta_ols")

    @property
    def n_groups(self) -> int:
        """Number of clusters."""
        return self.ZtZ.shape[0]

    @property
    def q(self) -> int:
        """Random effects per cluster."""
        return self.ZtZ.shape[1]


#: A column whose part not explained by the previous columns has a squared norm below
#: this fraction of its own is taken as a linear combination of them.
RANK_TOL = 1e-10


def _ols(X: np.ndarray, XtX: np.ndarray, Y: np.ndarray, names=None) -> np.ndarray:
    """OLS coefficients of every column of ``Y``; rank-deficient ``X`` is an error."""
    if X.shape[1] == 0:
        return np.zeros((0, Y.shape[1]))
    scale = np.sqrt(np.maximum(np.diag(XtX), np.finfo(float).tiny))
    try:
        L = scipy.linalg.cholesky(XtX / np.outer(scale, scale), lower=True)
        pivots = np.diag(L) ** 2
    except np.linalg.LinAlgError:
        pivots = np.zeros(X.shape[1])
    bad = np.flatnonzero(~(pivots > RANK_TOL))
    if bad.size:
        k = int(bad[0])
        label = repr(names[k]) if names is not None else f"number {k}"
        raise ValueError(
            f"the fixed-effects design matrix is rank deficient: column {label} is constant "
            "zero or a linear combination of the columns before it; remove the redundant term."
        )
    beta = scipy.linalg.cho_solve((L, True), (X.T @ Y) / scale[:, None]) / scale[:, None]
    if not np.all(np.isfinite(beta)):
        raise ValueError("the fixed-effects design matrix is not finite.")
    return beta


def sufficient_statistics(codes, n_groups: int, Z, X, Y, names=None) -> SufficientStatistics:
    """Compute the sufficient statistics of k responses sharing ``X``, ``Z`` and clusters.

    Parameters
    ----------
    codes : ndarray of int, shape (n_obs,)
        Cluster codes in ``[0, n_groups)``.
    n_groups : int
        Number of clusters.
    Z : ndarray, shape (n_obs, q)
        Random-effects columns.
    X : ndarray, shape (n_obs, p)
        Fixed-effects matrix (full column rank).
    Y : ndarray, shape (n_obs,) or (n_obs, k)
        Responses.
    names : list of str, optional
        Names of the columns of ``X``, for error messages.

    Returns
    -------
    SufficientStatistics

    Raises
    ------
    ValueError
        If ``X`` is rank deficient or the inputs are not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.mixed import sufficient_statistics
    >>> codes = np.array([0, 0, 1, 1, 1])
    >>> Z = np.ones((5, 1)); X = np.ones((5, 1)); y = np.array([1.0, 2, 3, 4, 5])
    >>> s = sufficient_statistics(codes, 2, Z, X, y)
    >>> s.ZtZ.ravel().tolist(), s.Ztr.ravel().round(12).tolist(), float(s.rtr[0])
    ([2.0, 3.0], [-3.0, 3.0], 10.0)
    """
    Z = np.asarray(Z, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    for name, arr in (("Z", Z), ("X", X), ("y", Y)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has values that are not finite.")
    XtX = X.T @ X
    beta = _ols(X, XtX, Y, names)
    R = Y - X @ beta
    ZtZ, ZtX, Ztr = cluster_crossprods(codes, n_groups, Z, Z, X, R)
    return SufficientStatistics(
        ZtZ=ZtZ,
        ZtX=ZtX,
        Ztr=Ztr,
        XtX=XtX,
        Xtr=X.T @ R,
        rtr=np.einsum("ik,ik->k", R, R),
        beta_ols=beta,
        n_obs=X.shape[0],
    )
