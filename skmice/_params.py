"""Parameter names read once per class.

scikit-learn's ``get_params`` (and so ``clone``, ``set_params`` and the
parameter validation) reads a class's ``__init__`` signature with
:mod:`inspect` at every call. The imputer and its methods are cloned and
validated once per chain and per method, so :class:`ParamNamesOnce` keeps
each class's names after the first read.
"""

from __future__ import annotations

__all__ = ["ParamNamesOnce"]


class ParamNamesOnce:
    """Mixin for scikit-learn estimators: ``_get_param_names`` computed once per class.

    Put it before ``BaseEstimator`` in the bases. Each class (a subclass
    with its own ``__init__`` included) reads its signature on first use.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from skmice._params import ParamNamesOnce
    >>> class Model(ParamNamesOnce, BaseEstimator):
    ...     def __init__(self, alpha=1.0, beta=None):
    ...         self.alpha, self.beta = alpha, beta
    >>> Model(alpha=2.0).get_params()
    {'alpha': 2.0, 'beta': None}
    """

    @classmethod
    def _get_param_names(cls):
        names = cls.__dict__.get("_param_names_of_class")
        if names is None:
            names = tuple(super()._get_param_names())
            cls._param_names_of_class = names
        return list(names)
