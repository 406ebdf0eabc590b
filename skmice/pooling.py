"""Pooling of multiply imputed analyses: Rubin's rules and multi-parameter tests.

The functions here work on plain arrays (or pandas objects carrying term
names) holding the m complete-data estimates ``Q_l`` and their covariance
matrices ``U_l``; :mod:`skmice.analysis` extracts them from fitted models.

What is computed, and which R function it reproduces:

- :func:`pool`: R ``summary(mice::pool(fit), conf.int = TRUE)`` (Rubin's rules with
  the Barnard-Rubin degrees of freedom).
- :func:`pool_scalar`: R ``mice::pool.scalar``.
- :func:`D1`: the multivariate Wald test (Li, Raghunathan and Rubin 1991) with
  Reiter's (2007) small-sample denominator df, as ``mice::D1`` /
  ``mitml::testModels(method = "D1")``.
- :func:`D2`: pooling of m chi-square statistics (Li, Meng, Raghunathan and Rubin
  1991), as ``mice::D2`` / ``mitml::testModels(method = "D2")``.
- :func:`D3`: the likelihood-ratio test of Meng and Rubin (1992) from the
  per-imputation likelihood ratios, as ``mice::D3``; the model-based path that
  evaluates the likelihoods lives in :meth:`skmice.analysis.MultipleAnalyses.D3`.
- :func:`pool_extra`: the mean over imputations of variance components and
  ICCs, as ``mitml::testEstimates(extra.pars = TRUE)``.
- :func:`pool_without_variances`: what can be pooled from estimates that come
  without standard errors (scikit-learn's): their mean and between-imputation
  variance.

References
----------
Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.

Barnard, J. and Rubin, D. B. (1999). Small-sample degrees of freedom with
multiple imputation. Biometrika 86, 948-955.

Li, K. H., Raghunathan, T. E. and Rubin, D. B. (1991). Large-sample significance
levels from multiply imputed data using moment-based statistics and an F
reference distribution. JASA 86, 1065-1073.

Li, K. H., Meng, X. L., Raghunathan, T. E. and Rubin, D. B. (1991). Significance
levels from repeated p-values with multiply-imputed data. Statistica Sinica 1,
65-92.

Meng, X. L. and Rubin, D. B. (1992). Performing likelihood ratio tests with
multiply-imputed data sets. Biometrika 79, 103-111.

Reiter, J. P. (2007). Small-sample degrees of freedom for multi-component
significance tests with multiple imputation for missing data. Biometrika 94,
502-508.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "D1",
    "D2",
    "D3",
    "MultiParameterTest",
    "ScalarPool",
    "barnard_rubin",
    "pool",
    "pool_extra",
    "pool_scalar",
    "pool_without_variances",
    "wald_statistics",
]

#: Columns of the table returned by :func:`pool`, in order.
POOL_COLUMNS = (
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "conf_low",
    "conf_high",
    "riv",
    "lambda",
    "fmi",
    "ubar",
    "b",
    "t",
    "m",
)

# R mice floors lambda at this value inside the Barnard-Rubin df.
_LAMBDA_FLOOR = 1e-4


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------


def _check_dfcom(dfcom, name: str = "dfcom") -> float:
    """Return dfcom as a float (``inf`` for None), validating it."""
    if dfcom is None:
        return math.inf
    if isinstance(dfcom, bool) or not isinstance(dfcom, numbers.Real):
        raise TypeError(f"{name} must be a positive number, None or inf, got {dfcom!r}.")
    dfcom = float(dfcom)
    if math.isnan(dfcom) or dfcom <= 0:
        raise ValueError(f"{name} must be a positive number, None or inf, got {dfcom!r}.")
    return dfcom


def _check_conf_level(conf_level) -> float:
    if isinstance(conf_level, bool) or not isinstance(conf_level, numbers.Real):
        raise TypeError(f"conf_level must be a number in (0, 1), got {conf_level!r}.")
    if not 0.0 < float(conf_level) < 1.0:
        raise ValueError(f"conf_level must lie strictly between 0 and 1, got {conf_level!r}.")
    return float(conf_level)


def _as_estimates(estimates, terms, name: str = "estimates"):
    """Turn the m estimate vectors into an (m, k) float array and term names.

    Accepts an (m, k) array-like, a DataFrame (rows = imputations, columns =
    terms) or a sequence of pandas Series (terms from their index, aligned on
    the first one).
    """
    inferred = None
    if isinstance(estimates, pd.DataFrame):
        inferred = list(estimates.columns)
        Q = estimates.to_numpy(dtype=float)
    elif (
        isinstance(estimates, Sequence)
        and not isinstance(estimates, str)
        and len(estimates) > 0
        and all(isinstance(e, pd.Series) for e in estimates)
    ):
        inferred = list(estimates[0].index)
        if len(set(inferred)) != len(inferred):
            raise ValueError(f"{name}: the term names of the Series are not unique.")
        rows = []
        for i, e in enumerate(estimates):
            if set(e.index) != set(inferred) or len(e) != len(inferred):
                raise ValueError(
                    f"{name}[{i}] has terms {list(e.index)}, but {name}[0] has {inferred}: "
                    "every imputation must estimate the same terms."
                )
            rows.append(e.reindex(inferred).to_numpy(dtype=float))
        Q = np.vstack(rows)
    else:
        try:
            Q = np.asarray(estimates, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a numeric (m, k) array: {exc}") from None
        if Q.ndim == 1:
            Q = Q[:, None]
    if Q.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (m, k), got shape {Q.shape}.")
    m, k = Q.shape
    if m < 2:
        raise ValueError(
            f"{name} holds m = {m} imputation(s); pooling needs m >= 2 "
            "(the between-imputation variance is undefined for m = 1)."
        )
    if k < 1:
        raise ValueError(f"{name} has no terms (shape {Q.shape}).")
    if not np.all(np.isfinite(Q)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if terms is None:
        terms = inferred if inferred is not None else list(range(k))
    else:
        terms = list(terms)
        if len(terms) != k:
            raise ValueError(f"terms has {len(terms)} names but {name} has k = {k} columns.")
        if inferred is not None and terms != inferred:
            raise ValueError(
                f"terms {terms} differ from the term names carried by {name} {inferred}."
            )
    return Q, terms


def _as_covariances(covariances, m: int, k: int, terms, name: str = "covariances"):
    """Return (U, full): an (m, k, k) array (full=True) or (m, k) variances."""
    if (
        isinstance(covariances, Sequence)
        and not isinstance(covariances, str)
        and len(covariances) > 0
        and all(isinstance(c, pd.DataFrame) for c in covariances)
    ):
        mats = []
        for i, c in enumerate(covariances):
            try:
                c = c.loc[terms, terms]
            except KeyError:
                raise ValueError(
                    f"{name}[{i}] does not have rows and columns for every term {terms}."
                ) from None
            mats.append(c.to_numpy(dtype=float))
        U = np.stack(mats)
    elif isinstance(covariances, pd.DataFrame):
        # an (m, k) table of variances
        U = covariances.to_numpy(dtype=float)
    else:
        try:
            U = np.asarray(covariances, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from None
        if U.ndim == 1 and k == 1:
            U = U[:, None]
    if U.ndim == 3:
        if U.shape != (m, k, k):
            raise ValueError(
                f"{name} must have shape (m, k, k) = ({m}, {k}, {k}) or (m, k) = ({m}, {k}), "
                f"got {U.shape}."
            )
        full = True
    elif U.ndim == 2:
        if U.shape != (m, k):
            raise ValueError(
                f"{name} must have shape (m, k, k) = ({m}, {k}, {k}) or (m, k) = ({m}, {k}), "
                f"got {U.shape}."
            )
        full = False
    else:
        raise ValueError(
            f"{name} must have shape (m, k, k) = ({m}, {k}, {k}) or (m, k) = ({m}, {k}), "
            f"got {U.shape}."
        )
    if not np.all(np.isfinite(U)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    diag = np.diagonal(U, axis1=1, axis2=2) if full else U
    if np.any(diag < 0):
        raise ValueError(f"{name} has negative variances on the diagonal.")
    return U, full


def _select_terms(test_terms, terms, name: str = "test_terms") -> np.ndarray:
    """Positions of ``test_terms`` (names, or integer positions) among ``terms``."""
    if test_terms is None:
        return np.arange(len(terms))
    if isinstance(test_terms, str) or not isinstance(test_terms, (Sequence, np.ndarray, pd.Index)):
        test_terms = [test_terms]
    test_terms = list(test_terms)
    if len(test_terms) == 0:
        raise ValueError(f"{name} is empty: name at least one term to test.")
    positions = []
    for t in test_terms:
        if t in terms:
            positions.append(terms.index(t))
        elif isinstance(t, numbers.Integral) and not isinstance(t, bool) and 0 <= t < len(terms):
            positions.append(int(t))
        else:
            raise ValueError(f"{name}: {t!r} is not one of the terms {terms}.")
    if len(set(positions)) != len(positions):
        raise ValueError(f"{name} names the same term twice: {test_terms}.")
    return np.asarray(positions, dtype=int)


# ---------------------------------------------------------------------------
# Rubin's rules
# ---------------------------------------------------------------------------


def barnard_rubin(m: int, b, t, dfcom=None):
    """Barnard-Rubin (1999) degrees of freedom, exactly as R ``mice:::barnard.rubin``.

    ``lambda = (1 + 1/m) b / t`` is floored at 1e-4 (as R does) before
    ``df_old = (m - 1) / lambda^2``; with a finite ``dfcom``,
    ``df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 - lambda)`` and the result is
    ``df_old df_obs / (df_old + df_obs)``, otherwise ``df_old``.

    Parameters
    ----------
    m : int
        Number of imputations.
    b, t : float or array-like
        Between-imputation and total variances.
    dfcom : float, optional
        Complete-data degrees of freedom; None or ``inf`` for a large sample.

    Returns
    -------
    float or ndarray
        The degrees of freedom, elementwise.

    Examples
    --------
    >>> from skmice.pooling import barnard_rubin
    >>> round(float(barnard_rubin(5, b=0.5, t=1.6)), 4)
    28.4444
    >>> round(float(barnard_rubin(5, b=0.5, t=1.6, dfcom=30)), 4)
    10.8778
    """
    dfcom = _check_dfcom(dfcom)
    b = np.asarray(b, dtype=float)
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (1.0 + 1.0 / m) * b / t
        lam = np.where(lam < _LAMBDA_FLOOR, _LAMBDA_FLOOR, lam)
        df_old = (m - 1) / lam**2
        if math.isinf(dfcom):
            out = df_old
        else:
            df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
            out = df_old * df_obs / (df_old + df_obs)
    return out[()] if out.ndim == 0 else out


def pool(estimates, covariances, dfcom=None, terms=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Pool m complete-data estimates by Rubin's rules (R ``mice::pool``).

    For each term: ``qbar`` = mean of the estimates, ``ubar`` = mean of the
    within-imputation variances, ``b`` = their between-imputation variance
    (divisor m - 1), ``t = ubar + (1 + 1/m) b``; the t reference distribution
    uses the Barnard-Rubin degrees of freedom (:func:`barnard_rubin`).

    Parameters
    ----------
    estimates : array-like of shape (m, k), DataFrame, or list of Series
        The m estimate vectors. With pandas Series the term names come from
        their index (each Series is aligned on the first one's order); with a
        DataFrame, rows are imputations and columns are terms.
    covariances : array-like of shape (m, k, k) or (m, k), or list of DataFrames
        The m covariance matrices, or only the m variance vectors (only the
        diagonal is used here). DataFrames are aligned on the terms by label.
    dfcom : float, optional
        Complete-data degrees of freedom (R uses the residual df of the model,
        e.g. ``n - p`` for OLS). None or ``inf`` means a large sample
        (``df = df_old``).
    terms : sequence, optional
        Term names (default: taken from pandas input, else ``0..k-1``).
    conf_level : float, default=0.95
        Level of the confidence interval.

    Returns
    -------
    DataFrame
        One row per term (index = terms) with columns ``estimate``,
        ``std_error`` (= sqrt(t)), ``statistic`` (estimate / std_error), ``df``,
        ``p_value`` (two-sided, t with ``max(df, 0.001)`` df as R),
        ``conf_low``, ``conf_high``, ``riv`` (``(1 + 1/m) b / ubar``),
        ``lambda`` (``(1 + 1/m) b / t``, not floored), ``fmi``
        (``(riv + 2 / (df + 3)) / (riv + 1)``, mice's definition), ``ubar``,
        ``b``, ``t`` and ``m``. ``attrs`` holds ``dfcom`` and ``conf_level``.

    Raises
    ------
    ValueError
        If the shapes disagree, values are not finite, or m < 2.

    See Also
    --------
    pool_scalar : the same for a single parameter, as a small record.
    skmice.analysis.MultipleAnalyses.pool : pooling straight from fitted models.

    Notes
    -----
    ``lambda`` is floored at 1e-4 only inside the df computation, as in R mice
    3.15. mitml's ``testEstimates`` instead uses ``df_old`` without the floor
    unless ``df.com`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.pooling import pool
    >>> Q = np.array([[1.0, 2.0], [1.2, 1.8], [0.9, 2.1]])
    >>> U = np.array([[0.04, 0.09]] * 3)   # variances only
    >>> res = pool(Q, U, dfcom=50, terms=["a", "b"])
    >>> res[["estimate", "std_error", "df"]].round(4)
       estimate  std_error       df
    a    1.0333     0.2667   7.5385
    b    1.9667     0.3480  16.4034
    >>> int(res.loc["a", "m"])
    3
    """
    dfcom = _check_dfcom(dfcom)
    conf_level = _check_conf_level(conf_level)
    Q, terms = _as_estimates(estimates, terms)
    m, k = Q.shape
    U, full = _as_covariances(covariances, m, k, terms)
    variances = np.diagonal(U, axis1=1, axis2=2) if full else U

    qbar = Q.mean(axis=0)
    ubar = variances.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    df = np.asarray(barnard_rubin(m, b, t, dfcom), dtype=float).reshape(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
        std_error = np.sqrt(t)
        statistic = qbar / std_error
    p_value = 2.0 * stats.t.sf(np.abs(statistic), np.maximum(df, 0.001))
    half = stats.t.ppf(0.5 + conf_level / 2.0, df) * std_error
    out = pd.DataFrame(
        {
            "estimate": qbar,
            "std_error": std_error,
            "statistic": statistic,
            "df": df,
            "p_value": p_value,
            "conf_low": qbar - half,
            "conf_high": qbar + half,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
            "ubar": ubar,
            "b": b,
            "t": t,
            "m": np.full(k, m, dtype=int),
        },
        index=pd.Index(terms),
    )
    out.attrs["dfcom"] = dfcom
    out.attrs["conf_level"] = conf_level
    return out


@dataclass(frozen=True)
class ScalarPool:
    """Rubin's rules for one parameter (the result of :func:`pool_scalar`).

    Attributes
    ----------
    m : int
        Number of imputations.
    qbar : float
        Pooled estimate (mean of the m estimates).
    ubar : float
        Mean within-imputation variance.
    b : float
        Between-imputation variance.
    t : float
        Total variance ``ubar + (1 + 1/m) b``.
    df : float
        Barnard-Rubin degrees of freedom.
    r : float
        Relative increase in variance ``(1 + 1/m) b / ubar``.
    lambda_ : float
        Proportion of the total variance due to missingness ``(1 + 1/m) b / t``.
    fmi : float
        Fraction of missing information ``(r + 2 / (df + 3)) / (r + 1)``.

    Examples
    --------
    >>> from skmice.pooling import pool_scalar
    >>> res = pool_scalar([1.0, 1.2, 0.9], [0.04, 0.05, 0.045])
    >>> round(res.t, 5), round(res.std_error, 4)
    (0.07611, 0.2759)
    """

    m: int
    qbar: float
    ubar: float
    b: float
    t: float
    df: float
    r: float
    lambda_: float
    fmi: float

    @property
    def std_error(self) -> float:
        """Standard error of the pooled estimate, ``sqrt(t)``."""
        return math.sqrt(self.t)

    def to_dict(self) -> dict:
        """The fields as a plain dict (``lambda_`` keyed as ``"lambda"``).

        Examples
        --------
        >>> from skmice.pooling import pool_scalar
        >>> sorted(pool_scalar([1.0, 2.0], [0.1, 0.1]).to_dict())[:4]
        ['b', 'df', 'fmi', 'lambda']
        """
        d = asdict(self)
        d["lambda"] = d.pop("lambda_")
        return d


def pool_scalar(estimates, variances, dfcom=math.inf) -> ScalarPool:
    """Pool one parameter by Rubin's rules (R ``mice::pool.scalar``).

    Parameters
    ----------
    estimates : array-like of shape (m,)
        The m complete-data estimates.
    variances : array-like of shape (m,)
        Their m variances (squared standard errors).
    dfcom : float, default=inf
        Complete-data degrees of freedom. R's ``pool.scalar(Q, U, n, k)`` uses
        ``dfcom = n - k``; its default ``n = Inf`` is ``dfcom = inf`` here.

    Returns
    -------
    ScalarPool
        ``qbar``, ``ubar``, ``b``, ``t``, ``df``, ``r``, ``lambda_``, ``fmi``
        (and ``m``, ``std_error``).

    Raises
    ------
    ValueError
        If the lengths differ, values are not finite, variances are negative or
        m < 2.

    Examples
    --------
    >>> from skmice.pooling import pool_scalar
    >>> res = pool_scalar([1.0, 1.2, 0.9], [0.04, 0.05, 0.045], dfcom=30)
    >>> round(res.qbar, 4), round(res.b, 4), round(res.df, 3), round(res.fmi, 4)
    (1.0333, 0.0233, 6.966, 0.5274)
    """
    dfcom = _check_dfcom(dfcom)
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1:
        raise ValueError(f"estimates must be 1-D with shape (m,), got shape {q.shape}.")
    if u.ndim != 1 or u.shape != q.shape:
        raise ValueError(
            f"variances must be 1-D with the shape of estimates {q.shape}, got shape {u.shape}."
        )
    res = pool(q[:, None], u[:, None], dfcom=dfcom)
    row = res.iloc[0]
    return ScalarPool(
        m=int(row["m"]),
        qbar=float(row["estimate"]),
        ubar=float(row["ubar"]),
        b=float(row["b"]),
        t=float(row["t"]),
        df=float(row["df"]),
        r=float(row["riv"]),
        lambda_=float(row["lambda"]),
        fmi=float(row["fmi"]),
    )


# ---------------------------------------------------------------------------
# multi-parameter tests
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiParameterTest:
    """Result of a multi-parameter test (:func:`D1`, :func:`D2`, :func:`D3`).

    Attributes
    ----------
    statistic : float
        The F statistic (R's ``F.value``; D2 can be negative, as in R).
    df1 : float
        Numerator degrees of freedom (the number of tested parameters k).
    df2 : float
        Denominator degrees of freedom.
    p_value : float
        ``P(F(df1, df2) > statistic)`` (the chi-square limit when ``df2`` is infinite).
    riv : float
        Average relative increase in variance due to missing data.
    method : str
        ``"D1"``, ``"D2"`` or ``"D3"``.
    m : int
        Number of imputations.

    Examples
    --------
    >>> from skmice.pooling import D2
    >>> res = D2([4.1, 6.3, 5.2], k=2)
    >>> res.method, res.df1, round(res.statistic, 4)
    ('D2', 2.0, 2.2651)
    """

    statistic: float
    df1: float
    df2: float
    p_value: float
    riv: float
    method: str
    m: int

    def to_dict(self) -> dict:
        """The fields as a plain dict.

        Examples
        --------
        >>> from skmice.pooling import D2
        >>> list(D2([4.1, 6.3, 5.2], k=2).to_dict())
        ['statistic', 'df1', 'df2', 'p_value', 'riv', 'method', 'm']
        """
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.method} (m = {self.m}): F = {self.statistic:.4f} on {self.df1:g} and "
            f"{self.df2:.2f} df, p = {self.p_value:.4g}, riv = {self.riv:.4f}"
        )


