"""Conversion between user data (pandas or numpy) and the internal float matrix.

The imputer works on one float64 matrix: numeric columns hold their values
(times a power of two when they lie far from 1, see :func:`encode`), boolean
and categorical columns hold category codes ``0, 1, ..., K - 1``, and missing
entries are NaN. This module converts at the door and converts back once.

Decoding never round-trips observed cells: every output column starts as a
copy of the user's column, and only the cells that were missing and received
an imputation are written, in the column's own dtype (integers rounded and
kept inside the dtype's range, categories from the column's own categories).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ColumnInfo", "EncodedData", "declared_missing", "decode", "encode",
           "missing_markers"]

# Numeric columns whose largest observed magnitude lies outside [2**-32, 2**32]
# are scaled by a power of two (exact in floating point) so that the samplers'
# sums of squares neither overflow nor underflow.
_SAFE_EXPONENT = 32
# Largest power of two a column's largest value may keep after scaling (see _exponent_of).
_MAX_SCALED_EXPONENT = 300


@dataclass
class ColumnInfo:
    """What the imputer knows about one column.

    Attributes
    ----------
    name : object
        Column label.
    storage : {"numeric", "boolean", "categorical", "string", "temporal", "passthrough"}
        How the user's column stores its values. ``"string"`` is an object or
        string column of text labels, treated as categorical. ``"temporal"``
        is a datetime or timedelta column (passed through, never imputed nor
        used as a predictor); ``"passthrough"`` is a column skmice does not
        read at all (the cluster column).
    categories : ndarray or None
        The labels behind the codes for boolean, categorical and string
        columns (codes index into it).
    ordered : bool
        True for an ordered pandas categorical.
    integer : bool
        True for integer numeric columns (imputations are rounded).
    dtype : object
        The user's dtype in fit.
    exponent : int
        Numeric columns are held internally as ``value * 2**-exponent``.
    """

    name: object
    storage: str
    categories: np.ndarray | None = None
    ordered: bool = False
    integer: bool = False
    dtype: object = None
    levels: np.ndarray | None = field(default=None)
    exponent: int = 0

    @property
    def kind(self) -> str:
        """The statistical kind: "continuous", "binary" or "categorical"."""
        if self.storage in ("numeric", "temporal", "passthrough"):
            return "continuous"
        return "binary" if len(self.categories) == 2 else "categorical"

    @property
    def n_categories(self) -> int:
        """Number of categories (0 for numeric columns)."""
        return 0 if self.categories is None else len(self.categories)

    @property
    def imputable(self) -> bool:
        """Whether skmice can impute this column (temporal and passthrough ones: no)."""
        return self.storage not in ("temporal", "passthrough")

    def category_index(self) -> pd.Index:
        """The categories as a pandas Index (keeping their own type), for look-ups."""
        if isinstance(self.dtype, pd.CategoricalDtype):
            return self.dtype.categories
        return pd.Index(self.categories, dtype=object)


@dataclass
class EncodedData:
    """The internal float matrix with what is needed to turn it back.

    For a DataFrame, ``frame`` is the frame encoded and ``sources`` holds,
    per column, its values as a numpy array when its dtype is a numpy integer
    or float dtype (None for other columns).
    """

    values: np.ndarray
    columns: list
    infos: list
    index: object = None
    is_frame: bool = True
    missing_values: tuple = ()
    frame: object = None
    sources: list | None = None


def _is_missing(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy()


def missing_markers(missing_values) -> tuple:
    """The user's placeholders for missing values, as a tuple (empty: NaN only).

    ``np.nan``, None and ``pd.NA`` (the default) add nothing: NaN, None,
    ``pd.NA`` and ``NaT`` always mark missing entries. Any other scalar, or a
    list of them (e.g. ``-999`` or ``["?", "n/a"]``), marks the entries equal
    to it as missing too.

    Raises
    ------
    TypeError
        When a placeholder is not a number, a string or a boolean.
    """
    values = list(missing_values) if isinstance(missing_values, (list, tuple)) \
        else [missing_values]
    out = []
    for v in values:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(
                v, (str, int, float, np.integer, np.floating)):
            raise TypeError(
                f"missing_values must be NaN, a number, a string or a list of them, got "
                f"{v!r} ({type(v).__name__}).")
        out.append(v.item() if isinstance(v, np.generic) else v)
    return tuple(out)


def declared_missing(series: pd.Series, markers: tuple) -> np.ndarray:
    """Where ``series`` holds one of the user's placeholders for missing values.

    Numbers match numbers and text matches text (``0`` never matches
    ``False``, ``"1"`` never matches ``1``); boolean columns hold no
    placeholders.
    """
    hit = np.zeros(len(series), dtype=bool)
    numbers = [m for m in markers if not isinstance(m, (str, bool))]
    texts = [m for m in markers if isinstance(m, str)]
    dtype = series.dtype
    if not markers or pd.api.types.is_bool_dtype(dtype):
        return hit
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        wanted = [c for c in cats if _same_kind_in(c, numbers, texts)]
        return series.isin(wanted).to_numpy() if wanted else hit
    if pd.api.types.is_numeric_dtype(dtype):
        if not numbers:
            return hit
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.isin(values, np.asarray(numbers, dtype=np.float64))
    observed = ~_is_missing(series)
    objects = series.to_numpy(dtype=object)
    hit[observed] = [_same_kind_in(v, numbers, texts) for v in objects[observed]]
    return hit


def _same_kind_in(value, numbers: list, texts: list) -> bool:
    """``value`` equals one of ``texts`` (a string) or of ``numbers`` (a number)."""
    if isinstance(value, str):
        return value in texts
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return any(value == m for m in numbers)


def _without_markers(series: pd.Series, hit: np.ndarray) -> pd.Series:
    """``series`` with the placeholder entries made missing (its own dtype kept)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        used = pd.unique(series[hit].astype(object))
        return series.cat.remove_categories(list(used))
    return series.mask(pd.Series(hit, index=series.index))


