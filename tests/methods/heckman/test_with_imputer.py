"""The Heckman methods through the imputer: predictor codes -3 and -4, the hiv-like data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice._data import encode
from skmice._design import DesignBuilder
from skmice.datasets import make_hiv
from skmice.pooling import pool_scalar

# ---------------------------------------------------------------------------
# designs: predictor codes -3 and -4
# ---------------------------------------------------------------------------


def test_design_builder_selection_codes():
    frame = pd.DataFrame(
        {
            "g": [1, 1, 2, 2],
            "y": [1.0, np.nan, 2.0, 3.0],
            "a": [0.1, 0.2, 0.3, 0.4],
            "b": [1.0, 2.0, 0.0, 1.0],
            "c": [5.0, 6.0, 7.0, 9.0],
            "d": [0.0, 1.0, 1.0, 0.0],
        }
    )
    enc = encode(frame)
    pm = np.zeros((6, 6), dtype=np.int64)
    pm[1] = [-2, 0, 1, 2, -3, -4]  # a both, b both (random), c selection, d outcome
    builder = DesignBuilder(enc.infos, pm, 0)
    values = np.nan_to_num(enc.values)
    groups = np.array([0, 0, 1, 1])
    sel = builder.build(values, 1, groups, 2, two_level=True, selection=True).design
    np.testing.assert_array_equal(sel.X[:, 1:], values[:, [2, 3, 5]])
    np.testing.assert_array_equal(sel.W[:, 1:], values[:, [2, 3, 4]])
    assert np.all(sel.X[:, 0] == 1) and np.all(sel.W[:, 0] == 1)
    assert sel.take([0, 2]).W.shape == (2, 4)
    # other methods use -3 and -4 as fixed effects, as mice uses every nonzero code
    plain = builder.build(values, 1, groups, 2, two_level=True).design
    np.testing.assert_array_equal(plain.X[:, 1:], values[:, [2, 3, 4, 5]])
    np.testing.assert_array_equal(plain.Z[:, 1:], values[:, [3]])
    assert plain.W is None


def test_codes_one_and_two_are_equivalent_through_the_imputer():
    b = make_hiv(region_sizes=[150] * 4, random_state=1)
    pm2 = b.predictor_matrix
    pm1 = pm2.replace(2, 1)
    out = []
    for pm in (pm1, pm2):
        imp = MultilevelIterativeImputer(
            methods={"hiv": "2l.heckman"},
            predictor_matrix=pm,
            cluster="region",
            max_iter=1,
            random_state=0,
        )
        out.append(imp.fit_transform(b.data)["hiv"])
    pd.testing.assert_series_equal(out[0], out[1])


# ---------------------------------------------------------------------------
# through the imputer
# ---------------------------------------------------------------------------


def test_imputer_two_level_heckman_on_hiv_like_data():
    b = make_hiv(region_sizes=[200] * 5, random_state=2)
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=2,
        random_state=0,
    )
    out = imp.fit_transform(b.data)
    mis = b.data["hiv"].isna()
    assert out["hiv"].notna().all()
    assert set(out.loc[mis, "hiv"].unique()) <= {0.0, 1.0}
    pd.testing.assert_series_equal(out.loc[~mis, "hiv"], b.data.loc[~mis, "hiv"])
    assert imp.methods_["hiv"].outcome_ == "binary"
    # new data with a new region
    new = b.data.head(50).copy()
    new["region"] = 99
    assert imp.transform(new)["hiv"].notna().all()


def test_imputer_without_exclusion_restriction_fails_clearly():
    b = make_hiv(region_sizes=[200] * 3, random_state=3)
    pm = b.predictor_matrix.copy()
    pm.loc["hiv", "smoke"] = 2  # smoke in both equations: nothing excluded
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=pm,
        cluster="region",
        max_iter=1,
        random_state=0,
    )
    with pytest.raises(ValueError, match="'hiv'.*exclusion restriction"):
        imp.fit(b.data)


def test_selection_codes_are_fixed_effects_for_other_methods():
    b = make_hiv(region_sizes=[150] * 3, random_state=4)
    imp = MultilevelIterativeImputer(
        methods={"hiv": "2l.pmm"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=1,
        random_state=0,
    )
    assert imp.fit_transform(b.data)["hiv"].notna().all()


def _prevalence(mi, n):
    est = np.array([d["hiv"].mean() for d in mi])
    res = pool_scalar(est, est * (1 - est) / n, dfcom=n - 1)
    return res.qbar, res.std_error


@pytest.mark.parametrize("rho", [-0.6, 0.6])
def test_heckman_corrects_mnar_bias_fast(rho):
    # a modest-size version of benchmarks/simulate_heckman.py (one replication,
    # a strong exclusion restriction so that one replication is conclusive);
    # rho < 0: refusers more often positive, rho > 0: less often
    b = make_hiv(region_sizes=[500] * 6, rho=rho, smoke_effect=1.2, random_state=11)
    n, truth = len(b.data), b.truth["expected_prevalence"]["overall"]
    heck = MultilevelIterativeImputer(
        methods={"hiv": "2l.heckman"},
        predictor_matrix=b.predictor_matrix,
        cluster="region",
        max_iter=1,
    )
    mar = MultilevelIterativeImputer(methods={"hiv": "2l.pmm"}, cluster="region", max_iter=3)
    q_h, se_h = _prevalence(multiple_impute(b.data, heck, n_imputations=5, random_state=1), n)
    q_m, se_m = _prevalence(multiple_impute(b.data, mar, n_imputations=5, random_state=1), n)
    assert np.sign(rho) * (q_m - truth) > 3 * se_m  # MAR is biased, with the sign of rho
    assert abs(q_h - truth) < abs(q_m - truth) / 3
    assert abs(q_h - truth) < 2 * se_h


def _simulate_heckman():
    """benchmarks/simulate_heckman.py, imported (the slow tests run its replications)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    import simulate_heckman

    return simulate_heckman


