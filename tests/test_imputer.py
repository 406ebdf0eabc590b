import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import BayesianRidge

from skmice import MultilevelIterativeImputer
from skmice.datasets import make_mar_regression
from skmice.methods import ConditionalMethod, register_method


def _mixed_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "num": x + rng.normal(scale=0.5, size=n),
            "int": rng.integers(0, 10, size=n),
            "nullable": pd.array(rng.integers(0, 5, size=n), dtype="Int64"),
            "flag": rng.random(n) < 0.5,
            "nflag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "binnum": (rng.random(n) < 0.4).astype(float),
            "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n),
                                  categories=["lo", "mid", "hi"], ordered=True),
            "txt": np.array(rng.choice(["None", "cat", "dog"], size=n), dtype=object),
            "x": x,
        },
        index=pd.Index(np.arange(100, 100 + n) * 3, name="row"),
    )
    X.loc[X.index[rng.random(n) < 0.2], "num"] = np.nan
    X.loc[X.index[rng.random(n) < 0.2], "nullable"] = pd.NA
    X.loc[X.index[rng.random(n) < 0.2], "nflag"] = pd.NA
    X.loc[X.index[rng.random(n) < 0.2], "binnum"] = np.nan
    X.loc[X.index[rng.random(n) < 0.2], "cat"] = np.nan
    X.loc[X.index[rng.random(n) < 0.2], "txt"] = None
    return X


def test_completes_and_keeps_observed_values_dtypes_index():
    X = _mixed_frame()
    before = X.copy(deep=True)
    imp = MultilevelIterativeImputer(methods={"binnum": "logreg"}, max_iter=3, random_state=0)
    out = imp.fit_transform(X)
    pd.testing.assert_frame_equal(X, before)  # input not modified
    assert list(out.columns) == list(X.columns)
    assert out.index.equals(X.index)
    assert out.isna().sum().sum() == 0
    for col in X.columns:
        assert out[col].dtype == X[col].dtype, col
        obs = X[col].notna()
        pd.testing.assert_series_equal(out.loc[obs, col], X.loc[obs, col])
    assert set(out["binnum"].unique()) <= {0.0, 1.0}
    assert set(out["txt"].unique()) <= {"None", "cat", "dog"}  # "None" is a category
    assert set(out["cat"].cat.categories) == {"lo", "mid", "hi"}
    assert out["cat"].cat.ordered


def test_observed_floats_unchanged_bit_for_bit():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 3)) * np.array([1e-8, 1.0, 1e8])
    X[rng.random(X.shape) < 0.25] = np.nan
    X_orig = X.copy()
    out = MultilevelIterativeImputer(methods="norm", max_iter=2, random_state=0).fit_transform(X)
    obs = ~np.isnan(X_orig)
    assert np.array_equal(out[obs].view(np.uint64), X_orig[obs].view(np.uint64))
    assert np.array_equal(X, X_orig, equal_nan=True)  # array input untouched
    assert isinstance(out, np.ndarray) and np.isfinite(out).all()


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([0.0, 1.0] * 20),
        pd.Series([False, True] * 20),
        pd.Series(pd.Categorical(["no", "yes"] * 20)),
        pd.Series(["no", "yes"] * 20, dtype=object),
    ],
)
def test_binary_codings_with_logreg_stay_in_their_coding(column):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=40)})
    X["b"] = column.astype(object) if column.dtype == object else column
    if isinstance(X["b"].dtype, pd.CategoricalDtype):
        X.loc[::5, "b"] = np.nan
    else:
        X["b"] = X["b"].astype(object).where(np.arange(40) % 5 != 0, None)
        if column.dtype != object:
            X["b"] = X["b"].astype(column.dtype if column.dtype != bool else "boolean")
    out = MultilevelIterativeImputer(methods={"b": "logreg"}, max_iter=2,
                                     random_state=0).fit_transform(X)
    assert out["b"].notna().all()
    assert set(out["b"].unique()) <= set(column.unique())
    assert out["b"].dtype == X["b"].dtype


