"""From an lme4-style formula and a DataFrame to the arrays of a mixed model.

:func:`parse_mixed_formula` reads ``"y ~ fixed + (random | group)"`` with the
parser of :mod:`skmice._formula`, keeping each random part separate (lme4
treats ``(1 | g) + (0 + x | g)`` as two uncorrelated blocks, and expands
``(1 + x || g)`` into the same). :func:`build_design` turns it into the
response, the fixed-effects matrix ``X`` and one :class:`RandomFactor` per
grouping factor (its cluster codes, its columns ``Z`` and the block structure
of its covariance), dropping incomplete rows as lme4's ``na.omit`` does.

Coding follows R's ``model.matrix`` (and patsy): numeric columns enter as
they are; text, categorical and boolean columns as treatment dummies of
their sorted levels (first level as reference), named as patsy and
statsmodels name them (``group[T.b]``); a factor inside a term whose margin
(the term without that factor, the intercept for a main effect) is absent
is coded by full indicators (``group[a]``, ``group[b]``), as R does; the
columns of an interaction are the products of its factors' columns
(``a:b``). Terms are ordered by their degree (main effects, then two-way
interactions...), as R orders them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._formula import _Parser, _unique_terms

__all__ = ["MixedDesign", "MixedFormula", "RandomFactor", "build_design", "parse_mixed_formula"]


@dataclass(frozen=True)
class RandomPart:
    """One random part ``(terms | group)`` of a formula.

    Attributes
    ----------
    terms : tuple of tuple of str
        Terms with a random coefficient (a main effect is a 1-tuple).
    intercept : bool
        Whether the part has a random intercept.
    group : str
        The grouping factor's name (lme4's: ``class:school`` for the inner
        factor of ``school/class``).
    correlated : bool
        False for ``||`` (one independent block per column).
    columns : tuple of str
        The columns whose combinations are the groups, when not just
        ``group`` (``("class", "school")`` for ``class:school``).
    """

    terms: tuple
    intercept: bool
    group: str
    correlated: bool = True
    columns: tuple = ()

    @property
    def group_columns(self) -> tuple:
        """The data columns defining the grouping factor (several for ``a:b``)."""
        return self.columns or (self.group,)


@dataclass(frozen=True)
class MixedFormula:
    """A parsed lme4-style mixed-model formula.

    Attributes
    ----------
    text : str
        The formula as written.
    outcome : str
        Left-hand side.
    intercept : bool
        Whether the fixed part has an intercept.
    fixed : tuple of tuple of str
        Fixed terms in R's order (by degree).
    random : tuple of RandomPart
        The random parts, in formula order.
    """

    text: str
    outcome: str
    intercept: bool
    fixed: tuple
    random: tuple

    @property
    def groups(self) -> list:
        """The grouping factors, in order of first appearance."""
        return list(dict.fromkeys(r.group for r in self.random))

    @property
    def variables(self) -> list:
        """Every column the formula reads: outcome, predictors, grouping factors."""
        out = [self.outcome]
        for term in (*self.fixed, *(t for r in self.random for t in r.terms)):
            out.extend(term)
        for r in self.random:
            out.extend(r.group_columns)
        return list(dict.fromkeys(out))


def _by_degree(terms) -> tuple:
    """Terms sorted by their number of variables, stably (R's ``terms()`` order)."""
    return tuple(sorted(_unique_terms(terms), key=len))


class _MixedParser(_Parser):
    """The formula parser, reading grouping expressions ``g``, ``a:b`` and ``a/b/c``."""

    def grouping(self):
        """The grouping expression after ``|``: ``g``, ``a:b:c`` or ``a/b/c``, as a
        tuple of grouping factors (each a tuple of names)."""
        names, ops = [self.take("name")[1]], []
        while self.peek() in (("op", "/"), ("op", ":")):
            ops.append(self.take()[1])
            names.append(self.take("name")[1])
        if len(set(ops)) > 1:
            self.error("write a grouping factor as a/b/c or as a:b:c, not both")
        if ops and ops[0] == "/":
            # lme4: a/b/c is a + b:a + c:b:a (each factor named inner first)
            return tuple(tuple(reversed(names[: k + 1])) for k in range(len(names)))
        return (tuple(names),)


def parse_mixed_formula(formula: str) -> MixedFormula:
    """Parse an lme4-style formula, keeping the random parts apart.

    Parameters
    ----------
    formula : str
        For example ``"popular ~ sex * texp + (1 + sex | school)"``.

    Returns
    -------
    MixedFormula

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        For syntax errors and the constructs :func:`skmice._formula.parse_formula`
        rejects (functions other than ``factor``/``C``, ``^``, nested
        for a formula without random part, and for the outcome or a grouping
        factor appearing as a predictor.

    Notes
    -----
    Grouping factors may be interactions ``(1 | school:class)`` (a group per
    combination) and nested ``(1 | school/class)``, which lme4 expands into
    ``(1 | school) + (1 | class:school)``.

    Examples
    --------
    >>> from skmice.mixed import parse_mixed_formula
    >>> f = parse_mixed_formula("y ~ x * w + (1 + x || g)")
    >>> f.fixed, [(r.terms, r.intercept, r.correlated) for r in f.random]
    ((('x',), ('w',), ('x', 'w')), [((('x',),), True, False)])
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}.")
    parser = _MixedParser(formula)
    _, outcome = parser.take("name")
    if parser.peek() == ("op", "("):
        parser.error("the outcome must be a column name")
    parser.take("op", "~")
    terms, intercept, randoms = parser.rhs()
    if parser.peek()[0] is not None:
        parser.error(f"unexpected {parser.peek()[1]!r}")
    if not randoms:
        raise ValueError(
            f"formula {formula!r} has no random part such as (1 | group): fit models without "
            "random effects with statsmodels or scikit-learn."
        )
    random = tuple(
        RandomPart(
            terms=_by_degree(t), intercept=bool(i),
            group=":".join(cols), correlated=c,
            columns=cols if len(cols) > 1 else (),
        )
        for t, i, gs, c in randoms
        for cols in gs
    )
    groups = {c for r in random for c in r.group_columns}
    for term in (*terms, *(t for r in random for t in r.terms)):
        if outcome in term:
            raise ValueError(f"formula: the outcome {outcome!r} also appears on the right.")
        clash = groups.intersection(term)
        if clash:
            raise ValueError(
                f"formula: the grouping factor {sorted(clash)[0]!r} cannot also be a fixed or "
                "random term."
            )
    return MixedFormula(
        text=formula,
        outcome=outcome,
        intercept=True if intercept is None else bool(intercept),
        fixed=_by_degree(terms),
        random=random,
    )


# ---------------------------------------------------------------------------
# columns of the design
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Variable:
    """One data column as the design reads it: numeric values or category codes."""

    name: str
    values: np.ndarray  # float values, or int codes into `levels`
    levels: tuple | None = None  # None for numeric variables

    @property
    def categorical(self) -> bool:
        return self.levels is not None


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _read_variable(series: pd.Series, name: str) -> _Variable:
    """Numeric values, or codes into the sorted levels present in ``series``."""
    if _is_categorical(series):
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.cat.remove_unused_categories()
            levels = tuple(series.cat.categories)
            codes = series.cat.codes.to_numpy(dtype=np.int64)
        else:
            try:
                codes, uniques = pd.factorize(series, sort=True)
            except TypeError as exc:
                raise TypeError(
                    f"column {name!r} mixes values that cannot be sorted into levels."
                ) from exc
            levels = tuple(uniques)
        return _Variable(name, np.asarray(codes, dtype=np.int64), levels)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise TypeError(
            f"column {name!r} has dtype {series.dtype}: use numeric, boolean, text or "
            "categorical columns."
        )
    return _Variable(name, series.to_numpy(dtype=np.float64, na_value=np.nan))


def _factor_columns(var: _Variable, contrast: bool) -> list:
    """(label, values) of one variable in a term: itself, or its dummies."""
    if not var.categorical:
        return [(var.name, var.values)]
    start = 1 if contrast else 0
    fmt = "{}[T.{}]" if contrast else "{}[{}]"
    return [
        (fmt.format(var.name, level), (var.values == k).astype(np.float64))
        for k, level in enumerate(var.levels)
        if k >= start
    ]


def _term_columns(term: tuple, present: set, variables: dict) -> list:
    """(name, values) of the columns of one term, coded by R's margin rule.

    A categorical variable ``f`` of ``term`` gets treatment contrasts when
    the term without ``f`` (``()`` = the intercept) is in ``present``, else
    full indicators. The first variable varies fastest, as in R.
    """
    parts = []
    for v in term:
        margin = frozenset(t for t in term if t != v)
        parts.append(_factor_columns(variables[v], margin in present))
    out = []
    for combo in itertools.product(*reversed(parts)):
        combo = combo[::-1]
        name = ":".join(label for label, _ in combo)
        values = combo[0][1]
        for _, vals in combo[1:]:
            values = values * vals
        out.append((name, np.asarray(values, dtype=np.float64)))
    return out


def _model_columns(terms: tuple, intercept: bool, variables: dict, n: int) -> tuple:
    """Names and (n, k) matrix of a model part (fixed part or one random part).

    R's rule: a factor is coded by contrasts when its margin appeared
    earlier (terms come sorted by degree); without an intercept the first
    categorical main effect gets full indicators and then stands in for the
    intercept.
    """
    present = {frozenset()} if intercept else set()
    names, columns = [], []
    if intercept:
        names.append("Intercept")
        columns.append(np.ones(n))
    for term in terms:
        for name, values in _term_columns(term, present, variables):
            names.append(name)
            columns.append(values)
        present.add(frozenset(term))
        if len(term) == 1 and variables[term[0]].categorical:
            present.add(frozenset())
    if not columns:
        return [], np.empty((n, 0))
    return names, np.column_stack(columns)


# ---------------------------------------------------------------------------
# the design
# ---------------------------------------------------------------------------


@dataclass
class RandomFactor:
    """The random effects of one grouping factor.

    Attributes
    ----------
    name : str
        The grouping factor's column.
    codes : ndarray of int, shape (n_obs,)
        Cluster code of each row, in ``[0, n_groups)``.
    levels : Index
        The cluster labels, in code order (sorted).
    Z : ndarray, shape (n_obs, q)
        The random-effects columns of every block, side by side.
    names : list of str
        Their names (``"Intercept"`` for the random intercept).
    blocks : list of int
        Sizes of the diagonal blocks of the covariance matrix (one per
        random part, one per column for ``||``); they sum to ``q``.
    """

    name: str
    codes: np.ndarray
    levels: pd.Index
    Z: np.ndarray
    names: list
    blocks: list

    @property
    def n_groups(self) -> int:
        """Number of clusters."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random effects per cluster."""
        return self.Z.shape[1]


@dataclass
class MixedDesign:
    """The arrays of a linear mixed model, ready for fitting.

    Attributes
    ----------
    formula : MixedFormula
        The parsed formula.
    y : ndarray, shape (n_obs,)
        The response.
    X : ndarray, shape (n_obs, p)
        The fixed-effects matrix.
    fixed_names : list of str
        Names of the columns of ``X`` (``"Intercept"``, ``"sex"``,
        ``"sex:texp"``, ``"group[T.b]"``).
    factors : list of RandomFactor
        One per grouping factor.
    rows : ndarray of bool, shape (n_rows,)
        Which rows of the data were used (complete in every variable).
    """

    formula: MixedFormula
    y: np.ndarray
    X: np.ndarray
    fixed_names: list
    factors: list = field(default_factory=list)
    rows: np.ndarray | None = None

    @property
    def n_obs(self) -> int:
        """Number of rows used."""
        return self.y.shape[0]


def _random_factor(group: str, parts: list, codes, levels, variables: dict) -> RandomFactor:
    """Columns and blocks of all random parts over one grouping factor."""
    names, blocks, columns = [], [], []
    for part in parts:
        part_names, Z = _model_columns(part.terms, part.intercept, variables, len(codes))
        if not part_names:
            raise ValueError(f"formula: the random part over {group!r} has no term.")
        clash = set(part_names).intersection(names)
        if clash:
            raise ValueError(
                f"formula: {sorted(clash)} appears in two random parts over {group!r}: the "
                "model is not identifiable."
            )
        names.extend(part_names)
        columns.append(Z)
        blocks.extend([1] * len(part_names) if not part.correlated else [len(part_names)])
    return RandomFactor(
        name=group, codes=codes, levels=levels, Z=np.hstack(columns), names=names, blocks=blocks
    )


def _group_codes(frame: pd.DataFrame, columns: tuple):
    """Codes and sorted labels of the groups: the levels of a column, or of combinations."""
    if len(columns) == 1:
        codes, uniques = pd.factorize(frame[columns[0]], sort=True)
        return codes.astype(np.int64), pd.Index(uniques)
    keys = [pd.factorize(frame[c], sort=True) for c in columns]
    sizes = [len(u) for _, u in keys]
    flat = np.ravel_multi_index([k for k, _ in keys], sizes)
    codes, uniques = pd.factorize(flat, sort=True)
    parts = np.unravel_index(uniques, sizes)
    labels = None
    for (_, u), idx in zip(keys, parts):
        column = pd.Series(pd.Index(u).astype(str)[idx])
        labels = column if labels is None else labels + ":" + column
    return codes.astype(np.int64), pd.Index(labels)


def build_design(formula, data: pd.DataFrame) -> MixedDesign:
    """Response, fixed-effects matrix and random-effects factors of a formula.

    Parameters
    ----------
    formula : str or MixedFormula
        An lme4-style formula.
    data : DataFrame
        Every variable of the formula must be a column. Rows with a missing
        value in any of them are dropped (lme4's ``na.omit``).

    Returns
    -------
    MixedDesign

    Raises
    ------
    TypeError
        If ``data`` is not a DataFrame, or a column has an unusable dtype.
    ValueError
        For unknown columns, no complete row, or a non-numeric outcome.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmice.mixed import build_design
    >>> d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.0, 1.0, 0.0, 1.0],
    ...                   "g": ["a", "a", "b", "b"], "k": ["u", "v", "v", "u"]})
    >>> design = build_design("y ~ x * k + (1 + x | g)", d)
    >>> design.fixed_names
    ['Intercept', 'x', 'k[T.v]', 'x:k[T.v]']
    >>> design.factors[0].names, design.factors[0].levels.tolist()
    (['Intercept', 'x'], ['a', 'b'])
    """
    parsed = formula if isinstance(formula, MixedFormula) else parse_mixed_formula(formula)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a DataFrame, got {type(data).__name__}.")
    columns = list(data.columns)
    unknown = [v for v in parsed.variables if v not in columns]
    if unknown:
        raise ValueError(f"formula: {unknown} are not columns of the data (columns: {columns}).")
    if data.columns.duplicated().any():
        dup = data.columns[data.columns.duplicated()].tolist()
        raise ValueError(f"data has duplicate column names {dup}.")
    used = data[parsed.variables]
    rows = ~used.isna().any(axis=1).to_numpy()
    if not rows.any():
        raise ValueError("no row is complete in the formula's variables.")
    frame = used.loc[rows] if not rows.all() else used
    outcome = frame[parsed.outcome]
    if _is_categorical(outcome) and not pd.api.types.is_bool_dtype(outcome.dtype):
        raise ValueError(
            f"the outcome {parsed.outcome!r} must be numeric for a linear mixed model, got "
            f"dtype {outcome.dtype}."
        )
    y = outcome.to_numpy(dtype=np.float64)
    group_columns = {c for r in parsed.random for c in r.group_columns}
    predictors = [v for v in parsed.variables if v != parsed.outcome and v not in group_columns]
    variables = {v: _read_variable(frame[v], v) for v in predictors}
    fixed_names, X = _model_columns(parsed.fixed, parsed.intercept, variables, y.shape[0])
    factors = []
    for group in parsed.groups:
        parts = [r for r in parsed.random if r.group == group]
        codes, levels = _group_codes(frame, parts[0].group_columns)
        factors.append(_random_factor(group, parts, codes, levels, variables))
    return MixedDesign(
        formula=parsed, y=y, X=X, fixed_names=fixed_names, factors=factors, rows=rows
    )
