"""From an lme4-style analysis formula to a congenial imputation model.

The imputation model should contain everything the analysis model contains
(its outcome, fixed effects, interactions, random slopes and the cluster),
or the imputations attenuate what the analysis looks for (Meng, 1994:
*congeniality*). :func:`predictor_matrix_from_formula` reads a formula such
as ``"popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)"`` and
proposes the predictor matrix (mice's codes), the methods, the data (with
product columns for interactions) and notes explaining each choice.

The formula is parsed by a small hand-written parser (no patsy or formulaic
needed): terms separated by ``+`` (``- term`` removes one), interactions
``a:b`` and ``a*b`` (``a + b + a:b``), ``0``/``1``/``-1`` for the intercept,
random parts ``(1 + x | g)`` and ``(x || g)`` with a single grouping factor,
and ``factor(x)``, ``C(x)``, ``as.factor(x)`` read as ``x``. Formulas with
several grouping factors (``(1 | school/class)``, ``(1 | school) + (1 |
neighbourhood)``) are read by :func:`skmice.mixed.parse_mixed_formula` and
turned into an imputation model by :mod:`skmice._formula_levels`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._data import encode

__all__ = ["FormulaDesign", "ParsedFormula", "parse_formula", "predictor_matrix_from_formula"]

_TOKEN = re.compile(
    r"\s*(?:(?P<name>`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)|(?P<num>\d+(?:\.\d*)?)"
    r"|(?P<op>\|\||[~+\-:*|()^/]))"
)
_TRANSPARENT = {"factor", "C", "as.factor", "ordered", "as.ordered", "as.numeric"}


@dataclass(frozen=True)
class ParsedFormula:
    """The parts of an lme4-style formula.

    Attributes
    ----------
    outcome : str
        Left-hand side.
    intercept : bool
        Whether the fixed part has an intercept.
    fixed : tuple of tuple of str
        Fixed terms; a main effect is a 1-tuple, ``a:b`` is ``("a", "b")``.
    random : tuple of tuple of str
        Terms with a random slope (over ``cluster``).
    random_intercept : bool
        Whether there is a random intercept.
    cluster : str or None
        The grouping factor (None for a single-level formula).
    correlated : bool
        False when the random part was written with ``||``.
    """

    outcome: str
    intercept: bool = True
    fixed: tuple = ()
    random: tuple = ()
    random_intercept: bool = False
    cluster: str | None = None
    correlated: bool = True

    @property
    def variables(self) -> list:
        """Every variable of the right-hand side, in order (cluster excluded)."""
        out: list = []
        for term in (*self.fixed, *self.random):
            for v in term:
                if v not in out:
                    out.append(v)
        return out

    @property
    def random_variables(self) -> list:
        """Variables with a random slope (main-effect random terms)."""
        return [t[0] for t in self.random if len(t) == 1]


class _Parser:
    """Recursive-descent parser over a token list."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list:
        tokens = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(
                    f"formula: cannot read {text[pos:].strip()[:20]!r} in {self.text!r}."
                )
            pos = m.end()
            if m.group("name"):
                tokens.append(("name", m.group("name").strip("`")))
            elif m.group("num"):
                tokens.append(("num", m.group("num")))
            else:
                tokens.append(("op", m.group("op")))
        return tokens

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            want = value or kind or "more"
            got = tok[1] if tok[0] else "the end"
            raise ValueError(f"formula: expected {want!r}, found {got!r} in {self.text!r}.")
        self.pos += 1
        return tok

    def error(self, msg: str):
        raise ValueError(f"formula: {msg} in {self.text!r}.")

    # rhs := ['-'] part (('+' | '-') part)*
    def rhs(self, stop=()):
        """Parse terms until a token in ``stop``; returns (terms, intercept, randoms)."""
        terms: list = []
        removed: list = []
        intercept = None
        randoms: list = []
        sign = "+"
        if self.peek() == ("op", "-"):
            self.take()
            sign = "-"
        while True:
            kind, val = self.peek()
            if kind is None or (kind == "op" and val in stop):
                self.error("a term is missing")
            if kind == "num":
                self.take()
                if val not in ("0", "1"):
                    self.error(f"the number {val} is not a term (only 0 and 1 are)")
                has = (val == "1") == (sign == "+")
                intercept = has
            elif (kind, val) == ("op", "(") and self._is_random():
                if sign == "-":
                    self.error("a random part cannot be removed with '-'")
                randoms.append(self.random_part())
            else:
                target = removed if sign == "-" else terms
                target.extend(self.product())
            kind, val = self.peek()
            if kind is None or (kind == "op" and val in stop):
                break
            if (kind, val) not in (("op", "+"), ("op", "-")):
                self.error(f"unexpected {val!r}")
            self.take()
            sign = val
        keys = {frozenset(t) for t in removed}
        terms = [t for t in terms if frozenset(t) not in keys]
        return _unique_terms(terms), intercept, randoms

    def _is_random(self) -> bool:
        depth = 0
        for kind, val in self.tokens[self.pos :]:
            if kind != "op":
                continue
            if val == "(":
                depth += 1
            elif val == ")":
                depth -= 1
                if depth == 0:
                    return False
            elif val in ("|", "||") and depth == 1:
                return True
        return False

    def random_part(self):
        self.take("op", "(")
        terms, intercept, randoms = self.rhs(stop=("|", "||"))
        if randoms:
            self.error("random parts cannot be nested")
        _, bar = self.take("op")
        group = self.grouping()
        self.take("op", ")")
        return terms, True if intercept is None else intercept, group, bar == "|"

    def grouping(self):
        """The grouping expression after ``|``: one factor name here."""
        _, group = self.take("name")
        if self.peek() in (("op", "/"), ("op", ":")):
            self.error(
                f"nested grouping ({group}/...) is not read by parse_formula, which reads one "
                "grouping factor (predictor_matrix_from_formula reads several)"
            )
        return group

    # product := factor (('*' | ':') factor)*
    def product(self):
        operands = [[self.factor()]]
        while self.peek() in (("op", ":"), ("op", "*")):
            _, op = self.take()
            nxt = self.factor()
            if op == ":":
                operands[-1].append(nxt)
            else:
                operands.append([nxt])
        if self.peek() == ("op", "^"):
            self.error("'^' is not supported: write the interactions out")
        blocks = [tuple(_flat(o)) for o in operands]
        if len(blocks) == 1:
            return [blocks[0]]
        out = []
        for r in range(1, len(blocks) + 1):
            for combo in itertools.combinations(blocks, r):
                out.append(tuple(_flat(combo)))
        return out

    def factor(self):
        kind, val = self.peek()
        if kind != "name":
            if (kind, val) == ("op", "("):
                self.error("parentheses are only supported for random parts (x | g)")
            self.take("name")
        self.take()
        if self.peek() == ("op", "("):
            if val not in _TRANSPARENT:
                self.error(
                    f"the function {val}() is not supported: add the transformed column to the "
                    "data and use its name"
                )
            self.take()
            _, inner = self.take("name")
            self.take("op", ")")
            return inner
        return val


