"""The fitted frames of the imputer, the predictor-matrix checks, cluster codes and encoding.

- ``trace_``, ``log_``, ``levels_`` and ``predictor_matrix_`` exist only once
  fitted, are the same frame on every read, survive pickling (read or not
  yet read), follow a refit and can be assigned.
- ``predictor_codes`` gives the codes ``validate_predictor_matrix`` gives,
  whatever the input's container, order and dtype.
- Cluster ids are coded as ``pd.factorize(..., sort=True)`` codes them.
- Encoding float columns and decoding numbers give what the general paths
  give.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skmice import MultilevelIterativeImputer
from skmice._data import decode, encode
from skmice._design import predictor_codes, validate_predictor_matrix
from skmice._imputer import _factorize_sorted, _integer_codes

FRAMES = ("trace_", "log_", "levels_", "predictor_matrix_")


def _data(seed=0, n_clusters=12, size=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.standard_normal(g.size)
    y = x + rng.standard_normal(n_clusters)[g] + rng.standard_normal(g.size)
    X = pd.DataFrame({"g": g, "x": x, "y": y, "c": 2 * x})  # c: collinear with x
    X.loc[rng.random(g.size) < 0.3, "y"] = np.nan
    X.loc[rng.random(g.size) < 0.2, "x"] = np.nan
    return X


def _imputer(**kw):
    return MultilevelIterativeImputer(cluster="g", methods="2l.pan", max_iter=3,
                                      random_state=0, **kw)


@pytest.fixture(scope="module")
def fitted():
    with pytest.warns(UserWarning, match="remove_collinear"):
        return _imputer().fit(_data())


@pytest.mark.parametrize("name", FRAMES)
def test_frames_exist_only_once_fitted(name):
    imp = _imputer()
    assert not hasattr(imp, name)
    with pytest.raises(AttributeError, match=f"'MultilevelIterativeImputer' object has no "
                                             f"attribute '{name}'"):
        getattr(imp, name)
    with pytest.raises(NotFittedError):
        check_is_fitted(imp, name)
    with pytest.raises(NotFittedError):
        check_is_fitted(imp)


def test_frames_of_a_fit(fitted):
    check_is_fitted(fitted)
    for name in FRAMES:
        check_is_fitted(fitted, name)
        assert getattr(fitted, name) is getattr(fitted, name)  # made once
    assert list(fitted.trace_.columns) == ["iteration", "variable", "mean", "sd"]
    assert fitted.trace_["iteration"].tolist() == [1, 1, 2, 2, 3, 3]
    assert fitted.trace_["mean"].dtype == np.float64
    assert list(fitted.log_.columns) == ["iteration", "variable", "event", "detail"]
    assert (fitted.log_["event"] == "predictors dropped").any()
    assert fitted.levels_.to_dict("list") == {"level": [1], "column": ["g"], "n_units": [12],
                                              "relation_to_next": [""]}
    pm = fitted.predictor_matrix_
    assert list(pm.index) == list(pm.columns) == ["g", "x", "y", "c"]
    assert pm.loc["y", "g"] == -2 and pm.loc["y", "x"] == 1 and pm.to_numpy().dtype == np.int64


def test_frames_without_a_cluster_and_without_iterations():
    imp = MultilevelIterativeImputer(max_iter=0, random_state=0).fit(_data()[["x", "y"]])
    assert imp.trace_.empty and list(imp.trace_.columns) == ["iteration", "variable", "mean",
                                                             "sd"]
    assert imp.levels_.empty and list(imp.levels_.columns) == ["level", "column", "n_units",
                                                               "relation_to_next"]
    assert imp.log_.empty


@pytest.mark.parametrize("read_first", [False, True])
def test_frames_survive_pickle(read_first):
    with pytest.warns(UserWarning):
        imp = _imputer().fit(_data())
    with pytest.warns(UserWarning):
        reference = _imputer().fit(_data())
    if read_first:
        for name in FRAMES:
            getattr(imp, name)
    copy = pickle.loads(pickle.dumps(imp))
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(copy, name), getattr(reference, name))


def test_refit_replaces_the_frames_and_clone_is_unfitted(fitted):
    with pytest.warns(UserWarning):
        imp = _imputer().fit(_data())
    assert len(imp.trace_) == 6
    imp.set_params(max_iter=1)
    with pytest.warns(UserWarning):
        imp.fit(_data(seed=1))
    assert imp.trace_["iteration"].tolist() == [1, 1]
    assert not any(hasattr(clone(fitted), name) for name in FRAMES)


def test_frames_can_be_assigned(fitted):
    imp = pickle.loads(pickle.dumps(fitted))
    imp.trace_ = imp.trace_.iloc[:2]
    assert len(imp.trace_) == 2


# --------------------------------------------------------------------------- #
# predictor matrix
# --------------------------------------------------------------------------- #
COLS = ["g", "a", "b", "c"]
PM = np.array([[0, 0, 0, 0], [-2, 0, 1, 2], [-2, 3, 0, 1], [0, 0, 0, 0]])


@pytest.mark.parametrize("make", [
    lambda: PM,
    lambda: PM.tolist(),
    lambda: PM.astype(np.int8),
    lambda: PM.astype(np.float32),
    lambda: PM.astype(object),
    lambda: pd.DataFrame(PM, index=COLS, columns=COLS),
    lambda: pd.DataFrame(PM, index=COLS, columns=COLS).astype(float),
    lambda: pd.DataFrame(PM, index=COLS, columns=COLS).iloc[::-1, [2, 0, 3, 1]],
    lambda: pd.DataFrame(PM, index=COLS, columns=COLS).iloc[1:3],
    lambda: pd.DataFrame(PM, index=COLS, columns=COLS).astype({"a": float, "b": "Int64"}),
])
def test_predictor_codes_are_the_validated_matrix(make):
    codes = predictor_codes(make(), COLS, "g")
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, PM)
    frame = validate_predictor_matrix(make(), COLS, "g")
    np.testing.assert_array_equal(frame.to_numpy(), PM)
    assert list(frame.index) == list(frame.columns) == COLS


@pytest.mark.parametrize("pm,match", [
    (PM * 2, "unknown code 6 \\(target 'b', predictor 'a'\\)"),
    (np.where(PM == 3, 5, PM), "unknown code 5 \\(target 'b', predictor 'a'\\)"),
    (np.where(PM == 3, -1, PM), "unknown code -1"),
    (np.where(PM == 3, 0.5, PM), "integer codes, got 0.5 \\(target 'b', predictor 'a'\\)"),
    (np.where(PM == 3, np.nan, PM), "integer codes, got nan"),
    (np.full((4, 4), "x"), "must hold integer codes."),
    (PM + np.eye(4, dtype=int), "cannot predict itself: \\['g', 'a', 'b', 'c'\\]"),
    (PM[:3], "shape \\(4, 4\\)"),
])
def test_predictor_codes_errors(pm, match):
    with pytest.raises(ValueError, match=match):
        predictor_codes(pm, COLS, "g")


def test_predictor_codes_names_and_cluster_errors():
    frame = pd.DataFrame(PM, index=COLS, columns=COLS)
    with pytest.raises(ValueError, match="rows \\['zz'\\], columns \\[\\]"):
        predictor_codes(frame.rename(index={"c": "zz"}), COLS, "g")
    with pytest.raises(ValueError, match="duplicate"):
        predictor_codes(frame.set_axis(["g", "a", "a", "c"], axis=1), COLS, "g")
    with pytest.raises(ValueError, match="marks \\['g'\\] as the cluster"):
        predictor_codes(frame, COLS, None)
    with pytest.raises(ValueError, match="more than one cluster"):
        predictor_codes(np.where(PM == 3, -2, PM), COLS, "g")
    np.testing.assert_array_equal(predictor_codes(np.where(PM == 3, -2, PM), COLS, ["g", "a"]),
                                  np.where(PM == 3, -2, PM))


# --------------------------------------------------------------------------- #
# cluster codes
# --------------------------------------------------------------------------- #
def _ids():
    rng = np.random.default_rng(0)
    for dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(dtype)
        for lo, hi in [(0, 9), (5, 5), (-100, 100), (info.min, info.max), (0, 10**7)]:
            lo, hi = max(lo, info.min), min(hi, info.max)
            for n in (1, 7, 500):
                yield rng.integers(lo, hi, size=n, endpoint=True, dtype=dtype)
    yield np.array([3.0, 1.0, 3.0])
    yield np.array(["b", "a", "b"], dtype=object)


@pytest.mark.parametrize("ids", list(_ids()), ids=lambda a: f"{a.dtype}-{a.size}")
def test_cluster_codes_are_those_of_factorize(ids):
    series = pd.Series(ids, index=np.arange(ids.size)[::-1] + 3)
    codes, uniques = _factorize_sorted(series)
    want_codes, want_uniques = pd.factorize(series, sort=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert codes.dtype == want_codes.dtype
    pd.testing.assert_index_equal(pd.Index(uniques), pd.Index(want_uniques), exact=True)
    found = _integer_codes(ids) if ids.dtype.kind in "iu" and ids.dtype != np.uint64 else None
    if found is not None:
        np.testing.assert_array_equal(found[0], want_codes)
        pd.testing.assert_index_equal(pd.Index(found[1]), want_uniques, exact=True)


@pytest.mark.parametrize("kind", ["frame", "array", "uint8", "strings", "sparse ids"])
def test_cluster_labels_of_a_fit(kind):
    X = _data()[["g", "x", "y"]]
    if kind == "uint8":
        X = X.astype({"g": np.uint8})
    elif kind == "strings":
        X = X.assign(g=X["g"].map("s{:02d}".format))
    elif kind == "sparse ids":
        X = X.assign(g=X["g"] * 10**9 - 5)
    cluster = 0 if kind == "array" else "g"
    data = X.to_numpy() if kind == "array" else X
    imp = MultilevelIterativeImputer(cluster=cluster, methods="2l.pan", max_iter=1,
                                     random_state=0).fit(data)
    labels = X["g"].to_numpy().astype(float) if kind == "array" else X["g"]
    want = pd.Index(pd.factorize(pd.Series(labels), sort=True)[1])
    pd.testing.assert_index_equal(imp._cluster_values_, want, exact=True)
    assert imp.levels_["n_units"].tolist() == [12]


# --------------------------------------------------------------------------- #
# encode and decode
# --------------------------------------------------------------------------- #
def _mixed(seed=0, n=40):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "g": np.repeat(np.arange(n // 4), 4),
        "small": rng.standard_normal(n) * 2.0**-50,
        "big": rng.standard_normal(n) * 2.0**60,
        "f": rng.standard_normal(n),
        "f32": rng.standard_normal(n).astype(np.float32),
        "i": rng.integers(0, 9, n),
        "nan": np.full(n, np.nan),
    })
    for col in ("small", "big", "f", "f32"):
        X.loc[rng.random(n) < 0.25, col] = np.nan
    return X


@pytest.mark.parametrize("rescale", [False, True])
def test_encoding_floats_matches_the_general_path(rescale):
    X = _mixed()
    enc = encode(X, rescale=rescale, skip=[0])
    # the same numbers as an object column take the general path
    general = encode(X.astype({c: object for c in ("small", "big", "f", "nan")}),
                     rescale=rescale, skip=[0])
    assert [i.exponent for i in enc.infos] == [i.exponent for i in general.infos]
    if rescale:
        assert enc.infos[1].exponent < -32 and enc.infos[2].exponent > 32
    np.testing.assert_array_equal(enc.values, general.values)
    assert enc.infos[3].dtype == np.float64 and not enc.infos[3].integer
    again = encode(X, infos=enc.infos)
    np.testing.assert_array_equal(again.values, enc.values)


def test_encoding_floats_rejects_infinite_values():
    X = _mixed().assign(f=lambda d: d["f"].fillna(0).where(d.index != 3, -np.inf))
    for kw in ({}, {"rescale": True}):
        with pytest.raises(ValueError, match="Column 'f' contains infinite values"):
            encode(X, **kw)
    enc = encode(_mixed(), rescale=True)
    with pytest.raises(ValueError, match="Column 'f' contains infinite values"):
        encode(X, infos=enc.infos)


def test_decoding_the_encoded_frame_matches_decoding_a_copy():
    X = _mixed()
    enc = encode(X, rescale=True, skip=[0])
    missing = np.isnan(enc.values)
    values = np.where(missing, 0.25, enc.values)
    values[5, 3] = np.nan  # a missing cell left missing
    values[:, 6] = np.nan  # a column left as it is
    same = decode(values, enc, X, missing)
    other = decode(values, enc, X.copy(), missing)
    pd.testing.assert_frame_equal(same, other, check_exact=True)
    pd.testing.assert_frame_equal(same, decode(values, enc, X), check_exact=True)
    assert same["f32"].dtype == np.float32 and same["i"].dtype == X["i"].dtype
    observed = ~missing[:, 3]
    np.testing.assert_array_equal(same["f"].to_numpy()[observed], X["f"].to_numpy()[observed])
    assert not np.shares_memory(same["f"].to_numpy(), X["f"].to_numpy())
    assert not np.shares_memory(same["g"].to_numpy(), X["g"].to_numpy())
