"""A seeded fuzzer of the data safety of skmice's public entry points.

Shared by the fast CI slice (``tests/test_fuzz.py``) and the long run
(``benchmarks/fuzz.py``). Three parts:

- :func:`make_case` builds a small two-level frame from an integer case id
  (``numpy.random.default_rng([base, case_id])``: the same id gives the same
  case on every machine): a cluster column (int, string, categorical or float
  ids; odd names such as ``''``, ``' '``, ``'a b'``, ``0``, ``1.5``, a tuple,
  unicode, ``'.imp'``) and 2-6 columns drawn from every pandas dtype (numpy
  and nullable integers with values at the ends of their range, floats from
  1e-300 to 1e300, booleans, object, python and pyarrow strings, categoricals
  with string, integer, float, boolean and mixed categories, complete
  datetime and timedelta columns, object columns of numbers), missing cells
  (NaN, None, pd.NA), sometimes a ``methods`` dict with ``""`` (leave
  missing), a compatible method, or a deliberately incompatible one.
- :func:`run_case` runs the entry points on the case and checks, for each,
  the README's guarantees; it returns a list of :class:`Failure`:

  (a) only ValueError / TypeError, naming the offending column or parameter;
  (b) observed cells unchanged, bit for bit (floats by value and sign of
      zero, integers exactly);
  (c) dtype, categories and category order kept;
  (d) the input frame not modified;
  (e) the same random_state gives the same result;
  (f) imputed integers are integers inside the dtype's range, imputed
      categories are categories, imputed strings observed strings;
  (g) changing a dataset handed out by ``MultiplyImputedData`` (``complete``,
      iteration, ``analyze``) changes nothing stored; ``complete(0)`` does
      not follow later edits of the caller's frame;
  (h) columns with method ``""`` keep their missing cells missing; every
      other cell is filled.

- :func:`shrink` reduces a failing case (columns, clusters, rows, names,
  methods) while it fails the same way, and :func:`reproducer` writes it as a
  few lines of Python.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, multiple_impute
from skmice.cli import main as cli_main

M = 2  # imputations
MAX_ITER = 2

ENTRY_POINTS = (
    "fit_transform", "transform", "transform_new",
    "multiple_impute", "complete", "long", "analyze",
    "pipeline", "cli",
)
GROUPS = {
    "imputer": ("fit_transform", "transform", "transform_new"),
    "multiple": ("multiple_impute", "complete", "long", "analyze"),
    "pipeline": ("pipeline",),
    "cli": ("cli",),
}
ENTRY_GROUP = {e: g for g, es in GROUPS.items() for e in es}

# --------------------------------------------------------------------------- #
# column kinds
# --------------------------------------------------------------------------- #
FLOAT_KINDS = ("float64", "float32", "Float64", "Float32", "object-float")
INT_NUMPY = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
INT_NULLABLE = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
BOOL_KINDS = ("bool", "boolean")
STRING_KINDS = ("object-str", "string-python", "string-pyarrow", "str")
CAT_KINDS = ("cat-str", "cat-int", "cat-float", "cat-bool", "cat-mixed")
TIME_KINDS = ("datetime64[ns]", "datetime64[us]", "timedelta64[ns]")
OBJECT_INT = ("object-int",)
COMPLETE_ONLY = set(INT_NUMPY) | {"bool"} | set(TIME_KINDS)
KIND_GROUPS = [  # (kinds, weight)
    (FLOAT_KINDS, 3.0), (INT_NUMPY, 1.5), (INT_NULLABLE, 3.0), (BOOL_KINDS, 1.2),
    (STRING_KINDS, 2.0), (CAT_KINDS, 2.5), (TIME_KINDS, 0.4), (OBJECT_INT, 0.5),
]
CLUSTER_NAMES = [("g", 1), "", " ", "a b", 0, 1.5, "é学校", ".imp", ".id", "cluster id"]
ODD_NAMES = [".imp", ".id", "a b", " ", "", 0, 1, 1.5, "ü名", ("x", 2), "None", "NA", "y"]
LABELS = ["red", "green", "blue", "None", "NA", "nan", " ", "é学", "a,b", "1", "x y"]
PARAMETERS = ("cluster", "methods", "method", "max_iter", "random_state", "n_imputations",
              "predictor_matrix", "imputer", "estimator", "--cluster", "--method")
CONTINUOUS_METHODS = ("pmm", "norm", "2l.pan", "2l.pmm", "2l.norm")
BINARY_METHODS = ("logreg", "2l.bin", "polyreg", "2l.polyreg", "pmm", "2l.pmm")
CATEGORICAL_METHODS = ("polyreg", "2l.polyreg", "pmm", "2l.pmm")
# methods whose imputations of a numeric column are observed values (donors or levels)
OBSERVED_VALUE_METHODS = ("pmm", "2l.pmm", "2lonly.pmm", "logreg", "2l.bin", "polyreg",
                          "2l.polyreg")


@dataclass
class Column:
    """What the generator made of one column (aligned with the frame's columns)."""

    name: object
    kind: str  # generator kind, e.g. "Int64", "cat-int", "cluster"
    mode: str = ""  # value mode, e.g. "big", "normal*1e300"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.mode}" if self.mode else self.kind


@dataclass
class Case:
    """One fuzz case: the data, the imputer's parameters, the expectations."""

    case_id: int
    base: int
    frame: pd.DataFrame
    new_frame: pd.DataFrame  # rows with a cluster unseen in fit
    columns: list  # Column per frame column
    cluster: object
    methods: dict | None
    suspect: object = None  # a column given an incompatible method (must be named)
    has_suspect: bool = False
    target: object = None  # a complete numeric column for the pipeline
    has_target: bool = False
    cli: bool = False

    @property
    def seed(self) -> int:
        return (self.base * 1_000_003 + self.case_id) % (2**31)

    @property
    def blank(self) -> list:
        """Columns the user asked not to impute (method "")."""
        return [c for c, m in (self.methods or {}).items() if m == ""]

    def imputer(self, methods="same") -> MultilevelIterativeImputer:
        methods = self.methods if methods == "same" else methods
        return MultilevelIterativeImputer(
            methods=None if methods is None else dict(methods), cluster=self.cluster,
            max_iter=MAX_ITER, random_state=self.seed)

    def describe(self) -> str:
        cols = ", ".join(
            f"{c.name!r}:{c.label}({int(self.frame.iloc[:, j].isna().sum())} NA)"
            for j, c in enumerate(self.columns))
        n_cl = self.frame.iloc[:, self._cluster_pos()].nunique()
        return (f"case {self.base}:{self.case_id}: {len(self.frame)} rows, {n_cl} clusters; "
                f"cluster={self.cluster!r}; columns {cols}; methods={self.methods!r}")

    def _cluster_pos(self) -> int:
        return [c.kind for c in self.columns].index("cluster")


@dataclass
class Failure:
    case_id: int
    entry: str
    check: str  # "a" .. "h"
    what: str  # the kind of failure, for grouping (no case-specific values)
    detail: str  # case-specific detail
    probe: str = ""  # lines of a reproducer after the entry point's call

    @property
    def key(self) -> tuple:
        return (self.check, self.what)

    def __str__(self) -> str:
        return f"[{self.entry}] ({self.check}) {self.what}: {self.detail}"


# --------------------------------------------------------------------------- #
# the generator
# --------------------------------------------------------------------------- #
def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _int_bounds(kind: str) -> tuple[int, int]:
    info = np.iinfo(kind.lower())
    return int(info.min), int(info.max)


def _float_values(kind, rng, n, base):
    if kind == "float32":
        scales = [1.0, 1.0, 1e-8, 1e8, 1e-30, 1e30]
    else:
        scales = [1.0, 1.0, 1e-8, 1e8, 1e-300, 1e300, 1e-150, 1e150, 1e-310]
    mode = _pick(rng, ["normal", "normal", "normal", "integers", "constant", "mixed", "huge"])
    if mode == "normal":
        scale = _pick(rng, scales)
        vals = (base + 3.0) * scale
        mode = f"normal*{scale:g}"
    elif mode == "integers":
        vals = np.rint(3 * base)
    elif mode == "constant":
        vals = np.full(n, _pick(rng, [7.25, -0.5, 1e-300, 1e300, 0.0]))
        if kind == "float32":
            vals = np.full(n, 7.25)
    elif mode == "mixed":  # magnitudes from 1e-300 to 1e300 in one column
        lim = 30 if kind == "float32" else 300
        vals = np.sign(base) * 10.0 ** rng.uniform(-lim, lim, n)
    else:  # near the largest finite value
        top = float(np.finfo(np.float32 if kind == "float32" else np.float64).max)
        vals = top * rng.uniform(0.5, 0.99, n)
    if rng.random() < 0.15:  # a negative zero somewhere
        vals = vals.copy()
        vals[int(rng.integers(n))] = -0.0
    if kind == "float32":
        vals = vals.astype(np.float32)
    return [float(v) for v in vals], mode


def _int_values(kind, rng, n, groups, n_clusters):
    lo, hi = _int_bounds("int64" if kind == "object-int" else kind)
    wide = kind.lower() in ("int64", "uint64") or kind == "object-int"
    modes = ["small", "small", "small", "wide", "near-max", "near-min", "constant", "two"]
    if wide:
        modes += ["big", "big"]
    mode = _pick(rng, modes)
    small = rng.integers(0, 6, n) + rng.integers(0, 4, n_clusters)[groups]
    if mode == "small":
        vals = [int(v) for v in small]
    elif mode == "wide":
        dtype = np.uint64 if lo == 0 and hi > 2**63 else np.int64
        vals = [int(v) for v in rng.integers(lo, hi, size=n, dtype=dtype, endpoint=True)]
    elif mode == "near-max":
        vals = [hi - int(v) for v in rng.integers(0, 50, n)]
    elif mode == "near-min":
        vals = [lo + int(v) for v in rng.integers(0, 50, n)]
    elif mode == "big":
        top = 2**70 if kind == "object-int" else 2**60
        vals = [top + int(v) for v in small * 97 + rng.integers(0, 13, n)]
    elif mode == "constant":
        vals = [int(small[0])] * n
    else:
        vals = [int(v) for v in 3 + (small % 2)]
    return vals, mode


def _categories(kind, rng):
    k = int(rng.integers(2, 6))
    if kind == "cat-str":
        cats = list(rng.permutation(np.array(LABELS, dtype=object))[:k])
        mode = "labels"
    elif kind == "cat-int":
        mode = _pick(rng, ["small", "big", "near-max"])
        if mode == "small":
            cats = [int(v) for v in rng.permutation(np.arange(-5, 20))[:k]]
        elif mode == "big":
            cats = [2**60 + int(v) for v in rng.permutation(np.arange(40))[:k]]
        else:
            cats = [2**63 - 1 - int(v) for v in rng.permutation(np.arange(40))[:k]]
    elif kind == "cat-float":
        pool = np.array([0.5, 1.5, -2.25, 1e-300, 1e300, 3.0, 0.1])
        cats = [float(v) for v in rng.permutation(pool)[:k]]
        mode = "floats"
    elif kind == "cat-bool":
        cats = [False, True] if rng.random() < 0.5 else [True, False]
        mode = "bools"
    else:
        pool = np.array(["a", 1, 2.5, "b", -3], dtype=object)
        cats = list(rng.permutation(pool)[:max(k, 2)])
        mode = "mixed"
    return cats, mode


def _missing_mask(rng, n, groups, n_clusters) -> np.ndarray:
    mode = rng.choice(["cells", "clusters", "one"], p=[0.72, 0.18, 0.10])
    if mode == "cells":
        miss = rng.random(n) < _pick(rng, [0.1, 0.3, 0.6])
    elif mode == "clusters":
        gone = rng.choice(n_clusters, size=int(rng.integers(1, n_clusters)), replace=False)
        miss = np.isin(groups, gone) | (rng.random(n) < 0.1)
    else:  # a single observed value
        miss = np.ones(n, dtype=bool)
        miss[int(rng.integers(n))] = False
    if not miss.any():
        miss[int(rng.integers(n))] = True
    if miss.all():
        miss[int(rng.integers(n))] = False
    return miss


def _make_column(kind, rng, n, groups, n_clusters, miss):
    """One column as a Series (missing cells where ``miss``) and its value mode."""
    effect = rng.standard_normal(n_clusters)
    base = effect[groups] + rng.standard_normal(n)

    def with_na(vals, marker=None):
        return [marker if m else v for v, m in zip(vals, miss)]

    if kind in FLOAT_KINDS:
        vals, mode = _float_values("float32" if kind.lower() == "float32" else kind, rng, n, base)
        if kind in ("float64", "float32"):
            arr = np.array(vals, dtype=kind)
            arr[miss] = np.nan
            return pd.Series(arr), mode
        if kind == "object-float":
            markers = [None, np.nan, pd.NA]
            return pd.Series([_pick(rng, markers) if m else v for v, m in zip(vals, miss)],
                             dtype=object), mode
        return pd.Series(pd.array(with_na(vals), dtype=kind)), mode
    if kind in INT_NUMPY or kind in INT_NULLABLE or kind in OBJECT_INT:
        vals, mode = _int_values(kind, rng, n, groups, n_clusters)
        if kind in INT_NUMPY:
            return pd.Series(np.array(vals, dtype=kind)), mode
        if kind == "object-int":
            return pd.Series([_pick(rng, [None, np.nan, pd.NA]) if m else v
                              for v, m in zip(vals, miss)], dtype=object), mode
        return pd.Series(pd.array(with_na(vals), dtype=kind)), mode
    if kind in BOOL_KINDS:
        mode = _pick(rng, ["random", "random", "constant"])
        vals = [bool(v) for v in (base > 0)] if mode == "random" else [True] * n
        if kind == "bool":
            return pd.Series(np.array(vals, dtype=bool)), mode
        return pd.Series(pd.array(with_na(vals), dtype="boolean")), mode
    if kind in STRING_KINDS:
        k = int(rng.integers(1, 5))
        labels = list(rng.permutation(np.array(LABELS, dtype=object))[:k])
        vals = [labels[int(v)] for v in rng.integers(0, k, n)]
        mode = f"{k} labels"
        if kind == "object-str":
            return pd.Series([_pick(rng, [None, np.nan, pd.NA]) if m else v
                              for v, m in zip(vals, miss)], dtype=object), mode
        dtype = {"string-python": pd.StringDtype("python"),
                 "string-pyarrow": pd.StringDtype("pyarrow"),
                 "str": pd.StringDtype("pyarrow", na_value=np.nan)}[kind]
        return pd.Series(with_na(vals), dtype=dtype), mode
    if kind in CAT_KINDS:
        cats, mode = _categories(kind, rng)
        used = cats[:-1] if len(cats) > 2 and rng.random() < 0.3 else cats  # an unused category
        vals = [used[int(v)] for v in rng.integers(0, len(used), n)]
        ordered = bool(rng.random() < 0.4)
        mode = f"{mode}{', ordered' if ordered else ''}"
        return pd.Series(pd.Categorical(with_na(vals), categories=cats, ordered=ordered)), mode
    if kind.startswith("datetime64"):
        s = pd.Series(pd.to_datetime(rng.integers(0, 2 * 10**18, n), unit="ns"))
        return s.astype(kind), ""
    if kind.startswith("timedelta64"):
        return pd.Series(pd.to_timedelta(rng.integers(-10**15, 10**15, n), unit="ns")), ""
    raise AssertionError(kind)  # pragma: no cover


def _frame_from(series: list, names: list, index) -> pd.DataFrame:
    frame = pd.DataFrame(dict(enumerate(series)))
    if all(isinstance(c, str) for c in names):
        frame.columns = pd.Index(names)
    else:
        frame.columns = pd.Index(names, dtype=object, tupleize_cols=False)
    frame.index = index
    return frame


def _cluster_series(kind, ids, groups):
    if kind == "int":
        return pd.Series(np.asarray(ids, dtype=np.int64)[groups])
    if kind == "Int64":
        return pd.Series(pd.array(np.asarray(ids, dtype=np.int64)[groups], dtype="Int64"))
    if kind == "float":
        return pd.Series(np.asarray(ids, dtype=np.float64)[groups])
    if kind == "str-object":
        return pd.Series(np.asarray(ids, dtype=object)[groups], dtype=object)
    if kind == "str":
        return pd.Series(list(np.asarray(ids, dtype=object)[groups]), dtype="str")
    raise AssertionError(kind)  # pragma: no cover


def _compatible(kind, series, rng):
    """A method that can impute this column, and one that certainly cannot (or None)."""
    obs = series.dropna()
    if kind in FLOAT_KINDS or kind in INT_NULLABLE or kind in OBJECT_INT:
        values = pd.to_numeric(obs.astype(object), errors="coerce").astype(float).to_numpy()
        distinct = np.unique(values)
        options = list(CONTINUOUS_METHODS)
        if len(distinct) <= 2:
            options += ["logreg", "2l.bin"]
        bad = None
        if len(distinct) >= 3 and not np.all(distinct == np.round(distinct)):
            bad = _pick(rng, ["logreg", "2l.bin", "polyreg"])
        return _pick(rng, options), bad
    if isinstance(series.dtype, pd.CategoricalDtype):
        n_cat = len(series.cat.categories)
    elif kind == "boolean":
        n_cat = 2
    else:
        n_cat = obs.nunique()
    options = BINARY_METHODS if n_cat == 2 else CATEGORICAL_METHODS
    return _pick(rng, options), _pick(rng, ["norm", "2l.pan", "2l.norm"])


def make_case(case_id: int, base: int = 0) -> Case:
    """The fuzz case ``case_id`` of the sequence ``base`` (deterministic)."""
    rng = np.random.default_rng([base, case_id, 0x5F])
    n_clusters = int(rng.integers(3, 9))
    sizes = rng.integers(2, 11, n_clusters)
    if rng.random() < 0.3:  # clusters of size 1
        sizes[rng.choice(n_clusters, int(rng.integers(1, 3)), replace=False)] = 1
    groups = np.repeat(np.arange(n_clusters), sizes)
    if rng.random() < 0.5:
        groups = rng.permutation(groups)
    n = len(groups)

    # the cluster column
    cl_kind = _pick(rng, ["int", "int", "str-object", "str", "cat", "float", "Int64", "cat-int"])
    if cl_kind in ("int", "Int64", "cat-int"):
        ids = sorted(int(v) for v in rng.choice(10**6, n_clusters + 1, replace=False) - 1000)
    elif cl_kind == "float":
        ids = [k + 0.5 for k in range(n_clusters + 1)]
    else:
        ids = [f"s{k:02d}" if k < n_clusters else "new" for k in range(n_clusters + 1)]
    new_id, ids = ids[-1], ids[:-1]
    if cl_kind.startswith("cat"):  # the id of the new cluster is an unused category
        cl_series = pd.Series(pd.Categorical(np.asarray(ids, dtype=object)[groups],
                                             categories=[*ids, new_id]))
    else:
        cl_series = _cluster_series(cl_kind, ids, groups)
    cluster = "g" if rng.random() < 0.5 else _pick(rng, CLUSTER_NAMES)

    # the other columns
    n_cols = int(rng.integers(2, 7))
    weights = np.array([w for _, w in KIND_GROUPS])
    kinds = []
    for _ in range(n_cols):
        group = KIND_GROUPS[rng.choice(len(KIND_GROUPS), p=weights / weights.sum())][0]
        kinds.append(_pick(rng, group))
    if rng.random() < 0.4 and not any(k in FLOAT_KINDS + INT_NUMPY for k in kinds):
        kinds.append("target")  # a complete float column for the pipeline
    incomplete = [k not in COMPLETE_ONLY and k != "target" and rng.random() < 0.65
                  for k in kinds]
    if not any(incomplete):
        can = [j for j, k in enumerate(kinds) if k not in COMPLETE_ONLY and k != "target"]
        if can:
            incomplete[_pick(rng, can)] = True
        else:
            kinds.append("float64")
            incomplete.append(True)
    names, used = [cluster], [cluster]
    for j, _ in enumerate(kinds):
        name = f"v{j}"
        if rng.random() < 0.25:
            odd = _pick(rng, ODD_NAMES)
            if odd not in used and not (isinstance(odd, tuple) and any(
                    isinstance(u, tuple) for u in used)):
                name = odd
        if name in used:
            name = f"v{j}"
        names.append(name)
        used.append(name)
    series, columns = [cl_series], [Column(cluster, "cluster", cl_kind)]
    for j, kind in enumerate(kinds):
        miss = _missing_mask(rng, n, groups, n_clusters) if incomplete[j] else np.zeros(n, bool)
        if kind == "target":
            s = pd.Series(rng.standard_normal(n) * _pick(rng, [1.0, 1.0, 1.0, 1e300, 1e-300]))
            mode = ""
            kind = "float64"
        else:
            s, mode = _make_column(kind, rng, n, groups, n_clusters, miss)
        series.append(s)
        columns.append(Column(names[j + 1], kind, mode))
    # the cluster column's position
    pos = int(rng.integers(len(series)))
    series.insert(pos, series.pop(0))
    columns.insert(pos, columns.pop(0))
    names = [c.name for c in columns]
    index_kind = _pick(rng, ["range", "range", "ints", "labels", "duplicates"])
    if index_kind == "range":
        index = pd.RangeIndex(n)
    elif index_kind == "ints":
        index = pd.Index(rng.permutation(n) * 3 + 100)
    elif index_kind == "labels":
        index = pd.Index([f"r{i}" for i in rng.permutation(n)])
    else:  # repeated row labels (e.g. frames concatenated without ignore_index)
        index = pd.Index(rng.integers(0, max(2, n // 3), n))
    frame = _frame_from(series, names, index)

    # methods
    methods, suspect, has_suspect = None, None, False
    if rng.random() < 0.5:
        methods = {}
        for j, col in enumerate(columns):
            s = frame.iloc[:, j]
            if col.kind == "cluster" or not s.isna().any():
                continue
            good, bad = _compatible(col.kind, s, rng)
            u = rng.random()
            if u < 0.3:
                continue  # the default
            if u < 0.55:
                methods[col.name] = ""
            elif u < 0.95 or bad is None or has_suspect:
                methods[col.name] = good
            else:
                methods[col.name] = bad
                suspect, has_suspect = col.name, True

    # a target for the pipeline: a complete numeric column
    targets = [c.name for j, c in enumerate(columns)
               if c.kind in FLOAT_KINDS + INT_NUMPY + INT_NULLABLE
               and not frame.iloc[:, j].isna().any() and c.name != suspect]
    target = _pick(rng, targets) if targets else None

    new_frame = _new_cluster_frame(frame, columns, groups, new_id, rng)
    if methods is None and rng.random() < 0.3:
        # a missing cell in a column complete in fit: transform imputes it (the default
        # methods cover complete columns too)
        holds_na = [j for j, c in enumerate(columns)
                    if c.kind not in COMPLETE_ONLY and c.kind != "cluster"
                    and not frame.iloc[:, j].isna().any() and not _same_label(c.name, target)]
        if holds_na:
            j = _pick(rng, holds_na)
            values = new_frame.iloc[:, j].copy()
            values.iloc[int(rng.integers(len(values)))] = None
            new_frame.isetitem(j, values)
    return Case(case_id=case_id, base=base, frame=frame, new_frame=new_frame, columns=columns,
                cluster=cluster, methods=methods, suspect=suspect, has_suspect=has_suspect,
                target=target, has_target=target is not None, cli=bool(rng.random() < 0.25))


def _new_cluster_frame(frame, columns, groups, new_id, rng):
    """Rows of one cluster under a new cluster id, plus a few rows of known clusters."""
    cl = [c.kind for c in columns].index("cluster")
    n_clusters = groups.max() + 1
    src = int(rng.integers(n_clusters))
    rows = list(np.flatnonzero(groups == src))
    others = list(rng.choice(len(frame), int(rng.integers(1, 4)), replace=False))
    new = frame.iloc[rows + others].copy(deep=True)
    old = frame.iloc[rows + others, cl]
    values = old.astype(object).to_numpy().copy()
    values[: len(rows)] = new_id
    new.isetitem(cl, pd.Series(values, index=new.index).astype(old.dtype))
    if isinstance(frame.index, pd.RangeIndex) or frame.index.dtype.kind in "iu":
        new.index = pd.RangeIndex(1000, 1000 + len(new))
    else:
        new.index = pd.Index([f"n{i}" for i in range(len(new))])
    return new


# --------------------------------------------------------------------------- #
# comparisons
# --------------------------------------------------------------------------- #
_NA = ("na",)


def _canon(v):
    """An exact, comparable form of a cell value."""
    if v is None or v is pd.NA or v is pd.NaT:
        return _NA
    if isinstance(v, (bool, np.bool_)):
        return ("b", bool(v))
    if isinstance(v, (int, np.integer)):
        return ("n", Fraction(int(v)), 1.0)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return _NA
        if math.isinf(f):
            return ("inf", f)
        return ("n", Fraction(f), math.copysign(1.0, f))
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, (pd.Timestamp, pd.Timedelta)):
        return ("t", type(v).__name__, v.value, str(getattr(v, "tz", "")))
    return ("o", type(v).__name__, repr(v))


def _same_value(a, b) -> bool:
    return _canon(a) == _canon(b)


def _dtype_problem(a: pd.Series, b: pd.Series) -> str | None:
    da, db = a.dtype, b.dtype
    if isinstance(da, pd.CategoricalDtype):
        if not isinstance(db, pd.CategoricalDtype):
            return f"dtype category -> {db}"
        ca, cb = da.categories, db.categories
        if list(map(_canon, ca)) != list(map(_canon, cb)):
            if sorted(map(repr, ca)) == sorted(map(repr, cb)):
                return "category order changed"
            return "categories changed"
        if ca.dtype != cb.dtype:
            return f"categories dtype {ca.dtype} -> {cb.dtype}"
        if da.ordered != db.ordered:
            return "ordered flag changed"
        return None
    if da != db or str(da) != str(db) or type(da) is not type(db):
        return f"dtype {_dtype_name(da)} -> {_dtype_name(db)}"
    return None


def _dtype_name(dt) -> str:
    if isinstance(dt, pd.StringDtype):
        na = "nan" if dt.na_value is np.nan else "NA"
        return f"string[{dt.storage}, na={na}]"
    return str(dt)


def frames_identical(a, b) -> str | None:
    """None when two frames are the same (labels, dtypes, categories, values bit for bit)."""
    if not isinstance(b, pd.DataFrame):
        return f"not a DataFrame: {type(b).__name__}"
    if list(map(_canon_label, a.columns)) != list(map(_canon_label, b.columns)):
        return f"columns {list(a.columns)!r} -> {list(b.columns)!r}"
    if not a.index.equals(b.index):
        return "index differs"
    for j in range(a.shape[1]):
        sa, sb = a.iloc[:, j], b.iloc[:, j]
        p = _dtype_problem(sa, sb)
        if p:
            return f"column {a.columns[j]!r}: {p}"
        va, vb = sa.tolist(), sb.tolist()
        for i, (x, y) in enumerate(zip(va, vb)):
            if not _same_value(x, y):
                return f"column {a.columns[j]!r} row {a.index[i]!r}: {x!r} -> {y!r}"
    return None


def _canon_label(c):
    return (type(c).__name__, repr(c))


# --------------------------------------------------------------------------- #
# running the entry points
# --------------------------------------------------------------------------- #
class _Run:
    """Failures and outcomes of one case."""

    def __init__(self, case: Case):
        self.case = case
        self.failures: list[Failure] = []
        self.outcomes: dict[str, str] = {}  # entry -> ok / rejected / failed
        self.rejections: list[tuple[str, str]] = []  # (entry, message template)
        self._seen: set = set()

    def fail(self, entry, check, what, detail, probe=""):
        key = (entry, check, what)
        if key in self._seen:  # one failure of a kind per entry point and case
            return
        self._seen.add(key)
        self.failures.append(Failure(self.case.case_id, entry, check, what, detail, probe))
        self.outcomes[entry] = "failed"

    def ok(self, entry):
        self.outcomes.setdefault(entry, "ok")

    def call(self, entry, fn, must_succeed=False, expect_error=False):
        """Run fn; classify an exception by rule (a). Returns (succeeded, result)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fn()
        except Exception as exc:  # noqa: BLE001 - every exception is classified
            self.classify(entry, exc, must_succeed)
            return False, None
        if expect_error and self.case.has_suspect:
            self.fail(entry, "a", "an incompatible method is accepted",
                      f"column {self.case.suspect!r} with method "
                      f"{self.case.methods[self.case.suspect]!r}")
        return True, result

    def classify(self, entry, exc, must_succeed=False):
        """Rule (a): only ValueError or TypeError, naming the column or parameter at fault."""
        case = self.case
        msg, tname = str(exc), type(exc).__name__
        if not isinstance(exc, (ValueError, TypeError)):
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                          if "skmice" in f.filename), "")
            self.fail(entry, "a", f"{tname}: {_template(msg, case)}",
                      f"{tname}: {msg[:300]} (raised at {where})")
            return
        named = _named_columns(case, msg)
        params = [p for p in PARAMETERS if re.search(rf"(?<![\w.-]){re.escape(p)}\b", msg)]
        time_cols = [c.name for c in case.columns if c.kind in TIME_KINDS]
        bad_method = case.methods[case.suspect] if case.has_suspect else None
        if any(_same_label(c, t) for c in named for t in time_cols) and re.search(
                "datetime|timedelta|dtype", msg):
            self.fail(entry, "a", "a complete datetime/timedelta column is rejected",
                      f"{tname}: {msg[:300]}")
        elif bad_method and repr(bad_method) in msg and not _mentions(msg, case.suspect):
            self.fail(entry, "a", "the incompatible method's error does not name its column",
                      f"column {case.suspect!r}; {tname}: {msg[:300]}")
        elif case.has_suspect and (named or params) and not must_succeed:
            # the incompatible method's error, or an earlier one naming its own column
            self.rejections.append((entry, f"{tname}: {_template(msg, case)}"))
            self.outcomes.setdefault(entry, "rejected")
        elif not named and not params:
            self.fail(entry, "a", f"{tname} naming no column or parameter: "
                      f"{_template(msg, case)}", msg[:400])
        elif must_succeed:
            self.fail(entry, "h", f"{entry} rejects data that fit accepted: "
                      f"{_template(msg, case)}", f"{tname}: {msg[:300]}")
        else:
            self.rejections.append((entry, f"{tname}: {_template(msg, case)}"))
            self.outcomes.setdefault(entry, "rejected")


def _same_label(a, b) -> bool:
    return _canon_label(a) == _canon_label(b)


def _mentions(msg: str, name) -> bool:
    """Whether an error message names a column: quoted, or as a word if long enough."""
    if repr(name) in msg or (isinstance(name, str) and f'"{name}"' in msg):
        return True
    s = str(name)
    if len(s.strip()) < 3 and not isinstance(name, (int, float)):
        return False
    return re.search(rf"(?<![\w.]){re.escape(s)}(?![\w])", msg) is not None


def _named_columns(case: Case, msg: str) -> list:
    return [c.name for c in case.columns if _mentions(msg, c.name)]


def _template(msg: str, case: Case | None = None) -> str:
    """A message without its case-specific parts (names, numbers), for grouping."""
    msg = msg.splitlines()[0] if msg else msg
    if case is not None:
        for c in sorted(case.columns, key=lambda c: -len(repr(c.name))):
            if str(c.name).strip() and not isinstance(c.name, (int, float)):
                msg = msg.replace(repr(c.name), "<col>")
    msg = re.sub(r"\[[^\]]*\]", "[…]", msg)
    msg = re.sub(r"(?<!\w)'[^']*'", "'…'", msg)
    msg = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", msg)
    # one form for "column 'x'", "column 0", "column \"it's\"", and for type lists
    msg = re.sub(r"([Cc]olumns?) (<col>|'…'|N|\"[^\"]*\"|\(…\))", r"\1 <col>", msg)
    msg = re.sub(r"\((\w+)(, \w+)*\)", "(…)", msg)
    return msg[:140]


def check_completed(run: _Run, entry: str, data: pd.DataFrame, out, blank, probe="",
                    columns_info=None, in_var="X", fitted: pd.DataFrame | None = None,
                    methods_used=None):
    """Checks (b), (c), (f), (h) of one completed frame against its input.

    ``probe`` is the code that gives ``out`` in a reproducer (after the entry
    point's call), ``in_var`` the name of the input there. ``fitted``: the
    frame the models were fitted on (its observed strings are the valid
    imputations); default ``data``. ``methods_used``: the fitted imputer's
    ``method_names_``; donor and discrete methods must impute observed values.
    """
    fitted = data if fitted is None else fitted
    case = run.case
    head = probe + "\n" if probe else ""
    if not isinstance(out, pd.DataFrame):
        run.fail(entry, "c", "the output is not a DataFrame", type(out).__name__, probe)
        return
    if list(map(_canon_label, out.columns)) != list(map(_canon_label, data.columns)):
        run.fail(entry, "c", "columns changed", f"{list(data.columns)!r} -> {list(out.columns)!r}",
                 head + "print(out.columns)")
        return
    if not out.index.equals(data.index):
        run.fail(entry, "c", "index changed", f"{data.index[:5]!r} -> {out.index[:5]!r}",
                 head + "print(out.index)")
    info = {_canon_label(c.name): c for c in (columns_info or case.columns)}
    for j, name in enumerate(data.columns):
        col = info.get(_canon_label(name), Column(name, "?"))
        a, b = data.iloc[:, j], out.iloc[:, j]
        p = _dtype_problem(a, b)
        if p:
            what = p if p.startswith("dtype") else f"{p} ({col.kind})"
            run.fail(entry, "c", what, f"column {name!r} ({col.label}): {p}",
                     head + f"print({in_var}[{name!r}].dtype, out[{name!r}].dtype)")
        va, vb = a.tolist(), b.tolist()
        miss_a = a.isna().to_numpy()
        miss_b = b.isna().to_numpy()
        changed = False
        for i in np.flatnonzero(~miss_a):
            if not _same_value(va[i], vb[i]):
                wide = col.mode.startswith(("big", "near", "wide"))
                run.fail(entry, "b", f"observed values changed ({col.kind}"
                         + (f"/{col.mode})" if wide else ")"),
                         f"column {name!r} ({col.label}) row {data.index[i]!r}: "
                         f"{va[i]!r} -> {vb[i]!r}",
                         head + f"print({in_var}[{name!r}].tolist()[{i}], "
                         f"out[{name!r}].tolist()[{i}])")
                changed = True
                break
        if not p and not changed and not a[~miss_a].reset_index(drop=True).equals(
                b[~miss_a].reset_index(drop=True)):
            run.fail(entry, "b", f"observed values changed ({col.kind}; Series.equals)",
                     f"column {name!r} ({col.label})",
                     head + f"print({in_var}[{name!r}].dropna().equals("
                     f"out.loc[{in_var}[{name!r}].notna(), {name!r}]))")
        is_blank = any(_same_label(name, c) for c in blank)
        if is_blank:
            if not np.array_equal(miss_a, miss_b):
                run.fail(entry, "h", "a column with method '' is changed",
                         f"column {name!r}: {int(miss_a.sum())} missing in, "
                         f"{int(miss_b.sum())} out",
                         head + f"print(out[{name!r}].isna().sum())")
        elif miss_b.any():
            run.fail(entry, "h", f"missing cells left ({col.kind})",
                     f"column {name!r} ({col.label}): {int(miss_b.sum())} of "
                     f"{int(miss_a.sum())} still missing",
                     head + f"print(out[{name!r}].isna().sum())")
        where = head + f"print(out.loc[{in_var}[{name!r}].isna(), {name!r}])"
        ref = fitted.iloc[:, j]
        method = next((m for c, m in (methods_used or {}).items() if _same_label(c, name)), None)
        _check_imputed(run, entry, name, col, a, [vb[i] for i in np.flatnonzero(miss_a & ~miss_b)],
                       ref.tolist(), ref.isna().to_numpy(), where, method)


def _as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _is_float_donor(v, va, miss_a) -> bool:
    """Whether a numeric imputation is an observed value, up to skmice's float64 limits.

    skmice models numbers in float64: a donor beyond 2**53 comes back as its nearest
    float (rounded, inside the dtype), and a column spanning more than the float
    exponent range holds its tiniest donors as 0 (documented limits).
    """
    if _canon(v) in {_canon(o) for o, m in zip(va, miss_a) if not m}:
        return True
    obs_float = {_as_float(o) for o, m in zip(va, miss_a) if not m} - {None}
    f = _as_float(v)
    if f is None:
        return False
    top = max((abs(o) for o in obs_float), default=0.0)
    tiny = any(0 < abs(o) < top * 2.0**-1000 for o in obs_float)
    return f in obs_float or float(np.nextafter(f, np.inf)) in obs_float or (f == 0.0 and tiny)


def _check_imputed(run, entry, name, col, a, imputed, va, miss_a, where, method=None):
    """Check (f): imputed values are valid values of the column."""
    if not imputed:
        return
    numeric = (pd.api.types.is_numeric_dtype(a.dtype) and not pd.api.types.is_bool_dtype(a.dtype)
               or col.kind in ("object-int", "object-float"))
    if method in OBSERVED_VALUE_METHODS and numeric:
        bad = [v for v in imputed if not _is_float_donor(v, va, miss_a)]
        if bad:
            c = _canon(bad[0])
            big = c[0] == "n" and c[1].denominator == 1 and abs(c[1]) > 2**53
            family = "integers beyond 2**53" if big else (
                "floats" if isinstance(bad[0], (float, np.floating)) else col.kind)
            run.fail(entry, "f", f"a donor or discrete method imputes a value never observed "
                     f"({family})", f"column {name!r} ({col.label}), method {method!r}: "
                     f"{bad[0]!r}", where)
    dt = a.dtype
    kinds = {type(v).__name__ for v in imputed}
    if pd.api.types.is_integer_dtype(dt) or col.kind == "object-int":
        lo, hi = _int_bounds("int64" if col.kind == "object-int" else str(dt).lower())
        for v in imputed:
            c = _canon(v)
            if c[0] != "n" or c[1].denominator != 1:
                run.fail(entry, "f", f"non-integer imputation in an integer column ({col.kind})",
                         f"column {name!r}: {v!r}", where)
                return
            if col.kind != "object-int" and not lo <= c[1] <= hi:
                run.fail(entry, "f", f"imputed integer outside the dtype's range ({col.kind})",
                         f"column {name!r}: {v!r} not in [{lo}, {hi}]", where)
                return
    elif isinstance(dt, pd.CategoricalDtype):
        cats = {_canon(c) for c in dt.categories}
        bad = [v for v in imputed if _canon(v) not in cats]
        if bad:
            run.fail(entry, "f", "imputed value not among the categories",
                     f"column {name!r}: {bad[0]!r}", where)
    elif pd.api.types.is_bool_dtype(dt):
        if not kinds <= {"bool", "bool_"}:
            run.fail(entry, "f", f"non-boolean imputation in a {dt} column",
                     f"column {name!r}: {imputed[0]!r}", where)
    elif col.kind in STRING_KINDS:
        observed = {_canon(v) for v, m in zip(va, miss_a) if not m}
        bad = [v for v in imputed if _canon(v) not in observed]
        if bad:
            run.fail(entry, "f", "imputed string not an observed value",
                     f"column {name!r}: {bad[0]!r}", where)
    elif pd.api.types.is_float_dtype(dt) or col.kind == "object-float":
        bad = [v for v in imputed if _canon(v)[0] != "n"]
        if bad:
            run.fail(entry, "f", "non-finite imputation", f"column {name!r}: {bad[0]!r}", where)


def check_unmodified(run: _Run, entry: str, before: pd.DataFrame, after: pd.DataFrame,
                     what="the input frame is modified"):
    p = frames_identical(before, after)
    if p is not None or not before.equals(after):
        run.fail(entry, "d", what, p or "DataFrame.equals is False")


def _positions_without(frame, name) -> list:
    return [j for j, c in enumerate(frame.columns) if not _same_label(c, name)]


# --- the imputer ------------------------------------------------------------ #
def run_imputer(run: _Run):
    case = run.case
    X = case.frame.copy(deep=True)
    before = case.frame.copy(deep=True)
    imp = case.imputer()
    ok, out = run.call("fit_transform", lambda: imp.fit_transform(X), expect_error=True)
    check_unmodified(run, "fit_transform", before, X)
    if not ok:
        return
    run.ok("fit_transform")
    used = getattr(imp, "method_names_", None)
    check_completed(run, "fit_transform", before, out, case.blank, methods_used=used)
    ok2, out2 = run.call("fit_transform", lambda: case.imputer().fit_transform(X),
                         must_succeed=True)
    if ok2:
        p = frames_identical(out, out2)
        if p:
            run.fail("fit_transform", "e", "the same random_state gives another result", p)
    # transform of the same frame
    ok, t = run.call("transform", lambda: imp.transform(X), must_succeed=True)
    check_unmodified(run, "transform", before, X)
    if ok:
        run.ok("transform")
        check_completed(run, "transform", before, t, case.blank, methods_used=used)
        ok2, t2 = run.call("transform", lambda: imp.transform(X), must_succeed=True)
        if ok2 and (p := frames_identical(t, t2)):
            run.fail("transform", "e", "transform of the same input gives another result", p)
    # transform of a frame with a new cluster
    Xn = case.new_frame.copy(deep=True)
    # its observed values were all seen in fit: transform must accept it
    ok, tn = run.call("transform_new", lambda: imp.transform(Xn), must_succeed=True)
    check_unmodified(run, "transform_new", case.new_frame, Xn)
    if ok:
        run.ok("transform_new")
        check_completed(run, "transform_new", case.new_frame, tn, case.blank, in_var="X_new",
                        fitted=case.frame, methods_used=used)
        ok2, tn2 = run.call("transform_new", lambda: imp.transform(Xn), must_succeed=True)
        if ok2 and (p := frames_identical(tn, tn2)):
            run.fail("transform_new", "e", "transform of the same input gives another result", p)


# --- multiple imputation ---------------------------------------------------- #
def _mi(case, X):
    return multiple_impute(X, case.imputer(), n_imputations=M, n_jobs=1,
                           random_state=case.seed)


def run_multiple(run: _Run, determinism=True):
    case = run.case
    before = case.frame.copy(deep=True)
    X = case.frame.copy(deep=True)
    ok, mi = run.call("multiple_impute", lambda: _mi(case, X), expect_error=True)
    check_unmodified(run, "multiple_impute", before, X)
    if not ok:
        return
    run.ok("multiple_impute")
    if getattr(mi, "n_imputations", None) != M:
        run.fail("multiple_impute", "c", "wrong number of imputations", repr(mi))
        return
    first = X.columns[[j for j, c in enumerate(case.columns) if c.kind != "cluster"][0]]
    # complete(i)
    comps = []
    for i in range(1, M + 1):
        ok, d = run.call("complete", lambda i=i: mi.complete(i), must_succeed=True)
        if not ok:
            return
        used = getattr(getattr(mi, "imputers", [None] * M)[i - 1], "method_names_", None)
        check_completed(run, "complete", before, d, case.blank, probe=f"out = mi.complete({i})",
                        methods_used=used)
        comps.append(d.copy(deep=True))
    ok, d0 = run.call("complete", lambda: mi.complete(0), must_succeed=True)
    if ok and (p := frames_identical(before, d0)):
        run.fail("complete", "c", "complete(0) is not the incomplete data", p,
                 "out = mi.complete(0)")
    run.ok("complete")
    if determinism:
        ok, mi2 = run.call("multiple_impute", lambda: _mi(case, before.copy(deep=True)),
                           must_succeed=True)
        if ok:
            for i in range(1, M + 1):
                if p := frames_identical(comps[i - 1], mi2.complete(i)):
                    run.fail("multiple_impute", "e", "the same random_state gives another "
                             "result", f"complete({i}): {p}")
                    break
    # long
    ok, long = run.call("long", lambda: mi.long(), must_succeed=not _clashes(X))
    if ok:
        run.ok("long")
        _check_long(run, long, comps, before, include=False)
        ok, long0 = run.call("long", lambda: mi.long(include=True), must_succeed=True)
        if ok:
            _check_long(run, long0, [before] + comps, before, include=True)
    # analyze: the datasets it passes, and an fn that changes its argument
    seen = []

    def fn(d):
        seen.append(d.copy(deep=True))
        d[first] = "edited"
        return np.array([1.0]), np.eye(1)

    ok, fits = run.call("analyze", lambda: mi.analyze(fn), must_succeed=True)
    if ok:
        run.ok("analyze")
        if len(fits) != M or len(seen) != M:
            run.fail("analyze", "c", "analyze does not fit every imputation",
                     f"{len(fits)} fits, {len(seen)} calls")
        for i, d in enumerate(seen, start=1):
            if p := frames_identical(comps[i - 1], d):
                run.fail("analyze", "b", "analyze passes other data than complete(i)",
                         f"imputation {i}: {p}")
                break
        for i in range(1, M + 1):
            if p := frames_identical(comps[i - 1], mi.complete(i)):
                run.fail("analyze", "g", "fn's edits of its argument reach complete(i)",
                         f"complete({i}) after analyze: {p}",
                         f"mi.analyze(lambda d: d.__setitem__({first!r}, 'edited') or "
                         "(np.array([1.0]), np.eye(1)))\n"
                         f"print(mi.complete({i})[{first!r}].head())  # 'edited'")
                break
    # (g) the caller edits what complete(i) and iteration hand out
    d = mi.complete(1)
    d[first] = "edited"
    if p := frames_identical(comps[0], mi.complete(1)):
        run.fail("complete", "g", "complete(i) hands out the stored frame: edits leak", p,
                 f"d = mi.complete(1)\nd[{first!r}] = 'edited'\n"
                 f"print(mi.complete(1)[{first!r}].head())  # 'edited'")
    d = mi.complete(2)
    jf = [j for j, c in enumerate(case.columns) if c.kind != "cluster"][0]
    values = d.iloc[:, jf].tolist()
    other = next((v for v in values if not _same_value(v, values[0])), None)
    if other is not None:  # an edit in place, within the dtype
        d.iloc[0, jf] = other
        if p := frames_identical(comps[1], mi.complete(2)):
            run.fail("complete", "g", "complete(i) hands out the stored frame: edits leak", p,
                     f"d = mi.complete(2)\nd.iloc[0, {jf}] = {other!r}\n"
                     f"print(mi.complete(2).iloc[0, {jf}])  # {other!r}")
    for dd in mi:
        dd[first] = "edited"
    if p := frames_identical(comps[-1], mi.complete(M)):
        run.fail("complete", "g", "iterating hands out the stored frames: edits leak", p,
                 f"for d in mi:\n    d[{first!r}] = 'edited'\n"
                 f"print(mi.complete(1)[{first!r}].head())  # 'edited'")
    # (g) the caller edits its own frame after multiple_impute
    X[first] = "edited"
    if p := frames_identical(before, mi.complete(0)):
        run.fail("complete", "g", "complete(0) follows later edits of the caller's frame", p,
                 f"X[{first!r}] = 'edited'\nprint(mi.complete(0)[{first!r}].head())  # 'edited'")


def _clashes(X) -> bool:
    return any(_same_label(c, n) for c in X.columns for n in (".imp", ".id"))


def _check_long(run, long, parts, before, include):
    cols = list(before.columns)
    want = [".imp", ".id", *cols]
    probe = "out = mi.long(include=True)" if include else "out = mi.long()"
    if _clashes(before):  # a column named .imp or .id: the data columns must come last
        tail = list(long.columns[-len(cols):])
        if list(map(_canon_label, tail)) != list(map(_canon_label, cols)) or \
                len(long) != len(parts) * len(before):
            run.fail("long", "c", "long() with a column named .imp or .id loses data",
                     f"{list(long.columns)!r}", probe)
        return
    if list(map(_canon_label, long.columns)) != list(map(_canon_label, want)):
        run.fail("long", "c", "long() has other columns", f"{list(long.columns)!r}", probe)
        return
    if len(long) != len(parts) * len(before):
        run.fail("long", "c", "long() has the wrong number of rows", str(len(long)), probe)
        return
    start = 0 if include else 1
    imp = long.iloc[:, 0].to_numpy()
    ids = long.iloc[:, 1].tolist()
    for k, part in enumerate(parts):
        rows = np.flatnonzero(imp == start + k)
        got = long.iloc[rows, 2:]
        got.index = before.index
        if p := frames_identical(part, got):
            run.fail("long", "c" if "dtype" in p or "categor" in p else "b",
                     "long() differs from complete(i)" if start + k else
                     "long(include=True) differs from the incomplete data",
                     f".imp == {start + k}: {p}", probe)
            return
        if [_canon(v) for v in (ids[r] for r in rows)] != [_canon(v) for v in before.index]:
            run.fail("long", "c", "long()'s .id is not the row label", f".imp == {start + k}",
                     probe)
            return


# --- the pipeline ------------------------------------------------------------ #
class Recorder(RegressorMixin, BaseEstimator):
    """A regressor that keeps the completed data it is given and predicts mean(y)."""

    def fit(self, X, y):
        self.fit_X_ = X.copy(deep=True) if isinstance(X, pd.DataFrame) else np.array(X)
        values = np.asarray(pd.Series(y).astype("float64"), dtype=np.float64)
        self.mean_ = float(np.sum(values / len(values)))
        self.predict_X_ = []
        return self

    def predict(self, X):
        self.predict_X_.append(X.copy(deep=True) if isinstance(X, pd.DataFrame) else X)
        return np.full(X.shape[0], self.mean_)


def _pipeline(case):
    methods = None
    if case.methods is not None:
        methods = {c: m for c, m in case.methods.items() if not _same_label(c, case.target)}
    return MultipleImputationPipeline(case.imputer(methods), Recorder(), n_imputations=M,
                                      n_jobs=1, random_state=case.seed)


def run_pipeline(run: _Run, determinism=True):
    case = run.case
    if not case.has_target:
        return
    keep = _positions_without(case.frame, case.target)
    tpos = [j for j in range(case.frame.shape[1]) if j not in keep][0]
    X = case.frame.iloc[:, keep].copy(deep=True)
    y = case.frame.iloc[:, tpos].copy(deep=True)
    Xn = case.new_frame.iloc[:, keep].copy(deep=True)
    X0, y0, Xn0 = X.copy(deep=True), y.copy(deep=True), Xn.copy(deep=True)
    info = [case.columns[j] for j in keep]
    seen_cols = [j for j, c in enumerate(info) if c.kind != "cluster"]
    blank = [c for c in case.blank if not _same_label(c, case.target)]
    pipe = _pipeline(case)
    ok, _ = run.call("pipeline", lambda: pipe.fit(X, y), expect_error=True)
    check_unmodified(run, "pipeline", X0, X, "fit modifies X")
    if not y0.equals(y):
        run.fail("pipeline", "d", "fit modifies y", "")
    if not ok:
        return
    run.ok("pipeline")
    probe = "out = pipe.estimators_[0].fit_X_  # what the estimator saw"
    for imp, est in zip(pipe.imputers_, pipe.estimators_):
        used = getattr(imp, "method_names_", None)
        check_completed(run, "pipeline", X0.iloc[:, seen_cols], est.fit_X_, blank, probe, info,
                        methods_used=used)
    ok, pred = run.call("pipeline", lambda: pipe.predict(Xn), must_succeed=True)
    check_unmodified(run, "pipeline", Xn0, Xn, "predict modifies X")
    if not ok:
        return
    if np.shape(pred) != (len(Xn),) or not np.all(np.isfinite(pred)):
        run.fail("pipeline", "c", "predict returns other than one finite value per row",
                 f"shape {np.shape(pred)}")
    probe = "pipe.predict(X_new)\nout = pipe.estimators_[0].predict_X_[-1]"
    for imp, est in zip(pipe.imputers_, pipe.estimators_):
        check_completed(run, "pipeline", Xn0.iloc[:, seen_cols], est.predict_X_[-1], blank,
                        probe, info, in_var="X_new", fitted=X0.iloc[:, seen_cols],
                        methods_used=getattr(imp, "method_names_", None))
    if determinism:
        pipe2 = _pipeline(case)
        ok, _ = run.call("pipeline", lambda: pipe2.fit(X0.copy(deep=True), y0),
                         must_succeed=True)
        if ok:
            for e1, e2 in zip(pipe.estimators_, pipe2.estimators_):
                if p := frames_identical(e1.fit_X_, e2.fit_X_):
                    run.fail("pipeline", "e", "the same random_state gives another result", p)
                    break


# --- the command line ------------------------------------------------------- #
def cli_args(case, src, out) -> list:
    args = ["impute", str(src), "--cluster", str(case.cluster), "-m", str(M),
            "--max-iter", str(MAX_ITER), "--seed", str(case.seed), "--out", str(out), "--quiet"]
    for col, m in (case.methods or {}).items():
        args += ["--method", f"{col}={m}"]
    return args


def _as_number(text: str):
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        if text in ("True", "False"):
            return text
        return None


def _still_incompatible_in_csv(case: Case, src: Path) -> bool:
    """Whether the suspect column's method is still wrong for the column read from CSV.

    Categories written as numbers come back numeric: 'norm' then fits.
    """
    from skmice.cli import read_table

    j = [k for k, c in enumerate(case.columns) if _same_label(c.name, case.suspect)][0]
    col = read_table(src).iloc[:, j]
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    return not (numeric and case.methods[case.suspect] in ("norm", "2l.pan", "2l.norm"))


def run_cli(run: _Run, tmp: Path):
    case = run.case
    tmp = Path(tmp)
    src = tmp / f"in_{case.base}_{case.case_id}.csv"
    case.frame.to_csv(src, index=False)
    raw = src.read_bytes()
    outs = []
    for k in range(2):
        out = tmp / f"out_{case.base}_{case.case_id}_{k}.csv"
        err = io.StringIO()

        def go(out=out, err=err):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                return cli_main(cli_args(case, src, out))

        ok, code = run.call("cli", go)
        if not ok:
            return
        if src.read_bytes() != raw:
            run.fail("cli", "d", "the input file is modified", str(src))
        if code != 0:
            msg = err.getvalue().strip()
            if code != 1 or not msg.startswith("skmice: error:"):
                run.fail("cli", "a", f"exit status {code}", msg[:300])
                return
            # the same rules as for exceptions
            run.classify("cli", ValueError(msg.removeprefix("skmice: error: ")))
            return
        outs.append(out.read_bytes())
    run.ok("cli")
    if case.has_suspect and _still_incompatible_in_csv(case, src):
        run.fail("cli", "a", "an incompatible method is accepted",
                 f"column {case.suspect!r} with method {case.methods[case.suspect]!r}")
    if outs[0] != outs[1]:
        run.fail("cli", "e", "the same --seed gives another output", "")
    text_in = pd.read_csv(src, dtype=str, keep_default_na=False)
    text_out = pd.read_csv(io.BytesIO(outs[0]), dtype=str, keep_default_na=False)
    n = len(text_in)
    if text_out.shape != (M * n, text_in.shape[1] + 2):
        run.fail("cli", "c", "the output has the wrong shape", f"{text_out.shape}")
        return
    blank = {str(c) for c in case.blank}
    for i in range(M):
        part = text_out.iloc[i * n:(i + 1) * n, 2:]
        for j, name in enumerate(text_in.columns):
            col = case.columns[j]
            a, b = text_in.iloc[:, j].tolist(), part.iloc[:, j].tolist()
            for r, (x, y) in enumerate(zip(a, b)):
                if x == "":
                    if str(case.frame.columns[j]) in blank:
                        if y != "":
                            run.fail("cli", "h", "a column with method '' is changed",
                                     f"column {name!r}")
                            break
                    elif y == "":
                        run.fail("cli", "h", f"missing cells left ({col.kind})",
                                 f"column {name!r}")
                        break
                elif x != y and (_as_number(x) is None or _as_number(x) != _as_number(y)):
                    big = re.fullmatch(r"-?\d+", x) and abs(int(x)) > 2**53
                    run.fail("cli", "b", "integers beyond 2**53 lose digits in a column with "
                             "missing values" if big else f"observed values changed ({col.kind})",
                             f"column {name!r} row {r}: {x!r} -> {y!r}",
                             "out = pd.read_csv('out.csv', dtype=str)")
                    break


# --------------------------------------------------------------------------- #
# a whole case
# --------------------------------------------------------------------------- #
@dataclass
class Result:
    case_id: int
    failures: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)
    rejections: list = field(default_factory=list)
    seconds: float = 0.0


def run_case(case: Case, groups=("imputer", "multiple", "pipeline", "cli"), tmp=None,
             determinism=True) -> Result:
    """Run the entry points of ``groups`` on ``case`` and check them."""
    run = _Run(case)
    start = time.perf_counter()
    if "imputer" in groups:
        run_imputer(run)
    if "multiple" in groups:
        run_multiple(run, determinism)
    if "pipeline" in groups:
        run_pipeline(run, determinism)
    if "cli" in groups and case.cli:
        if tmp is None:
            with tempfile.TemporaryDirectory() as d:
                run_cli(run, Path(d))
        else:
            run_cli(run, Path(tmp))
    return Result(case.case_id, run.failures, run.outcomes, run.rejections,
                  time.perf_counter() - start)


def format_failures(case: Case, failures: list) -> str:
    lines = [case.describe()]
    lines += [f"  {f}" for f in failures]
    lines.append(f"  reproduce: python benchmarks/fuzz.py --repro {case.case_id} "
                 f"--seed {case.base}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# shrinking and reproducers
# --------------------------------------------------------------------------- #
def _drop_column(case: Case, j: int) -> Case:
    name = case.columns[j].name
    keep = [k for k in range(case.frame.shape[1]) if k != j]
    methods = None if case.methods is None else {
        c: m for c, m in case.methods.items() if not _same_label(c, name)}
    return replace(
        case, frame=case.frame.iloc[:, keep].copy(), new_frame=case.new_frame.iloc[:, keep].copy(),
        columns=[case.columns[k] for k in keep], methods=methods,
        suspect=None if _same_label(case.suspect, name) else case.suspect,
        has_suspect=case.has_suspect and not _same_label(case.suspect, name),
        target=None if _same_label(case.target, name) else case.target,
        has_target=case.has_target and not _same_label(case.target, name))


def _keep_rows(case: Case, rows) -> Case:
    return replace(case, frame=case.frame.iloc[rows].copy())


def _rename(case: Case, j: int, new) -> Case:
    old = case.columns[j].name
    cols = list(case.frame.columns)
    cols[j] = new
    frame, new_frame = case.frame.copy(), case.new_frame.copy()
    idx = pd.Index(cols) if all(isinstance(c, str) for c in cols) else pd.Index(
        cols, dtype=object, tupleize_cols=False)
    frame.columns = idx
    new_frame.columns = idx

    def ren(c):
        return new if _same_label(c, old) else c

    methods = None if case.methods is None else {ren(c): m for c, m in case.methods.items()}
    columns = list(case.columns)
    columns[j] = replace(columns[j], name=new)
    return replace(case, frame=frame, new_frame=new_frame, columns=columns, methods=methods,
                   cluster=ren(case.cluster), suspect=ren(case.suspect),
                   target=ren(case.target))


def shrink(case: Case, failure: Failure, budget_seconds=20.0, max_tries=150) -> Case:
    """A smaller case that still fails with ``failure``'s kind at its entry point."""
    group = ENTRY_GROUP[failure.entry]
    deadline = time.perf_counter() + budget_seconds
    tries = [0]

    def fails(c: Case) -> bool:
        if time.perf_counter() > deadline or tries[0] >= max_tries:
            return False
        tries[0] += 1
        try:
            c.frame.iloc[:, c._cluster_pos()]
        except ValueError:
            return False
        if len(c.frame) == 0 or len(c.columns) < 2:
            return False
        res = run_case(c, (group,), determinism=failure.check == "e")
        return any(f.key == failure.key and f.entry == failure.entry for f in res.failures)

    if group == "cli":
        case = replace(case, cli=True)
    changed = True
    while changed and time.perf_counter() < deadline:
        changed = False
        if case.methods:  # methods: all default, then one entry at a time
            trial = replace(case, methods=None)
            if not case.has_suspect and fails(trial):
                case, changed = trial, True
            else:
                for c in list(case.methods):
                    if case.has_suspect and _same_label(c, case.suspect):
                        continue
                    trial = replace(case, methods={k: v for k, v in case.methods.items()
                                                   if not _same_label(k, c)})
                    if fails(trial):
                        case, changed = trial, True
        for j in reversed(range(len(case.columns))):  # columns
            if j < len(case.columns) and case.columns[j].kind != "cluster":
                trial = _drop_column(case, j)
                if fails(trial):
                    case, changed = trial, True
        cl = case.frame.iloc[:, case._cluster_pos()]
        for v in pd.unique(cl.astype(object)):  # clusters
            rows = np.flatnonzero((cl.astype(object) != v).to_numpy())
            if len(rows):
                trial = _keep_rows(case, rows)
                if fails(trial):
                    case, changed = trial, True
                    cl = case.frame.iloc[:, case._cluster_pos()]
        n = len(case.frame)
        for i in reversed(range(n)):  # rows
            if i < len(case.frame):
                trial = _keep_rows(case, [k for k in range(len(case.frame)) if k != i])
                if fails(trial):
                    case, changed = trial, True
        if failure.entry in ("transform_new", "pipeline"):  # rows of the new data
            for i in reversed(range(len(case.new_frame))):
                if i < len(case.new_frame) and len(case.new_frame) > 1:
                    keep = [k for k in range(len(case.new_frame)) if k != i]
                    trial = replace(case, new_frame=case.new_frame.iloc[keep].copy())
                    if fails(trial):
                        case, changed = trial, True
    # plain names and index, where the failure does not depend on them
    for j, col in enumerate(case.columns):
        simple = "g" if col.kind == "cluster" else f"x{j}"
        if not (isinstance(col.name, str) and col.name.isidentifier()):
            if simple not in [c.name for c in case.columns]:
                trial = _rename(case, j, simple)
                if fails(trial):
                    case = trial
    if not isinstance(case.frame.index, pd.RangeIndex) or case.frame.index.start != 0:
        trial = replace(case, frame=case.frame.reset_index(drop=True))
        if fails(trial):
            case = trial
    return case


def _value_code(v) -> str:
    c = _canon(v)
    if c == _NA:
        return "None"
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return repr(v)


def _list_code(values) -> str:
    return "[" + ", ".join(_value_code(v) for v in values) + "]"


def _dtype_code(dt) -> str:
    if isinstance(dt, pd.StringDtype):
        if dt.na_value is np.nan:
            return f"pd.StringDtype({dt.storage!r}, na_value=np.nan)"
        return f"pd.StringDtype({dt.storage!r})"
    return repr(str(dt))


def series_code(s: pd.Series) -> str:
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return (f"pd.Categorical({_list_code(s.tolist())}, "
                f"categories={_list_code(dt.categories)}, ordered={dt.ordered})")
    if dt.kind == "M":
        return f"pd.to_datetime({[v.value for v in s]!r}, unit='ns').astype({str(dt)!r})"
    if dt.kind == "m":
        return f"pd.to_timedelta({[v.value for v in s]!r}, unit='ns').astype({str(dt)!r})"
    return f"pd.Series({_list_code(s.tolist())}, dtype={_dtype_code(dt)})"


def frame_code(frame: pd.DataFrame, var="X") -> str:
    names = list(frame.columns)
    plain = all(isinstance(c, str) for c in names)
    keys = names if plain else list(range(len(names)))
    body = "\n".join(f"    {k!r}: {series_code(frame.iloc[:, j])},"
                     for j, k in enumerate(keys))
    lines = [f"{var} = pd.DataFrame({{", body, "})"]
    if not plain:
        lines.append(f"{var}.columns = pd.Index({names!r}, dtype=object, tupleize_cols=False)")
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
            and frame.index.step == 1):
        lines.append(f"{var}.index = pd.Index({frame.index.tolist()!r})")
    return "\n".join(lines)


def check_frame_code(frame: pd.DataFrame) -> str | None:
    """None when the emitted code rebuilds the frame exactly."""
    ns = {"pd": pd, "np": np}
    exec(frame_code(frame), ns)  # noqa: S102 - our own generated code
    return frames_identical(frame, ns["X"])


def reproducer(case: Case, failure: Failure) -> str:
    """A few lines of Python that show ``failure`` on ``case``."""
    imp = (f"MultilevelIterativeImputer(cluster={case.cluster!r}, "
           + (f"methods={case.methods!r}, " if case.methods else "")
           + f"max_iter={MAX_ITER}, random_state={case.seed})")
    lines = ["import numpy as np", "import pandas as pd",
             "from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, "
             "multiple_impute", "", frame_code(case.frame)]
    entry, probe = failure.entry, failure.probe
    if entry == "fit_transform":
        lines.append(f"out = {imp}.fit_transform(X)")
    elif entry in ("transform", "transform_new"):
        if entry == "transform_new":
            lines.append(frame_code(case.new_frame, "X_new"))
        lines.append(f"imp = {imp}.fit(X)")
        lines.append("out = imp.transform(X)" if entry == "transform"
                     else "out = imp.transform(X_new)")
    elif entry in GROUPS["multiple"]:
        lines.append(f"mi = multiple_impute(X, {imp}, n_imputations={M}, n_jobs=1, "
                     f"random_state={case.seed})")
        if not probe and entry != "multiple_impute":
            probe = {"complete": "out = mi.complete(1)", "long": "out = mi.long()",
                     "analyze": "fits = mi.analyze(lambda d: (np.array([1.0]), np.eye(1)))"
                     }[entry]
    elif entry == "pipeline":
        lines.append(frame_code(case.new_frame, "X_new"))
        methods = None if case.methods is None else {
            c: m for c, m in case.methods.items() if not _same_label(c, case.target)}
        imp = (f"MultilevelIterativeImputer(cluster={case.cluster!r}, "
               + (f"methods={methods!r}, " if methods else "")
               + f"max_iter={MAX_ITER}, random_state={case.seed})")
        lines += [
            "from sklearn.base import BaseEstimator, RegressorMixin", "",
            "class Seen(RegressorMixin, BaseEstimator):  # keeps what it is given",
            "    def fit(self, X, y):",
            "        self.fit_X_, self.predict_X_ = X, []",
            "        self.mean_ = float(np.sum(np.asarray(y, dtype=float) / len(y)))",
            "        return self",
            "    def predict(self, X):",
            "        self.predict_X_.append(X)",
            "        return np.full(len(X), self.mean_)", "",
            f"y = X.pop({case.target!r})",
            f"X_new = X_new.drop(columns=[{case.target!r}])",
            f"pipe = MultipleImputationPipeline({imp}, Seen(), n_imputations={M}, n_jobs=1, "
            f"random_state={case.seed}).fit(X, y)",
        ]
        probe = (probe or "print(pipe.predict(X_new))").replace(
            "fit_X_  # what the estimator saw", "fit_X_")
    elif entry == "cli":
        lines += ["from skmice.cli import main", "X.to_csv('in.csv', index=False)",
                  f"main({cli_args(case, 'in.csv', 'out.csv')!r})"]
    if probe:
        lines.append(probe)
    lines.append(f"# {failure.what}: {failure.detail}")
    return "\n".join(lines)