def _codes_against(series: pd.Series, categories: pd.Index, name) -> np.ndarray:
    """Float codes of ``series`` in ``categories`` (NaN where missing).

    Raises a ValueError naming the column when an observed value is not one
    of the categories (a category unseen in fit).
    """
    missing = _is_missing(series)
    codes = np.full(len(series), np.nan)
    if isinstance(series.dtype, pd.CategoricalDtype):
        src = series.cat.codes.to_numpy()
        if series.cat.categories.equals(categories):
            codes[~missing] = src[~missing]
            return codes
        mapping = categories.get_indexer(series.cat.categories)
        used = np.unique(src[src >= 0])
        unknown = used[mapping[used] < 0]
        if unknown.size:
            labels = [series.cat.categories[u] for u in unknown]
            raise ValueError(
                f"Column {name!r} has categories not seen in fit: {sorted(map(str, labels))}."
            )
        codes[~missing] = mapping[src[~missing]]
        return codes
    observed = pd.Index(series.to_numpy(dtype=object)[~missing], dtype=object)
    found = categories.get_indexer(observed) if len(observed) else np.empty(0, np.int64)
    if (found < 0).any():
        unknown = pd.unique(observed[found < 0].to_numpy())
        raise ValueError(
            f"Column {name!r} has categories not seen in fit: {sorted(map(str, unknown))}."
        )
    codes[~missing] = found
    return codes


def _encode_labels(series: pd.Series, name) -> tuple[np.ndarray, np.ndarray]:
    """Codes of an object or string column of text labels, with sorted categories."""
    missing = _is_missing(series)
    observed = series[~missing].to_numpy(dtype=object)
    kinds = {type(v) for v in observed}
    if kinds and not kinds <= {str, np.str_}:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        what = f"mixes value types ({names})" if len(kinds) > 1 else f"holds {names} values"
        raise TypeError(
            f"Column {name!r} {what}; an object column must hold "
            "only strings (categories), only booleans or only numbers. Convert it to a "
            "numeric or a categorical dtype first."
        )
    categories = np.array(sorted({str(v) for v in observed}), dtype=object)
    codes = _codes_against(series, pd.Index(categories, dtype=object), name)
    return codes, categories


def _is_temporal(dtype) -> bool:
    return (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    )


def _encode_numeric(series: pd.Series, name, info: ColumnInfo | None):
    if series.dtype == np.float64:  # numpy floats: NaN is their missing value already
        values = series.to_numpy(dtype=np.float64, copy=True)
    else:
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError(
            f"Column {name!r} contains infinite values; replace them by NaN (to impute) "
            "or by finite values."
        )
    if info is not None:
        if info.storage != "numeric":
            raise TypeError(
                f"Column {name!r} was {info.storage} in fit and holds numbers now."
            )
        return values, info
    integer = pd.api.types.is_integer_dtype(series.dtype)
    return values, ColumnInfo(name, "numeric", None, False, integer, series.dtype)


