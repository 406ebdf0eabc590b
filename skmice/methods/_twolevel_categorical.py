"""Two-level imputation of unordered categorical targets: 2l.polyreg.

The model is the baseline-category (multinomial) logit mixed model

    P(y_ij = k) = exp(eta_ijk) / sum_l exp(eta_ijl),
    eta_ijk = x_ij' beta_k + z_ij' b_jk,    b_jk ~ N(0, Psi_k),

with ``eta_ij0 = 0`` for the baseline category (the first observed one) and
independent random effects per non-baseline category. Given the other
categories' linear predictors, the likelihood of ``(beta_k, b_.k)`` is a
logistic likelihood of the indicator ``1{y = k}`` with the offset
``-C_ijk = -log sum_{l != k} exp(eta_ijl)`` (Holmes and Held 2006), so each
category is updated by one Polya-Gamma Gibbs step of the binary method
(:func:`skmice.methods._twolevel_binary._logit_step`, the same kernel as
``2l.bin``): the sampler stays Gibbs and vectorised.

Ordered categorical targets are imputed by two-level predictive mean
matching on their codes (``"2l.pmm"``, the default chosen by
:func:`~skmice.make_methods`): see ``docs/guide/methods.rst``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._base import register_method
from ._twolevel import _check_finite
from ._twolevel_binary import (
    NEW_CLUSTER_SWEEPS,
    TwoLevelLogistic,
    _initial_state,
    _logit_data,
    _logit_step,
    _new_cluster_effects,
    _observed_rows,
    _to_internal,
    _to_original,
)

__all__ = ["TwoLevelMultinomial"]


def _offsets(etas: np.ndarray, k: int) -> np.ndarray:
    """``-C_k = -log(1 + sum_{l != k} exp(eta_l))`` for logits ``etas`` (m, n)."""
    others = np.concatenate([np.zeros((1, etas.shape[1])), np.delete(etas, k, axis=0)])
    return -logsumexp(others, axis=0)


@register_method("2l.polyreg")
class TwoLevelMultinomial(TwoLevelLogistic):
    """Two-level multinomial logit imputation of a categorical target (2l.polyreg).

    A baseline-category logit mixed model with a random intercept (and the
    random slopes of ``Z``) per non-baseline category, fitted by
    Polya-Gamma Gibbs sampling: each category's ``(beta_k, b_jk, Psi_k)`` is
    updated by the Gibbs step of :class:`TwoLevelLogistic` on the indicator
    of that category, with the other categories entering as an offset.
    Imputed values are drawn from the category probabilities under the
    current draws, so they are proper and always valid categories (codes of
    categories observed in ``fit``).

    Parameters
    ----------
    random_effects : {"posterior", "prior"}, default="posterior"
        As in :class:`TwoLevelLogistic`: ``"prior"`` draws every cluster's
        effects from ``N(0, Psi_k)`` at imputation time (R's ``2l.bin``
        behaviour, for comparisons).
    n_steps : int, default=1
        Gibbs sweeps (over all categories) per call to :meth:`fit` once the
        chain is warm.
    n_burnin : int, default=20
        Extra sweeps at the first call.
    warm_start : bool, default=True
        Continue the chain of the previous call.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Observed category codes; ``classes_[0]`` is the baseline.
    beta_ : ndarray of shape (K - 1, p)
        Fixed effects of the non-baseline categories (logit scale, against
        the baseline).
    b_ : ndarray of shape (K - 1, n_groups, q)
        Random effects of every cluster and non-baseline category.
    psi_ : ndarray of shape (K - 1, q, q)
        Random-effects covariance of each non-baseline category.
    n_groups_ : int
        Number of cluster codes seen by the last :meth:`fit`.
    n_iter_ : int
        Total number of Gibbs sweeps run by this chain.

    See Also
    --------
    TwoLevelLogistic : two categories (2l.bin); the Gibbs step used here.

    Notes
    -----
    A sweep costs ``K - 1`` logistic steps, ``O(K n (p + q)^2)``. Random
    effects of different categories are independent a priori (one ``Psi_k``
    each), as in R's ``jomo`` and ``mitml`` for categorical targets; the
    fixed effects get the weak ``N(0, 5^2)`` prior of :class:`TwoLevelLogistic`.
    R's mice has no two-level method for unordered categorical variables
    (its ``2l.bin`` is binary only). New clusters in :meth:`sample` get
    effects from PG-Gibbs sweeps on their rows in ``observed``.

    References
    ----------
    Holmes, C. C. and Held, L. (2006). Bayesian auxiliary variable models for
    binary and multinomial regression. Bayesian Analysis, 1(1), 145-168.

    Polson, N. G., Scott, J. G. and Windle, J. (2013). Bayesian inference for
    logistic models using Polya-Gamma latent variables. JASA, 108, 1339-1349.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelMultinomial
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(40), 25)
    >>> x = rng.standard_normal(1000)
    >>> eta = np.column_stack([np.zeros(1000), x, -x + rng.normal(0, 1, 40)[g]])
    >>> prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    >>> y = (rng.random(1000)[:, None] > prob.cumsum(axis=1)).sum(axis=1).astype(float)
    >>> X = np.column_stack([np.ones(1000), x])
    >>> design = Design(X=X, Z=X[:, :1], groups=g, n_groups=40)
    >>> method = TwoLevelMultinomial().fit(design, y, rng)
    >>> method.beta_.shape, method.b_.shape
    ((2, 2), (2, 40, 1))
    >>> bool(np.isin(method.sample(design.take(slice(0, 50)), rng), [0, 1, 2]).all())
    True
    """

    supported_kinds = ("binary", "categorical")
    _name = "2l.polyreg"

    def _fit(self, design, y, rng):
        """Run Polya-Gamma Gibbs sweeps on the observed rows of the target."""
        steps, burnin = self.n_steps, self.n_burnin
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"{self._name}: y must hold category codes 0, 1, ..., K - 1.")
        d = _logit_data(design, y.shape[0], self._name)
        classes, index = np.unique(y, return_inverse=True)
        m = classes.size - 1
        kappa = (index[None, :] == np.arange(1, m + 1)[:, None]) - 0.5
        states = None
        prev = getattr(self, "classes_", None)
        if (
            self.warm_start
            and prev is not None
            and np.array_equal(prev, classes)
            and self.b_.shape == (m, d.N, d.q)
            and self.beta_.shape == (m, d.p)
        ):
            states = []
            for k in range(m):
                beta, b, psi = _to_internal(d, self.beta_[k], self.b_[k], self.psi_[k])
                states.append({"beta": beta, "b": b, "psi": psi})
            if not all(np.all(np.isfinite(v)) for s in states for v in s.values()):
                states = None
        if states is None:
            states = [_initial_state(d, kappa[k]) for k in range(m)]
            steps += burnin
            self.n_iter_ = 0
        for _ in range(steps):
            etas = np.array(
                [d.X @ s["beta"] + np.einsum("ij,ij->i", d.Z, s["b"][d.groups]) for s in states]
            ).reshape(m, d.n)
            for k in range(m):  # loop over the few categories
                states[k] = _logit_step(d, states[k], kappa[k], rng, offset=_offsets(etas, k))
                s = states[k]
                etas[k] = d.X @ s["beta"] + np.einsum("ij,ij->i", d.Z, s["b"][d.groups])
        out = [_to_original(d, s["beta"], s["b"], s["psi"]) for s in states]
        self.classes_ = classes
        self.beta_ = np.array([o[0] for o in out]).reshape(m, d.p)
        self.b_ = np.array([o[1] for o in out]).reshape(m, d.N, d.q)
        self.psi_ = np.array([o[2] for o in out]).reshape(m, d.q, d.q)
        _check_finite(self._name, self.beta_, self.b_, self.psi_)
        self.n_groups_ = d.N
        self.n_features_x_, self.n_features_z_ = d.p, d.q
        self.n_iter_ = getattr(self, "n_iter_", 0) + steps
        return self

    def _effects_all(self, Z, groups, rng, observed):
        """Random effects (m, n_rows, q) of every row's cluster for every logit."""
        N, m, q = self.n_groups_, self.beta_.shape[0], Z.shape[1]
        if self.random_effects == "prior":
            codes, inverse = np.unique(groups, return_inverse=True)
            L = np.linalg.cholesky(self.psi_ + 1e-12 * np.eye(q))
            b = np.einsum("mab,mkb->mka", L, rng.standard_normal((m, codes.size, q)))
            return b[:, inverse]
        coef = np.empty((m, groups.shape[0], q))
        known = groups < N
        coef[:, known] = self.b_[:, groups[known]]
        if not np.all(known):
            codes, inverse = np.unique(groups[~known], return_inverse=True)
            Zo = go = None
            fixed = kappa = np.zeros((m, 0))
            if observed is not None:
                Xo, Zo, go, yo = _observed_rows(observed)
                ok = np.isin(yo, self.classes_)
                Xo, Zo, go, yo = Xo[ok], Zo[ok], go[ok], yo[ok]
                fixed = self.beta_ @ Xo.T
                kappa = (yo[None, :] == self.classes_[1:, None]) - 0.5
            b_new = _new_cluster_effects(
                codes,
                Zo,
                go,
                fixed,
                kappa,
                self.psi_,
                rng,
                NEW_CLUSTER_SWEEPS,
                offset_fn=lambda k, etas: _offsets(etas, k),
            )
            coef[:, ~known] = b_new[:, inverse]
        return coef

    def _proba(self, design, rng, observed):
        """Category probabilities (n_rows, K), columns in the order of ``classes_``."""
        X, Z, groups = design.X, design.Z, design.groups
        b = self._effects_all(Z, groups, rng, observed)
        eta = np.zeros((X.shape[0], self.classes_.size))
        eta[:, 1:] = X @ self.beta_.T + np.einsum("ij,mij->im", Z, b)
        _check_finite(self._name, eta)
        eta -= eta.max(axis=1, keepdims=True)
        prob = np.exp(eta)
        return prob / prob.sum(axis=1, keepdims=True)

    def _sample(self, design, rng, observed):
        """Draw category codes from the model's probabilities."""
        prob = self._proba(design, rng, observed)
        cum = prob.cumsum(axis=1)
        u = rng.random(prob.shape[0])[:, None]
        pick = np.minimum((u >= cum).sum(axis=1), self.classes_.size - 1)
        return self.classes_[pick].astype(np.float64)
