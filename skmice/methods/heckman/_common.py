"""What the single- and two-level Heckman methods share: input checks, ``fit`` and ``sample``.

:class:`_SelectionModel` is the common base of
:class:`~skmice.methods.Heckman` and :class:`~skmice.methods.TwoLevelHeckman`
(neither derives from the other). Its ``fit`` and ``sample`` validate their
input at the top, with the checks below, then call
:meth:`_SelectionModel._fit_selection` or :meth:`_SelectionModel._impute`,
which hold the computation. A subclass says what differs: its parameters
(``__init__``, ``_choices``, ``_options``) and its clusters
(``_clusters``).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ...exceptions import WeakIdentificationWarning
from .._base import ConditionalMethod, Design
from ._conditional import draw_not_selected
from ._estimate import _Options, _standardise, draw_new_clusters, draw_parameters, estimate
from ._likelihood import _Layout

_OUTCOMES = ("auto", "continuous", "binary")


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _column_in(col, M, tol=1e-10):
    scale = np.maximum(np.abs(col), 1.0)
    return bool(np.any(np.all(np.abs(M - col[:, None]) <= tol * scale[:, None], axis=0)))


def _check_exclusion_restriction(X, W, method):
    """At least one column of the selection equation is not in the outcome equation."""
    if not any(not _column_in(W[:, c], X) for c in range(W.shape[1])):
        raise ValueError(
            f"{method}: no exclusion restriction: every column of the selection "
            "equation is also in the outcome equation. Give at least one predictor that "
            "affects missingness but not the target code -3 in the predictor matrix."
        )


def _binary_outcome(observed, outcome, method) -> bool:
    """Whether the target is modelled as binary (``outcome`` and the observed values)."""
    codes = bool(np.all((observed == 0) | (observed == 1)))
    if outcome == "binary" and not codes:
        raise ValueError(f"{method}: outcome='binary' needs observed values 0 and 1.")
    return codes if outcome == "auto" else (outcome == "binary")


def _check_columns(X, W, lay: _Layout, method):
    """The design given to ``sample`` has the columns ``fit`` saw."""
    if X.shape[1] != lay.p or W.shape[1] != lay.r:
        raise ValueError(
            f"{method}: the design has {X.shape[1]} outcome and {W.shape[1]} selection "
            f"columns; fit saw {lay.p} and {lay.r}."
        )


def _same_inputs(old, new) -> bool:
    for a, b in zip(old, new):
        if isinstance(a, np.ndarray):
            if not (
                isinstance(b, np.ndarray)
                and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=True)
            ):
                return False
        elif a != b:
            return False
    return True


# ---------------------------------------------------------------------------
# the shared shell
# ---------------------------------------------------------------------------


class _SelectionModel(ConditionalMethod):
    """Base of the Heckman selection models: ``fit`` and ``sample``.

    Subclasses declare ``_choices`` (pairs of a string parameter and its
    allowed values, checked in that order), implement ``_clusters(design,
    n)`` (the cluster code of each row and the number of clusters) and
    extend ``_options()`` (the settings of the two stages) with the
    parameters they add.
    """

    needs_selection = True
    needs_all_rows = True
    supported_kinds = ("continuous", "binary")
    _parameter_constraints = {
        "outcome": [StrOptions(set(_OUTCOMES))],
        "min_observed": [Interval(Integral, 1, None, closed="left")],
        "penalty": [Interval(Real, 0, None, closed="left")],
        "rho_penalty": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def _fit(self, design, y, rng):
        """Fit the selection model on every row (y NaN where missing) and draw the parameters."""
        X, W = design.X, design.W
        s = ~np.isnan(y)
        if s.all():
            raise ValueError(
                f"{self._name}: the target has no missing value, so the selection equation "
                "cannot be fitted (fit receives every row, with NaN where y is missing)."
            )
        _check_exclusion_restriction(X, W, self._name)
        groups, n_groups = self._clusters(design, X.shape[0])
        binary = _binary_outcome(y[s], self.outcome, self._name)
        self._fit_selection(X, W, y, s, groups, n_groups, binary, self._options(), rng)

    def _sample(self, design, rng, observed):
        """Draw the target for the rows of ``design`` given that they were not selected.

        Clusters new to the two-level model get parameters drawn from the
        population distribution (``observed`` is not used).
        """
        X, W = design.X, design.W
        _check_columns(X, W, self._layout, self._name)
        groups, n_groups = self._clusters(design, X.shape[0])
        return self._impute(X, W, groups, n_groups, rng)

    def _options(self) -> _Options:
        """The settings of the two stages (the defaults where the method has no parameter)."""
        return _Options(
            min_observed=self.min_observed,
            penalty=self.penalty,
            rho_penalty=self.rho_penalty,
            max_iter=self.max_iter,
        )

    def _clusters(self, design: Design, n: int):
        """The cluster code of each of the ``n`` rows (int64) and the number of clusters
        (each model says: one cluster, or the design's first level)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _clusters.")

    def _fit_selection(self, X, W, y, s, groups, n_groups, binary, opts: _Options, rng):
        """Estimate the model (or reuse the estimates for the same data) and draw.

        Sets the fitted attributes; warns once when ``rho`` is weakly
        identified. Returns self.
        """
        lay = _Layout(X.shape[1], W.shape[1], binary)
        key = (X, W, y, groups, binary)
        cache = getattr(self, "_cache", None)
        if cache is not None and _same_inputs(cache["key"], key):
            st = cache["state"]
        else:
            previous = None if cache is None else cache["state"]["theta_hat"]
            st = estimate(X, W, y, s, groups, n_groups, lay, opts, self._name, previous)
            self._cache = {
                "key": tuple(
                    np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in key
                ),
                "state": st,
            }
        self.outcome_ = "binary" if binary else "continuous"
        self.n_groups_ = n_groups
        self._layout = lay
        self._scaling = st["scaling"]
        self.theta_hat_ = st["theta_hat"]
        self.fitted_clusters_ = st["fitted"]
        self.fallback_ = st["fallback"]
        self.mu_, self.cov_mu_, self.tau_ = st["mu"], st["cov_mu"], st["tau"]
        self.rho_ = float(np.tanh(self.mu_[lay.rho]))
        sd = float(np.sqrt(max(self.cov_mu_[lay.rho, lay.rho], 0.0)))
        self.rho_interval_ = tuple(
            float(v) for v in np.tanh(self.mu_[lay.rho] + np.array([-1.96, 1.96]) * sd)
        )
        self.rho_weakly_identified_ = self.rho_interval_[1] - self.rho_interval_[0] > 1.0
        if self.rho_weakly_identified_ and not getattr(self, "_warned_weak", False):
            warnings.warn(
                f"{self._name}: rho, the correlation of the outcome and selection errors, is "
                "weakly identified: the 95% interval of the likelihood covers "
                f"({self.rho_interval_[0]:.1f}, {self.rho_interval_[1]:.1f}), more than half "
                "of (-1, 1). The data cannot tell how far the missing values are not at random; "
                "the imputations then follow the prior on rho (rho_prior) and their spread. "
                "A stronger exclusion restriction (predictors with code -3 that move "
                "missingness) identifies it; report the result as a sensitivity analysis.",
                WeakIdentificationWarning,
                stacklevel=4,  # the caller of the public fit
            )
            self._warned_weak = True  # once per chain, not at every visit
        self.theta_star_, self._mu_star = draw_parameters(st, lay, rng)
        return self

    def _impute(self, X, W, groups, n_groups, rng):
        """Draw the target of the rows ``(X, W, groups)`` given non-selection."""
        lay = self._layout
        theta = self.theta_star_
        if n_groups > theta.shape[0]:
            new = draw_new_clusters(self._mu_star, self.tau_, n_groups - theta.shape[0], lay, rng)
            theta = np.vstack([theta, new])
        Xs, Ws = _standardise(X, W, self._scaling)
        return draw_not_selected(theta, Xs, Ws, groups, lay, rng)
