"""The imputer's scikit-learn options: collinear drops, sentinels, empty columns,
indicators, skip_complete, max_iter=0 and columns left out of the output."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from skmice import MultilevelIterativeImputer, multiple_impute


def _strong(seed=0, n_clusters=20, size=10):
    """y = 3x + noise(0.3): x is a strong predictor (r about 0.995), 25% of y missing."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size) + rng.normal(size=n_clusters)[g]
    y = 3 * x + rng.normal(0, 0.3, g.size)
    X = pd.DataFrame({"c": g, "x": x, "y": y})
    miss = rng.random(g.size) < 0.25
    X.loc[miss, "y"] = np.nan
    return X, y, miss


# --------------------------------------------------------------------------- #
# collinear predictors
# --------------------------------------------------------------------------- #
def test_strong_predictor_is_kept_and_used():
    X, truth, miss = _strong()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, nothing to say
        mi = multiple_impute(X, MultilevelIterativeImputer(cluster="c", max_iter=5),
                             n_imputations=3, random_state=0)
    for d in mi:
        assert np.corrcoef(d.loc[miss, "y"], truth[miss])[0, 1] > 0.95


def test_r_rule_drops_the_strong_predictor_with_a_warning():
    X, truth, miss = _strong()
    imp = MultilevelIterativeImputer(cluster="c", max_iter=3, max_corr=0.99, random_state=0)
    with pytest.warns(UserWarning, match=r"'y': 'x' \(duplicates the target \(\|r\| >= "
                                         r"max_corr=0.99\)\)"):
        out = imp.fit_transform(X)
    # the cost of the rule: only the cluster means are left to impute y from
    assert np.corrcoef(out.loc[miss, "y"], truth[miss])[0, 1] < 0.8
    assert (imp.log_["event"] == "predictors dropped").any()


def test_exact_duplicate_and_constant_predictors_dropped_by_default():
    X, _, _ = _strong()
    X["x2"] = 2 * X["x"] + 1  # collinear with x
    X["k"] = 5.0  # constant
    X["ycopy"] = 0.5 * X["y"]  # the target itself (where observed)
    X.loc[X["y"].isna(), "ycopy"] = 0.0
    imp = MultilevelIterativeImputer(cluster="c", max_iter=2, random_state=0,
                                     methods={"y": "2l.pan"})
    with pytest.warns(UserWarning) as record:
        imp.fit(X)
    (message,) = [str(w.message) for w in record if "remove_collinear" in str(w.message)]
    assert "'k' (constant)" in message
    assert "'ycopy' (duplicates the target" in message
    assert "collinear with other predictors" in message


def test_remove_collinear_false_keeps_everything_silently():
    X, _, _ = _strong()
    X["k"] = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultilevelIterativeImputer(cluster="c", max_iter=2, remove_collinear=False,
                                   methods={"y": "2l.pan"}, random_state=0).fit(X)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_warnings_of_the_chains_reach_the_caller_once(n_jobs):
    X, _, _ = _strong()
    with pytest.warns(UserWarning, match="remove_collinear") as record:
        multiple_impute(X, MultilevelIterativeImputer(cluster="c", max_iter=2, max_corr=0.9),
                        n_imputations=3, n_jobs=n_jobs, random_state=0)
    # each distinct warning once, however many chains raised it (the chains may
    # differ in what they drop: a correlation near max_corr after imputation)
    messages = [str(w.message) for w in record if "remove_collinear" in str(w.message)]
    assert messages and len(messages) == len(set(messages))
    assert all("'y': 'x'" in m for m in messages)


@pytest.mark.parametrize("value,exc", [(0.0, ValueError), (1.5, ValueError), ("high", TypeError)])
def test_bad_max_corr(value, exc):
    X, _, _ = _strong()
    with pytest.raises(exc, match="max_corr"):
        MultilevelIterativeImputer(max_corr=value).fit(X)


