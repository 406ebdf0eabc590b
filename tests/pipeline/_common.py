"""Data and pipelines shared by the tests of skmice/pipeline/."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
from skmice.datasets import make_clustered_regression


def clustered_data():
    """Two-level predictors (y1 incomplete, y2 incomplete) and a binary outcome."""
    b = make_clustered_regression(600, 30, random_state=0)
    X = b.data.drop(columns="y2")
    y = (b.complete["y2"] > b.complete["y2"].median()).astype(int).to_numpy()
    return X, y


def regression_data():
    """Two-level data with a continuous target (the complete y2)."""
    b = make_clustered_regression(500, 25, random_state=1)
    return b.data.drop(columns="y2"), b.complete["y2"].to_numpy()


def two_level(max_iter=3, **kw):
    return MultilevelIterativeImputer(cluster="cluster", max_iter=max_iter, **kw)


def classifier_pipe(**kw):
    params = dict(n_imputations=3, random_state=0)
    params.update(kw)
    return MultipleImputationPipeline(two_level(), LogisticRegression(), **params)
