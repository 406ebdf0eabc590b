"""Generate missing values: MCAR, MAR and MNAR amputation, sporadic or systematic.

:func:`ampute` follows R mice's ``ampute`` (Schouten, Lugtig and Vink, 2018):
every row is assigned to a missingness *pattern* (which columns go missing),
a *weighted sum score* of the standardised data is computed for each row
(from the columns that stay observed for MAR, from those that go missing for
MNAR), and the probability that the row is amputed is a logistic function of
its score whose shift is found by root finding, so that the expected
proportion of amputed rows equals ``prop``. MCAR ignores the scores.

:func:`multilevel_ampute` adds what clustered data needs: *systematic*
missingness (a variable missing for every row of some clusters, as when a
school did not administer a questionnaire) and *sporadic* missingness (single
rows), with cluster-level variables going missing for whole clusters.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from ._data import encode
from ._random import as_seed_sequence

__all__ = ["ampute", "multilevel_ampute"]

MECHANISMS = ("MCAR", "MAR", "MNAR")
TYPES = ("RIGHT", "LEFT", "MID", "TAIL")


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _check_fraction(value, name: str, open_upper: bool = False) -> float:
    if not isinstance(value, (numbers.Real, np.floating)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}.")
    value = float(value)
    if not 0.0 <= value <= 1.0 or (open_upper and value >= 1.0):
        bound = "[0, 1)" if open_upper else "[0, 1]"
        raise ValueError(f"{name} must be in {bound}, got {value}.")
    return value


def _check_mechanism(mechanism) -> str:
    if not isinstance(mechanism, str) or mechanism.upper() not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}.")
    return mechanism.upper()


def _check_types(type, n_patterns: int) -> list[str]:
    types = [type] * n_patterns if isinstance(type, str) else list(type)
    if len(types) != n_patterns:
        raise ValueError(
            f"type must be a string or one string per pattern ({n_patterns}), got {len(types)}."
        )
    out = []
    for t in types:
        if not isinstance(t, str) or t.upper() not in TYPES:
            raise ValueError(f"type must be one of {TYPES}, got {t!r}.")
        out.append(t.upper())
    return out


def _as_frame(X) -> tuple[pd.DataFrame, bool]:
    if isinstance(X, pd.DataFrame):
        return X, True
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise TypeError("X as an array must be numeric; pass a DataFrame for other types.")
    return pd.DataFrame(arr.astype(np.float64)), False


def _resolve_columns(frame: pd.DataFrame, columns, exclude=()) -> list:
    if columns is None:
        cols = [c for c in frame.columns if c not in exclude]
    else:
        if isinstance(columns, str) or not np.iterable(columns):
            columns = [columns]
        cols = list(columns)
        unknown = [c for c in cols if c not in frame.columns]
        if unknown:
            raise ValueError(f"columns: {unknown} are not columns of X.")
        bad = [c for c in cols if c in exclude]
        if bad:
            raise ValueError(
                f"columns: {bad} is a cluster column (grouping column), never amputed.")
        if len(set(cols)) != len(cols):
            raise ValueError("columns has duplicates.")
    if not cols:
        raise ValueError("columns: no column to ampute.")
    return cols


def _check_patterns(patterns, cols: list) -> np.ndarray:
    """Patterns as an (k, c) int array with R's convention: 0 = goes missing."""
    c = len(cols)
    if patterns is None:
        return 1 - np.eye(c, dtype=np.int64)
    if isinstance(patterns, pd.DataFrame):
        unknown = [p for p in patterns.columns if p not in cols]
        if unknown:
            raise ValueError(f"patterns: {unknown} are not among the amputed columns {cols}.")
        arr = patterns.reindex(columns=cols, fill_value=1).to_numpy()
    else:
        items = list(patterns) if np.iterable(patterns) else [patterns]
        as_names = not _is_01_matrix(items, c) and all(
            isinstance(p, str)
            or (np.iterable(p) and not any(isinstance(q, numbers.Number) for q in p))
            for p in items
        )
        if as_names:
            arr = np.ones((len(items), c), dtype=np.int64)
            for i, p in enumerate(items):
                names = [p] if isinstance(p, str) else list(p)
                unknown = [q for q in names if q not in cols]
                if unknown:
                    raise ValueError(f"patterns: {unknown} are not among the amputed columns.")
                for q in names:
                    arr[i, cols.index(q)] = 0
        else:
            arr = np.asarray(items)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != c:
                raise ValueError(
                    f"patterns must have one 0/1 entry per amputed column ({c}), got shape "
                    f"{arr.shape}; or give lists of column names."
                )
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("patterns must hold 0 (missing) and 1 (observed).") from None
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError("patterns must hold 0 (goes missing) and 1 (stays observed) only.")
    arr = arr.astype(np.int64)
    if arr.shape[0] == 0:
        raise ValueError("patterns: at least one pattern is needed.")
    if (arr == 1).all(axis=1).any():
        raise ValueError(
            "patterns: every pattern needs at least one 0 (a column that goes missing)."
        )
    return arr


