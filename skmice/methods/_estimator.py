"""Any scikit-learn regressor or classifier as a conditional method.

:class:`EstimatorMethod` wraps an estimator and makes its imputations proper
draws: from the predictive distribution when the regressor reports one
(``predict(X, return_std=True)``, as ``BayesianRidge``), otherwise by fitting
on a bootstrap resample of the observed rows and adding noise (residuals for
regressors, a class drawn from ``predict_proba`` for classifiers).
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._base import ConditionalMethod
from ._draws import (
    _check_finite_array,
)

__all__ = ["EstimatorMethod"]

_PROPER = ("auto", "posterior", "bootstrap", "none")


def _accepts_return_std(estimator) -> bool:
    """Whether ``estimator.predict`` has a ``return_std`` parameter."""
    predict = getattr(estimator, "predict", None)
    if predict is None:
        return False
    try:
        return "return_std" in inspect.signature(predict).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        return False


def _has_predict_proba(estimator) -> bool:
    try:
        return callable(getattr(estimator, "predict_proba", None))
    except AttributeError:  # pragma: no cover - available_if raising differently
        return False


def _features(X: np.ndarray) -> np.ndarray:
    """Drop the intercept column; keep one zero column when nothing else is left."""
    if X.shape[1] <= 1:
        return np.zeros((X.shape[0], 1))
    return X[:, 1:]


class EstimatorMethod(ConditionalMethod):
    """Impute with any scikit-learn regressor or classifier, properly.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn regressor (continuous targets) or classifier (binary
        and categorical targets). It is cloned in every ``fit``.
    proper : {"auto", "posterior", "bootstrap", "none"}, default="auto"
        How the imputations reflect the uncertainty:

        - ``"posterior"``: fit on the observed rows and draw every imputation
          from ``N(mean, std)`` with ``mean, std = predict(X,
          return_std=True)``, the predictive standard deviation, which must
          include the residual noise (``BayesianRidge``, ``ARDRegression``;
          a ``GaussianProcessRegressor`` with a ``WhiteKernel``).
        - ``"bootstrap"``: fit on a bootstrap resample of the observed rows
          (which carries the parameter uncertainty), then for regressors add
          a residual drawn from the out-of-bag residuals of that fit (the
          in-bag residuals when no row is out of bag), for classifiers draw
          the class from ``predict_proba``.
        - ``"auto"``: ``"posterior"`` for regressors whose ``predict`` takes
          ``return_std``, ``"bootstrap"`` otherwise.
        - ``"none"``: plain predictions of a fit on the observed rows. This
          is *improper* (no noise, no parameter uncertainty: variances are
          understated, associations exaggerated); use it for single
          deterministic imputation only.

    Attributes
    ----------
    estimator_ : estimator object or None
        The fitted clone (None when the classifier saw a single class).
    proper_ : str
        The resolved value of ``proper``.
    residuals_ : ndarray or None
        Residuals drawn from in ``"bootstrap"`` mode for regressors.
    classes_ : ndarray or None
        Classes of a classifier (float codes).
    constant_ : float or None
        The class imputed when the (resampled) rows of a classifier hold a
        single class (no model is fitted then).
    n_features_in_ : int
        Number of columns of the design (with the intercept).

    See Also
    --------
    BayesianNormal : the parametric normal model with a proper draw.

    Notes
    -----
    The design given to the estimator drops column 0, the intercept, since
    scikit-learn estimators fit their own; a design with only the intercept
    becomes a single column of zeros. The estimator's ``random_state`` (when
    it has one) is set to an integer drawn from the generator given to
    ``fit``, so results are reproducible. Supported target kinds:
    ``"continuous"`` for regressors, ``"binary"`` and ``"categorical"`` for
    classifiers (targets are float codes; the classifier's classes are the
    observed codes). ``"posterior"`` draws each row from its marginal
    predictive distribution, as scikit-learn's ``IterativeImputer(
    sample_posterior=True)``; the bootstrap is one resample per ``fit``,
    i.e. per imputation and iteration, as R's ``norm.boot``.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    Wiley.

    Van Buuren, S. (2018). *Flexible Imputation of Missing Data* (2nd ed.),
    section 3.4 (the bootstrap for proper imputation). Chapman & Hall/CRC.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import BayesianRidge
    >>> from skmice.methods import Design, EstimatorMethod
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(100)
    >>> X = np.column_stack([np.ones(100), x])
    >>> y = 1 + 2 * x + rng.standard_normal(100)
    >>> method = EstimatorMethod(BayesianRidge()).fit(Design(X[:80]), y[:80], rng)
    >>> method.proper_
    'posterior'
    >>> method.sample(Design(X[80:]), rng).shape
    (20,)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "proper": [StrOptions(set(_PROPER))],
    }

    def __init__(self, estimator, proper="auto"):
        self.estimator = estimator
        self.proper = proper

    @property
    def _name(self) -> str:
        return f"EstimatorMethod({type(self.estimator).__name__})"

    @property
    def supported_kinds(self) -> tuple:
        """Target kinds: continuous for regressors, binary/categorical for classifiers."""
        if is_classifier(self.estimator):
            return ("binary", "categorical")
        return ("continuous",)

    def _resolve_proper(self) -> str:
        if self.proper not in _PROPER:
            raise ValueError(
                f"{self._name}: proper must be one of {', '.join(map(repr, _PROPER))}, "
                f"got {self.proper!r}."
            )
        classifier = is_classifier(self.estimator)
        if self.proper == "auto":
            if not classifier and _accepts_return_std(self.estimator):
                return "posterior"
            return "bootstrap"
        if self.proper == "posterior" and (classifier or not _accepts_return_std(self.estimator)):
            raise ValueError(
                f"{self._name}: proper='posterior' needs a regressor whose predict accepts "
                "return_std (such as BayesianRidge); use proper='bootstrap'."
            )
        return self.proper

    def _new_estimator(self, rng: np.random.Generator):
        try:
            est = clone(self.estimator)
        except TypeError:
            est = copy.deepcopy(self.estimator)
        seed = int(rng.integers(np.iinfo(np.int32).max))
        try:
            if "random_state" in est.get_params(deep=False):
                est.set_params(random_state=seed)
        except AttributeError:
            pass
        return est

    def _fit(self, design, y, rng):
        """Fit a clone of the estimator (on a bootstrap resample when proper)."""
        est = self.estimator
        proper = self._resolve_proper()
        classifier = is_classifier(est)
        if classifier and proper == "bootstrap" and not _has_predict_proba(est):
            raise ValueError(
                f"{self._name}: proper='bootstrap' for a classifier needs predict_proba "
                "(e.g. SVC(probability=True)); use proper='none' for plain predictions."
            )
        X = design.X
        F = _features(X)
        n = y.shape[0]
        rows = rng.integers(n, size=n) if proper == "bootstrap" else np.arange(n)
        fitted = self._new_estimator(rng)
        self.proper_ = proper
        self.residuals_ = None
        self.classes_ = None
        self.constant_ = None
        self.n_features_in_ = X.shape[1]
        if classifier:
            self.classes_ = np.unique(y)
            if np.unique(y[rows]).shape[0] == 1:
                self.estimator_ = None
                self.constant_ = float(y[rows][0])
                return self
        fitted.fit(F[rows], y[rows])
        self.estimator_ = fitted
        if not classifier and proper == "bootstrap":
            out_of_bag = np.ones(n, dtype=bool)
            out_of_bag[rows] = False
            use = out_of_bag if out_of_bag.any() else ~out_of_bag
            residuals = y[use] - np.asarray(fitted.predict(F[use]), dtype=float)
            _check_finite_array(residuals, "the bootstrap residuals", self._name)
            self.residuals_ = residuals
        return self

    def _sample(self, design, rng, observed):
        """Draw imputations for the rows of ``design``."""
        X = design.X
        n = X.shape[0]
        if self.estimator_ is None:
            return np.full(n, self.constant_)
        if n == 0:
            return np.zeros(0)
        F = _features(X)
        est = self.estimator_
        if self.proper_ == "posterior":
            mean, std = est.predict(F, return_std=True)
            values = np.asarray(mean, dtype=float) + np.asarray(
                std, dtype=float
            ) * rng.standard_normal(n)
        elif self.proper_ == "none":
            values = np.asarray(est.predict(F), dtype=float)
        elif self.classes_ is not None:
            proba = np.asarray(est.predict_proba(F), dtype=float)
            _check_finite_array(proba, "the predicted probabilities", self._name)
            cum = np.cumsum(proba, axis=1)
            u = rng.random(n) * cum[:, -1]
            idx = (u[:, None] > cum[:, :-1]).sum(axis=1)
            values = np.asarray(est.classes_, dtype=float)[idx]
        else:
            pred = np.asarray(est.predict(F), dtype=float)
            values = pred + rng.choice(self.residuals_, size=n)
        _check_finite_array(values, "the imputed values", self._name)
        return values