def test_numpy_in_numpy_out_and_set_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X[::4, 1] = np.nan
    imp = MultilevelIterativeImputer(max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    assert isinstance(out, np.ndarray) and out.shape == X.shape
    assert list(imp.get_feature_names_out()) == ["x0", "x1", "x2"]
    imp.set_output(transform="pandas")
    frame = imp.fit_transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(frame.to_numpy(), out)


def test_same_seed_same_result_and_different_seeds_differ():
    X = make_mar_regression(200, random_state=1).data
    a = MultilevelIterativeImputer(random_state=5, max_iter=3).fit_transform(X)
    imp = MultilevelIterativeImputer(random_state=5, max_iter=3)
    b = imp.fit_transform(X)
    c = imp.fit_transform(X)  # refitting reproduces (a fresh generator per fit)
    d = MultilevelIterativeImputer(random_state=6, max_iter=3).fit_transform(X)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert not a.equals(d)


def test_transform_new_rows_and_columns_complete_in_fit():
    bunch = make_mar_regression(300, random_state=2)
    train, test = bunch.data.iloc[:200], bunch.complete.iloc[200:].copy()
    test.loc[test.index[::3], "x1"] = np.nan  # x1 was complete in fit
    test.loc[test.index[1::3], "y"] = np.nan
    imp = MultilevelIterativeImputer(random_state=0, max_iter=3).fit(train)
    out1 = imp.transform(test)
    out2 = imp.transform(test)
    assert out1.notna().all().all()
    pd.testing.assert_frame_equal(out1, out2)  # reproducible for the same input
    obs = test.notna()
    assert (out1[obs] == test[obs]).sum().sum() == obs.sum().sum()
    with pytest.raises(ValueError, match=r"missing \['y'\]"):
        imp.transform(test.drop(columns="y"))
    with pytest.raises(ValueError, match="order"):
        imp.transform(test[["y", "x1", "x2", "group"]])


def test_transform_without_method_for_column_errors():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, 5.0], "b": [1.0, 2.0, 3.0, 4.0, 6.0]})
    imp = MultilevelIterativeImputer(methods={"a": "norm"}, random_state=0, max_iter=2).fit(X)
    assert imp.methods_["b"] is None
    with pytest.raises(ValueError, match=r"\['b'\].*no imputation method"):
        imp.transform(pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, 1.0]}))


@pytest.mark.parametrize("vs,expected", [
    ("roman", ["a", "b", "c"]),
    ("arabic", ["c", "b", "a"]),
    ("monotone", ["b", "c", "a"]),
    ("revmonotone", ["a", "c", "b"]),
    (["c", "a", "c"], ["c", "a", "c"]),
])
def test_visit_sequence(vs, expected):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 4)), columns=["a", "b", "c", "d"])
    X.loc[:19, "a"] = np.nan
    X.loc[:4, "b"] = np.nan
    X.loc[:9, "c"] = np.nan
    imp = MultilevelIterativeImputer(visit_sequence=vs, max_iter=2, random_state=0).fit(X)
    assert imp.visit_sequence_ == expected
    assert imp.trace_["variable"].tolist() == expected * 2
    assert imp.n_iter_ == 2


def test_trace_records_mean_and_sd_of_imputed_values():
    X = make_mar_regression(200, random_state=0).data
    imp = MultilevelIterativeImputer(max_iter=4, random_state=0)
    out = imp.fit_transform(X)
    last = imp.trace_[(imp.trace_.iteration == 4) & (imp.trace_.variable == "y")]
    mis = X["y"].isna()
    assert last["mean"].item() == pytest.approx(out.loc[mis, "y"].mean())
    assert last["sd"].item() == pytest.approx(out.loc[mis, "y"].std())