def _encode_numeric_objects(series: pd.Series, name, info: ColumnInfo):
    """An object column of a column that was numeric in fit (its numbers as floats)."""
    missing = _is_missing(series)
    observed = series[~missing].to_numpy(dtype=object)
    if _object_kind(observed) not in ("numeric", "empty"):
        raise TypeError(f"Column {name!r} was numeric in fit and holds text now.")
    values = np.full(len(series), np.nan)
    values[~missing] = observed.astype(np.float64)
    return _encode_numeric(pd.Series(values), name, info)


def _object_kind(observed: np.ndarray) -> str:
    """"boolean", "numeric", "string" or "empty" for the observed values of an object column."""
    if len(observed) == 0:
        return "empty"
    if all(isinstance(v, (bool, np.bool_)) for v in observed):
        return "boolean"
    if all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in observed
    ):
        return "numeric"
    return "string"


def _encode_column(series: pd.Series, name, info: ColumnInfo | None = None):
    """Encode one column; with ``info`` (from fit), reuse its coding."""
    dtype = series.dtype
    if info is not None and info.storage == "passthrough":
        return np.zeros(len(series)), info
    if info is not None and info.storage in ("categorical", "string", "boolean"):
        codes = _codes_against(series, info.category_index(), name)
        return codes, info
    if info is not None and info.storage == "numeric" and (
        pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    ):
        return _encode_numeric_objects(series, name, info)
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        cats = np.asarray(dtype.categories, dtype=object)
        return codes, ColumnInfo(name, "categorical", cats, bool(dtype.ordered), False, dtype)
    if _is_temporal(dtype):
        if isinstance(dtype, pd.PeriodDtype):
            values = series.array.asi8.astype(np.float64)
        else:
            values = series.to_numpy(dtype="datetime64[ns]" if dtype.kind == "M" else None)
            values = values.view(np.int64).astype(np.float64) if values.dtype.kind in "mM" \
                else np.asarray(values, dtype=np.float64)
        values[_is_missing(series)] = np.nan
        return values, info or ColumnInfo(name, "temporal", dtype=dtype)
    if info is not None and info.storage == "temporal":
        raise TypeError(f"Column {name!r} was a date or time column in fit; got {dtype} now.")
    if pd.api.types.is_bool_dtype(dtype):
        cats = np.array([False, True], dtype=object)
        missing = _is_missing(series)
        codes = np.full(len(series), np.nan)
        codes[~missing] = series[~missing].to_numpy(dtype=bool).astype(np.float64)
        return codes, info or ColumnInfo(name, "boolean", cats, dtype=dtype)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return _encode_numeric(series, name, info)
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        missing = _is_missing(series)
        observed = series[~missing].to_numpy(dtype=object)
        kind = _object_kind(observed)
        if kind == "boolean":
            codes = np.full(len(series), np.nan)
            codes[~missing] = observed.astype(bool).astype(np.float64)
            cats = np.array([False, True], dtype=object)
            return codes, info or ColumnInfo(name, "boolean", cats, dtype=dtype)
        if kind == "numeric":
            values = np.full(len(series), np.nan)
            values[~missing] = observed.astype(np.float64)
            values, new = _encode_numeric(pd.Series(values), name, info)
            if info is None:  # an object column of numbers: give it back as such
                integer = all(isinstance(v, (int, np.integer)) for v in observed)
                new = ColumnInfo(name, "numeric", None, False, integer, dtype)
            return values, new
        if info is not None:
            raise TypeError(f"Column {name!r} was numeric in fit and holds text now.")
        codes, cats = _encode_labels(series, name)
        return codes, ColumnInfo(name, "string", cats, dtype=dtype)
    raise TypeError(
        f"Column {name!r} has dtype {dtype}, which skmice cannot impute: use numeric, "
        "boolean, categorical, string or (passed through) datetime columns."
    )


def _scale_exponent(values: np.ndarray, name=None) -> int:
    """The power of two that brings a column's largest magnitude near 1 (0 if it is there)."""
    top = _largest_magnitude(values)
    if np.isnan(top):
        return 0
    if np.isfinite(top):
        return _exponent_of(top, values, name)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0
    return _exponent_of(float(np.max(np.abs(finite))), finite, name)


