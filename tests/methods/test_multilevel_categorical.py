"""Tests of the multilevel multinomial logit method (ml.polyreg).

The statistical checks compare posterior means with the simulation's truth
within a few posterior standard deviations, and the one-level model with
2l.polyreg within the Monte Carlo error of both chains.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from skmice import MultilevelIterativeImputer
from skmice.methods import (
    Design,
    Level,
    MultilevelMultinomial,
    TwoLevelMultinomial,
    get_method,
)
from tests.methods.test_multilevel_binary import _chain


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


BETA = np.array([[-0.3, 0.8], [0.4, -0.6]])  # (category 1, 2) x (intercept, x)
VARS = np.array([[0.6, 0.3], [0.4, 0.5]])  # (category) x (level 0, level 1)


def _simulate(crossed: bool, seed: int, n_rows=3000, n0=60, n1=20):
    """Three categories; random intercepts per category at two levels, nested or crossed."""
    rng = np.random.default_rng(seed)
    if crossed:
        g0, g1 = rng.integers(0, n0, n_rows), rng.integers(0, n1, n_rows)
    else:
        g0 = np.repeat(np.arange(n0), n_rows // n0)
        g1 = g0 // (n0 // n1)
    x = rng.standard_normal(g0.size)
    X = np.column_stack([np.ones(g0.size), x])
    eta = np.zeros((g0.size, 3))
    for c in range(2):
        u0 = rng.normal(0, np.sqrt(VARS[c, 0]), n0)
        u1 = rng.normal(0, np.sqrt(VARS[c, 1]), n1)
        eta[:, c + 1] = X @ BETA[c] + u0[g0] + u1[g1]
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (rng.random(g0.size)[:, None] > prob.cumsum(axis=1)).sum(axis=1).astype(float)
    design = Design(X=X, levels=[Level(g0, n0, X[:, :1].copy(), np.array([0]), "a"),
                                 Level(g1, n1, name="b")])
    return design, y, x, g0, g1


def test_registry_determinism_and_bad_input():
    assert type(get_method("ml.polyreg")) is MultilevelMultinomial
    assert MultilevelMultinomial.supported_kinds == ("binary", "categorical")
    design, y, *_ = _simulate(True, 0, n_rows=600, n0=12, n1=8)
    with pytest.raises(ValueError, match="ml.polyreg.*category codes"):
        MultilevelMultinomial().fit(design, y + 0.5, np.random.default_rng(0))
    runs = []
    for _ in range(2):
        m = MultilevelMultinomial(n_burnin=5)
        rng = np.random.default_rng(3)
        m.fit(design, y, rng)
        m.fit(design, y, rng)
        runs.append((m, m.sample(design, rng)))
    (m1, s1), (m2, s2) = runs
    np.testing.assert_array_equal(m1.beta_, m2.beta_)
    np.testing.assert_array_equal(s1, s2)
    assert m1.n_iter_ == 7 and m1.classes_.tolist() == [0.0, 1.0, 2.0]
    assert [b.shape for b in m1.b_] == [(2, 12, 1), (2, 8, 1)]
    assert [p.shape for p in m1.psi_] == [(2, 1, 1), (2, 1, 1)]
    assert set(np.unique(s1)) <= {0.0, 1.0, 2.0}
    proba = m1.predict_proba(design.take(np.arange(10)), np.random.default_rng(0))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # one observed category: every imputation is that category
    one = MultilevelMultinomial(n_burnin=2).fit(design, np.full(y.size, 2.0), 0)
    assert np.all(one.sample(design, np.random.default_rng(0)) == 2.0)


@pytest.mark.slow
def test_one_level_agrees_with_2l_polyreg():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(30), 15)
    x = rng.standard_normal(g.size)
    eta = np.column_stack([np.zeros(g.size), -0.2 + x + rng.normal(0, 0.8, 30)[g],
                           0.3 - x + rng.normal(0, 0.6, 30)[g]])
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (rng.random(g.size)[:, None] > prob.cumsum(axis=1)).sum(axis=1).astype(float)
    X = np.column_stack([np.ones(g.size), x])
    design = Design(X=X, Z=X[:, :1], groups=g, n_groups=30)
    a = _chain(MultilevelMultinomial(), design, y, 600, 100, seed=1)
    b = _chain(TwoLevelMultinomial(), design, y, 600, 100, seed=2)

    def mcse(d):  # batch means, batches of 50
        return d.reshape(-1, 50, d.shape[1]).mean(axis=1).std(axis=0, ddof=1) / np.sqrt(10)

    se = np.hypot(mcse(a), mcse(b))
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se + 1e-3), (a.mean(0), b.mean(0), se)


@pytest.mark.slow
@pytest.mark.parametrize("crossed", [False, True])
def test_recovers_the_truth(crossed):
    design, y, *_ = _simulate(crossed, 7)
    draws = _chain(MultilevelMultinomial(), design, y, 500, 150)
    truth = np.r_[BETA.ravel(), VARS[:, 0], VARS[:, 1]]
    mean, sd = draws.mean(0), draws.std(0)
    assert np.all(np.abs(mean - truth) < 3.5 * sd), (mean, sd, truth)


def test_new_units_use_their_observed_rows():
    design, y, x, g0, g1 = _simulate(False, 1, n_rows=600, n0=20, n1=5)
    method = MultilevelMultinomial(n_burnin=30).fit(design, y, np.random.default_rng(0))
    n_new = 30
    Xn = np.column_stack([np.ones(n_new), np.zeros(n_new)])

    def design_of(rows):
        return Design(X=Xn[rows], levels=[Level(np.full(rows.size, 25), 26, Xn[rows, :1],
                                                np.array([0]), "a"),
                                          Level(np.full(rows.size, 7), 8, name="b")])

    obs, mis = np.arange(0, n_new, 2), np.arange(1, n_new, 2)
    y_new = np.full(n_new, 2.0)  # a new unit at both levels whose observed rows are all 2
    with_rows = np.mean([method.predict_proba(design_of(mis), np.random.default_rng(s),
                                              observed=(design_of(obs), y_new[obs]))[:, 2]
                         for s in range(10)])
    without = np.mean([method.predict_proba(design_of(mis), np.random.default_rng(s))[:, 2]
                       for s in range(10)])
    assert with_rows > without + 0.15


def test_imputer_keeps_observed_categories():
    design, y, x, g0, g1 = _simulate(False, 2, n_rows=600, n0=30, n1=6)
    data = pd.DataFrame({"class": g0 + 1, "school": g1 + 1, "x": x, "y": y})
    data.loc[np.random.default_rng(0).random(len(data)) < 0.3, "y"] = np.nan
    original = data.copy()
    imp = MultilevelIterativeImputer(cluster=["class", "school"], methods={"y": "ml.polyreg"},
                                     max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = imp.fit_transform(data)
    pd.testing.assert_frame_equal(data, original)
    observed = data["y"].notna()
    np.testing.assert_array_equal(out.loc[observed, "y"].to_numpy(),
                                  data.loc[observed, "y"].to_numpy())
    assert set(np.unique(out["y"])) <= {0.0, 1.0, 2.0}
    assert isinstance(imp.methods_["y"], MultilevelMultinomial)