def _flat(items) -> list:
    out: list = []
    for it in items:
        for v in [it] if isinstance(it, str) else _flat(it):
            if v not in out:
                out.append(v)
    return out


def _unique_terms(terms) -> tuple:
    seen: set = set()
    out = []
    for t in terms:
        key = frozenset(t)
        if key not in seen:
            seen.add(key)
            out.append(tuple(t))
    return tuple(out)


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    formula : str
        ``"y ~ terms + (random | cluster)"``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    ValueError
        Syntax errors, unsupported constructs (function calls other than
        ``factor``/``C``, nested grouping, ``^``, grouping parentheses),
        random parts over different grouping factors.

    Examples
    --------
    >>> from skmice._formula import parse_formula
    >>> f = parse_formula("popular ~ 1 + sex * texp + (1 + sex | school)")
    >>> f.outcome, f.fixed, f.random, f.cluster
    ('popular', (('sex',), ('texp',), ('sex', 'texp')), (('sex',),), 'school')
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}.")
    p = _Parser(formula)
    _, outcome = p.take("name")
    if p.peek() == ("op", "("):
        p.error("the outcome must be a column name")
    p.take("op", "~")
    terms, intercept, randoms = p.rhs()
    if p.peek()[0] is not None:
        p.error(f"unexpected {p.peek()[1]!r}")
    groups = {r[2] for r in randoms}
    if len(groups) > 1:
        raise ValueError(
            f"formula: random parts over several grouping factors {sorted(groups)}: "
            "parse_formula reads one (predictor_matrix_from_formula and "
            "skmice.mixed.parse_mixed_formula read several)."
        )
    rterms: list = []
    rint = False
    for t, i, _, _ in randoms:
        rterms.extend(t)
        rint = rint or i
    cluster = randoms[0][2] if randoms else None
    for term in (*terms, *rterms):
        if outcome in term:
            raise ValueError(f"formula: the outcome {outcome!r} also appears on the right.")
        if cluster in term:
            raise ValueError(
                f"formula: the grouping factor {cluster!r} cannot also be a fixed or random term."
            )
    return ParsedFormula(
        outcome=outcome,
        intercept=True if intercept is None else intercept,
        fixed=tuple(terms),
        random=_unique_terms(rterms),
        random_intercept=rint,
        cluster=cluster,
        correlated=all(r[3] for r in randoms),
    )


