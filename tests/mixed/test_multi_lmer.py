"""skmice.mixed.lmer with several grouping factors against lme4 (tests/reference/lme4_multi.json).

Nested (three-level) and crossed designs, random intercepts and slopes, REML
and ML. The reference holds lme4's default fit and the fit with its optimiser
run to convergence (``tight``): skmice matches the converged fits to 1e-5
relative in the variance components and theta (lme4's own convergence
tolerance) and far closer in the log-likelihood. Regenerate with
``python benchmarks/make_lme4_reference.py --which multi``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from skmice.mixed import build_design, lmer, parse_mixed_formula

from ._multi_cases import MULTI_FITS, MULTI_JSON, NESTED, multi_dataset

REFERENCE = json.loads(MULTI_JSON.read_text())
RTOL = 1e-5


@pytest.fixture(scope="module")
def fits():
    data = {name: multi_dataset(name) for name in {d for d, _, _ in MULTI_FITS.values()}}
    return {name: lmer(formula, data[d], reml=reml)
            for name, (d, formula, reml) in MULTI_FITS.items()}


def _r_name(name: str) -> str:
    return name.replace("Intercept", "(Intercept)")


@pytest.mark.parametrize("name", list(MULTI_FITS))
def test_matches_converged_lme4(fits, name):
    fit, ref = fits[name], REFERENCE["fits"][name]["tight"]
    assert fit.converged and fit.reml == MULTI_FITS[name][2]
    assert [_r_name(n) for n in fit.params.index] == list(ref["fixef"])
    np.testing.assert_allclose(fit.params, list(ref["fixef"].values()), rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(fit.bse, list(ref["se"].values()), rtol=RTOL)
    np.testing.assert_allclose(fit.cov_params(), ref["vcov"], rtol=RTOL, atol=1e-10)
    # the same components, labelled and ordered as lme4 (and mitml) order them
    vc = fit.variance_components
    assert list(vc.index) == list(ref["varcomp"])
    np.testing.assert_allclose(vc, list(ref["varcomp"].values()), rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=RTOL, atol=1e-7)
    assert fit.scale == pytest.approx(ref["sigma2"], rel=RTOL)
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-7)
    assert fit.deviance == pytest.approx(ref["deviance"], abs=2e-7)
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-7)
    assert fit.bic == pytest.approx(ref["bic"], abs=1e-7)
    assert fit.df_resid == ref["df_residual"] and fit.nobs == ref["nobs"]
    assert fit.n_groups == ref["ngroups"] and fit.groups == list(ref["ngroups"])
    assert fit.singular == ref["singular"]


@pytest.mark.parametrize("name", list(MULTI_FITS))
def test_at_least_as_good_as_default_lme4(fits, name):
    assert fits[name].llf >= REFERENCE["fits"][name]["loglik"] - 1e-8


def test_nested_shorthand_is_lme4s_expansion():
    data = multi_dataset("three_level")
    parsed = parse_mixed_formula(NESTED)
    assert parsed.groups == ["school", "class:school"]
    a = lmer(NESTED, data)
    b = lmer("y ~ x + class_size + school_ses + (1 | school) + (1 | class:school)", data)
    # class ids are unique across schools: the class factor is the same
    c = lmer("y ~ x + class_size + school_ses + (1 | school) + (1 | class)", data)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.params, c.params, rtol=1e-8)
    assert a.llf == pytest.approx(c.llf, abs=1e-8)
    assert list(a.random_effects) == ["class:school", "school"]
    labels = a.random_effects["class:school"].index.str.split(":", expand=True)
    pairs = set(zip(data["class"].astype(str), data["school"].astype(str)))
    assert set(labels) == pairs  # class:school labels


def test_interaction_groups_are_combinations():
    data = pd.DataFrame({"a": [1, 1, 2, 2, 1], "b": ["u", "v", "u", "u", "u"]})
    design = build_design("y ~ 1 + (1 | a) + (1 | a:b)",
                          data.assign(y=[0.0, 1.0, 2.0, 3.0, 4.0]))
    factor = design.factors[1]
    assert factor.name == "a:b"
    assert factor.levels.tolist() == ["1:u", "1:v", "2:u"]
    assert factor.codes.tolist() == [0, 1, 2, 2, 0]


def test_results_surface_with_several_factors(fits):
    fit = fits["crossed_slope"]
    assert fit.groups == ["school", "neighbourhood"]
    assert set(fit.cov_re) == {"school", "neighbourhood"}
    assert list(fit.cov_re["school"].index) == ["Intercept", "x"]
    assert fit.random_effects["school"].shape == (30, 2)
    assert fit.random_effects["neighbourhood"].shape == (20, 1)
    assert not any(k.startswith("ICC") for k in fit.variance_components.index)
    text = fit.summary()
    assert "neighbourhood" in text and "groups: school, 30; neighbourhood, 20" in text


def test_random_effects_are_conditional_modes(fits):
    # the conditional modes solve the penalised least squares: for crossed intercepts,
    # b_s = tau_s^2 / sigma^2 * sum_i (y - x'beta - b_h)_i over school s, shrunk
    fit = fits["crossed_reml"]
    data = multi_dataset("crossed")
    X = np.column_stack([np.ones(len(data)), data[["x", "school_ses", "deprivation"]]])
    b_s, b_h = fit.random_effects["school"], fit.random_effects["neighbourhood"]
    resid = (data["y"] - X @ fit.params.to_numpy()
             - b_h.loc[data["neighbourhood"], "Intercept"].to_numpy()
             - b_s.loc[data["school"], "Intercept"].to_numpy())
    tau2 = fit.cov_re["school"].iat[0, 0]
    score = resid.groupby(data["school"]).sum() / fit.scale - b_s["Intercept"] / tau2
    np.testing.assert_allclose(score, 0.0, atol=1e-6)
    assert abs(b_s["Intercept"].mean()) < 0.1 and b_s["Intercept"].std() > 0.1


def test_row_order_does_not_matter():
    data = multi_dataset("crossed")
    formula = "y ~ x + (1 + x | school) + (1 | neighbourhood)"
    a = lmer(formula, data)
    b = lmer(formula, data.sample(frac=1.0, random_state=0))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-7)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-6)


def test_gradient_is_exact():
    from skmice.mixed import ThetaLayout, profiled_deviance
    from skmice.mixed._lmer import design_statistics

    design = build_design("y ~ x + (1 + x | school) + (1 + x | school:class)",
                          multi_dataset("three_level"))
    stats = design_statistics(design)
    layout = ThetaLayout((2, 2))
    theta = np.array([0.4, 0.1, 0.2, 0.5, -0.1, 0.3])
    for reml in (True, False):
        _, grad = profiled_deviance(theta, layout, stats, reml, gradient=True)
        h = 1e-6
        numeric = [(profiled_deviance(theta + h * e, layout, stats, reml)
                    - profiled_deviance(theta - h * e, layout, stats, reml)) / (2 * h)
                   for e in np.eye(theta.size)]
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_grouping_syntax_errors():
    with pytest.raises(ValueError, match="not both"):
        parse_mixed_formula("y ~ x + (1 | a/b:c)")
    with pytest.raises(ValueError, match="grouping factor"):
        parse_mixed_formula("y ~ class + (1 | school/class)")


def _dense_deviance(theta, layout, design, reml):
    """The profiled deviance from V = I + Z Lambda Lambda' Z' directly (small data only)."""
    from scipy.linalg import block_diag

    from skmice.mixed._lmer import ordered_factors

    factors = ordered_factors(design)
    T = layout.factor(theta)
    Zs, Lams, start = [], [], 0
    for f in factors:
        Zk = np.zeros((design.n_obs, f.n_groups * f.q))
        for a in range(f.q):
            Zk[np.arange(design.n_obs), f.codes * f.q + a] = f.Z[:, a]
        Zs.append(Zk)
        Lams.append(np.kron(np.eye(f.n_groups), T[start:start + f.q, start:start + f.q]))
        start += f.q
    ZL = np.hstack(Zs) @ block_diag(*Lams)
    V = np.eye(design.n_obs) + ZL @ ZL.T
    X, y = design.X, design.y
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ beta
    n, p = X.shape
    nu = n - p if reml else n
    dev = np.linalg.slogdet(V)[1] + nu * (1 + np.log(2 * np.pi * (r @ Vi @ r) / nu))
    return dev + (np.linalg.slogdet(X.T @ Vi @ X)[1] if reml else 0.0)


def test_blocked_deviance_equals_the_dense_one_for_four_factors():
    # pupils in classes in schools in districts, crossed with raters: components by district
    from skmice.mixed import ThetaLayout, profiled_deviance
    from skmice.mixed._lmer import design_statistics

    rng = np.random.default_rng(3)
    n = 120
    district = np.repeat(np.arange(3), 40)
    school = district * 2 + rng.integers(0, 2, n)
    klass = school * 3 + rng.integers(0, 3, n)
    data = pd.DataFrame({"district": district, "school": school, "class": klass,
                         "x": rng.normal(size=n), "y": rng.normal(size=n)})
    for formula, blocks in [
        ("y ~ x + (1 | district) + (1 + x | school) + (1 | class)", (1, 2, 1)),
        ("y ~ x + (1 | district/school/class)", (1, 1, 1)),
    ]:
        design = build_design(formula, data)
        stats = design_statistics(design)
        layout = ThetaLayout(blocks)
        theta = np.where(layout.diagonal, 0.7, 0.2) + 0.1 * np.arange(layout.size)
        for reml in (True, False):
            dev, grad = profiled_deviance(theta, layout, stats, reml, gradient=True)
            assert dev == pytest.approx(_dense_deviance(theta, layout, design, reml), rel=1e-10)
            h = 1e-6
            numeric = [(profiled_deviance(theta + h * e, layout, stats, reml)
                        - profiled_deviance(theta - h * e, layout, stats, reml)) / (2 * h)
                       for e in np.eye(theta.size)]
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)
    crossed = data.assign(rater=rng.integers(0, 4, n))
    design = build_design("y ~ x + (1 | class) + (1 | school) + (1 + x | rater)", crossed)
    stats = design_statistics(design)
    layout = ThetaLayout((1, 1, 2))
    theta = np.array([0.5, 0.8, 0.6, 0.3, 0.4])
    assert profiled_deviance(theta, layout, stats, True) == pytest.approx(
        _dense_deviance(theta, layout, design, True), rel=1e-10)
