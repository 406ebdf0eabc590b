import numpy as np
import pandas as pd
import pytest

from skmice import make_methods, make_predictor_matrix, quickpred
from skmice._data import encode
from skmice._design import (
    DesignBuilder,
    _pairwise_cor,
    cluster_level_columns,
    drop_columns,
    remove_lindep,
    validate_predictor_matrix,
)


def _pairwise_cor_slow(A, B):
    out = np.zeros((A.shape[1], B.shape[1]))
    for i in range(A.shape[1]):
        for j in range(B.shape[1]):
            ok = ~np.isnan(A[:, i]) & ~np.isnan(B[:, j])
            a, b = A[ok, i], B[ok, j]
            if ok.sum() > 1 and a.std() > 0 and b.std() > 0:
                out[i, j] = np.corrcoef(a, b)[0, 1]
    return out


def test_pairwise_cor_matches_loop():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(60, 4))
    A[:, 1] += A[:, 0]
    A[rng.random(A.shape) < 0.2] = np.nan
    A[:, 3] = 1.0  # constant column -> 0
    np.testing.assert_allclose(_pairwise_cor(A, A), _pairwise_cor_slow(A, A), atol=1e-12)


def _quickpred_r(X, mincor=0.1, minpuc=0.0):
    """Direct transcription of R's quickpred (loops)."""
    v = X.to_numpy(dtype=float)
    r = ~np.isnan(v)
    k = v.shape[1]
    pm = np.zeros((k, k), dtype=int)
    for i in range(k):
        if r[:, i].all():
            continue
        for j in range(k):
            if i == j:
                continue
            ok = r[:, i] & r[:, j]
            c1 = abs(np.corrcoef(v[ok, i], v[ok, j])[0, 1]) if ok.sum() > 2 else 0
            c2 = abs(np.corrcoef(r[r[:, j], i], v[r[:, j], j])[0, 1])
            c = max(np.nan_to_num(c1), np.nan_to_num(c2))
            puc = (~r[:, i] & r[:, j]).sum() / (~r[:, i]).sum()
            pm[i, j] = int(c > mincor and puc >= minpuc)
    return pm


@pytest.mark.parametrize("mincor,minpuc", [(0.1, 0.0), (0.3, 0.0), (0.1, 0.6)])
def test_quickpred_matches_r_definition(mincor, minpuc):
    rng = np.random.default_rng(1)
    n = 300
    a = rng.normal(size=n)
    X = pd.DataFrame({"a": a, "b": a + rng.normal(size=n), "c": rng.normal(size=n),
                      "d": 0.3 * a + rng.normal(size=n)})
    X.loc[rng.random(n) < 0.3, "b"] = np.nan
    X.loc[(X["a"] > 0.5) & (rng.random(n) < 0.7), "d"] = np.nan
    X.loc[rng.random(n) < 0.5, "c"] = np.nan
    got = quickpred(X, mincor=mincor, minpuc=minpuc).to_numpy()
    np.testing.assert_array_equal(got, _quickpred_r(X, mincor, minpuc))


def test_quickpred_include_exclude_cluster():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"g": np.repeat([1, 2, 3, 4], 10), "y": rng.normal(size=40),
                      "x": rng.normal(size=40), "z": rng.normal(size=40)})
    X.loc[:9, "y"] = np.nan
    pm = quickpred(X, mincor=0.99, include=["x"], exclude=["z"], cluster="g")
    assert pm.loc["y"].tolist() == [-2, 0, 1, 0]
    assert (pm.loc[["g", "x", "z"]] == 0).all().all()
    with pytest.raises(ValueError, match="include"):
        quickpred(X, include=["nope"])
    with pytest.raises(ValueError, match="mincor"):
        quickpred(X, mincor=2)


def test_make_methods_defaults():
    X = pd.DataFrame({
        "num": [1.0, np.nan, 3.0, 4.0],
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "cat": pd.Categorical(["a", "b", None, "c"]),
        "txt": ["u", None, "v", "u"],
        "done": [1, 2, 3, 4],
    })
    assert make_methods(X) == {"num": "pmm", "flag": "logreg", "cat": "polyreg",
                               "txt": "logreg", "done": ""}
    full = make_methods(X, include_complete=True)
    assert full["done"] == "pmm"


