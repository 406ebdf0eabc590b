"""Design plans: refreshed designs equal designs laid out afresh."""

import numpy as np
import pandas as pd
import pytest

from skmice._data import encode
from skmice._design import DesignBuilder
from skmice._plan import TargetPlan


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "g": rng.integers(0, 12, n),
        "y": rng.standard_normal(n),
        "x": rng.standard_normal(n),
        "c": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "w": rng.standard_normal(n),
    })
    enc = encode(frame)
    values = np.asfortranarray(enc.values.copy())
    missing = np.zeros(values.shape, dtype=bool)
    missing[:, 1] = rng.random(n) < 0.3  # the target
    missing[:, 2] = rng.random(n) < 0.05  # sparse: rewritten by position
    missing[:, 3] = rng.random(n) < 0.1
    missing[:, 4] = rng.random(n) < 0.5  # dense: rewritten in full
    groups = values[:, 0].astype(np.int64)
    return enc, values, missing, groups


@pytest.mark.parametrize("selection", [False, True])
def test_refreshed_design_equals_a_fresh_one(selection):
    enc, values, missing, groups = _data()
    pm = np.zeros((5, 5), dtype=int)
    pm[1] = [-2, 0, 2, 1, 3]  # random slope of x, dummies of c, w with its cluster mean
    if selection:
        pm[1, 3] = -3  # c in the selection equation only
    builder = DesignBuilder(enc.infos, pm, 0)
    rows = {"obs": np.flatnonzero(~missing[:, 1]), "mis": np.flatnonzero(missing[:, 1])}
    levels = [(groups, 12, "g")]
    plan = TargetPlan(builder, 1, levels, True, selection, rows, missing=missing)
    versions = np.zeros(5, dtype=np.int64)
    rng = np.random.default_rng(1)
    for _ in range(4):
        plan.refresh(values, versions)
        fresh = TargetPlan(builder, 1, levels, True, selection, rows)
        fresh.refresh(values, versions)
        for part in rows:
            a, b = plan.design(part), fresh.design(part)
            np.testing.assert_array_equal(a.X, b.X)
            np.testing.assert_array_equal(a.Z, b.Z)
            if selection:
                np.testing.assert_array_equal(a.W, b.W)
        for j in (2, 3, 4):  # the chained equations rewrite the missing cells only
            cells = np.flatnonzero(missing[:, j])
            values[cells, j] = rng.integers(0, 3, cells.size) if j == 3 \
                else rng.standard_normal(cells.size)
            versions[j] += 1


def test_sparse_columns_are_rewritten_by_position_dense_ones_in_full():
    enc, values, missing, groups = _data()
    pm = np.zeros((5, 5), dtype=int)
    pm[1] = [-2, 0, 1, 1, 1]
    builder = DesignBuilder(enc.infos, pm, 0)
    rows = {"obs": np.flatnonzero(~missing[:, 1]), "mis": np.flatnonzero(missing[:, 1])}
    plan = TargetPlan(builder, 1, [(groups, 12, "g")], True, False, rows, missing=missing)
    plan.refresh(values, np.zeros(5, dtype=np.int64))
    assert plan._changing_rows("obs", 2) is not None  # 5% missing
    assert plan._changing_rows("obs", 4) is None  # 50% missing


@pytest.mark.parametrize("method", ["heckman", "2l.heckman"])
def test_a_categorical_predictor_of_the_selection_equation_only(method):
    import warnings

    from skmice import MultilevelIterativeImputer

    rng = np.random.default_rng(0)
    n = 600
    d = pd.DataFrame({"g": rng.integers(0, 20, n), "x": rng.standard_normal(n),
                      "c": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                      "y": rng.standard_normal(n)})
    d.loc[rng.random(n) < 0.3, "y"] = np.nan
    pm = pd.DataFrame(0, index=d.columns, columns=d.columns)
    pm.loc["y"] = [-2, 1, -3, 0]  # c (two dummies) in the selection equation only
    imp = MultilevelIterativeImputer(cluster="g", methods={"y": method}, predictor_matrix=pm,
                                     max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (weak identification on these data)
        out = imp.fit_transform(d)
    assert not out["y"].isna().any()
    np.testing.assert_array_equal(out["y"][d["y"].notna()], d["y"].dropna())


def test_collinearity_check_reads_back_only_the_rewritten_rows():
    from skmice._collinear import shifted_gram

    enc, values, missing, groups = _data(seed=3)
    pm = np.zeros((5, 5), dtype=int)
    pm[1] = [-2, 1, 1, 1, 1]
    builder = DesignBuilder(enc.infos, pm, 0)
    rows = {"obs": np.flatnonzero(~missing[:, 1]), "mis": np.flatnonzero(missing[:, 1])}
    plan = TargetPlan(builder, 1, [(groups, 12, "g")], True, False, rows, missing=missing)
    y = values[rows["obs"], 1]
    versions = np.zeros(5, dtype=np.int64)
    rng = np.random.default_rng(2)

    def covariance(G, sums, n):
        mean = sums / n
        return G / n - np.outer(mean, mean)

    for _ in range(4):
        plan.refresh(values, versions)
        plan.collinear_drops(y, eps=1e-8, max_corr=1 - 1e-8)
        X = plan.design("obs").X
        _, G, sums, _ = plan._gram[0]._state
        _, G_full, sums_full, _ = shifted_gram(X[:, 1:], y)
        np.testing.assert_allclose(covariance(G, sums, len(y)),
                                   covariance(G_full, sums_full, len(y)), atol=1e-12)
        for j in (2, 3, 4):
            cells = np.flatnonzero(missing[:, j])
            values[cells, j] = rng.integers(0, 3, cells.size) if j == 3 \
                else rng.standard_normal(cells.size)
            versions[j] += 1
    # the sparse column went through the rewrite by position
    assert plan._changing[("obs", 2)] is not None