# --------------------------------------------------------------------------- #
# Predictor matrix from a formula
# --------------------------------------------------------------------------- #
@dataclass
class FormulaDesign:
    """What :func:`predictor_matrix_from_formula` proposes.

    Attributes
    ----------
    predictor_matrix : DataFrame of int
        Rows: targets, columns: predictors, over the columns of ``data``.
    methods : dict
        Column -> method name (``""``: not imputed).
    data : DataFrame
        The input data plus the product columns for interactions.
    notes : list of str
        One sentence per decision a user should know about.
    formula : ParsedFormula or MixedFormula
        The parsed analysis model (a
        :class:`~skmice.mixed.MixedFormula` with several grouping factors).
    cluster : str, list or None
        The cluster column (the formula's grouping factor); with several
        grouping factors, the list of their columns, lowest level first (the
        factor with the most units first), ready for
        ``MultilevelIterativeImputer(cluster=...)``.
    random_slopes : dict or None
        With several grouping factors: the outcome's random slopes,
        ``{grouping column: [predictors]}`` (also set on the outcome's
        method); None otherwise.
    """

    predictor_matrix: pd.DataFrame
    methods: dict
    data: pd.DataFrame
    notes: list = field(default_factory=list)
    formula: ParsedFormula | None = None
    cluster: str | list | None = None
    random_slopes: dict | None = None

    def __repr__(self) -> str:
        notes = "\n".join(f"  - {n}" for n in self.notes)
        return (
            f"FormulaDesign(cluster={self.cluster!r}, methods={self.methods!r})\n"
            f"{self.predictor_matrix.to_string()}\nnotes:\n{notes}"
        )


def _numeric_parts(series: pd.Series, name) -> list:
    """(label, float values) per numeric column a variable contributes to a product."""
    enc = encode(series.to_frame(name))
    info = enc.infos[0]
    col = enc.values[:, 0]
    if info.storage == "numeric":
        return [(str(name), col)]
    if info.n_categories == 2 and info.storage == "boolean":
        return [(str(name), col)]
    out = []
    for code in range(1, info.n_categories):
        out.append((f"{name}{info.categories[code]}", np.where(np.isnan(col), np.nan, col == code)))
    return out


def _check_cols(names, columns, what) -> list:
    if names is None:
        return []
    if isinstance(names, str) or not np.iterable(names):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ValueError(f"{what}: {unknown} are not columns of X.")
    return names


