"""The two stages of the selection model for one target, and the parameter draws.

:func:`estimate` turns the rows of one target into everything the draws
need: stage 1 fits the selection model per cluster (with ``atanh rho``
common to the clusters unless every parameter varies), stage 2 pools the
cluster likelihoods by a random-effects meta-analysis. :func:`draw_parameters`
then draws the parameters of every cluster from that state; it is all that
runs again when a target's data have not changed since the last visit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._conditional import _imputation_mean_map
from ._likelihood import (
    _clip_rho,
    _fit_clusters,
    _fit_shared_rho,
    _Layout,
    _penalty_weights,
)
from ._meta import _information, _meta_information, _psd_sqrt


@dataclass(frozen=True)
class _Options:
    """The settings of the two stages (the methods' parameters of the same names)."""

    min_observed: int = 10
    penalty: float = 1e-3
    rho_penalty: float = 1.0
    max_iter: int = 100
    random_effects: str = "all-but-rho"
    tau_structure: str = "diagonal"
    rho_scale: str = "atanh"
    rho_prior: str = "normal"


def _scaling(X, W):
    """Centres and scales of the columns of ``X`` and ``W`` (the intercepts untouched)."""
    out = []
    for M in (X, W):
        centre = M.mean(axis=0)
        scale = M.std(axis=0)
        const = scale <= 1e-12 * np.maximum(np.abs(centre), 1.0)
        centre[const] = 0.0
        scale[const] = 1.0
        centre[0], scale[0] = 0.0, 1.0
        out.append((centre, scale))
    return out


def _standardise(X, W, scaling):
    (cx, sx), (cw, sw) = scaling
    return (X - cx) / sx, (W - cw) / sw


def _fixed_parameters(lay: _Layout, random_effects: str) -> np.ndarray:
    """Parameters common to all clusters (no between-cluster variance)."""
    fixed = np.zeros(lay.d, dtype=bool)
    if random_effects == "intercepts":
        fixed[:] = True
        fixed[[0, lay.gamma.start]] = False
        if lay.sigma is not None:
            fixed[lay.sigma] = False
    elif random_effects == "all-but-rho":
        fixed[lay.rho] = True
    return fixed


def _eligible(y, s, groups, n_groups, lay: _Layout, min_observed):
    """Clusters with enough observed rows, a missing one and (binary) both outcomes."""
    n_obs = np.bincount(groups[s], minlength=n_groups)
    n_mis = np.bincount(groups[~s], minlength=n_groups)
    eligible = (n_obs >= max(min_observed, lay.d + 2)) & (n_mis >= 1)
    if lay.binary:
        ones = np.bincount(groups[s], weights=y[s], minlength=n_groups)
        eligible &= (ones >= 1) & (ones <= n_obs - 1)
    return eligible


def _fit_common_rho(data, idx, th, H, ok, pen, lay: _Layout, max_iter):
    """Refit the fitted clusters jointly with one ``atanh rho``, in place.

    ``data`` holds the eligible clusters' rows (their codes in ``data[4]``),
    ``th``, ``H`` and ``ok`` their separate fits. Returns what the draws of
    the common ``atanh rho`` need, or None when the joint fit fails (the
    separate fits are then kept).
    """
    keep = np.flatnonzero(ok)
    sub = np.isin(data[4], keep)
    recode = np.full(idx.size, -1)
    recode[keep] = np.arange(keep.size)
    pen_shared = pen.copy()
    pen_shared[lay.rho] = pen[lay.rho] / keep.size  # one prior in total
    X, W, y, s, groups = (a[sub] for a in data[:5])
    groups = recode[groups]
    th_s, H_s, S, Binv_c, conv = _fit_shared_rho(
        X, W, y, s, groups, keep.size, lay, pen_shared, max_iter, th[keep], H[keep]
    )
    if not conv:
        return None
    th[keep], H[keep] = th_s, H_s
    mis = ~s  # the rows to impute, for the scale of the rho draw
    return dict(
        S=S,
        Binv_c=Binv_c,
        a=th_s[0, lay.rho],
        pen=pen[lay.rho],
        rows=idx[keep],
        missing=(X[mis], W[mis], groups[mis]),
    )


def estimate(X, W, y, s, groups, n_groups, lay: _Layout, opts: _Options, name, previous=None):
    """Stages 1 and 2 on the rows of one target.

    Parameters
    ----------
    X, W : ndarray of shape (n_rows, p) and (n_rows, r)
        Outcome and selection designs of every row.
    y : ndarray of shape (n_rows,)
        The target, NaN where missing; ``s`` is ``~isnan(y)``.
    groups : ndarray of shape (n_rows,) of int64
        Cluster codes in ``[0, n_groups)``.
    lay : _Layout
    opts : _Options
    name : str
        The method's name, for messages.
    previous : ndarray of shape (n_groups, d) or None
        Stage-1 estimates of the previous fit, as start values.

    Returns
    -------
    dict
        The state :func:`draw_parameters` draws from: the scaling of the
        designs, the stage-1 estimates and Hessians, which clusters were
        fitted, the pooled ``mu``, ``cov_mu`` and ``tau``, the information
        form of the fitted clusters and, with a common ``atanh rho``, how
        to draw it.
    """
    scaling = _scaling(X, W)
    Xs, Ws = _standardise(X, W, scaling)
    pen = _penalty_weights(lay, opts.penalty, opts.rho_penalty)
    eligible = _eligible(y, s, groups, n_groups, lay, opts.min_observed)
    ys = np.where(s, y, 0.0)
    theta_hat = np.full((n_groups, lay.d), np.nan)
    hess = np.full((n_groups, lay.d, lay.d), np.nan)
    fitted = np.zeros(n_groups, dtype=bool)
    shared = None
    if eligible.any():
        idx = np.flatnonzero(eligible)
        code = np.full(n_groups, -1)
        code[idx] = np.arange(idx.size)
        rows = eligible[groups]
        data = (Xs[rows], Ws[rows], ys[rows], s[rows], code[groups[rows]], idx.size, lay)
        start = None
        if previous is not None:
            if previous.shape == theta_hat.shape and np.all(np.isfinite(previous[idx])):
                start = previous[idx]
        th, H, ok = _fit_clusters(*data, pen, opts.max_iter, start)
        if start is not None and not ok.all():  # retry the failures from scratch
            th2, H2, ok2 = _fit_clusters(*data, pen, opts.max_iter, None)
            better = ~ok & ok2
            th[better], H[better], ok[better] = th2[better], H2[better], True
        if opts.random_effects != "all" and ok.sum() >= 2:
            shared = _fit_common_rho(data, idx, th, H, ok, pen, lay, opts.max_iter)
        theta_hat[idx[ok]] = th[ok]
        hess[idx[ok]] = H[ok]
        fitted[idx[ok]] = True
    fallback = not fitted.any()
    if fallback:
        th, H, ok = _fit_clusters(
            Xs, Ws, ys, s, np.zeros(len(y), dtype=np.int64), 1, lay, pen, opts.max_iter
        )
        if not ok[0]:
            raise ValueError(
                f"{name}: the selection model could not be fitted in any cluster, nor "
                "to all rows together (too few rows, too little missingness, or a weak "
                "exclusion restriction)."
            )
        hess_f, theta_f = H, th
    else:
        hess_f, theta_f = hess[fitted], theta_hat[fitted]
    d = lay.d
    st = dict(
        scaling=scaling,
        theta_hat=theta_hat,
        hessian=hess,
        fitted=fitted,
        fallback=fallback,
        P=np.zeros((n_groups, d, d)),
        b=np.zeros((n_groups, d)),
        db=np.zeros((n_groups, d)),
        m1=np.zeros(d),
        a_hat=0.0,
        var_a=0.0,
        shared=False,
    )
    if theta_f.shape[0] == 1:
        # one cluster: the penalised fit is the (weak-prior) posterior
        st.update(mu=theta_f[0], cov_mu=np.linalg.inv(hess_f[0]), tau=np.zeros((d, d)))
        return st
    if shared is not None:
        _meta_given_common_rho(st, shared, lay, pen, opts)
        return st
    # the cluster likelihoods, with the penalty taken out again (information form)
    info_P, info_b = _information(hess_f, theta_f, pen)
    mu, cov_mu, tau, _ = _meta_information(
        info_b, info_P, theta_f, opts.tau_structure, _fixed_parameters(lay, opts.random_effects)
    )
    st["P"][fitted], st["b"][fitted] = info_P, info_b
    st.update(mu=mu, cov_mu=cov_mu, tau=tau)
    return st


def _meta_given_common_rho(st, shared, lay: _Layout, pen, opts: _Options):
    """Meta-analysis of the cluster parameters given the common ``atanh rho`` (fills ``st``)."""
    d, r = lay.d, lay.rho
    rest = lay.rest
    rows = shared["rows"]
    theta = st["theta_hat"][rows]
    H = st["hessian"][rows]
    P, b = _information(H[:, rest][:, :, rest], theta[:, rest], pen[rest])
    # how the information vectors move with atanh rho: theta_j(a) = theta_j - B_j^-1 c_j da
    db = -np.einsum("gij,gj->gi", P + np.diag(pen[rest]), shared["Binv_c"])
    fixed = _fixed_parameters(lay, opts.random_effects)[rest]
    mu_r, cov_r, tau_r, _ = _meta_information(b, P, theta[:, rest], opts.tau_structure, fixed)
    M = np.eye(d - 1) + P @ tau_r
    m1 = cov_r @ np.linalg.solve(M, db[..., None])[..., 0].sum(axis=0)
    # the common atanh rho: joint precision S (penalised), penalty taken out
    S, a, pr = shared["S"], shared["a"], shared["pen"]
    s_lik = S - pr
    a_lik, var_a = (a * (1 + pr / s_lik), 1.0 / s_lik) if s_lik > 1e-3 * S else (a, 1 / S)
    # the draw: the likelihood alone, or with the normal prior of rho_penalty kept
    a_draw, var_draw = (a, 1.0 / S) if opts.rho_prior == "normal" else (a_lik, var_a)
    mu = np.empty(d)
    mu[rest], mu[r] = mu_r, a_lik
    cov_mu = np.zeros((d, d))
    cov_mu[np.ix_(rest, rest)] = cov_r
    cov_mu[r, r] = var_a
    tau = np.zeros((d, d))
    tau[np.ix_(rest, rest)] = tau_r
    full = np.zeros((rows.size, d, d))
    full[:, rest[:, None], rest[None, :]] = P
    st["P"][rows] = full
    bb = np.zeros((rows.size, d))
    bb[:, rest] = b
    st["b"][rows] = bb
    dd = np.zeros((rows.size, d))
    dd[:, rest] = db
    st["db"][rows] = dd
    st["m1"][rest] = m1
    st.update(mu=mu, cov_mu=cov_mu, tau=tau, a_hat=a, var_a=var_a, shared=True)
    st.update(a_draw=a_draw, var_draw=var_draw)
    st["rho_map"] = None
    if opts.rho_scale == "imputation-mean":
        st["rho_map"] = _imputation_mean_map(
            theta, shared["Binv_c"], a, a_draw, np.sqrt(var_draw), shared["missing"], lay
        )


def _population_draws(mu_star, tau, n, rng):
    """``n`` parameter vectors from the population distribution ``N(mu*, T)``."""
    return mu_star + rng.standard_normal((n, mu_star.size)) @ _psd_sqrt(tau).T


def draw_parameters(st, lay: _Layout, rng):
    """Draw every cluster's parameters from the state of :func:`estimate`.

    The common ``atanh rho`` first (when there is one), then ``mu*`` from
    its approximate posterior, then each fitted cluster's parameters from
    their posterior given its own data, ``mu*`` and ``T``, and every other
    cluster's from ``N(mu*, T)``.

    Returns
    -------
    theta_star : ndarray of shape (n_groups, d)
    mu_star : ndarray of shape (d,)
    """
    d = st["mu"].size
    r = lay.rho
    mu = st["mu"].copy()
    delta = 0.0
    if st["shared"]:
        # draw the common atanh rho, then the rest given it
        z = rng.standard_normal()
        if st.get("rho_map") is None:
            a_star = st["a_draw"] + np.sqrt(st["var_draw"]) * z
        else:
            # normal in the scale of the imputations' mean, mapped back to atanh rho
            centre, slope, g_grid, a_grid = st["rho_map"]
            a_star = float(np.interp(centre + slope * z, g_grid, a_grid))
        delta = a_star - st["a_hat"]
        mu = mu + st["m1"] * delta
        mu[r] = a_star
    mu_star = mu + _psd_sqrt(st["cov_mu"]) @ rng.standard_normal(d)
    if st["shared"]:
        mu_star[r] = mu[r]
    tau = st["tau"]
    theta = _population_draws(mu_star, tau, st["theta_hat"].shape[0], rng)
    f = st["fitted"]
    if f.any() and not st["fallback"]:
        # theta_j | data_j, mu*, T: mean mu* + T (I + P_j T)^-1 (b_j - P_j mu*)
        P = st["P"][f]
        b = st["b"][f] + st["db"][f] * delta
        M = np.eye(d) + P @ tau
        gain = np.linalg.solve(M, (b - np.einsum("gij,j->gi", P, mu_star))[..., None])
        mean = mu_star + np.einsum("ij,gj->gi", tau, gain[..., 0])
        V = tau - tau @ np.linalg.solve(M, P) @ tau
        z = rng.standard_normal((int(f.sum()), d))
        theta[f] = mean + np.einsum("gij,gj->gi", _psd_sqrt(V), z)
    return _clip_rho(theta, lay), mu_star


def draw_new_clusters(mu_star, tau, n, lay: _Layout, rng):
    """Parameters of ``n`` clusters new to the method, from ``N(mu*, T)``."""
    return _clip_rho(_population_draws(mu_star, tau, n, rng), lay)
