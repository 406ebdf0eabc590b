"""Cluster-level variables (2lonly.mean, 2lonly.norm, 2lonly.pmm) in the imputer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer


def make_data(seed=0, N=30, size=6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(N), size)
    n = g.size
    tsize = np.repeat(rng.integers(15, 40, N), size).astype(float)
    x = rng.standard_normal(n) + 0.05 * tsize
    df = pd.DataFrame({"g": g, "tsize": tsize, "x": x})
    return df, rng


@pytest.mark.parametrize("method", ["2lonly.mean", "2lonly.norm", "2lonly.pmm"])
def test_constant_within_clusters_and_deductive_fill(method):
    df, rng = make_data()
    data = df.copy()
    data.loc[data.g < 5, "tsize"] = np.nan  # clusters 0-4: nothing observed
    partly = (data.g >= 5) & (rng.random(len(data)) < 0.4)  # partly observed clusters
    data.loc[partly, "tsize"] = np.nan
    imp = MultilevelIterativeImputer(cluster="g", methods={"tsize": method}, random_state=1)
    out = imp.fit_transform(data)
    assert out["tsize"].notna().all()
    assert (out.groupby("g")["tsize"].nunique() == 1).all()
    # deductive fill: partly observed clusters keep their observed value
    pd.testing.assert_series_equal(out.loc[partly, "tsize"], df.loc[partly, "tsize"])
    if method == "2lonly.pmm":
        assert set(out["tsize"]) <= set(data["tsize"].dropna())


def test_differing_values_within_a_cluster_is_an_error_naming_the_clusters():
    df, _ = make_data()
    df.loc[[0, 1], "tsize"] = [20.0, 21.0]  # cluster 0 disagrees
    df.loc[[12], "tsize"] = df.loc[12, "tsize"] + 1  # cluster 2 disagrees
    df.loc[[3, 30], "tsize"] = np.nan
    for method in ("2lonly.mean", "2lonly.norm", "2lonly.pmm"):
        imp = MultilevelIterativeImputer(cluster="g", methods={"tsize": method}, random_state=0)
        # the message names the clusters by their labels (currently shown as
        # np.int64(0) for numpy integer labels; the pattern accepts both)
        with pytest.raises(
            ValueError,
            match=r"differ within clusters \[(np\.int64\()?0\)?, "
            r"(np\.int64\()?2\)?\]",
        ):
            imp.fit(df)


def test_mean_falls_back_and_logs_it():
    df, _ = make_data(seed=2)
    df.loc[df.g.isin([3, 7]), "tsize"] = np.nan
    df.loc[[0, 50], "tsize"] = np.nan
    imp = MultilevelIterativeImputer(
        cluster="g", methods={"tsize": "2lonly.mean"}, max_iter=2, random_state=0
    )
    out = imp.fit_transform(df)
    assert (out.groupby("g")["tsize"].nunique() == 1).all()
    events = imp.log_[imp.log_["variable"] == "tsize"]
    fallback = events[events["event"] == "2lonly.mean fallback"]
    assert len(fallback) == 1
    assert "2 clusters" in fallback["detail"].iloc[0]
    # integer-valued cluster values: the fallback is pmm, so values are observed ones
    assert set(out.loc[df.g.isin([3, 7]), "tsize"]) <= set(df["tsize"].dropna())


def test_default_methods_treat_cluster_level_columns():
    df, _ = make_data(seed=3)
    df["kind"] = pd.Categorical(np.where(df.g % 3 == 0, "a", np.where(df.g % 3 == 1, "b", "c")))
    df.loc[df.g.isin([1, 2]), ["tsize", "kind"]] = np.nan
    imp = MultilevelIterativeImputer(cluster="g", max_iter=2, random_state=0)
    out = imp.fit_transform(df)
    assert imp.method_names_["tsize"] == "2lonly.pmm"
    assert imp.method_names_["kind"] == "2lonly.pmm"
    assert (out.groupby("g")[["tsize", "kind"]].nunique() == 1).all().all()
    assert out["kind"].dtype == df["kind"].dtype
