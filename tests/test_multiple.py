import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, MultiplyImputedData, multiple_impute
from skmice.datasets import make_mar_regression


@pytest.fixture(scope="module")
def data():
    return make_mar_regression(150, random_state=4).data


def test_same_result_for_n_jobs_1_and_2(data):
    imp = MultilevelIterativeImputer(max_iter=3)
    a = multiple_impute(data, imp, n_imputations=3, n_jobs=1, random_state=7)
    b = multiple_impute(data, imp, n_imputations=3, n_jobs=2, random_state=7)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    c = multiple_impute(data, imp, n_imputations=3, random_state=8)
    assert not a.complete(1).equals(c.complete(1))
    # the chains differ from each other
    assert not a.complete(1).equals(a.complete(2))


def test_long_format_like_r(data):
    mi = multiple_impute(data, MultilevelIterativeImputer(max_iter=2), n_imputations=2,
                         random_state=0)
    long = mi.long()
    assert list(long.columns[:2]) == [".imp", ".id"]
    assert long[".imp"].tolist() == [1] * len(data) + [2] * len(data)
    assert long[".id"].tolist() == list(data.index) * 2
    with_orig = mi.long(include=True)
    assert with_orig[".imp"].min() == 0 and with_orig.shape[0] == 3 * len(data)
    pd.testing.assert_frame_equal(mi.complete(0), data)
    assert mi.trace_["chain"].nunique() == 2
    assert "m=2" in repr(mi)


def test_validation(data):
    with pytest.raises(ValueError, match="n_imputations"):
        multiple_impute(data, n_imputations=0)
    with pytest.raises(TypeError, match="n_imputations"):
        multiple_impute(data, n_imputations=2.0)
    with pytest.raises(TypeError, match="imputer"):
        multiple_impute(data, imputer="pmm")
    mi = MultiplyImputedData(data, [data.fillna(0)])
    with pytest.raises(ValueError, match="i must be"):
        mi.complete(2)
    with pytest.raises(TypeError, match="callable"):
        mi.analyze("ols")


def test_numpy_input(data):
    arr = data[["x1", "x2", "y"]].to_numpy()
    mi = multiple_impute(arr, MultilevelIterativeImputer(max_iter=2), n_imputations=2,
                         random_state=0)
    assert isinstance(mi.complete(1), np.ndarray) and not np.isnan(mi.complete(1)).any()


def test_progress_counts_imputations_times_iterations(data, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the plain counter
    imp = MultilevelIterativeImputer(max_iter=2)
    quiet = multiple_impute(data, imp, n_imputations=2, random_state=0)
    assert capsys.readouterr().err == ""
    loud = multiple_impute(data, imp, n_imputations=2, random_state=0, verbose=1)
    err = capsys.readouterr().err
    assert "imputations x iterations: 1/4" in err and "imputations x iterations: 4/4" in err
    pd.testing.assert_frame_equal(quiet.complete(1), loud.complete(1))
    assert not hasattr(loud.imputers[0], "_iteration_hook")
    multiple_impute(data, imp, n_imputations=2, n_jobs=2, random_state=0, verbose=1)
    assert "imputations x iterations: 2/4" in capsys.readouterr().err
