"""The analysis model of a substantive-model-compatible imputation, read from a formula.

A formula such as ``"popular ~ sex * texp + I(texp^2) + (1 + sex | school)"``
gives the outcome, one grouping factor and two lists of terms: the fixed
terms and the terms with a random coefficient. A term is a tuple of column
names whose product is the term's column (the intercept is the empty tuple;
a square repeats its variable), so interactions and squares are always
computed from the current values of their variables, never imputed as
variables of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..mixed._model_frame import parse_mixed_formula

__all__ = ["AnalysisSpec", "parse_analysis_model", "term_label"]

_SQUARE = re.compile(r"I\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)\s*\^\s*2\s*\)")


@dataclass(frozen=True)
class AnalysisSpec:
    """The parsed analysis model.

    Attributes
    ----------
    formula : str
        The formula as written.
    outcome : str
        The outcome column.
    group : str
        The grouping column of the random part.
    fixed : tuple of tuple of str
        Fixed terms; ``()`` is the intercept.
    random : tuple of tuple of str
        Terms with a random coefficient over ``group``; ``()`` is the
        random intercept.
    """

    formula: str
    outcome: str
    group: str
    fixed: tuple
    random: tuple

    @property
    def predictors(self) -> list:
        """The columns the terms read, in order of first appearance."""
        names = [v for t in (*self.fixed, *self.random) for v in t]
        return list(dict.fromkeys(names))


def _unsquare(term: tuple, squares: dict) -> tuple:
    out = []
    for name in term:
        out.extend(squares.get(name, (name,)))
    return tuple(out)


def parse_analysis_model(formula) -> AnalysisSpec:
    """Read an lme4-style formula with one grouping factor.

    ``I(x^2)`` is the square of ``x``; ``x:z`` and ``x * z`` are
    interactions. The random part must have one grouping factor and
    correlated effects (``|``).

    Parameters
    ----------
    formula : str

    Returns
    -------
    AnalysisSpec

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        For syntax errors, a formula without a random part, several grouping
        factors or ``||``.

    Examples
    --------
    >>> from skmice.smc._spec import parse_analysis_model
    >>> s = parse_analysis_model("y ~ x * w + I(x^2) + (1 + x | g)")
    >>> s.fixed, s.random
    (((), ('x',), ('w',), ('x', 'x'), ('x', 'w')), ((), ('x',)))
    """
    if not isinstance(formula, str):
        raise TypeError(f"model must be a formula string, got {type(formula).__name__}.")
    squares = {}

    def square(m):
        name = m.group(1).strip("`")
        key = f"I({name}^2)"
        squares[key] = (name, name)
        return f"`{key}`"

    parsed = parse_mixed_formula(_SQUARE.sub(square, formula))
    groups = parsed.groups
    if len(groups) != 1:
        raise ValueError(
            f"model {formula!r}: random parts over {len(groups)} grouping factors {groups}; "
            "the substantive-model-compatible imputer takes one grouping factor."
        )
    part = parsed.random[0]
    if not part.correlated:
        raise ValueError(
            f"model {formula!r}: uncorrelated random effects ('||') are not supported; "
            "write (1 + x | g)."
        )
    fixed = ((),) * parsed.intercept + tuple(_unsquare(t, squares) for t in parsed.fixed)
    random = ((),) * part.intercept + tuple(_unsquare(t, squares) for t in part.terms)
    if not random:
        raise ValueError(f"model {formula!r}: the random part has no effect.")
    return AnalysisSpec(
        formula=formula, outcome=parsed.outcome, group=groups[0], fixed=fixed, random=random
    )


def term_label(term: tuple) -> str:
    """lme4's name of a term: ``(Intercept)``, ``x``, ``x:w``, ``I(x^2)``."""
    if not term:
        return "(Intercept)"
    parts, k = [], 0
    while k < len(term):
        n = 1
        while k + n < len(term) and term[k + n] == term[k]:
            n += 1
        parts.append(term[k] if n == 1 else f"I({term[k]}^{n})")
        k += n
    return ":".join(parts)
