"""The columns a substantive-model-compatible imputation reads, as the sampler sees them.

Each column becomes a :class:`Variable`: continuous (float, divided by its
observed standard deviation so that the priors are on a common scale),
binary (0/1, with the two original values kept for the output) or
categorical (complete only: indicator columns, the first category the
reference). A variable whose observed values are constant within every
cluster is a cluster-level (level-2) variable: it is modelled and imputed
once per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._design import _is_cluster_constant

__all__ = ["Variable", "label_codes", "read_group", "read_variable", "within_constant"]

KINDS = ("continuous", "binary")


@dataclass
class Variable:
    """One column, encoded.

    Attributes
    ----------
    name : column label
    kind : {"continuous", "binary", "categorical"}
    values : ndarray, shape (n,)
        Encoded values (NaN where missing): continuous ones divided by
        ``scale``, binary ones 0/1; categorical: codes.
    missing : ndarray of bool, shape (n,)
    level : {1, 2}
    scale : float
    shift : float
        Subtracted after the scaling: the observed mean of a variable that
        enters every model as a main effect only (an exact
        reparametrisation that keeps the sampler well conditioned), else 0.
    labels : ndarray or None
        Original values of the codes of a binary or categorical column.
    """

    name: object
    kind: str
    values: np.ndarray
    missing: np.ndarray
    level: int = 1
    scale: float = 1.0
    labels: np.ndarray | None = None
    shift: float = 0.0
    dummies: list = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        return bool(self.missing.any())

    def decode(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded values back to the column's original units or labels."""
        if self.kind == "continuous":
            return (encoded + self.shift) * self.scale
        return self.labels[np.rint(encoded).astype(np.int64)]


def read_group(series: pd.Series, name) -> tuple[np.ndarray, np.ndarray]:
    """Cluster codes 0..N-1 and the labels of a grouping column (no missing labels)."""
    if series.isna().any():
        raise ValueError(
            f"the grouping column {name!r} has {int(series.isna().sum())} missing labels; "
            "every row needs its cluster."
        )
    codes, labels = pd.factorize(series, sort=True)
    return codes.astype(np.int64), np.asarray(labels, dtype=object)


def label_codes(series: pd.Series, missing: np.ndarray, labels) -> np.ndarray:
    """Position of each observed value among ``labels`` (-1 if absent; NaN where missing)."""
    codes = np.full(len(series), np.nan)
    observed = pd.Index(series[~missing].astype(object).to_numpy(), dtype=object)
    index = pd.Index(list(labels), dtype=object)
    positions = np.arange(len(index))
    if not index.is_unique:  # a binary column with one observed value: [c, c]
        keep = ~index.duplicated(keep="last")
        index, positions = index[keep], positions[keep]
    found = index.get_indexer(observed)
    codes[~missing] = np.where(found >= 0, positions[np.maximum(found, 0)], -1)
    return codes


def _binary(series: pd.Series, missing: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=object)
    values = label_codes(series, missing, labels)
    return values, labels


def read_variable(series: pd.Series, name, kind: str | None = None) -> Variable:
    """Encode one column; ``kind`` forces "continuous" or "binary".

    Booleans, columns with two categories and numeric columns with exactly
    two distinct observed values are binary unless ``kind="continuous"``.

    Raises
    ------
    TypeError
        For columns that are neither numeric, boolean nor categorical
        (dates, complex numbers).
    ValueError
        For a column without observed values, infinite values, or a
        ``kind`` the column cannot take.
    """
    missing = series.isna().to_numpy()
    if missing.all():
        raise ValueError(f"column {name!r} has no observed values.")
    observed = series[~missing]
    is_bool = pd.api.types.is_bool_dtype(series.dtype) or (
        series.dtype == object and pd.api.types.infer_dtype(observed, skipna=True) == "boolean"
    )
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not is_bool
    if pd.api.types.is_complex_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ) or pd.api.types.is_timedelta64_dtype(series.dtype):
        raise TypeError(f"column {name!r} has dtype {series.dtype}, which cannot be modelled.")
    if numeric:
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(x[~missing]).all():
            raise ValueError(f"column {name!r} has infinite values.")
        distinct = np.unique(x[~missing])
        if kind == "binary" or (kind is None and distinct.size == 2):
            if distinct.size > 2:
                raise ValueError(
                    f"column {name!r} has {distinct.size} values and cannot be binary.")
            labels = np.array([distinct[0], distinct[-1]], dtype=object)
            values, labels = _binary(series.astype(object), missing, labels)
            return Variable(name, "binary", values, missing, labels=labels)
        obs = x[~missing]
        top = float(np.max(np.abs(obs)))
        sd = float(np.std(obs / top)) * top if top > 0 else 0.0  # no overflow near 1e308
        scale = sd if sd > 0 and np.isfinite(sd) else (top if top > 0 else 1.0)
        return Variable(name, "continuous", x / scale, missing, scale=scale)
    if kind == "continuous":
        raise ValueError(f"column {name!r} is not numeric and cannot be continuous.")
    if is_bool:
        labels = np.array([False, True], dtype=object)
        values, labels = _binary(series.astype(object), missing, labels)
        return Variable(name, "binary", values, missing, labels=labels)
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [c for c in series.cat.categories if (observed == c).any()]
    else:
        try:
            cats = sorted(observed.unique())
        except TypeError as exc:
            raise TypeError(f"column {name!r} mixes values that cannot be ordered.") from exc
    if len(cats) == 1:
        cats = cats * 2
    if len(cats) == 2 or kind == "binary":
        if len(cats) > 2:
            raise ValueError(f"column {name!r} has {len(cats)} categories and cannot be binary.")
        values, labels = _binary(series.astype(object), missing, cats)
        return Variable(name, "binary", values, missing, labels=labels)
    labels = np.asarray(cats, dtype=object)
    codes = label_codes(series, missing, labels)
    return Variable(name, "categorical", codes, missing, labels=labels)


def within_constant(values: np.ndarray, codes: np.ndarray) -> bool:
    """Whether the observed values (non-NaN) are constant within every cluster, and some
    cluster has two observed rows: the imputer's test for cluster-level columns
    (:func:`skmice._design._is_cluster_constant`, the same tolerance)."""
    return _is_cluster_constant(values, codes)