def test_collinear_and_constant_predictors_are_logged_not_fatal():
    rng = np.random.default_rng(0)
    n = 80
    x = rng.normal(size=n)
    X = pd.DataFrame({"x": x, "x2": 2 * x, "const": 1.0, "y": x + rng.normal(size=n)})
    X.loc[:19, "y"] = np.nan
    imp = MultilevelIterativeImputer(max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    assert out["y"].notna().all()
    assert (imp.log_["event"] == "predictors dropped").any()
    detail = " ".join(imp.log_["detail"])
    assert "const" in detail and ("x2" in detail or "'x'" in detail)


def test_incomplete_predictor_without_method_is_dropped_and_logged():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    X.loc[:9, "a"] = np.nan
    X.loc[5:14, "b"] = np.nan
    imp = MultilevelIterativeImputer(methods={"a": "norm", "b": ""}, max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    assert out["a"].notna().all() and out["b"].isna().sum() == 10
    assert imp.predictor_matrix_.loc["a", "b"] == 0
    assert "not used as predictor" in imp.log_["event"].tolist()


def test_no_missing_values_returns_input():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["u", "v", "u"]})
    out = MultilevelIterativeImputer(random_state=0).fit_transform(X)
    pd.testing.assert_frame_equal(out, X)


def test_user_registered_method_and_sklearn_estimator():
    @register_method("test.median")
    class Median(ConditionalMethod):
        supported_kinds = ("continuous",)

        def fit(self, design, y, random_state):
            self.median_ = float(np.median(y))
            return self

        def sample(self, design, random_state, observed=None):
            return np.full(design.n_rows, self.median_)

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    X.loc[:5, "a"] = np.nan
    X.loc[10:15, "b"] = np.nan
    imp = MultilevelIterativeImputer(methods={"a": "test.median", "b": BayesianRidge()},
                                     max_iter=2, random_state=0)
    out = imp.fit_transform(X)
    assert (out.loc[:5, "a"] == X["a"].median()).all()
    assert out["b"].notna().all()


def test_pooled_estimates_cover_truth_and_complete_cases_do_not():
    smf = pytest.importorskip("statsmodels.formula.api")
    from skmice import multiple_impute

    bunch = make_mar_regression(2000, random_state=1)
    cc = smf.ols(bunch.formula, bunch.data.dropna()).fit()
    cc_z = np.abs((cc.params - pd.Series(bunch.truth)) / cc.bse)
    assert cc_z.max() > 5  # complete cases are visibly biased
    for meth in ("pmm", "norm"):
        imp = MultilevelIterativeImputer(methods={"x2": meth, "y": meth})
        mi = multiple_impute(bunch.data, imp, n_imputations=20, random_state=0)
        pooled = mi.analyze(lambda d: smf.ols(bunch.formula, d).fit()).pool()
        z = (pooled["estimate"] - pd.Series(bunch.truth)) / pooled["std_error"]
        assert np.abs(z).max() < 3, (meth, z)


# --------------------------------------------------------------------------- #
# Bad input: clear errors naming the column or parameter
# --------------------------------------------------------------------------- #
def _simple():
    return pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, np.nan, 4.0]})


@pytest.mark.parametrize("column,message", [
    (pd.Series([1 + 2j] * 4), "'odd' has dtype complex128"),
    (pd.Series(["a", 1, "b", 2.5], dtype=object), "'odd' mixes value types"),
])
def test_unreadable_column_passed_through_when_complete(column, message):
    X = _simple()
    X["odd"] = column
    with pytest.warns(UserWarning, match="'odd' is passed through unchanged.*" + message):
        imp = MultilevelIterativeImputer(random_state=0)
        out = imp.fit_transform(X)
    pd.testing.assert_series_equal(out["odd"], X["odd"])
    assert (imp.predictor_matrix_["odd"] == 0).all()  # not a predictor
    pd.testing.assert_series_equal(imp.transform(X)["odd"], X["odd"])
    X.loc[0, "odd"] = None  # incomplete: an error naming the column
    with pytest.raises(TypeError, match=message):
        MultilevelIterativeImputer().fit(X)