def _largest_magnitude(values: np.ndarray):
    """The largest absolute value of ``values``, NaN ignored (NaN if there is none)."""
    if not values.size:
        return np.nan
    return np.fmax(np.abs(np.fmax.reduce(values)), np.abs(np.fmin.reduce(values)))


def _exponent_of(top, values: np.ndarray, name=None) -> int:
    """:func:`_scale_exponent` of a column whose largest magnitude ``top`` is finite.

    Scaling down stops where the smallest nonzero magnitude of ``values`` would
    leave the normal range (subnormal numbers lose digits, and the scaling
    would no longer be exact), so a column spanning more orders of magnitude
    than that keeps part of its range above 1; a column whose largest scaled
    value would still exceed ``2**_MAX_SCALED_EXPONENT`` (its squares near
    the double range) is refused with a ValueError naming it.
    """
    exponent = int(np.frexp(float(top))[1]) if top else 0
    if abs(exponent) <= _SAFE_EXPONENT:
        return 0
    if exponent > 0:
        magnitudes = np.abs(values[values != 0])
        low = float(np.nanmin(magnitudes)) if magnitudes.size else 0.0
        if low > 0:  # low >= 2**(m - 1): low * 2**-exponent >= 2**-1022 for exponent <= m + 1021
            capped = min(exponent, int(np.frexp(low)[1]) + 1021)
            if exponent - capped > _MAX_SCALED_EXPONENT:
                raise ValueError(
                    f"Column {name!r} spans too many orders of magnitude for double precision "
                    f"(nonzero magnitudes from {low:.3g} to {float(top):.3g}): rescale or "
                    "transform it (for instance take logarithms) before imputing."
                )
            exponent = capped
    return exponent if abs(exponent) > _SAFE_EXPONENT else 0


def _check_frame_shape(frame: pd.DataFrame) -> list:
    """The frame's column labels, after the checks on its shape and names."""
    if frame.ndim != 2:
        raise ValueError("X must be 2-dimensional.")
    if isinstance(frame.columns, pd.MultiIndex):
        raise TypeError(
            "X has MultiIndex columns; skmice needs one label per column: flatten them first, "
            "e.g. X.columns = ['_'.join(map(str, c)) for c in X.columns]."
        )
    columns = list(frame.columns)
    if frame.columns.has_duplicates:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ValueError(f"X has duplicate column names: {dup}.")
    n = frame.shape[0]
    if len(columns) == 0:
        raise ValueError(f"0 feature(s) (shape=({n}, 0)) while a minimum of 1 is required.")
    if n == 0:
        raise ValueError(
            f"0 sample(s) (shape=(0, {len(columns)})) while a minimum of 1 is required."
        )
    return columns


def _skipped(skip) -> frozenset:
    """The positions of ``skip`` (None, one position or a collection of them)."""
    if skip is None:
        return frozenset()
    if isinstance(skip, (int, np.integer)):
        return frozenset([int(skip)])
    return frozenset(int(j) for j in skip)


def _encode_array(arr: np.ndarray, infos, rescale: bool, skip: frozenset):
    """Encode a numeric 2-d array (every column numeric)."""
    values = arr.astype(np.float64, order="F", copy=True)  # by column
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
        if rescale:
            for j, info in enumerate(infos):
                info.exponent = 0 if j in skip else _scale_exponent(values[:, j], j)
    for j, info in enumerate(infos):
        if info.exponent:
            values[:, j] = np.ldexp(values[:, j], -info.exponent)
    return EncodedData(values, cols, infos, None, False)


