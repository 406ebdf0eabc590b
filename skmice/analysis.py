"""Adapters from fitted analysis models to estimates, and the list of m analyses.

:func:`extract` turns one fitted model (statsmodels results, a scikit-learn
linear estimator, a ``(params, cov)`` pair or a dict) into an
:class:`AnalysisEstimate`; :func:`linear_model_estimate` computes the covariance
matrix of a scikit-learn linear model from the data it was fitted on (for
both ``analyze`` and :class:`~skmice.MultipleImputationPipeline`).
:class:`MultipleAnalyses` is the list of the m
per-imputation fits (R's ``mira``), returned by
``MultiplyImputedData.analyze(fn)``; it pools them (:meth:`MultipleAnalyses.pool`,
R ``mice::pool``) and compares nested models (``D1``, ``D2``, ``D3``).

statsmodels is optional: it is imported only when a statsmodels object is
handled, so this module imports without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from .pooling import D1 as _pool_D1
from .pooling import D2 as _pool_D2
from .pooling import D3 as _pool_D3
from .pooling import MultiParameterTest, _check_dfcom, wald_statistics
from .pooling import pool as _pool
from .pooling import pool_extra as _pool_extra

__all__ = ["AnalysisEstimate", "MultipleAnalyses", "extract", "linear_model_estimate"]


@dataclass(frozen=True, eq=False)
class AnalysisEstimate:
    """Estimates of one complete-data analysis, as needed for pooling.

    Attributes
    ----------
    params : Series
        Point estimates, indexed by term name.
    cov : DataFrame or None
        Their covariance matrix (rows and columns = ``params.index``); None
        when it is unknown (see ``no_cov_reason``).
    dfcom : float
        Complete-data degrees of freedom (the residual df of OLS/GLM fits, as R
        mice uses); ``inf`` for a large sample or when unknown.
    llf : callable or None
        The model's log-likelihood as a function of ``params``
        (statsmodels ``model.loglike``), or None.
    extra : Series or None
        Extra parameters pooled by their mean (:func:`skmice.pooling.pool_extra`):
        for mixed models the variance components, residual variance and ICC,
        labelled as mitml does (``"Intercept~~Intercept|school"``,
        ``"Intercept~~sex|school"``, ``"Residual~~Residual"``, ``"ICC|school"``).
    no_cov_reason : str
        Why ``cov`` is None, naming what is missing and how to supply it (for
        a scikit-learn estimator whose covariance could not be computed);
        empty otherwise.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice.analysis import AnalysisEstimate
    >>> est = AnalysisEstimate(pd.Series({"a": 1.0}), pd.DataFrame({"a": [0.1]}, index=["a"]))
    >>> est.dfcom
    inf
    """

    params: pd.Series
    cov: pd.DataFrame | None = None
    dfcom: float = math.inf
    llf: Callable | None = field(default=None, repr=False)
    extra: pd.Series | None = None
    no_cov_reason: str = field(default="", repr=False)


# ---------------------------------------------------------------------------
# extraction
# ---------------------------------------------------------------------------


def _from_parts(params, cov=None, dfcom=None, extra=None, llf=None) -> AnalysisEstimate:
    """Build an AnalysisEstimate from user-supplied parameters and covariance."""
    if params is None:
        raise ValueError("params is missing: give the point estimates.")
    if isinstance(params, pd.Series):
        p = params.astype(float)
    else:
        arr = np.asarray(params, dtype=float)
        if arr.ndim != 1:
            raise ValueError(f"params must be 1-D, got shape {arr.shape}.")
        p = pd.Series(arr)
    if not p.index.is_unique:
        raise ValueError("params has duplicate term names.")
    k = len(p)
    c = None
    if cov is not None:
        if isinstance(cov, pd.DataFrame):
            if set(cov.index) != set(p.index) or set(cov.columns) != set(p.index):
                raise ValueError(
                    f"cov must have rows and columns labelled by the terms {list(p.index)}."
                )
            c = cov.loc[p.index, p.index].astype(float)
        else:
            arr = np.asarray(cov, dtype=float)
            if arr.shape != (k, k):
                raise ValueError(
                    f"cov must be a ({k}, {k}) covariance matrix, got shape {arr.shape} "
                    "(for variances alone pass np.diag(variances))."
                )
            c = pd.DataFrame(arr, index=p.index, columns=p.index)
    dfcom = _check_dfcom(dfcom)
    if extra is not None and not isinstance(extra, pd.Series):
        extra = pd.Series(extra, dtype=float)
    return AnalysisEstimate(params=p, cov=c, dfcom=dfcom, llf=llf, extra=extra)


def _is_statsmodels(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "statsmodels"


def _unwrap(result):
    """The bare statsmodels results object behind a results wrapper."""
    return getattr(result, "_results", result)


def _mixedlm_components(res) -> pd.Series:
    """Variance components, residual variance and ICC of a MixedLM fit (mitml labels)."""
    model = res.model
    cov_re = np.atleast_2d(np.asarray(res.cov_re, dtype=float))
    q = cov_re.shape[0]
    names = getattr(model.data, "exog_re_names", None)
    if names is None or len(names) != q:
        names = [f"re{j}" for j in range(q)]
    names = [str(n) for n in names]
    exog_re = getattr(model, "exog_re", None)
    icol = None
    if exog_re is not None:
        ones = np.all(np.asarray(exog_re) == 1.0, axis=0)
        if np.any(ones):
            icol = int(np.argmax(ones))
    # statsmodels names the random intercept after the grouping variable
    group = names[icol] if icol is not None else "Group"
    labels = ["Intercept" if j == icol else n for j, n in enumerate(names)]
    out = {}
    for j in range(q):
        out[f"{labels[j]}~~{labels[j]}|{group}"] = cov_re[j, j]
    for i in range(q):
        for j in range(i + 1, q):
            out[f"{labels[i]}~~{labels[j]}|{group}"] = cov_re[i, j]
    if getattr(model, "k_vc", 0):
        vc_names = getattr(getattr(model, "exog_vc", None), "names", None)
        vc_names = vc_names or [f"vc{j}" for j in range(model.k_vc)]
        for name, value in zip(vc_names, np.asarray(res.vcomp, dtype=float)):
            out[f"{name}~~{name}|{group}"] = value
    scale = float(res.scale)
    out["Residual~~Residual"] = scale
    if icol is not None:
        out[f"ICC|{group}"] = cov_re[icol, icol] / (cov_re[icol, icol] + scale)
    return pd.Series(out, dtype=float)


def _extract_statsmodels(result) -> AnalysisEstimate:
    from statsmodels.regression.mixed_linear_model import MixedLMResults

    res = _unwrap(result)
    model = getattr(res, "model", None)
    if model is None or not hasattr(res, "params"):
        raise TypeError(
            f"cannot extract estimates from a {type(result).__name__}: "
            "expected fitted statsmodels results."
        )
    if isinstance(res, MixedLMResults):
        k_fe = int(res.k_fe)
        names = list(model.exog_names)[:k_fe]
        params = pd.Series(np.asarray(res.fe_params, dtype=float), index=names)
        cov = np.asarray(res.cov_params(), dtype=float)[:k_fe, :k_fe]
        return _from_parts(params, cov, dfcom=None, extra=_mixedlm_components(res))
    params = np.asarray(res.params, dtype=float)
    if params.ndim != 1:
        raise TypeError(
            f"{type(result).__name__} has multi-equation parameters (shape {params.shape}); "
            "pass a (params, cov) pair instead."
        )
    names = getattr(getattr(model, "data", None), "param_names", None)
    if names is None or len(names) != params.shape[0]:
        names = list(getattr(model, "exog_names", None) or range(params.shape[0]))
    cov = np.asarray(res.cov_params(), dtype=float)
    dfcom = getattr(res, "df_resid", None)
    dfcom = float(dfcom) if dfcom is not None and np.isfinite(dfcom) and dfcom > 0 else None
    return _from_parts(
        pd.Series(params, index=list(names)), cov, dfcom=dfcom, llf=getattr(model, "loglike", None)
    )


# ---------------------------------------------------------------------------
# scikit-learn estimators: coefficients, term names and a computed covariance
# ---------------------------------------------------------------------------

#: How far (in standard errors) an estimator's coefficients may lie from the
#: fit recomputed on the given data before the data are judged not to be the
#: ones it was fitted on. Least squares is solved exactly; the iterative
#: solver of LogisticRegression stops at its ``tol`` (lbfgs with the default
#: tol=1e-4 ends up to about 0.01 standard errors away at n = 100,000 rows).
_FIT_TOLERANCE = {"ols": 1e-6, "logit": 0.1}

_FOR_STANDARD_ERRORS = (
    "For standard errors, use a model that reports them (statsmodels results from the "
    "analysis function; StatsmodelsRegressor or StatsmodelsClassifier in a pipeline), or "
    "return (params, cov) from the analysis function."
)


class _NoCovariance(Exception):
    """The covariance of a scikit-learn estimator cannot be computed (the message says why)."""


class _UnsupportedModel(_NoCovariance, TypeError):
    pass


class _DataMismatch(_NoCovariance, ValueError):
    pass


def _is_pipeline(estimator) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(estimator, Pipeline)


def _final_step(estimator):
    """The model holding the coefficients: the last step of a Pipeline, else the estimator."""
    return estimator[-1] if _is_pipeline(estimator) else estimator


def _statsmodels_results(final):
    """The statsmodels results kept by an adapter (``StatsmodelsRegressor``), or None."""
    results = getattr(final, "results_", None)
    if results is not None and _is_statsmodels(results) and hasattr(results, "cov_params"):
        return results
    return None


def _has_coefficients(obj) -> bool:
    """A fitted scikit-learn estimator (or Pipeline) whose final step has ``coef_``."""
    if _is_statsmodels(obj) or isinstance(obj, (tuple, Mapping, AnalysisEstimate)):
        return False
    try:
        final = _final_step(obj)
    except (TypeError, IndexError):
        return False
    return hasattr(final, "coef_") or _statsmodels_results(final) is not None


def _feature_names(estimator, p: int) -> list:
    """Names of the p features entering the final step.

    For a Pipeline, ``estimator[:-1].get_feature_names_out()`` (so one-hot
    columns are named ``onehot__g_b``...); for a bare estimator, its
    ``feature_names_in_``; ``x0..x{p-1}`` when neither is available.
    """
    names = None
    if _is_pipeline(estimator) and len(estimator) > 1:
        try:
            names = estimator[:-1].get_feature_names_out()
        except (AttributeError, TypeError, ValueError):
            names = None  # a step without get_feature_names_out
    if names is None:
        names = getattr(_final_step(estimator), "feature_names_in_", None)
    if names is None or len(names) != p:
        return [f"x{j}" for j in range(p)]
    return [str(n) for n in names]


def _coef_params(estimator) -> tuple[pd.Series, bool]:
    """The coefficients of a fitted linear model as a named Series; and its fit_intercept.

    Terms: ``Intercept`` (when fitted), then the features entering the final
    step (:func:`_feature_names`); multi-row ``coef_`` (multi-class or
    multi-output) gets ``[class]`` suffixes.
    """
    final = _final_step(estimator)
    coef = np.asarray(final.coef_, dtype=float)
    if coef.ndim == 1:
        coef = coef[None, :]
    if coef.ndim != 2:
        raise TypeError(f"{type(final).__name__}.coef_ has unsupported shape {coef.shape}.")
    rows, p = coef.shape
    features = _feature_names(estimator, p)
    fit_intercept = bool(getattr(final, "fit_intercept", True))
    intercept = np.broadcast_to(
        np.atleast_1d(np.asarray(getattr(final, "intercept_", 0.0), dtype=float)), (rows,)
    )
    if rows == 1:
        suffixes = [""]
    else:
        classes = getattr(final, "classes_", None)
        if classes is None or len(classes) != rows:
            classes = range(rows)
        suffixes = [f"[{c}]" for c in classes]
    names, values = [], []
    for r in range(rows):
        if fit_intercept:
            names.append("Intercept" + suffixes[r])
            values.append(intercept[r])
        names.extend(f + suffixes[r] for f in features)
        values.extend(coef[r])
    return pd.Series(values, index=names, dtype=float), fit_intercept


def _model_kind(final, sample_weight) -> str:
    """``"ols"`` or ``"logit"``: the models whose covariance skmice computes.

    Raises _UnsupportedModel, naming why, for every other estimator.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression

    name = type(final).__name__
    rows = np.atleast_2d(np.asarray(final.coef_)).shape[0]
    if isinstance(final, LinearRegression):
        if getattr(final, "positive", False):
            raise _UnsupportedModel(
                f"{name}(positive=True) is a constrained fit: its coefficients have no "
                f"covariance matrix for Rubin's rules. {_FOR_STANDARD_ERRORS}"
            )
        if rows > 1:
            raise _UnsupportedModel(
                f"{name} was fitted to {rows} outputs: skmice computes the covariance of a "
                f"single outcome only (fit one model per outcome). {_FOR_STANDARD_ERRORS}"
            )
        return "ols"
    if isinstance(final, LogisticRegression):
        params = final.get_params()
        if not (params.get("penalty") is None or np.isinf(params.get("C", 1.0))):
            raise _UnsupportedModel(
                f"{name}(C={params.get('C')!r}) is penalised (L2 by default): its shrunk "
                "coefficients have no standard errors for Rubin's rules. Fit "
                f"{name}(C=np.inf) (unpenalised maximum likelihood). {_FOR_STANDARD_ERRORS}"
            )
        if rows > 1:
            raise _UnsupportedModel(
                f"{name} is multinomial ({rows} classes): skmice computes the covariance of a "
                f"binary logistic regression only. {_FOR_STANDARD_ERRORS}"
            )
        if params.get("class_weight") is not None or sample_weight is not None:
            raise _UnsupportedModel(
                f"{name} was fitted with class_weight or sample_weight: skmice computes the "
                f"covariance of an unweighted logistic regression only. {_FOR_STANDARD_ERRORS}"
            )
        return "logit"
    params = final.get_params()
    penalty = [p for p in ("alpha", "C", "l1_ratio") if p in params]
    why = (
        f" is penalised ({penalty[0]}={params[penalty[0]]!r}): its shrunk coefficients have no "
        "standard errors for Rubin's rules"
        if penalty
        else " is not a model whose covariance skmice computes"
    )
    raise _UnsupportedModel(
        f"{name}{why}. skmice computes the covariance of LinearRegression and of unpenalised "
        "binary LogisticRegression(C=np.inf), alone or as the last step of a Pipeline. "
        + _FOR_STANDARD_ERRORS
    )


