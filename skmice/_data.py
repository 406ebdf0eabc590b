"""Conversion between user data (pandas or numpy) and the internal float matrix.

The imputer works on one float64 matrix: numeric columns hold their values,
boolean and categorical columns hold category codes ``0, 1, ..., K - 1``, and
missing entries are NaN. This module converts at the door and converts back
once, keeping column order, index and dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

__all__ = ["ColumnInfo", "EncodedData", "encode", "decode"]


@dataclass
class ColumnInfo:
    """What the imputer knows about one column.

    Attributes
    ----------
    name : object
        Column label.
    storage : {"numeric", "boolean", "categorical", "string"}
        How the user's column stores its values. ``"string"`` is an object or
        string column of text labels, treated as categorical.
    categories : ndarray or None
        The labels behind the codes for boolean, categorical and string
        columns (codes index into it).
    ordered : bool
        True for an ordered pandas categorical.
    integer : bool
        True for integer numeric columns (imputations are rounded).
    dtype : object
        The user's dtype, restored on output.
    """

    name: object
    storage: str
    categories: np.ndarray | None = None
    ordered: bool = False
    integer: bool = False
    dtype: object = None
    levels: np.ndarray | None = field(default=None)

    @property
    def kind(self) -> str:
        """The statistical kind: "continuous", "binary" or "categorical"."""
        if self.storage == "numeric":
            return "continuous"
        return "binary" if len(self.categories) == 2 else "categorical"

    @property
    def n_categories(self) -> int:
        """Number of categories (0 for numeric columns)."""
        return 0 if self.categories is None else len(self.categories)


@dataclass
class EncodedData:
    """The internal float matrix with what is needed to turn it back."""

    values: np.ndarray
    columns: list
    infos: list
    index: object = None
    is_frame: bool = True


def _is_missing(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy()


def _encode_labels(series: pd.Series, name, categories=None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a column of labels, with sorted categories unless given."""
    missing = _is_missing(series)
    observed = series[~missing]
    kinds = {type(v) for v in observed.to_numpy(dtype=object)}
    if kinds and not (kinds <= {str} or kinds <= {bool, np.bool_}):
        names = ", ".join(sorted(k.__name__ for k in kinds))
        raise TypeError(
            f"Column {name!r} mixes value types ({names}); an object column must hold "
            "only strings (categories) or only booleans. Convert it to a numeric or a "
            "categorical dtype first."
        )
    if categories is None:
        categories = np.array(sorted(pd.unique(observed.to_numpy(dtype=object))), dtype=object)
    codes = pd.Categorical(series.to_numpy(dtype=object), categories=categories).codes
    codes = codes.astype(np.float64)
    codes[codes < 0] = np.nan
    return codes, categories


