"""Predictor matrix, default methods and design matrices per target.

The predictor matrix follows R mice's codes. Row = target, column = predictor:

====  =====================================================================
code  meaning
====  =====================================================================
0     not used
1     fixed effect
2     fixed and random effect (two-level methods)
3     fixed effect plus the cluster mean as a further fixed effect
4     fixed and random effect plus the cluster mean as a fixed effect
-2    the cluster identifier (at most one per row)
-3    selection equation only (selection models)
-4    outcome equation only (selection models)
====  =====================================================================
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._collinear import TARGET_CONSTANT, drops_from_gram, is_constant, shifted_gram
from ._data import ColumnInfo, encode
from ._plan import TargetPlan
from .methods._base import Design

__all__ = [
    "PREDICTOR_CODES",
    "DesignBuilder",
    "cluster_columns",
    "make_methods",
    "make_predictor_matrix",
    "multilevel_defaults",
    "quickpred",
    "remove_lindep",
    "validate_predictor_matrix",
    "variable_levels",
]

PREDICTOR_CODES = (-4, -3, -2, 0, 1, 2, 3, 4)


# --------------------------------------------------------------------------- #
# Correlations with pairwise deletion (vectorised)
# --------------------------------------------------------------------------- #
def _pairwise_cor(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson correlations of the columns of A with those of B, pairwise complete.

    Returns an (a, b) matrix; undefined correlations (fewer than two pairs or a
    constant column within the pairs) are 0.
    """
    wa = ~np.isnan(A)
    wb = ~np.isnan(B)
    # centre with the observed means for numerical stability
    A0 = np.where(wa, A - np.nanmean(np.where(wa, A, np.nan), axis=0, keepdims=True), 0.0)
    B0 = np.where(wb, B - np.nanmean(np.where(wb, B, np.nan), axis=0, keepdims=True), 0.0)
    Wa, Wb = wa.astype(np.float64), wb.astype(np.float64)
    n = Wa.T @ Wb
    sa = A0.T @ Wb
    sb = Wa.T @ B0
    saa = (A0 * A0).T @ Wb
    sbb = Wa.T @ (B0 * B0)
    sab = A0.T @ B0
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sab - sa * sb / n
        va = saa - sa * sa / n
        vb = sbb - sb * sb / n
        cor = cov / np.sqrt(va * vb)
    tol = 1e-12
    bad = (n < 2) | (va <= tol * np.maximum(saa, tol)) | (vb <= tol * np.maximum(sbb, tol))
    cor[bad | ~np.isfinite(cor)] = 0.0
    return np.clip(cor, -1.0, 1.0)


def _rank_columns(values: np.ndarray) -> np.ndarray:
    out = np.full_like(values, np.nan)
    for j in range(values.shape[1]):
        obs = ~np.isnan(values[:, j])
        out[obs, j] = pd.Series(values[obs, j]).rank().to_numpy()
    return out


# --------------------------------------------------------------------------- #
# Public helpers with R semantics
# --------------------------------------------------------------------------- #
def _as_frame(X, name="X") -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {arr.shape}.")
    return pd.DataFrame(arr)


def _check_names(names, columns, what) -> list:
    if isinstance(names, str) or not np.iterable(names):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ValueError(f"{what}: {unknown} are not columns of X (columns: {list(columns)}).")
    return names


def cluster_columns(cluster) -> list:
    """The grouping columns a ``cluster`` parameter names, lowest level first.

    None names none; a list names several (pupils in classes in schools:
    ``["class", "school"]``); anything else, a tuple label included, is one
    column.

    Examples
    --------
    >>> from skmice._design import cluster_columns
    >>> cluster_columns(None), cluster_columns("school"), cluster_columns(["class", "school"])
    ([], ['school'], ['class', 'school'])
    """
    if cluster is None:
        return []
    if isinstance(cluster, list):
        return list(cluster)
    return [cluster]


