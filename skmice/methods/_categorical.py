"""Single-level methods for binary and categorical targets: ``logreg`` and ``polyreg``.

Both fit on the observed rows augmented with the pseudo-observations of
White, Daniel and Royston (2010), which keep the estimates finite under
perfect prediction, then draw the parameters from the normal approximation
of their posterior before drawing the categories.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base import ConditionalMethod, Design, register_method
from ._draws import (
    _check_finite_array,
    augment_categorical,
    draw_from_precision,
    fit_logistic,
    fit_multinomial,
)

__all__ = ["Logistic", "Multinomial"]


_CONSTRAINTS = {
    "ridge": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
}


def _covariance(hessian: np.ndarray) -> np.ndarray:
    """Inverse of a Hessian (the unscaled covariance), symmetrised."""
    if hessian.size == 0:
        return hessian.copy()
    cov = np.linalg.pinv(hessian, hermitian=True)
    return 0.5 * (cov + cov.T)


@register_method("logreg")
class Logistic(ConditionalMethod):
    """Bayesian logistic regression imputation (mice's ``logreg``).

    The observed rows are augmented (White, Daniel and Royston 2010: for each
    predictor and each of the two categories, two pseudo-rows at the
    predictor's mean plus and minus half its standard deviation, weight
    ``(p + 1) / (4 p)`` each); a weighted logistic regression is fitted by
    IRLS; ``beta* ~ N(beta_hat, cov_unscaled)`` is drawn and the imputations
    are ``Bernoulli(logistic(X_mis beta*))`` as float codes 0 and 1.

    Parameters
    ----------
    ridge : float, default=1e-5
        Relative ridge penalty ``0.5 * ridge * sum_j d_j beta_j^2`` with
        ``d_j = sum_i w_i x_ij^2``; keeps the estimate finite under
        separation, negligible otherwise.
    max_iter : int, default=100
        Maximum number of IRLS (Newton) steps.

    Attributes
    ----------
    beta_hat_ : ndarray of shape (p,)
        Estimate on the augmented observed rows.
    beta_star_ : ndarray of shape (p,)
        Coefficients drawn in the last ``fit``.
    cov_ : ndarray of shape (p, p)
        Unscaled covariance of ``beta_hat_`` (inverse of the penalised
        information matrix).
    n_iter_ : int
        Number of IRLS steps.
    converged_ : bool
        Whether IRLS converged.
    n_features_in_ : int
        Number of columns of the design.

    See Also
    --------
    Multinomial : more than two categories.

    Notes
    -----
    Supported target kind: ``"binary"`` (codes 0 and 1). Both categories are
    always augmented, so a target observed at one value only is still fitted
    (its imputations are that value with high probability). The augmentation
    uses the means, standard deviations and ranges of the observed rows (R:
    all rows) and is also applied when a single value is missing (R skips
    it then). R fits with ``glm.fit`` (no penalty) and fails on a singular
    covariance; here the small ridge avoids that.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    Wiley, pp. 169-170.

    White, I. R., Daniel, R. and Royston, P. (2010). Avoiding bias due to
    perfect prediction in multiple imputation of incomplete categorical
    variables. *Computational Statistics & Data Analysis*, 54, 2267-2275.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Logistic
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(500)
    >>> X = np.column_stack([np.ones(500), x])
    >>> y = (rng.random(500) < 1 / (1 + np.exp(-2 * x))).astype(float)
    >>> method = Logistic().fit(Design(X[:400]), y[:400], rng)
    >>> bool(np.allclose(method.beta_hat_, [0, 2], atol=0.6))
    True
    >>> np.unique(method.sample(Design(X[400:]), rng))
    array([0., 1.])
    """

    supported_kinds = ("binary",)
    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, ridge=1e-5, max_iter=100):
        self.ridge = ridge
        self.max_iter = max_iter

    _name = "Logistic ('logreg')"

    def _fit(self, design, y, rng):
        """Fit the augmented logistic regression and draw the coefficients."""
        X, ridge, max_iter = design.X, float(self.ridge), int(self.max_iter)
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{self._name}: y must hold the binary codes 0 and 1.")
        Xa, ya, wa = augment_categorical(X, y, np.array([0.0, 1.0]))
        try:
            fit = fit_logistic(Xa, ya, wa, ridge=ridge, max_iter=max_iter)
        except FloatingPointError as exc:
            raise FloatingPointError(f"{self._name}: {exc}") from exc
        self.beta_hat_ = fit.coef
        self.beta_star_ = draw_from_precision(fit.coef, fit.hessian, rng, self._name, fit.active)
        self.cov_ = _covariance(fit.hessian)
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        self.n_features_in_ = X.shape[1]
        return self

    def _sample(self, design, rng, observed):
        """Draw 0/1 codes from ``Bernoulli(logistic(X beta*))``."""
        prob = expit(design.X @ self.beta_star_)
        _check_finite_array(prob, "the predicted probabilities", self._name)
        return (rng.random(prob.shape[0]) <= prob).astype(float)


@register_method("polyreg")
class Multinomial(ConditionalMethod):
    """Multinomial logit imputation (mice's ``polyreg``), proper by default.

    The observed rows are augmented as in :class:`Logistic` (for each
    predictor and each observed category, two pseudo-rows of weight
    ``(p + 1) / (2 p k)``), a multinomial logit with the lowest observed
    category as reference is fitted by Newton steps on the multinomial
    likelihood, the coefficients are drawn from ``N(beta_hat, H^-1)`` (``H``
    the Hessian of the negative log-likelihood) and the categories are drawn
    from the probabilities under the drawn coefficients.

    Parameters
    ----------
    draw_parameters : bool, default=True
        Draw the coefficients before the categories (proper imputation).
        ``False`` uses the estimate, as R's ``polyreg`` does (improper: the
        between-imputation variance is understated).
    ridge : float, default=1e-5
        Relative ridge penalty on every coefficient, as in :class:`Logistic`.
    max_iter : int, default=100
        Maximum number of Newton steps.

    Attributes
    ----------
    classes_ : ndarray of shape (k,)
        The distinct observed codes; only these are imputed.
    beta_hat_ : ndarray of shape (p, k - 1)
        Estimate; column ``c`` holds the log-odds coefficients of
        ``classes_[c + 1]`` against ``classes_[0]``.
    beta_star_ : ndarray of shape (p, k - 1)
        Coefficients used for drawing (drawn when ``draw_parameters``).
    cov_ : ndarray of shape ((k - 1) p, (k - 1) p)
        Covariance of ``beta_hat_`` in category-major order
        (``beta_hat_.T.ravel()``).
    n_iter_ : int
        Number of Newton steps.
    converged_ : bool
        Whether the fit converged.
    n_features_in_ : int
        Number of columns of the design.

    See Also
    --------
    Logistic : two categories.

    Notes
    -----
    Supported target kinds: ``"binary"`` and ``"categorical"``, as float codes
    ``0, ..., K - 1`` (``K`` is the largest observed code plus one). Only
    the categories observed among the fitted rows are modelled and imputed
    (R drops unused levels too); with a single observed category every
    imputation is that category.

    Unlike R, which imputes from the fitted probabilities of ``nnet::multinom``
    without drawing the coefficients (improper), the coefficients are drawn
    here; ``draw_parameters=False`` reproduces R. The augmentation uses the
    observed rows' means, standard deviations and ranges (R: all rows).

    References
    ----------
    Brand, J. P. L. (1999). *Development, Implementation and Evaluation of
    Multiple Imputation Strategies for the Statistical Analysis of Incomplete
    Data Sets*. PhD thesis, Erasmus University Rotterdam.

    White, I. R., Daniel, R. and Royston, P. (2010). Avoiding bias due to
    perfect prediction in multiple imputation of incomplete categorical
    variables. *Computational Statistics & Data Analysis*, 54, 2267-2275.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Multinomial
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(600), rng.standard_normal(600)])
    >>> y = rng.integers(3, size=600).astype(float)
    >>> method = Multinomial().fit(Design(X[:500]), y[:500], rng)
    >>> method.classes_
    array([0., 1., 2.])
    >>> method.beta_star_.shape
    (2, 2)
    >>> bool(np.isin(method.sample(Design(X[500:]), rng), [0, 1, 2]).all())
    True
    """

    supported_kinds = ("binary", "categorical")
    _parameter_constraints = {**_CONSTRAINTS, "draw_parameters": ["boolean"]}

    def __init__(self, draw_parameters=True, ridge=1e-5, max_iter=100):
        self.draw_parameters = draw_parameters
        self.ridge = ridge
        self.max_iter = max_iter

    _name = "Multinomial ('polyreg')"

    def _fit(self, design, y, rng):
        """Fit the augmented multinomial logit and draw the coefficients."""
        if not isinstance(self.draw_parameters, (bool, np.bool_)):
            raise ValueError(
                f"{self._name}: draw_parameters must be True or False, "
                f"got {self.draw_parameters!r}."
            )
        X, ridge, max_iter = design.X, float(self.ridge), int(self.max_iter)
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"{self._name}: y must hold category codes 0, 1, ..., K - 1.")
        classes, index = np.unique(y, return_inverse=True)
        k = classes.shape[0]
        p = X.shape[1]
        self.classes_ = classes
        self.n_features_in_ = p
        if k == 1:
            self.beta_hat_ = np.zeros((p, 0))
            self.beta_star_ = np.zeros((p, 0))
            self.cov_ = np.zeros((0, 0))
            self.n_iter_ = 0
            self.converged_ = True
            return self
        Xa, ya, wa = augment_categorical(X, index.astype(float), np.arange(k, dtype=float))
        try:
            fit = fit_multinomial(Xa, ya, k, wa, ridge=ridge, max_iter=max_iter)
        except FloatingPointError as exc:
            raise FloatingPointError(f"{self._name}: {exc}") from exc
        if self.draw_parameters:
            theta = draw_from_precision(fit.coef, fit.hessian, rng, self._name, fit.active)
        else:
            theta = fit.coef
        self.beta_hat_ = fit.coef.reshape(k - 1, p).T
        self.beta_star_ = theta.reshape(k - 1, p).T
        self.cov_ = _covariance(fit.hessian)
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        return self

    def predict_proba(self, design: Design) -> np.ndarray:
        """Category probabilities under the coefficients ``beta_star_``.

        Parameters
        ----------
        design : Design
            Design of the rows.

        Returns
        -------
        proba : ndarray of shape (n_rows, k)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self, "beta_star_")
        return self._proba(self._check_rows(design).X)

    def _proba(self, X):
        eta = np.column_stack([np.zeros(X.shape[0]), X @ self.beta_star_])
        eta -= eta.max(axis=1, keepdims=True)
        proba = np.exp(eta)
        proba /= proba.sum(axis=1, keepdims=True)
        _check_finite_array(proba, "the predicted probabilities", self._name)
        return proba

    def _sample(self, design, rng, observed):
        """Draw category codes from the multinomial probabilities."""
        proba = self._proba(design.X)
        u = rng.random(proba.shape[0])
        idx = (u[:, None] > np.cumsum(proba, axis=1)[:, :-1]).sum(axis=1)
        return self.classes_[idx]