def _is_01_matrix(items, c: int) -> bool:
    try:
        arr = np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.ndim in (1, 2) and arr.shape[-1] == c and np.isin(arr, (0.0, 1.0)).all()


def _check_freq(freq, k: int) -> np.ndarray:
    if freq is None:
        return np.full(k, 1.0 / k)
    f = np.asarray(freq, dtype=np.float64).ravel()
    if f.shape != (k,) or np.any(~np.isfinite(f)) or np.any(f < 0) or f.sum() <= 0:
        raise ValueError(
            f"freq must hold {k} non-negative numbers (one per pattern), got {freq!r}."
        )
    return f / f.sum()


def _check_weights(
    weights, patterns: np.ndarray, work: list, mechanism: str, scorable: np.ndarray
) -> np.ndarray:
    """Score weights (k, len(work)); defaults use ``scorable`` columns for MAR."""
    k, c = patterns.shape
    if weights is None:
        if mechanism == "MNAR":
            return (patterns == 0).astype(np.float64)
        w = ((patterns == 1) & scorable[None, :]).astype(np.float64)
        if mechanism == "MAR" and np.any(w.sum(axis=1) == 0):
            raise ValueError(
                "MAR needs, in every pattern, a score column that stays observed (the score "
                "is computed from them); give score_columns, use MNAR or give weights."
            )
        return w
    if isinstance(weights, (pd.DataFrame, dict)):
        names = list(weights.columns if isinstance(weights, pd.DataFrame) else weights)
        unknown = [p for p in names if p not in work]
        if unknown:
            raise ValueError(f"weights: {unknown} are not among the columns used {work}.")
        if isinstance(weights, pd.DataFrame):
            w = weights.reindex(columns=work, fill_value=0).to_numpy(dtype=np.float64)
        else:
            w = np.array([float(weights.get(q, 0.0)) for q in work])
    else:
        w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = np.broadcast_to(w, (k, c)).copy() if w.shape == (c,) else w[None, :]
    if w.shape != (k, c) or not np.isfinite(w).all():
        raise ValueError(
            f"weights must be finite with shape ({k}, {c}) (patterns x columns {work}) or "
            f"({c},), got shape {w.shape}."
        )
    return w


def _setup(frame, columns, score_columns, patterns, weights, freq, type, mechanism, exclude=()):
    """Resolve the amputed columns, the working columns and the pattern arrays."""
    cols = _resolve_columns(frame, columns, exclude)
    score_cols = cols if score_columns is None else _resolve_columns(frame, score_columns, exclude)
    work = [c for c in frame.columns if c in cols or c in score_cols]
    pats = _check_patterns(patterns, cols)
    full = np.ones((pats.shape[0], len(work)), dtype=np.int64)
    amputable = np.array([c in cols for c in work])
    full[:, amputable] = pats[:, [cols.index(c) for c in work if c in cols]]
    scorable = np.array([c in score_cols for c in work])
    freq_ = _check_freq(freq, pats.shape[0])
    w = _check_weights(weights, full, work, mechanism, scorable)
    types = _check_types(type, pats.shape[0])
    return cols, score_cols, work, amputable, pats, full, freq_, w, types


# --------------------------------------------------------------------------- #
# Numerical kernels
# --------------------------------------------------------------------------- #
def _standardize(values: np.ndarray) -> np.ndarray:
    """Columns to mean 0, sd 1 on their observed values; NaN and constants -> 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(values, axis=0) if values.size else np.zeros(values.shape[1])
        sd = np.nanstd(values, axis=0)
    mean = np.nan_to_num(mean)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.inf)
    return np.nan_to_num((values - mean) / sd, nan=0.0)


def _shape_scores(z: np.ndarray, type: str) -> np.ndarray:
    """The logistic argument (before the shift) for R's four types."""
    if type == "RIGHT":
        return z
    if type == "LEFT":
        return -z
    if type == "MID":
        return -np.abs(z) + 0.75
    return np.abs(z) - 0.75