def _design_matrix(estimator, X, fit_intercept: bool) -> np.ndarray:
    """What the final step was fitted on: X through the Pipeline's transformers, plus 1s."""
    if _is_pipeline(estimator) and len(estimator) > 1:
        X = estimator[:-1].transform(X)
    if hasattr(X, "toarray"):  # a scipy sparse matrix (one-hot encoders)
        X = X.toarray()
    Z = np.asarray(X, dtype=float)
    if Z.ndim != 2:
        raise _DataMismatch(f"X must be 2-D, got shape {Z.shape}.")
    if not np.all(np.isfinite(Z)):
        raise _DataMismatch("X (after the Pipeline's transformers) has missing or infinite values.")
    if fit_intercept:
        Z = np.column_stack([np.ones(Z.shape[0]), Z])
    return Z


class _LinearFit:
    """A fitted linear model's coefficients against the design matrix it was fitted on.

    Holds what does not depend on the outcome: the design matrix Z, the
    weights, the coefficients beta and the inverse information matrix at
    beta (``(Z'WZ)^-1`` for least squares, ``(Z'VZ)^-1`` with ``V =
    diag(p (1 - p))`` for the logistic regression). :meth:`check` then
    measures, for an outcome y, how far beta is from the fit of y (the
    Newton step ``H^-1 score`` in standard errors) and :meth:`estimate`
    gives the covariance: ``sigma^2 (Z'WZ)^-1`` with ``sigma^2 = sum w
    r^2 / (n - k)`` (statsmodels OLS/WLS) or ``(Z'VZ)^-1`` (statsmodels
    Logit); ``dfcom = n - k`` (their residual df, as R mice uses), n
    counting the rows of non-zero weight.
    """

    def __init__(self, estimator, X, sample_weight=None):
        final = _final_step(estimator)
        self.name = type(final).__name__
        self.final = final
        self.kind = _model_kind(final, sample_weight)
        self.params, fit_intercept = _coef_params(estimator)
        Z = _design_matrix(estimator, X, fit_intercept)
        n, k = Z.shape
        if k != len(self.params):
            raise _DataMismatch(
                f"X gives {k} columns to {self.name} (intercept included), but it has "
                f"{len(self.params)} coefficients: X is not the data it was fitted on."
            )
        if sample_weight is None:
            w = np.ones(n)
        else:
            w = np.asarray(sample_weight, dtype=float).reshape(-1)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise _DataMismatch(
                    f"sample_weight must hold {n} finite non-negative values, one per row of X."
                )
        self.keep = w > 0
        self.Z, self.w = Z[self.keep], w[self.keep]
        self.n, self.k = self.Z.shape
        self.beta = self.params.to_numpy()
        if self.n <= self.k:
            raise _DataMismatch(
                f"{self.name} has {self.k} coefficients but {self.n} rows: no residual "
                "degrees of freedom, no covariance matrix."
            )
        eta = self.Z @ self.beta
        if self.kind == "logit":
            self.prob = expit(eta)
            curvature = self.w * self.prob * (1.0 - self.prob)
        else:
            self.eta = eta
            curvature = self.w
        # (Z' C Z)^-1 through the SVD of sqrt(C) Z, refusing a rank-deficient design
        _, s, vt = np.linalg.svd(self.Z * np.sqrt(curvature)[:, None], full_matrices=False)
        small = s <= s[0] * max(self.n, self.k) * np.finfo(float).eps if s[0] > 0 else s >= 0
        if np.any(small):
            null = np.abs(vt[small]).max(axis=0) > 1e-8
            terms = [t for t, z in zip(self.params.index, null) if z]
            raise _DataMismatch(
                f"the design matrix of {self.name} is rank deficient: the terms {terms} are "
                "collinear (e.g. one dummy per category next to the intercept: use "
                "OneHotEncoder(drop='first')"
                + (", or classes perfectly separated by them" if self.kind == "logit" else "")
                + "), so their covariance matrix does not exist."
            )
        self.information_inverse = (vt.T / s**2) @ vt

    def response(self, y) -> np.ndarray:
        """The outcome as floats (the event indicator of ``classes_[1]`` for a logit)."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != self.keep.shape[0]:
            raise _DataMismatch(
                f"y must be 1-D with one value per row of X ({self.keep.shape[0]}), got shape "
                f"{y.shape}."
            )
        if self.kind == "logit":
            classes = self.final.classes_
            if not np.all(np.isin(y, classes)):
                raise _DataMismatch(f"y has values outside {self.name}.classes_ {list(classes)}.")
            out = (y == classes[1]).astype(float)
        else:
            try:
                out = y.astype(float)
            except (TypeError, ValueError):
                raise _DataMismatch("y is not numeric.") from None
        if not np.all(np.isfinite(out)):
            raise _DataMismatch("y has missing or infinite values.")
        return out[self.keep]

    def _cov_and_step(self, y: np.ndarray):
        if self.kind == "logit":
            scale = 1.0
            score = self.Z.T @ (self.w * (y - self.prob))
        else:
            resid = y - self.eta
            scale = float(np.sum(self.w * resid**2) / (self.n - self.k))
            score = self.Z.T @ (self.w * resid)
        cov = scale * self.information_inverse
        step = self.information_inverse @ score
        se = np.sqrt(np.diag(cov))
        floor = 1e-12 * np.maximum(1.0, np.abs(self.beta))
        return cov, float(np.max(np.abs(step) / np.maximum(se, floor)))

    def check(self, y: np.ndarray) -> float:
        """Distance, in standard errors, from beta to the fit of the outcome ``y``."""
        return self._cov_and_step(y)[1]

    def estimate(self, y: np.ndarray) -> AnalysisEstimate:
        """The estimates and their covariance, if beta is the fit of ``y``."""
        cov, distance = self._cov_and_step(y)
        if distance > _FIT_TOLERANCE[self.kind]:
            raise _DataMismatch(self.mismatch(distance))
        return _from_parts(self.params, cov, dfcom=float(self.n - self.k))

    def mismatch(self, distance: float) -> str:
        fit = "least-squares" if self.kind == "ols" else "maximum-likelihood"
        solver = (
            "; or the solver stopped early (raise max_iter, lower tol)"
            if self.kind == "logit"
            else ""
        )
        return (
            f"the coefficients of {self.name} are not the {fit} fit of y on X (they are "
            f"{distance:.3g} standard errors away from it): it was fitted on other data (a "
            f"subset of rows, transformed columns, sample_weight){solver}."
        )


def linear_model_estimate(estimator, X, y, sample_weight=None) -> AnalysisEstimate:
    """Coefficients and their covariance matrix of a fitted scikit-learn linear model.

    scikit-learn computes no standard errors; this computes them from the
    data the model was fitted on, as statsmodels would, so that the model
    can be pooled by Rubin's rules. Both roads to pooling use it: a
    :class:`~skmice.MultipleImputationPipeline` calls it on each completed
    training set, and :meth:`skmice.MultiplyImputedData.analyze` on the
    completed dataset it gave the analysis function.

    Parameters
    ----------
    estimator : LinearRegression, LogisticRegression or Pipeline
        Fitted: :class:`~sklearn.linear_model.LinearRegression` (one
        outcome, ``positive=False``), an unpenalised binary
        :class:`~sklearn.linear_model.LogisticRegression` (``C=np.inf``, no
        ``class_weight``), or a :class:`~sklearn.pipeline.Pipeline` whose
        last step is one of them.
    X : DataFrame or array-like of shape (n_samples, n_features)
        The data ``estimator`` was fitted on (a Pipeline's input: its
        transformers are applied here).
    y : array-like of shape (n_samples,)
        The outcome it was fitted to.
    sample_weight : array-like of shape (n_samples,), optional
        The weights of the fit (LinearRegression only: weighted least
        squares, as statsmodels ``WLS``; rows of weight zero do not count).

    Returns
    -------
    AnalysisEstimate
        ``params``: the estimator's own coefficients, named ``Intercept``
        then the features entering the final step (a Pipeline's
        ``estimator[:-1].get_feature_names_out()``, else
        ``feature_names_in_``, else ``x0, x1, ...``). ``cov``: ``sigma^2
        (Z'WZ)^-1``, ``sigma^2 = sum w r^2 / (n - k)`` for least squares
        (statsmodels ``OLS``/``WLS``), the inverse Fisher information
        ``(Z'VZ)^-1`` for the logistic regression (statsmodels ``Logit``),
        where Z is the design matrix (the column of 1s first). ``dfcom``:
        ``n - k``, the residual df that R mice uses.

    Raises
    ------
    TypeError
        If ``estimator`` is none of the above (a penalised model, a
        multinomial or weighted logistic regression, a non-linear model):
        the message says why and what to use instead.
    ValueError
        If X and y are not the data ``estimator`` was fitted on (its
        coefficients are not their least-squares or maximum-likelihood fit),
        or the design matrix is rank deficient (collinear terms).

    See Also
    --------
    extract : the estimates of any fitted model.
    MultipleAnalyses.pool : Rubin's rules over the m analyses.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import statsmodels.formula.api as smf
    >>> from sklearn.linear_model import LinearRegression
    >>> from skmice.analysis import linear_model_estimate
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"x": rng.normal(size=30)})
    >>> d["y"] = 1 + 2 * d["x"] + rng.normal(size=30)
    >>> model = LinearRegression().fit(d[["x"]], d["y"])
    >>> est = linear_model_estimate(model, d[["x"]], d["y"])
    >>> list(est.params.index), est.dfcom
    (['Intercept', 'x'], 28.0)
    >>> ols = smf.ols("y ~ x", d).fit()
    >>> bool(np.allclose(est.cov, ols.cov_params()))
    True
    """
    if not _has_coefficients(estimator) or _statsmodels_results(_final_step(estimator)):
        raise TypeError(
            f"estimator must be a fitted LinearRegression, LogisticRegression or a Pipeline "
            f"ending in one, got {type(estimator).__name__}."
        )
    fit = _LinearFit(estimator, X, sample_weight)
    return fit.estimate(fit.response(y))


def _estimate_from_dataset(estimator, data) -> AnalysisEstimate:
    """:func:`linear_model_estimate` with X and y found in the completed dataset ``data``.

    X is ``data[estimator.feature_names_in_]``; y is the column of ``data``
    (not among those) of which the coefficients are the fit. Raises
    _NoCovariance with what is missing.
    """
    name = type(_final_step(estimator)).__name__
    how = (
        " Or compute the estimates in the analysis function: return "
        "skmice.analysis.linear_model_estimate(model, X, y), (params, cov) or statsmodels "
        "results."
    )
    features = getattr(estimator, "feature_names_in_", None)
    if features is None or not isinstance(data, pd.DataFrame):
        raise _DataMismatch(
            f"{name} was fitted on data without column names, so which columns of the "
            "completed dataset it used is unknown: fit it on a DataFrame (d[[...]]) so that "
            "its feature_names_in_ names them." + how
        )
    features = [str(f) for f in features]
    labels = {str(c): c for c in data.columns}
    absent = [f for f in features if f not in labels]
    if absent:
        raise _DataMismatch(
            f"{name} was fitted on the columns {absent}, which the completed dataset given to "
            "the analysis function does not have (to use a derived column, add it to that "
            "dataset in place: d['log_x'] = np.log(d['x']))." + how
        )
    fit = _LinearFit(estimator, data[[labels[f] for f in features]])
    best = None
    for label, column in labels.items():
        if label in features:
            continue
        try:
            y = fit.response(data[column])
        except _DataMismatch:
            continue  # not numeric, missing values, labels other than classes_
        distance = fit.check(y)
        if best is None or distance < best[0]:
            best = (distance, y, label)
    if best is None or best[0] > _FIT_TOLERANCE[fit.kind]:
        closest = (
            f" (the closest, {best[2]!r}, is {best[0]:.3g} standard errors away)"
            if best is not None
            else ""
        )
        raise _DataMismatch(
            f"the outcome {name} was fitted to is none of the completed dataset's columns"
            f"{closest}: analyze finds y as the column of the dataset whose fit on "
            f"{features} the coefficients are, so y must be such a column (to model a "
            "transformed outcome, add it to the dataset in place: d['log_y'] = "
            "np.log(d['y'])), and the model fitted on all rows, without sample_weight."
            + (
                " Or the solver stopped early (raise max_iter, lower tol)."
                if fit.kind == "logit"
                else ""
            )
            + how
        )
    return fit.estimate(best[1])


def _extract_estimator(estimator, X=None, y=None, sample_weight=None, data=None):
    """Estimates of a fitted scikit-learn estimator or Pipeline (both roads to pooling).

    The coefficients always, named as :func:`linear_model_estimate` does.
    The covariance: a statsmodels adapter's own (``results_``, its terms
    renamed after the Pipeline's features); else computed by
    :func:`linear_model_estimate` from ``X, y, sample_weight`` (the
    pipeline) or from the completed dataset ``data`` (``analyze``); when it
    cannot be, ``cov`` is None and ``no_cov_reason`` says why.
    """
    final = _final_step(estimator)
    results = _statsmodels_results(final)
    if results is not None:
        est = _extract_statsmodels(results)
        intercept = ["Intercept"] if getattr(final, "fit_intercept", True) else []
        names = intercept + _feature_names(estimator, len(est.params) - len(intercept))
        if len(set(names)) == len(est.params):
            mapping = dict(zip(est.params.index, names))
            est = AnalysisEstimate(
                params=est.params.rename(index=mapping),
                cov=est.cov.rename(index=mapping, columns=mapping),
                dfcom=est.dfcom,
                llf=est.llf,
                extra=est.extra,
            )
        return est
    try:
        if X is not None:
            fit = _LinearFit(estimator, X, sample_weight)
            return fit.estimate(fit.response(y))
        if data is not None:
            return _estimate_from_dataset(estimator, data)
        _model_kind(final, None)
        reason = (
            f"the covariance of {type(final).__name__} is computed from the data it was "
            "fitted on, which extract() was not given: pool the fits of "
            "MultiplyImputedData.analyze (it keeps each completed dataset), pass "
            "extract(model, data=dataset), or call "
            "skmice.analysis.linear_model_estimate(model, X, y)."
        )
    except _NoCovariance as exc:
        reason = str(exc)
    params, _ = _coef_params(estimator)
    return AnalysisEstimate(params=params, cov=None, dfcom=math.inf, no_cov_reason=reason)


def extract(result, data=None) -> AnalysisEstimate:
    """Extract estimates, covariance and complete-data df from one fitted model.

    Parameters
    ----------
    result : object
        One of:

        - statsmodels results of OLS, WLS, GLS, GLM, Logit, Probit and other
          single-equation models: ``params``, ``cov_params()`` and
          ``dfcom = df_resid`` (the residual df R mice uses), ``llf =
          model.loglike``;
        - statsmodels ``MixedLM`` results: the fixed effects and their
          covariance only, ``dfcom = inf``, and in ``extra`` the random-effects
          covariance entries, the residual variance and the ICC (random-intercept
          variance over itself plus the residual variance) with mitml's labels;
        - a fitted scikit-learn linear estimator (``coef_``, ``intercept_``),
          or a :class:`~sklearn.pipeline.Pipeline` ending in one: its
          coefficients, named ``Intercept`` then the features entering the
          final step (``result[:-1].get_feature_names_out()`` for a
          Pipeline, else ``feature_names_in_``, else ``x0, x1, ...``). The
          covariance is computed by :func:`linear_model_estimate` (for
          ``LinearRegression`` and unpenalised binary ``LogisticRegression``)
          when ``data``, the dataset the model was fitted on, is given;
          otherwise, or for other estimators, ``cov`` is None and
          ``no_cov_reason`` says why. A
          :class:`~skmice.StatsmodelsRegressor` or
          :class:`~skmice.StatsmodelsClassifier` gives its statsmodels
          results;
        - :func:`skmice.mixed.lmer` results: as statsmodels ``MixedLM``
          (fixed effects, their covariance, ``dfcom = inf`` as mitml, and the
          variance components and ICC in ``extra``);
        - a tuple ``(params, cov)`` or ``(params, cov, dfcom)``, or a dict with
          keys ``"params"``, ``"cov"`` and optionally ``"dfcom"``, ``"extra"``;
        - an :class:`AnalysisEstimate` (returned unchanged).
    data : DataFrame, optional
        For a scikit-learn estimator: the (completed) dataset it was fitted
        on, from which X and y are rebuilt as
        :meth:`skmice.MultiplyImputedData.analyze` documents. Ignored for
        other results.

    Returns
    -------
    AnalysisEstimate

    Raises
    ------
    TypeError
        For unsupported objects (e.g. a scikit-learn model without
        coefficients).
    ValueError
        For inconsistent shapes or labels in a tuple or dict.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.analysis import extract
    >>> est = extract(([1.0, 2.0], np.diag([0.1, 0.2]), 30))
    >>> est.params.tolist(), est.dfcom
    ([1.0, 2.0], 30.0)

    statsmodels OLS (R mice uses the residual df as dfcom):

    >>> import pandas as pd
    >>> import statsmodels.formula.api as smf
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"x": rng.normal(size=30)})
    >>> d["y"] = 1 + 2 * d["x"] + rng.normal(size=30)
    >>> est = extract(smf.ols("y ~ x", d).fit())
    >>> list(est.params.index), est.dfcom
    (['Intercept', 'x'], 28.0)

    scikit-learn: the covariance needs the data of the fit:

    >>> from sklearn.linear_model import LinearRegression
    >>> model = LinearRegression().fit(d[["x"]], d["y"])
    >>> extract(model).cov is None
    True
    >>> est = extract(model, data=d)
    >>> list(est.params.index), est.dfcom
    (['Intercept', 'x'], 28.0)
    """
    if isinstance(result, AnalysisEstimate):
        return result
    if _is_statsmodels(result):
        return _extract_statsmodels(result)
    from .mixed import LmerResults

    if isinstance(result, LmerResults):  # skmice.mixed.lmer: as MixedLM, mitml's dfcom = inf
        return _from_parts(result.params, result.cov_params(), None, result.variance_components)
    if isinstance(result, Mapping):
        unknown = set(result) - {"params", "cov", "dfcom", "extra"}
        if "params" not in result or unknown:
            raise TypeError(
                "a dict result needs the key 'params' and optionally 'cov', 'dfcom', 'extra'"
                + (f"; unknown keys {sorted(map(str, unknown))}" if unknown else "")
                + "."
            )
        return _from_parts(
            result["params"], result.get("cov"), result.get("dfcom"), result.get("extra")
        )
    if isinstance(result, tuple):
        if len(result) not in (2, 3):
            raise TypeError(
                f"a tuple result must be (params, cov) or (params, cov, dfcom), got {len(result)} "
                "items."
            )
        return _from_parts(*result)
    if _has_coefficients(result):
        return _extract_estimator(result, data=data)
    if hasattr(result, "fit"):
        raise TypeError(
            f"cannot extract estimates from a {type(_final_step(result)).__name__}: it has no "
            "coefficients (coef_: not a fitted linear model), so there is nothing to pool by "
            "Rubin's rules. Fit a linear model, or return statsmodels results, a (params, cov) "
            "tuple or a dict from the analysis function."
        )
    raise TypeError(
        f"cannot extract estimates from a {type(result).__name__}: expected statsmodels "
        "results, a fitted scikit-learn linear estimator, a (params, cov) tuple or a dict."
    )


# ---------------------------------------------------------------------------
# likelihood evaluation for D3
# ---------------------------------------------------------------------------


def _d3_kind(result) -> str:
    """Which likelihood D3 can evaluate for this statsmodels result."""
    if _is_statsmodels(result):
        from statsmodels.discrete.discrete_model import Logit, Probit
        from statsmodels.genmod.generalized_linear_model import GLM
        from statsmodels.regression.linear_model import OLS, WLS

        model = getattr(_unwrap(result), "model", None)
        # exact types: OLS subclasses WLS, and GLS is not supported
        if type(model) is OLS:
            return "ols"
        if type(model) is WLS:
            return "wls"
        if isinstance(model, GLM):
            return "glm"
        if isinstance(model, (Logit, Probit)):
            return "binary"
    raise TypeError(
        f"D3 needs statsmodels OLS, WLS, GLM, Logit or Probit results, got "
        f"{type(result).__name__}; use D1 or D2 for other models."
    )


def _gaussian_weights(model, n: int) -> np.ndarray:
    w = np.asarray(getattr(model, "weights", 1.0), dtype=float)
    return np.broadcast_to(w, (n,)) if w.ndim == 0 else w


def _glm_offset(model):
    off = 0.0
    if getattr(model, "offset", None) is not None:
        off = off + np.asarray(model.offset, dtype=float)
    if getattr(model, "exposure", None) is not None:
        off = off + np.asarray(model.exposure, dtype=float)  # stored as log(exposure)
    return off


def _loglik_at_pooled(results, qbar: np.ndarray, likelihood: str) -> np.ndarray:
    """Log-likelihood of each imputation's model with the coefficients at ``qbar``.

    ``likelihood="mice"`` reproduces R ``mice::D3`` (via ``mice::fix.coef``):
    the linear predictor ``X qbar`` enters as an offset and the model
    ``y ~ offset(X qbar)`` is refitted, which re-estimates a free intercept
    (R's formula ``. ~ offset(offset)`` keeps one) and the scale.
    ``likelihood="mitml"`` is ``mitml::testModels(method = "D3")``: the
    log-likelihood at ``qbar`` and, for linear models, at the mean over
    imputations of the ML residual variances.
    """
    import statsmodels.api as sm

    kinds = {_d3_kind(r) for r in results}
    if len(kinds) != 1:
        raise TypeError(f"D3 needs the same model type in every imputation, got {sorted(kinds)}.")
    kind = kinds.pop()
    fits = [_unwrap(r) for r in results]
    out = np.empty(len(fits))
    if kind in ("ols", "wls"):
        sigma2 = None
        if likelihood == "mitml":
            sigma2 = np.mean([f.ssr / f.nobs for f in fits])
        for i, f in enumerate(fits):
            y = np.asarray(f.model.endog, dtype=float)
            X = np.asarray(f.model.exog, dtype=float)
            n = y.shape[0]
            w = _gaussian_weights(f.model, n)
            resid = y - X @ qbar
            if likelihood == "mice":
                resid = resid - np.sum(w * resid) / np.sum(w)
                rss = np.sum(w * resid**2)
                out[i] = 0.5 * (
                    np.sum(np.log(w)) - n * (np.log(2 * np.pi) + 1 - np.log(n) + np.log(rss))
                )
            else:
                out[i] = (
                    0.5 * np.sum(np.log(w))
                    - 0.5 * n * np.log(2 * np.pi * sigma2)
                    - np.sum(w * resid**2) / (2 * sigma2)
                )
        return out
    for i, f in enumerate(fits):
        model = f.model
        X = np.asarray(model.exog, dtype=float)
        y = np.asarray(model.endog, dtype=float)
        n = y.shape[0]
        if kind == "glm":
            family = model.family
            n_trials = getattr(model, "n_trials", None)
            if n_trials is not None and np.any(np.asarray(n_trials) != 1):
                raise TypeError("D3 does not support binomial GLMs with counts of trials.")
            if likelihood == "mitml":
                if not isinstance(family, (sm.families.Binomial, sm.families.Poisson)):
                    raise TypeError(
                        'likelihood="mitml" supports GLMs with a fixed scale (binomial, '
                        f'Poisson) only, got {type(family).__name__}; use likelihood="mice".'
                    )
                out[i] = model.loglike(qbar, scale=1.0)
                continue
            refit = sm.GLM(
                y,
                np.ones((n, 1)),
                family=family,
                offset=X @ qbar + _glm_offset(model),
                var_weights=model.var_weights,
                freq_weights=model.freq_weights,
            ).fit()
            out[i] = refit.llf
        else:  # Logit / Probit
            if likelihood == "mitml":
                out[i] = model.loglike(qbar)
                continue
            from statsmodels.discrete.discrete_model import Logit

            links = sm.families.links
            link = links.Logit() if isinstance(model, Logit) else links.Probit()
            offset = X @ qbar
            if getattr(model, "offset", None) is not None:
                offset = offset + np.asarray(model.offset, dtype=float)
            refit = sm.GLM(
                y, np.ones((n, 1)), family=sm.families.Binomial(link=link), offset=offset
            ).fit()
            out[i] = refit.llf
    return out


# ---------------------------------------------------------------------------
# the list of m analyses
# ---------------------------------------------------------------------------


class MultipleAnalyses(list):
    """The m complete-data analyses of a multiply imputed dataset (R's ``mira``).

    A plain list of the per-imputation fit results (whatever ``fn`` returned in
    ``MultiplyImputedData.analyze(fn)``: statsmodels results, scikit-learn
    estimators, ``(params, cov)`` pairs...) with pooling methods. Every
    element must be understood by :func:`extract`.

    Parameters
    ----------
    iterable : iterable
        The m fitted results, in imputation order.
    datasets : sequence, optional
        The dataset each result was fitted on, aligned with ``iterable``
        (None where unknown). Used only for scikit-learn estimators, whose
        covariance is computed from their data (:func:`extract`);
        :meth:`skmice.MultiplyImputedData.analyze` fills it.

    Attributes
    ----------
    datasets : list
        As given (None entries by default).

    See Also
    --------
    skmice.pooling.pool : the pooling rules used by :meth:`pool`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.analysis import MultipleAnalyses
    >>> fits = MultipleAnalyses([
    ...     ([1.0, 0.50], np.diag([0.04, 0.01]), 50),
    ...     ([1.2, 0.45], np.diag([0.05, 0.01]), 50),
    ...     ([0.9, 0.55], np.diag([0.04, 0.02]), 50),
    ... ])
    >>> fits.pool()[["estimate", "std_error", "df"]].round(4)
       estimate  std_error       df
    0    1.0333     0.2728   8.1280
    1    0.5000     0.1291  21.7484

    With statsmodels, as ``mi.analyze(lambda d: smf.ols("y ~ x", d).fit())``:

    >>> import pandas as pd
    >>> import statsmodels.formula.api as smf
    >>> rng = np.random.default_rng(1)
    >>> datasets = []
    >>> for _ in range(3):
    ...     d = pd.DataFrame({"x": rng.normal(size=40)})
    ...     d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=40)
    ...     datasets.append(d)
    >>> fits = MultipleAnalyses(smf.ols("y ~ x", d).fit() for d in datasets)
    >>> list(fits.pool().index), int(fits.pool()["m"].iloc[0])
    (['Intercept', 'x'], 3)
    """

    def __init__(self, iterable=(), datasets=None):
        super().__init__(iterable)
        self.datasets = list(datasets) if datasets is not None else [None] * len(self)

    def __repr__(self) -> str:
        kinds = sorted({type(r).__name__ for r in self})
        return f"MultipleAnalyses(m={len(self)}, results={', '.join(kinds) or 'none'})"

    # -- helpers ---------------------------------------------------------

    def extract(self) -> list[AnalysisEstimate]:
        """Extract the estimates of every analysis (:func:`extract`).

        Returns
        -------
        list of AnalysisEstimate

        Examples
        --------
        >>> import numpy as np
        >>> from skmice.analysis import MultipleAnalyses
        >>> fits = MultipleAnalyses([([1.0], np.eye(1)), ([2.0], np.eye(1))])
        >>> [float(e.params.iloc[0]) for e in fits.extract()]
        [1.0, 2.0]
        """
        datasets = getattr(self, "datasets", [])
        return [
            extract(r, data=datasets[i] if i < len(datasets) else None) for i, r in enumerate(self)
        ]

    def _estimates(self, require_cov: bool = True, name: str = "analyses"):
        if len(self) < 2:
            raise ValueError(
                f"{name}: {len(self)} analysis result(s); pooling needs m >= 2 imputations."
            )
        ests = self.extract()
        terms = list(ests[0].params.index)
        for i, e in enumerate(ests):
            if set(e.params.index) != set(terms) or len(e.params) != len(terms):
                raise ValueError(
                    f"{name}: analysis {i} estimates the terms {list(e.params.index)}, "
                    f"analysis 0 estimates {terms}; every imputation must fit the same model."
                )
            if require_cov and e.cov is None:
                why = e.no_cov_reason or (
                    "use a model that reports standard errors (e.g. statsmodels) or pass "
                    "(params, cov) pairs."
                )
                raise TypeError(
                    f"{name}: analysis {i} ({type(self[i]).__name__}) has no covariance matrix, "
                    f"so Rubin's rules cannot be applied: {why}"
                )
        return ests, terms

    def _check_other(self, other) -> MultipleAnalyses:
        if not isinstance(other, MultipleAnalyses):
            if isinstance(other, (list, tuple)):
                other = MultipleAnalyses(other)
            else:
                raise TypeError(
                    "other must be the MultipleAnalyses (or list) of the nested model, got "
                    f"{type(other).__name__}."
                )
        if len(other) != len(self):
            raise ValueError(
                f"other has {len(other)} analyses but this object has {len(self)}: both models "
                "must be fitted to the same imputed datasets."
            )
        return other

    def _tested_terms(self, terms1, terms0) -> list:
        tested = [t for t in terms1 if t not in set(terms0)]
        if not tested:
            raise ValueError(
                "other: the models appear not to be nested (the larger model has no terms "
                "absent from the smaller one)."
            )
        return tested

    # -- pooling ---------------------------------------------------------

    def pool(self, dfcom=None, conf_level: float = 0.95) -> pd.DataFrame:
        """Pool the analyses by Rubin's rules (R ``summary(pool(fit), conf.int = TRUE)``).

        Parameters
        ----------
        dfcom : float, optional
            Complete-data degrees of freedom. Default: that of the first
            analysis, as R mice does (the residual df for OLS/GLM and for
            scikit-learn linear models, ``inf`` for mixed models).
        conf_level : float, default=0.95
            Level of the confidence intervals.

        Returns
        -------
        DataFrame
            As :func:`skmice.pooling.pool`.

        Raises
        ------
        TypeError
            If an analysis provides no covariance matrix (the message says what
            is missing, e.g. for a penalised scikit-learn model).
        ValueError
            If fewer than 2 analyses or the analyses estimate different terms.

        Examples
        --------
        >>> import numpy as np
        >>> from skmice.analysis import MultipleAnalyses
        >>> fits = MultipleAnalyses([([1.0], np.eye(1) * 0.04, 20),
        ...                          ([1.2], np.eye(1) * 0.05, 20)])
        >>> round(float(fits.pool()["estimate"].iloc[0]), 2)
        1.1
        """
        ests, terms = self._estimates()
        if dfcom is None:
            dfcom = ests[0].dfcom
        return _pool(
            [e.params for e in ests],
            [e.cov for e in ests],
            dfcom=dfcom,
            conf_level=conf_level,
        )

    def summary(self, dfcom=None, conf_level: float = 0.95) -> str:
        """A printable table of the pooled estimates, like R ``summary(pool(fit))``.

        Parameters
        ----------
        dfcom : float, optional
            As in :meth:`pool`.
        conf_level : float, default=0.95
            Level of the confidence intervals.

        Returns
        -------
        str

        Examples
        --------
        >>> import numpy as np
        >>> from skmice.analysis import MultipleAnalyses
        >>> fits = MultipleAnalyses([(np.array([1.0, 0.5]), np.diag([0.04, 0.01]), 50),
        ...                          (np.array([1.2, 0.4]), np.diag([0.05, 0.01]), 50)])
        >>> print(fits.summary())
        Pooled estimates (Rubin's rules), m = 2, dfcom = 50
           estimate  std_error  statistic    df  p_value  conf_low  conf_high    fmi
        0    1.1000     0.2739      4.017  5.14  0.00961    0.4017     1.7983  0.547
        1    0.4500     0.1323      3.402  4.54   0.0223    0.0994     0.8006  0.580
        """
        table = self.pool(dfcom=dfcom, conf_level=conf_level)
        dfc = table.attrs.get("dfcom", math.inf)
        dfc_text = "inf (large sample)" if math.isinf(dfc) else f"{dfc:g}"
        formats = {
            "estimate": "{:.4f}",
            "std_error": "{:.4f}",
            "statistic": "{:.3f}",
            "df": "{:.2f}",
            "p_value": "{:.3g}",
            "conf_low": "{:.4f}",
            "conf_high": "{:.4f}",
            "fmi": "{:.3f}",
        }
        names = [str(t) for t in table.index]
        name_width = max(len(n) for n in names)
        columns = {c: [fmt.format(v) for v in table[c]] for c, fmt in formats.items()}
        widths = {c: max(len(c), *(len(v) for v in vals)) + 2 for c, vals in columns.items()}
        lines = [" " * name_width + "".join(c.rjust(widths[c]) for c in columns)]
        for i, n in enumerate(names):
            lines.append(
                n.ljust(name_width) + "".join(v[i].rjust(widths[c]) for c, v in columns.items())
            )
        header = (
            f"Pooled estimates (Rubin's rules), m = {int(table['m'].iloc[0])}, dfcom = {dfc_text}"
        )
        if conf_level != 0.95:
            header += f", {100 * conf_level:g}% intervals"
        return "\n".join([header, *lines])

    def pool_extra(self) -> pd.Series:
        """Pool variance components and ICCs: their mean over imputations.

        As ``mitml::testEstimates(extra.pars = TRUE)``. Available for results
        that carry extra parameters (statsmodels MixedLM fits, or dicts with an
        ``"extra"`` entry).

        Returns
        -------
        Series
            Labelled as mitml: ``"Intercept~~Intercept|<group>"``,
            ``"<x>~~<x>|<group>"``, ``"Intercept~~<x>|<group>"``,
            ``"Residual~~Residual"``, ``"ICC|<group>"``.

        Raises
        ------
        TypeError
            If an analysis carries no extra parameters.

        Examples
        --------
        >>> import numpy as np
        >>> from skmice.analysis import MultipleAnalyses
        >>> fits = MultipleAnalyses([
        ...     {"params": [1.0], "cov": [[0.1]], "extra": {"Residual~~Residual": 0.4}},
        ...     {"params": [1.1], "cov": [[0.1]], "extra": {"Residual~~Residual": 0.5}},
        ... ])
        >>> fits.pool_extra()
        Residual~~Residual    0.45
        dtype: float64
        """
        if len(self) < 1:
            raise ValueError("no analyses to pool.")
        ests = self.extract()
        for i, e in enumerate(ests):
            if e.extra is None:
                raise TypeError(
                    f"analysis {i} ({type(self[i]).__name__}) has no variance components; "
                    "pool_extra applies to mixed models (statsmodels MixedLM)."
                )
        return _pool_extra([e.extra for e in ests])

    # -- model comparison ------------------------------------------------

    def D1(self, other, dfcom=None) -> MultiParameterTest:
        """Multivariate Wald test of this model against the nested ``other`` (R ``mice::D1``).

        The tested parameters are the terms of this model absent from
        ``other`` (matched by name, as mitml does).

        Parameters
        ----------
        other : MultipleAnalyses
            The nested (smaller) model fitted to the same imputed datasets.
        dfcom : float, optional
            Complete-data df for Reiter's small-sample df2. Default: the first
            analysis's residual df, as R ``mice::D1``; ``inf`` (mixed models,
            no residual df) gives the large-sample df2.

        Returns
        -------
        MultiParameterTest

        Examples
        --------
        >>> import numpy as np
        >>> from skmice.analysis import MultipleAnalyses
        >>> import pandas as pd
        >>> full = MultipleAnalyses(
        ...     (pd.Series([0.1, q], index=["a", "b"]), np.diag([0.01, 0.02]), 60)
        ...     for q in (0.50, 0.62, 0.41, 0.55, 0.47, 0.58))
        >>> null = MultipleAnalyses((pd.Series([0.1], index=["a"]), np.eye(1) * 0.01, 61)
        ...                         for _ in range(6))
        >>> res = full.D1(null)
        >>> res.df1, round(res.statistic, 3)
        (1.0, 10.124)
        """
        other = self._check_other(other)
        ests, terms = self._estimates(name="self")
        _, terms0 = other._estimates(require_cov=False, name="other")
        tested = self._tested_terms(terms, terms0)
        if dfcom is None:
            dfcom = ests[0].dfcom
        return _pool_D1(
            [e.params for e in ests], [e.cov for e in ests], test_terms=tested, dfcom=dfcom
        )

    def D2(self, other, use: str = "wald") -> MultiParameterTest:
        """Pooled chi-square test D2 of this model against the nested ``other`` (R ``mice::D2``).

        Parameters
        ----------
        other : MultipleAnalyses
            The nested model fitted to the same imputed datasets.
        use : {"wald", "likelihood"}, default="wald"
            ``"wald"`` (R's default): per-imputation Wald statistics of the
            terms absent from ``other``; ``"likelihood"``: per-imputation
            likelihood-ratio statistics ``2 (llf - llf_other)`` (statsmodels
            results with ``llf``; ML, not REML, fits), with k the difference
            in the number of parameters.

        Returns
        -------
        MultiParameterTest

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from skmice.analysis import MultipleAnalyses
        >>> full = MultipleAnalyses(
        ...     (pd.Series([0.1, q], index=["a", "b"]), np.diag([0.01, 0.02]), 60)
        ...     for q in (0.50, 0.62, 0.41))
        >>> null = MultipleAnalyses((pd.Series([0.1], index=["a"]), np.eye(1) * 0.01, 61)
        ...                         for _ in range(3))
        >>> res = full.D2(null)
        >>> res.method, round(res.statistic, 3)
        ('D2', 6.836)
        """
        other = self._check_other(other)
        if use == "wald":
            ests, terms = self._estimates(name="self")
            _, terms0 = other._estimates(require_cov=False, name="other")
            tested = self._tested_terms(terms, terms0)
            d = wald_statistics([e.params for e in ests], [e.cov for e in ests], test_terms=tested)
            return _pool_D2(d, k=len(tested))
        if use == "likelihood":
            ests, terms = self._estimates(require_cov=False, name="self")
            _, terms0 = other._estimates(require_cov=False, name="other")
            k = len(terms) - len(terms0)
            if k < 1:
                raise ValueError("other: the models appear not to be nested.")
            for name, fits in (("self", self), ("other", other)):
                for i, r in enumerate(fits):
                    if getattr(r, "llf", None) is None:
                        raise TypeError(
                            f"{name}: analysis {i} ({type(r).__name__}) has no llf; "
                            'use="likelihood" needs statsmodels results.'
                        )
                    if getattr(_unwrap(r), "reml", False):
                        raise ValueError(
                            f"{name}: analysis {i} was fitted by REML; likelihood ratios of "
                            "fixed effects need ML fits (e.g. MixedLM(...).fit(reml=False))."
                        )
            d = np.array([2.0 * (float(a.llf) - float(b.llf)) for a, b in zip(self, other)])
            d[np.isclose(d, 0.0, atol=1e-10)] = 0.0
            return _pool_D2(d, k=k)
        raise ValueError(f'use must be "wald" or "likelihood", got {use!r}.')

    def D3(self, other, likelihood: str = "mice") -> MultiParameterTest:
        """Meng-Rubin likelihood-ratio test D3 of this model against the nested ``other``.

        For statsmodels OLS, WLS, GLM, Logit and Probit results. The
        likelihood-ratio statistics at each imputation's own estimates come
        from the fits' ``llf``; those at the pooled estimates are evaluated as
        chosen by ``likelihood``.

        Parameters
        ----------
        other : MultipleAnalyses
            The nested model fitted to the same imputed datasets.
        likelihood : {"mice", "mitml"}, default="mice"
            ``"mice"`` reproduces R ``mice::D3`` exactly: each model is
            refitted with its linear predictor fixed at the pooled
            coefficients as an offset, which, as R's ``mice::fix.coef``
            (``update(model, . ~ offset(offset))``) does, still estimates a free
            intercept and the residual variance. ``"mitml"`` follows
            ``mitml::testModels(method = "D3")``: the log-likelihood at the
            pooled coefficients and, for OLS/WLS, the pooled (mean) ML residual
            variance; for GLMs only binomial and Poisson families.

        Returns
        -------
        MultiParameterTest

        Raises
        ------
        TypeError
            For results other than statsmodels OLS/WLS/GLM/Logit/Probit.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import statsmodels.formula.api as smf
        >>> from skmice.analysis import MultipleAnalyses
        >>> rng = np.random.default_rng(2)
        >>> data = [pd.DataFrame(rng.normal(size=(50, 3)), columns=["x1", "x2", "y"])
        ...         for _ in range(3)]
        >>> fit1 = MultipleAnalyses(smf.ols("y ~ x1 + x2", d).fit() for d in data)
        >>> fit0 = MultipleAnalyses(smf.ols("y ~ x1", d).fit() for d in data)
        >>> res = fit1.D3(fit0)
        >>> res.method, res.df1
        ('D3', 1.0)
        """
        if likelihood not in ("mice", "mitml"):
            raise ValueError(f'likelihood must be "mice" or "mitml", got {likelihood!r}.')
        other = self._check_other(other)
        if len(self) < 2:
            raise ValueError(f"D3 needs m >= 2 analyses, got {len(self)}.")
        for r in list(self) + list(other):
            _d3_kind(r)
        ests1, terms1 = self._estimates(require_cov=False, name="self")
        ests0, terms0 = other._estimates(require_cov=False, name="other")
        k = len(terms1) - len(terms0)
        if k < 1:
            raise ValueError(
                "other: the models appear not to be nested (the larger model must have more "
                "parameters)."
            )
        # each fit's exog columns follow its params order, which must be common
        for name, ests, terms in (("self", ests1, terms1), ("other", ests0, terms0)):
            for i, e in enumerate(ests):
                if list(e.params.index) != terms:
                    raise ValueError(
                        f"{name}: analysis {i} orders its terms differently from analysis 0."
                    )
        q1 = np.mean([e.params.to_numpy() for e in ests1], axis=0)
        q0 = np.mean([e.params.to_numpy() for e in ests0], axis=0)
        ll1 = np.array([float(_unwrap(r).llf) for r in self])
        ll0 = np.array([float(_unwrap(r).llf) for r in other])
        ll1_pooled = _loglik_at_pooled(list(self), q1, likelihood)
        ll0_pooled = _loglik_at_pooled(list(other), q0, likelihood)
        return _pool_D3(-2.0 * (ll0 - ll1), -2.0 * (ll0_pooled - ll1_pooled), k=k)