# --------------------------------------------------------------------------- #
# missing_values
# --------------------------------------------------------------------------- #
def _sentinel_frame():
    rng = np.random.default_rng(1)
    n = 60
    X = pd.DataFrame({
        "i": rng.integers(0, 50, n),
        "f": rng.normal(size=n),
        "s": rng.choice(["a", "b", "None"], n),
        "k": pd.Categorical(rng.choice(["lo", "hi"], n)),
    })
    X.loc[::5, "i"] = -999
    X.loc[1::7, "f"] = -999.0
    X.loc[2::6, "s"] = "?"
    X["k"] = X["k"].cat.add_categories("?")
    X.loc[3::8, "k"] = "?"
    return X


def test_sentinels_are_imputed_and_nothing_else_changes():
    X = _sentinel_frame()
    before = X.copy(deep=True)
    imp = MultilevelIterativeImputer(missing_values=[-999, "?"], max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    pd.testing.assert_frame_equal(X, before)  # input untouched
    assert list(out.dtypes) == list(X.dtypes)  # int stays int, categories stay
    for col, mark in [("i", -999), ("f", -999.0), ("s", "?"), ("k", "?")]:
        hit = (X[col] == mark).to_numpy()
        assert not (out[col] == mark).any(), col
        pd.testing.assert_series_equal(out.loc[~hit, col], X.loc[~hit, col])
    assert set(out["s"]) <= {"a", "b", "None"}  # "None" is a category, not a hole
    new = imp.transform(X)
    assert not (new["i"] == -999).any() and not (new["s"] == "?").any()


def test_sentinel_in_arrays_and_nan_still_missing():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(40, 3))
    A[::4, 0] = -1.0
    A[1::5, 1] = np.nan
    out = MultilevelIterativeImputer(missing_values=-1.0, max_iter=2,
                                     random_state=0).fit_transform(A)
    assert not np.isnan(out).any() and not (out[::4, 0] == -1.0).any()


def test_bad_missing_values():
    with pytest.raises(TypeError, match="missing_values"):
        MultilevelIterativeImputer(missing_values=object()).fit(_sentinel_frame())


# --------------------------------------------------------------------------- #
# empty columns, indicators, skip_complete, max_iter=0
# --------------------------------------------------------------------------- #
def test_keep_empty_features():
    X, _, _ = _strong()
    X["e"] = np.nan
    with pytest.warns(UserWarning, match=r"\['e'\] are entirely missing.*kept"):
        imp = MultilevelIterativeImputer(cluster="c", keep_empty_features=True, max_iter=2,
                                         random_state=0)
        out = imp.fit_transform(X)
    assert (out["e"] == 0).all() and list(imp.get_feature_names_out()) == list(X.columns)
    new = X.copy()
    new.loc[:4, "e"] = 7.0
    got = imp.transform(new)["e"]
    assert (got[:5] == 7).all() and (got[5:] == 0).all()


