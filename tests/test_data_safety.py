"""Nothing a user hands skmice is lost or silently changed.

Observed cells survive every dtype bit for bit, integer columns stay integer
and inside their range, categoricals of any category type keep their
categories, columns left as they are keep their missing cells, data on any
finite scale imputes, and the stored datasets of a multiple imputation are
never handed out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from skmice import (
    MultilevelIterativeImputer,
    MultipleImputationPipeline,
    MultiplyImputedData,
    multiple_impute,
)
from skmice.exceptions import NumericalError


def _frame(n_clusters=6, size=10, seed=0):
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=n) + rng.normal(size=n_clusters)[g]
    return pd.DataFrame({"g": g, "x": x}), rng


def _imputer(**kw):
    kw.setdefault("cluster", "g")
    kw.setdefault("max_iter", 2)
    kw.setdefault("random_state", 0)
    return MultilevelIterativeImputer(**kw)


def _assert_observed_identical(out: pd.Series, src: pd.Series):
    obs = src.notna().to_numpy()
    assert out.dtype == src.dtype
    got, want = out[obs], src[obs]
    if pd.api.types.is_float_dtype(src.dtype):
        assert np.array_equal(got.to_numpy(dtype=np.float64).view(np.int64),
                              want.to_numpy(dtype=np.float64).view(np.int64))
    else:
        assert got.tolist() == want.tolist()


# --------------------------------------------------------------------------- #
# integers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype, base", [("Int64", 2**60), ("UInt64", 2**64 - 5000),
                                         ("Int64", -(2**62))])
def test_big_integers_keep_every_observed_value(dtype, base):
    X, rng = _frame()
    X["big"] = pd.array([base + int(v) for v in rng.integers(0, 1000, len(X))], dtype=dtype)
    X.loc[[3, 17], "big"] = pd.NA
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = _imputer().fit_transform(X)
    _assert_observed_identical(out["big"], X["big"])
    assert out["big"].notna().all()
    info = np.iinfo(np.dtype(dtype.lower()))
    assert all(info.min <= int(v) <= info.max for v in out["big"])


def test_unsigned_max_survives():
    X, _ = _frame()
    X["u"] = pd.array([np.iinfo(np.uint64).max] * len(X), dtype="UInt64")
    X.loc[0, "u"] = pd.NA
    out = _imputer().fit_transform(X)
    assert out["u"].dtype == "UInt64"
    assert (out["u"] == np.iinfo(np.uint64).max).all()


@pytest.mark.parametrize("dtype", ["UInt8", "Int8", "Int16", "UInt16", "Int32"])
def test_small_nullable_integers_stay_integers_in_range(dtype):
    X, rng = _frame()
    X["u"] = pd.array(rng.integers(0, 2, len(X)), dtype=dtype)
    X.loc[::4, "u"] = pd.NA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # clipping, tested below
        out = _imputer(methods={"u": "2l.pan"}).fit_transform(X)
    assert out["u"].dtype == dtype
    _assert_observed_identical(out["u"], X["u"])
    info = np.iinfo(np.dtype(dtype.lower()))
    assert out["u"].between(info.min, info.max).all()


def test_clipping_to_the_dtype_warns_and_names_the_column():
    X, rng = _frame(size=20)
    X["u"] = pd.array(np.where(rng.random(len(X)) < 0.5, 0, 1), dtype="UInt8")
    X.loc[::2, "u"] = pd.NA
    with pytest.warns(UserWarning, match=r"Column 'u': \d+ imputed value\(s\) fell outside"):
        out = _imputer(methods={"u": "2l.pan"}, max_iter=5).fit_transform(X)
    assert (out["u"] >= 0).all()


# --------------------------------------------------------------------------- #
# categoricals of any category type
# --------------------------------------------------------------------------- #
CATEGORIES = {
    "int": [1, 2, 3, 4, 5, 6],
    "float": [0.5, 1.5, 2.5],
    "bool": [False, True],
    "mixed": ["a", 1, 2.5],
    "str": ["low", "mid", "high"],
}


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("kind", list(CATEGORIES))
def test_categoricals_of_any_category_type(kind, ordered):
    X, rng = _frame()
    cats = CATEGORIES[kind]
    dtype = pd.CategoricalDtype(cats, ordered=ordered)
    X["s"] = pd.Series(pd.Categorical.from_codes(rng.integers(0, len(cats), len(X)),
                                                 dtype=dtype))
    X.loc[[1, 5, 22], "s"] = np.nan
    imp = _imputer(methods={"s": "polyreg" if len(cats) > 2 else "logreg"})
    out = imp.fit_transform(X)
    assert out["s"].dtype == dtype
    assert out["s"].notna().all()
    _assert_observed_identical(out["s"], X["s"])
    new = X.copy()
    new["g"] = new["g"] + 100  # new clusters
    again = imp.transform(new)
    assert again["s"].dtype == dtype
    assert again["s"].notna().all()


def test_categorical_transform_with_a_narrower_dtype():
    X, rng = _frame()
    X["s"] = pd.Categorical(rng.integers(1, 4, len(X)), categories=[1, 2, 3])
    X.loc[[1, 5], "s"] = np.nan
    imp = _imputer(methods={"s": "polyreg"}).fit(X)
    new = X.copy()
    keep = new["s"].isin([1, 3])
    new["s"] = pd.Categorical(new["s"].astype(object).where(keep, None), categories=[3, 1])
    out = imp.transform(new)
    assert list(out["s"].cat.categories[:2]) == [3, 1]
    assert set(out["s"].cat.categories) == {1, 2, 3}
    _assert_observed_identical(out["s"].astype(object), new["s"].astype(object))


def test_categorical_unseen_category_in_transform_names_the_column():
    X, rng = _frame()
    X["s"] = pd.Categorical(rng.integers(1, 4, len(X)), categories=[1, 2, 3])
    X.loc[1, "s"] = np.nan
    imp = _imputer(methods={"s": "polyreg"}).fit(X)
    new = X.copy()
    new["s"] = pd.Categorical([9] + [1] * (len(X) - 1), categories=[1, 9])
    with pytest.raises(ValueError, match=r"Column 's' has categories not seen in fit: \['9'\]"):
        imp.transform(new)


def test_pipeline_predict_with_integer_categories():
    X, rng = _frame(size=15)
    X["score"] = pd.Categorical(rng.integers(1, 7, len(X)), categories=range(1, 7),
                                ordered=True)
    X.loc[::7, "score"] = np.nan
    X.loc[::5, "x"] = np.nan
    y = rng.normal(size=len(X))
    from sklearn.linear_model import LinearRegression

    pipe = MultipleImputationPipeline(_imputer(), LinearRegression(), n_imputations=2,
                                      random_state=0)
    X_num = X.assign(score=X["score"])
    pipe.fit(X_num.assign(score=X_num["score"].cat.codes.replace(-1, np.nan)), y)
    assert np.isfinite(pipe.predict(X_num.assign(
        score=X_num["score"].cat.codes.replace(-1, np.nan)))).all()
    imp = _imputer().fit(X)
    assert imp.transform(X)["score"].dtype == X["score"].dtype


# --------------------------------------------------------------------------- #
# method "": left as it is
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.Categorical(["a", "b", "c"] * 20)),
        pd.Series(["u", "v"] * 30, dtype=object),
        pd.Series(["u", "v"] * 30, dtype="string"),
        pd.Series([True, False] * 30, dtype="boolean"),
        pd.Series(np.arange(60.0)),
        pd.Series(np.arange(60), dtype="Int64"),
    ],
    ids=["categorical", "object", "string", "boolean", "float", "Int64"],
)
def test_empty_method_leaves_the_column_as_it_is(column):
    X, _ = _frame()
    X["z"] = column
    X.loc[[2, 9, 30], "z"] = None
    X.loc[::6, "x"] = np.nan
    imp = _imputer(methods={"z": ""})
    out = imp.fit_transform(X)
    assert out["z"].isna().sum() == 3
    assert out["z"].dtype == X["z"].dtype
    _assert_observed_identical(out["z"], X["z"])
    assert out["x"].notna().all()
    events = imp.log_[imp.log_["variable"] == "z"]
    assert set(events["event"]) == {"not imputed", "not used as predictor"}
    assert (imp.predictor_matrix_["z"] == 0).all()
    again = imp.transform(X)
    assert again["z"].isna().sum() == 3 and again["x"].notna().all()


def test_empty_method_on_a_complete_predictor_fails_clearly_at_transform():
    X, _ = _frame()
    X["z"] = np.arange(len(X), dtype=float)
    X.loc[::6, "x"] = np.nan
    imp = _imputer(methods={"z": ""}).fit(X)
    new = X.copy()
    new.loc[0, "z"] = np.nan
    with pytest.raises(ValueError, match=r"Column 'z' has missing values in X and no "
                                         r"imputation method .*\['x'\] use it as a predictor"):
        imp.transform(new)


# --------------------------------------------------------------------------- #
# scale
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", ["2l.pan", "2l.norm", "2l.pmm", "pmm", "norm"])
@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e155, 1e300])
def test_any_finite_scale_imputes(method, scale):
    X, rng = _frame()
    X["x"] = X["x"] * scale
    X["y"] = X["x"] + rng.normal(size=len(X)) * scale
    X.loc[::5, "y"] = np.nan
    out = _imputer(methods={"y": method}).fit_transform(X)
    assert np.isfinite(out["y"]).all()
    _assert_observed_identical(out["y"], X["y"])
    imputed = out.loc[X["y"].isna(), "y"].abs()
    assert (imputed < 100 * scale).all() and (imputed > 0).any()


@pytest.mark.parametrize("method", ["2l.pan", "pmm", "norm"])
def test_powers_of_two_scale_exactly(method):
    X, rng = _frame()
    X["y"] = X["x"] + rng.normal(size=len(X))
    X.loc[::5, "y"] = np.nan
    base = _imputer(methods={"y": method}).fit_transform(X)
    for k in (-600, -100, 100, 600):
        big = X.assign(x=np.ldexp(X["x"], k), y=np.ldexp(X["y"], k))
        out = _imputer(methods={"y": method}).fit_transform(big)
        np.testing.assert_array_equal(out["y"].to_numpy(), np.ldexp(base["y"].to_numpy(), k))


def test_trace_is_in_the_data_units():
    X, rng = _frame()
    X["y"] = (X["x"] + rng.normal(size=len(X))) * 1e200
    X.loc[::5, "y"] = np.nan
    imp = _imputer(methods={"y": "norm"}).fit(X)
    assert (imp.trace_["sd"] > 1e198).all()


def test_numerical_errors_are_value_errors():
    assert issubclass(NumericalError, ValueError)
    assert issubclass(NumericalError, FloatingPointError)


# --------------------------------------------------------------------------- #
# cluster ids
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "ids",
    [
        pd.Series(pd.Timestamp("2021-03-01") + pd.to_timedelta(np.repeat(np.arange(6), 10), "D")),
        pd.Series(np.repeat(["a", 1, 2.5, "b", 3, "c"], 10), dtype=object),
        pd.Series(pd.Categorical(np.repeat([10, 20, 30, 40, 50, 60], 10))),
        pd.Series(np.repeat(np.arange(6) + 0.5, 10)),
    ],
    ids=["datetime", "mixed", "categorical-int", "float"],
)
def test_cluster_ids_of_any_type(ids):
    X, _ = _frame()
    X["g"] = ids
    X.loc[::7, "x"] = np.nan
    imp = _imputer()
    out = imp.fit_transform(X)
    pd.testing.assert_series_equal(out["g"], X["g"])
    assert out["x"].notna().all()
    again = imp.transform(X)
    pd.testing.assert_series_equal(again["g"], X["g"])


def test_tuple_cluster_label():
    X, _ = _frame()
    X = X.rename(columns={"g": ("school", "id")})
    X.loc[::7, "x"] = np.nan
    out = _imputer(cluster=("school", "id")).fit_transform(X)
    assert out["x"].notna().all()
    assert out.columns.tolist() == X.columns.tolist()


# --------------------------------------------------------------------------- #
# MultiplyImputedData hands out copies
# --------------------------------------------------------------------------- #
@pytest.fixture
def mi():
    X, _ = _frame()
    X.loc[::5, "x"] = np.nan
    return X, multiple_impute(X, _imputer(), n_imputations=2, random_state=0)


def test_complete_gives_the_caller_a_copy(mi):
    X, res = mi
    before = res.complete(1).copy()
    d = res.complete(1)
    d["x"] = 0.0
    d.loc[0, "g"] = -1
    pd.testing.assert_frame_equal(res.complete(1), before)
    for d in res:
        d["x"] = 1.0
    pd.testing.assert_frame_equal(res.complete(1), before)


def test_data_is_copied_at_construction(mi):
    X, res = mi
    X.loc[0, "x"] = 123.0
    X["x"] = X["x"] * 2
    assert res.complete(0)["x"].isna().sum() == 12
    assert (res.complete(0)["x"] != 123.0).all()


def test_analyses_cannot_change_later_ones(mi):
    _, res = mi

    def recode(d):
        mean = d["x"].mean()
        d["x"] = 0.0
        return mean

    first = res.analyze(recode)
    second = res.analyze(recode)
    assert list(first) == list(second) and first[0] != 0.0


def test_user_built_imputations_are_copied():
    data = pd.DataFrame({"y": [1.0, np.nan]})
    done = [data.fillna(0.0), data.fillna(2.0)]
    res = MultiplyImputedData(data, done)
    done[0].loc[1, "y"] = 99.0
    assert res.complete(1)["y"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("name", [".id", ".imp"])
def test_long_names_the_column_it_cannot_add(name):
    data = pd.DataFrame({name: [1, 2], "y": [1.0, np.nan]})
    res = MultiplyImputedData(data, [data.fillna(0.0)])
    with pytest.raises(ValueError, match=rf"column named '\{name}', which long\(\) uses"):
        res.long()


def test_imputations_near_the_float_maximum_stay_finite():
    X, rng = _frame()
    X["y"] = pd.Series(list(1.5e308 + 1e307 * rng.random(len(X))), dtype=object)
    X.loc[::3, "y"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # clipping at the float maximum
        out = _imputer(methods={"y": "norm"}).fit_transform(X)
    assert np.isfinite(out["y"].astype(float)).all()