def cluster_position(cluster, columns, is_frame: bool) -> int:
    """The position of one grouping column among ``columns``.

    A label of a DataFrame's column, or (X an array) a column position.

    Raises
    ------
    ValueError
        Naming ``cluster`` and the columns, when it is neither.
    """
    if cluster in columns:
        return list(columns).index(cluster)
    if not is_frame and isinstance(cluster, numbers.Integral) and 0 <= cluster < len(columns):
        return int(cluster)
    if not is_frame and isinstance(cluster, numbers.Integral):
        raise ValueError(
            f"cluster={cluster!r} is not a column position of X ({len(columns)} columns).")
    hint = "" if is_frame else (
        " X has no column names (an array): give the cluster column's position, or pass "
        "a DataFrame.")
    raise ValueError(
        f"cluster={cluster!r} is not a column of X (columns: {list(columns)}).{hint}")


def make_predictor_matrix(X, cluster=None) -> pd.DataFrame:
    """The default predictor matrix: every other column as a fixed effect.

    Parameters
    ----------
    X : DataFrame or array-like
        The data.
    cluster : column label or list of them, optional
        The cluster column (a list for several grouping levels); each gets
        code -2 in every target's row, and an all-zero row of its own (it is
        never imputed).

    Returns
    -------
    DataFrame of int
        Square matrix, rows = targets, columns = predictors.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice import make_predictor_matrix
    >>> X = pd.DataFrame({"g": [1, 1, 2], "y": [1.0, None, 2.0], "x": [0.5, 1.0, 2.0]})
    >>> make_predictor_matrix(X, cluster="g")
       g  y  x
    g  0  0  0
    y -2  0  1
    x -2  1  0
    """
    frame = _as_frame(X)
    cols = list(frame.columns)
    codes = np.ones((len(cols), len(cols)), dtype=np.int64)
    np.fill_diagonal(codes, 0)
    pm = pd.DataFrame(codes, index=cols, columns=cols)
    for name in _check_names(cluster_columns(cluster), cols, "cluster"):
        k = cols.index(name)  # by position: a tuple label is not a (row, column) key
        pm.iloc[:, k] = -2
    for name in cluster_columns(cluster):
        pm.iloc[cols.index(name), :] = 0
    return pm


def quickpred(
    X,
    mincor: float = 0.1,
    minpuc: float = 0.0,
    include=(),
    exclude=(),
    method: str = "pearson",
    cluster=None,
) -> pd.DataFrame:
    """Select predictors by their correlation with the target or its missingness.

    As R mice's ``quickpred``: predictor ``v`` is used for target ``y`` when
    ``max(|cor(y, v)|, |cor(v, is_observed(y))|) > mincor`` (pairwise complete
    observations) and the proportion of usable cases (rows where ``y`` is
    missing and ``v`` observed, among rows where ``y`` is missing) is at least
    ``minpuc``. Columns in ``include`` are always used, those in ``exclude``
    never; the diagonal and the rows of complete targets are zero.

    Parameters
    ----------
    X : DataFrame or array-like
        The data; categorical columns enter by their integer codes (as R's
        ``data.matrix``).
    mincor : float, default=0.1
        Minimum absolute correlation, in [0, 1].
    minpuc : float, default=0.0
        Minimum proportion of usable cases, in [0, 1].
    include, exclude : sequence of column labels
        Predictors always used / never used.
    method : {"pearson", "spearman"}, default="pearson"
        Correlation coefficient. For "spearman" every column is ranked on its
        observed values before pairwise Pearson correlations are taken.
    cluster : column label, optional
        A cluster column (not in R's quickpred): it gets code -2 in the rows of
        incomplete targets and is not used as a numeric predictor.

    Returns
    -------
    DataFrame of int
        The predictor matrix.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import quickpred
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> X = pd.DataFrame({"x": x, "y": x + rng.normal(size=200), "noise": rng.normal(size=200)})
    >>> X.loc[:49, "y"] = np.nan
    >>> quickpred(X, mincor=0.3).loc["y"].tolist()
    [1, 0, 0]
    """
    frame = _as_frame(X)
    cols = list(frame.columns)
    for name, val in (("mincor", mincor), ("minpuc", minpuc)):
        if not isinstance(val, (int, float, np.floating, np.integer)) or not 0 <= val <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {val!r}.")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}.")
    include = _check_names(include, cols, "include") if len(include) else []
    exclude = _check_names(exclude, cols, "exclude") if len(exclude) else []
    if cluster is not None:
        _check_names([cluster], cols, "cluster")
    values = encode(frame).values
    if method == "spearman":
        values = _rank_columns(values)
    observed = ~np.isnan(values)
    v = np.abs(_pairwise_cor(values, values))
    u = np.abs(_pairwise_cor(observed.astype(np.float64), values))
    maxc = np.maximum(v, u)
    pm = (maxc > mincor).astype(np.int64)
    miss = (~observed).astype(np.float64)
    mr = miss.T @ observed.astype(np.float64)  # target missing, predictor observed
    mm = miss.T @ miss
    with np.errstate(divide="ignore", invalid="ignore"):
        puc = mr / (mr + mm)
    pm[np.nan_to_num(puc, nan=1.0) < minpuc] = 0
    idx = {c: i for i, c in enumerate(cols)}
    for c in include:
        pm[:, idx[c]] = 1
    for c in exclude:
        pm[:, idx[c]] = 0
    np.fill_diagonal(pm, 0)
    pm[observed.all(axis=0), :] = 0
    out = pd.DataFrame(pm, index=cols, columns=cols)
    if cluster is not None:
        incomplete = ~observed.all(axis=0)
        out.loc[:, cluster] = np.where(incomplete, -2, 0)
        out.loc[cluster, :] = 0
    return out


