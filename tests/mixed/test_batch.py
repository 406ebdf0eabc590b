"""Tests for lmer_each and MultiplyImputedData.analyze_mixed, and pooling against mitml."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from skmice import MultiplyImputedData
from skmice.analysis import MultipleAnalyses, extract
from skmice.mixed import LmerResults, lmer, lmer_each

from ._cases import POOLS, REFERENCE_JSON, TUTORIAL, dataset, mitml_imputations

REFERENCE = json.loads(REFERENCE_JSON.read_text())


@pytest.fixture(scope="module")
def imputations():
    return mitml_imputations()


def _same(a: LmerResults, b: LmerResults):
    pd.testing.assert_series_equal(a.params, b.params, rtol=1e-12)
    pd.testing.assert_frame_equal(a.cov_params(), b.cov_params(), rtol=1e-12)
    pd.testing.assert_series_equal(a.variance_components, b.variance_components, rtol=1e-12)


def test_shared_design_equals_separate_fits(imputations):
    batched = lmer_each(TUTORIAL, imputations)
    for fit, data in zip(batched, imputations):
        _same(fit, lmer(TUTORIAL, data))


def test_one_design_when_only_the_outcome_differs(imputations, monkeypatch):
    import skmice.mixed._batch as batch

    own = []
    original = batch._fit_own
    monkeypatch.setattr(batch, "_fit_own", lambda *a: own.append(1) or original(*a))
    datasets = [d.copy() for d in imputations[:3]]
    datasets[2]["texp"] = datasets[2]["texp"] * 2.0
    lmer_each(TUTORIAL, datasets)
    assert len(own) == 1  # the third dataset only


def test_datasets_with_different_predictors(imputations):
    datasets = [d.copy() for d in imputations[:3]]
    datasets[1]["texp"] = datasets[1]["texp"] + 1.0  # its own design
    datasets[2].loc[3, "sex"] = np.nan  # other rows
    batched = lmer_each(TUTORIAL, datasets, reml=False)
    for fit, data in zip(batched, datasets):
        _same(fit, lmer(TUTORIAL, data, reml=False))
    assert batched[2].nobs == batched[0].nobs - 1


def test_parallel_equals_sequential(imputations):
    sequential = lmer_each(TUTORIAL, imputations[:3])
    parallel = lmer_each(TUTORIAL, imputations[:3], n_jobs=2)
    for a, b in zip(sequential, parallel):
        _same(a, b)


def test_lmer_each_needs_datasets():
    with pytest.raises(ValueError, match="empty"):
        lmer_each(TUTORIAL, [])


def test_extract_gives_fixed_effects_and_components(imputations):
    fit = lmer(TUTORIAL, imputations[0])
    est = extract(fit)
    pd.testing.assert_series_equal(est.params, fit.params)
    pd.testing.assert_frame_equal(est.cov, fit.cov_params())
    assert est.dfcom == np.inf
    pd.testing.assert_series_equal(est.extra, fit.variance_components)


def test_analyze_mixed_pools_as_mitml(imputations):
    ref = REFERENCE["pools"]["popularity_mitml"]
    mi = MultiplyImputedData(dataset("popularity_incomplete"), imputations)
    fits = mi.analyze_mixed(POOLS["popularity_mitml"])
    assert isinstance(fits, MultipleAnalyses) and len(fits) == ref["m"]
    table = fits.pool()
    assert list(table.index) == ref["terms"]
    expected = pd.DataFrame(ref["estimates"], index=ref["terms"], columns=ref["columns"])
    # mitml without df.com: Rubin's (1987) df, which pool()'s default dfcom = inf gives
    for ours, theirs in [("estimate", "Estimate"), ("std_error", "Std.Error"),
                         ("p_value", "P(>|t|)"), ("riv", "RIV"), ("fmi", "FMI")]:
        np.testing.assert_allclose(table[ours], expected[theirs], atol=1e-4, err_msg=ours)
    for ours, theirs in [("statistic", "t.value"), ("df", "df")]:
        np.testing.assert_allclose(table[ours], expected[theirs], rtol=1e-4, err_msg=ours)
    extra = fits.pool_extra()
    assert list(extra.index) == ref["extra_names"]
    np.testing.assert_allclose(extra.to_numpy(), ref["extra"], atol=1e-4)


def test_likelihood_ratio_test_of_ml_fits(imputations):
    mi = MultiplyImputedData(dataset("popularity_incomplete"), imputations)
    full = mi.analyze_mixed(TUTORIAL, reml=False)
    null = mi.analyze_mixed("popular ~ sex + texp + (1 + sex | school)", reml=False)
    lr = full.D2(null, use="likelihood")
    wald = full.D1(null)
    assert lr.df1 == wald.df1 == 1
    assert lr.statistic > 0 and wald.statistic > 0
    with pytest.raises(ValueError, match="REML"):
        mi.analyze_mixed(TUTORIAL).D2(mi.analyze_mixed(
            "popular ~ sex + texp + (1 + sex | school)"), use="likelihood")
