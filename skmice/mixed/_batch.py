"""One mixed model fitted to many datasets (the m completed datasets of an imputation).

When the datasets differ only in the outcome (the usual case when only the
outcome was imputed), the design is built once and the sufficient
statistics of all m outcomes are computed in one pass over the rows; only
the small optimisations over theta remain per dataset. Datasets whose
predictors differ get their own design. The fits run in parallel with
joblib when ``n_jobs`` asks for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .._blas import single_threaded_blas
from ._lmer import _check_reml, design_statistics, results_from
from ._model_frame import MixedDesign, build_design, parse_mixed_formula
from ._results import LmerResults
from ._sufficient import SufficientStatistics

__all__ = ["lmer_each"]


def _shared_outcome(data, first_data: pd.DataFrame, design: MixedDesign, predictors: list,
                    complete: np.ndarray):
    """The outcome of ``data`` on ``design``'s rows if only the outcome differs, else None.

    ``predictors`` are the formula's other columns and ``complete`` marks the
    rows where they are all observed (in ``first_data``).
    """
    outcome = design.formula.outcome
    if not isinstance(data, pd.DataFrame) or outcome not in data.columns:
        return None
    try:
        if not data[predictors].equals(first_data[predictors]):
            return None
    except KeyError:
        return None
    column = data[outcome]
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
        column.dtype
    ):
        return None
    y = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.array_equal(complete & ~np.isnan(y), design.rows):
        return None
    return y[design.rows]


def _fit_shared(stats: SufficientStatistics, design: MixedDesign, reml: bool) -> LmerResults:
    with single_threaded_blas():
        return results_from(stats, design, reml)


def _fit_own(data, parsed, reml: bool) -> LmerResults:
    design = build_design(parsed, data)
    with single_threaded_blas():
        return results_from(design_statistics(design), design, reml)


def lmer_each(formula: str, datasets, reml: bool = True, n_jobs: int | None = None) -> list:
    """Fit the same :func:`~skmice.mixed.lmer` model to each of several datasets.

    Parameters
    ----------
    formula : str
        lme4-style formula (see :func:`~skmice.mixed.lmer`).
    datasets : iterable of DataFrame
        For instance the m completed datasets of a multiple imputation.
    reml : bool, default=True
        REML or maximum likelihood.
    n_jobs : int, optional
        Fits run in parallel with joblib (None = 1 unless inside a
        ``joblib.parallel_backend`` context; -1 = all cores).

    Returns
    -------
    list of LmerResults
        In dataset order; the same results as fitting each dataset alone.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.datasets import make_popularity
    >>> from skmice.mixed import lmer_each
    >>> data = make_popularity(n_schools=30, random_state=0).complete
    >>> rng = np.random.default_rng(0)
    >>> datasets = [data.assign(popular=data["popular"] + rng.normal(0, 0.1, len(data)))
    ...             for _ in range(3)]
    >>> fits = lmer_each("popular ~ sex + texp + (1 | school)", datasets)
    >>> len(fits), [round(float(f.params["sex"]), 3) for f in fits]
    (3, [0.962, 0.95, 0.957])
    """
    reml = _check_reml(reml)
    parsed = parse_mixed_formula(formula)
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets is empty: give at least one DataFrame.")
    first_data = datasets[0]
    first = build_design(parsed, first_data)
    predictors = [v for v in parsed.variables if v != parsed.outcome]
    complete = first_data[predictors].notna().all(axis=1).to_numpy()
    shared, outcomes, own = [0], [first.y], []
    for i, data in enumerate(datasets[1:], start=1):
        y = _shared_outcome(data, first_data, first, predictors, complete)
        if y is None:
            own.append(i)
        else:
            shared.append(i)
            outcomes.append(y)
    with single_threaded_blas():
        stats = design_statistics(first, np.column_stack(outcomes))
    tasks = {i: delayed(_fit_shared)(stats.response(k), first, reml) for k, i in enumerate(shared)}
    tasks.update({i: delayed(_fit_own)(datasets[i], parsed, reml) for i in own})
    return list(Parallel(n_jobs=n_jobs)(tasks[i] for i in range(len(datasets))))