def test_a_column_empty_in_one_training_fold_does_not_abort_the_search():
    X, y_true, _ = _strong()
    X = X.assign(sparse=np.where(np.arange(len(X)) < 100, np.nan, 1.0))
    target = pd.Series(y_true, index=X.index)
    pipe = make_pipeline(MultilevelIterativeImputer(cluster="c", max_iter=2, random_state=0,
                                                    drop_cluster=True), LinearRegression())
    search = GridSearchCV(pipe, {"multileveliterativeimputer__max_iter": [1, 2]},
                          cv=KFold(2), error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(X.drop(columns="y"), target)
    assert np.isfinite(search.best_score_)


def test_add_indicator_frame_and_array():
    X, _, miss = _strong()
    imp = MultilevelIterativeImputer(cluster="c", add_indicator=True, max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    assert list(out.columns) == ["c", "x", "y", "missingindicator_y"]
    np.testing.assert_array_equal(out["missingindicator_y"].to_numpy(), miss)
    assert list(imp.get_feature_names_out()) == list(out.columns)
    new = X.copy()
    new["y"] = 1.0
    assert not imp.transform(new)["missingindicator_y"].any()
    arr = MultilevelIterativeImputer(cluster=0, add_indicator=True, max_iter=2,
                                     random_state=0).fit_transform(X.to_numpy())
    assert arr.shape == (len(X), 4) and arr.dtype == np.float64
    np.testing.assert_array_equal(arr[:, 3], miss.astype(float))


def test_skip_complete_fills_new_holes_with_the_initial_fill():
    X, _, _ = _strong()
    imp = MultilevelIterativeImputer(cluster="c", skip_complete=True, max_iter=2,
                                     random_state=0).fit(X)
    assert imp.methods_["x"] is None and imp.methods_["y"] is not None
    new = X.copy()
    new.loc[:9, "x"] = np.nan
    out = imp.transform(new)
    assert out["x"].notna().all()
    assert set(out.loc[:9, "x"]) <= set(X["x"])  # draws of observed values
    with pytest.raises(ValueError, match="no imputation method was fitted"):
        MultilevelIterativeImputer(cluster="c", methods="2l.pan", max_iter=1,
                                   random_state=0).fit(X).transform(new)


def test_max_iter_zero_is_the_initial_fill():
    X, _, miss = _strong()
    imp = MultilevelIterativeImputer(cluster="c", max_iter=0, random_state=0)
    out = imp.fit_transform(X)
    assert imp.n_iter_ == 0 and imp.trace_.empty
    assert set(out.loc[miss, "y"]) <= set(X.loc[~miss, "y"])
    pd.testing.assert_series_equal(out.loc[~miss, "y"], X.loc[~miss, "y"])
    assert imp.transform(X)["y"].notna().all()


# --------------------------------------------------------------------------- #
# columns left out of the output
# --------------------------------------------------------------------------- #
def test_drop_cluster_in_a_plain_pipeline():
    X, y_true, _ = _strong()
    pipe = make_pipeline(MultilevelIterativeImputer(cluster="c", drop_cluster=True,
                                                    max_iter=2, random_state=0),
                         LinearRegression())
    pipe.fit(X.drop(columns="y"), y_true)
    assert list(pipe[-1].feature_names_in_) == ["x"]
    assert list(pipe[0].get_feature_names_out()) == ["x"]
    pipe.set_output(transform="pandas")
    assert list(pipe[0].transform(X.drop(columns="y")).columns) == ["x"]


def test_drop_columns_by_label_and_position():
    X, _, _ = _strong()
    X["id"] = np.arange(len(X))
    imp = MultilevelIterativeImputer(cluster="c", drop_columns=["id"], max_iter=1,
                                     random_state=0)
    assert list(imp.fit_transform(X).columns) == ["c", "x", "y"]
    arr = MultilevelIterativeImputer(cluster=0, drop_cluster=True, drop_columns=3, max_iter=1,
                                     random_state=0).fit(X.to_numpy())
    assert list(arr.get_feature_names_out()) == ["x1", "x2"]
    assert arr.transform(X.to_numpy()).shape == (len(X), 2)
    with pytest.raises(ValueError, match=r"drop_columns names columns that are not in X: "
                                         r"\['nope'\]"):
        MultilevelIterativeImputer(drop_columns="nope").fit(X)


@pytest.mark.parametrize("include_target", [False, True])
def test_meta_estimator_with_an_imputer_that_leaves_columns_out(include_target):
    from skmice import MultipleImputationPipeline

    X, y_true, _ = _strong()
    X = X.drop(columns="y").assign(e=np.nan, w=np.random.default_rng(0).normal(size=len(X)))
    X.loc[::7, "w"] = np.nan
    imp = MultilevelIterativeImputer(cluster="c", drop_cluster=True, add_indicator=True,
                                     max_iter=1)
    pipe = MultipleImputationPipeline(imp, LinearRegression(), n_imputations=2,
                                      include_target=include_target, random_state=0)
    with pytest.warns(UserWarning, match="entirely missing"):
        pipe.fit(X, y_true)
    assert list(pipe.estimators_[0].feature_names_in_) == [
        "x", "w", "missingindicator_e", "missingindicator_w"]
    assert pipe.predict(X).shape == (len(X),)