@pytest.mark.slow
def test_heckman_simulation_bias_and_coverage():
    """30 replications of the benchmark design (rho = -0.6); the full study is in benchmarks/."""
    sim = _simulate_heckman()
    one_replication, summarise = sim.one_replication, sim.summarise

    rows = [r for seed in range(1, 31) for r in one_replication(-0.6, seed, 5, 3)]
    table = summarise(pd.DataFrame(rows)).set_index("method")
    assert abs(table.loc["2l.heckman", "bias"]) <= abs(table.loc["2l.pmm (MAR)", "bias"]) / 3
    assert table.loc["2l.heckman", "coverage"] >= 0.85
    assert table.loc["2l.pmm (MAR)", "coverage"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.6, 0.0])
def test_heckman_simulation_identified_design(rho):
    """30 replications with a strong exclusion restriction (smoke_effect = 0.8), where the
    selection model is identified (benchmarks/results/heckman_strong_exclusion.md has 100)."""
    sim = _simulate_heckman()
    one_replication, summarise = sim.one_replication, sim.summarise

    rows = [r for seed in range(1, 31) for r in one_replication(rho, seed, 5, 3, smoke_effect=0.8)]
    table = summarise(pd.DataFrame(rows)).set_index("method")
    heck, mar = table.loc["2l.heckman"], table.loc["2l.pmm (MAR)"]
    if rho == 0.0:  # both unbiased: within 3 Monte Carlo standard errors (+ 0.005)
        assert abs(heck["bias"]) < 3 * heck["mc_se_bias"] + 0.005
        assert abs(mar["bias"]) < 3 * mar["mc_se_bias"] + 0.005
    else:
        assert abs(heck["bias"]) <= abs(mar["bias"]) / 3
    assert heck["coverage"] >= 0.85