def _product_columns(data, terms, incomplete, jav, separator, notes):
    """Add the product columns of the interactions among ``terms`` to ``data``.

    Returns the product columns and, per interaction (a frozenset of its
    variables), the names of its columns. An interaction with an incomplete
    variable is added (and marked incomplete) only with ``jav``; otherwise a
    note explains why not.
    """
    product_cols: list = []
    product_of: dict = {}
    for term in terms:
        key = frozenset(term)
        if len(term) < 2 or key in product_of:
            continue
        product_of[key] = []
        inc = [v for v in term if v in incomplete]
        if inc and not jav:
            notes.append(
                f"Interaction {':'.join(term)} involves incomplete {inc}: skmice has no passive "
                "imputation. Recommended: just another variable (JAV) -- add the product column "
                "and impute it like any variable (jav=True does this). Imputing the components "
                "without their product biases the interaction towards zero; JAV keeps the "
                "imputation model congenial with the analysis model and is unbiased under MCAR "
                "for linear models (von Hippel, 2009; Seaman, Bartlett and White, 2012), "
                "whereas products recomputed from imputed components are not."
            )
            continue
        parts = [_numeric_parts(data[v], v) for v in term]
        for combo in itertools.product(*parts):
            name = separator.join(label for label, _ in combo)
            values = np.prod(np.column_stack([v for _, v in combo]), axis=1)
            if name in data.columns:
                notes.append(f"Column {name!r} already exists: used as the product {term}.")
            else:
                data[name] = values
                kind = "incomplete, imputed as just another variable" if inc else "complete"
                notes.append(f"Added {name} = {' * '.join(lab for lab, _ in combo)} ({kind}).")
            product_cols.append(name)
            product_of[key].append(name)
            if inc:
                incomplete.add(name)
    return product_cols, product_of