def encode(X, infos: list | None = None, *, rescale: bool = False,
           skip=None, missing_values=()) -> EncodedData:
    """Convert user data to the internal float matrix.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        The data. NaN, None, ``pd.NA`` and ``NaT`` mark missing entries.
    infos : list of ColumnInfo, optional
        The coding learned in fit; when given, the same coding is used
        (transform).
    rescale : bool, default=False
        Hold numeric columns whose largest magnitude lies outside
        ``[2**-32, 2**32]`` as ``value * 2**-e`` (``e`` the column's binary
        exponent), so that the samplers work on values near 1; exact in
        floating point, and undone by :func:`decode`. Ignored with ``infos``
        (their exponents are used).
    skip : int or collection of int, optional
        Positions of columns that are not read at all (the cluster columns):
        they get zeros and are passed through by :func:`decode`.
    missing_values : tuple, default=()
        Placeholders that mark missing entries besides NaN, None, ``pd.NA``
        and ``NaT`` (see :func:`missing_markers`).

    Returns
    -------
    EncodedData

    Notes
    -----
    In fit (``infos`` None), a complete column that skmice cannot read (an
    object column mixing types, complex numbers, ...) is passed through
    unchanged, with a warning: it is neither imputed nor a predictor. The
    same column with missing values is an error naming it.
    """
    if isinstance(X, pd.Series):
        raise TypeError("X must be 2-dimensional (a DataFrame or a 2-d array), got a Series.")
    skip = _skipped(skip)
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
            except (TypeError, ValueError, OverflowError):
                pass
        if arr.dtype.kind in "biuf":
            if missing_values:
                arr = arr.astype(np.float64, copy=True)
                arr[np.isin(arr, [m for m in missing_values if not isinstance(m, str)])] = \
                    np.nan
            enc = _encode_array(arr, infos, rescale, skip)
            enc.missing_values = missing_values
            return enc
        if arr.dtype.kind == "c":
            raise ValueError("Complex data not supported: X must be real.")
        if arr.dtype.kind in "OUS":
            X = pd.DataFrame(arr)
        else:
            raise TypeError(f"X has dtype {arr.dtype}; skmice needs numeric data or a DataFrame.")
    frame = X
    columns = _check_frame_shape(frame)
    values = np.empty((frame.shape[0], len(columns)), dtype=np.float64, order="F")  # by column
    new_infos = []
    sources = [None] * len(columns)
    for j, (name, series) in enumerate(frame.items()):
        if _plain_numbers(series.dtype):
            sources[j] = series.to_numpy()
        if infos is not None:
            info = infos[j]
        elif j in skip:
            info = ColumnInfo(name, "passthrough", dtype=series.dtype)
        else:
            info = None
        if sources[j] is not None and sources[j].dtype == np.float64 and not missing_values \
                and (info is None or info.storage == "numeric"):
            new_infos.append(_encode_floats(sources[j], values[:, j], name, info,
                                            rescale and infos is None))
            continue
        hit = None
        if missing_values and (info is None or info.storage != "passthrough"):
            hit = declared_missing(series, missing_values)
            numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
                series.dtype, pd.CategoricalDtype)
            if hit.any() and not numeric:  # numbers keep their dtype (integers stay integers)
                series = _without_markers(series, hit)
                hit = None
        codes, info = _encode_or_pass(series, name, info)
        if hit is not None and hit.any():
            codes = np.where(hit, np.nan, codes)
        if infos is None and rescale and info.storage == "numeric":
            info = _with_exponent(info, _scale_exponent(codes, name))
        if info.storage == "numeric" and info.exponent:
            codes = np.ldexp(codes, -info.exponent)
        values[:, j] = codes
        new_infos.append(info)
    return EncodedData(values, columns, new_infos, frame.index, is_frame, missing_values,
                       frame, sources)


def _encode_floats(src: np.ndarray, out: np.ndarray, name, info: ColumnInfo | None,
                   rescale: bool) -> ColumnInfo:
    """Encode a numpy float64 column ``src`` into ``out`` (its column of the matrix).

    ``info`` is the column's coding from fit (a numeric one), or None in fit;
    ``rescale`` gives the column its exponent (see :func:`encode`). Returns
    the column's coding.
    """
    top = _largest_magnitude(src) if info is None and rescale else None
    if np.isinf(src).any() if top is None else top == np.inf:
        raise ValueError(
            f"Column {name!r} contains infinite values; replace them by NaN (to impute) "
            "or by finite values."
        )
    if info is None:
        info = ColumnInfo(name, "numeric", None, False, False, src.dtype)
        if top is not None and not np.isnan(top):
            info.exponent = _exponent_of(top, src, name)
    if info.exponent:
        np.ldexp(src, -info.exponent, out=out)
    else:
        out[:] = src
    return info


def _encode_or_pass(series: pd.Series, name, info):
    """Encode a column; in fit, pass a complete column skmice cannot read through."""
    try:
        return _encode_column(series, name, info)
    except TypeError as exc:
        if info is not None or _is_missing(series).any():
            raise
        warnings.warn(
            f"Column {name!r} is passed through unchanged and is not a predictor: {exc}",
            UserWarning, stacklevel=4)
        return np.zeros(len(series)), ColumnInfo(name, "passthrough", dtype=series.dtype)


