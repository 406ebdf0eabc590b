"""Two-level imputation of binary targets: 2l.bin by Polya-Gamma Gibbs sampling.

The model is the logistic mixed model

    logit P(y_ij = 1) = x_ij' beta + z_ij' b_j,    b_j ~ N(0, Psi).

Polya-Gamma data augmentation (Polson, Scott and Windle 2013) makes it
conditionally Gaussian: given ``omega_ij ~ PG(1, eta_ij)`` the likelihood of
``(beta, b)`` is that of a weighted linear mixed model with pseudo-response
``kappa_ij / omega_ij`` (``kappa = y - 1/2``) and weights ``omega_ij``, so the
sampler is a plain Gibbs sampler whose every step is vectorised over rows and
clusters, reusing the batched kernels of :mod:`skmice._grouped` and the
blocked draw of :mod:`skmice.methods._twolevel`:

1. ``omega_ij | . ~ PG(1, x_ij' beta + z_ij' b_j)`` (:func:`random_polyagamma`,
   from :mod:`skmice.methods._polyagamma`);
2. ``beta | omega, Psi`` with the random effects integrated out, then
   ``b_j | beta, omega, Psi`` (a joint draw of ``(beta, b)``);
3. ``Psi | b ~ inverse-Wishart(N + q, sum_j b_j b_j' + 0.1 I_q)``.

Every cluster's random effects are drawn from their conditional posterior
given the cluster's own observed rows. R's ``2l.bin`` instead draws them from
the prior ``N(0, Psi)`` at imputation time, which discards what the cluster's
observed rows say about it (``random_effects="prior"`` reproduces that).

The module also provides the kernels used by the categorical two-level
method (:mod:`skmice.methods._twolevel_categorical`): one Gibbs step of a
logistic mixed model with an offset, and the posterior draws of the random
effects of clusters new to a fitted model.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._grouped import (
    batched_cholesky,
    batched_solve_triangular,
    batched_spd_inverse,
    cluster_crossprods,
    cluster_indicator,
    draw_mvn_precision,
)
from .._random import as_generator
from ._base import ConditionalMethod, register_method
from ._polyagamma import random_polyagamma
from ._twolevel import (
    PSI_PRIOR_SCALE,
    SAMPLER_CONSTRAINTS,
    _affine,
    _check_finite,
    _check_intercept,
    _draw_fixed,
    _draw_psi,
)
from ._validation import check_observed

__all__ = ["TwoLevelLogistic", "random_polyagamma"]

#: Prior standard deviation of the fixed effects, in standardised units (the
#: columns of X other than the intercept scaled to unit variance). Weak: it
#: only matters under (quasi-)separation, where a flat prior is improper.
BETA_PRIOR_SD = 5.0
#: Gibbs sweeps over (omega, b_j) for clusters new to a fitted model.
NEW_CLUSTER_SWEEPS = 10


# ---------------------------------------------------------------------------
# logistic mixed model: data in standardised units and one Gibbs step
# ---------------------------------------------------------------------------


class _LogitData:
    """Observed rows in standardised units (columns of X and Z but the intercept).

    Attributes: ``X`` (n, p), ``Z`` (n, q), ``groups``, ``N``, ``n``, ``p``,
    ``q``, ``Tx``/``Tz`` (U_std = U @ T), ``prior_prec`` (p,) of beta; the
    sparse cluster indicator ``index`` (built on first use). For the
    random-intercept step (``q = 1``), the rows in cluster order: ``order``
    (the permutation, None when the rows are sorted already), ``Xt`` (p, n)
    (``X`` of the sorted rows, transposed), ``sorted_groups``, ``starts``
    (first row of every cluster with rows), ``present`` (those clusters'
    codes) and ``all_present``.
    """

    _index = None

    @property
    def index(self):
        if self._index is None:
            self._index = cluster_indicator(self.groups, self.N)
        return self._index


def _standardise(A: np.ndarray):
    n = A.shape[0]
    mean = A.mean(axis=0)
    sd = np.sqrt(np.maximum((A * A).mean(axis=0) - mean**2, 0.0))
    constant = sd <= 1e-12 * np.maximum(np.abs(mean), np.finfo(float).tiny)
    scale = np.where(constant, 1.0, sd)
    centre = np.where(constant, 0.0, mean)
    scale[0], centre[0] = 1.0, 0.0
    T = _affine(centre, scale)
    As = (A - centre) / scale if n else A.copy()
    As[:, 0] = 1.0
    return np.ascontiguousarray(As), T


def _same_data(cache, design) -> bool:
    """Whether ``cache`` holds the data of exactly this design.

    A stamped design (the imputer's) is the same when its columns carry the
    same stamps over the same unit codes (``Z``'s columns are copies of
    ``X``'s, named by ``z_in_x``); any other is compared value by value.
    """
    X, Z, groups, N = design.X, design.Z, design.groups, design.n_groups
    if cache.get("N") != N:
        return False
    stamps, kept = design.stamps, cache.get("stamps")
    if stamps is not None and kept is not None and design.z_in_x is not None:
        return (cache["groups_ref"] is groups and np.array_equal(kept, stamps)
                and np.array_equal(cache["z_in_x"], design.z_in_x))
    if "X" not in cache:  # kept by stamps, asked without them
        return False
    return (
        np.array_equal(cache["groups"], groups)
        and np.array_equal(cache["X"], X)
        and np.array_equal(cache["Z"], Z)
    )


def _logit_data(design, n_rows: int, method: str, cache: dict | None = None) -> _LogitData:
    """Validate and standardise the observed rows (reused from ``cache`` when unchanged).

    The chained-equations loop fits on the same rows at every visit, often
    with the same design (complete predictors): the data are then taken
    from ``cache`` (compared in one pass) instead of being rebuilt.
    """
    X, Z, groups, N = design.X, design.Z, design.groups, design.n_groups
    if cache and _same_data(cache, design):
        return cache["data"]
    _check_intercept(X, "X", method)
    _check_intercept(Z, "Z", method)
    d = _LogitData()
    d.X, d.Tx = _standardise(X)
    d.Z, d.Tz = _standardise(Z)
    d.groups, d.N = groups, N
    d.n, d.p, d.q = X.shape[0], X.shape[1], Z.shape[1]
    d.prior_prec = np.full(d.p, 1.0 / BETA_PRIOR_SD**2)
    if d.q == 1:
        sorted_ = bool(np.all(groups[1:] >= groups[:-1]))
        d.order = None if sorted_ else np.argsort(groups, kind="stable")
        gs = groups if sorted_ else groups[d.order]
        d.sorted_groups = gs
        d.Xt = np.ascontiguousarray((d.X if sorted_ else d.X[d.order]).T)
        d.starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        d.present = gs[d.starts]
        d.all_present = d.present.size == N
    if cache is not None:
        cache.clear()
        stamped = (design.stamps is not None and design.z_in_x is not None
                   and bool(np.all(np.asarray(design.stamps) > 0)))
        if stamped:  # the stamps say whether the data changed: no copies to compare
            cache.update(N=N, groups_ref=groups, stamps=np.array(design.stamps),
                         z_in_x=np.array(design.z_in_x), data=d)
        else:
            cache.update(N=N, groups=groups.copy(), X=X.copy(), Z=Z.copy(), data=d)
    return d


def _logit_step(d: _LogitData, state: dict, kappa: np.ndarray, rng, offset=None) -> dict:
    """One Polya-Gamma Gibbs step of a logistic mixed model (standardised units).

    ``state`` holds ``beta`` (p,), ``b`` (N, q) and ``psi`` (q, q); ``kappa``
    is ``y - 1/2``; the linear predictor is ``X beta + Z b_j + offset``.
    Returns the new state (with ``omega``, in the order of the rows).
    """
    if d.q == 1:
        return _logit_step_intercept(d, state, kappa, rng, offset)
    return _logit_step_general(d, state, kappa, rng, offset)


def _logit_step_general(d: _LogitData, state: dict, kappa, rng, offset=None) -> dict:
    """:func:`_logit_step` for any number of random effects (batched per cluster)."""
    beta, b, psi = state["beta"], state["b"], state["psi"]
    p, q, N = d.p, d.q, d.N
    eta = d.X @ beta + np.einsum("ij,ij->i", d.Z, b[d.groups])
    if offset is not None:
        eta = eta + offset
    omega = random_polyagamma(eta, rng)
    # weighted linear mixed model: response r / omega with weights omega,
    # r = kappa - omega * offset
    r = kappa if offset is None else kappa - omega * offset
    Zw = d.Z * omega[:, None]
    ZtWZ, ZtWX = cluster_crossprods(d.groups, N, Zw, d.Z, d.X, indicator=d.index)
    Ztr = cluster_crossprods(d.groups, N, d.Z, r, indicator=d.index)
    XtWX = (d.X * omega[:, None]).T @ d.X
    Xtr = d.X.T @ r
    psi_inv = batched_spd_inverse(psi[None])[0]
    L = batched_cholesky(ZtWZ + psi_inv)
    ZtXr = np.concatenate([ZtWX, Ztr[:, :, None]], axis=2)
    W = batched_solve_triangular(L, ZtXr)
    Wf = W.reshape(N * q, p + 1)
    G = Wf.T @ Wf
    P = XtWX - G[:p, :p] + np.diag(d.prior_prec)
    beta = _draw_fixed(P, Xtr - G[:p, p], 1.0, rng)
    u = W[:, :, p] - W[:, :, :p] @ beta
    b = batched_solve_triangular(L, u + rng.standard_normal((N, q)), trans=True)
    psi = _draw_psi(b, rng)
    return {"beta": beta, "b": b, "psi": psi, "omega": omega}


def _logit_step_intercept(d: _LogitData, state: dict, kappa, rng, offset=None) -> dict:
    """:func:`_logit_step` for a random intercept only (``q = 1``), on the sorted rows.

    The same draws as the general step (same conditional distributions,
    with ``M_j = sum_i omega_ij + 1/psi`` a scalar): per-cluster sums are
    segment sums over the rows in cluster order, the linear algebra is
    elementwise over the clusters and ``Psi | b`` is the 1 x 1
    inverse-Wishart ``(sum_j b_j^2 + 0.1) / chi2(N + 1)``.
    """
    beta, b, psi = state["beta"], state["b"], state["psi"]
    p, N = d.p, d.N
    order = d.order
    if order is not None:
        kappa = kappa[order]
        if offset is not None:
            offset = offset[order]
    Xt = d.Xt
    eta = beta @ Xt
    eta += b[:, 0].take(d.sorted_groups)
    if offset is not None:
        eta += offset
    omega = random_polyagamma(eta, rng)
    # weighted linear mixed model: response r / omega with weights omega,
    # r = kappa - omega * offset
    r = kappa if offset is None else kappa - omega * offset
    Wx = Xt * omega  # (p, n): rows of X weighted by omega, transposed
    XtWX = Wx @ Xt.T
    Xtr = Xt @ r
    sums = np.add.reduceat(Wx, d.starts, axis=1)  # (p, clusters with rows); row 0: sum omega
    sums_r = np.add.reduceat(r, d.starts)
    A = np.zeros((N, p + 1))  # per cluster: [Z_j' Omega_j X_j, Z_j' r_j]
    if d.all_present:
        A[:, :p] = sums.T
        A[:, p] = sums_r
    else:
        A[d.present, :p] = sums.T
        A[d.present, p] = sums_r
    # M_j = Z_j' Omega_j Z_j + 1 / psi (Z = 1): A[:, 0] is sum omega
    L_inv = 1.0 / np.sqrt(A[:, 0] + 1.0 / psi[0, 0])
    A *= L_inv[:, None]
    G = A.T @ A
    P = XtWX - G[:p, :p]
    P.flat[:: p + 1] += d.prior_prec
    beta = _draw_fixed(P, Xtr - G[:p, p], 1.0, rng)
    u = A[:, p] - A[:, :p] @ beta
    u += rng.standard_normal(N)
    u *= L_inv
    psi = np.array([[(u @ u + PSI_PRIOR_SCALE) / rng.chisquare(N + 1.0)]])
    if order is not None:
        omega_rows = np.empty_like(omega)
        omega_rows[order] = omega
        omega = omega_rows
    return {"beta": beta, "b": u[:, None], "psi": psi, "omega": omega}


def _to_internal(d: _LogitData, beta_o, b_o, psi_o):
    """Original-unit (beta, b, Psi) to standardised units."""
    if getattr(d, "Tx_inv", None) is None:  # once per data set (the data are cached)
        d.Tx_inv, d.Tz_inv = np.linalg.inv(d.Tx), np.linalg.inv(d.Tz)
    Tz_inv = d.Tz_inv
    beta = d.Tx_inv @ beta_o
    b = b_o @ Tz_inv.T
    psi = Tz_inv @ psi_o @ Tz_inv.T
    return beta, b, (psi + psi.T) / 2


def _to_original(d: _LogitData, beta, b, psi):
    psi_o = d.Tz @ psi @ d.Tz.T
    return d.Tx @ beta, b @ d.Tz.T, (psi_o + psi_o.T) / 2


def _initial_state(d: _LogitData, kappa: np.ndarray, offset=None) -> dict:
    """Start: intercept at the logit of the observed proportion, Psi = diag(1, 0.1, ...)."""
    ybar = np.clip(np.mean(kappa + 0.5), 0.02, 0.98)
    beta = np.zeros(d.p)
    beta[0] = np.log(ybar / (1 - ybar))
    if offset is not None:
        beta[0] -= np.mean(offset)
    psi = np.diag(np.r_[1.0, np.full(d.q - 1, 0.1)])
    return {"beta": beta, "b": np.zeros((d.N, d.q)), "psi": psi}


def _observed_rows(observed):
    """The observed rows with a finite target, for the new-cluster draws."""
    o_design, o_y = observed
    ok = np.isfinite(o_y)
    return o_design.X[ok], o_design.Z[ok], o_design.groups[ok], o_y[ok]


def _new_cluster_effects(codes, Zo, go, fixed_eta, kappa, psi, rng, sweeps, offset_fn=None):
    """Random effects of clusters new to a model, from their posterior given their rows.

    ``codes`` (sorted) are the new clusters; ``Zo``, ``go`` the observed rows
    (any clusters: rows of other clusters are ignored); ``fixed_eta`` (m, n)
    the fixed part of the linear predictor of each of ``m`` logits (``m = 1``
    for a binary target), ``kappa`` (m, n) their ``y - 1/2``, ``psi`` (m, q,
    q) their covariances. ``offset_fn(k, etas)`` returns the offset of logit
    ``k`` given the current linear predictors ``etas`` (m, n) of all logits
    (multinomial logits); None for none. Returns ``b`` of shape (m, K, q),
    drawn by PG-Gibbs sweeps started at 0 (from the prior ``N(0, Psi)`` for
    clusters without rows).
    """
    m, K, q = psi.shape[0], codes.size, psi.shape[-1]
    psi_inv = batched_spd_inverse(psi)
    b = np.zeros((m, K, q))
    if Zo is None or go.size == 0:
        keep = np.zeros(0, dtype=bool)
    else:
        pos = np.minimum(np.searchsorted(codes, go), K - 1)
        keep = codes[pos] == go
    if not np.any(keep):
        L = batched_cholesky(psi)
        return np.einsum("mab,mkb->mka", L, rng.standard_normal((m, K, q)))
    pos = pos[keep]
    Zk = Zo[keep]
    fixed_eta = fixed_eta[:, keep]
    kappa = kappa[:, keep]
    index = cluster_indicator(pos, K)
    for _ in range(sweeps):
        for k in range(m):  # loop over the few logits
            etas = fixed_eta + np.einsum("ij,mij->mi", Zk, b[:, pos])
            off = 0.0 if offset_fn is None else offset_fn(k, etas)
            omega = random_polyagamma(etas[k] + off, rng)
            r = kappa[k] - omega * (fixed_eta[k] + off)
            ZtWZ = cluster_crossprods(pos, K, Zk * omega[:, None], Zk, indicator=index)
            Ztr = cluster_crossprods(pos, K, Zk, r, indicator=index)
            b[k] = draw_mvn_precision(ZtWZ + psi_inv[k], Ztr, rng)
    return b


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------


@register_method("2l.bin")
class TwoLevelLogistic(ConditionalMethod):
    """Two-level logistic imputation of a binary target (2l.bin).

    The logistic mixed model ``logit P(y_ij = 1) = x_ij' beta + z_ij' b_j``
    with ``b_j ~ N(0, Psi)`` (random intercept and the random slopes of the
    columns of ``Z``), fitted by a Polya-Gamma Gibbs sampler over
    ``(omega, beta, b_j, Psi)`` on the observed rows. Imputations are
    ``Bernoulli(logistic(x'beta + z'b_j))`` with the current draws, so they are
    proper. The sampler state is kept between calls to :meth:`fit` (warm
    start), as in :class:`~skmice.methods.TwoLevelNormal`.

    Parameters
    ----------
    random_effects : {"posterior", "prior"}, default="posterior"
        ``"posterior"``: every cluster's ``b_j`` is the Gibbs draw from its
        conditional posterior given the cluster's observed rows.
        ``"prior"``: R's ``2l.bin`` behaviour, kept for comparison: at
        imputation time every cluster gets a fresh ``b_j ~ N(0, Psi)``,
        ignoring what its own observed rows say (the cluster-level
        proportions of the imputed values then regress to the overall one).
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=20
        Extra steps at the first call (and whenever the chain is
        reinitialised: when the number of clusters or of columns changes).
    warm_start : bool, default=True
        Continue the chain of the previous call (``beta``, ``b_j`` and
        ``Psi``, carried across the changes of the standardisation).

    Attributes
    ----------
    beta_ : ndarray of shape (p,)
        Current draw of the fixed effects (coefficients of ``design.X``,
        logit scale).
    b_ : ndarray of shape (n_groups, q)
        Current draw of every cluster's random effects (clusters without
        observed rows are drawn from ``N(0, Psi)``).
    psi_ : ndarray of shape (q, q)
        Current draw of the random-effects covariance.
    n_groups_ : int
        Number of cluster codes seen by the last :meth:`fit`.
    n_iter_ : int
        Total number of Gibbs steps run by this chain.

    See Also
    --------
    random_polyagamma : the PG(1, c) sampler.
    TwoLevelMultinomial : more than two categories (2l.polyreg).

    Notes
    -----
    *Steps*, in standardised units (columns of ``X`` and ``Z`` other than the
    intercept centred and scaled to unit variance; the results are stored in
    the original units): (1) ``omega_ij ~ PG(1, eta_ij)``; (2) ``beta`` from
    its Gaussian conditional posterior with the random effects integrated
    out (weights ``omega``, working response ``(y - 1/2) / omega``), then
    ``b_j ~ N(M_j^-1 Z_j'(kappa_j - Omega_j X_j beta), M_j^-1)`` with
    ``M_j = Z_j' Omega_j Z_j + Psi^-1``; (3) ``Psi ~ IW(N + q, sum_j b_j b_j' +
    0.1 I_q)`` (the prior of :class:`~skmice.methods.TwoLevelNormal`). The
    fixed effects get a weak ``N(0, 5^2)`` prior per standardised column,
    which only matters under separation (where a flat prior is improper and
    the chain would drift). A step costs ``O(n (p + q)^2)``.

    *Compared with R's 2l.bin*: R fits ``glmer`` at every visit, draws
    ``beta*`` and ``Psi*`` around the estimates and then every cluster's
    ``b_j`` from ``N(0, Psi*)``, ignoring the cluster's observed rows
    (``random_effects="prior"``). Here the random effects come from their
    conditional posterior, which keeps each cluster's own proportion in the
    imputations; fixed effects and variance components are drawn by the
    same Gibbs sampler (no ``glmer`` fit, no convergence warnings, works
    with clusters of one row and with ``Psi`` near 0).

    *New clusters* in :meth:`sample` (codes at or beyond ``n_groups_``) get
    ``b_j`` from a few PG-Gibbs sweeps on their rows in ``observed`` (given
    the current ``beta`` and ``Psi``), or from ``N(0, Psi)`` without rows.

    References
    ----------
    Polson, N. G., Scott, J. G. and Windle, J. (2013). Bayesian inference for
    logistic models using Polya-Gamma latent variables. JASA, 108, 1339-1349.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelLogistic
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(40), 25)
    >>> x = rng.standard_normal(1000)
    >>> u = rng.normal(0, 1, 40)
    >>> y = (rng.random(1000) < 1 / (1 + np.exp(-(-0.5 + x + u[g])))).astype(float)
    >>> X = np.column_stack([np.ones(1000), x])
    >>> design = Design(X=X, Z=X[:, :1], groups=g, n_groups=40)
    >>> method = TwoLevelLogistic().fit(design, y, rng)
    >>> bool(abs(method.beta_[1] - 1) < 0.4), method.b_.shape
    (True, (40, 1))
    >>> np.unique(method.sample(design.take(slice(0, 50)), rng))
    array([0., 1.])
    """

    needs_groups = True
    supported_kinds = ("binary",)
    _name = "2l.bin"
    _parameter_constraints = {
        **SAMPLER_CONSTRAINTS,
        "random_effects": [StrOptions({"posterior", "prior"})],
    }

    def __init__(self, random_effects="posterior", n_steps=1, n_burnin=20, warm_start=True):
        self.random_effects = random_effects
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start

    def _fit(self, design, y, rng):
        """Run Polya-Gamma Gibbs steps on the observed rows of the target."""
        steps, burnin = self.n_steps, self.n_burnin
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{self._name}: y must hold the binary codes 0 and 1.")
        d = _logit_data(design, y.shape[0], self._name, self.__dict__.setdefault("_cache", {}))
        kappa = y - 0.5
        state = None
        if (
            self.warm_start
            and getattr(self, "b_", None) is not None
            and self.b_.shape == (d.N, d.q)
            and self.beta_.shape == (d.p,)
        ):
            beta, b, psi = _to_internal(d, self.beta_, self.b_, self.psi_)
            if np.all(np.isfinite(beta)) and np.all(np.isfinite(b)) and np.all(np.isfinite(psi)):
                state = {"beta": beta, "b": b, "psi": psi}
        if state is None:
            state = _initial_state(d, kappa)
            steps += burnin
            self.n_iter_ = 0
        for _ in range(steps):
            state = _logit_step(d, state, kappa, rng)
        beta_o, b_o, psi_o = _to_original(d, state["beta"], state["b"], state["psi"])
        _check_finite(self._name, beta_o, b_o, psi_o)
        self.beta_, self.b_, self.psi_ = beta_o, b_o, psi_o
        self.n_groups_ = d.N
        self.n_features_x_, self.n_features_z_ = d.p, d.q
        self.n_iter_ = getattr(self, "n_iter_", 0) + steps
        return self

    def _effects(self, Z, groups, rng, observed):
        """Random effects of every row's cluster (posterior, prior or new clusters)."""
        N = self.n_groups_
        q = Z.shape[1]
        coef = np.empty((groups.shape[0], q))
        if self.random_effects == "prior":
            # R's 2l.bin: a fresh draw from N(0, Psi) for every cluster
            codes, inverse = np.unique(groups, return_inverse=True)
            L = batched_cholesky(self.psi_[None])[0]
            b = rng.standard_normal((codes.size, q)) @ L.T
            return b[inverse]
        if groups.size == 0 or groups.max() < N:  # all clusters seen in fit
            return self.b_.take(groups, axis=0)
        known = groups < N
        coef[known] = self.b_[groups[known]]
        if not np.all(known):
            codes, inverse = np.unique(groups[~known], return_inverse=True)
            Zo = go = None
            fixed = kappa = np.zeros((1, 0))
            if observed is not None:
                Xo, Zo, go, yo = _observed_rows(observed)
                fixed = (Xo @ self.beta_)[None]
                kappa = (yo - 0.5)[None]
            b_new = _new_cluster_effects(
                codes, Zo, go, fixed, kappa, self.psi_[None], rng, NEW_CLUSTER_SWEEPS
            )[0]
            coef[~known] = b_new[inverse]
        return coef

    def predict_proba(self, design, random_state=None, observed=None):
        """Probability of each code for the rows of ``design`` under the current draws.

        For a binary target, the probability of code 1 (shape ``(n_rows,)``);
        for a categorical one (:class:`TwoLevelMultinomial`), one column per
        code of ``classes_`` (shape ``(n_rows, K)``).

        Parameters
        ----------
        design : Design
            Design of the rows.
        random_state : numpy.random.Generator, optional
            Source of randomness for random effects that must be drawn (new
            clusters, or every cluster with ``random_effects="prior"``).
        observed : tuple (Design, ndarray), optional
            Observed rows of the data, used for clusters unseen in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_rows,)
        """
        check_is_fitted(self, "beta_")
        return self._proba(self._check_rows(design), as_generator(random_state),
                           check_observed(self, observed))

    def _proba(self, design, rng, observed):
        X, Z, groups = design.X, design.Z, design.groups
        eta = X @ self.beta_ + np.einsum("ij,ij->i", Z, self._effects(Z, groups, rng, observed))
        _check_finite(self._name, eta)
        return expit(eta)

    def _sample(self, design, rng, observed):
        """Draw 0/1 codes from ``Bernoulli(logistic(x'beta + z'b_j))``."""
        prob = self._proba(design, rng, observed)
        return (rng.random(prob.shape[0]) < prob).astype(np.float64)
