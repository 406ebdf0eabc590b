"""Tests of the multilevel logistic method (ml.bin) and the row weights of its sampler.

Statistical checks run the Gibbs chain on simulated data with known truth
and compare the posterior means with the truth within a few posterior
standard deviations (the posterior standard deviation of a parameter is its
estimation standard error; the Monte Carlo error of the mean is far smaller).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer
from skmice.datasets import make_crossed, make_three_level
from skmice.methods import Design, Level, MultilevelLogistic, TwoLevelLogistic, get_method
from skmice.methods._multilevel_sampler import reweight, standardised_rows, statistics
from tests.methods.test_multilevel import _crossed_design, _three_level_design


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def _three_level(data, slope_at_school=False):
    """The design of ml.norm's tests and the random slopes: none, or x at the school level."""
    design, _ = _three_level_design(data)
    return design, ("school" if slope_at_school else {"class": []})


def _chain(method, design, y, n_iter, burn, seed=0):
    """Draws of (beta, every level's intercept variance) over ``n_iter`` fits (for
    several logits: every logit's beta, then each level's variances by logit)."""
    rng = np.random.default_rng(seed)
    out = []
    for it in range(n_iter):
        method.fit(design, y, rng)
        if it >= burn:
            psi = method.psi_ if isinstance(method.psi_, list) else [method.psi_]
            out.append(np.concatenate([np.ravel(method.beta_),
                                       *[np.ravel(p[..., 0, 0]) for p in psi]]))
    return np.array(out)


def _small_three_level(seed=0):
    sim = make_three_level(n_schools=15, n_classes=3, n_pupils=8, icc_class=0.4, icc_school=0.6,
                           var_slope=0.0, missing_rate=0.3, outcome="binary", random_state=seed)
    return sim


# ---------------------------------------------------------------------------
# the weighted statistics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("crossed", [False, True])
def test_unit_weights_reproduce_the_linear_model_statistics(crossed):
    """reweight with omega = 1 and the standardised response gives back the statistics of
    the linear mixed model (cells, levels and blocks)."""
    if crossed:
        data = make_crossed(n_rows=400, n_schools=10, n_neighbourhoods=8,
                            random_state=1).complete
        design = _crossed_design(data)
        cols = [np.array([0]), np.array([0])]
    else:
        data = make_three_level(n_schools=6, n_classes=3, n_pupils=7, random_state=1).complete
        design, _ = _three_level(data)
        cols = [np.array([0, 1]), np.array([0])]
    y = data["y"].to_numpy()
    levels = [(lv.groups, lv.n_groups) for lv in design.levels]
    st = statistics(design, y, levels, cols, "ml.bin", {})
    ref = statistics(design, y, levels, cols, "ml.bin", {})
    rows = standardised_rows(st, design)
    ys = (y - st.pb.y_centre) / st.pb.y_scale
    reweight(st, rows, np.ones(y.size), ys)
    for name in ("ZtZ", "ZtXy", "XtX", "Xty", "yty"):
        np.testing.assert_allclose(getattr(st.pb, name), getattr(ref.pb, name), atol=1e-9)
    for a, b in zip(st.levels + st.blocks, ref.levels + ref.blocks):
        np.testing.assert_allclose(a.ZtZ, b.ZtZ, atol=1e-9)
        np.testing.assert_allclose(a.ZtX, b.ZtX, atol=1e-9)
    # weights: Z'WZ of every level's units equals the direct sum over its rows
    omega = np.random.default_rng(0).uniform(0.1, 2.0, y.size)
    reweight(st, rows, omega, omega * ys)
    for lv, (g, N) in zip(st.levels, levels):
        np.testing.assert_allclose(lv.ZtZ[:, 0, 0], np.bincount(g, omega, minlength=N),
                                   rtol=1e-10)
    np.testing.assert_allclose(st.pb.XtX, (rows.X * omega[:, None]).T @ rows.X, rtol=1e-10)


# ---------------------------------------------------------------------------
# the method
# ---------------------------------------------------------------------------


