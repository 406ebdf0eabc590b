"""The catalogue of bad input: one case per test, with the exact error message.

Every case is something a user can do by mistake; each must fail early with a
ValueError or TypeError (NotFittedError for an unfitted imputer) whose message
names the column or parameter at fault, never with a traceback from deep
inside numpy or pandas, and never with a silently wrong answer. The messages
are part of the interface: a change to one is a change of this file.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from skmice import (
    MultilevelIterativeImputer,
    MultipleImputationPipeline,
    make_predictor_matrix,
)


def _frame(n_clusters=20, size=10, seed=0):
    """Clustered data with a continuous target, a continuous and a binary predictor."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    n = g.size
    x = rng.standard_normal(n)
    y = 1 + x + rng.standard_normal(n_clusters)[g] + rng.standard_normal(n)
    b = (y + rng.standard_normal(n) > 1).astype(float)
    X = pd.DataFrame({"g": g, "x": x, "y": y, "b": b})
    X.loc[rng.random(n) < 0.3, "y"] = np.nan
    X.loc[rng.random(n) < 0.2, "x"] = np.nan
    X.loc[rng.random(n) < 0.2, "b"] = np.nan
    return X


@pytest.fixture
def X():
    return _frame()


def raises(exc, message):
    """pytest.raises that checks the whole message, not a fragment."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


def imputer(**kw):
    kw.setdefault("cluster", "g")
    kw.setdefault("max_iter", 2)
    kw.setdefault("random_state", 0)
    return MultilevelIterativeImputer(**kw)


# --------------------------------------------------------------------------- #
# the cluster column
# --------------------------------------------------------------------------- #
def test_missing_cluster_ids(X):
    X.loc[[3, 7], "g"] = np.nan
    msg = (
        "The cluster column 'g' has missing values (rows [3, 7]...); every row needs a cluster id."
    )
    with raises(ValueError, msg):
        imputer().fit(X)


def test_missing_cluster_ids_at_transform(X):
    fitted = imputer().fit(X)
    X.loc[[5], "g"] = np.nan
    with raises(
        ValueError,
        "The cluster column 'g' has missing values (rows [5]...); every row needs a cluster id.",
    ):
        fitted.transform(X)


def test_unknown_cluster_column(X):
    with raises(
        ValueError, "cluster='school' is not a column of X (columns: ['g', 'x', 'y', 'b'])."
    ):
        imputer(cluster="school").fit(X)


def test_cluster_position_out_of_range(X):
    with raises(ValueError, "cluster=9 is not a column position of X (4 columns)."):
        imputer(cluster=9).fit(X.to_numpy())


def test_cluster_name_with_an_array(X):
    msg = (
        "cluster='g' is not a column of X (columns: [0, 1, 2, 3]). X has no column names "
        "(an array): give the cluster column's position, or pass a DataFrame."
    )
    with raises(ValueError, msg):
        imputer().fit(X.to_numpy())


def test_cluster_ids_change_type_at_transform(X):
    fitted = imputer().fit(X)
    msg = ("The cluster column 'g' held numbers in fit and holds text now: every cluster "
           "would be new. Give its ids the type they had in fit.")
    with raises(TypeError, msg):
        fitted.transform(X.assign(g="school" + X["g"].astype(str)))


# --------------------------------------------------------------------------- #
# columns and values
# --------------------------------------------------------------------------- #
def test_duplicate_column_names(X):
    X.columns = ["g", "x", "x", "b"]
    with raises(ValueError, "X has duplicate column names: ['x']."):
        imputer().fit(X)


def test_multiindex_columns(X):
    X.columns = pd.MultiIndex.from_product([["a"], X.columns])
    msg = (
        "X has MultiIndex columns; skmice needs one label per column: flatten them first, "
        "e.g. X.columns = ['_'.join(map(str, c)) for c in X.columns]."
    )
    with raises(TypeError, msg):
        imputer(cluster=("a", "g")).fit(X)


def test_mixed_types_in_one_column(X):
    X["x"] = X["x"].astype(object)
    X.loc[2, "x"] = "abc"
    msg = (
        "Column 'x' mixes value types (float, str); an object column must hold only "
        "strings (categories), only booleans or only numbers. Convert it to a numeric or a "
        "categorical dtype first."
    )
    with raises(TypeError, msg):
        imputer().fit(X)


def test_infinite_values(X):
    X.loc[2, "x"] = np.inf
    with raises(
        ValueError,
        "Column 'x' contains infinite values; replace them by NaN (to impute) or by finite values.",
    ):
        imputer().fit(X)


def test_infinite_values_in_an_array(X):
    A = X.to_numpy()
    A[4, 2] = -np.inf
    with raises(
        ValueError,
        "Column 2 contains infinite values; replace them by NaN (to impute) or by finite values.",
    ):
        imputer(cluster=0).fit(A)


def test_all_missing_column(X):
    X["x"] = np.nan
    with pytest.warns(UserWarning, match=r"Columns \['x'\] are entirely missing.*left out"):
        out = imputer().fit_transform(X)
    assert "x" not in out.columns


def test_datetime_column_passes_through(X):
    X["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(X)), "h")
    X["lag"] = pd.to_timedelta(np.arange(len(X)), "s")
    fitted = imputer()
    out = fitted.fit_transform(X)
    pd.testing.assert_series_equal(out["when"], X["when"])
    pd.testing.assert_series_equal(out["lag"], X["lag"])
    assert (fitted.predictor_matrix_[["when", "lag"]] == 0).all().all()
    assert "when" in set(fitted.log_.loc[fitted.log_["event"] == "not used as predictor",
                                         "variable"])


def test_datetime_column_with_a_method(X):
    X["when"] = pd.Timestamp("2020-01-01")
    msg = (
        f"Column 'when' has dtype {X['when'].dtype}: skmice passes date and time columns "
        "through and cannot impute them (method 'pmm'). Convert it to numbers to impute it or "
        "to use it as a predictor."
    )
    with raises(TypeError, msg):
        imputer(methods={"when": "pmm"}).fit(X)


def test_incomplete_datetime_column_warns_and_stays_missing(X):
    X["when"] = pd.Timestamp("2020-01-01")
    X.loc[[3, 7], "when"] = pd.NaT
    with pytest.warns(UserWarning, match="'when'.*2 missing values.*stay missing"):
        out = imputer().fit_transform(X)
    assert out["when"].isna().sum() == 2
    assert out.drop(columns="when").notna().all().all()


def test_series_input(X):
    with raises(TypeError, "X must be 2-dimensional (a DataFrame or a 2-d array), got a Series."):
        imputer(cluster=None).fit(X["x"])


def test_one_dimensional_array(X):
    msg = (
        "Expected a 2-dimensional X, got an array of shape (200,). Reshape your data either "
        "using array.reshape(-1, 1) if your data has a single feature or "
        "array.reshape(1, -1) if it contains a single sample."
    )
    with raises(ValueError, msg):
        imputer(cluster=None).fit(X["x"].to_numpy())


def test_sparse_input(X):
    with raises(TypeError, "Sparse input is not supported: pass a dense array or a DataFrame."):
        imputer(cluster=None).fit(sp.csr_matrix(X.fillna(0).to_numpy()))


def test_no_rows(X):
    with raises(ValueError, "0 sample(s) (shape=(0, 4)) while a minimum of 1 is required."):
        imputer().fit(X.iloc[:0])


# --------------------------------------------------------------------------- #
# methods
# --------------------------------------------------------------------------- #
def test_continuous_method_on_a_binary_column(X):
    X["c"] = pd.Categorical(np.where(X["x"] > 0, "a", "b"))
    X.loc[0, "c"] = np.nan
    msg = (
        "Method 'norm' cannot impute column 'c': the column is binary and 'norm' imputes "
        "continuous columns."
    )
    with raises(ValueError, msg):
        imputer(methods={"c": "norm"}).fit(X)


def test_binary_method_on_a_continuous_column(X):
    n_distinct = X["y"].nunique()
    msg = (
        f"Method 'logreg' cannot impute column 'y': the column is continuous ({n_distinct} "
        "distinct observed values) and 'logreg' imputes binary columns."
    )
    with raises(ValueError, msg):
        imputer(methods={"y": "logreg"}).fit(X)


def test_two_level_method_without_a_cluster_column(X):
    with raises(
        ValueError,
        "Column 'y': method '2l.pan' is a two-level method and needs the "
        "cluster column: set cluster=.",
    ):
        imputer(cluster=None, methods={"y": "2l.pan"}).fit(X)


def test_unknown_method_name(X):
    from skmice.methods import registered_methods

    names = sorted(registered_methods())
    assert {"2l.pan", "2l.pmm", "ml.norm", "pmm", "polyreg"} <= set(names)
    msg = f"Column 'y': Unknown method '2l.foo'; known methods: {', '.join(names)}."
    with raises(ValueError, msg):
        imputer(methods={"y": "2l.foo"}).fit(X)


def test_method_of_the_wrong_type(X):
    with raises(
        TypeError,
        "Column 'y': a method must be a registered name, a "
        "ConditionalMethod or a scikit-learn estimator, got 3.",
    ):
        imputer(methods={"y": 3}).fit(X)


def test_method_for_an_unknown_column(X):
    with raises(ValueError, "methods names columns that are not in X: ['zz']."):
        imputer(methods={"zz": "pmm"}).fit(X)


def test_methods_by_name_with_an_array(X):
    msg = (
        "methods names columns that are not in X: ['y']. X has no column names (an array): "
        "key methods by column position, or pass a DataFrame."
    )
    with raises(ValueError, msg):
        imputer(cluster=0, methods={"y": "pmm"}).fit(X.to_numpy())


def test_cluster_level_method_on_a_unit_level_column(X):
    msg = (
        "Column 'x' is imputed as a cluster-level variable, but its observed values differ "
        "within clusters [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (and more): use a unit-level "
        "method or make the values agree."
    )
    with raises(ValueError, msg):
        imputer(methods={"x": "2lonly.norm"}).fit(X)


def test_selection_model_without_exclusion_restriction(X):
    msg = (
        "Imputing column 'y' failed: TwoLevelHeckman ('2l.heckman'): no exclusion "
        "restriction: every column of the selection equation is also in the outcome "
        "equation. Give at least one predictor that affects missingness but not the target "
        "code -3 in the predictor matrix."
    )
    with raises(ValueError, msg):
        imputer(methods={"y": "2l.heckman"}).fit(X)


# --------------------------------------------------------------------------- #
# the predictor matrix
# --------------------------------------------------------------------------- #
def test_predictor_matrix_of_the_wrong_shape(X):
    P = make_predictor_matrix(X, cluster="g").to_numpy()
    with raises(
        ValueError, "predictor_matrix must have shape (4, 4) to match X's columns, got (2, 4)."
    ):
        imputer(predictor_matrix=P[:2]).fit(X)


def test_predictor_matrix_with_an_unknown_code(X):
    P = make_predictor_matrix(X, cluster="g")
    P.loc["y", "x"] = 7
    msg = (
        "predictor_matrix has unknown code 7 (target 'y', predictor 'x'); allowed codes are "
        "(-4, -3, -2, 0, 1, 2, 3, 4)."
    )
    with raises(ValueError, msg):
        imputer(predictor_matrix=P).fit(X)


@pytest.mark.parametrize("code", [0.5, np.nan, np.inf, -np.inf])
def test_predictor_matrix_with_fractions(X, code):
    P = make_predictor_matrix(X, cluster="g").astype(float)
    P.loc["y", "x"] = code
    msg = (f"predictor_matrix must hold integer codes, got {code} (target 'y', predictor 'x'); "
           "allowed codes are (-4, -3, -2, 0, 1, 2, 3, 4).")
    with raises(ValueError, msg):
        imputer(predictor_matrix=P).fit(X)


def test_predictor_matrix_with_self_prediction(X):
    P = make_predictor_matrix(X, cluster="g")
    P.loc["y", "y"] = 1
    with raises(ValueError, "predictor_matrix: a target cannot predict itself: ['y']."):
        imputer(predictor_matrix=P).fit(X)


def test_predictor_matrix_with_two_cluster_columns(X):
    P = make_predictor_matrix(X, cluster="g")
    P.loc["y", "x"] = -2
    with raises(ValueError, "predictor_matrix: more than one cluster (-2) column in rows ['y']."):
        imputer(predictor_matrix=P).fit(X)


def test_predictor_matrix_with_unknown_names(X):
    P = make_predictor_matrix(X, cluster="g").rename(columns={"x": "x_typo"})
    msg = (
        "predictor_matrix names that are not columns of X: rows [], columns ['x_typo'] "
        "(X's columns: ['g', 'x', 'y', 'b'])."
    )
    with raises(ValueError, msg):
        imputer(predictor_matrix=P).fit(X)


def test_predictor_matrix_with_names_for_an_array(X):
    P = make_predictor_matrix(X, cluster="g")
    msg = (
        "predictor_matrix names that are not columns of X: rows ['g', 'x', 'y', 'b'], "
        "columns ['g', 'x', 'y', 'b'] (X's columns: [0, 1, 2, 3])."
    )
    with raises(ValueError, msg):
        imputer(cluster=0, predictor_matrix=P).fit(X.to_numpy())


# --------------------------------------------------------------------------- #
# transform
# --------------------------------------------------------------------------- #
def test_transform_before_fit(X):
    msg = (
        "This MultilevelIterativeImputer instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator."
    )
    with raises(NotFittedError, msg):
        imputer().transform(X)


def test_transform_with_new_categories(X):
    X["c"] = pd.Categorical(np.where(X["x"] > 0, "a", "b"))
    fitted = imputer().fit(X)
    new = X.copy()
    new["c"] = new["c"].cat.add_categories("zz")
    new.loc[1, "c"] = "zz"
    with raises(ValueError, "Column 'c' has categories not seen in fit: ['zz']."):
        fitted.transform(new)


def test_transform_with_missing_columns(X):
    fitted = imputer().fit(X)
    with raises(
        ValueError, "The columns of X differ from those seen in fit: missing ['x'], unexpected []."
    ):
        fitted.transform(X.drop(columns="x"))


def test_transform_with_reordered_columns(X):
    fitted = imputer().fit(X)
    with raises(
        ValueError,
        "The columns of X differ from those seen in fit: missing [], "
        "unexpected [] (the order differs).",
    ):
        fitted.transform(X[["x", "g", "y", "b"]])


def test_transform_with_text_in_a_numeric_column(X):
    fitted = imputer().fit(X)
    with raises(TypeError, "Column 'b' was numeric in fit and holds text now."):
        fitted.transform(X.assign(b=X["b"].map({0.0: "no", 1.0: "yes"})))


def test_transform_of_an_array_with_the_wrong_width(X):
    fitted = imputer(cluster=0).fit(X.to_numpy())
    with raises(
        ValueError,
        "X has 3 features, but MultilevelIterativeImputer is expecting 4 features as input.",
    ):
        fitted.transform(X.to_numpy()[:, :3])


def test_transform_of_an_array_after_fit_on_a_frame_reads_columns_by_position(X):
    """Not an error: a warning, then the columns are taken in the order seen in fit."""
    fitted = imputer().fit(X)
    with pytest.warns(UserWarning, match="X has no feature names"):
        out = fitted.transform(X.to_numpy())
    assert isinstance(out, np.ndarray) and not np.isnan(out).any()
    observed = X.notna().to_numpy()
    np.testing.assert_array_equal(out[observed], X.to_numpy()[observed])


# --------------------------------------------------------------------------- #
# parameters
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "params, exc, message",
    [
        (dict(max_iter=-1), ValueError, "max_iter must be >= 0, got -1."),
        (dict(max_iter="5"), TypeError, "max_iter must be an int, got str."),
        (
            dict(random_state="x"),
            TypeError,
            "random_state must be None, a non-negative int, a "
            "numpy SeedSequence, Generator or RandomState, got "
            "str.",
        ),
        (
            dict(visit_sequence="zzz"),
            ValueError,
            "visit_sequence must be one of ('roman', "
            "'arabic', 'monotone', 'revmonotone') or a "
            "list of columns, got 'zzz'.",
        ),
        (dict(verbose="loud"), TypeError, "verbose must be an int, got str."),
    ],
    ids=["max_iter=-1", "max_iter=str", "random_state", "visit_sequence", "verbose"],
)
def test_invalid_parameters(X, params, exc, message):
    with raises(exc, message):
        imputer(**params).fit(X)


@pytest.mark.parametrize(
    "params, exc, message",
    [
        (dict(n_imputations=0), ValueError, "n_imputations must be >= 1, got 0."),
        (dict(n_imputations=2.5), TypeError, "n_imputations must be an int, got float."),
    ],
    ids=["n_imputations=0", "n_imputations=float"],
)
def test_invalid_pipeline_parameters(X, params, exc, message):
    pipe = MultipleImputationPipeline(imputer(), LinearRegression(), **params)
    with raises(exc, message):
        pipe.fit(X.drop(columns="y"), X["y"].fillna(0.0))
