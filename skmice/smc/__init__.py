"""Substantive-model-compatible multilevel imputation.

:class:`SubstantiveModelImputer` imputes from the joint model implied by an
analysis model (random slopes on incomplete predictors, cross-level
interactions, squares), as a scikit-learn transformer; run m chains of it
with :func:`skmice.multiple_impute`. :func:`parameter_rhat` gives the R-hat
of every parameter over the chains.
"""

from ._diagnostics import parameter_rhat
from ._imputer import SubstantiveModelImputer

__all__ = ["SubstantiveModelImputer", "parameter_rhat"]
