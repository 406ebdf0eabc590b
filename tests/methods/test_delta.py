"""Tests of skmice/methods/_delta.py: delta adjustment (``mnar.norm``, ``mnar.logreg``)."""

from __future__ import annotations

import numpy as np
import pytest

from skmice.methods import BayesianNormal, DeltaLogistic, DeltaNormal, Design, Logistic, get_method


def _linear(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.integers(0, 2, n)])
    y = X @ [1.0, 2.0, 0.5] + rng.standard_normal(n)
    return X, y


def test_delta_normal_is_norm_shifted():
    X, y = _linear()
    base = BayesianNormal().fit(Design(X), y, np.random.default_rng(1))
    shifted = DeltaNormal(delta=-1.5).fit(Design(X), y, np.random.default_rng(1))
    a = base.sample(Design(X[:40]), np.random.default_rng(2))
    b = shifted.sample(Design(X[:40]), np.random.default_rng(2))
    np.testing.assert_allclose(b - a, -1.5)
    only = DeltaNormal(delta=2.0, rows=lambda D: D[:, 2] == 1).fit(
        Design(X), y, np.random.default_rng(1)
    )
    c = only.sample(Design(X[:40]), np.random.default_rng(2))
    np.testing.assert_allclose(c - a, 2.0 * (X[:40, 2] == 1))


def test_delta_logistic_shifts_log_odds():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(4000), rng.standard_normal(4000)])
    y = (rng.random(4000) < 0.3).astype(float)
    base = Logistic().fit(Design(X), y, np.random.default_rng(0))
    m = DeltaLogistic(delta=np.log(3.0)).fit(Design(X), y, np.random.default_rng(0))
    np.testing.assert_array_equal(m.beta_star_, base.beta_star_)
    draws = m.sample(Design(X), np.random.default_rng(1))
    p = 1 / (1 + np.exp(-(X @ m.beta_star_ + np.log(3.0))))
    assert abs(draws.mean() - p.mean()) < 4 * np.sqrt(p.mean() * (1 - p.mean()) / 4000)
    zero = DeltaLogistic(delta=0.0).fit(Design(X), y, np.random.default_rng(0))
    np.testing.assert_array_equal(
        zero.sample(Design(X), np.random.default_rng(1)),
        base.sample(Design(X), np.random.default_rng(1)),
    )


def test_delta_methods_registered_and_validated():
    assert isinstance(get_method("mnar.norm"), DeltaNormal)
    assert isinstance(get_method("mnar.logreg"), DeltaLogistic)
    X, y = _linear()
    with pytest.raises(ValueError, match="delta"):
        DeltaNormal(delta=np.nan).fit(Design(X), y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="delta"):
        DeltaNormal(delta=np.inf).fit(Design(X), y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="delta"):
        DeltaLogistic(delta="1").fit(Design(X), (y > 1).astype(float), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rows"):
        DeltaNormal(rows=[1, 2]).fit(Design(X), y, np.random.default_rng(0))
    m = DeltaNormal(rows=lambda D: D[:3, 1] > 0).fit(Design(X), y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one value per row"):
        m.sample(Design(X[:10]), np.random.default_rng(0))
