"""Tests of the multilevel methods (ml.norm, ml.pmm) and their sampler.

Statistical checks analyse the completed data with the small REML fitter of
``tests/_reml.py`` (checked against lme4 in its own test) and compare the
pooled variance components with the simulators' truth, within three standard
errors (Rubin's total variance of the pooled estimate).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer
from skmice.datasets import make_crossed, make_three_level
from skmice.diagnostics import bulk_ess
from skmice.methods import (
    Design,
    Level,
    MultilevelNormal,
    MultilevelPMM,
    TwoLevelNormal,
    get_method,
)
from skmice.methods._multilevel import slope_columns
from skmice.methods._multilevel_sampler import (
    cell_effects,
    initial_state,
    make_cells,
    residual_ss,
    statistics,
)
from tests._reml import reml
from tests.methods.test_twolevel import simulate


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def _three_level_design(data, slope_at="school"):
    n = len(data)
    X = np.column_stack([np.ones(n), data["x"], data["class_size"], data["school_ses"]])
    levels = [Level(data["class"].to_numpy() - 1, int(data["class"].max()), X[:, :2].copy(),
                    np.array([0, 1]), "class"),
              Level(data["school"].to_numpy() - 1, int(data["school"].max()), name="school")]
    return Design(X=X, levels=levels), MultilevelNormal(random_slopes=slope_at)


def _crossed_design(data):
    n = len(data)
    X = np.column_stack([np.ones(n), data["x"], data["school_ses"], data["deprivation"]])
    levels = [Level(data["school"].to_numpy() - 1, int(data["school"].max()), X[:, :1].copy(),
                    np.array([0]), "school"),
              Level(data["neighbourhood"].to_numpy() - 1, int(data["neighbourhood"].max()),
                    name="neighbourhood")]
    return Design(X=X, levels=levels)


def _chain(method, design, y, n_iter, burn, seed=0):
    """Draws of (beta, every level's variances (diagonal), sigma2) over ``n_iter`` fits."""
    rng = np.random.default_rng(seed)
    out = []
    for it in range(n_iter):
        method.fit(design, y, rng)
        if it >= burn:
            out.append(np.concatenate([method.beta_, *[np.diag(p) for p in method.psi_],
                                       [method.sigma2_]]))
    return np.array(out)


# ---------------------------------------------------------------------------
# the pieces
# ---------------------------------------------------------------------------


def test_cells_nested_crossed_and_empty_units():
    # nested: the cells are the classes, also those without rows
    cell, C, unit, nested = make_cells([(np.array([0, 0, 2, 2]), 4), (np.array([1, 1, 0, 0]), 2)])
    assert nested and C == 4 and cell.tolist() == [0, 0, 2, 2]
    assert unit[1][[0, 2]].tolist() == [1, 0]
    # crossed: the distinct pairs
    g1, g2 = np.array([0, 1, 0, 1, 0]), np.array([0, 0, 1, 1, 0])
    cell, C, unit, nested = make_cells([(g1, 2), (g2, 2)])
    assert not nested and C == 4 and cell[0] == cell[4]
    np.testing.assert_array_equal(unit[0][cell], g1)
    np.testing.assert_array_equal(unit[1][cell], g2)


def test_nested_levels_form_one_block_crossed_ones_separate():
    """Classes in schools crossed with neighbourhoods: the classes and schools are
    drawn jointly, the neighbourhoods as a second block."""
    rng = np.random.default_rng(0)
    klass = np.repeat(np.arange(12), 5)
    school = klass // 3
    hood = rng.integers(0, 4, klass.size)
    X = np.column_stack([np.ones(klass.size), rng.standard_normal(klass.size)])
    design = Design(X=X, levels=[Level(klass, 12, X[:, :1].copy(), np.array([0])),
                                 Level(school, 4), Level(hood, 4)])
    levels = [(klass, 12), (school, 4), (hood, 4)]
    cols = [np.array([0])] * 3
    st = statistics(design, rng.standard_normal(klass.size), levels, cols, "m", {})
    assert [b.levels for b in st.blocks] == [[0, 1], [2]]
    np.testing.assert_array_equal(st.blocks[0].parents[0], np.arange(12) // 3)
    st = statistics(design, rng.standard_normal(klass.size), levels[::-1][:2], cols[:2], "m", {})
    assert [b.levels for b in st.blocks] == [[0], [1]]  # neighbourhoods and schools: crossed


def test_slope_columns_spec():
    names = ["class", "school"]
    assert [c.tolist() for c in slope_columns("all", names, 3, "m")] == [[0, 1, 2]] * 2
    assert [c.tolist() for c in slope_columns(["school"], names, 2, "m")] == [[0], [0, 1]]
    assert [c.tolist() for c in slope_columns(1, [None, None], 2, "m")] == [[0], [0, 1]]
    assert [c.tolist() for c in slope_columns({"class": "all"}, names, 2, "m")] == [[0, 1], [0]]
    with pytest.raises(ValueError, match="'hood'"):
        slope_columns("hood", names, 2, "m")
    with pytest.raises(ValueError, match="out of range"):
        slope_columns({"school": [2]}, names, 2, "m")
    with pytest.raises(TypeError, match="positions"):
        slope_columns({"school": 2}, names, 2, "m")


def test_cell_statistics_match_the_rows():
    """The residual sum of squares and per-unit cross-products from the cells equal
    those computed on the rows."""
    data = make_crossed(n_rows=500, n_schools=12, n_neighbourhoods=9, random_state=3).complete
    design = _crossed_design(data)
    y = data["y"].to_numpy()
    levels = [(lv.groups, lv.n_groups) for lv in design.levels]
    cols = [np.array([0]), np.array([0])]
    st = statistics(design, y, levels, cols, "ml.norm", {})
    rng = np.random.default_rng(0)
    state = initial_state(st)
    state.b = [rng.standard_normal((lv.N, 1)) for lv in st.levels]
    beta = rng.standard_normal(4)
    # direct, in standardised units
    pb = st.pb
    ys = (y - pb.y_centre) / pb.y_scale
    Xs = (design.X - pb.centre[: 4]) / pb.scale[: 4]
    Xs[:, 0] = 1.0
    r = ys - Xs @ beta - sum(bk[g, 0] for bk, (g, _) in zip(state.b, levels))
    assert residual_ss(st, beta, cell_effects(st, state.b)) == pytest.approx(r @ r, rel=1e-10)
    for lv, (g, N) in zip(st.levels, levels):
        np.testing.assert_allclose(lv.ZtZ[:, 0, 0], np.bincount(g, minlength=N))
        np.testing.assert_allclose(lv.ZtX[:, 0, 1], np.bincount(g, Xs[:, 1], minlength=N),
                                   atol=1e-10)


def test_one_level_is_2l_pan_draw_for_draw():
    design, y, _ = simulate(n_groups=40, size=8, seed=3)
    pan, ml = TwoLevelNormal(), MultilevelNormal(n_burnin=10)  # 2l.pan's burn-in
    r1, r2 = np.random.default_rng(0), np.random.default_rng(0)
    for _ in range(4):
        pan.fit(design, y, r1)
        ml.fit(design, y, r2)
    np.testing.assert_allclose(ml.beta_, pan.beta_, rtol=1e-10)
    np.testing.assert_allclose(ml.b_[0], pan.b_, atol=1e-10)
    np.testing.assert_allclose(ml.psi_[0], pan.psi_, rtol=1e-8)
    assert ml.sigma2_ == pytest.approx(pan.sigma2_, rel=1e-10)


def test_registry_and_parameters():
    assert type(get_method("ml.norm")) is MultilevelNormal
    assert type(get_method("ml.lmer")) is MultilevelNormal
    assert type(get_method("ml.pmm")) is MultilevelPMM
    assert MultilevelNormal.models_all_levels and MultilevelNormal.needs_groups
    design, y, _ = simulate(n_groups=10, size=5)
    with pytest.raises(ValueError, match="sampler"):
        MultilevelNormal(sampler="gibbs").fit(design, y, 0)


def test_level_codes_are_checked():
    design, y, _ = simulate(n_groups=10, size=5)
    bad = Design(X=design.X, levels=[design.levels[0],
                                     Level(np.full(design.n_rows, 3), 2, name="school")])
    with pytest.raises(ValueError, match="level 1 \\('school'\\).*n_groups=2"):
        MultilevelNormal().fit(bad, y, 0)
    method = MultilevelNormal().fit(design, y, 0)
    two = Design(X=design.X, levels=[design.levels[0], Level(np.zeros(design.n_rows, int), 1)])
    with pytest.raises(ValueError, match="2 grouping levels; fit saw 1"):
        method.sample(two, 0)


# ---------------------------------------------------------------------------
# the sampler against REML on complete data
# ---------------------------------------------------------------------------


def test_reml_helper_matches_lme4():
    """The analysis used below agrees with lme4 (lmer, REML; R 4.2.2, lme4 from Debian 12)
    on ``make_crossed(random_state=1).complete``."""
    data = make_crossed(random_state=1).complete
    design = _crossed_design(data)
    fit = reml(data["y"].to_numpy(), design.X,
               [(lv.groups, lv.n_groups, None) for lv in design.levels])
    np.testing.assert_allclose(fit["beta"], [0.9098563, 0.4919408, 0.2757600, -0.5378203],
                               atol=2e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit["cov_beta"])),
                               [0.08943614, 0.01372214, 0.05637116, 0.07890329], rtol=1e-4)
    np.testing.assert_allclose([fit["psi"][0][0, 0], fit["psi"][1][0, 0], fit["sigma2"]],
                               [0.12225, 0.14201, 0.73584], atol=1e-5)


