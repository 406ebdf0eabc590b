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

import numbers
import warnings

import numpy as np

from ..._random import as_generator
from ...exceptions import WeakIdentificationWarning
from .._base import ConditionalMethod, Design
from ._conditional import draw_not_selected
from ._estimate import _Options, _standardise, draw_new_clusters, draw_parameters, estimate
from ._likelihood import _Layout

_OUTCOMES = ("auto", "continuous", "binary")


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _check_choice(value, name, allowed, method):
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{method}: {name} must be {options}, got {value!r}.")


def _check_number(value, name, method, low=None, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or (low is not None and not value >= low)
    ):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{method}: {name} must be {what} >= {low}, got {value!r}.")
    return value


def _selection_designs(design: Design, method):
    """The outcome and selection designs ``(X, W)`` as float arrays, checked."""
    if not isinstance(design, Design):
        raise TypeError(f"{method}: design must be a Design, got {type(design).__name__}.")
    if design.W is None:
        raise ValueError(
            f"{method}: the design has no selection equation (design.W is None); give "
            "the selection-only predictors code -3 in the predictor matrix."
        )
    X = np.asarray(design.X, dtype=float)
    W = np.asarray(design.W, dtype=float)
    if X.ndim != 2 or W.ndim != 2 or W.shape[0] != X.shape[0]:
        raise ValueError(f"{method}: design.X and design.W must be 2-D with equal rows.")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(W))):
        raise ValueError(f"{method}: the design holds NaN or infinite values.")
    return X, W


def _selection_target(y, n, method):
    """The target as floats and the selection indicator ``~isnan(y)``, checked."""
    y = np.asarray(y, dtype=float)
    if y.shape != (n,):
        raise ValueError(f"{method}: y must have one value per row ({n}), got {y.shape}.")
    s = ~np.isnan(y)
    if not s.any():
        raise ValueError(f"{method}: the target has no observed value.")
    if s.all():
        raise ValueError(
            f"{method}: the target has no missing value, so the selection equation "
            "cannot be fitted (fit receives every row, with NaN where y is missing)."
        )
    return y, s


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
    _choices: tuple = (("outcome", _OUTCOMES),)

    def fit(self, design: Design, y: np.ndarray, random_state: np.random.Generator):
        """Fit the selection model on every row and draw the parameters.

        Parameters
        ----------
        design : Design
            Design of all rows, with ``X`` (outcome), ``W`` (selection) and,
            for the two-level model, the cluster codes.
        y : ndarray of shape (n_rows,)
            The target, NaN where missing.
        random_state : numpy.random.Generator
            Source of randomness for the parameter draws.

        Returns
        -------
        self : object
            The fitted method.
        """
        self._check_params()
        rng = as_generator(random_state)
        X, W = _selection_designs(design, self._name)
        y, s = _selection_target(y, X.shape[0], self._name)
        _check_exclusion_restriction(X, W, self._name)
        groups, n_groups = self._clusters(design, X.shape[0])
        binary = _binary_outcome(y[s], self.outcome, self._name)

        return self._fit_selection(X, W, y, s, groups, n_groups, binary, self._options(), rng)

    def sample(self, design: Design, random_state: np.random.Generator, observed=None):
        """Draw the target for the rows of ``design`` given that they were not selected.

        Parameters
        ----------
        design : Design
            Design (``X``, ``W`` and, for the two-level model, the cluster
            codes) of the rows to impute.
        random_state : numpy.random.Generator
            Source of randomness.
        observed : ignored
            Present for the common signature; clusters new to the two-level
            model get parameters drawn from the population distribution.

        Returns
        -------
        values : ndarray of shape (n_rows,)
            Imputed values (codes 0.0 and 1.0 for binary targets).
        """
        if not hasattr(self, "theta_star_"):
            raise ValueError(f"{self._name}: call fit before sample.")
        rng = as_generator(random_state)
        X, W = _selection_designs(design, self._name)
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
        """The cluster code of each of the ``n`` rows (int64) and the number of clusters."""
        raise NotImplementedError

    def _check_params(self):
        for name, allowed in self._choices:
            _check_choice(getattr(self, name), name, allowed, self._name)
        _check_number(self.min_observed, "min_observed", self._name, 1, integer=True)
        _check_number(self.penalty, "penalty", self._name, 0.0)
        _check_number(self.rho_penalty, "rho_penalty", self._name, 0.0)
        _check_number(self.max_iter, "max_iter", self._name, 1, integer=True)

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
                stacklevel=3,  # the caller of the public fit
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