def cluster_level_columns(X, cluster) -> list:
    """Columns constant within every cluster where observed.

    A column counts as cluster level when, in every cluster, its observed
    values are all equal, and at least one cluster has two or more observed
    values (otherwise nothing shows it is constant).

    Parameters
    ----------
    X : DataFrame
        The data.
    cluster : column label
        The cluster column.

    Returns
    -------
    list of column labels

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice._design import cluster_level_columns
    >>> X = pd.DataFrame({"g": [1, 1, 2, 2], "size": [3.0, None, 5.0, 5.0],
    ...                   "y": [1.0, 2.0, 3.0, None]})
    >>> cluster_level_columns(X, "g")
    ['size']
    """
    frame = _as_frame(X)
    cols = list(frame.columns)
    _check_names([cluster], cols, "cluster")
    k = cols.index(cluster)
    codes, _ = pd.factorize(frame.iloc[:, k])
    return _cluster_level_names(encode(frame, skip=k), codes, {k})


def _cluster_level_names(enc, codes: np.ndarray, skip) -> list:
    """The columns of encoded data constant within the clusters ``codes``."""
    return [name for j, name in enumerate(enc.columns)
            if j not in skip and enc.infos[j].imputable
            and _is_cluster_constant(enc.values[:, j], codes)]


# Relative tolerance below which the observed values of a cluster count as equal
# (one value per cluster): used both to detect cluster-level columns and to check
# the columns imputed by cluster-level methods.
CLUSTER_CONSTANT_RTOL = 1e-9


