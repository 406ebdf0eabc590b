"""Linear mixed models for the analysis of (multiply imputed) multilevel data.

:func:`lmer` fits ``lme4::lmer`` models written in lme4's formula syntax
(random intercepts and slopes with an unstructured covariance over one or
several grouping factors, nested or crossed, REML or ML), vectorised over the
clusters from per-cluster sufficient statistics; :func:`lmer_each` fits one model to many datasets,
sharing the design when only the outcome differs
(``MultiplyImputedData.analyze_mixed`` uses it). The results
(:class:`LmerResults`) are pooled by :mod:`skmice.analysis` like statsmodels
results.

The layers, one module each: the formula and its design matrices
(:func:`parse_mixed_formula`, :func:`build_design`), the sufficient
statistics (:func:`sufficient_statistics`), the relative covariance factor
(:class:`ThetaLayout`), the profiled deviance (:func:`profiled_deviance`),
its optimisation (:func:`fit_lmm_statistics`) and the labelled results.

One factor makes lme4's Cholesky factor block diagonal (one small block per
cluster). With several factors (nested or crossed) the factor with the most
levels keeps that structure and the others are reached through a Schur
complement, dense within each connected component of the levels (per school
for nested factors, one block for crossed ones: ``_multi_stats``,
``_multi_deviance``), behind the same results.
"""

from ._batch import lmer_each
from ._deviance import profiled_deviance
from ._fit import LmmSolution, fit_lmm_statistics
from ._lmer import lmer
from ._model_frame import (
    MixedDesign,
    MixedFormula,
    RandomFactor,
    build_design,
    parse_mixed_formula,
)
from ._results import LmerResults
from ._sufficient import SufficientStatistics, sufficient_statistics
from ._theta import ThetaLayout

__all__ = [
    "LmerResults",
    "LmmSolution",
    "MixedDesign",
    "MixedFormula",
    "RandomFactor",
    "SufficientStatistics",
    "ThetaLayout",
    "build_design",
    "fit_lmm_statistics",
    "lmer",
    "lmer_each",
    "parse_mixed_formula",
    "profiled_deviance",
    "sufficient_statistics",
]