def test_error_infinities():
    X = _simple()
    X.loc[0, "b"] = np.inf
    with pytest.raises(ValueError, match="'b' contains infinite"):
        MultilevelIterativeImputer().fit(X)
    with pytest.raises(ValueError, match="Column 1 contains infinite"):
        MultilevelIterativeImputer().fit(X.to_numpy())


def test_all_missing_column_left_out_with_a_warning():
    X = _simple()
    X["empty"] = np.nan
    with pytest.warns(UserWarning, match=r"\['empty'\] are entirely missing.*left out"):
        imp = MultilevelIterativeImputer(random_state=0).fit(X)
    assert "empty" not in imp.transform(X).columns
    assert "empty" not in imp.get_feature_names_out()


def test_error_unknown_method_name():
    with pytest.raises(ValueError, match="Column 'a'.*Unknown method 'pmn'"):
        MultilevelIterativeImputer(methods={"a": "pmn"}).fit(_simple())
    with pytest.raises(ValueError, match="not in X"):
        MultilevelIterativeImputer(methods={"zz": "pmm"}).fit(_simple())
    with pytest.raises(TypeError, match="Column 'a'"):
        MultilevelIterativeImputer(methods={"a": 3}).fit(_simple())


def test_error_method_does_not_fit_column_type():
    X = make_mar_regression(50, random_state=0).data
    with pytest.raises(ValueError, match="'logreg' cannot impute column 'y'.*continuous"):
        MultilevelIterativeImputer(methods={"y": "logreg"}).fit(X)
    X2 = X.copy()
    X2.loc[:4, "group"] = np.nan
    with pytest.raises(ValueError, match="'norm' cannot impute column 'group'"):
        MultilevelIterativeImputer(methods={"group": "norm"}).fit(X2)


@pytest.mark.parametrize("value,exc", [(-1, ValueError), (2.5, TypeError)])
def test_error_bad_max_iter(value, exc):
    with pytest.raises(exc, match="max_iter"):
        MultilevelIterativeImputer(max_iter=value).fit(_simple())


def test_error_bad_visit_sequence_and_strategy():
    with pytest.raises(ValueError, match="visit_sequence"):
        MultilevelIterativeImputer(visit_sequence="sideways").fit(_simple())
    with pytest.raises(ValueError, match="visit_sequence"):
        MultilevelIterativeImputer(visit_sequence=["a", "q"]).fit(_simple())
    with pytest.raises(ValueError, match="initial_strategy"):
        MultilevelIterativeImputer(initial_strategy="zero").fit(_simple())
    with pytest.raises(TypeError, match="random_state"):
        MultilevelIterativeImputer(random_state="seed").fit(_simple())


def test_error_cluster_problems():
    X = _simple()
    X["g"] = [1, 1, 2, None]
    with pytest.raises(ValueError, match="cluster=.*'nope'"):
        MultilevelIterativeImputer(cluster="nope").fit(X)
    with pytest.raises(ValueError, match="cluster column 'g' has missing values"):
        MultilevelIterativeImputer(cluster="g").fit(X)
    X["g"] = [1, 1, 2, 2]
    with pytest.raises(ValueError, match="two-level method and needs the cluster"):
        MultilevelIterativeImputer(methods={"a": "2l.pan"}).fit(X)


def test_error_transform_wrong_number_of_features_and_unfitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MultilevelIterativeImputer().transform(_simple())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    X[0, 0] = np.nan
    imp = MultilevelIterativeImputer(max_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="2 features.*expecting 3"):
        imp.transform(X[:, :2])


def test_no_warnings_on_well_behaved_data():
    X = make_mar_regression(200, random_state=3).data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultilevelIterativeImputer(max_iter=3, random_state=0).fit_transform(X)