def varying_clusters(col: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Codes of the clusters whose observed values of ``col`` differ.

    Values count as equal within ``CLUSTER_CONSTANT_RTOL`` of their magnitude.
    NaN marks a missing value. Clusters with one observed value or none never
    vary.
    """
    obs = ~np.isnan(col)
    g = codes[obs]
    x = col[obs]
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, g, x)
    np.maximum.at(hi, g, x)
    has = np.bincount(g, minlength=n_groups) > 1
    scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1e-300)
    return np.flatnonzero(has & (hi - lo > CLUSTER_CONSTANT_RTOL * scale))


def _is_cluster_constant(col: np.ndarray, codes: np.ndarray) -> bool:
    n_groups = int(codes.max()) + 1
    counts = np.bincount(codes[~np.isnan(col)], minlength=n_groups)
    if counts.max(initial=0) < 2:
        return False
    return varying_clusters(col, codes, n_groups).size == 0


def make_methods(X, cluster=None, include_complete: bool = False) -> dict:
    """Default imputation method per column, as R mice's ``make.method``.

    Without a cluster: ``"pmm"`` for numeric columns, ``"logreg"`` for binary
    (boolean or two-category) columns, ``"polyreg"`` for categorical columns
    with more than two categories (ordered ones too). With a cluster column,
    the two-level counterparts (see ``docs/guide/methods.rst``):

    - cluster-level columns (constant within every cluster where observed,
      see :func:`cluster_level_columns`), of any kind: ``"2lonly.pmm"``
      (imputed cluster values are observed cluster values, so categories
      stay valid);
    - binary unit-level columns (boolean, two categories, or numeric with
      exactly two distinct observed values such as 0/1): ``"2l.bin"``;
    - unordered categorical unit-level columns: ``"2l.polyreg"``;
    - ordered categorical unit-level columns: ``"2l.pmm"`` on the codes;
    - other numeric unit-level columns: ``"2l.pmm"``.

    With several grouping columns (a list, lowest level first), methods that
    model every level (see :func:`multilevel_defaults`):

    - level-specific columns (constant within the units of a grouping level,
      see :func:`variable_levels`): ``"2lonly.pmm"``, imputed at that level;
    - numeric and ordered categorical unit-level columns: ``"ml.pmm"``;
    - binary unit-level columns: ``"ml.bin"`` when that method is registered,
      otherwise ``"2l.bin"`` (which models the lowest level only);
    - unordered categorical unit-level columns: ``"ml.polyreg"`` when
      registered, otherwise ``"2l.polyreg"`` (lowest level only).

    Parameters
    ----------
    X : DataFrame or array-like
        The data.
    cluster : column label or list of them, optional
        The cluster column (gets ``""``: it is never imputed), or a list of
        grouping columns, lowest level first.
    include_complete : bool, default=False
        R gives complete columns the empty method ``""``. With True they get
        their default method too (the imputer uses this so that ``transform``
        can impute a column that was complete in fit).

    Returns
    -------
    dict
        Column label -> method name (``""`` = not imputed).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice import make_methods
    >>> X = pd.DataFrame({"y": [1.0, None, 3.0], "b": [True, False, None],
    ...                   "c": pd.Categorical(["a", "b", "c"]), "x": [1, 2, 3]})
    >>> make_methods(X)
    {'y': 'pmm', 'b': 'logreg', 'c': '', 'x': ''}
    >>> X = pd.DataFrame({"class": [1, 1, 2, 2, 3, 3], "school": [1, 1, 1, 1, 2, 2],
    ...                   "type": [0.0, 0.0, None, 0.0, 1.0, 1.0],
    ...                   "y": [1.2, None, 0.3, 2.2, 1.9, 0.4]})
    >>> make_methods(X, cluster=["class", "school"])
    {'class': '', 'school': '', 'type': '2lonly.pmm', 'y': 'ml.pmm'}
    """
    enc, levels, skip = _encoded_levels(X, cluster)
    return default_methods(enc, levels[0][0] if levels else None, skip, include_complete,
                           levels=levels)


def _encoded_levels(X, cluster):
    """The data encoded without its grouping columns, their (codes, n_units), positions."""
    frame = _as_frame(X)
    cols = list(frame.columns)
    names = _check_names(cluster_columns(cluster), cols, "cluster")
    skip = [cols.index(name) for name in names]
    enc = encode(frame, skip=skip)
    levels = []
    for k in skip:
        codes, uniques = pd.factorize(frame.iloc[:, k])
        if (codes < 0).any():
            raise ValueError(f"cluster: the grouping column {cols[k]!r} has missing values.")
        levels.append((codes.astype(np.int64), len(uniques)))
    return enc, levels, skip


def variable_levels(X, cluster) -> dict:
    """The grouping level of each level-specific column (constant within its units).

    A column belongs to a grouping level when its observed values agree
    within every unit of the level and some unit has two or more of them;
    among several such levels (a school-level variable is constant within
    classes too), the one with the fewest units
    (:func:`skmice.methods._cluster_level.unit_level`).

    Parameters
    ----------
    X : DataFrame or array-like
        The data.
    cluster : column label or list of them
        The grouping columns, lowest level first.

    Returns
    -------
    dict
        Column label -> grouping column label, for the level-specific columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice._design import variable_levels
    >>> X = pd.DataFrame({"class": [1, 1, 2, 2, 3, 3], "school": [1, 1, 1, 1, 2, 2],
    ...                   "size": [20.0, 20.0, 25.0, None, 18.0, 18.0],
    ...                   "type": [0.0, 0.0, None, 0.0, 1.0, 1.0],
    ...                   "y": [1.2, None, 0.3, 2.2, 1.9, 0.4]})
    >>> variable_levels(X, ["class", "school"])
    {'size': 'class', 'type': 'school'}
    """
    enc, levels, skip = _encoded_levels(X, cluster)
    names = [enc.columns[k] for k in skip]
    found = _variable_level_positions(enc, levels, skip)
    return {name: names[k] for name, k in found.items()}


def _variable_level_positions(enc, levels, skip) -> dict:
    """Column label -> position of its level, for the level-specific columns of ``enc``."""
    from .methods._cluster_level import unit_level

    out = {}
    for j, name in enumerate(enc.columns):
        if j in skip or not enc.infos[j].imputable:
            continue
        k = unit_level(enc.values[:, j], levels)
        if k is not None:
            out[name] = k
    return out


def default_methods(enc, codes, skip, include_complete: bool = False, levels=None) -> dict:
    """:func:`make_methods` on data already encoded.

    Parameters
    ----------
    enc : EncodedData
        The data, encoded with the grouping columns skipped.
    codes : ndarray of int or None
        Unit codes of the first (lowest) grouping level; None: single level.
    skip : collection of int
        Positions of the grouping columns.
    include_complete : bool, default=False
    levels : list of (codes, n_units), optional
        Every grouping level, lowest first; with two or more, the defaults
        are :func:`multilevel_defaults`'.
    """
    if levels is not None and len(levels) > 1:
        chosen = multilevel_defaults(enc, levels, skip, include_complete)
        return {name: method for name, (method, _) in chosen.items()}
    skip = set(skip)
    cl_level = set() if codes is None else set(_cluster_level_names(enc, codes, skip))
    missing = np.isnan(enc.values).any(axis=0)
    out = {}
    for j, (name, info) in enumerate(zip(enc.columns, enc.infos)):
        if j in skip or not info.imputable or not (missing[j] or include_complete):
            out[name] = ""
            continue
        if codes is None:
            out[name] = {"continuous": "pmm", "binary": "logreg", "categorical": "polyreg"}[
                info.kind
            ]
        elif name in cl_level:
            out[name] = "2lonly.pmm"
        elif _is_binary(enc, j):
            out[name] = "2l.bin"
        elif info.kind == "categorical":
            out[name] = "2l.pmm" if info.ordered else "2l.polyreg"
        else:
            out[name] = "2l.pmm"
    return out


def _is_binary(enc, j) -> bool:
    """Whether column j is binary: of binary kind, or numeric with two observed values."""
    info = enc.infos[j]
    col = enc.values[:, j]
    return info.kind == "binary" or (
        info.kind == "continuous" and np.unique(col[~np.isnan(col)]).size == 2)


def multilevel_defaults(enc, levels, skip, include_complete: bool = False) -> dict:
    """Default methods for data with several grouping levels, each with its reason.

    Level-specific columns get ``"2lonly.pmm"`` at their level; numeric and
    ordered categorical unit-level columns ``"ml.pmm"``; binary ones
    ``"ml.bin"`` and unordered categorical ones ``"ml.polyreg"`` when methods
    of those names are registered (looked up at each call), else the
    two-level ``"2l.bin"`` and ``"2l.polyreg"``.

    Parameters
    ----------
    enc : EncodedData
        The data, encoded with the grouping columns skipped.
    levels : list of (codes, n_units)
        Every grouping level, lowest first.
    skip : collection of int
        Positions of the grouping columns.
    include_complete : bool, default=False

    Returns
    -------
    dict
        Column label -> (method name, reason); ``("", "")`` for columns not
        imputed.
    """
    from .methods import registered_methods

    names = [enc.columns[k] for k in skip] if len(skip) == len(levels) else None
    skip = set(skip)
    at = _variable_level_positions(enc, levels, skip)
    known = registered_methods()
    has_bin = "ml.bin" in known
    missing = np.isnan(enc.values).any(axis=0)
    out = {}
    for j, (name, info) in enumerate(zip(enc.columns, enc.infos)):
        if j in skip or not info.imputable or not (missing[j] or include_complete):
            out[name] = ("", "")
        elif name in at:
            label = names[at[name]] if names else at[name]
            out[name] = ("2lonly.pmm", f"constant within the units of {label!r}: imputed at "
                         "that level")
        elif _is_binary(enc, j):
            out[name] = ("ml.bin", "binary, every grouping level modelled") if has_bin else (
                "2l.bin", "binary: no multilevel binary method ('ml.bin') is registered, so "
                "the two-level default, which models the lowest level only")
        elif info.kind == "categorical" and not info.ordered:
            out[name] = ("ml.polyreg", "unordered categorical, every grouping level "
                         "modelled") if "ml.polyreg" in known else (
                "2l.polyreg", "unordered categorical: no multilevel multinomial method "
                "('ml.polyreg') is registered, so the two-level default, which models the "
                "lowest level only")
        else:
            kind = "ordered categorical (on its codes)" if info.kind == "categorical" \
                else "numeric"
            out[name] = ("ml.pmm", f"{kind}, every grouping level modelled")
    return out


def validate_predictor_matrix(predictor_matrix, columns, cluster=None) -> pd.DataFrame:
    """Check a user predictor matrix and return it as an int DataFrame.

    Parameters
    ----------
    predictor_matrix : DataFrame or array-like
        Square matrix with mice's codes; a DataFrame may list its rows and
        columns in any order and omit targets (their rows are all zero).
    columns : list
        The data's columns.
    cluster : column label or list of them, optional
        The imputer's cluster column(s).

    Returns
    -------
    DataFrame of int, indexed and ordered like ``columns``.

    Raises
    ------
    ValueError
        Unknown codes, a target predicting itself, more than one -2 column in
        a row, names that are not columns, a wrong shape, or a -2 column that
        is not the cluster.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice._design import validate_predictor_matrix
    >>> pm = pd.DataFrame([[0, 1], [1, 0]], index=["a", "b"], columns=["a", "b"])
    >>> validate_predictor_matrix(pm, ["a", "b"]).values.tolist()
    [[0, 1], [1, 0]]
    """
    cols = list(columns)
    return pd.DataFrame(predictor_codes(predictor_matrix, cols, cluster), index=cols,
                        columns=cols)


def predictor_codes(predictor_matrix, columns, cluster=None) -> np.ndarray:
    """The checked codes of a user predictor matrix, rows and columns ordered like ``columns``.

    What :func:`validate_predictor_matrix` returns, as an int64 array; the
    same checks and errors.
    """
    cols = list(columns)
    raw = _predictor_values(predictor_matrix, cols)
    try:
        num = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError("predictor_matrix must hold integer codes.") from None
    if not np.isfinite(num).all() or not np.all(num == np.round(num)):
        i, j = np.argwhere(~np.isfinite(num) | (num != np.round(num)))[0]
        raise ValueError(
            f"predictor_matrix must hold integer codes, got {raw[i, j]} (target "
            f"{cols[i]!r}, predictor {cols[j]!r}); allowed codes are {PREDICTOR_CODES}."
        )
    num = num.astype(np.int64)
    bad = _unknown_codes(num)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"predictor_matrix has unknown code {num[i, j]} (target {cols[i]!r}, predictor "
            f"{cols[j]!r}); allowed codes are {PREDICTOR_CODES}."
        )
    diag = np.diag(num)
    if np.any(diag != 0):
        who = [cols[i] for i in np.flatnonzero(diag)]
        raise ValueError(f"predictor_matrix: a target cannot predict itself: {who}.")
    levels = cluster_columns(cluster)
    is_cluster = num == -2
    n_cluster = is_cluster.sum(axis=1)
    if len(levels) <= 1 and np.any(n_cluster > 1):
        who = [cols[i] for i in np.flatnonzero(n_cluster > 1)]
        raise ValueError(f"predictor_matrix: more than one cluster (-2) column in rows {who}.")
    cl_cols = {cols[j] for j in np.flatnonzero(is_cluster.any(axis=0))}
    if cl_cols and not cl_cols <= set(levels):
        raise ValueError(
            f"predictor_matrix marks {sorted(map(str, cl_cols))} as the cluster (-2), but the "
            f"imputer's cluster is {cluster!r}: set cluster= to that column."
        )
    return num


def _predictor_values(predictor_matrix, cols: list) -> np.ndarray:
    """The entries of a user predictor matrix, rows and columns ordered like ``cols``.

    A DataFrame's names are checked, and its missing rows and columns are
    zeros; an array must have the data's shape.
    """
    if isinstance(predictor_matrix, pd.DataFrame):
        pm = predictor_matrix
        rows, names = list(pm.index), list(pm.columns)
        bad_rows = [r for r in rows if r not in cols]
        bad_cols = [c for c in names if c not in cols]
        if bad_rows or bad_cols:
            raise ValueError(
                "predictor_matrix names that are not columns of X: "
                f"rows {bad_rows}, columns {bad_cols} (X's columns: {cols})."
            )
        if pm.index.has_duplicates or pm.columns.has_duplicates:
            raise ValueError("predictor_matrix has duplicate row or column names.")
        if rows == cols and names == cols:  # already in the data's order
            return pm.to_numpy()
        return pm.reindex(index=cols, columns=cols, fill_value=0).to_numpy()
    arr = np.asarray(predictor_matrix)
    if arr.shape != (len(cols), len(cols)):
        raise ValueError(
            f"predictor_matrix must have shape ({len(cols)}, {len(cols)}) to match X's "
            f"columns, got {arr.shape}."
        )
    if arr.dtype.kind in "biuf":  # numbers: the frame of them would hold the same array
        return arr
    return pd.DataFrame(arr, index=cols, columns=cols).to_numpy()


def _unknown_codes(num: np.ndarray) -> np.ndarray:
    """Where ``num`` holds a code that is not one of ``PREDICTOR_CODES``."""
    bad = np.ones(num.shape, dtype=bool)
    for code in PREDICTOR_CODES:
        bad &= num != code
    return bad


# --------------------------------------------------------------------------- #
# Removing constant and collinear predictors (R: remove.lindep)
# --------------------------------------------------------------------------- #
def remove_lindep(
    X: np.ndarray, y: np.ndarray, eps: float = 1e-4, maxcor: float = 0.99
) -> np.ndarray:
    """Mask of the predictors to keep, with R mice's ``remove.lindep`` defaults.

    Drops, among the rows given (the observed rows of the target): constant
    predictors, predictors whose correlation with the target exceeds
    ``maxcor`` in absolute value, and, while the correlation matrix of the
    remaining predictors has a smallest-to-largest eigenvalue ratio below
    ``eps``, the predictor loading most on the smallest eigenvector. When the
    target itself is constant all predictors are dropped. See
    :func:`collinear_drops` for the reasons; the imputer calls it with its
    own, narrower thresholds (``max_corr``).

    Unlike R, "constant" is judged relative to the column's scale (R uses an
    absolute variance of 1e-4, which depends on units) and the correlation
    with the target is taken in absolute value.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Predictors (no intercept).
    y : ndarray of shape (n,)
        Target.
    eps : float, default=1e-4
    maxcor : float, default=0.99

    Returns
    -------
    keep : ndarray of shape (k,) of bool

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._design import remove_lindep
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=50)
    >>> X = np.column_stack([a, 2 * a, np.ones(50), rng.normal(size=50)])
    >>> remove_lindep(X, rng.normal(size=50)).tolist()
    [False, True, False, True]
    """
    keep = np.ones(X.shape[1], dtype=bool)
    keep[list(collinear_drops(X, y, eps=eps, max_corr=maxcor))] = False
    return keep


def collinear_drops(
    X: np.ndarray, y: np.ndarray, eps: float = 1e-4, max_corr: float = 0.99
) -> dict:
    """The predictors to drop as constant or collinear, each with its reason.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Predictors (no intercept), on the rows where the target is observed.
    y : ndarray of shape (n,)
        Target.
    eps : float, default=1e-4
        While the smallest-to-largest eigenvalue ratio of the kept
        predictors' correlation matrix is below ``eps``, the predictor loading
        most on the smallest eigenvector is dropped.
    max_corr : float, default=0.99
        Predictors whose absolute correlation with the target is at least
        this are dropped.

    Returns
    -------
    dict
        Column position -> reason (``"constant"``, ``"correlation with the
        target ..."``, ``"collinear with other predictors"``, ``"the target is
        constant"``).
    """
    n, k = X.shape
    if k == 0:
        return {}
    if n < 2 or is_constant(y):
        return dict.fromkeys(range(k), TARGET_CONSTANT)
    _, G, sums, first = shifted_gram(X, y)
    return drops_from_gram(G, sums, first, n, eps, max_corr)


# --------------------------------------------------------------------------- #
# Design matrices per target
# --------------------------------------------------------------------------- #
@dataclass
class TargetDesign:
    """A design with the names of its columns (for logs) and the Z-to-X map."""

    design: Design
    x_names: list
    z_names: list
    z_in_x: np.ndarray  # X column index of every Z column (-1 for the intercept... 0)


class DesignBuilder:
    """Builds the design of each target from the current completed data.

    Parameters
    ----------
    infos : list of ColumnInfo
        Column coding (from :func:`~skmice._data.encode`).
    predictor_matrix : ndarray of shape (k, k)
        Validated codes.
    cluster_index : int or None
        Position of the cluster column.
    """

    def __init__(self, infos: list[ColumnInfo], predictor_matrix: np.ndarray, cluster_index):
        self.infos = infos
        self.pm = np.asarray(predictor_matrix)
        self.cluster_index = cluster_index

    def block_names(self, j: int) -> list:
        """Names of the design columns of predictor j: itself, or one per dummy."""
        info = self.infos[j]
        if info.storage == "numeric":
            return [str(info.name)]
        return [f"{info.name}[{info.categories[c]}]" for c in range(1, max(info.n_categories, 1))]

    def expander(self, j: int):
        """Function mapping predictor j's values (codes) to its design columns."""
        info = self.infos[j]
        if info.storage == "numeric":
            return lambda col: col[:, None]
        levels = np.arange(1, max(info.n_categories, 1))[None, :]
        return lambda col: (col[:, None] == levels).astype(np.float64)

    def build(
        self,
        values: np.ndarray,
        target: int,
        groups: np.ndarray | None,
        n_groups: int,
        two_level: bool,
        selection: bool = False,
    ) -> TargetDesign:
        """Design of ``target`` for all rows of ``values`` (no NaN allowed).

        Parameters
        ----------
        values : ndarray of shape (n, k)
            Current completed data.
        target : int
            Column index of the target.
        groups : ndarray of int or None
            Cluster codes of the rows.
        n_groups : int
            Number of cluster codes.
        two_level : bool
            Whether the method uses a random part (codes 2 and 4).
        selection : bool, default=False
            Selection model: ``X`` (outcome equation) takes codes 1-4 and -4,
            and ``W`` (selection equation: intercept, codes 1-4 and -3, cluster
            means for 3 and 4) is built too. Otherwise codes -3 and -4 are
            fixed-effect predictors, like every nonzero code in mice.
        """
        levels = [] if groups is None else [(np.asarray(groups), n_groups, None)]
        plan = TargetPlan(self, target, levels, two_level, selection,
                          {"all": np.arange(values.shape[0])}, keep=False)
        plan.refresh(values, np.zeros(values.shape[1], dtype=np.int64))
        return TargetDesign(plan.design("all"), plan.x_names, plan.z_names, plan.z_in_x)


def drop_columns(td: TargetDesign, keep_x: np.ndarray) -> TargetDesign:
    """Remove the X columns not in ``keep_x`` (and the Z columns that copy them).

    Parameters
    ----------
    td : TargetDesign
    keep_x : ndarray of bool, shape (p,)
        Column 0 (the intercept) is always kept.
    """
    design = td.design.keep_columns(keep_x)
    if design is td.design:
        return td
    keep_x = np.asarray(keep_x, dtype=bool).copy()
    keep_x[0] = True
    x_names = [nm for nm, k in zip(td.x_names, keep_x) if k]
    z_names = td.z_names
    if td.design.Z is not None:
        z_names = [nm for nm, k in zip(td.z_names, keep_x[td.z_in_x]) if k]
    return TargetDesign(design, x_names, z_names, design.z_in_x)
