"""Conditional imputation methods: one target column given a design.

Each method is a :class:`ConditionalMethod`; R mice's names are registered
as aliases (``get_method("pmm")``), and users can register their own with
:func:`register_method`.
"""

from ._base import ConditionalMethod, Design, get_method, register_method, registered_methods
from ._categorical import Logistic, Multinomial
from ._cluster_level import ClusterMean, ClusterNormal, ClusterPMM
from ._estimator import EstimatorMethod
from ._linear import BayesianNormal, PredictiveMeanMatching
from ._twolevel import TwoLevelHeteroscedastic, TwoLevelNormal, TwoLevelPMM

__all__ = [
    "BayesianNormal",
    "ClusterMean",
    "ClusterNormal",
    "ClusterPMM",
    "ConditionalMethod",
    "Design",
    "EstimatorMethod",
    "Logistic",
    "Multinomial",
    "PredictiveMeanMatching",
    "TwoLevelHeteroscedastic",
    "TwoLevelNormal",
    "TwoLevelPMM",
    "get_method",
    "register_method",
    "registered_methods",
]
