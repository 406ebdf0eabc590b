"""skmice.mixed.lmer against lme4 (numbers in tests/reference/lme4_mixed.json) and statsmodels.

The reference holds, for every case of ``_cases.FITS``, lme4's default fit and
the same fit with lme4's optimiser run to convergence (``tight``). lme4's
defaults stop at an absolute deviance change of 1e-8, which leaves up to about
1e-4 in the variance components of the larger models: skmice matches the
converged fits to 1e-6 and the default ones to 4 decimals (2e-4 for those
components). Regenerate with ``python benchmarks/make_lme4_reference.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from skmice.mixed import LmerResults, lmer

from ._cases import FITS, REFERENCE_JSON, dataset

REFERENCE = json.loads(REFERENCE_JSON.read_text())


def _r_name(name: str) -> str:
    """lme4's name of a fixed effect named the patsy way."""
    name = name.replace("Intercept", "(Intercept)")
    for a, b in (("[T.", ""), ("[", ""), ("]", "")):
        name = name.replace(a, b)
    return name


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, (data_name, formula, reml) in FITS.items():
        data = dataset(data_name)
        out[name] = None if data is None else lmer(formula, data, reml=reml)
    return out


def _compare(fit: LmerResults, ref: dict, atol: float, atol_vc: float):
    assert [_r_name(n) for n in fit.params.index] == list(ref["fixef"])
    np.testing.assert_allclose(fit.params.to_numpy(), list(ref["fixef"].values()), atol=atol)
    np.testing.assert_allclose(fit.bse.to_numpy(), list(ref["se"].values()), atol=atol)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), ref["vcov"], atol=atol)
    vc = fit.variance_components
    for label, value in ref["varcomp"].items():
        assert vc[label] == pytest.approx(value, abs=atol_vc), label
    assert fit.scale == pytest.approx(ref["sigma2"], abs=atol_vc)
    assert fit.llf == pytest.approx(ref["loglik"], abs=max(atol, 1e-6))
    assert fit.deviance == pytest.approx(ref["deviance"], abs=max(atol, 1e-6) * 2)
    assert fit.nobs == ref["nobs"] and fit.n_groups == ref["ngroups"][fit.group]
    assert fit.singular == ref["singular"]


@pytest.mark.parametrize("name", list(FITS))
def test_matches_converged_lme4(fits, name):
    if fits[name] is None:
        pytest.skip("shared R reference data not found")
    ref = REFERENCE["fits"][name]["tight"]
    _compare(fits[name], ref, atol=1e-6, atol_vc=1e-6)
    np.testing.assert_allclose(fits[name].theta, ref["theta"], atol=1e-6)


@pytest.mark.parametrize("name", list(FITS))
def test_matches_default_lme4_to_4_decimals(fits, name):
    if fits[name] is None:
        pytest.skip("shared R reference data not found")
    ref = REFERENCE["fits"][name]
    _compare(fits[name], ref, atol=5e-5, atol_vc=2e-4)
    # skmice's optimum is at least as good as lme4's
    assert fits[name].llf >= ref["loglik"] - 1e-8


def test_information_criteria_as_lme4(fits):
    ref = REFERENCE["fits"]["popularity_reml"]
    fit = fits["popularity_reml"]
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-6)
    assert fit.bic == pytest.approx(ref["bic"], abs=1e-6)
    assert fit.df_resid == ref["df_residual"]


def test_variance_component_labels_follow_mitml(fits):
    # mitml: diagonal first, then the upper triangle column by column, residual, ICC
    fit = fits["ref_a_full_q3"]
    if fit is None:
        pytest.skip("shared R reference data not found")
    assert list(fit.variance_components.index) == [
        "Intercept~~Intercept|school", "sex~~sex|school", "extrav~~extrav|school",
        "Intercept~~sex|school", "Intercept~~extrav|school", "sex~~extrav|school",
        "Residual~~Residual", "ICC|school"]
    # uncorrelated blocks are lme4's school and school.1, and mitml gives no ICC then
    assert list(fits["popularity_uncorrelated"].variance_components.index) == [
        "Intercept~~Intercept|school", "sex~~sex|school.1", "Residual~~Residual"]
    assert "ICC|school" not in fits["popularity_slope_only"].variance_components


def test_results_surface(fits):
    fit = fits["popularity_reml"]
    assert fit.fe_params is fit.params
    np.testing.assert_allclose(fit.tvalues, fit.params / fit.bse)
    assert ((fit.pvalues >= 0) & (fit.pvalues <= 1)).all()
    ci = fit.conf_int()
    assert (ci[0] < fit.params).all() and (fit.params < ci[1]).all()
    assert fit.cov_re.shape == (2, 2) and list(fit.cov_re.index) == ["Intercept", "sex"]
    assert fit.random_effects.shape == (100, 2)
    assert fit.random_effects.index[0] == 1  # the school labels
    assert fit.converged and fit.reml
    text = fit.summary()
    assert "REML criterion at convergence" in text and "sex:texp" in text
    assert "REML" in repr(fit)


def test_row_order_and_labels_do_not_matter():
    data = dataset("popularity")
    formula = "popular ~ sex * texp + (1 + sex | school)"
    a = lmer(formula, data)
    shuffled = data.sample(frac=1.0, random_state=0)
    shuffled["school"] = "s" + shuffled["school"].astype(str)
    b = lmer(formula, shuffled)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-7)
    np.testing.assert_allclose(a.cov_re, b.cov_re, rtol=1e-6)


def test_two_parts_over_one_factor_stay_one_factor():
    data = dataset("popularity")
    fit = lmer("popular ~ sex + (1 | school) + (0 + sex | school)", data)
    assert fit.groups == ["school"] and fit.n_groups == 100
    both = lmer("popular ~ sex + (1 | school) + (1 | texpcat)", data)
    assert both.groups == ["school", "texpcat"] and both.n_groups == {"school": 100, "texpcat": 3}


def test_reml_must_be_a_bool():
    with pytest.raises(TypeError, match="reml"):
        lmer("popular ~ sex + (1 | school)", dataset("popularity"), reml="yes")


def test_matches_statsmodels_mixedlm():
    smf = pytest.importorskip("statsmodels.formula.api")
    data = dataset("popularity")
    ours = lmer("popular ~ sex * texp + (1 + sex | school)", data)
    theirs = smf.mixedlm("popular ~ sex * texp", data, groups="school", re_formula="~sex").fit()
    # statsmodels' optimiser stops earlier than lme4's: agreement to about 1e-4
    np.testing.assert_allclose(ours.params, theirs.fe_params, atol=1e-4)
    np.testing.assert_allclose(ours.bse, theirs.bse_fe, atol=1e-4)
    np.testing.assert_allclose(ours.cov_re, theirs.cov_re, atol=2e-4)
    assert ours.llf == pytest.approx(theirs.llf, abs=1e-4)
    # the same labels as skmice.analysis gives MixedLM results
    from skmice.analysis import extract

    assert list(extract(ours).extra.index) == list(extract(theirs).extra.index)


def test_incomplete_rows_are_dropped_like_lme4():
    data = dataset("popularity_incomplete")
    fit = lmer("popular ~ sex * texp + (1 + sex | school)", data)
    assert fit.nobs == int(data["popular"].notna().sum())
    complete = lmer("popular ~ sex * texp + (1 + sex | school)", data.dropna())
    pd.testing.assert_series_equal(fit.params, complete.params)