@pytest.mark.parametrize("kind", ["three-level", "crossed"])
def test_posterior_agrees_with_reml(kind):
    """Posterior means within three posterior standard deviations of the REML
    estimates (the two differ by O(1/N) for variances; lme4 agrees with REML)."""
    if kind == "three-level":
        data = make_three_level(random_state=1).complete
        design, method = _three_level_design(data)
        n = len(data)
        fit = reml(data["y"].to_numpy(), design.X,
                   [(design.levels[0].groups, 250, None),
                    (design.levels[1].groups, 50, np.column_stack([np.ones(n), data["x"]]))],
                   se=False)
        want = np.r_[fit["beta"], fit["psi"][0][0, 0], np.diag(fit["psi"][1]), fit["sigma2"]]
    else:
        data = make_crossed(random_state=1).complete
        design = _crossed_design(data)
        method = MultilevelNormal()
        fit = reml(data["y"].to_numpy(), design.X,
                   [(lv.groups, lv.n_groups, None) for lv in design.levels], se=False)
        want = np.r_[fit["beta"], fit["psi"][0][0, 0], fit["psi"][1][0, 0], fit["sigma2"]]
    draws = _chain(method, design, data["y"].to_numpy(), 500, 50)
    z = (draws.mean(axis=0) - want) / draws.std(axis=0)
    assert np.all(np.abs(z) < 3), z


