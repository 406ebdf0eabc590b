"""skmice: multilevel multiple imputation by chained equations, for scikit-learn.

The public API, nothing else.
"""

from ._design import make_methods, make_predictor_matrix, quickpred
from ._formula import predictor_matrix_from_formula
from ._imputer import MultilevelIterativeImputer
from ._multiple import MultiplyImputedData, multiple_impute
from ._version import __version__
from .amputation import ampute, multilevel_ampute
from .pipeline import (
    MultipleImputationPipeline,
    ProgressEvent,
    StatsmodelsClassifier,
    StatsmodelsRegressor,
)
from .pooling import D1, D2, D3, pool, pool_scalar
from .smc import SubstantiveModelImputer

__all__ = [
    "D1",
    "D2",
    "D3",
    "MultilevelIterativeImputer",
    "MultipleImputationPipeline",
    "MultiplyImputedData",
    "ProgressEvent",
    "StatsmodelsClassifier",
    "StatsmodelsRegressor",
    "SubstantiveModelImputer",
    "__version__",
    "ampute",
    "make_methods",
    "make_predictor_matrix",
    "multilevel_ampute",
    "multiple_impute",
    "pool",
    "pool_scalar",
    "predictor_matrix_from_formula",
    "quickpred",
]
