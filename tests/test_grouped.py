"""Tests of the vectorised per-cluster kernels against direct loops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from skmice._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    batched_spd_inverse,
    cluster_crossprods,
    cluster_indicator,
    cluster_sizes,
    cluster_sums,
    draw_invwishart,
    draw_mvn_precision,
    draw_scaled_inv_chi2,
    draw_wishart,
)


def _random_spd(rng, n, q, jitter=0.1):
    A = rng.standard_normal((n, q, q))
    return A @ np.swapaxes(A, 1, 2) + jitter * np.eye(q)


@pytest.fixture
def grouped_data():
    rng = np.random.default_rng(0)
    n, n_groups = 500, 40
    groups = rng.integers(0, n_groups - 3, n)  # the last clusters have no rows
    A = rng.standard_normal((n, 3))
    B = rng.standard_normal((n, 4))
    y = rng.standard_normal(n)
    return groups, n_groups, A, B, y


def test_cluster_sizes_and_sums(grouped_data):
    groups, N, A, _, y = grouped_data
    sizes = cluster_sizes(groups, N)
    sums = cluster_sums(groups, N, A)
    sums_y = cluster_sums(groups, N, y)
    for j in range(N):
        rows = groups == j
        assert sizes[j] == rows.sum()
        np.testing.assert_allclose(sums[j], A[rows].sum(axis=0), atol=1e-12)
        np.testing.assert_allclose(sums_y[j], y[rows].sum(), atol=1e-12)
    assert sizes[-1] == 0 and np.all(sums[-1] == 0)


def test_cluster_crossprods_match_loop(grouped_data):
    groups, N, A, B, y = grouped_data
    AB, Ay = cluster_crossprods(groups, N, A, B, y)
    AA = cluster_crossprods(groups, N, A)
    assert AB.shape == (N, 3, 4) and Ay.shape == (N, 3) and AA.shape == (N, 3, 3)
    for j in range(N):
        rows = groups == j
        np.testing.assert_allclose(AB[j], A[rows].T @ B[rows], atol=1e-12)
        np.testing.assert_allclose(Ay[j], A[rows].T @ y[rows], atol=1e-12)
        np.testing.assert_allclose(AA[j], A[rows].T @ A[rows], atol=1e-12)
    np.testing.assert_array_equal(cluster_crossprods(groups, N, A, y), Ay)


def test_cluster_indicator_shared_between_calls(grouped_data):
    groups, N, A, B, y = grouped_data
    for g, rows in ((groups, slice(None)), (np.sort(groups), np.argsort(groups, kind="stable"))):
        index = cluster_indicator(g, N)
        np.testing.assert_array_equal(index.toarray(), np.arange(N)[:, None] == g[None, :])
        first = cluster_crossprods(g, N, A[rows], B[rows], indicator=index)
        second = cluster_crossprods(g, N, y[rows, None], A[rows], indicator=index)
        np.testing.assert_allclose(first, cluster_crossprods(g, N, A[rows], B[rows]), atol=1e-12)
        np.testing.assert_allclose(second, cluster_crossprods(g, N, y[rows, None], A[rows]))
    with pytest.raises(ValueError, match="indicator has shape"):
        cluster_crossprods(groups[:10], N, A[:10], indicator=index)


def test_cluster_crossprods_unsorted_equals_sorted(grouped_data):
    groups, N, A, B, _ = grouped_data
    order = np.argsort(groups, kind="stable")
    np.testing.assert_allclose(
        cluster_crossprods(groups, N, A, B),
        cluster_crossprods(groups[order], N, A[order], B[order]),
        atol=1e-12,
    )


def test_cluster_kernels_empty_and_invalid():
    out = cluster_crossprods(np.zeros(0, dtype=np.int64), 3, np.zeros((0, 2)), np.zeros((0, 4)))
    assert out.shape == (3, 2, 4) and np.all(out == 0)
    with pytest.raises(ValueError, match="n_groups"):
        cluster_crossprods(np.array([0, 3]), 3, np.ones((2, 1)))
    with pytest.raises(ValueError, match="n_groups"):
        cluster_sums(np.array([-1, 0]), 3, np.ones(2))
    with pytest.raises(TypeError, match="integer"):
        cluster_sizes(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="rows"):
        cluster_crossprods(np.array([0, 1]), 2, np.ones((2, 1)), np.ones((3, 1)))


@pytest.mark.parametrize("q", [1, 2, 3, 4, 6])
def test_batched_cholesky_matches_loop(q):
    rng = np.random.default_rng(q)
    M = _random_spd(rng, 50, q)
    L = batched_cholesky(M)
    for j in range(50):
        np.testing.assert_allclose(L[j], np.linalg.cholesky(M[j]), rtol=1e-10, atol=1e-12)
    assert np.all(np.triu(L, 1) == 0)


@pytest.mark.parametrize("q", [1, 2, 3, 6])
def test_batched_cholesky_never_fails(q):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((20, q, 1))
    M = A @ np.swapaxes(A, 1, 2)  # rank one: singular for q > 1
    M[0] = -np.eye(q)  # indefinite
    M[1] = 0.0  # zero matrix
    L = batched_cholesky(M)
    assert np.all(np.isfinite(L))
    assert np.all(np.diagonal(L, axis1=1, axis2=2) > 0)
    # on the PSD ones the factor still reproduces the matrix up to the floor
    np.testing.assert_allclose(L[2:] @ np.swapaxes(L[2:], 1, 2), M[2:], atol=1e-5)


@pytest.mark.parametrize("q", [1, 2, 3, 5])
@pytest.mark.parametrize("trans", [False, True])
def test_batched_solve_triangular_matches_loop(q, trans):
    rng = np.random.default_rng(2)
    L = batched_cholesky(_random_spd(rng, 30, q))
    b = rng.standard_normal((30, q))
    B = rng.standard_normal((30, q, 4))
    x = batched_solve_triangular(L, b, trans=trans)
    X = batched_solve_triangular(L, B, trans=trans)
    for j in range(30):
        expected = scipy.linalg.solve_triangular(L[j], b[j], lower=True, trans=int(trans))
        np.testing.assert_allclose(x[j], expected, rtol=1e-10, atol=1e-12)
        expected = scipy.linalg.solve_triangular(L[j], B[j], lower=True, trans=int(trans))
        np.testing.assert_allclose(X[j], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_batched_spd_inverse_matches_loop(q):
    rng = np.random.default_rng(3)
    M = _random_spd(rng, 25, q)
    inv = batched_spd_inverse(M)
    for j in range(25):
        np.testing.assert_allclose(inv[j], np.linalg.inv(M[j]), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(inv, np.swapaxes(inv, 1, 2))


@pytest.mark.parametrize("q", [1, 2, 3])
def test_draw_mvn_precision_matches_loop(q):
    rng = np.random.default_rng(4)
    M = _random_spd(rng, 40, q)
    h = rng.standard_normal((40, q))
    noise = rng.standard_normal((40, q))
    scale = rng.uniform(0.5, 2.0, 40)
    draws = draw_mvn_precision(M, h, scale=scale, noise=noise)
    for j in range(40):
        L = np.linalg.cholesky(M[j])
        mean = np.linalg.solve(M[j], h[j])
        dev = scipy.linalg.solve_triangular(L, noise[j], lower=True, trans=1)
        np.testing.assert_allclose(draws[j], mean + np.sqrt(scale[j]) * dev, rtol=1e-9)


def test_draw_mvn_precision_distribution():
    rng = np.random.default_rng(5)
    M = np.array([[2.0, 0.6], [0.6, 1.0]])
    h = np.array([1.0, -1.0])
    n = 40_000
    draws = draw_mvn_precision(np.broadcast_to(M, (n, 2, 2)), np.tile(h, (n, 1)), rng, scale=3.0)
    cov = 3.0 * np.linalg.inv(M)
    mean = np.linalg.solve(M, h)
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * se)
    # sample covariance: entries within ~4 standard errors (sd of s_kl ~ sqrt(2/n) * scale)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=4 * np.sqrt(2 / n) * cov.max())


def test_draw_mvn_precision_requires_randomness():
    with pytest.raises(ValueError, match="random_state or noise"):
        draw_mvn_precision(np.eye(2)[None], np.zeros((1, 2)))


def _bartlett_loop(df, scale, chi2, normals):
    """Direct Bartlett construction with given random components."""
    q = scale.shape[0]
    A = np.zeros((q, q))
    A[np.diag_indices(q)] = np.sqrt(chi2)
    A[np.tril_indices(q, -1)] = normals
    C = np.linalg.cholesky(scale)
    return C @ A @ A.T @ C.T, A


def test_wishart_draws_match_bartlett_loop():
    scale = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]])
    for seed in range(5):
        W = draw_wishart(7.5, scale, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        chi2 = rng.chisquare(7.5 - np.arange(3))
        normals = rng.standard_normal(3)
        expected, A = _bartlett_loop(7.5, scale, chi2, normals)
        np.testing.assert_allclose(W, expected, rtol=1e-10)
        S = draw_invwishart(7.5, scale, np.random.default_rng(seed))
        # inverse-Wishart(df, scale) = inverse of Wishart(df, scale^-1)
        Ci = np.linalg.inv(np.linalg.cholesky(scale)).T  # a factor of scale^-1
        W_inv_scale = Ci @ A @ A.T @ Ci.T
        np.testing.assert_allclose(S, np.linalg.inv(W_inv_scale), rtol=1e-9)


def test_wishart_moments():
    rng = np.random.default_rng(6)
    scale = np.array([[1.0, 0.3], [0.3, 0.5]])
    df, n = 6.0, 5_000
    W = np.array([draw_wishart(df, scale, rng) for _ in range(n)])
    ref = scipy.stats.wishart(df=df, scale=scale)
    mean, var = ref.mean(), ref.var()
    assert np.all(np.abs(W.mean(axis=0) - mean) < 4 * np.sqrt(var / n))
    np.testing.assert_allclose(W.var(axis=0), var, rtol=0.2)


def test_invwishart_moments():
    rng = np.random.default_rng(7)
    scale = np.array([[1.0, 0.3], [0.3, 0.5]])
    df, n = 12.0, 5_000
    S = np.array([draw_invwishart(df, scale, rng) for _ in range(n)])
    ref = scipy.stats.invwishart(df=df, scale=scale)
    mean, var = ref.mean(), ref.var()
    assert np.all(np.abs(S.mean(axis=0) - mean) < 4 * np.sqrt(var / n))
    np.testing.assert_allclose(S.var(axis=0), var, rtol=0.3)


def test_wishart_argument_checks():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="df"):
        draw_wishart(0.5, np.eye(2), rng)
    with pytest.raises(ValueError, match="square"):
        draw_invwishart(5, np.ones((2, 3)), rng)


def test_scaled_inv_chi2():
    rng = np.random.default_rng(8)
    df, ss, n = 10.0, 20.0, 100_000
    draws = draw_scaled_inv_chi2(df, np.full(n, ss), rng)
    mean = ss / (df - 2)
    var = 2 * ss**2 / ((df - 2) ** 2 * (df - 4))
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / n)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_allclose(
        draw_scaled_inv_chi2([3.0, 5.0], [1.0, 2.0], rng_a),
        np.array([1.0, 2.0]) / rng_b.chisquare([3.0, 5.0]),
    )
    with pytest.raises(ValueError, match="df"):
        draw_scaled_inv_chi2(0.0, 1.0, rng)
    with pytest.raises(ValueError, match="scale_sum"):
        draw_scaled_inv_chi2(1.0, -1.0, rng)


@pytest.mark.parametrize("q", [1, 2])
def test_invwishart_closed_form_matches_the_bartlett_solve(q):
    from skmice._grouped import _bartlett_factor, draw_invwishart

    for seed in range(20):
        B = np.random.default_rng(seed).standard_normal((q, q))
        S = B @ B.T + 0.1 * np.eye(q)
        got = draw_invwishart(q + 4.0, S, np.random.default_rng(seed + 100))
        A = _bartlett_factor(q + 4.0, q, np.random.default_rng(seed + 100))
        Y = np.linalg.solve(A, np.linalg.cholesky(S).T)
        np.testing.assert_allclose(got, Y.T @ Y, rtol=1e-12)