def predictor_matrix_from_formula(
    formula: str,
    X: pd.DataFrame,
    auxiliary=None,
    exclusion=None,
    cluster_means: bool = False,
    jav: bool = False,
    separator: str = "_",
) -> FormulaDesign:
    """Propose a predictor matrix congenial with an lme4-style analysis model.

    Rules (codes as in :func:`~skmice.make_predictor_matrix`):

    - The *outcome*'s row uses every formula term: the grouping factor -2,
      variables with a random slope 2, other variables 1, product columns
      for interactions 1, ``auxiliary`` columns 1 and ``exclusion``
      columns -3 (selection equation only, for ``"2l.heckman"``).
    - Every other incomplete variable of the formula (or of ``auxiliary``)
      gets a row with the outcome and the other terms: the outcome 2 when
      the target has a random slope in the analysis model (its relation
      with the outcome varies across clusters: the "reversed" random
      coefficient), else 1; the rest 1; the grouping factor -2.
    - A variable constant within clusters (cluster level) is a fixed
      predictor 1 (never 2: it cannot have a random slope) and, as a
      target, gets a cluster-level method (``"2lonly.pmm"``).
    - Interactions: skmice has no passive imputation. An interaction of
      complete variables becomes a complete product column (``sex_texp``)
      added to ``data`` and used as a predictor. An interaction with an
      incomplete variable is reported in ``notes``; with ``jav=True`` its
      product column is added incomplete and imputed as just another
      variable.
    - ``cluster_means=True`` adds the cluster means of unit-level
      predictors (codes 3 and 4 instead of 1 and 2): the imputation model
      then allows different within- and between-cluster relations.
    - Several grouping factors, as lme4 writes them: ``(1 | school/class)``
      (nested: ``school`` and ``class:school``, the latter added to ``data``
      as a column of unit ids), ``(1 | class) + (1 | school)``, crossed
      ``(1 + x | school) + (1 | neighbourhood)``. ``cluster`` is then the
      list of grouping columns, lowest level first (most units first);
      predictors with a random slope at some level get code 2, and
      ``random_slopes`` (``{"school": ["x"]}``) is set on the outcome's
      method, ``ml.pmm``; variables constant within the units of a level get
      ``"2lonly.pmm"`` at that level and no random slope over it. The
      pieces plug straight into :class:`~skmice.MultilevelIterativeImputer`
      (``cluster=d.cluster, predictor_matrix=d.predictor_matrix,
      methods=d.methods`` on ``d.data``).

    Parameters
    ----------
    formula : str
        The analysis model, e.g.
        ``"popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)"``.
    X : DataFrame
        The incomplete data; every name in the formula must be a column.
    auxiliary : list of column labels, optional
        Variables outside the analysis model to use as predictors
        (they make MAR more plausible).
    exclusion : list of column labels, optional
        Exclusion-restriction variables of a selection model: code -3 in the
        outcome's row (they predict whether the outcome is missing, not its
        value).
    cluster_means : bool, default=False
        Use codes 3/4 for unit-level predictors.
    jav : bool, default=False
        Add product columns of interactions with incomplete variables and
        impute them as just another variable.
    separator : str, default="_"
        Joins the names in product columns.

    Returns
    -------
    FormulaDesign
        ``predictor_matrix``, ``methods`` (:func:`~skmice.make_methods` with
        the cluster, restricted to the targets with a row), ``data``,
        ``notes``, ``formula``, ``cluster``.

    Raises
    ------
    ValueError
        Names not in ``X``, a formula the parser does not support.

    See Also
    --------
    skmice.make_predictor_matrix, skmice.quickpred, skmice.make_methods

    Examples
    --------
    >>> from skmice import predictor_matrix_from_formula
    >>> from skmice.datasets import make_popularity
    >>> data = make_popularity(n_schools=10, random_state=0).data.drop(columns="pupil")
    >>> d = predictor_matrix_from_formula(
    ...     "popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)", data)
    >>> d.predictor_matrix.loc["popular"].to_dict()
    {'school': -2, 'popular': 0, 'sex': 2, 'texp': 1, 'teachpop': 0, 'sex_texp': 1}
    >>> d.methods["popular"], "sex_texp" in d.data
    ('2l.pmm', True)

    Several grouping factors:

    >>> from skmice.datasets import make_crossed
    >>> sim = make_crossed(n_schools=10, n_neighbourhoods=8, random_state=0)
    >>> d = predictor_matrix_from_formula("y ~ x + (1 + x | school) + (1 | neighbourhood)",
    ...                                   sim.data)
    >>> d.cluster, d.random_slopes, d.predictor_matrix.loc["y", "x"]
    (['school', 'neighbourhood'], {'school': ['x']}, np.int64(2))
    """
    from ._design import cluster_level_columns, make_methods

    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame (the formula uses names), got {type(X).__name__}.")
    if not isinstance(separator, str) or not separator:
        raise ValueError(f"separator must be a non-empty string, got {separator!r}.")
    mixed = _several_factors(formula)
    if mixed is not None:
        from ._formula_levels import multilevel_formula_design

        return multilevel_formula_design(mixed, X, auxiliary, exclusion, cluster_means, jav,
                                         separator)
    parsed = parse_formula(formula)
    cols = list(X.columns)
    needed = [parsed.outcome, *parsed.variables] + ([parsed.cluster] if parsed.cluster else [])
    missing_names = [v for v in needed if v not in cols]
    if missing_names:
        raise ValueError(f"formula: {missing_names} are not columns of X (columns: {cols}).")
    aux = _check_cols(auxiliary, cols, "auxiliary")
    excl = _check_cols(exclusion, cols, "exclusion")
    cluster = parsed.cluster
    for what, names in (("auxiliary", aux), ("exclusion", excl)):
        bad = [n for n in names if n in (parsed.outcome, cluster)]
        if bad:
            raise ValueError(f"{what}: {bad} is the outcome or the cluster.")
    if cluster is not None and X[cluster].isna().any():
        raise ValueError(f"The grouping factor {cluster!r} has missing values.")

    notes: list = []
    data = X.copy()
    incomplete = set(data.columns[data.isna().any()].tolist())
    level2 = set(cluster_level_columns(data, cluster)) if cluster is not None else set()

    random_vars = set()
    for term in parsed.random:
        if len(term) == 1 and term[0] in level2:
            notes.append(
                f"{term[0]} is constant within {cluster}: it cannot have a random slope; it is "
                "used as a fixed predictor (code 1)."
            )
        elif len(term) == 1:
            random_vars.add(term[0])

    product_cols, product_of = _product_columns(
        data, (*parsed.fixed, *parsed.random), incomplete, jav, separator, notes)
    random_products = {n for t in parsed.random if len(t) > 1
                       for n in product_of.get(frozenset(t), [])}
    if not parsed.intercept:
        notes.append(
            "The analysis model has no intercept; imputation models keep theirs "
            "(a superset of the analysis model is still congenial)."
        )

    out_cols = list(data.columns)
    pm = pd.DataFrame(0, index=out_cols, columns=out_cols, dtype=np.int64)
    formula_vars = [v for v in parsed.variables if v != parsed.outcome]
    predictors = list(dict.fromkeys([*formula_vars, *product_cols, *aux]))

    def code(v, slope: bool) -> int:
        unit = cluster is not None and v not in level2
        if slope and unit:
            return 4 if cluster_means and v not in product_cols else 2
        return 3 if cluster_means and unit and v not in product_cols else 1

    y = parsed.outcome
    for v in predictors:
        pm.loc[y, v] = code(v, v in random_vars or v in random_products)
    for v in excl:
        pm.loc[y, v] = -3
    if cluster is not None:
        pm.loc[y, cluster] = -2

    targets = _target_rows(pm, y, predictors, excl, incomplete, level2, random_vars, code,
                           cluster)
    for t in targets[1:]:
        if t in random_vars:
            notes.append(
                f"{t} has a random slope in the analysis model: in its own imputation model "
                f"the outcome {y} gets a random slope (code 2, the reversed random "
                "coefficient), an approximation to the congenial model."
            )
    for t in excl:
        if t in incomplete:
            notes.append(f"Exclusion variable {t} is incomplete: it is imputed too.")

    methods = make_methods(data, cluster=cluster)
    unused = [c for c, m in methods.items() if m and c not in targets]
    for c in unused:
        methods[c] = ""
    if unused:
        notes.append(
            f"{unused} are incomplete but neither in the formula nor auxiliary: not imputed "
            "(method ''). Add them to auxiliary to impute and use them."
        )
    _method_notes(data, targets, methods, level2, cluster, y, excl, notes)
    return FormulaDesign(
        predictor_matrix=pm,
        methods=methods,
        data=data,
        notes=notes,
        formula=parsed,
        cluster=cluster,
    )


