"""Tests of the BLAS limiter (skmice/_blas.py), the one every chain and estimator runs under."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_info

import skmice
from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, _blas, multiple_impute
from skmice._blas import single_threaded_blas


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=80), "z": rng.normal(size=80)})
    X.loc[::4, "x"] = np.nan
    return X, X["z"].to_numpy() + rng.normal(size=80)


def test_limited_nested_and_restored():
    before = _blas_threads()
    with single_threaded_blas():
        assert set(_blas_threads()) <= {1}
        with single_threaded_blas():  # nested or concurrent tasks share the limit
            assert set(_blas_threads()) <= {1}
        assert set(_blas_threads()) <= {1}
    assert _blas_threads() == before and _blas._STATE["users"] == 0


def test_overlapping_threads_restore_the_original_limits():
    before = _blas_threads()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with single_threaded_blas():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with single_threaded_blas():
            second_in.set()
            first_out.wait(5)
            # the first one has left: the limit is still held, for this one
            seen.append((_blas._STATE["users"], _blas._STATE["limiter"] is not None))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [(1, True)]
    assert _blas._STATE["limiter"] is None and _blas_threads() == before


class _RecordingRegression(LinearRegression):
    """Records, in fit and predict, how many blocks hold the package's BLAS limit."""

    def fit(self, X, y):
        self.users_in_fit_ = _blas._STATE["users"]
        return super().fit(X, y)

    def predict(self, X):
        self.users_in_predict_ = _blas._STATE["users"]
        return super().predict(X)


def test_multiple_impute_and_pipeline_run_under_the_one_limiter(data):
    X, y = data
    imp = MultilevelIterativeImputer(max_iter=2)
    users = []

    def record(event):  # n_jobs=1: called inside the chain
        users.append(_blas._STATE["users"])

    multiple_impute(X, imp, n_imputations=2, n_jobs=1, random_state=0, callback=record)
    pipe = MultipleImputationPipeline(imp, _RecordingRegression(), n_imputations=2, n_jobs=1,
                                      random_state=0, callback=record).fit(X, y)
    assert len(users) == 8 and min(users) >= 1
    pipe.predict(X)
    assert all(e.users_in_fit_ >= 1 and e.users_in_predict_ >= 1 for e in pipe.estimators_)
    assert _blas._STATE["users"] == 0


def test_threads_backend_leaves_the_limits_as_they_were(data):
    X, y = data
    before = _blas_threads()
    with joblib.parallel_backend("threading"):
        MultipleImputationPipeline(MultilevelIterativeImputer(max_iter=2), LinearRegression(),
                                   n_imputations=2, n_jobs=2, random_state=0).fit(X, y).predict(X)
        multiple_impute(X, MultilevelIterativeImputer(max_iter=2), n_imputations=2, n_jobs=2,
                        random_state=0)
    assert _blas_threads() == before


def test_one_limiter_in_the_package():
    """Only skmice/_blas.py builds a threadpoolctl controller."""
    root = Path(skmice.__file__).parent
    builders = {
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"ThreadpoolController\(\)", p.read_text())
    }
    assert builders == {"_blas.py"}