def _encode_column(series: pd.Series, name, info: ColumnInfo | None = None):
    """Encode one column; with ``info`` (from fit), reuse its coding."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = np.asarray(dtype.categories, dtype=object)
        if info is not None and info.categories is not None:
            unknown = set(cats) - set(info.categories)
            present = set(series.dropna().unique())
            if unknown & present:
                raise ValueError(
                    f"Column {name!r} has categories not seen in fit: "
                    f"{sorted(map(str, unknown & present))}."
                )
            codes, _ = _encode_labels(series.astype(object), name, info.categories)
            return codes, info
        codes = series.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        new = ColumnInfo(name, "categorical", cats, bool(dtype.ordered), False, dtype)
        return codes, new
    if pd.api.types.is_bool_dtype(dtype):
        cats = np.array([False, True], dtype=object)
        missing = _is_missing(series)
        codes = np.full(len(series), np.nan)
        codes[~missing] = series[~missing].to_numpy(dtype=bool).astype(np.float64)
        return codes, info or ColumnInfo(name, "boolean", cats, dtype=dtype)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(values).any():
            raise ValueError(
                f"Column {name!r} contains infinite values; replace them by NaN (to impute) "
                "or by finite values."
            )
        if info is not None:
            return values, info
        integer = pd.api.types.is_integer_dtype(dtype)
        return values, ColumnInfo(name, "numeric", None, False, integer, dtype)
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        missing = _is_missing(series)
        observed = series[~missing].to_numpy(dtype=object)
        if len(observed) and all(isinstance(v, (bool, np.bool_)) for v in observed):
            codes = np.full(len(series), np.nan)
            codes[~missing] = observed.astype(bool).astype(np.float64)
            cats = np.array([False, True], dtype=object)
            return codes, info or ColumnInfo(name, "boolean", cats, dtype=dtype)
        if len(observed) and all(
            isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_))
            for v in observed
        ):
            codes, num_info = _encode_column(series.astype("float64"), name, info)
            if info is None:  # an object column of numbers: give it back as such
                num_info = replace(num_info, dtype=dtype)
            return codes, num_info
        if info is not None:
            if info.storage not in ("string", "categorical", "boolean"):
                raise TypeError(f"Column {name!r} was numeric in fit and holds text now.")
            unknown = set(observed) - set(info.categories)
            if unknown:
                raise ValueError(
                    f"Column {name!r} has categories not seen in fit: {sorted(map(str, unknown))}."
                )
            codes, _ = _encode_labels(series, name, info.categories)
            return codes, info
        codes, cats = _encode_labels(series, name)
        return codes, ColumnInfo(name, "string", cats, dtype=dtype)
    raise TypeError(
        f"Column {name!r} has dtype {dtype}, which skmice cannot impute: use numeric, "
        "boolean, categorical or string columns (convert dates to numbers first)."
    )


def encode(X, infos: list | None = None) -> EncodedData:
    """Convert user data to the internal float matrix.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The data. NaN, None and ``pd.NA`` mark missing entries.
    infos : list of ColumnInfo, optional
        The coding learned in fit; when given, the same coding is used
        (transform).

    Returns
    -------
    EncodedData
    """
    if isinstance(X, pd.Series):
        raise TypeError("X must be 2-dimensional (a DataFrame or a 2-d array), got a Series.")
    is_frame = isinstance(X, pd.DataFrame)
    if not is_frame:
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("Sparse input is not supported: pass a dense array or a DataFrame.")
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(
                f"Expected a 2-dimensional X, got an array of shape {arr.shape}. Reshape your "
                "data either using array.reshape(-1, 1) if your data has a single feature or "
                "array.reshape(1, -1) if it contains a single sample."
            )
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                pass
        if arr.dtype.kind in "biuf":
            values = arr.astype(np.float64, copy=True)
            if np.isinf(values).any():
                col = int(np.where(np.isinf(values).any(axis=0))[0][0])
                raise ValueError(
                    f"Column {col} contains infinite values; replace them by NaN (to impute) "
                    "or by finite values."
                )
            if arr.shape[1] == 0 or arr.shape[0] == 0:
                raise ValueError(
                    f"Found array with {arr.shape[0]} sample(s) and {arr.shape[1]} feature(s) "
                    f"(shape={arr.shape}) while a minimum of 1 is required."
                )
            cols = list(range(arr.shape[1]))
            if infos is None:
                infos = [ColumnInfo(c, "numeric", None, False, False, np.dtype("float64"))
                         for c in cols]
            return EncodedData(values, cols, infos, None, False)
        if arr.dtype.kind == "c":
            raise ValueError("Complex data not supported: X must be real.")
        if arr.dtype.kind in "OUS":
            X = pd.DataFrame(arr)
        else:
            raise TypeError(f"X has dtype {arr.dtype}; skmice needs numeric data or a DataFrame.")
    frame = X
    if frame.ndim != 2:
        raise ValueError("X must be 2-dimensional.")
    if isinstance(frame.columns, pd.MultiIndex):
        raise TypeError(
            "X has MultiIndex columns; skmice needs one label per column: flatten them first, "
            "e.g. X.columns = ['_'.join(map(str, c)) for c in X.columns]."
        )
    columns = list(frame.columns)
    if len(set(columns)) != len(columns):
        dup = sorted({str(c) for c in columns if columns.count(c) > 1})
        raise ValueError(f"X has duplicate column names: {dup}.")
    n = frame.shape[0]
    if len(columns) == 0:
        raise ValueError(
            f"0 feature(s) (shape=({n}, 0)) while a minimum of 1 is required."
        )
    if n == 0:
        raise ValueError(
            f"0 sample(s) (shape=(0, {len(columns)})) while a minimum of 1 is required."
        )
    values = np.empty((n, len(columns)), dtype=np.float64)
    new_infos = []
    for j, name in enumerate(columns):
        codes, info = _encode_column(frame.iloc[:, j], name, None if infos is None else infos[j])
        values[:, j] = codes
        new_infos.append(info)
    return EncodedData(values, columns, new_infos, frame.index, is_frame)


def decode(values: np.ndarray, encoded: EncodedData, original=None):
    """Turn the completed float matrix back into the user's container.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        Completed internal matrix.
    encoded : EncodedData
        What :func:`encode` returned for the input.
    original : DataFrame, optional
        The input frame: columns without any imputation are copied from it
        unchanged (observed values bit for bit).

    Returns
    -------
    DataFrame or ndarray
    """
    if not encoded.is_frame:
        return values
    out = {}
    for j, info in enumerate(encoded.infos):
        col = values[:, j]
        src = None if original is None else original.iloc[:, j]
        if src is not None and not src.isna().any():
            out[j] = src.copy()
            continue
        out[j] = _decode_column(col, info, encoded.index, src)
    frame = pd.DataFrame(out, index=encoded.index)
    frame.columns = encoded.columns
    return frame


def _decode_column(col: np.ndarray, info: ColumnInfo, index, src) -> pd.Series:
    if info.storage == "numeric" and info.dtype == object and src is not None:
        # an object column of numbers: observed entries as they were, imputations as floats
        out = src.astype(object).copy()
        missing = _is_missing(src)
        out[missing] = col[missing]
        return out
    if info.storage == "numeric":
        if info.integer:
            rounded = np.rint(col)
            dtype = info.dtype
            try:
                return pd.Series(rounded, index=index).astype(dtype)
            except (TypeError, ValueError):
                return pd.Series(rounded, index=index)
        series = pd.Series(col, index=index)
        try:
            return series.astype(info.dtype)
        except (TypeError, ValueError):
            return series
    codes = col.astype(np.int64)
    labels = info.categories[codes]
    if info.storage == "categorical":
        cat = pd.Categorical.from_codes(codes, dtype=info.dtype)
        return pd.Series(cat, index=index)
    if info.storage == "boolean":
        series = pd.Series(labels.astype(bool), index=index)
        try:
            return series.astype(info.dtype)
        except (TypeError, ValueError):
            return series
    series = pd.Series(labels, index=index, dtype=object)
    try:
        return series.astype(info.dtype)
    except (TypeError, ValueError):
        return series
