"""Tests of the IMPACT-like simulator (skmice.datasets.make_impact)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, make_methods
from skmice.datasets import make_impact


@pytest.fixture(scope="module")
def full():
    return make_impact(random_state=0)


def test_structure(full):
    data = full.data
    assert data.shape == (11_022, 11)
    sizes = data.groupby("study").size()
    assert len(sizes) == 15 and sizes.min() == 126 and sizes.max() == 1510
    assert full.cluster == "study"
    assert (data.groupby("study")["type"].nunique() == 1).all()
    assert data["pupil"].cat.ordered and not data["ct"].cat.ordered
    assert list(data["pupil"].cat.categories) == ["both", "one", "none"]
    for col in ("hypox", "hypots", "tsah", "edh"):
        assert set(data[col].dropna().unique()) <= {0.0, 1.0}
    assert set(full.truth) >= {"Intercept", "age", "pupil[T.none]", "ct[T.V/VI]", "var_study"}
    assert full.formula.startswith("mort ~ age")
    pd.testing.assert_frame_equal(data[data.notna()], full.complete[data.notna()])


def test_missingness_rates_and_systematic(full):
    rates = full.data.isna().mean()
    target = {
        "pupil": 0.107,
        "ct": 0.237,
        "hypox": 0.230,
        "hypots": 0.119,
        "tsah": 0.183,
        "edh": 0.199,
    }
    for col, r in target.items():
        assert abs(rates[col] - r) < 0.015, (col, rates[col])
    for col in ("study", "type", "age", "motor_score", "mort"):
        assert rates[col] == 0
    by_study = full.data.groupby("study")[["ct", "hypox", "hypots"]].agg(lambda s: s.isna().mean())
    assert (by_study["ct"] == 1).sum() == 1
    assert (by_study["hypox"] == 1).sum() == 2
    assert (by_study["hypots"] == 1).sum() == 1
    assert full.systematic["hypox"] == list(by_study.index[by_study["hypox"] == 1])
    # missing at random: more often among those who died
    d = full.data
    assert d.loc[d.mort == 1, "tsah"].isna().mean() > d.loc[d.mort == 0, "tsah"].isna().mean()


def test_deterministic_and_scaled():
    a = make_impact(scale=0.05, random_state=3)
    b = make_impact(scale=0.05, random_state=3)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert 400 < len(a.data) < 700
    assert a.data.groupby("study").size().min() >= 10
    with pytest.raises(ValueError, match="scale"):
        make_impact(scale=0)


def test_mortality_model_is_recovered_on_complete_data(full):
    smf = pytest.importorskip("statsmodels.formula.api")
    fit = smf.logit(
        "mort ~ age + motor_score + pupil + ct + hypox + hypots + tsah + edh + C(study)",
        full.complete,
    ).fit(disp=0)
    for term in ("age", "pupil[T.none]", "hypots", "tsah", "edh", "motor_score[T.5/6]"):
        assert abs(fit.params[term] - full.truth[term]) < 4 * fit.bse[term], term


def test_small_version_imputes_validly_with_default_methods():
    b = make_impact(scale=0.04, random_state=1)
    methods = make_methods(b.data, cluster="study")
    assert methods["pupil"] == "2l.pmm" and methods["ct"] == "2l.polyreg"
    assert all(methods[c] == "2l.bin" for c in ("hypox", "hypots", "tsah", "edh"))
    out = MultilevelIterativeImputer(cluster="study", max_iter=5, random_state=0).fit_transform(
        b.data
    )
    assert out.notna().all().all()
    for col in ("pupil", "ct", "motor_score", "type"):
        assert out[col].dtype == b.data[col].dtype
        assert set(out[col]) <= set(b.data[col].cat.categories)
    for col in ("hypox", "hypots", "tsah", "edh"):
        assert set(out[col].unique()) <= {0.0, 1.0}
    observed = b.data.notna()
    pd.testing.assert_frame_equal(out[observed], b.data[observed])
    # whole studies without hypox got imputations (from their posterior / prior)
    for study in b.systematic["hypox"]:
        assert out.loc[out.study == study, "hypox"].notna().all()
    assert np.isfinite(out["age"]).all()
