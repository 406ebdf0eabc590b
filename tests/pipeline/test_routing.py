"""Metadata routing of MultipleImputationPipeline (skmice/pipeline/_estimator.py).

With ``enable_metadata_routing=True``, metadata reach the m estimators through
the pipeline's own fit requests or through the estimator's; ``score`` takes
``sample_weight`` after ``set_score_request``. With routing off (the default)
the keyword arguments of ``fit`` go to every estimator as they always did.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, StatsmodelsClassifier
from tests.pipeline._common import clustered_data


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """A majority-class classifier that records the metadata its fit receives."""

    def fit(self, X, y, sample_weight=None, groups=None):
        self.classes_ = np.unique(y)
        self.sample_weight_ = sample_weight
        self.groups_ = groups
        self.n_rows_ = len(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.fixture
def routing_on():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture
def routing_off():
    with sklearn.config_context(enable_metadata_routing=False):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = clustered_data()
    X, y = X.iloc[:150].reset_index(drop=True), y[:150]
    groups = X["cluster"].to_numpy()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    return X, y, groups, weights


def make_pipe(estimator=None, **kw):
    params = dict(n_imputations=2, random_state=0)
    params.update(kw)
    return MultipleImputationPipeline(
        MultilevelIterativeImputer(cluster="cluster", max_iter=1),
        RecordingClassifier() if estimator is None else estimator,
        **params,
    )


def recorder_without_groups():
    """A RecordingClassifier that declines groups (they are the splitter's)."""
    return RecordingClassifier().set_fit_request(groups=False)


def assert_seen(pipe, name, expected):
    for est in pipe.estimators_:
        np.testing.assert_array_equal(getattr(est, f"{name}_"), expected)


# ---------------------------------------------------------------------------
# routing off: as before
# ---------------------------------------------------------------------------


def test_routing_off_passes_fit_params_to_every_estimator(routing_off, data):
    X, y, groups, w = data
    pipe = make_pipe().fit(X, y, sample_weight=w, groups=groups)
    assert_seen(pipe, "sample_weight", w)
    assert_seen(pipe, "groups", groups)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        make_pipe().fit(X, y, bogus=1)


def test_routing_off_cross_validate_with_groups_and_weights(routing_off, data):
    X, y, groups, w = data
    result = cross_validate(
        make_pipe(LogisticRegression()), X, y, groups=groups, cv=GroupKFold(2),
        params={"sample_weight": w}, error_score="raise", return_estimator=True,
    )
    assert np.all(np.isfinite(result["test_score"]))
    for fitted in result["estimator"]:
        assert fitted.estimators_[0].n_features_in_ == X.shape[1] - 1  # no cluster column


def test_request_setters_need_routing(routing_off):
    # scikit-learn's own rule for set_*_request outside routing
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_pipe().set_fit_request(sample_weight=True)


# ---------------------------------------------------------------------------
# routing on
# ---------------------------------------------------------------------------


def test_routing_description(routing_on):
    routing = make_pipe().get_metadata_routing()
    # the pipeline's own requests: fit metadata off by default, score unset
    assert routing.consumes("fit", ["sample_weight", "groups"]) == set()
    pipe = make_pipe().set_fit_request(sample_weight=True, groups="cluster_ids")
    assert pipe.get_metadata_routing().consumes("fit", ["sample_weight", "cluster_ids"]) == {
        "sample_weight", "cluster_ids"}
    est = RecordingClassifier().set_fit_request(sample_weight=True)
    assert make_pipe(est).get_metadata_routing().consumes("fit", ["sample_weight"]) == {
        "sample_weight"}
    with pytest.raises(TypeError, match="Unexpected args"):
        make_pipe().set_fit_request(bogus=True)


def test_own_fit_request_fits_every_estimator(routing_on, data):
    X, y, groups, w = data
    pipe = make_pipe().set_fit_request(sample_weight=True, groups=True)
    pipe.fit(X, y, sample_weight=w, groups=groups)
    assert_seen(pipe, "sample_weight", w)
    assert_seen(pipe, "groups", groups)
    # the requests survive clone (cross-validation, grid search)
    assert clone(pipe).get_metadata_routing().consumes("fit", ["groups"]) == {"groups"}


def test_estimator_request_routes_to_estimator(routing_on, data):
    X, y, groups, w = data
    pipe = make_pipe(RecordingClassifier().set_fit_request(sample_weight=True, groups=False))
    pipe.fit(X, y, sample_weight=w)
    assert_seen(pipe, "sample_weight", w)
    assert_seen(pipe, "groups", None)
    # an alias on the estimator
    pipe = make_pipe(RecordingClassifier().set_fit_request(sample_weight="w"))
    assert_seen(pipe.fit(X, y, w=w), "sample_weight", w)


def test_unrequested_metadata_raise(routing_on, data):
    X, y, groups, w = data
    # the estimator takes sample_weight but nobody said whether it should: the
    # message names both ways of requesting it
    with pytest.raises(UnsetMetadataPassedError, match=r"RecordingClassifier.set_fit_request.*"
                       r"MultipleImputationPipeline.set_fit_request\(sample_weight=True\)"):
        make_pipe().fit(X, y, sample_weight=w)
    # nobody takes groups at all
    with pytest.raises(TypeError, match="not routed to any object"):
        make_pipe(LogisticRegression()).fit(X, y, groups=groups)
    # the pipeline asked for weights its estimator cannot take
    pipe = make_pipe(StatsmodelsClassifier()).set_fit_request(sample_weight=True)
    with pytest.raises(TypeError, match="StatsmodelsClassifier.fit does not accept sample_weight"):
        pipe.fit(X, y, sample_weight=w)


def test_fit_without_metadata(routing_on, data):
    X, y, _, _ = data
    pipe = make_pipe().fit(X, y)
    assert_seen(pipe, "sample_weight", None)


def _fold_weights(w, groups, cv, X, y):
    return [w[train] for train, _ in cv.split(X, y, groups)]


def test_cross_validate_routes_weights_and_groups(routing_on, data):
    X, y, groups, w = data
    cv = GroupKFold(2)
    pipe = make_pipe(recorder_without_groups()).set_fit_request(sample_weight=True)
    pipe.set_score_request(sample_weight=True)
    result = cross_validate(
        pipe, X, y, cv=cv, params={"groups": groups, "sample_weight": w},
        error_score="raise", return_estimator=True,
    )
    for fitted, expected in zip(result["estimator"], _fold_weights(w, groups, cv, X, y)):
        assert_seen(fitted, "sample_weight", expected)
        assert_seen(fitted, "groups", None)  # groups went to the splitter only
    # the weighted score of the majority-class predictions, fold by fold
    for (_, test), score in zip(cv.split(X, y, groups), result["test_score"]):
        majority = result["estimator"][0].classes_[0]
        hit = (y[test] == majority).astype(float)
        assert score == pytest.approx(np.average(hit, weights=w[test]))


def test_cross_validate_own_groups_request(routing_on, data):
    # groups go to the splitter and, requested by the pipeline, to every estimator
    X, y, groups, _ = data
    cv = GroupKFold(2)
    pipe = make_pipe().set_fit_request(groups=True)
    result = cross_validate(pipe, X, y, cv=cv, params={"groups": groups},
                            error_score="raise", return_estimator=True)
    for fitted, (train, _) in zip(result["estimator"], cv.split(X, y, groups)):
        assert_seen(fitted, "groups", groups[train])


def test_cross_validate_with_logistic_regression_and_pipeline(routing_on, data):
    X, y, groups, w = data
    # as in any scikit-learn Pipeline: the scaler declines the weights, the
    # final step requests them
    scaler = StandardScaler().set_fit_request(sample_weight=False)
    final = LogisticRegression().set_fit_request(sample_weight=True)
    pipe = make_pipe(make_pipeline(scaler, final)).set_score_request(sample_weight=False)
    result = cross_validate(
        pipe, X, y, cv=GroupKFold(2), params={"groups": groups, "sample_weight": w},
        error_score="raise", return_estimator=True,
    )
    assert np.all(np.isfinite(result["test_score"]))
    unweighted = make_pipe(make_pipeline(StandardScaler(), LogisticRegression()))
    train = next(GroupKFold(2).split(X, y, groups))[0]
    unweighted.fit(X.iloc[train], y[train])
    weighted_coef = result["estimator"][0].pooled_coef_
    assert not np.allclose(weighted_coef, unweighted.pooled_coef_)  # the weights were used


def test_score_request_unset_raises(routing_on, data):
    X, y, groups, w = data
    pipe = make_pipe(recorder_without_groups()).set_fit_request(sample_weight=True)
    with pytest.raises(UnsetMetadataPassedError, match="MultipleImputationPipeline.score"):
        cross_validate(pipe, X, y, cv=GroupKFold(2),
                       params={"groups": groups, "sample_weight": w})


def test_grid_search_routes_groups_and_weights(routing_on, data):
    X, y, groups, w = data
    pipe = make_pipe(recorder_without_groups()).set_fit_request(sample_weight=True)
    pipe.set_score_request(sample_weight=True)
    search = GridSearchCV(pipe, {"n_imputations": [1, 2]}, cv=GroupKFold(2),
                          error_score="raise")
    search.fit(X, y, groups=groups, sample_weight=w)
    assert_seen(search.best_estimator_, "sample_weight", w)