@pytest.mark.parametrize("kind", ["crossed", "nested"])
def test_collapsed_sampler_mixes_where_single_site_does_not(kind):
    """Crossed factors, and classes in schools with many pupils per class: the
    intercept and the level covariates' effects mix an order of magnitude
    better than with single-site Gibbs (and, nested, the school variance too)."""
    if kind == "crossed":
        data = make_crossed(random_state=1).complete
        design = _crossed_design(data)
        slow, variance = [0, 2, 3], None  # intercept, school_ses, deprivation
    else:
        data = make_three_level(n_schools=50, n_classes=5, n_pupils=60, var_slope=0.0,
                                random_state=4).complete
        design, _ = _three_level_design(data, slope_at=None)
        design.levels[0].Z, design.levels[0].z_in_x = design.X[:, :1].copy(), np.array([0])
        slow, variance = [0, 2, 3], 5  # intercept, class_size, school_ses; var(school)
    y = data["y"].to_numpy()
    ess = {}
    for sampler in ("collapsed", "single-site"):
        draws = _chain(MultilevelNormal(sampler=sampler), design, y, 400, 20)
        ess[sampler] = np.array([bulk_ess(draws[None, :, j]) for j in range(draws.shape[1])])
    assert np.all(ess["collapsed"][slow] > 5 * ess["single-site"][slow]), ess
    assert np.all(ess["collapsed"] > 100), ess
    if variance is not None:
        assert ess["collapsed"][variance] > 2 * ess["single-site"][variance], ess