def _f_test(method, statistic, k, df2, riv, m) -> MultiParameterTest:
    if not np.isfinite(statistic) or np.isnan(df2):
        p = math.nan
    elif np.isinf(df2):  # riv = 0 (identical imputations): the chi-square limit, as R's pf
        p = float(stats.chi2.sf(statistic * k, k))
    else:
        p = float(stats.f.sf(statistic, k, df2))
    return MultiParameterTest(
        statistic=float(statistic),
        df1=float(k),
        df2=float(df2),
        p_value=p,
        riv=float(riv),
        method=method,
        m=int(m),
    )


def _large_sample_df2(t: float, k: int, r: float) -> float:
    """Denominator df of Li, Raghunathan and Rubin (1991) (and of Meng-Rubin D3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if t > 4:
            return float(4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / np.float64(r)) ** 2)
        return float(t * (1.0 + 1.0 / k) * (1.0 + 1.0 / np.float64(r)) ** 2 / 2.0)


def _reiter_df2(t: float, r: float, dfcom: float) -> float:
    """Reiter's (2007, eq. 1-2) small-sample denominator df, as mitml's ``.D1``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.float64(t)
        a = r * t / (t - 2.0)
        vstar = (dfcom + 1.0) / (dfcom + 3.0) * dfcom
        c0 = 1.0 / (t - 4.0)
        c1 = vstar - 2.0 * (1.0 + a)
        c2 = vstar - 4.0 * (1.0 + a)
        z = (
            1.0 / c2
            + c0 * (a**2 * c1 / ((1.0 + a) ** 2 * c2))
            + c0 * (8.0 * a**2 * c1 / ((1.0 + a) * c2**2) + 4.0 * a**2 / ((1.0 + a) * c2))
            + c0 * (4.0 * a**2 / (c2 * c1) + 16.0 * a**2 * c1 / c2**3)
            + c0 * (8.0 * a**2 / c2**2)
        )
        return float(4.0 + 1.0 / z)