def _target_rows(pm, y, predictors, excl, incomplete, level_specific, with_slope, code,
                 cluster) -> list:
    """Fill the predictor-matrix rows of the incomplete predictors; return the targets.

    A level-specific target takes every other formula variable as a fixed
    predictor; another target takes the outcome with a random slope (code 2)
    when it has one in the analysis model (the reversed random coefficient),
    and the other predictors as ``code(v, False)`` says. The grouping
    column(s) get -2.
    """
    targets = list(dict.fromkeys(
        [y] + [v for v in [*predictors, *excl] if v in incomplete and v != y]))
    for t in targets[1:]:
        for v in [y, *predictors, *excl]:
            if v == t:
                continue
            if t in level_specific:
                pm.loc[t, v] = 1
            elif v == y:
                pm.loc[t, v] = 2 if t in with_slope and y not in level_specific else 1
            else:
                pm.loc[t, v] = code(v, False)
        if cluster is not None:
            pm.loc[t, cluster] = -2
    return targets


def _several_factors(formula):
    """The parsed mixed formula when it has several grouping factors (or a combined one)."""
    if not isinstance(formula, str) or "|" not in formula:
        return None
    from .mixed._model_frame import parse_mixed_formula

    try:
        mixed = parse_mixed_formula(formula)
    except ValueError:
        return None  # parse_formula reports the error in its own terms
    if len(mixed.groups) > 1 or any(r.columns for r in mixed.random):
        return mixed
    return None


def _method_notes(data, targets, methods, level2, cluster, y, excl, notes) -> None:
    """Explain the methods chosen by make_methods and name the alternatives."""
    from .methods import registered_methods

    known = registered_methods()
    enc = encode(data[targets])
    for name, info in zip(enc.columns, enc.infos):
        m = methods.get(name, "")
        if not m:
            continue
        if name in level2:
            notes.append(f"{name} is constant within {cluster}: cluster-level method {m!r}.")
        elif (
            cluster is not None
            and info.kind == "binary"
            and m != "2l.bin"
            and not (name == y and excl)
        ):
            state = "registered" if "2l.bin" in known else "when available"
            notes.append(
                f"{name} is binary: {m!r} imputes observed categories; the two-level "
                f"logistic model '2l.bin' ({state}) is the model-based alternative."
            )
    if excl:
        state = "registered" if "2l.heckman" in known else "when available"
        notes.append(
            f"{y}: the exclusion variables {excl} (code -3) only matter to a selection model: "
            f"set methods[{y!r}] = '2l.heckman' ({state}) to allow missingness not at random; "
            "other methods ignore code -3."
        )
