"""skmice: multilevel multiple imputation by chained equations, for scikit-learn.

The public API, nothing else.
"""

from ._design import make_methods, make_predictor_matrix, quickpred
from ._imputer import MultilevelIterativeImputer
from ._multiple import MultiplyImputedData, multiple_impute
from ._version import __version__
from .pooling import D1, D2, D3, pool, pool_scalar

__all__ = [
    "D1",
    "D2",
    "D3",
    "MultilevelIterativeImputer",
    "MultiplyImputedData",
    "__version__",
    "make_methods",
    "make_predictor_matrix",
    "multiple_impute",
    "pool",
    "pool_scalar",
    "quickpred",
]