def calibrated_probabilities(scores: np.ndarray, prop: float, type: str = "RIGHT") -> np.ndarray:
    """Amputation probabilities whose mean is ``prop``, logistic in the scores.

    The scores are standardised, shaped by ``type`` (``"RIGHT"``: high scores
    go missing more often; ``"LEFT"``: low scores; ``"MID"``: central scores;
    ``"TAIL"``: both tails) and passed through the logistic function with a
    shift found by Brent's root finding so that the mean probability is
    exactly ``prop`` (R's ``ampute`` uses ``uniroot`` the same way).

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Weighted sum scores.
    prop : float
        Target mean probability, in [0, 1].
    type : {"RIGHT", "LEFT", "MID", "TAIL"}, default="RIGHT"

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.amputation import calibrated_probabilities
    >>> p = calibrated_probabilities(np.linspace(-2, 2, 101), 0.3)
    >>> round(float(p.mean()), 6), bool(p[-1] > p[0])
    (0.3, True)
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores.copy()
    if prop <= 0.0 or prop >= 1.0:
        return np.full(scores.shape, float(prop))
    z = _standardize(scores[:, None])[:, 0]
    base = _shape_scores(z, type.upper())
    lo, hi = -60.0, 60.0  # expit saturates: mean(expit(base + b)) - prop changes sign here
    shift = brentq(
        lambda b: expit(base + b).mean() - prop,
        lo - np.max(np.abs(base)),
        hi + np.max(np.abs(base)),
        xtol=1e-12,
    )
    return expit(base + shift)


def _encoded(frame: pd.DataFrame, cols: list) -> np.ndarray:
    return encode(frame[cols]).values


def _row_mask(
    values: np.ndarray,
    prop: float,
    mechanism: str,
    patterns: np.ndarray,
    freq: np.ndarray,
    weights: np.ndarray,
    types: list[str],
    rng: np.random.Generator,
) -> np.ndarray:
    """Boolean (n, c) mask of the entries to delete (the heart of ``ampute``)."""
    n = values.shape[0]
    k = patterns.shape[0]
    which = rng.choice(k, size=n, p=freq)
    u = rng.random(n)
    prob = np.full(n, prop)
    if mechanism != "MCAR":
        z = _standardize(values)
        scores = z @ weights.T  # (n, k); each row uses its own pattern's column
        for p in range(k):  # a loop over the few patterns, not over rows
            rows = which == p
            if rows.any():
                prob[rows] = calibrated_probabilities(scores[rows, p], prop, types[p])
    amputed = u < prob
    return amputed[:, None] & (patterns[which] == 0)


def _apply_mask(frame: pd.DataFrame, cols: list, mask: np.ndarray) -> pd.DataFrame:
    """A copy of frame with the masked entries set missing, dtypes kept where possible."""
    out = frame.copy()
    for j, c in enumerate(cols):
        m = mask[:, j]
        if not m.any():
            continue
        s = out[c]
        if pd.api.types.is_bool_dtype(s.dtype) and not isinstance(s.dtype, pd.BooleanDtype):
            s = s.astype("boolean")
        out[c] = s.where(~m)
    return out


def _cases_to_prop(prop: float, patterns: np.ndarray, freq: np.ndarray) -> float:
    """Convert a proportion of cells (R's ``bycases = FALSE``) to one of rows."""
    c = patterns.shape[1]
    per_row = float(freq @ (patterns == 0).sum(axis=1))
    p = prop * c / per_row
    if p > 1.0 + 1e-12:
        raise ValueError(
            f"prop={prop} of cells cannot be reached with these patterns: it needs more than "
            "all rows amputed; give patterns with more missing columns or a smaller prop."
        )
    return min(p, 1.0)


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #
def ampute(
    X,
    prop: float = 0.3,
    mechanism: str = "MAR",
    patterns=None,
    weights=None,
    random_state=None,
    columns=None,
    *,
    freq=None,
    type="RIGHT",
    by_cases: bool = True,
    score_columns=None,
):
    """Make complete data incomplete: MCAR, MAR or MNAR, as R mice's ``ampute``.

    Each row is assigned to one missingness pattern (with probabilities
    ``freq``). For MAR and MNAR, every row gets a weighted sum score of the
    standardised data (categories by their codes); within each pattern the
    probability of amputing a row is a logistic function of its standardised
    score, shifted by root finding so that the expected proportion of
    amputed rows is ``prop``. Amputed rows lose the columns their pattern
    marks 0. MCAR amputes each row with probability ``prop``.

    Parameters
    ----------
    X : DataFrame or 2-d array
        The (usually complete) data. Missing values already there stay
        missing and enter the scores as the column mean.
    prop : float, default=0.3
        Expected proportion of amputed rows (incomplete cases); with
        ``by_cases=False``, of amputed cells among ``columns``.
    mechanism : {"MAR", "MCAR", "MNAR"}, default="MAR"
        MAR: the scores use the columns that stay observed in the pattern;
        MNAR: the columns that go missing; MCAR: no scores.
    patterns : array-like, DataFrame or list of column lists, optional
        Which columns go missing together. A 0/1 matrix (patterns x
        ``columns``) with R's convention (0 = goes missing), a DataFrame with
        some of ``columns`` (absent ones stay observed), or a list whose
        items are a column name or a list of names that go missing. Default:
        one pattern per column, each making that column alone missing.
    weights : array-like, dict or DataFrame, optional
        Score weights: (patterns x columns), one row for all patterns, a
        dict column -> weight, or a DataFrame. Default: 1 for the columns
        that stay observed (MAR) or go missing (MNAR), 0 elsewhere.
    random_state : None, int, SeedSequence or Generator
        Seed; the same seed gives the same result.
    columns : list of column labels, optional
        The columns that may go missing (patterns are over them). Default:
        all. An identifier or cluster column should be left out.
    freq : array-like, optional
        Relative frequency of each pattern (normalised). Default: equal.
    type : {"RIGHT", "LEFT", "MID", "TAIL"} or list, default="RIGHT"
        Shape of the logistic probability in the score, per pattern or for
        all: high, low, central or extreme scores go missing more often.
    by_cases : bool, default=True
        Whether ``prop`` is a proportion of rows (True) or of cells (False).
    score_columns : list of column labels, optional
        The columns whose values may drive MAR missingness (they never go
        missing unless also in ``columns``). Default: ``columns``. Weights
        given by position are over ``columns`` and ``score_columns``
        together, in the order of ``X``.

    Returns
    -------
    DataFrame or ndarray
        A copy of ``X`` with missing values. DataFrame in, DataFrame out:
        float, categorical, string, object and nullable dtypes are kept;
        an integer column that gets missing values becomes float64 and a
        bool column becomes pandas' nullable ``"boolean"`` (NaN needs it).
        An array gives a float array.

    Raises
    ------
    ValueError
        Unknown mechanism or type, ``prop`` outside [0, 1], malformed
        patterns, weights or freq, a MAR pattern without observed columns.

    See Also
    --------
    multilevel_ampute : Systematic (whole-cluster) and sporadic missingness.

    Notes
    -----
    The realised proportion is a sum of Bernoulli draws with mean ``prop``,
    so it is within a binomial standard error ``sqrt(prop (1 - prop) / n)``
    of ``prop`` about two times in three. Scores are standardised within
    each pattern before the logistic function, as in R.

    References
    ----------
    Schouten, R. M., Lugtig, P. and Vink, G. (2018). Generating missing values
    for simulation purposes: a multivariate amputation procedure. Journal of
    Statistical Computation and Simulation, 88(15), 2909-2930.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import ampute
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(1000, 3)), columns=["a", "b", "c"])
    >>> Y = ampute(X, prop=0.4, mechanism="MAR", random_state=1)
    >>> round(float(Y.isna().any(axis=1).mean()), 1)
    0.4
    >>> int(Y.isna().sum(axis=1).max())  # one column per pattern
    1
    >>> Z = ampute(X, prop=0.2, patterns=[["a", "b"]], mechanism="MCAR", random_state=1)
    >>> Z.columns[Z.isna().any()].tolist()
    ['a', 'b']

    Only ``a`` goes missing, more often when ``b`` is large:

    >>> W = ampute(X, prop=0.5, columns=["a"], score_columns=["b"], random_state=1)
    >>> bool(X.loc[W["a"].isna(), "b"].mean() > X.loc[W["a"].notna(), "b"].mean())
    True
    """
    frame, is_frame = _as_frame(X)
    mechanism = _check_mechanism(mechanism)
    prop = _check_fraction(prop, "prop")
    cols, _, work, amputable, pats, full, freq_, w, types = _setup(
        frame, columns, score_columns, patterns, weights, freq, type, mechanism
    )
    if not isinstance(by_cases, (bool, np.bool_)):
        raise TypeError(f"by_cases must be a bool, got {by_cases!r}.")
    row_prop = prop if by_cases else _cases_to_prop(prop, pats, freq_)
    rng = np.random.default_rng(as_seed_sequence(random_state))
    mask = _row_mask(_encoded(frame, work), row_prop, mechanism, full, freq_, w, types, rng)
    out = _apply_mask(frame, cols, mask[:, amputable])
    return out if is_frame else out.to_numpy(dtype=np.float64)


def multilevel_ampute(
    X,
    cluster,
    prop: float = 0.3,
    mechanism: str = "MAR",
    systematic=0.0,
    sporadic: bool = True,
    patterns=None,
    weights=None,
    random_state=None,
    columns=None,
    *,
    freq=None,
    type="RIGHT",
    score_columns=None,
    unit=None,
) -> pd.DataFrame:
    """Ampute clustered data: systematic (whole clusters) and sporadic missingness.

    *Systematic* missingness: for each amputed column, a fraction
    ``systematic`` of the clusters loses the column in every row (a school
    that did not collect a variable). The clusters are drawn without
    replacement, uniformly (MCAR) or with probabilities logistic in the
    cluster mean of a score (MAR: the other columns; MNAR: the column
    itself), calibrated as in :func:`ampute`.

    With several grouping columns (pupils in classes in schools, pupils in
    schools and neighbourhoods), ``unit`` names the level whose units go
    missing: ``unit="class"`` removes the chosen columns from whole classes,
    ``unit="neighbourhood"`` from whole neighbourhoods. MAR by a unit-level
    covariate: ``score_columns=["school_type"]`` (a unit's score is the
    unit mean of the score columns, which for a variable constant within
    units is its value).

    *Sporadic* missingness: :func:`ampute` on the rows (``prop``,
    ``mechanism``, ``patterns``, ...), the grouping columns left out.
    Level-specific columns (constant within the units of a grouping level,
    as :func:`skmice.make_methods` detects them) go missing for whole units
    of their level: the decision drawn for a unit's first row applies to the
    unit, so they stay constant within units where observed.

    Parameters
    ----------
    X : DataFrame
        The data, with the cluster column.
    cluster : column label or list of them
        The cluster column, or the grouping columns, lowest level first
        (never amputed, not scored).
    prop : float, default=0.3
        Expected proportion of rows with sporadic missingness.
    mechanism : {"MAR", "MCAR", "MNAR"}, default="MAR"
    systematic : float or dict, default=0.0
        Fraction of clusters in which a column is missing entirely, in
        [0, 1); a dict column -> fraction sets it per column (others 0).
        The number of clusters is ``round(fraction * n_clusters)``, exactly.
    sporadic : bool, default=True
        Whether to add sporadic missingness.
    patterns, weights, freq, type
        As in :func:`ampute`, for the sporadic part (``type`` also shapes
        the systematic part's cluster probabilities).
    random_state : None, int, SeedSequence or Generator
    columns : list of column labels, optional
        Columns that may go missing. Default: all but the cluster.
    score_columns : list of column labels, optional
        Columns that drive MAR missingness. Default: ``columns``.
    unit : column label, optional
        The grouping column whose units go missing entirely in the
        systematic part (one of ``cluster``). Default: the first (lowest)
        grouping column.

    Returns
    -------
    DataFrame
        A copy of ``X`` with missing values (dtypes as in :func:`ampute`).

    See Also
    --------
    ampute : Single-level amputation.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import multilevel_ampute
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(40), 10)
    >>> X = pd.DataFrame({"g": g, "x": rng.normal(size=400), "y": rng.normal(size=400)})
    >>> Y = multilevel_ampute(X, "g", systematic=0.25, sporadic=False, random_state=0)
    >>> missing_share = Y.isna().groupby(Y["g"]).mean()
    >>> sorted(set(missing_share["x"])), int((missing_share["x"] == 1).sum())
    ([0.0, 1.0], 10)

    Whole schools of pupils in classes (``g``) in schools:

    >>> X["school"] = X["g"] // 4
    >>> Y = multilevel_ampute(X, ["g", "school"], mechanism="MCAR", systematic={"y": 0.3},
    ...                       sporadic=False, unit="school", columns=["y"], random_state=0)
    >>> int(Y.groupby("school")["y"].apply(lambda s: s.isna().all()).sum())
    3
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame with the cluster column, got {_type_name(X)}.")
    frame = X
    grouping = list(cluster) if isinstance(cluster, list) else [cluster]
    if not grouping:
        raise ValueError("cluster=[] names no column: give at least one grouping column.")
    for c in grouping:
        if c not in frame.columns:
            raise ValueError(f"cluster: {c!r} is not a column of X.")
        if frame[c].isna().any():
            raise ValueError(f"cluster: the cluster column {c!r} has missing values.")
    if unit is None:
        unit = grouping[0]
    elif not any(_same_label(unit, c) for c in grouping):
        raise ValueError(f"unit: {unit!r} is not one of the grouping columns {grouping}.")
    mechanism = _check_mechanism(mechanism)
    prop = _check_fraction(prop, "prop")
    if not isinstance(sporadic, (bool, np.bool_)):
        raise TypeError(f"sporadic must be a bool, got {sporadic!r}.")
    cols, score_cols, work, amputable, pats, full, freq_, w, types = _setup(
        frame, columns, score_columns, patterns, weights, freq, type, mechanism, tuple(grouping)
    )
    if isinstance(systematic, dict):
        unknown = [c for c in systematic if c not in cols]
        if unknown:
            raise ValueError(f"systematic: {unknown} are not among the amputed columns {cols}.")
        sys_frac = {c: _check_fraction(systematic.get(c, 0.0), "systematic", True) for c in cols}
    else:
        s = _check_fraction(systematic, "systematic", open_upper=True)
        sys_frac = dict.fromkeys(cols, s)

    seeds = as_seed_sequence(random_state).spawn(2)
    codes, uniques = pd.factorize(frame[unit], sort=False)
    n_clusters = len(uniques)
    values = _encoded(frame, work)
    mask = np.zeros(values.shape, dtype=bool)
    scorable = np.array([c in score_cols for c in work])

    if any(f > 0 for f in sys_frac.values()):
        rng = np.random.default_rng(seeds[0])
        z = _standardize(values)
        counts = np.bincount(codes, minlength=n_clusters).astype(np.float64)
        # cluster means of the standardised columns: (n_clusters, len(work)), segment sums
        zbar = (
            np.stack(
                [
                    np.bincount(codes, weights=z[:, j], minlength=n_clusters)
                    for j in range(len(work))
                ],
                axis=1,
            )
            / counts[:, None]
        )
        shape = _check_types(type if isinstance(type, str) else "RIGHT", 1)[0]
        for j, c in enumerate(work):  # a loop over the few columns
            if c not in cols:
                continue
            n_pick = int(round(sys_frac[c] * n_clusters))
            if n_pick == 0:
                continue
            sw = np.zeros(len(work))
            if mechanism == "MAR":
                sw[scorable] = 1.0
                sw[j] = 0.0
            elif mechanism == "MNAR":
                sw[j] = 1.0
            if not sw.any():  # MCAR, or MAR without another score column
                p = np.full(n_clusters, 1.0 / n_clusters)
            else:
                p = calibrated_probabilities(zbar @ sw, n_pick / n_clusters, shape)
                p = np.maximum(p, 1e-12)
                p = p / p.sum()
            picked = rng.choice(n_clusters, size=n_pick, replace=False, p=p)
            hit = np.zeros(n_clusters, dtype=bool)
            hit[picked] = True
            mask[:, j] |= hit[codes]

    if sporadic and prop > 0:
        rng = np.random.default_rng(seeds[1])
        row_mask = _row_mask(values, prop, mechanism, full, freq_, w, types, rng)
        from ._design import variable_levels

        at = variable_levels(frame[[*grouping, *cols]], grouping)
        for j, c in enumerate(work):  # a loop over the few columns
            if c in at:
                level_codes = pd.factorize(frame[at[c]], sort=False)[0]
                _, first = np.unique(level_codes, return_index=True)  # first row of each unit
                row_mask[:, j] = row_mask[first[level_codes], j]
        mask |= row_mask
    return _apply_mask(frame, cols, mask[:, amputable])


def _same_label(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _type_name(obj) -> str:
    """Name of an object's type, for error messages."""
    return type(obj).__name__