def D1(estimates, covariances, test_terms=None, dfcom=None, terms=None) -> MultiParameterTest:
    """Multivariate Wald test D1 (R ``mice::D1``, ``mitml::testModels(method = "D1")``).

    Tests ``H0: Q = 0`` for the k parameters in ``test_terms`` (for nested
    models: the parameters of the larger model absent from the smaller one)::

        r = (1 + 1/m) tr(B ubar^-1) / k
        F = qbar' ((1 + r) ubar)^-1 qbar / k

    on ``k`` and ``df2`` degrees of freedom, where with ``t = k (m - 1)``
    ``df2 = 4 + (t - 4) (1 + (1 - 2/t) / r)^2`` (``t > 4``) or
    ``t (1 + 1/k) (1 + 1/r)^2 / 2`` for a large sample, and Reiter's (2007)
    small-sample df when ``dfcom`` is finite.

    Parameters
    ----------
    estimates : array-like of shape (m, p), DataFrame, or list of Series
        Estimates of the (larger) model, as for :func:`pool`.
    covariances : array-like of shape (m, p, p), or list of DataFrames
        Full covariance matrices (variances alone are not enough).
    test_terms : sequence, optional
        Names (or integer positions) of the tested parameters; default all.
    dfcom : float, optional
        Complete-data df of the larger model (R ``mice::D1`` uses its residual
        df). None or ``inf``: the large-sample df2.
    terms : sequence, optional
        Term names when ``estimates`` is a plain array.

    Returns
    -------
    MultiParameterTest

    Raises
    ------
    ValueError
        On inconsistent shapes, unknown ``test_terms`` or a singular ``ubar``.

    Notes
    -----
    With ``dfcom`` given and ``k (m - 1) <= 4`` the small-sample df is not
    trustworthy (mitml warns too); a RuntimeWarning is issued.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.pooling import D1
    >>> Q = np.array([[0.5, 0.30], [0.6, 0.20], [0.4, 0.35], [0.55, 0.25]])
    >>> U = np.array([np.diag([0.01, 0.02])] * 4)
    >>> res = D1(Q, U, test_terms=[0, 1], dfcom=100)
    >>> round(res.statistic, 3), res.df1, round(res.df2, 2), round(res.riv, 4)
    (9.473, 2.0, 10.48, 0.5859)
    """
    dfcom = _check_dfcom(dfcom)
    Q, terms = _as_estimates(estimates, terms)
    m, p = Q.shape
    U, full = _as_covariances(covariances, m, p, terms)
    if not full:
        raise ValueError(
            "covariances must hold full (m, k, k) covariance matrices for D1; "
            "variances alone ignore the correlation between the tested estimates."
        )
    idx = _select_terms(test_terms, terms)
    k = len(idx)
    Qs = Q[:, idx]
    Us = U[:, idx][:, :, idx]
    qbar = Qs.mean(axis=0)
    ubar = Us.mean(axis=0)
    B = np.atleast_2d(np.cov(Qs, rowvar=False, ddof=1))
    try:
        r = (1.0 + 1.0 / m) * np.trace(np.linalg.solve(ubar, B)) / k
        F = float(qbar @ np.linalg.solve((1.0 + r) * ubar, qbar)) / k
    except np.linalg.LinAlgError:
        raise ValueError(
            "covariances: the mean covariance matrix of the tested terms is singular."
        ) from None
    t = k * (m - 1)
    if math.isinf(dfcom):
        df2 = _large_sample_df2(t, k, r)
    else:
        if t <= 4:
            warnings.warn(
                f"D1 small-sample df with k (m - 1) = {t} <= 4 may not be trustworthy; "
                "use more imputations.",
                RuntimeWarning,
                stacklevel=2,
            )
        df2 = _reiter_df2(t, r, dfcom)
    return _f_test("D1", F, k, df2, r, m)