def test_registry_parameters_and_bad_input():
    assert type(get_method("ml.bin")) is MultilevelLogistic
    assert MultilevelLogistic.models_all_levels and MultilevelLogistic.needs_groups
    assert MultilevelLogistic.supported_kinds == ("binary",)
    sim = _small_three_level()
    design, _ = _three_level(sim.complete)
    y = sim.complete["y"].to_numpy()
    with pytest.raises(ValueError, match="ml.bin.*0 and 1"):
        MultilevelLogistic().fit(design, y + 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sampler"):
        MultilevelLogistic(sampler="gibbs").fit(design, y, 0)
    with pytest.raises(NotFittedError):
        MultilevelLogistic().sample(design, np.random.default_rng(0))
    method = MultilevelLogistic(n_burnin=3).fit(design, y, np.random.default_rng(0))
    fresh = clone(method)
    assert not hasattr(fresh, "beta_") and fresh.get_params() == method.get_params()
    assert not hasattr(method, "sigma2_")
    assert set(method.variance_components()) == {"class", "school"}


def test_determinism_warm_start_and_draws():
    sim = _small_three_level()
    design, slopes = _three_level(sim.complete)
    y = sim.complete["y"].to_numpy()

    def run(seed):
        m = MultilevelLogistic(random_slopes=slopes, n_burnin=5)
        rng = np.random.default_rng(seed)
        for _ in range(3):
            m.fit(design, y, rng)
        return m, m.sample(design, rng)

    (m1, s1), (m2, s2), (m3, _) = run(0), run(0), run(1)
    np.testing.assert_array_equal(m1.beta_, m2.beta_)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(m1.beta_, m3.beta_)
    assert m1.n_iter_ == 5 + 3
    assert set(np.unique(s1)) <= {0.0, 1.0}
    assert [b.shape for b in m1.b_] == [(45, 1), (15, 1)]
    # warm start: the next fit continues from the stored draws
    before = [b.copy() for b in m1.b_]
    m1.fit(design, y, np.random.default_rng(5))
    assert m1.n_iter_ == 9
    assert np.corrcoef(before[1][:, 0], m1.b_[1][:, 0])[0, 1] > 0.5


def test_one_level_agrees_with_2l_bin():
    """With one level and a random intercept, ml.bin and 2l.bin are the same model: their
    posterior means agree within the Monte Carlo error."""
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(30), 12)
    x = rng.standard_normal(g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.8, 30)[g]
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    X = np.column_stack([np.ones(g.size), x])
    design = Design(X=X, Z=X[:, :1], groups=g, n_groups=30)
    a = _chain(MultilevelLogistic(), design, y, 700, 100, seed=1)
    b = _chain(TwoLevelLogistic(), design, y, 700, 100, seed=2)
    # Monte Carlo standard error of a difference of means, with autocorrelation
    # allowed for by batch means (batches of 50)
    def mcse(d):
        return d.reshape(-1, 50, d.shape[1]).mean(axis=1).std(axis=0, ddof=1) / np.sqrt(12)
    se = np.hypot(mcse(a), mcse(b))
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se + 1e-3), (a.mean(0), b.mean(0), se)


def test_new_units_at_every_level():
    """New classes in known schools, new classes in new schools: effects from the rows
    observed in the new data, or from the prior."""
    sim = _small_three_level()
    design, _ = _three_level(sim.complete)
    y = sim.complete["y"].to_numpy()
    rng = np.random.default_rng(0)
    method = MultilevelLogistic(n_burnin=30).fit(design, y, rng)
    n_new = 40
    klass = np.r_[np.full(20, 100), np.full(20, 101)]  # two new classes
    school = np.r_[np.zeros(20, dtype=int), np.full(20, 30)]  # a known school, a new one
    X = np.column_stack([np.ones(n_new), np.zeros((n_new, 3))])

    def design_of(rows):
        return Design(X=X[rows], levels=[Level(klass[rows], 102, X[rows, :2], np.array([0, 1]),
                                               "class"),
                                         Level(school[rows], 31, name="school")])

    obs, mis = np.arange(0, n_new, 2), np.arange(1, n_new, 2)
    y_new = np.ones(n_new)  # every observed row of the new units is 1
    p_with = np.mean([method.predict_proba(design_of(mis), np.random.default_rng(s),
                                           observed=(design_of(obs), y_new[obs]))
                      for s in range(20)], axis=0)
    p_without = np.mean([method.predict_proba(design_of(mis), np.random.default_rng(s))
                         for s in range(20)], axis=0)
    base = 1 / (1 + np.exp(-method.beta_[0] - method.b_[1][0, 0]))  # in school 0
    # ten observed 1s per new class pull its probability up; without rows the
    # effects are prior draws, centred on the fixed part
    assert np.all(p_with > p_without + 0.05)
    out = method.sample(design_of(mis), rng, observed=(design_of(obs), y_new[obs]))
    assert set(np.unique(out)) <= {0.0, 1.0} and out.shape == (mis.size,)
    assert abs(p_without[:10].mean() - base) < 0.15


