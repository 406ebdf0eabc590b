"""The outcome as an imputation column (``include_target=True``), and what the estimator sees.

:class:`~skmice.MultipleImputationPipeline` appends ``y`` to X for the
imputer (observed in ``fit``, entirely missing at predict time), extends the
imputer's ``methods`` and ``predictor_matrix`` to that column from outside
(the user's imputer is cloned, never changed), and removes the outcome and
the cluster column from the completed data before the estimator sees it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._design import cluster_columns, cluster_position, make_methods
from .._imputer import MultilevelIterativeImputer

__all__ = [
    "TARGET_COLUMN",
    "append_target",
    "cluster_labels",
    "columns_to_drop",
    "drop_columns",
    "imputer_with_target",
    "target_column",
]

#: Name of the outcome column added to the imputation data by ``include_target=True``.
TARGET_COLUMN = "__target__"


def target_column(y, n_rows: int, like, classes=None):
    """The outcome as an imputation column: ``y``'s values in fit, missing when ``y`` is None.

    Parameters
    ----------
    y : array-like of shape (n_rows,) or None
    n_rows : int
    like : DataFrame or ndarray
        The data the column joins: a classifier's outcome becomes a
        categorical column of a DataFrame, float codes in an array.
    classes : ndarray, optional
        The classes of a classifier's outcome; None for a regressor's.
    """
    if y is not None:
        values = np.asarray(y)
        if values.ndim != 1:
            raise ValueError(
                "include_target=True needs a 1-D y (one outcome column), got shape "
                f"{values.shape}."
            )
    if classes is not None:
        codes = np.searchsorted(classes, values) if y is not None else np.full(n_rows, -1)
        if isinstance(like, pd.DataFrame):
            return pd.Categorical.from_codes(codes, categories=pd.Index(classes))
        return np.where(codes < 0, np.nan, codes).astype(np.float64)
    if y is None:
        return np.full(n_rows, np.nan)
    return values.astype(np.float64)


def append_target(X, column):
    """X with the outcome ``column`` appended (named :data:`TARGET_COLUMN` in a DataFrame)."""
    if isinstance(X, pd.DataFrame):
        if TARGET_COLUMN in X.columns:
            raise ValueError(
                f"X has a column named {TARGET_COLUMN!r}, the name include_target=True "
                "uses for the outcome: rename it."
            )
        out = X.copy(deep=False)
        out[TARGET_COLUMN] = column
        return out
    return np.column_stack([np.asarray(X, dtype=np.float64), column])


def cluster_labels(imputer, columns, is_frame) -> list:
    """The labels (frame) or positions (array) of the imputer's grouping columns."""
    params = imputer.get_params(deep=False)
    columns = list(columns)
    out = []
    for cluster in cluster_columns(params.get("cluster")):
        try:
            out.append(columns[cluster_position(cluster, columns, is_frame)])
        except ValueError:
            pass  # the imputer reports the bad value when it is fitted
    return out


def columns_to_drop(imputer, X_aug, drop_cluster: bool, include_target: bool) -> list:
    """Positions of the completed data's columns the estimator must not see."""
    is_frame = isinstance(X_aug, pd.DataFrame)
    columns = list(X_aug.columns) if is_frame else list(range(X_aug.shape[1]))
    drop = []
    if drop_cluster:
        drop.extend(columns.index(c) for c in cluster_labels(imputer, columns, is_frame))
    if include_target:
        drop.append(len(columns) - 1)
    return drop


def drop_columns(X, drop, imputer=None):
    """Remove the columns at input positions ``drop`` (a DataFrame keeps its other labels).

    ``drop`` counts the imputer's input columns; with a fitted ``imputer``
    that leaves some of them out of its output (``drop_cluster``,
    ``drop_columns``, empty columns), the positions are mapped to its output
    and the columns already gone are skipped.
    """
    gone = getattr(imputer, "_dropped_out", None)
    if gone:
        kept = [j for j in range(imputer.n_features_in_) if j not in gone]
        where = {j: k for k, j in enumerate(kept)}
        drop = [where[j] for j in drop if j in where]
    if not drop:
        return X
    if isinstance(X, pd.DataFrame):
        return X.drop(columns=X.columns[list(drop)])
    return np.delete(np.asarray(X), list(drop), axis=1)


def _extend_predictor_matrix(pm, columns, target, clusters):
    """Add the outcome to a user predictor matrix.

    The outcome predicts every imputed target (a row with a non-zero entry)
    as a fixed effect, and is itself imputed (at predict time) from every
    other column, the grouping columns as cluster ids (-2).
    """
    if isinstance(pm, pd.DataFrame):
        out = pm.copy()
        out[target] = (out != 0).any(axis=1).astype(int)
        row = pd.Series(1, index=out.columns, dtype=int)
        row[target] = 0
        for cluster in clusters:
            if cluster in row.index:
                row[cluster] = -2
        out.loc[target] = row
        return out
    arr = np.asarray(pm)
    p = len(columns) - 1
    if arr.shape != (p, p):
        return pm  # let the imputer report the wrong shape
    out = np.zeros((p + 1, p + 1), dtype=int)
    out[:p, :p] = arr
    out[:p, p] = (arr != 0).any(axis=1)
    out[p, :p] = 1
    for cluster in clusters:
        out[p, cluster] = -2
    return out


def imputer_with_target(imputer, X_aug):
    """The imputer to run on ``X_aug``, X with the outcome column appended last.

    The outcome column is complete in fit, so the imputer would give it no
    method when ``methods`` is a string or a dict (only incomplete columns
    get one); it needs one to impute the outcome (all missing) at predict
    time. A user predictor matrix gets a row and a column for the outcome.
    Other transformers are returned as they are.
    """
    if not isinstance(imputer, MultilevelIterativeImputer):
        return imputer
    is_frame = isinstance(X_aug, pd.DataFrame)
    frame = X_aug if is_frame else pd.DataFrame(X_aug)
    target = TARGET_COLUMN if is_frame else X_aug.shape[1] - 1
    clusters = cluster_labels(imputer, frame.columns, is_frame)
    params = {}
    methods = imputer.methods
    if methods is not None:
        if isinstance(methods, str):
            incomplete = frame.columns[frame.isna().to_numpy().any(axis=0)]
            methods = {c: methods for c in incomplete if c not in clusters}
        if isinstance(methods, dict) and target not in methods:
            default = make_methods(
                frame[[*clusters, target]],
                cluster=clusters or None,
                include_complete=True,
            )[target]
            methods = {**methods, target: default}
        params["methods"] = methods
    if imputer.predictor_matrix is not None:
        params["predictor_matrix"] = _extend_predictor_matrix(
            imputer.predictor_matrix, list(frame.columns), target, clusters
        )
    return clone(imputer).set_params(**params) if params else imputer