def wald_statistics(estimates, covariances, test_terms=None, terms=None) -> np.ndarray:
    """Per-imputation Wald chi-square statistics ``d_l = Q_l' U_l^-1 Q_l``.

    These are what R ``mice::D2`` (``use = "wald"``) pools with :func:`D2`.

    Parameters
    ----------
    estimates : array-like of shape (m, p), DataFrame, or list of Series
        Estimates, as for :func:`pool`.
    covariances : array-like of shape (m, p, p), or list of DataFrames
        Full covariance matrices.
    test_terms : sequence, optional
        Names (or positions) of the tested parameters; default all.
    terms : sequence, optional
        Term names when ``estimates`` is a plain array.

    Returns
    -------
    ndarray of shape (m,)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.pooling import wald_statistics
    >>> Q = np.array([[0.5, 0.3], [0.6, 0.2]])
    >>> U = np.array([np.diag([0.01, 0.02])] * 2)
    >>> wald_statistics(Q, U).round(2)
    array([29.5, 38. ])
    """
    Q, terms = _as_estimates(estimates, terms)
    m, p = Q.shape
    U, full = _as_covariances(covariances, m, p, terms)
    if not full:
        raise ValueError("covariances must hold full (m, k, k) covariance matrices.")
    idx = _select_terms(test_terms, terms)
    Qs = Q[:, idx]
    Us = U[:, idx][:, :, idx]
    try:
        sol = np.linalg.solve(Us, Qs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        raise ValueError(
            "covariances: a covariance matrix of the tested terms is singular."
        ) from None
    return np.einsum("ij,ij->i", Qs, sol)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive int (the number of tested parameters), got {k!r}.")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    return int(k)


def D2(statistics, k: int) -> MultiParameterTest:
    """Pool m chi-square statistics: the D2 test (R ``mice::D2``, mitml's ``.D2``).

    With ``d_l`` the m statistics (each chi-square on k df under H0)::

        r  = (1 + 1/m) var(sqrt(d_l))
        F  = (mean(d) / k - (m + 1) / (m - 1) r) / (1 + r)
        df2 = k^(-3/m) (m - 1) (1 + 1/r)^2

    ``F`` can be negative (then ``p_value = 1``), as in R.

    Parameters
    ----------
    statistics : array-like of shape (m,)
        Per-imputation Wald (:func:`wald_statistics`, R's default) or
        likelihood-ratio chi-square statistics, all >= 0.
    k : int
        Their degrees of freedom (number of tested parameters).

    Returns
    -------
    MultiParameterTest

    Raises
    ------
    ValueError
        If fewer than 2 statistics are given or any is negative or not finite.

    Examples
    --------
    >>> from skmice.pooling import D2
    >>> res = D2([4.1, 6.3, 5.2], k=2)
    >>> round(res.statistic, 4), round(res.df2, 2), round(res.riv, 4)
    (2.2651, 188.64, 0.0785)
    """
    k = _check_k(k)
    d = np.asarray(statistics, dtype=float)
    if d.ndim != 1:
        raise ValueError(f"statistics must be 1-D with shape (m,), got shape {d.shape}.")
    m = d.shape[0]
    if m < 2:
        raise ValueError(f"statistics holds m = {m} value(s); D2 needs m >= 2.")
    if not np.all(np.isfinite(d)):
        raise ValueError("statistics contains NaN or infinite values.")
    if np.any(d < 0):
        raise ValueError("statistics must be chi-square statistics (>= 0); got negative values.")
    r = (1.0 + 1.0 / m) * np.var(np.sqrt(d), ddof=1)
    F = (d.mean() / k - (m + 1.0) / (m - 1.0) * r) / (1.0 + r)
    with np.errstate(divide="ignore"):
        df2 = k ** (-3.0 / m) * (m - 1.0) * (1.0 + 1.0 / np.float64(r)) ** 2
    return _f_test("D2", F, k, df2, r, m)


def D3(lr_own, lr_pooled, k: int, m: int | None = None) -> MultiParameterTest:
    """Meng and Rubin (1992) likelihood-ratio test D3 from likelihood ratios.

    ``lr_own`` are the m likelihood-ratio statistics ``-2 (l0 - l1)`` with
    both models at their own per-imputation estimates; ``lr_pooled`` the same
    with the parameters fixed at the pooled estimates. With ``dL_bar`` and
    ``dL_tilde`` their means::

        r  = (m + 1) / (k (m - 1)) (dL_bar - dL_tilde)
        F  = dL_tilde / (k (1 + r))

    and df2 as the large-sample D1 df with ``t = k (m - 1)``. This is the
    arithmetic of R ``mice::D3`` and ``mitml::testModels(method = "D3")``; they
    differ in how the pooled likelihood is evaluated (see
    :meth:`skmice.analysis.MultipleAnalyses.D3`, which does that for you).

    Parameters
    ----------
    lr_own : array-like of shape (m,) or float
        Per-imputation LR statistics at the own estimates, or their mean.
    lr_pooled : array-like of shape (m,) or float
        Per-imputation LR statistics at the pooled estimates, or their mean.
    k : int
        Number of tested parameters (difference in model size).
    m : int, optional
        Number of imputations; needed only when means are passed.

    Returns
    -------
    MultiParameterTest

    Raises
    ------
    ValueError
        If the lengths differ, m < 2 or m is missing for scalar input.

    Examples
    --------
    >>> from skmice.pooling import D3
    >>> res = D3([12.1, 9.8, 11.4], [10.9, 9.1, 10.2], k=2)
    >>> round(res.statistic, 4), round(res.riv, 4), round(res.df2, 2)
    (2.4754, 1.0333, 11.62)
    >>> D3(11.1, 10.0667, k=2, m=3).df1
    2.0
    """
    k = _check_k(k)
    own = np.asarray(lr_own, dtype=float)
    pooled = np.asarray(lr_pooled, dtype=float)
    if own.ndim > 1 or pooled.ndim > 1:
        raise ValueError("lr_own and lr_pooled must be 1-D arrays of length m, or scalars.")
    if own.ndim == 1 and pooled.ndim == 1 and own.shape != pooled.shape:
        raise ValueError(
            f"lr_own has {own.shape[0]} values but lr_pooled has {pooled.shape[0]}; "
            "both need one per imputation."
        )
    lengths = {a.shape[0] for a in (own, pooled) if a.ndim == 1}
    if m is None:
        if not lengths:
            raise ValueError("m must be given when lr_own and lr_pooled are means (scalars).")
        m = lengths.pop()
    else:
        if isinstance(m, bool) or not isinstance(m, numbers.Integral):
            raise TypeError(f"m must be an int, got {m!r}.")
        if lengths and lengths != {m}:
            raise ValueError(f"m = {m} but lr_own/lr_pooled have {lengths.pop()} values.")
    if m < 2:
        raise ValueError(f"m = {m}: D3 needs m >= 2 imputations.")
    if not (np.all(np.isfinite(own)) and np.all(np.isfinite(pooled))):
        raise ValueError("lr_own and lr_pooled must be finite.")
    dl_bar = float(own.mean())
    dl_tilde = float(pooled.mean())
    r = (m + 1.0) / (k * (m - 1.0)) * (dl_bar - dl_tilde)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = dl_tilde / (k * (1.0 + np.float64(r)))
    df2 = _large_sample_df2(k * (m - 1), k, r)
    return _f_test("D3", F, k, df2, r, m)


# ---------------------------------------------------------------------------
# variance components
# ---------------------------------------------------------------------------


def pool_extra(values):
    """Pool variance components, ICCs and other extra parameters: their mean.

    This is what ``mitml::testEstimates(extra.pars = TRUE)`` reports: the plain
    mean over imputations (no variance, no df). Note that the pooled ICC is
    the mean of the m ICCs, not the ICC of the mean variance components.

    Parameters
    ----------
    values : array-like of shape (m, k), DataFrame, or sequence of Series / dicts
        One set of values per imputation. Labelled input must have the same
        labels in every imputation.

    Returns
    -------
    Series or ndarray
        A Series for labelled input (index = labels, in the first
        imputation's order), else an array of shape (k,).

    Examples
    --------
    >>> from skmice.pooling import pool_extra
    >>> pool_extra([{"Residual~~Residual": 0.40, "ICC|school": 0.52},
    ...             {"Residual~~Residual": 0.44, "ICC|school": 0.50}])
    Residual~~Residual    0.42
    ICC|school            0.51
    dtype: float64
    """
    if isinstance(values, pd.DataFrame):
        if len(values) < 1:
            raise ValueError("values is empty: give one row per imputation.")
        return values.astype(float).mean(axis=0)
    if (
        isinstance(values, Sequence)
        and not isinstance(values, str)
        and len(values) > 0
        and all(isinstance(v, (pd.Series, Mapping)) for v in values)
    ):
        series = [pd.Series(v, dtype=float) if isinstance(v, Mapping) else v for v in values]
        labels = list(series[0].index)
        for i, s in enumerate(series):
            if set(s.index) != set(labels) or len(s) != len(labels):
                raise ValueError(
                    f"values[{i}] has labels {list(s.index)}, but values[0] has {labels}."
                )
        table = np.vstack([s.reindex(labels).to_numpy(dtype=float) for s in series])
        return pd.Series(table.mean(axis=0), index=labels)
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"values must have shape (m, k), got shape {arr.shape}.")
    return arr.mean(axis=0)


