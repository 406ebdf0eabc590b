"""Tests for skmice/amputation.py: ampute and multilevel_ampute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice import ampute, multilevel_ampute
from skmice.amputation import calibrated_probabilities
from skmice.datasets import make_popularity

N = 4000


def _frame(n=N, seed=0):
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    x = rng.multivariate_normal(np.zeros(3), cov, size=n)
    return pd.DataFrame(x, columns=["a", "b", "c"])


def _z(x):
    return (x - x.mean()) / x.std()


def _within_se(realised, prop, n, k=4.0):
    se = np.sqrt(prop * (1 - prop) / n)
    return abs(realised - prop) < k * se


# --------------------------------------------------------------------------- #
# Proportions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
@pytest.mark.parametrize("prop", [0.1, 0.3, 0.6])
def test_realised_proportion_of_rows(mechanism, prop):
    X = _frame()
    Y = ampute(X, prop=prop, mechanism=mechanism, random_state=3)
    realised = Y.isna().any(axis=1).mean()
    assert _within_se(realised, prop, N)
    assert Y.isna().sum(axis=1).max() == 1  # default patterns: one column each


@pytest.mark.parametrize("kind", ["RIGHT", "LEFT", "MID", "TAIL"])
def test_calibration_is_exact_in_expectation(kind):
    scores = np.random.default_rng(0).normal(size=500) * 3 + 2
    p = calibrated_probabilities(scores, 0.37, kind)
    assert abs(p.mean() - 0.37) < 1e-9
    assert np.all((p > 0) & (p < 1))


def test_by_cells():
    X = _frame()
    Y = ampute(X, prop=0.2, mechanism="MCAR", by_cases=False, random_state=1)
    assert _within_se(Y.isna().to_numpy().mean(), 0.2, N * 3)
    with pytest.raises(ValueError, match="cannot be reached"):
        ampute(X, prop=0.5, by_cases=False, random_state=1)


# --------------------------------------------------------------------------- #
# Mechanisms
# --------------------------------------------------------------------------- #
def test_mar_depends_on_other_variables_mcar_does_not():
    X = _frame()
    mar = ampute(X, prop=0.4, mechanism="MAR", patterns=["a"], random_state=5)
    mcar = ampute(X, prop=0.4, mechanism="MCAR", patterns=["a"], random_state=5)
    score = _z(X["b"]) + _z(X["c"])  # MAR's default weights: the observed columns
    r_mar = np.corrcoef(mar["a"].isna(), score)[0, 1]
    r_mcar = np.corrcoef(mcar["a"].isna(), score)[0, 1]
    bound = 4 / np.sqrt(N)  # |r| under independence is about N(0, 1/n)
    assert r_mar > 0.25  # "RIGHT": high scores go missing
    assert abs(r_mcar) < bound
    assert abs(np.corrcoef(mcar["a"].isna(), X["a"])[0, 1]) < bound


def test_mnar_depends_on_the_amputed_variable():
    X = _frame()
    Y = ampute(X, prop=0.3, mechanism="MNAR", patterns=["a"], random_state=2)
    assert np.corrcoef(Y["a"].isna(), X["a"])[0, 1] > 0.25
    left = ampute(X, prop=0.3, mechanism="MNAR", patterns=["a"], type="LEFT", random_state=2)
    assert np.corrcoef(left["a"].isna(), X["a"])[0, 1] < -0.25
    tail = ampute(X, prop=0.3, mechanism="MNAR", patterns=["a"], type="TAIL", random_state=2)
    assert np.corrcoef(tail["a"].isna(), X["a"].abs())[0, 1] > 0.2


def test_custom_weights_select_the_driving_variable():
    X = _frame()
    Y = ampute(X, prop=0.3, patterns=["a"], weights={"c": 1.0}, random_state=0)
    assert np.corrcoef(Y["a"].isna(), X["c"])[0, 1] > 0.25
    Z = ampute(X, prop=0.3, patterns=["a"], weights=[0.0, -1.0, 0.0], random_state=0)
    assert np.corrcoef(Z["a"].isna(), X["b"])[0, 1] < -0.25


def test_patterns_and_freq():
    X = _frame()
    pats = pd.DataFrame({"a": [0, 1], "b": [0, 1], "c": [1, 0]})
    Y = ampute(X, prop=0.5, mechanism="MCAR", patterns=pats, freq=[3, 1], random_state=0)
    ab = Y["a"].isna() & Y["b"].isna() & Y["c"].notna()
    only_c = Y["c"].isna() & Y["a"].notna() & Y["b"].notna()
    assert (ab | only_c).sum() == Y.isna().any(axis=1).sum()  # no other pattern
    assert _within_se(ab.mean(), 0.5 * 0.75, N) and _within_se(only_c.mean(), 0.5 * 0.25, N)
    same = ampute(
        X, prop=0.5, mechanism="MCAR", patterns=[[0, 0, 1], [1, 1, 0]], freq=[3, 1], random_state=0
    )
    pd.testing.assert_frame_equal(Y, same)


# --------------------------------------------------------------------------- #
# Data handling
# --------------------------------------------------------------------------- #
def test_input_not_modified_and_dtypes_kept():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "k": rng.integers(0, 5, n),
            "flag": rng.random(n) < 0.5,
            "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], n)),
            "s": pd.Series(rng.choice(["u", "v"], n), dtype="str"),
        }
    )
    before = X.copy()
    Y = ampute(X, prop=0.5, columns=["x", "k", "flag", "cat", "s"], random_state=0)
    pd.testing.assert_frame_equal(X, before)
    assert Y["id"].equals(X["id"])  # not in columns: untouched
    assert Y["x"].dtype == np.float64 and Y["k"].dtype == np.float64
    assert Y["flag"].dtype == "boolean"
    assert isinstance(Y["cat"].dtype, pd.CategoricalDtype)
    assert list(Y["cat"].cat.categories) == list(X["cat"].cat.categories)
    assert Y["s"].dtype == X["s"].dtype
    for c in ["x", "k", "flag", "cat", "s"]:
        assert Y[c].isna().any()
        obs = Y[c].notna()
        assert (Y.loc[obs, c].astype(object) == X.loc[obs, c].astype(object)).all()


def test_numpy_in_numpy_out_and_existing_missing_kept():
    X = _frame(500).to_numpy(copy=True)
    X[0, 0] = np.nan
    Y = ampute(X, prop=0.3, random_state=0)
    assert isinstance(Y, np.ndarray) and Y.dtype == np.float64
    assert np.isnan(Y[0, 0])
    assert np.isnan(Y).any(axis=1).mean() > 0.2


def test_determinism():
    X = _frame(500)
    a = ampute(X, random_state=7)
    pd.testing.assert_frame_equal(a, ampute(X, random_state=7))
    assert not a.isna().equals(ampute(X, random_state=8).isna())
    b = multilevel_ampute(_clustered(), "g", systematic=0.2, random_state=7)
    pd.testing.assert_frame_equal(
        b, multilevel_ampute(_clustered(), "g", systematic=0.2, random_state=7)
    )


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"prop": 1.5}, ValueError, "prop"),
        ({"prop": "a"}, TypeError, "prop"),
        ({"mechanism": "MNARX"}, ValueError, "mechanism"),
        ({"type": "UP"}, ValueError, "type"),
        ({"type": ["RIGHT"]}, ValueError, "one string per pattern"),
        ({"patterns": [[1, 1, 1]]}, ValueError, "at least one 0"),
        ({"patterns": [[0, 2, 1]]}, ValueError, "0 .goes missing"),
        ({"patterns": [["zz"]]}, ValueError, "not among"),
        ({"patterns": [[0, 0, 0]]}, ValueError, "MAR needs"),
        ({"columns": ["a"]}, ValueError, "MAR needs"),
        ({"weights": [[1.0, 2.0]]}, ValueError, "weights"),
        ({"freq": [1, 2]}, ValueError, "freq"),
        ({"columns": ["nope"]}, ValueError, "columns"),
        ({"by_cases": "yes"}, TypeError, "by_cases"),
    ],
)
def test_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ampute(_frame(50), **kwargs)


# --------------------------------------------------------------------------- #
# Multilevel
# --------------------------------------------------------------------------- #
def _clustered(n_clusters=60, size=20, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    u = rng.normal(size=n_clusters)[g]
    w = rng.normal(size=n_clusters)[g]  # cluster level
    return pd.DataFrame(
        {"g": g, "x": rng.normal(size=g.size) + u, "y": rng.normal(size=g.size) + u, "w": w}
    )


@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
def test_systematic_hits_whole_clusters(mechanism):
    X = _clustered()
    Y = multilevel_ampute(
        X, "g", systematic=0.25, sporadic=False, mechanism=mechanism, random_state=1
    )
    share = Y[["x", "y", "w"]].isna().groupby(Y["g"]).mean()
    assert set(np.unique(share.to_numpy())) <= {0.0, 1.0}
    assert (share == 1).sum().tolist() == [15, 15, 15]  # round(0.25 * 60) per column
    assert Y["g"].equals(X["g"])


def test_systematic_mar_picks_clusters_by_the_other_variables():
    X = _clustered(n_clusters=400, size=5, seed=3)
    Y = multilevel_ampute(X, "g", systematic={"x": 0.4}, sporadic=False, random_state=0)
    assert Y["y"].notna().all() and Y["w"].notna().all()
    gone = Y["x"].isna().groupby(Y["g"]).all()
    means = X.groupby("g")[["y", "w"]].mean()
    score = _z(means["y"]) + _z(means["w"])
    assert np.corrcoef(gone, score)[0, 1] > 0.2
    assert abs(gone.mean() - 0.4) < 1e-12


def test_sporadic_proportion_and_cluster_level_columns():
    X = _clustered()
    Y = multilevel_ampute(X, "g", prop=0.3, mechanism="MCAR", random_state=4)
    assert _within_se(Y[["x", "y", "w"]].isna().any(axis=1).mean(), 0.3, len(X), k=5)
    # w is constant within clusters: missing for whole clusters only
    share = Y["w"].isna().groupby(Y["g"]).mean()
    assert set(share.unique()) <= {0.0, 1.0} and (share == 1).any()
    # x is unit level: sporadic
    assert ((Y["x"].isna().groupby(Y["g"]).mean() % 1) > 0).any()


def test_multilevel_on_popularity_keeps_the_analysis_columns():
    data = make_popularity(n_schools=20, random_state=0).complete
    Y = multilevel_ampute(
        data,
        "school",
        prop=0.4,
        columns=["popular"],
        score_columns=["sex", "texp"],
        systematic=0.1,
        random_state=0,
    )
    assert Y.columns.equals(data.columns) and Y.drop(columns="popular").equals(
        data.drop(columns="popular")
    )
    assert (Y["popular"].isna().groupby(Y["school"]).all()).sum() >= 2
    # sporadic MAR: high scores (girls, experienced teachers) go missing more often
    miss = Y["popular"].isna()
    assert miss[data["sex"] == 1].mean() > miss[data["sex"] == 0].mean()


def test_score_columns_drive_missingness():
    X = _frame()
    Y = ampute(X, prop=0.4, columns=["a"], score_columns=["c"], random_state=0)
    assert Y[["b", "c"]].notna().all().all()
    assert np.corrcoef(Y["a"].isna(), X["c"])[0, 1] > 0.25
    assert abs(np.corrcoef(Y["a"].isna(), X["b"] - 0.4 * X["c"])[0, 1]) < 0.1


def test_multilevel_errors():
    X = _clustered()
    with pytest.raises(TypeError, match="DataFrame"):
        multilevel_ampute(X.to_numpy(), 0)
    with pytest.raises(ValueError, match="cluster"):
        multilevel_ampute(X, "nope")
    with pytest.raises(ValueError, match="cluster column"):
        multilevel_ampute(X, "g", columns=["g", "x"])
    with pytest.raises(ValueError, match="systematic"):
        multilevel_ampute(X, "g", systematic=1.0)
    with pytest.raises(ValueError, match="systematic"):
        multilevel_ampute(X, "g", systematic={"zz": 0.1})
    with pytest.raises(TypeError, match="sporadic"):
        multilevel_ampute(X, "g", sporadic=None)
    bad = X.astype({"g": float})
    bad.loc[0, "g"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        multilevel_ampute(bad, "g")
