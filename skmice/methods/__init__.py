"""Conditional imputation methods: one target column given a design.

Each method is a :class:`ConditionalMethod`; R mice's names are registered
as aliases (``get_method("pmm")``), and users can register their own with
:func:`register_method`.
"""

from ._base import (
    ConditionalMethod,
    Design,
    Level,
    get_method,
    register_method,
    registered_methods,
)
from ._categorical import Logistic, Multinomial
from ._cluster_level import ClusterMean, ClusterNormal, ClusterPMM
from ._delta import DeltaLogistic, DeltaNormal
from ._estimator import EstimatorMethod
from ._linear import BayesianNormal, PredictiveMeanMatching
from ._multilevel import MultilevelNormal, MultilevelPMM
from ._multilevel_binary import MultilevelLogistic
from ._multilevel_categorical import MultilevelMultinomial
from ._twolevel import TwoLevelHeteroscedastic, TwoLevelNormal, TwoLevelPMM
from ._twolevel_binary import TwoLevelLogistic, random_polyagamma
from ._twolevel_categorical import TwoLevelMultinomial
from .heckman import Heckman, TwoLevelHeckman, bivariate_normal_cdf

__all__ = [
    "BayesianNormal",
    "ClusterMean",
    "ClusterNormal",
    "ClusterPMM",
    "ConditionalMethod",
    "Design",
    "DeltaLogistic",
    "DeltaNormal",
    "EstimatorMethod",
    "Heckman",
    "Level",
    "Logistic",
    "Multinomial",
    "MultilevelLogistic",
    "MultilevelMultinomial",
    "MultilevelNormal",
    "MultilevelPMM",
    "PredictiveMeanMatching",
    "TwoLevelHeckman",
    "TwoLevelHeteroscedastic",
    "TwoLevelLogistic",
    "TwoLevelMultinomial",
    "TwoLevelNormal",
    "TwoLevelPMM",
    "bivariate_normal_cdf",
    "get_method",
    "random_polyagamma",
    "register_method",
    "registered_methods",
]
