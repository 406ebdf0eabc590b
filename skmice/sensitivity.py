"""Sensitivity analysis under missing not at random: delta adjustment and tipping points.

Multiple imputation under MAR assumes the missing values look like the
observed ones given the predictors. The delta-adjustment (pattern-mixture)
analysis asks how the conclusions change if they do not: the imputations of
one column are shifted by ``delta`` (``"mnar.norm"``; for a binary column the
log odds, ``"mnar.logreg"``), the whole analysis is repeated over a grid of
deltas, and the pooled estimate is plotted against delta. The *tipping
point* is the delta at which the conclusion changes (the confidence interval
starts to cover the null value).

:func:`delta_analysis` runs the grid, :func:`tipping_point` finds the tipping
point and :func:`plot_tipping_point` draws the curve (matplotlib, optional).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._imputer import MultilevelIterativeImputer
from ._multiple import multiple_impute
from .methods._delta import DeltaLogistic, DeltaNormal

__all__ = ["delta_analysis", "plot_tipping_point", "tipping_point"]


def _is_binary(col: pd.Series) -> bool:
    obs = col.dropna()
    if isinstance(col.dtype, pd.CategoricalDtype):
        return len(col.cat.categories) == 2
    if pd.api.types.is_bool_dtype(col.dtype) or str(col.dtype) == "boolean":
        return True
    if pd.api.types.is_numeric_dtype(col.dtype):
        return bool(obs.isin([0, 1]).all())
    return obs.nunique() == 2


def _methods_with(imputer, frame: pd.DataFrame, column, method) -> dict:
    """The imputer's ``methods`` as a dict, with ``column`` set to ``method``."""
    spec = imputer.get_params()["methods"]
    if spec is None:
        return {column: method}
    if isinstance(spec, str):
        cluster = imputer.get_params().get("cluster")
        out = {c: spec for c in frame.columns if c != cluster and frame[c].isna().any()}
        out[column] = method
        return out
    if isinstance(spec, dict):
        out = dict(spec)
        out[column] = method
        return out
    raise TypeError(f"imputer.methods must be None, a str or a dict, got {type(spec).__name__}.")


