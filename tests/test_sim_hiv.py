"""Tests of skmice/_sim_hiv.py: the hiv-like MNAR simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice.datasets import make_hiv


def test_shape_regions_and_columns():
    b = make_hiv(random_state=0)
    assert b.data.shape == (6416, 6)
    assert list(b.data.columns) == ["region", "hiv", "age", "marital", "condom", "smoke"]
    sizes = b.data.groupby("region").size()
    assert len(sizes) == 9 and sizes.min() == 557 and sizes.max() == 947
    assert b.cluster == "region"
    assert isinstance(b.data["marital"].dtype, pd.CategoricalDtype)
    assert set(b.complete["hiv"].unique()) == {0.0, 1.0}
    assert b.data.drop(columns="hiv").notna().all().all()
    # only hiv is deleted, and only where it was observed
    mis = b.data["hiv"].isna()
    pd.testing.assert_frame_equal(b.data[~mis], b.complete[~mis])


def test_facts_of_the_tutorial_data():
    # averaged over seeds: about 20.5% missing and 12.6% observed prevalence
    stats = np.array(
        [
            [b.truth["missing_rate"], b.truth["observed_prevalence"]]
            for b in (make_hiv(random_state=s) for s in range(10))
        ]
    )
    missing, observed = stats.mean(axis=0)
    assert 0.18 < missing < 0.23
    assert 0.11 < observed < 0.14
    b = make_hiv(random_state=1)
    assert b.truth["missing_rate"] == pytest.approx(b.data["hiv"].isna().mean())
    assert b.truth["observed_prevalence"] == pytest.approx(b.data["hiv"].mean())
    assert b.truth["prevalence"]["overall"] == pytest.approx(b.complete["hiv"].mean())
    per_region = b.complete.groupby("region")["hiv"].mean()
    for region, value in per_region.items():
        assert b.truth["prevalence"][region] == pytest.approx(value)
    assert "smoke" not in b.truth["outcome"] and b.truth["selection"]["smoke"] == 0.265


def test_rho_drives_the_selection_bias():
    gaps = {}
    for rho in (-0.6, 0.0, 0.6):
        g = [
            b.truth["observed_prevalence"] - b.truth["prevalence"]["overall"]
            for b in (make_hiv(rho=rho, random_state=s) for s in range(5))
        ]
        gaps[rho] = np.mean(g)
    assert gaps[-0.6] < -0.04  # refusers more often positive: observed too low
    assert gaps[0.6] > 0.02
    assert abs(gaps[0.0]) < 0.01  # MAR given covariates: small differences only
    assert make_hiv(rho=0.3, random_state=0).truth["rho"] == 0.3


def test_deterministic_and_custom_sizes():
    a, b = make_hiv(random_state=5), make_hiv(random_state=5)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not make_hiv(random_state=6).data.equals(a.data)
    c = make_hiv(region_sizes=[10, 20, 30], random_state=0)
    assert c.data.groupby("region").size().tolist() == [10, 20, 30]
    pm = c.predictor_matrix
    assert pm.loc["hiv", ["region", "age", "marital", "condom", "smoke"]].tolist() == [
        -2,
        2,
        2,
        2,
        -3,
    ]
    assert (pm.drop(index="hiv") == 0).all().all()


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(rho=1.0), ValueError),
        (dict(rho="0.5"), ValueError),
        (dict(region_sizes=[0, 10]), ValueError),
        (dict(region_sizes=[]), ValueError),
        (dict(region_sizes=12), TypeError),
        (dict(smoke_effect=None), ValueError),
    ],
)
def test_invalid_parameters(kwargs, err):
    with pytest.raises(err):
        make_hiv(**kwargs)