# ---------------------------------------------------------------------------
# new units at sample time
# ---------------------------------------------------------------------------


def test_new_units_use_their_observed_rows():
    """A new school with many observed rows far above the others: its effect is
    drawn from its posterior, not the prior; a new class of it likewise; new
    units without observed rows get prior draws."""
    data = make_three_level(var_slope=0.0, random_state=2).complete
    design, method = _three_level_design(data, slope_at=None)
    y = data["y"].to_numpy()
    method.fit(design, y, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    n_new = 60
    X = np.column_stack([np.ones(n_new), rng.standard_normal((n_new, 3))])
    klass = np.r_[np.full(30, 250), np.full(30, 251)]  # two new classes of one new school
    school = np.full(n_new, 50)
    y_new = X @ method.beta_ + 3.0 + np.r_[np.full(30, 1.0), np.full(30, -1.0)]
    y_new += 0.1 * rng.standard_normal(n_new)

    def design_of(rows, n_class=252, n_school=51):
        return Design(X=X[rows], levels=[Level(klass[rows], n_class, X[rows, :2], np.array([0, 1]),
                                               "class"),
                                         Level(school[rows], n_school, name="school")])

    obs, mis = np.arange(0, n_new, 2), np.arange(1, n_new, 2)
    out = method.sample(design_of(mis), rng, observed=(design_of(obs), y_new[obs]))
    resid = out - X[mis] @ method.beta_
    # the school's +3 and each class's +-1 are recovered (shrinkage is small here)
    assert abs(resid.mean() - 3.0) < 0.6
    assert resid[:15].mean() - resid[15:].mean() > 1.0
    # without observed rows: prior draws, centred near zero over many units
    many = 4000
    Xm = np.column_stack([np.ones(many), np.zeros((many, 3))])
    prior = Design(X=Xm, levels=[Level(250 + np.arange(many), 250 + many, Xm[:, :2],
                                       np.array([0, 1]), "class"),
                                 Level(50 + np.arange(many), 50 + many, name="school")])
    draws = method.sample(prior, rng) - method.beta_[0]
    total = method.psi_[0][0, 0] + method.psi_[1][0, 0] + method.sigma2_
    assert abs(draws.mean()) < 4 * np.sqrt(total / many)
    assert draws.var() == pytest.approx(total, rel=0.1)


# ---------------------------------------------------------------------------
# in the imputer
# ---------------------------------------------------------------------------


def test_imputer_three_levels_no_warning_and_transform_new_units():
    sim = make_three_level(n_schools=12, n_classes=3, n_pupils=10, random_state=0)
    imp = MultilevelIterativeImputer(
        cluster=sim.cluster, predictor_matrix=sim.predictor_matrix,
        methods={"y": MultilevelNormal(random_slopes="school")}, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = imp.fit_transform(sim.data)
        assert out["y"].notna().all()
        fitted = imp.methods_["y"]
        assert [c.tolist() for c in fitted.random_columns_] == [[0], [0, 1]]
        assert fitted.level_names_ == ["class", "school"] and fitted.nested_
        new = sim.data.iloc[:60].copy()
        new["class"] += 1000  # new classes, in known schools for the first rows
        new.loc[new.index[30:], "school"] += 1000  # and in new schools
        completed = imp.transform(new)
    assert completed["y"].notna().all()
    pd.testing.assert_series_equal(completed["class"], new["class"])
    observed = sim.data["y"].notna()
    pd.testing.assert_series_equal(out.loc[observed, "y"], sim.data.loc[observed, "y"])


def test_imputer_pmm_imputes_observed_values_on_crossed_data():
    sim = make_crossed(n_rows=800, n_schools=15, n_neighbourhoods=10, random_state=0)
    data = sim.data.copy()
    data["y"] = data["y"].round(1)
    imp = MultilevelIterativeImputer(cluster=sim.cluster, predictor_matrix=sim.predictor_matrix,
                                     methods={"y": "ml.pmm"}, max_iter=3, random_state=0)
    out = imp.fit_transform(data)
    assert np.isin(out["y"], data["y"].dropna()).all()
    assert imp.levels_["relation_to_next"].tolist() == ["crossed", ""]


# ---------------------------------------------------------------------------
# statistical checks against the simulators' truth
# ---------------------------------------------------------------------------


def _pooled(estimates, variances):
    """Rubin's rules per parameter: pooled estimate and total variance."""
    est, var = np.asarray(estimates), np.asarray(variances)
    m = est.shape[0]
    return est.mean(axis=0), var.mean(axis=0) + (1 + 1 / m) * est.var(axis=0, ddof=1)


def _impute_and_analyse(sim, cluster, method, x_cols, factors, m=5, max_iter=5, seed=0):
    """m imputations; per completed dataset REML (fixed effects, each factor's intercept
    variance, residual variance) and their variances."""
    pm = sim.predictor_matrix.copy()
    for c in sim.cluster:
        if c not in (cluster if isinstance(cluster, list) else [cluster]):
            pm.loc["y", c] = 0
    ests, vars_ = [], []
    for k in range(m):
        imp = MultilevelIterativeImputer(cluster=cluster, predictor_matrix=pm,
                                         methods={"y": method}, max_iter=max_iter,
                                         random_state=seed + k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 2l.pan warns that it models one level
            d = imp.fit_transform(sim.data)
        n = len(d)
        X = np.column_stack([np.ones(n)] + [d[c] for c in x_cols])
        fit = reml(d["y"].to_numpy(), X,
                   [(d[c].to_numpy() - 1, int(d[c].max()), None) for c in factors])
        ests.append(np.r_[fit["beta"], [p[0, 0] for p in fit["psi"]], fit["sigma2"]])
        cov = fit["cov_theta"]
        vars_.append(np.r_[np.diag(fit["cov_beta"]), np.diag(cov)[1:], cov[0, 0]])
    return _pooled(ests, vars_)


def test_three_levels_recovered_and_ignoring_a_level_is_biased():
    """Pooled class and school variances within three standard errors of the
    truth with ml.norm; 2l.pan on the schools (the classes ignored) puts the
    class variance more than three standard errors below it."""
    sim = make_three_level(n_schools=50, n_classes=5, n_pupils=20, var_slope=0.0,
                           missing_rate=0.4, random_state=11)
    sim.predictor_matrix.loc["y", "x"] = 1
    t = sim.truth
    truth = np.r_[list(t["fixed"].values()), t["var_class"], t["var_school"], t["var_residual"]]
    x_cols, factors = ["x", "class_size", "school_ses"], ["class", "school"]
    q, T = _impute_and_analyse(sim, ["class", "school"], "ml.norm", x_cols, factors)
    z = (q - truth) / np.sqrt(T)
    assert np.all(np.abs(z) < 3), z
    q2, T2 = _impute_and_analyse(sim, "school", "2l.pan", x_cols, factors)
    z2 = (q2 - truth) / np.sqrt(T2)
    assert z2[4] < -3, z2  # the class variance
    assert q2[4] < 0.6 * t["var_class"]


def test_crossed_factors_recovered_and_ignoring_one_is_biased():
    sim = make_crossed(missing_rate=0.4, random_state=5)
    t = sim.truth
    truth = np.r_[list(t["fixed"].values()), t["var_school"], t["var_neighbourhood"],
                  t["var_residual"]]
    x_cols, factors = ["x", "school_ses", "deprivation"], ["school", "neighbourhood"]
    q, T = _impute_and_analyse(sim, ["school", "neighbourhood"], "ml.norm", x_cols, factors)
    z = (q - truth) / np.sqrt(T)
    assert np.all(np.abs(z) < 3), z
    q2, T2 = _impute_and_analyse(sim, "school", "2l.pan", x_cols, factors)
    z2 = (q2 - truth) / np.sqrt(T2)
    assert z2[5] < -3, z2  # the neighbourhood variance