def delta_analysis(
    X,
    column,
    deltas,
    analysis,
    imputer: MultilevelIterativeImputer | None = None,
    term=None,
    rows=None,
    method: str | None = None,
    n_imputations: int = 5,
    n_jobs: int | None = None,
    random_state=None,
    dfcom=None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Repeat imputation, analysis and pooling over a grid of delta adjustments.

    For every ``delta``, ``column`` is imputed by ``"mnar.norm"`` (a shift of
    ``delta``) or ``"mnar.logreg"`` (``delta`` added to the log odds), the
    other columns as ``imputer`` says; the ``n_imputations`` completed
    datasets are analysed by ``analysis`` and pooled by Rubin's rules. The
    same ``random_state`` is used for every delta (common random numbers), so
    the curve is smooth in delta. ``delta = 0`` is the MAR analysis.

    Parameters
    ----------
    X : DataFrame
        The incomplete data.
    column : column label
        The column whose imputations are shifted.
    deltas : sequence of float
        The grid of shifts.
    analysis : callable
        Takes a completed dataset and returns a fitted model (see
        :meth:`~skmice.MultiplyImputedData.analyze`).
    imputer : MultilevelIterativeImputer, optional
        The imputation model of the other columns (default: a
        ``MultilevelIterativeImputer()``); its method for ``column`` is
        replaced.
    term : str or list, optional
        Term(s) of the pooled table to keep (default: all).
    rows : callable, optional
        Which imputed rows are shifted, as in
        :class:`~skmice.methods.DeltaNormal` (default: all).
    method : {"mnar.norm", "mnar.logreg"}, optional
        Default: ``"mnar.logreg"`` for binary columns, else ``"mnar.norm"``.
    n_imputations : int, default=5
    n_jobs : int, optional
        Parallel chains (joblib).
    random_state : None, int or SeedSequence
        Seed; an int gives reproducible results.
    dfcom : float, optional
        Complete-data degrees of freedom for pooling.
    conf_level : float, default=0.95

    Returns
    -------
    DataFrame
        One row per delta and term: ``delta``, ``term`` and the columns of
        :meth:`~skmice.analysis.MultipleAnalyses.pool` (``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``, ``p_value``, ``fmi``, ...).

    See Also
    --------
    tipping_point, plot_tipping_point

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import statsmodels.formula.api as smf
    >>> from skmice.sensitivity import delta_analysis
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=200)})
    >>> X["y"] = 0.3 + X["x"] + rng.normal(size=200)
    >>> X.loc[X["x"] > 0.8, "y"] = np.nan
    >>> res = delta_analysis(X, "y", [-1.0, 0.0, 1.0], lambda d: smf.ols("y ~ 1", d).fit(),
    ...                      term="Intercept", random_state=0)
    >>> res[["delta", "term"]].values.tolist()
    [[-1.0, 'Intercept'], [0.0, 'Intercept'], [1.0, 'Intercept']]
    >>> bool(np.all(np.diff(res["estimate"]) > 0))
    True
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}.")
    if column not in X.columns:
        raise ValueError(f"column {column!r} is not a column of X.")
    if not X[column].isna().any():
        raise ValueError(f"column {column!r} has no missing values: nothing to adjust.")
    if isinstance(deltas, (str, bytes)) or not np.iterable(deltas):
        raise TypeError("deltas must be a sequence of numbers.")
    deltas = list(deltas)
    if not deltas or not all(
        isinstance(d, numbers.Real) and not isinstance(d, bool) and np.isfinite(d) for d in deltas
    ):
        raise ValueError(f"deltas must be a non-empty sequence of finite numbers, got {deltas!r}.")
    if not callable(analysis):
        raise TypeError("analysis must be callable: it receives one completed dataset.")
    if method is None:
        method = "mnar.logreg" if _is_binary(X[column]) else "mnar.norm"
    classes = {"mnar.norm": DeltaNormal, "mnar.logreg": DeltaLogistic}
    if method not in classes:
        raise ValueError(f"method must be 'mnar.norm' or 'mnar.logreg', got {method!r}.")
    imputer = MultilevelIterativeImputer() if imputer is None else imputer
    terms = None if term is None else ([term] if isinstance(term, str) else list(term))
    parts = []
    for delta in deltas:
        imp = clone(imputer).set_params(
            methods=_methods_with(
                imputer, X, column, classes[method](delta=float(delta), rows=rows)
            )
        )
        mi = multiple_impute(
            X, imp, n_imputations=n_imputations, n_jobs=n_jobs, random_state=random_state
        )
        pooled = mi.analyze(analysis).pool(dfcom=dfcom, conf_level=conf_level)
        pooled = pooled.rename_axis("term").reset_index()
        if terms is not None:
            unknown = [t for t in terms if t not in set(pooled["term"])]
            if unknown:
                raise ValueError(
                    f"term {unknown} not among the pooled terms {pooled['term'].tolist()}."
                )
            pooled = pooled[pooled["term"].isin(terms)]
        pooled.insert(0, "delta", float(delta))
        parts.append(pooled)
    return pd.concat(parts, ignore_index=True)


def _one_term(results: pd.DataFrame, term) -> pd.DataFrame:
    need = {"delta", "term", "estimate", "conf_low", "conf_high"}
    if not isinstance(results, pd.DataFrame) or not need <= set(results.columns):
        raise ValueError(f"results must be the DataFrame of delta_analysis (columns {need}).")
    terms = list(dict.fromkeys(results["term"]))
    if term is None:
        if len(terms) != 1:
            raise ValueError(f"results hold several terms {terms}: choose one with term=.")
        term = terms[0]
    if term not in terms:
        raise ValueError(f"term {term!r} is not in results (terms: {terms}).")
    return results[results["term"] == term].sort_values("delta")