def _with_exponent(info: ColumnInfo, exponent: int) -> ColumnInfo:
    info = ColumnInfo(**{k: getattr(info, k) for k in info.__dataclass_fields__})
    info.exponent = exponent
    return info


# --------------------------------------------------------------------------- #
# Decoding
# --------------------------------------------------------------------------- #
def decode(values: np.ndarray, encoded: EncodedData, original=None, missing=None):
    """Turn the completed float matrix back into the user's container.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        Completed internal matrix.
    encoded : EncodedData
        What :func:`encode` returned for the input.
    original : DataFrame, optional
        The input frame. Each output column is a copy of its column, with
        the cells that were missing and are not NaN in ``values`` written in
        the column's own dtype; observed cells are never touched. Cells still
        NaN in ``values`` (columns left as they are) stay missing.
    missing : ndarray of bool of shape (n_samples, n_features), optional
        The cells missing in the input: ``np.isnan`` of ``encoded.values``
        before any imputation. Given, numeric columns are not scanned for
        missing markers again.

    Returns
    -------
    DataFrame or ndarray
    """
    if not encoded.is_frame:
        out = np.array(values, dtype=np.float64, order="C")
        top = float(np.finfo(np.float64).max)
        for j, info in enumerate(encoded.infos):
            if info.exponent:
                with np.errstate(over="ignore"):
                    col = np.ldexp(out[:, j], info.exponent)
                out[:, j] = _clip(col, -top, top, info.name, out.dtype)
        return out
    if original is None:
        raise ValueError("decode needs the original frame for frame input.")
    sources = encoded.sources if encoded.frame is original else None
    out = {}
    for j, info in enumerate(encoded.infos):
        numbers = info.storage == "passthrough" or (
            info.storage == "numeric" and missing is not None)
        if numbers and sources is not None and sources[j] is not None:
            out[j] = _decode_numbers(values[:, j], info, sources[j],
                                     None if missing is None else missing[:, j])
            continue
        src = original.iloc[:, j]
        if numbers and _plain_numbers(src.dtype):
            out[j] = _decode_numbers(values[:, j], info, src.to_numpy(),
                                     None if missing is None else missing[:, j])
        else:
            out[j] = _decode_column(values[:, j], info, src, encoded.missing_values)
    frame = pd.DataFrame(out, index=original.index, copy=False)
    frame.columns = original.columns
    return frame


