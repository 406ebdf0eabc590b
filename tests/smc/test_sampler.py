"""The substantive-model-compatible sampler's conditional draws against closed forms."""

import numpy as np
import pytest
from scipy.stats import norm

from skmice.smc._gibbs import mixed_step, truncated_normal
from skmice.smc._models import Model, State
from skmice.smc._sampler import Draw
from skmice.smc._spec import parse_analysis_model, term_label

N = 40_000  # rows of identical situations: the draws' moments have small standard errors


def _state(x, y, n_groups=1, codes=None):
    codes = np.zeros(x.size, dtype=np.int64) if codes is None else codes
    return State({"x": x.copy(), "y": y.copy()}, codes, n_groups)


def _outcome(beta, sigma2, random=(), b=None, n_groups=1):
    m = Model("y", "normal", [(), ("x",)], list(random), 1, "y ~ x")
    m.beta, m.sigma2 = np.asarray(beta, float), sigma2
    m.b = np.zeros((n_groups, len(random))) if b is None else b
    m.psi = np.eye(len(random))
    return m


def _covariate(mu, s2, kind="normal"):
    m = Model("x", kind, [()], [], 1, "x ~ 1")
    m.beta, m.sigma2 = np.array([mu]), s2
    m.b, m.psi = np.zeros((1, 0)), np.eye(0)
    return m


def test_exact_draw_matches_normal_normal_posterior():
    # x ~ N(1, 2); y = 0.5 + 2 x + e, e ~ N(0, 0.5); y = 4 observed:
    # x | y ~ N(m, v), 1/v = 1/2 + 4/0.5, m = v (1/2 + 2 (4 - 0.5) / 0.5)
    state = _state(np.zeros(N), np.full(N, 4.0))
    own, outcome = _covariate(1.0, 2.0), _outcome([0.5, 2.0], 0.5)
    d = Draw("x", own, [outcome], 1, "exact")
    d.bind(state, np.ones(N, dtype=bool))
    d.draw(state, np.random.default_rng(0), 1)
    v = 1 / (1 / 2 + 4 / 0.5)
    m = v * (1 / 2 + 2 * 3.5 / 0.5)
    x = state.cols["x"]
    assert abs(x.mean() - m) < 4 * np.sqrt(v / N)
    assert abs(x.var() / v - 1) < 4 * np.sqrt(2 / N)


def test_exact_draw_includes_random_slope_of_the_cluster():
    # the cluster's random slope 1.0 adds to the fixed slope 2.0
    state = _state(np.zeros(N), np.full(N, 4.0))
    outcome = _outcome([0.5, 2.0], 0.5, random=[("x",)], b=np.array([[1.0]]))
    d = Draw("x", _covariate(1.0, 2.0), [outcome], 1, "exact")
    d.bind(state, np.ones(N, dtype=bool))
    d.draw(state, np.random.default_rng(1), 1)
    v = 1 / (1 / 2 + 9 / 0.5)
    m = v * (1 / 2 + 3 * 3.5 / 0.5)
    assert abs(state.cols["x"].mean() - m) < 4 * np.sqrt(v / N)


def test_metropolis_draw_reaches_the_same_posterior():
    state = _state(np.zeros(N), np.full(N, 4.0))
    d = Draw("x", _covariate(1.0, 2.0), [_outcome([0.5, 2.0], 0.5)], 1, "mh")
    d.bind(state, np.ones(N, dtype=bool))
    rng = np.random.default_rng(2)
    d.step = 0.3
    for _ in range(60):
        d.draw(state, rng, 1)
    v = 1 / (1 / 2 + 4 / 0.5)
    m = v * (1 / 2 + 2 * 3.5 / 0.5)
    x = state.cols["x"]
    assert abs(x.mean() - m) < 4 * np.sqrt(v / N) * 3  # correlated chains: looser
    assert abs(x.var() / v - 1) < 0.05
    assert 0.2 < d.acceptance < 0.95