def test_make_methods_two_level_and_cluster_level():
    X = pd.DataFrame({"g": [1, 1, 2, 2, 3, 3], "size": [5.0, np.nan, 7.0, 7.0, np.nan, np.nan],
                      "y": [1.0, 2.0, np.nan, 3.0, 4.0, 5.0]})
    assert cluster_level_columns(X, "g") == ["size"]
    assert make_methods(X, cluster="g") == {"g": "", "size": "2lonly.pmm", "y": "2l.pmm"}
    # binary, unordered and ordered categorical unit-level columns
    X = X.assign(
        b=[0.0, 1.0, np.nan, 1.0, 0.0, 0.0],
        flag=[True, False, None, True, False, True],
        c=pd.Categorical(["a", "b", None, "c", "a", "b"]),
        o=pd.Categorical(["lo", "hi", "mid", None, "lo", "hi"],
                         categories=["lo", "mid", "hi"], ordered=True),
        kind=pd.Categorical(["u", "u", "v", "v", None, "w"]),
    )
    assert make_methods(X, cluster="g") == {
        "g": "", "size": "2lonly.pmm", "y": "2l.pmm", "b": "2l.bin", "flag": "2l.bin",
        "c": "2l.polyreg", "o": "2l.pmm", "kind": "2lonly.pmm",
    }


def test_make_predictor_matrix():
    X = pd.DataFrame({"g": [1, 2], "a": [1.0, 2.0], "b": [0.0, 1.0]})
    pm = make_predictor_matrix(X, cluster="g")
    assert pm.loc["a"].tolist() == [-2, 0, 1]
    assert pm.loc["g"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="cluster"):
        make_predictor_matrix(X, cluster="nope")


@pytest.mark.parametrize(
    "pm,match",
    [
        ([[0, 5], [1, 0]], "unknown code 5"),
        ([[1, 1], [1, 0]], "cannot predict itself"),
        ([[0, 1, 1], [1, 0, 1], [1, 1, 0]], "shape"),
        ([[0, 0.5], [1, 0]], "integer codes"),
    ],
)
def test_validate_predictor_matrix_errors(pm, match):
    with pytest.raises(ValueError, match=match):
        validate_predictor_matrix(np.array(pm), ["a", "b"])


def test_validate_predictor_matrix_names_and_cluster():
    pm = pd.DataFrame([[0, 1], [1, 0]], index=["a", "zz"], columns=["a", "b"])
    with pytest.raises(ValueError, match="zz"):
        validate_predictor_matrix(pm, ["a", "b"])
    pm = pd.DataFrame([[0, -2, -2], [0, 0, 0], [0, 0, 0]], index=list("abc"), columns=list("abc"))
    with pytest.raises(ValueError, match="more than one cluster"):
        validate_predictor_matrix(pm, list("abc"), cluster="b")
    pm = pd.DataFrame([[0, -2, 0], [0, 0, 0], [0, 0, 0]], index=list("abc"), columns=list("abc"))
    with pytest.raises(ValueError, match="cluster"):
        validate_predictor_matrix(pm, list("abc"), cluster=None)
    # partial DataFrame: missing rows are zero
    pm = pd.DataFrame([[0, 1]], index=["a"], columns=["a", "b"])
    out = validate_predictor_matrix(pm, ["a", "b"])
    assert out.loc["b"].tolist() == [0, 0]


def test_remove_lindep():
    rng = np.random.default_rng(0)
    n = 100
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = rng.normal(size=n)
    X = np.column_stack([a, b, a + b, np.full(n, 3.0), y * 1.0])
    keep = remove_lindep(X, y)
    assert not keep[3]  # constant
    assert not keep[4]  # equal to y
    assert keep[:3].sum() == 2  # one of the collinear triple dropped
    assert not remove_lindep(X, np.ones(n)).any()  # constant target drops all
    # scale-free: tiny and huge scales are not "constant"
    assert remove_lindep(np.column_stack([a * 1e-8, b * 1e8]), y).all()


def test_design_builder_codes_and_cluster_means():
    X = pd.DataFrame({"g": [0, 0, 1, 1, 1], "x": [1.0, 3.0, 2.0, 4.0, 6.0],
                      "c": pd.Categorical(["u", "v", "w", "u", "v"]), "y": [1.0, 2, 3, 4, 5]})
    enc = encode(X)
    pm = np.zeros((4, 4), dtype=int)
    pm[3] = [-2, 4, 1, 0]
    groups = np.array([0, 0, 1, 1, 1])
    b = DesignBuilder(enc.infos, pm, 0)
    td = b.build(enc.values, 3, groups, 2, two_level=True)
    assert td.x_names == ["(Intercept)", "x", "mean(x)", "c[v]", "c[w]"]
    assert td.z_names == ["(Intercept)", "x"]
    np.testing.assert_allclose(td.design.X[:, 2], [2, 2, 4, 4, 4])
    np.testing.assert_allclose(td.design.Z[:, 1], X["x"])
    keep = np.array([True, False, True, True, True])
    td2 = drop_columns(td, keep)
    assert td2.x_names == ["(Intercept)", "mean(x)", "c[v]", "c[w]"]
    assert td2.z_names == ["(Intercept)"] and td2.design.Z.shape == (5, 1)
    single = b.build(enc.values, 3, groups, 2, two_level=False)
    assert single.design.Z is None and single.x_names == td.x_names
