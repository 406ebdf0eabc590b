"""Tests of MultipleImputationPipeline (skmice/pipeline/_estimator.py, _target.py)."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, cross_validate
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, StatsmodelsRegressor
from skmice.datasets import make_clustered_regression
from skmice.pipeline._target import TARGET_COLUMN
from tests.pipeline._common import classifier_pipe, two_level

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plot_cv_prediction.py"


# ---------------------------------------------------------------------------
# scikit-learn conventions
# ---------------------------------------------------------------------------

EXPECTED_FAILED_CHECKS = {
    # The check puts a dict into an object column and expects numpy's message;
    # the imputer raises its own TypeError naming the column (as in
    # tests/test_estimator_checks.py for the imputer itself).
    "check_dtype_object": "the imputer's own error message names the column and its types",
}


@parametrize_with_checks(
    [
        MultipleImputationPipeline(
            MultilevelIterativeImputer(max_iter=2), Ridge(), n_imputations=2, random_state=0
        ),
        MultipleImputationPipeline(
            MultilevelIterativeImputer(max_iter=1),
            LinearDiscriminantAnalysis(),
            n_imputations=2,
            random_state=0,
        ),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_init_stores_parameters_and_nested_params_work():
    imp, est = two_level(), LogisticRegression()
    pipe = MultipleImputationPipeline(imp, est, n_imputations=4)
    assert pipe.imputer is imp and pipe.estimator is est
    params = pipe.get_params()
    assert params["imputer__max_iter"] == 3 and params["estimator__C"] == 1.0
    pipe.set_params(imputer__max_iter=7, estimator__C=0.5)
    assert pipe.imputer.max_iter == 7 and pipe.estimator.C == 0.5
    copy = clone(pipe)
    assert copy.get_params()["imputer__max_iter"] == 7 and copy.imputer is not imp


def test_not_fitted(clustered):
    X, _ = clustered
    with pytest.raises(NotFittedError):
        classifier_pipe().predict(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_imputations": 0}, ValueError, "n_imputations"),
        ({"n_imputations": 2.0}, TypeError, "n_imputations"),
        ({"pool_predictions": "mode"}, ValueError, "pool_predictions"),
        ({"drop_cluster": "yes"}, TypeError, "drop_cluster"),
        ({"include_target": 1}, TypeError, "include_target"),
        ({"verbose": "loud"}, TypeError, "verbose"),
        ({"callback": "print"}, TypeError, "callback must be None or a callable"),
        ({"imputer": "pmm"}, TypeError, "imputer"),
        ({"estimator": "ols"}, TypeError, "estimator"),
    ],
)
def test_parameter_validation(clustered, params, error, match):
    X, y = clustered
    with pytest.raises(error, match=match):
        classifier_pipe(**params).fit(X, y)


def test_y_required_and_target_column_name_reserved(clustered):
    X, y = clustered
    with pytest.raises(ValueError, match="requires y"):
        classifier_pipe().fit(X, None)
    clash = X.assign(**{TARGET_COLUMN: 1.0})
    with pytest.raises(ValueError, match="rename"):
        classifier_pipe(include_target=True).fit(clash, y)


# ---------------------------------------------------------------------------
# fit and predict
# ---------------------------------------------------------------------------


def test_fit_attributes_and_pooled_predictions(regression):
    X, y = regression
    pipe = MultipleImputationPipeline(
        two_level(), LinearRegression(), n_imputations=3, random_state=0
    ).fit(X, y)
    assert len(pipe.imputers_) == len(pipe.estimators_) == 3
    assert pipe.n_features_in_ == 4
    assert list(pipe.feature_names_in_) == ["cluster", "x", "w", "y1"]
    assert not hasattr(pipe, "classes_")
    X_new = X.iloc[:50]
    stack = pipe.predict_all(X_new)
    assert stack.shape == (3, 50)
    np.testing.assert_allclose(pipe.predict(X_new), stack.mean(axis=0))
    np.testing.assert_allclose(pipe.predict_std(X_new), stack.std(axis=0, ddof=1))
    # the chains are independent: their predictions differ for incomplete rows
    incomplete = X_new["y1"].isna().to_numpy()
    assert np.all(pipe.predict_std(X_new)[incomplete] > 0)
    # pooled coefficients
    coefs = np.array([e.coef_ for e in pipe.estimators_])
    np.testing.assert_allclose(pipe.pooled_coef_, coefs.mean(axis=0))
    assert np.isclose(pipe.pooled_intercept_, np.mean([e.intercept_ for e in pipe.estimators_]))
    assert 0.3 < pipe.score(X, y) <= 1.0

    median = clone(pipe).set_params(pool_predictions="median").fit(X, y)
    np.testing.assert_allclose(median.predict(X_new), np.median(stack, axis=0))


def test_classifier_pools_probabilities(clustered):
    X, y = clustered
    labels = np.where(y == 1, "high", "low")
    pipe = classifier_pipe().fit(X, labels)
    assert pipe.classes_.tolist() == ["high", "low"]
    probas = pipe.predict_all(X, method="predict_proba")
    assert probas.shape == (3, len(X), 2)
    pooled = pipe.predict_proba(X)
    np.testing.assert_allclose(pooled, probas.mean(axis=0))
    np.testing.assert_allclose(pooled.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pipe.predict(X), pipe.classes_[pooled.argmax(axis=1)])
    np.testing.assert_allclose(
        pipe.decision_function(X), pipe.predict_all(X, "decision_function").mean(axis=0)
    )
    np.testing.assert_allclose(np.exp(pipe.predict_log_proba(X)), pooled)
    assert pipe.predict_std(X).shape == (len(X), 2)
    assert pipe.score(X, labels) > 0.6

    median = clone(pipe).set_params(pool_predictions="median").fit(X, labels)
    np.testing.assert_allclose(median.predict_proba(X).sum(axis=1), 1.0)


def test_classifier_without_predict_proba_votes(clustered):
    X, y = clustered
    pipe = MultipleImputationPipeline(
        two_level(), LinearSVC(), n_imputations=3, random_state=0
    ).fit(X, y)
    assert not hasattr(pipe, "predict_proba") and hasattr(pipe, "decision_function")
    labels = pipe.predict_all(X)
    majority = (labels.sum(axis=0) >= 2).astype(int)
    np.testing.assert_array_equal(pipe.predict(X), majority)
    assert not hasattr(MultipleImputationPipeline(two_level(), LinearRegression()), "predict_proba")


@pytest.mark.parametrize("drop_cluster", [True, False])
def test_drop_cluster(clustered, drop_cluster):
    X, y = clustered
    pipe = classifier_pipe(n_imputations=2, drop_cluster=drop_cluster).fit(X, y)
    seen = list(pipe.estimators_[0].feature_names_in_)
    assert seen == (["x", "w", "y1"] if drop_cluster else ["cluster", "x", "w", "y1"])


def test_drop_cluster_by_position_for_arrays(clustered):
    X, y = clustered
    arr = X.to_numpy()
    imp = MultilevelIterativeImputer(cluster=0, max_iter=2)
    pipe = MultipleImputationPipeline(
        imp, LogisticRegression(), n_imputations=2, random_state=0
    ).fit(arr, y)
    assert pipe.estimators_[0].n_features_in_ == 3
    assert pipe.predict(arr).shape == (len(arr),)


def test_unset_estimator_random_state_is_seeded(regression):
    X, y = regression
    forest = RandomForestRegressor(n_estimators=5, max_depth=3)
    pipe = MultipleImputationPipeline(
        two_level(max_iter=2), forest, n_imputations=2, random_state=0
    )
    a = pipe.fit(X, y).predict(X)
    b = clone(pipe).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    seeds = [e.random_state for e in pipe.estimators_]
    assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]
    assert pipe.estimator.random_state is None  # the parameter is untouched
    fixed = pipe.set_params(estimator__random_state=3).fit(X, y)
    assert [e.random_state for e in fixed.estimators_] == [3, 3]


# ---------------------------------------------------------------------------
# the outcome in the imputation model
# ---------------------------------------------------------------------------


def test_include_target_fit_and_predict(clustered):
    X, y = clustered
    pipe = classifier_pipe(include_target=True).fit(X, y)
    imp = pipe.imputers_[0]
    assert list(imp.feature_names_in_) == [*X.columns, TARGET_COLUMN]
    assert imp.methods_[TARGET_COLUMN] is not None  # to impute it at predict time
    assert TARGET_COLUMN not in pipe.estimators_[0].feature_names_in_
    assert "cluster" not in pipe.estimators_[0].feature_names_in_
    # prediction needs no outcome: X alone, new clusters included
    new = X.assign(cluster=X["cluster"] + 1000)
    proba = pipe.predict_proba(new)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
    np.testing.assert_array_equal(proba, pipe.predict_proba(new))  # reproducible
    # at predict time the outcome column is entirely missing, and drawn: not the truth
    augmented = pipe._augment(X)
    assert augmented[TARGET_COLUMN].isna().all()
    drawn = pipe.imputers_[0].transform(augmented)[TARGET_COLUMN].astype(int).to_numpy()
    assert 0.5 < np.mean(drawn == y) < 0.9


def test_include_target_with_methods_and_predictor_matrix(regression):
    X, y = regression
    pm = pd.DataFrame(0, index=X.columns, columns=X.columns)
    pm.loc["y1", ["cluster", "x", "w"]] = [-2, 2, 1]
    for methods in ({"y1": "2l.pan"}, "2l.pmm"):
        imp = two_level(methods=methods, predictor_matrix=pm)
        pipe = MultipleImputationPipeline(
            imp, LinearRegression(), n_imputations=2, include_target=True, random_state=0
        ).fit(X, y)
        fitted = pipe.imputers_[0]
        assert fitted.predictor_matrix_.loc["y1", TARGET_COLUMN] == 1
        assert fitted.predictor_matrix_.loc[TARGET_COLUMN, "cluster"] == -2
        assert fitted.methods_[TARGET_COLUMN] is not None
        assert np.isfinite(pipe.predict(X)).all()
        assert pipe.imputer.predictor_matrix is pm  # the parameter is untouched
    # numpy input: positions, an array predictor matrix
    arr = X.to_numpy()
    imp = MultilevelIterativeImputer(
        cluster=0, max_iter=2, predictor_matrix=pm.to_numpy(), methods="2l.pmm"
    )
    pipe = MultipleImputationPipeline(
        imp, LinearRegression(), n_imputations=2, include_target=True, random_state=0
    ).fit(arr, y)
    assert pipe.imputers_[0].predictor_matrix_.shape == (5, 5)
    assert pipe.estimators_[0].n_features_in_ == 3
    assert np.isfinite(pipe.predict(arr)).all()


def test_include_target_removes_attenuation():
    """Moons et al. (2006): without the outcome, the imputed predictor's slope shrinks.

    y = x1 + x2 + e with corr(x1, x2) = 0.5 and 50% of x1 missing completely at
    random. Imputing x1 from x2 alone draws it independent of y given x2, so
    the pooled slope of x1 is biased towards zero (about 0.5 here); with the
    outcome in the imputation model it is unbiased. The standard error of the
    pooled slope is about 0.06 (n = 800, m = 5): bounds are 3 standard errors.
    """
    rng = np.random.default_rng(11)
    n = 800
    x = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    y = x[:, 0] + x[:, 1] + rng.normal(size=n)
    X = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    X.loc[rng.random(n) < 0.5, "x1"] = np.nan
    imp = MultilevelIterativeImputer(methods="norm", max_iter=5)
    slopes = {}
    for include in (False, True):
        pipe = MultipleImputationPipeline(
            imp, LinearRegression(), n_imputations=5, include_target=include, random_state=0
        ).fit(X, y)
        slopes[include] = pipe.pooled_coef_[0]
    assert abs(slopes[True] - 1.0) < 0.18
    assert slopes[False] < 0.75


# ---------------------------------------------------------------------------
# pooled coefficients
# ---------------------------------------------------------------------------


def test_pool_by_rubins_rules_with_statsmodels(regression):
    X, y = regression
    pipe = MultipleImputationPipeline(
        two_level(), StatsmodelsRegressor(), n_imputations=3, include_target=True, random_state=0
    ).fit(X, y)
    table = pipe.pool()
    assert list(table.index) == ["Intercept", "x", "w", "y1"]
    assert {"std_error", "df", "fmi"} <= set(table.columns)
    np.testing.assert_allclose(table["estimate"].iloc[1:], pipe.pooled_coef_)
    assert np.isclose(table["estimate"].iloc[0], pipe.pooled_intercept_)
    # Rubin: total variance = within + (1 + 1/m) between
    betas = np.array([e.results_.params.to_numpy() for e in pipe.estimators_])
    ubar = np.mean([e.results_.bse.to_numpy() ** 2 for e in pipe.estimators_], axis=0)
    total = ubar + (1 + 1 / 3) * betas.var(axis=0, ddof=1)
    np.testing.assert_allclose(table["std_error"], np.sqrt(total))
    assert table.attrs["dfcom"] == pipe.estimators_[0].results_.df_resid
    assert pipe.summary().startswith("Pooled estimates (Rubin's rules), m = 3")


def test_pool_without_covariance_states_the_reason(regression):
    X, y = regression
    # LinearRegression: the covariance is computed from the completed training data
    pipe = MultipleImputationPipeline(
        two_level(), LinearRegression(), n_imputations=3, random_state=0
    ).fit(X, y)
    assert "std_error" in pipe.pool() and pipe.pool().attrs["reason"] == ""
    # a penalised model has none: the mean and the between-imputation variance
    pipe = MultipleImputationPipeline(
        two_level(), Ridge(), n_imputations=3, random_state=0
    ).fit(X, y)
    table = pipe.pool()
    assert list(table.columns) == ["estimate", "b", "between_sd", "m"]
    assert "no covariance" in table.attrs["reason"] and "penalised" in table.attrs["reason"]
    np.testing.assert_allclose(table["estimate"].iloc[1:], pipe.pooled_coef_)
    text = pipe.summary()
    assert "Reason:" in text and "StatsmodelsRegressor" in text
    forest = MultipleImputationPipeline(
        two_level(max_iter=1), RandomForestRegressor(3), n_imputations=2, random_state=0
    ).fit(X, y)
    assert not hasattr(forest, "pooled_coef_")
    with pytest.raises(AttributeError, match="no coefficients"):
        forest.pool()


# ---------------------------------------------------------------------------
# model selection, with new clusters in the test folds
# ---------------------------------------------------------------------------


def test_cross_validate_with_group_kfold_on_new_clusters(clustered):
    X, y = clustered
    cv = GroupKFold(n_splits=3)
    groups = X["cluster"]
    for train, test in cv.split(X, y, groups):
        assert not set(groups.iloc[train]) & set(groups.iloc[test])  # clusters are new
    pipe = classifier_pipe(n_imputations=2, include_target=True)
    result = cross_validate(pipe, X, y, groups=groups, cv=cv, scoring=["roc_auc", "accuracy"])
    assert np.all(result["test_roc_auc"] > 0.6)  # fold SE about 0.035
    assert np.all(result["test_accuracy"] > 0.6)
    reg = cross_val_score(pipe, X, y, groups=groups, cv=cv, scoring="neg_log_loss")
    assert np.all(np.isfinite(reg))


def test_grid_search_over_imputer_and_estimator(clustered):
    X, y = clustered
    grid = GridSearchCV(
        classifier_pipe(n_imputations=2),
        {"imputer__max_iter": [1, 2], "estimator__C": [0.01, 1.0]},
        cv=GroupKFold(n_splits=2),
        scoring="roc_auc",
    ).fit(X, y, groups=X["cluster"])
    assert len(grid.cv_results_["params"]) == 4
    assert set(grid.best_params_) == {"imputer__max_iter", "estimator__C"}
    best = grid.best_estimator_
    assert best.imputers_[0].max_iter == grid.best_params_["imputer__max_iter"]
    assert best.estimators_[0].C == grid.best_params_["estimator__C"]


# ---------------------------------------------------------------------------
# determinism, pickling, parallel backends
# ---------------------------------------------------------------------------


def test_same_predictions_for_n_jobs_1_and_2(clustered):
    X, y = clustered
    serial = classifier_pipe(n_jobs=1, include_target=True).fit(X, y)
    parallel = classifier_pipe(n_jobs=2, include_target=True).fit(X, y)
    np.testing.assert_array_equal(serial.predict_proba(X), parallel.predict_proba(X))
    refit = clone(serial).fit(X, y)
    np.testing.assert_array_equal(serial.predict_proba(X), refit.predict_proba(X))
    other = classifier_pipe(random_state=1, include_target=True).fit(X, y)
    assert not np.array_equal(serial.predict_proba(X), other.predict_proba(X))


def test_pickle_round_trip(clustered):
    X, y = clustered
    pipe = classifier_pipe(include_target=True).fit(X, y)
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(pipe.predict_proba(X), loaded.predict_proba(X))


def _dask_run(processes):
    """Fit and predict on a local Dask cluster: the same result as n_jobs=1."""
    distributed = pytest.importorskip("distributed")
    X = make_clustered_regression(400, 20, random_state=2).data.drop(columns="y2")
    y = (X["x"] + X["w"] > 0).astype(int).to_numpy()
    pipe = classifier_pipe(include_target=True, n_jobs=1)
    reference = pipe.fit(X, y).predict_proba(X)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_backend("dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        fitted = clone(pipe).set_params(n_jobs=None).fit(X, y)
        proba = fitted.predict_proba(X)
    np.testing.assert_array_equal(proba, reference)
    names = {str(t["key"]) for t in tasks.data}
    assert any("_fit_pair" in n for n in names) and any("_apply_pair" in n for n in names)


def test_dask_distributed_same_as_serial():
    _dask_run(processes=False)


@pytest.mark.slow
def test_dask_distributed_worker_processes_same_as_serial():
    _dask_run(processes=True)


# ---------------------------------------------------------------------------
# the example
# ---------------------------------------------------------------------------


def test_example_cv_prediction_runs(capsys):
    spec = importlib.util.spec_from_file_location("plot_cv_prediction", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.main(n_imputations=2, quick=True)
    assert list(table.index) == [
        "complete cases",
        "mean imputation",
        "single-level MI",
        "two-level MI",
    ]
    assert table["roc_auc"].between(0.5, 1.0).all()
    assert "two-level MI" in capsys.readouterr().out


def test_any_transformer_as_imputer(regression):
    """scikit-learn's IterativeImputer (numpy output) works, with the outcome too."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    X, y = regression
    X = X.drop(columns="cluster")
    imp = IterativeImputer(sample_posterior=True, max_iter=3)
    pipe = MultipleImputationPipeline(
        imp, LinearRegression(), n_imputations=2, include_target=True, random_state=0
    ).fit(X, y)
    assert pipe.estimators_[0].n_features_in_ == 3  # the outcome column dropped
    seeds = [i.random_state for i in pipe.imputers_]
    assert imp.random_state is None and seeds[0] != seeds[1]
    assert np.isfinite(pipe.predict(X)).all()