def test_imputer_three_levels_and_crossed_keep_observed_values():
    for sim in (make_three_level(n_schools=10, n_classes=3, n_pupils=10, icc_class=0.3,
                                 icc_school=0.5, outcome="binary", random_state=0),
                make_crossed(n_rows=500, n_schools=12, n_neighbourhoods=8, outcome="binary",
                             random_state=0)):
        data = sim.data.copy()
        original = data.copy()
        imp = MultilevelIterativeImputer(cluster=sim.cluster, predictor_matrix=sim.predictor_matrix,
                                         methods={"y": "ml.bin"}, max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = imp.fit_transform(data)
        pd.testing.assert_frame_equal(data, original)  # input not mutated
        observed = data["y"].notna()
        np.testing.assert_array_equal(out.loc[observed, "y"].to_numpy(),
                                      data.loc[observed, "y"].to_numpy())
        assert set(np.unique(out["y"])) <= {0.0, 1.0}
        assert isinstance(imp.methods_["y"], MultilevelLogistic)
        new = data.iloc[:40].copy()
        new[sim.cluster[0]] += 1000  # units new at the first level
        completed = imp.transform(new)
        assert completed["y"].notna().all()


# ---------------------------------------------------------------------------
# recovery of the truth
# ---------------------------------------------------------------------------


def _recovery(method, design, y, truth, n_iter=700, burn=200, z=3.5):
    draws = _chain(method, design, y, n_iter, burn)
    mean, sd = draws.mean(0), draws.std(0)
    assert np.all(np.abs(mean - truth) < z * sd), (mean, sd, truth)
    return mean, sd


def test_recovers_three_level_truth():
    sim = make_three_level(n_schools=60, n_classes=4, n_pupils=15, icc_class=0.3,
                           icc_school=0.6, var_slope=0.0, missing_rate=0.0, outcome="binary",
                           random_state=11)
    design, slopes = _three_level(sim.complete)
    truth = np.r_[list(sim.truth["fixed"].values()), sim.truth["var_class"],
                  sim.truth["var_school"]]
    _recovery(MultilevelLogistic(random_slopes=slopes), design,
              sim.complete["y"].to_numpy(), truth)


@pytest.mark.parametrize("sampler", ["collapsed", "single-site"])
def test_recovers_crossed_truth(sampler):
    sim = make_crossed(n_rows=4000, n_schools=40, n_neighbourhoods=30, var_school=0.5,
                       var_neighbourhood=0.3, missing_rate=0.0, outcome="binary",
                       random_state=12)
    truth = np.r_[list(sim.truth["fixed"].values()), sim.truth["var_school"],
                  sim.truth["var_neighbourhood"]]
    _recovery(MultilevelLogistic(sampler=sampler), _crossed_design(sim.complete),
              sim.complete["y"].to_numpy(), truth)


def test_recovers_school_slope_variance():
    sim = make_three_level(n_schools=80, n_classes=3, n_pupils=15, icc_class=0.2,
                           icc_school=0.5, var_slope=0.3, missing_rate=0.0, outcome="binary",
                           random_state=13)
    design, slopes = _three_level(sim.complete, slope_at_school=True)
    method = MultilevelLogistic(random_slopes=slopes)
    rng = np.random.default_rng(0)
    slope = []
    for it in range(700):
        method.fit(design, sim.complete["y"].to_numpy(), rng)
        if it >= 200:
            slope.append(method.psi_[1][1, 1])
    slope = np.array(slope)
    assert abs(slope.mean() - 0.3) < 3.5 * slope.std()
