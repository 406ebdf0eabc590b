"""Multiple imputation inside scikit-learn: the chains, the meta-estimator, the adapters.

- ``_chains``: the m imputation chains: a seed each, run side by side with
  joblib (any backend, Dask included), one BLAS thread per chain. Used by
  :func:`skmice.multiple_impute` and by the pipeline.
- ``_progress``: progress events for a user ``callback``, and the progress bar.
- ``_estimator``: :class:`~skmice.MultipleImputationPipeline`, m (imputer,
  estimator) pairs with pooled predictions and coefficients.
- ``_target``: the outcome as an imputation column (``include_target``).
- ``_statsmodels``: :class:`~skmice.StatsmodelsRegressor` and
  :class:`~skmice.StatsmodelsClassifier`, statsmodels fits as scikit-learn
  estimators, for Rubin's rules on the pipeline's coefficients.

Every public name here is also in the main ``skmice`` namespace.
"""

from ._estimator import MultipleImputationPipeline
from ._progress import ProgressEvent
from ._statsmodels import StatsmodelsClassifier, StatsmodelsRegressor

__all__ = [
    "MultipleImputationPipeline",
    "ProgressEvent",
    "StatsmodelsClassifier",
    "StatsmodelsRegressor",
]
