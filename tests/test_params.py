"""Parameter names read once per class (skmice._params)."""

from sklearn.base import BaseEstimator, clone

from skmice import MultilevelIterativeImputer
from skmice._params import ParamNamesOnce
from skmice.methods import TwoLevelNormal


class _Parent(ParamNamesOnce, BaseEstimator):
    def __init__(self, a=1):
        self.a = a


class _Child(_Parent):
    def __init__(self, a=1, b=2):
        super().__init__(a)
        self.b = b


class _Same(_Parent):
    pass


def test_each_class_reads_its_own_signature():
    assert _Parent().get_params() == {"a": 1}
    assert _Child(b=5).get_params() == {"a": 1, "b": 5}
    assert _Same(a=3).get_params() == {"a": 3}
    assert _Parent().get_params() == {"a": 1}  # not overwritten by the subclasses
    names = _Child._get_param_names()
    names.append("x")  # a copy: the kept names do not change
    assert _Child._get_param_names() == ["a", "b"]


def test_clone_and_set_params_keep_working():
    imp = MultilevelIterativeImputer(max_iter=3, cluster="g")
    twin = clone(imp).set_params(max_iter=4)
    assert twin.get_params()["max_iter"] == 4 and twin.cluster == "g"
    assert clone(TwoLevelNormal(n_steps=2)).n_steps == 2