# ---------------------------------------------------------------------------
# estimates without variances
# ---------------------------------------------------------------------------


def pool_without_variances(estimates) -> pd.DataFrame:
    """Pool estimates that come without variances: their mean and between-imputation variance.

    Rubin's rules need each fit's within-imputation variance; a model that
    reports none (a scikit-learn estimator) leaves only the mean over the
    imputations and the between-imputation variance ``b`` (divisor m - 1),
    which is a lower bound of the total variance, not a standard error.

    Parameters
    ----------
    estimates : DataFrame, list of Series or dicts, or array-like of shape (m, k)
        The m estimate vectors (rows of a DataFrame are imputations); labels
        give the term names.

    Returns
    -------
    DataFrame
        One row per term with columns ``estimate`` (the mean), ``b``,
        ``between_sd`` (its square root) and ``m``. With m = 1, ``b`` and
        ``between_sd`` are NaN.

    See Also
    --------
    pool : Rubin's rules, when the variances are known.

    Examples
    --------
    >>> from skmice.pooling import pool_without_variances
    >>> pool_without_variances([{"x": 1.0, "z": 2.0}, {"x": 3.0, "z": 2.0}])
       estimate    b  between_sd  m
    x       2.0  2.0    1.414214  2
    z       2.0  0.0    0.000000  2
    """
    if isinstance(estimates, pd.DataFrame):
        frame = estimates
    elif isinstance(estimates, Sequence) and all(
        isinstance(e, (pd.Series, Mapping)) for e in estimates
    ):
        frame = pd.DataFrame(list(estimates))
    else:
        arr = np.asarray(estimates, dtype=float)
        frame = pd.DataFrame(arr[:, None] if arr.ndim == 1 else arr)
    m = len(frame)
    if m < 1:
        raise ValueError("estimates is empty: give one estimate vector per imputation.")
    frame = frame.astype(float)
    estimate = pool_extra(frame)
    b = frame.var(axis=0, ddof=1) if m >= 2 else estimate * np.nan
    return pd.DataFrame({"estimate": estimate, "b": b, "between_sd": np.sqrt(b), "m": m})