def tipping_point(results: pd.DataFrame, term=None, null: float = 0.0) -> float:
    """The delta closest to 0 at which the conclusion about ``term`` changes.

    The conclusion at ``delta = 0`` (or at the delta closest to 0) is whether
    the confidence interval excludes ``null``; the tipping point is where that
    changes, linearly interpolated between the two grid points around the
    change (on the side of 0 where it happens first).

    Parameters
    ----------
    results : DataFrame
        Output of :func:`delta_analysis`.
    term : str, optional
        Needed when ``results`` holds several terms.
    null : float, default=0.0
        The null value of the estimate.

    Returns
    -------
    float
        The tipping point, or NaN if the conclusion does not change over the
        grid.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice.sensitivity import tipping_point
    >>> res = pd.DataFrame({"delta": [0.0, 1.0, 2.0], "term": "x",
    ...                     "estimate": [1.0, 0.6, 0.2], "conf_low": [0.5, 0.1, -0.3],
    ...                     "conf_high": [1.5, 1.1, 0.7]})
    >>> tipping_point(res)  # conf_low crosses 0 between delta 1 and 2
    1.25
    """
    r = _one_term(results, term)
    d = r["delta"].to_numpy(float)
    lo, hi = r["conf_low"].to_numpy(float), r["conf_high"].to_numpy(float)
    # signed distance of the null outside the interval: > 0 excluded, < 0 covered
    gap = np.maximum(lo - null, null - hi)
    base = int(np.argmin(np.abs(d)))
    best = np.nan
    for direction in (1, -1):
        i = base
        while 0 <= i + direction < len(d):
            j = i + direction
            if (gap[j] > 0) != (gap[base] > 0):
                t = gap[i] / (gap[i] - gap[j]) if gap[i] != gap[j] else 0.0
                cand = d[i] + t * (d[j] - d[i])
                if np.isnan(best) or abs(cand) < abs(best):
                    best = float(round(cand, 12))
                break
            i = j
    return best


def plot_tipping_point(results: pd.DataFrame, term=None, null: float = 0.0, ax=None):
    """Plot the pooled estimate and its confidence interval against delta.

    Parameters
    ----------
    results : DataFrame
        Output of :func:`delta_analysis`.
    term : str, optional
        Needed when ``results`` holds several terms.
    null : float or None, default=0.0
        Drawn as a horizontal line, with the tipping point marked (None: no
        line).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from skmice.sensitivity import plot_tipping_point
    >>> res = pd.DataFrame({"delta": [0.0, 1.0, 2.0], "term": "x",
    ...                     "estimate": [1.0, 0.6, 0.2], "conf_low": [0.5, 0.1, -0.3],
    ...                     "conf_high": [1.5, 1.1, 0.7]})
    >>> ax = plot_tipping_point(res)
    >>> ax.get_xlabel()
    'delta'
    """
    r = _one_term(results, term)
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError(
            "plot_tipping_point needs matplotlib, an optional dependency: "
            "pip install 'skmice[plot]'"
        ) from exc
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    d = r["delta"].to_numpy(float)
    ax.fill_between(
        d, r["conf_low"], r["conf_high"], alpha=0.25, color="#0072B2", label="confidence interval"
    )
    ax.plot(d, r["estimate"], marker="o", color="#0072B2", label="pooled estimate")
    if null is not None:
        ax.axhline(null, color="#3B3B3B", lw=0.8, ls="--")
        tp = tipping_point(results, r["term"].iloc[0], null)
        if np.isfinite(tp):
            ax.axvline(tp, color="#D55E00", lw=0.8, ls=":", label=f"tipping point {tp:.3g}")
    ax.set_xlabel("delta")
    ax.set_ylabel(f"{r['term'].iloc[0]}")
    ax.legend(frameon=False, fontsize="small")
    return ax
