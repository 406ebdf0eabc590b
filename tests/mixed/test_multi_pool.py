"""analyze_mixed and pooling with several grouping factors, against mitml.

mitml's ``testEstimates(extra.pars = TRUE)`` on lme4 fits of the stored
three-level imputations (made by skmice's ``ml.pmm``) is in
tests/reference/lme4_multi.json. mitml pools lme4's default fits, which stop
short of convergence by up to about 1e-4 in the variance components: that is
the tolerance here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from skmice import MultilevelIterativeImputer, MultiplyImputedData, multiple_impute
from skmice.mixed import lmer, lmer_each

from ._multi_cases import (
    MULTI_JSON,
    MULTI_POOLS,
    NESTED,
    three_level_imputations,
    three_level_incomplete,
)

REFERENCE = json.loads(MULTI_JSON.read_text())


@pytest.fixture(scope="module")
def imputations():
    return three_level_imputations()


@pytest.mark.parametrize("name", list(MULTI_POOLS))
def test_analyze_mixed_pools_as_mitml(imputations, name):
    ref = REFERENCE["pools"][name]
    mi = MultiplyImputedData(three_level_incomplete(), imputations)
    fits = mi.analyze_mixed(MULTI_POOLS[name])
    assert len(fits) == ref["m"]
    table = fits.pool()
    assert list(table.index) == ref["terms"]
    expected = pd.DataFrame(ref["estimates"], index=ref["terms"], columns=ref["columns"])
    for ours, theirs in [("estimate", "Estimate"), ("std_error", "Std.Error"),
                         ("riv", "RIV"), ("fmi", "FMI")]:
        np.testing.assert_allclose(table[ours], expected[theirs], atol=1e-4, err_msg=ours)
    for ours, theirs in [("statistic", "t.value"), ("df", "df")]:
        np.testing.assert_allclose(table[ours], expected[theirs], rtol=1e-3, err_msg=ours)
    extra = fits.pool_extra()
    # every level's variance components, labelled and ordered as mitml's
    assert list(extra.index) == ref["extra_names"]
    np.testing.assert_allclose(extra.to_numpy(), ref["extra"], atol=1e-4)


def test_pooled_components_are_the_means(imputations):
    fits = MultiplyImputedData(three_level_incomplete(), imputations).analyze_mixed(NESTED)
    each = pd.DataFrame([f.variance_components for f in fits])
    pd.testing.assert_series_equal(fits.pool_extra(), each.mean(), check_names=False)


def test_shared_design_equals_separate_fits(imputations):
    formula = MULTI_POOLS["three_level_slope_mitml"]
    batched = lmer_each(formula, imputations[:3])
    for fit, data in zip(batched, imputations):
        single = lmer(formula, data)
        pd.testing.assert_series_equal(fit.params, single.params, rtol=1e-10)
        pd.testing.assert_series_equal(fit.variance_components, single.variance_components,
                                       rtol=1e-9)


def test_three_level_imputation_and_analysis_recover_the_truth():
    data = three_level_incomplete()
    imputer = MultilevelIterativeImputer(cluster=["class", "school"], max_iter=5)
    mi = multiple_impute(data, imputer, n_imputations=5, random_state=1)
    fits = mi.analyze_mixed(NESTED)
    table = fits.pool()
    truth = pd.Series({"Intercept": 1.0, "x": 0.5, "class_size": 0.2, "school_ses": 0.3})
    z = (table["estimate"] - truth) / table["std_error"]
    assert (np.abs(z) < 4.0).all(), z
    extra = fits.pool_extra()
    assert list(extra.index) == ["Intercept~~Intercept|class:school",
                                 "Intercept~~Intercept|school", "Residual~~Residual"]
    # residual variance 1 - 0.10 - 0.15 from 640 rows: within a few standard errors
    assert extra["Residual~~Residual"] == pytest.approx(0.75, abs=0.15)
