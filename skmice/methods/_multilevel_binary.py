"""Binary imputation with random effects at every grouping level: ml.bin.

The logistic mixed model with a random intercept at every level of
``design.levels`` (nested or crossed) and random slopes at chosen levels,
fitted by Polya-Gamma augmentation (Polson, Scott and Windle 2013): given
``omega_i ~ PG(1, eta_i)`` the model of ``(beta, b_1..b_K)`` is the weighted
linear mixed model of :mod:`skmice.methods._multilevel_sampler` with working
response ``(y_i - 1/2) / omega_i``, weights ``omega_i`` and unit residual
variance, so every step reuses the blocked and collapsed updates of ml.norm
(:func:`~skmice.methods._multilevel_sampler.reweight`, then
:func:`~skmice.methods._multilevel_sampler.gibbs_step`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ._base import register_method
from ._multilevel import _MultilevelBase
from ._multilevel_sampler import (
    State,
    gibbs_step,
    linear_predictor,
    reweight,
    standardised_rows,
    to_internal,
)
from ._polyagamma import random_polyagamma
from ._twolevel import _check_finite
from ._twolevel_binary import BETA_PRIOR_SD, TwoLevelLogistic

__all__ = ["MultilevelLogistic"]

#: Starting variance of every level's random intercept (logit scale; slopes a tenth).
START_VARIANCE = 0.5


@register_method("ml.bin")
class MultilevelLogistic(_MultilevelBase):
    """Logistic imputation with random effects at every grouping level (ml.bin).

    The logistic mixed model for grouping levels ``k = 1..K`` (pupils in
    classes in schools; pupils in schools and in neighbourhoods)::

        logit P(y_i = 1) = x_i' beta + sum_k z_ki' b_k,u,
        b_k,u ~ N(0, Psi_k),

    with a random intercept at every level of ``design.levels`` and random
    slopes where ``random_slopes`` puts them (as in
    :class:`MultilevelNormal`). Fitted by a Polya-Gamma Gibbs sampler over
    ``(omega, beta, b_1..b_K, Psi_1..Psi_K)`` on the observed rows; the
    missing values are drawn from ``Bernoulli(logistic(x'beta + sum_k
    z_k'b_k))`` with the current draws (proper multiple imputation). The chain
    continues across the visits of the chained equations (warm start).

    In the imputer: ``cluster=["class", "school"]`` (lowest level first) or
    ``cluster=["school", "neighbourhood"]`` and ``methods={"y": "ml.bin"}``;
    the predictor matrix marks the predictors with random slopes by the code
    2, and ``random_slopes`` says at which levels they are random.

    Parameters
    ----------
    random_slopes : None, "all", level, list of levels or dict, default=None
        Where the predictors with code 2 get random slopes: as in
        :class:`MultilevelNormal` (``None``: the lowest level only).
    sampler : {"collapsed", "single-site"}, default="collapsed"
        The update of ``(beta, b)`` given the weights: as in
        :class:`MultilevelNormal`.
    n_steps : int, default=1
        Gibbs steps per call to :meth:`fit` once the chain is warm.
    n_burnin : int, default=20
        Extra steps at the first call (and whenever the sampler is
        reinitialised).
    warm_start : bool, default=True
        Continue the chain of the previous call: ``beta``, the random effects
        and the covariances of every level.

    Attributes
    ----------
    beta_ : ndarray of shape (p,)
        Current draw of the fixed effects (coefficients of ``design.X``,
        logit scale).
    b_ : list of ndarray of shape (n_units_k, q_k)
        Current draw of the random effects of every unit, per level (units
        without observed rows are drawn from their prior).
    psi_ : list of ndarray of shape (q_k, q_k)
        Current draw of each level's random-effects covariance (logit scale,
        intercept first).
    n_units_ : list of int
        Number of unit codes per level seen by the last :meth:`fit`.
    level_names_ : list
        The grouping columns' names (None when the design has none).
    random_columns_ : list of ndarray of int
        Per level, the columns of ``design.Z`` with random effects.
    nested_ : bool
        Whether the lowest level is nested in all others.
    n_iter_ : int
        Total number of Gibbs steps run by this chain.

    See Also
    --------
    MultilevelNormal : the linear model and its sampler (ml.norm).
    skmice.methods.TwoLevelLogistic : one grouping level (2l.bin).

    Notes
    -----
    *Step*, in the standardised units of ml.norm (the columns of ``X`` and
    ``Z`` but the intercept centred and scaled; the logit itself is not
    rescaled): (1) ``omega_i ~ PG(1, eta_i)`` for every observed row; (2) the
    cell cross-products of the weighted model, ``Z_c' Omega_c [Z_c | X_c]``,
    ``Z_c' kappa_c`` with ``kappa = y - 1/2``, and ``X' Omega X``, ``X' kappa``;
    (3) the step of :class:`MultilevelNormal` with the residual variance
    fixed at 1: for every chain of nested levels a joint draw of ``beta`` and
    the chain's effects (crossed factors collapsed as in Papaspiliopoulos,
    Roberts and Zanella 2020), then every ``Psi_k`` from its inverse-Wishart
    conditional (prior of :class:`MultilevelNormal`). The fixed effects get
    the weak ``N(0, 5^2)`` prior per standardised column of
    :class:`TwoLevelLogistic`, which only matters under separation. A step
    costs ``O(n (p + q)^2)`` for the weights and cross-products plus the
    cell-level step of ml.norm.

    With one level and ``random_slopes=None`` the model is that of
    :class:`TwoLevelLogistic` (2l.bin).

    *New units* in :meth:`sample` (codes at or beyond ``n_units_`` at any
    level) get random effects from a few Polya-Gamma Gibbs sweeps on their
    rows in ``observed`` given the fitted parameters, or from the prior
    ``N(0, Psi_k)`` when they have none.

    References
    ----------
    Polson, N. G., Scott, J. G. and Windle, J. (2013). Bayesian inference for
    logistic models using Polya-Gamma latent variables. JASA, 108, 1339-1349.

    Papaspiliopoulos, O., Roberts, G. O. and Zanella, G. (2020). Scalable
    inference for crossed random effects models. Biometrika, 107(1), 25-40.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Level, MultilevelLogistic
    >>> rng = np.random.default_rng(0)
    >>> school = np.repeat(np.arange(20), 40)
    >>> klass = np.repeat(np.arange(80), 10)
    >>> x = rng.standard_normal(800)
    >>> eta = (-0.5 + x + 0.7 * rng.standard_normal(20)[school]
    ...        + 0.5 * rng.standard_normal(80)[klass])
    >>> y = (rng.random(800) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> X = np.column_stack([np.ones(800), x])
    >>> design = Design(X=X, levels=[Level(klass, 80, X[:, :1], np.array([0]), "class"),
    ...                             Level(school, 20, name="school")])
    >>> method = MultilevelLogistic().fit(design, y, rng)
    >>> [b.shape for b in method.b_]
    [(80, 1), (20, 1)]
    >>> np.unique(method.sample(design.take(slice(0, 50)), rng))
    array([0., 1.])
    """

    supported_kinds = ("binary",)
    _name = "ml.bin"
    _logit = True

    def __init__(self, random_slopes=None, sampler="collapsed", n_steps=1, n_burnin=20,
                 warm_start=True):
        self.random_slopes = random_slopes
        self.sampler = sampler
        self.n_steps = n_steps
        self.n_burnin = n_burnin
        self.warm_start = warm_start

    def _fit(self, design, y, rng):
        """Run Polya-Gamma Gibbs steps on the observed rows of the target."""
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{self._label()}: y must hold the binary codes 0 and 1.")
        self._run_chain(design, y, rng)
        del self.sigma2_  # the weights carry the residual precision

    def _adapt(self, st, y):
        """The logit is not standardised; the fixed effects get their weak prior."""
        pb = st.pb
        pb.y_centre, pb.y_scale = 0.0, 1.0
        st.prior_prec = np.full(st.p, 1.0 / BETA_PRIOR_SD**2)
        return st

    def _initial_state(self, st, y):
        """Intercept at the logit of the observed proportion, effects at zero."""
        ybar = float(np.clip(np.mean(y), 0.02, 0.98)) if y.size else 0.5
        beta = np.zeros(st.p)
        beta[0] = np.log(ybar / (1 - ybar))
        b = [np.zeros((lv.N, lv.q)) for lv in st.levels]
        psi = [np.diag(np.r_[START_VARIANCE, np.full(lv.q - 1, 0.1 * START_VARIANCE)])
               for lv in st.levels]
        return State(beta, b, psi, 1.0)

    def _warm_state(self, st):
        """The previous call's ``(beta, b, Psi)`` in this call's units, or None."""
        if self.beta_.shape != (st.pb.n_x,):
            return None
        state = to_internal(st, self.b_, self.psi_, 1.0, beta=self.beta_)
        finite = all(np.all(np.isfinite(a)) for a in (state.beta, *state.b, *state.psi))
        return state if finite else None

    def _steps(self, st, state, design, y, steps, rng):
        """Polya-Gamma weights, then the weighted step of ml.norm, ``steps`` times."""
        rows = standardised_rows(st, design)
        kappa = y - 0.5
        collapsed = self.sampler == "collapsed"
        for _ in range(steps):
            omega = random_polyagamma(linear_predictor(st, rows, state), rng)
            reweight(st, rows, omega, kappa)
            state = gibbs_step(st, state, rng, collapsed=collapsed, fixed_sigma2=True)
        return state

    def variance_components(self) -> dict:
        """The current draws of the variance components, by level (logit scale).

        Returns
        -------
        dict
            ``{level name (or position): Psi_k}`` (a ``q_k x q_k`` covariance,
            intercept first).
        """
        return {k if name is None else name: psi
                for k, (name, psi) in enumerate(zip(self.level_names_, self.psi_))}

    # the probabilities and the draws of 2l.bin, from this model's linear predictor
    predict_proba = TwoLevelLogistic.predict_proba
    _sample = TwoLevelLogistic._sample

    def _proba(self, design, rng, observed):
        eta = self._predict_mean(design, rng, observed)
        _check_finite(self._name, eta)
        return expit(eta)
