"""Categorical imputation with random effects at every grouping level: ml.polyreg.

The baseline-category logit mixed model of 2l.polyreg with the random part
of ml.norm: for every non-baseline category ``c`` a linear predictor
``eta_ic = x_i' beta_c + sum_k z_ki' b_k,u,c`` with a random intercept at
every level (and random slopes where ``random_slopes`` puts them),
``b_k,u,c ~ N(0, Psi_k,c)`` independently per category. Given the other
categories, category ``c``'s likelihood is a logistic one with the offset
``-log(1 + sum_{l != c} exp(eta_il))`` (Holmes and Held 2006), so each
category is updated by one step of :class:`~skmice.methods.MultilevelLogistic`
(Polya-Gamma weights, then the blocked/collapsed step of ml.norm on the
weighted working model).
"""

from __future__ import annotations

import numpy as np

from ._base import register_method
from ._multilevel_binary import MultilevelLogistic
from ._multilevel_sampler import (
    gibbs_step,
    linear_predictor,
    new_unit_effects,
    random_part,
    reweight,
    standardised_rows,
    to_internal,
)
from ._polyagamma import random_polyagamma
from ._twolevel import _check_finite
from ._twolevel_categorical import TwoLevelMultinomial, _offsets

__all__ = ["MultilevelMultinomial"]

#: Sweeps over the categories when drawing the effects of units new to the
#: model from their observed rows (each category's draw sees the others').
NEW_UNIT_CATEGORY_SWEEPS = 3


def _padded_part(design, cols, b) -> np.ndarray:
    """``sum_k z_k'b_k`` of the rows of ``design``, zero for codes beyond ``b``."""
    out = np.zeros(design.n_rows)
    for lv, c, bk in zip(design.levels, cols, b):
        g = lv.groups
        known = g < bk.shape[0]
        if bk.shape[0]:
            coef = np.where(known[:, None], bk[np.minimum(g, bk.shape[0] - 1)], 0.0)
            out += np.einsum("ij,ij->i", design.Z[:, c], coef)
    return out


