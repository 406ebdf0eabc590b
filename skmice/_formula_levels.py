"""lme4 formulas with several grouping factors, as an imputation model.

``(1 | school/class)``, ``(1 | class) + (1 | school)`` and ``(1 + x | school)
+ (1 | neighbourhood)`` become what :class:`~skmice.MultilevelIterativeImputer`
takes: the grouping columns lowest level first (a combined factor such as
lme4's ``class:school`` added to the data as a column of unit ids), the
predictor matrix (code 2 for predictors with a random slope at some level),
the default multilevel methods, and the random slopes per level by predictor
name (``{"school": ["x"]}``), set on the outcome's ``ml.pmm``. Called by
:func:`skmice.predictor_matrix_from_formula`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._formula import (
    FormulaDesign,
    _check_cols,
    _method_notes,
    _product_columns,
    _target_rows,
)

__all__ = ["multilevel_formula_design"]


def _factor_columns(mixed, data: pd.DataFrame, notes: list) -> dict:
    """Grouping factor -> its column in ``data`` (combined factors added as unit ids)."""
    out = {}
    for part in mixed.random:
        if part.group in out:
            continue
        columns = list(part.group_columns)
        absent = [c for c in columns if c not in data.columns]
        if absent:
            raise ValueError(f"formula: {absent} are not columns of X (columns: "
                             f"{list(data.columns)}).")
        for c in columns:
            if data[c].isna().any():
                raise ValueError(f"The grouping factor {c!r} has missing values.")
        if len(columns) == 1:
            out[part.group] = columns[0]
            continue
        if part.group not in data.columns:
            data[part.group] = data.groupby(columns, sort=False).ngroup().to_numpy()
            notes.append(f"Added {part.group}: one unit per combination of {columns} (lme4's "
                         f"{part.group}).")
        out[part.group] = part.group
    return out


def _constant_within(data: pd.DataFrame, variable, column) -> bool:
    """Whether ``variable`` is constant within the units of ``column`` (where observed)."""
    from ._design import cluster_level_columns

    return cluster_level_columns(data[[column, variable]], column) == [variable]


def multilevel_formula_design(mixed, X, auxiliary, exclusion, cluster_means, jav,
                              separator) -> FormulaDesign:
    """The imputation model of a formula with several grouping factors.

    Parameters are those of :func:`skmice.predictor_matrix_from_formula`,
    with ``mixed`` the formula as parsed by
    :func:`skmice.mixed.parse_mixed_formula`.

    Returns
    -------
    FormulaDesign
        ``cluster`` is the list of grouping columns, lowest level first;
        ``random_slopes`` the outcome's slopes by level.
    """
    from ._design import make_methods, variable_levels
    from .methods import MultilevelPMM

    notes: list = []
    data = X.copy()
    cols = list(X.columns)
    factors = _factor_columns(mixed, data, notes)
    y = mixed.outcome
    fixed_vars = list(dict.fromkeys(v for t in mixed.fixed for v in t))
    random_vars = list(dict.fromkeys(v for r in mixed.random for t in r.terms for v in t))
    absent = [v for v in [y, *fixed_vars, *random_vars] if v not in cols]
    if absent:
        raise ValueError(f"formula: {absent} are not columns of X (columns: {cols}).")
    aux = _check_cols(auxiliary, cols, "auxiliary")
    excl = _check_cols(exclusion, cols, "exclusion")
    cluster_cols = set(factors.values())
    for what, names in (("auxiliary", aux), ("exclusion", excl)):
        bad = [n for n in names if n == y or n in cluster_cols]
        if bad:
            raise ValueError(f"{what}: {bad} is the outcome or a grouping factor.")
    # lowest level first: the factor with the most units (stable for ties)
    n_units = {g: data[c].nunique() for g, c in factors.items()}
    order = sorted(factors, key=lambda g: -n_units[g])
    cluster = [factors[g] for g in order]

    incomplete = set(data.columns[data.isna().any()].tolist())
    product_cols, product_of = _product_columns(
        data, (*mixed.fixed, *(t for r in mixed.random for t in r.terms)), incomplete, jav,
        separator, notes)
    at = variable_levels(data, cluster)  # level-specific columns -> their level

    slopes: dict = {}  # grouping column -> predictors with a random slope there
    for part in mixed.random:
        column = factors[part.group]
        for term in part.terms:
            names = [term[0]] if len(term) == 1 else product_of.get(frozenset(term), [])
            for v in names:
                if v in data and _constant_within(data, v, column):
                    notes.append(f"{v} is constant within {column}: it cannot have a random "
                                 f"slope over {column}; it is a fixed predictor there.")
                    continue
                slopes.setdefault(column, [])
                if v not in slopes[column]:
                    slopes[column].append(v)
        if not part.correlated:
            notes.append(f"The random effects over {column} are uncorrelated (||) in the "
                         "analysis model; the imputation model lets them correlate (a "
                         "superset, still congenial).")
    with_slope = {v for vs in slopes.values() for v in vs}
    if not mixed.intercept:
        notes.append("The analysis model has no intercept; imputation models keep theirs "
                     "(a superset of the analysis model is still congenial).")

    out_cols = list(data.columns)
    pm = pd.DataFrame(0, index=out_cols, columns=out_cols, dtype=np.int64)
    predictors = list(dict.fromkeys(
        [v for v in [*fixed_vars, *random_vars] if v != y] + product_cols + aux))

    def code(v, slope: bool) -> int:
        unit = v not in at and v not in product_cols
        if slope:
            return 4 if cluster_means and unit else 2
        return 3 if cluster_means and unit else 1

    for v in predictors:
        pm.loc[y, v] = code(v, v in with_slope)
    for v in excl:
        pm.loc[y, v] = -3
    pm.loc[y, cluster] = -2
    targets = _target_rows(pm, y, predictors, excl, incomplete, at, with_slope, code, cluster)
    target_slopes = {}
    for t in targets[1:]:
        if t in with_slope and t not in at and y not in at:
            target_slopes[t] = {c: [y] for c, vs in slopes.items() if t in vs}
            notes.append(f"{t} has a random slope in the analysis model: in its own imputation "
                         f"model the outcome {y} gets a random slope at the same levels (the "
                         "reversed random coefficient), an approximation to the congenial "
                         "model.")

    methods = make_methods(data, cluster=cluster)
    unused = [c for c, m in methods.items() if m and c not in targets]
    for c in unused:
        methods[c] = ""
    if unused:
        notes.append(f"{unused} are incomplete but neither in the formula nor auxiliary: not "
                     "imputed (method ''). Add them to auxiliary to impute and use them.")
    for t, spec in [(y, slopes), *target_slopes.items()]:
        if not spec:
            continue
        if methods.get(t) == "ml.pmm":
            methods[t] = MultilevelPMM(random_slopes=spec)
        else:
            notes.append(f"{t}: method {methods.get(t)!r} takes no random slopes by level; "
                         f"the analysis model has {spec}.")
    for v, level in at.items():
        if v in targets:
            notes.append(f"{v} is constant within {level}: imputed at that level "
                         f"({methods.get(v)!r}).")
    names = ", ".join(f"{c} ({n_units[g]} units)" for g, c in zip(order, cluster))
    notes.append(f"Grouping levels, lowest first: {names}.")
    if excl:  # the note on exclusion variables
        _method_notes(data, [y], {}, set(), cluster, y, excl, notes)
    return FormulaDesign(predictor_matrix=pm, methods=methods, data=data, notes=notes,
                         formula=mixed, cluster=cluster, random_slopes=slopes or None)