def _plain_numbers(dtype) -> bool:
    """Whether a column's dtype is a numpy integer or float dtype."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _decode_numbers(col: np.ndarray, info: ColumnInfo, src: np.ndarray,
                    missing: np.ndarray | None) -> np.ndarray:
    """A numpy-typed numeric column as an array: a copy of ``src``, imputed cells written.

    ``src`` holds the input column's values; ``missing`` marks the cells
    that were missing in the input (None for a column passed through).
    """
    arr = src.copy()
    if info.storage == "passthrough" or missing is None:
        return arr
    pos = np.flatnonzero(missing)
    x = col[pos]
    imputed = ~np.isnan(x)
    if not imputed.all():
        pos, x = pos[imputed], x[imputed]
    if pos.size:
        if info.exponent:
            with np.errstate(over="ignore"):  # beyond the float range: clipped below
                x = np.ldexp(x, info.exponent)
        arr[pos] = numeric_for(x, src.dtype, info.name, info.integer)
    return arr


def _decode_column(col: np.ndarray, info: ColumnInfo, src: pd.Series,
                   markers: tuple = ()) -> pd.Series:
    """``src`` with its imputed cells written from the internal column ``col``."""
    if info.storage in ("passthrough", "temporal"):
        return src.copy()
    fill = (_is_missing(src) | declared_missing(src, markers)) & ~np.isnan(col)
    if not fill.any():
        return src.copy()
    pos = np.flatnonzero(fill)
    x = col[pos]
    if info.storage == "numeric":
        if info.exponent:
            with np.errstate(over="ignore"):  # beyond the float range: clipped below
                x = np.ldexp(x, info.exponent)
        return _write(src, pos, numeric_for(x, src.dtype, info.name, info.integer))
    codes = x.astype(np.int64)
    if isinstance(src.dtype, pd.CategoricalDtype):
        return _write_categorical(src, pos, info.categories[codes])
    labels = info.categories[codes]
    if info.storage == "boolean":
        labels = labels.astype(bool)
        if isinstance(src.dtype, pd.CategoricalDtype) or src.dtype == object:
            labels = np.array([bool(v) for v in labels], dtype=object)
    return _write(src, pos, labels)


def _write(src: pd.Series, pos: np.ndarray, vals: np.ndarray) -> pd.Series:
    """A copy of ``src`` with ``vals`` written at positions ``pos``."""
    if isinstance(src.dtype, np.dtype):
        arr = src.to_numpy(copy=True)
        if arr.dtype.kind == "O":
            vals = np.asarray(vals, dtype=object)
    else:
        arr = src.array.copy()
    try:
        arr[pos] = vals
    except (TypeError, ValueError):  # arrays without item assignment (sparse): rebuild
        dense = src.to_numpy(dtype=object, copy=True)
        dense[pos] = vals
        try:
            arr = pd.array(dense, dtype=src.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Column {src.name!r}: the imputations cannot be stored in its dtype "
                f"{src.dtype} ({exc}); convert the column to a numpy or nullable dtype."
            ) from None
    dtype = arr.dtype if isinstance(arr, np.ndarray) else None  # no inference of "str"
    return pd.Series(arr, index=src.index, name=src.name, dtype=dtype, copy=False)


def _write_categorical(src: pd.Series, pos: np.ndarray, labels: np.ndarray) -> pd.Series:
    """A copy of a categorical ``src`` with ``labels`` written at ``pos``.

    The column keeps its categories and their order; a label the column's
    dtype lacks (possible in transform, with a narrower dtype than in fit) is
    appended to its categories.
    """
    dtype = src.dtype
    cats = dtype.categories
    found = cats.get_indexer(pd.Index(labels, dtype=object))
    if (found < 0).any():
        extra = pd.unique(pd.Index(labels, dtype=object)[found < 0].to_numpy())
        dtype = pd.CategoricalDtype(cats.append(pd.Index(extra, dtype=object)),
                                    ordered=dtype.ordered)
        found = dtype.categories.get_indexer(pd.Index(labels, dtype=object))
    codes = src.cat.codes.to_numpy().astype(np.int64)
    codes[pos] = found
    cat = pd.Categorical.from_codes(codes, dtype=dtype)
    return pd.Series(cat, index=src.index, name=src.name)


def numeric_for(x: np.ndarray, dtype, name, integer: bool = False) -> np.ndarray:
    """Imputed values in the column's dtype: rounded for integers, inside the range.

    Values outside the dtype's range are clipped to it, with a warning naming
    the column ``name``. For 64-bit integers the largest value (which no
    float holds exactly) is reached from its nearest float, ``2**63`` or
    ``2**64``. ``integer`` marks a float or object column that holds integers
    (rounded too).
    """
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    if not isinstance(numpy_dtype, np.dtype) or numpy_dtype.kind not in "iuf":
        top = float(np.finfo(np.float64).max)
        x = _clip(x, -top, top, name, dtype)
        if integer:  # an object column of integers: Python ints, exact
            return np.array([int(v) for v in np.rint(x)], dtype=object)
        return x  # object columns of numbers
    if numpy_dtype.kind == "f":
        if integer:
            x = np.rint(x)
        top = float(np.finfo(numpy_dtype).max)
        return _clip(x, -top, top, name, dtype).astype(numpy_dtype)
    limits = np.iinfo(numpy_dtype)
    x = _clip(np.rint(x), float(limits.min), float(limits.max), name, dtype)
    top = x >= float(limits.max)  # float(max) rounds up to 2**63 or 2**64 for 64 bits
    out = np.where(top, 0.0, x).astype(numpy_dtype)
    out[top] = limits.max
    return out


def _clip(x: np.ndarray, lo: float, hi: float, name, dtype) -> np.ndarray:
    """``x`` clipped to ``[lo, hi]``, warning (naming the column) when it changes anything."""
    outside = (x < lo) | (x > hi)
    if outside.any():
        warnings.warn(
            f"Column {name!r}: {int(outside.sum())} imputed value(s) fell outside the "
            f"range of its dtype {dtype} and were clipped to [{lo:g}, {hi:g}]. A method for "
            "its kind of values (e.g. a binary or categorical one) avoids it.",
            UserWarning,
            stacklevel=5,
        )
        x = np.clip(x, lo, hi)
    return x