def test_binary_draw_matches_bayes_rule():
    # x ~ Bernoulli(Phi(0.3)); y = 0.5 + 2 x + e, e ~ N(0, 1); y = 2 observed
    state = _state(np.zeros(N), np.full(N, 2.0))
    own = _covariate(0.3, 1.0, kind="probit")
    own.latent = np.zeros(N)
    d = Draw("x", own, [_outcome([0.5, 2.0], 1.0)], 1, "binary")
    d.bind(state, np.ones(N, dtype=bool))
    d.draw(state, np.random.default_rng(3), 1)
    p1 = norm.cdf(0.3) * norm.pdf(2.0 - 2.5)
    p0 = norm.cdf(-0.3) * norm.pdf(2.0 - 0.5)
    p = p1 / (p1 + p0)
    assert abs(state.cols["x"].mean() - p) < 4 * np.sqrt(p * (1 - p) / N)
    assert set(np.unique(state.cols["x"])) <= {0.0, 1.0}
    # the latent variable follows its binary value
    assert np.all((own.latent > 0) == (state.cols["x"] > 0.5))


def test_level2_draw_sums_the_rows_of_its_cluster():
    # w_j ~ N(0, 1); y_ij = w_j + e, e ~ N(0, 1), 4 rows per cluster with y = 1:
    # w | y ~ N(4 / 5, 1 / 5)
    n_groups, size = 5000, 4
    codes = np.repeat(np.arange(n_groups), size)
    state = State({"w": np.zeros(codes.size), "y": np.ones(codes.size)}, codes, n_groups)
    own = Model("w", "normal", [()], [], 2, "w ~ 1")
    own.beta, own.sigma2, own.b = np.array([0.0]), 1.0, np.zeros((0, 0))
    outcome = Model("y", "normal", [("w",)], [], 1, "y ~ 0 + w")
    outcome.beta, outcome.sigma2, outcome.b = np.array([1.0]), 1.0, np.zeros((n_groups, 0))
    d = Draw("w", own, [outcome], 2, "exact")
    d.bind(state, np.ones(n_groups, dtype=bool))
    d.draw(state, np.random.default_rng(4), 1)
    w = state.cols["w"]
    assert np.all(w.reshape(n_groups, size) == w[::size, None])  # constant within clusters
    assert abs(w[::size].mean() - 0.8) < 4 * np.sqrt(0.2 / n_groups)
    assert abs(w[::size].var() / 0.2 - 1) < 4 * np.sqrt(2 / n_groups)


def test_truncated_normal_sides_and_moments():
    rng = np.random.default_rng(5)
    z = truncated_normal(np.full(N, 0.5), np.ones(N, dtype=bool), rng)
    assert np.all(z >= 0)
    mean = 0.5 + norm.pdf(0.5) / norm.cdf(0.5)  # E[z | z > 0], z ~ N(0.5, 1)
    assert abs(z.mean() - mean) < 4 * z.std() / np.sqrt(N)
    z = truncated_normal(np.full(N, 8.0), np.zeros(N, dtype=bool), rng)  # far tail
    assert np.all(z <= 0) and np.all(np.isfinite(z))


def test_mixed_step_recovers_known_model():
    rng = np.random.default_rng(6)
    n_groups, size = 400, 25
    codes = np.repeat(np.arange(n_groups), size)
    x = rng.standard_normal(codes.size)
    b = rng.standard_normal((n_groups, 2)) * np.sqrt([0.5, 0.2])
    y = 1.0 + 0.5 * x + b[codes, 0] + b[codes, 1] * x + rng.standard_normal(codes.size)
    X = np.column_stack([np.ones_like(x), x])
    psi, draws = np.eye(2), []
    for _ in range(300):
        beta, _, psi = mixed_step(X, X, y, np.ones_like(y), codes, n_groups, psi, rng)
        draws.append([*beta, psi[0, 0], psi[1, 1]])
    est = np.mean(draws[100:], axis=0)
    assert np.allclose(est[:2], [1.0, 0.5], atol=0.12)
    assert abs(est[2] - 0.5) < 0.15 and abs(est[3] - 0.2) < 0.07


def test_formula_terms_and_labels():
    s = parse_analysis_model("y ~ x * w + I(x^2) + (1 + x | g)")
    assert s.outcome == "y" and s.group == "g"
    assert [term_label(t) for t in s.fixed] == ["(Intercept)", "x", "w", "I(x^2)", "x:w"]
    assert s.random == ((), ("x",))
    with pytest.raises(ValueError, match="one grouping factor"):
        parse_analysis_model("y ~ x + (1 | a) + (1 | b)")
    with pytest.raises(ValueError, match="'\\|\\|'"):
        parse_analysis_model("y ~ x + (1 + x || g)")
    with pytest.raises(ValueError, match="random part"):
        parse_analysis_model("y ~ x")
    with pytest.raises(TypeError, match="formula string"):
        parse_analysis_model(3)