@register_method("ml.polyreg")
class MultilevelMultinomial(MultilevelLogistic):
    """Multinomial logit imputation with random effects at every grouping level (ml.polyreg).

    A baseline-category logit mixed model: for every category ``c`` but the
    baseline (the first observed one), ``eta_c = x' beta_c + sum_k z_k'
    b_k,c`` with a random intercept at every level of ``design.levels``
    (nested or crossed) and random slopes where ``random_slopes`` puts them,
    independent across categories (one ``Psi_k,c`` per level and category).
    Each Gibbs sweep updates the categories in turn by the step of
    :class:`MultilevelLogistic` on the indicator of the category, the others
    entering through an offset. Imputed values are drawn from the category
    probabilities under the current draws (proper imputation; always codes
    observed in ``fit``).

    Parameters
    ----------
    random_slopes : None, "all", level, list of levels or dict, default=None
        As in :class:`MultilevelNormal`.
    sampler : {"collapsed", "single-site"}, default="collapsed"
        As in :class:`MultilevelNormal`.
    n_steps : int, default=1
        Gibbs sweeps (over all categories) per call to :meth:`fit` once the
        chain is warm.
    n_burnin : int, default=20
        Extra sweeps at the first call.
    warm_start : bool, default=True
        Continue the chain of the previous call.

    Attributes
    ----------
    classes_ : ndarray of shape (C,)
        Observed category codes; ``classes_[0]`` is the baseline.
    beta_ : ndarray of shape (C - 1, p)
        Fixed effects of the non-baseline categories (logit scale, against
        the baseline).
    b_ : list of ndarray of shape (C - 1, n_units_k, q_k)
        Per level, the random effects of every unit and non-baseline
        category.
    psi_ : list of ndarray of shape (C - 1, q_k, q_k)
        Per level, each non-baseline category's random-effects covariance.
    n_units_, level_names_, random_columns_, nested_, n_iter_
        As in :class:`MultilevelLogistic`.

    See Also
    --------
    MultilevelLogistic : two categories (ml.bin); the step used here.
    skmice.methods.TwoLevelMultinomial : one grouping level (2l.polyreg).

    Notes
    -----
    A sweep costs ``C - 1`` steps of :class:`MultilevelLogistic`. With one
    level and ``random_slopes=None`` the model is that of
    :class:`TwoLevelMultinomial`. Units new at :meth:`sample` get effects
    from Polya-Gamma Gibbs sweeps on their observed rows, a few sweeps over
    the categories (each given the others' current effects), or from the
    prior when they have no observed rows.

    References
    ----------
    Holmes, C. C. and Held, L. (2006). Bayesian auxiliary variable models for
    binary and multinomial regression. Bayesian Analysis, 1(1), 145-168.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Level, MultilevelMultinomial
    >>> rng = np.random.default_rng(0)
    >>> school, hood = rng.integers(0, 15, 900), rng.integers(0, 10, 900)
    >>> x = rng.standard_normal(900)
    >>> eta = np.column_stack([np.zeros(900), x + rng.normal(0, 1, 15)[school],
    ...                        -x + rng.normal(0, 1, 10)[hood]])
    >>> prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    >>> y = (rng.random(900)[:, None] > prob.cumsum(axis=1)).sum(axis=1).astype(float)
    >>> X = np.column_stack([np.ones(900), x])
    >>> design = Design(X=X, levels=[Level(school, 15, X[:, :1], np.array([0]), "school"),
    ...                             Level(hood, 10, name="neighbourhood")])
    >>> method = MultilevelMultinomial().fit(design, y, rng)
    >>> method.beta_.shape, [b.shape for b in method.b_]
    ((2, 2), [(2, 15, 1), (2, 10, 1)])
    >>> bool(np.isin(method.sample(design.take(slice(0, 50)), rng), [0, 1, 2]).all())
    True
    """

    supported_kinds = ("binary", "categorical")
    _name = "ml.polyreg"

    def _fit(self, design, y, rng):
        """Run Polya-Gamma Gibbs sweeps over the categories on the observed rows."""
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"{self._label()}: y must hold category codes 0, 1, ..., C - 1.")
        classes, index = np.unique(y, return_inverse=True)
        m = classes.size - 1
        indicator = (index[None, :] == np.arange(1, m + 1)[:, None]).astype(np.float64)
        st, names = self._statistics(design, y)
        steps = self.n_steps
        states = self._warm_states(st, classes) if self.warm_start else None
        if states is None:
            states = [self._initial_state(st, indicator[c]) for c in range(m)]
            steps += self._start(design, st, y)
        rows = standardised_rows(st, design)
        collapsed = self.sampler == "collapsed"
        etas = np.array([linear_predictor(st, rows, s) for s in states]).reshape(m, y.size)
        for _ in range(steps):
            for c in range(m):  # loop over the few categories
                offset = _offsets(etas, c)
                omega = random_polyagamma(etas[c] + offset, rng)
                reweight(st, rows, omega, indicator[c] - 0.5 - omega * offset)
                states[c] = gibbs_step(st, states[c], rng, collapsed=collapsed,
                                       fixed_sigma2=True)
                etas[c] = linear_predictor(st, rows, states[c])
        out = [self._original(st, s) for s in states]
        self.classes_ = classes
        self.beta_ = np.array([o[0] for o in out]).reshape(m, st.pb.n_x)
        self.b_ = [np.array([o[1][k] for o in out]).reshape(m, lv.N, lv.q)
                   for k, lv in enumerate(st.levels)]
        self.psi_ = [np.array([o[2][k] for o in out]).reshape(m, lv.q, lv.q)
                     for k, lv in enumerate(st.levels)]
        self._fitted_ = [o[4] for o in out]
        self._store_levels(st, names, steps)

    def _warm_states(self, st, classes):
        """The previous call's states (one per category) in this call's units, or None."""
        prev = getattr(self, "classes_", None)
        m = classes.size - 1
        if prev is None or not np.array_equal(prev, classes) or (
            self.beta_.shape != (m, st.pb.n_x)
            or [b.shape for b in self.b_] != [(m, lv.N, lv.q) for lv in st.levels]
        ):
            return None
        states = [to_internal(st, [b[c] for b in self.b_], [p[c] for p in self.psi_], 1.0,
                              beta=self.beta_[c]) for c in range(m)]
        finite = all(np.all(np.isfinite(a)) for s in states for a in (s.beta, *s.b, *s.psi))
        return states if finite else None

    def _effects(self, design, levels, rng, observed) -> list:
        """Per category, every level's effects by unit code (units new to the model drawn)."""
        fitted, m = self._fitted_, len(self._fitted_)
        if observed is None:
            return [new_unit_effects(f, levels, None, rng) for f in fitted]
        o_design, o_y = observed
        known = np.isin(o_y, self.classes_)
        ys = [np.where(known, (o_y == code).astype(np.float64), np.nan)
              for code in self.classes_[1:]]
        current = [f["b"] for f in fitted]
        sweeps = 1 if m == 1 else NEW_UNIT_CATEGORY_SWEEPS
        for _ in range(sweeps):
            for c in range(m):
                offset = None
                if m > 1:
                    etas = np.array([o_design.X @ f["beta"]
                                     + _padded_part(o_design, f["cols"], b)
                                     for f, b in zip(fitted, current)])
                    offset = _offsets(etas, c)
                current[c] = new_unit_effects(fitted[c], levels, (o_design, ys[c]), rng,
                                              offset=offset)
        return current

    def _proba(self, design, rng, observed):
        """Category probabilities (n_rows, C), columns in the order of ``classes_``."""
        levels = self._levels_of(design, fitted=True)
        groups = [g for g, _ in levels]
        eta = np.zeros((design.n_rows, self.classes_.size))
        for c, b in enumerate(self._effects(design, levels, rng, observed)):
            eta[:, c + 1] = design.X @ self.beta_[c] + random_part(
                design.Z, groups, self.random_columns_, b)
        _check_finite(self._name, eta)
        eta -= eta.max(axis=1, keepdims=True)
        prob = np.exp(eta)
        return prob / prob.sum(axis=1, keepdims=True)

    _sample = TwoLevelMultinomial._sample
