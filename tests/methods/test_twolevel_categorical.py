"""Tests of the two-level multinomial logit method (2l.polyreg)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skmice import MultilevelIterativeImputer
from skmice.methods import Design, TwoLevelMultinomial, get_method
from skmice.methods._twolevel_categorical import _offsets


def simulate(N=80, size=25, seed=0, codes=(0, 1, 2)):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(N), size)
    n = g.size
    x = rng.standard_normal(n)
    u = rng.normal(0, 1, (N, 2))
    eta = np.column_stack([np.zeros(n), 0.5 + x + u[g, 0], -0.5 - x + u[g, 1]])
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    idx = (rng.random(n)[:, None] > prob.cumsum(axis=1)).sum(axis=1)
    y = np.asarray(codes, dtype=float)[idx]
    X = np.column_stack([np.ones(n), x])
    return Design(X=X, Z=X[:, :1], groups=g, n_groups=N), y, u, rng


def test_registered():
    m = get_method("2l.polyreg")
    assert isinstance(m, TwoLevelMultinomial)
    assert m.needs_groups and "categorical" in m.supported_kinds


def test_offsets():
    etas = np.array([[0.5, -1.0], [2.0, 0.0]])
    np.testing.assert_allclose(_offsets(etas, 0), -np.log(1 + np.exp(etas[1])))
    np.testing.assert_allclose(_offsets(etas, 1), -np.log(1 + np.exp(etas[0])))


def test_recovers_coefficients_and_cluster_effects():
    design, y, u, rng = simulate(N=100, size=30, seed=1)
    m = TwoLevelMultinomial()
    draws = []
    for _ in range(120):
        m.fit(design, y, rng)
        draws.append(m.beta_.ravel().copy())
    draws = np.array(draws[30:])
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    truth = np.array([0.5, 1.0, -0.5, -1.0])
    assert np.all(np.abs(mean - truth) < 3 * sd + 0.1), (mean, sd)
    for k in range(2):
        assert np.corrcoef(m.b_[k, :, 0], u[:, k])[0, 1] > 0.6


def test_samples_are_observed_codes_and_follow_probabilities():
    design, y, _, rng = simulate(seed=2, codes=(1, 4, 7))
    m = TwoLevelMultinomial()
    for _ in range(20):
        m.fit(design, y, rng)
    np.testing.assert_array_equal(m.classes_, [1, 4, 7])
    out = m.sample(design, rng)
    assert set(np.unique(out)) <= {1.0, 4.0, 7.0}
    # marginal frequencies of imputed and observed values agree
    for c in (1, 4, 7):
        assert abs(np.mean(out == c) - np.mean(y == c)) < 0.04
    prob = m.predict_proba(design.take(slice(0, 10)), rng)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)


def test_two_categories_and_one_category():
    design, y, _, rng = simulate(seed=3)
    y2 = (y > 0).astype(float)
    m = TwoLevelMultinomial().fit(design, y2, rng)
    assert m.beta_.shape == (1, 2)
    one = TwoLevelMultinomial().fit(design, np.full(y.shape, 2.0), rng)
    np.testing.assert_array_equal(one.sample(design.take(slice(0, 5)), rng), np.full(5, 2.0))


def test_new_clusters_and_prior_mode():
    design, y, _, rng = simulate(seed=4)
    m = TwoLevelMultinomial().fit(design, y, rng)
    X = np.column_stack([np.ones(30), np.zeros(30)])
    new = Design(X=X, Z=X[:, :1], groups=np.full(30, 80), n_groups=81)
    prob = m.predict_proba(new.take(slice(0, 3)), rng, observed=(new, np.full(30, 2.0)))
    assert prob[:, 2].min() > 0.6  # the new cluster's rows are all category 2
    prior = TwoLevelMultinomial(random_effects="prior").fit(design, y, rng)
    assert set(np.unique(prior.sample(design, rng))) <= {0.0, 1.0, 2.0}


def test_warm_start_and_errors():
    design, y, _, rng = simulate(seed=5)
    m = TwoLevelMultinomial(n_burnin=4)
    m.fit(design, y, rng)
    m.fit(design, y, rng)
    assert m.n_iter_ == 6
    with pytest.raises(ValueError, match="category codes"):
        TwoLevelMultinomial().fit(design, y + 0.5, rng)
    with pytest.raises(NotFittedError):
        TwoLevelMultinomial().sample(design, rng)


def test_imputer_keeps_categories_and_dtype():
    rng = np.random.default_rng(6)
    N, size = 30, 20
    g = np.repeat(np.arange(N), size)
    n = g.size
    x = rng.standard_normal(n)
    u = rng.normal(0, 1, N)
    lab = np.array(["red", "green", "blue"], dtype=object)
    idx = np.clip(np.round(1 + 0.8 * x + u[g] + rng.normal(0, 0.5, n)), 0, 2).astype(int)
    colour = pd.Categorical(lab[idx], categories=["blue", "green", "red"])
    df = pd.DataFrame({"g": g, "x": x, "colour": colour})
    df.loc[rng.random(n) < 0.3, "colour"] = np.nan
    imp = MultilevelIterativeImputer(cluster="g", max_iter=3, random_state=0)
    out = imp.fit_transform(df)
    assert imp.method_names_["colour"] == "2l.polyreg"
    assert out["colour"].dtype == df["colour"].dtype
    assert out["colour"].notna().all()
    assert set(out["colour"]) <= {"blue", "green", "red"}
