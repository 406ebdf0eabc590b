"""statsmodels' OLS/WLS and Logit as scikit-learn estimators that keep their results.

Used as the estimator of :class:`~skmice.MultipleImputationPipeline`, they
give :meth:`~skmice.MultipleImputationPipeline.pool` a covariance matrix per
imputation, hence full Rubin's rules (standard errors, degrees of freedom,
fraction of missing information).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["StatsmodelsClassifier", "StatsmodelsRegressor"]


class _StatsmodelsLinearModel(BaseEstimator):
    """What the two adapters share: the design matrix, the results, the linear predictor."""

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def _exog(self, X):
        """The design matrix as a DataFrame named like skmice.analysis does."""
        names = getattr(self, "feature_names_in_", None)
        names = (
            [str(n) for n in names] if names is not None else [f"x{j}" for j in range(X.shape[1])]
        )
        frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=names)
        if self.fit_intercept:
            frame.insert(0, "Intercept", 1.0)
        return frame

    def _keep(self, results):
        """Store the statsmodels ``results``; return (intercept, coefficients)."""
        self.results_ = results
        params = np.asarray(results.params, dtype=float)
        if self.fit_intercept:
            return float(params[0]), params[1:]
        return 0.0, params

    def _linear_predictor(self, X):
        """``X @ coef + intercept`` for new data."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ np.ravel(self.coef_) + np.ravel(self.intercept_)[0]


class StatsmodelsRegressor(RegressorMixin, _StatsmodelsLinearModel):
    """Ordinary (or weighted) least squares by statsmodels, as a scikit-learn regressor.

    A scikit-learn estimator that keeps the statsmodels results
    (``results_``), so that :meth:`MultipleImputationPipeline.pool` can
    combine the m fits by Rubin's rules with their covariance matrices.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add an intercept (named ``Intercept``).

    Attributes
    ----------
    results_ : statsmodels RegressionResults
        The fit (``summary()``, ``cov_params()``, ``bse``...).
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    See Also
    --------
    StatsmodelsClassifier : binary logistic regression.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice import StatsmodelsRegressor
    >>> X = np.arange(10.0).reshape(-1, 1); y = 1 + 2 * X[:, 0]
    >>> reg = StatsmodelsRegressor().fit(X, y)
    >>> round(float(reg.intercept_), 6), np.round(reg.coef_, 6).tolist()
    (1.0, [2.0])
    """

    def fit(self, X, y, sample_weight=None):
        """Fit by (weighted) least squares.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, not all zero: weighted least squares
            (statsmodels ``WLS``, weights inversely proportional to the
            variance of the errors). Rows of weight zero are left out of
            the fit, as if they had been removed from X and y, so that
            ``results_`` (number of observations, residual degrees of
            freedom, covariance matrix) is that of the fit without them.

        Returns
        -------
        self : StatsmodelsRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``sample_weight`` has negative values, is all zero, or does
            not have one value per row of X.
        """
        import statsmodels.api as sm

        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if sample_weight is None:
            model = sm.OLS(pd.Series(y, name="y"), self._exog(X))
        else:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            kept = weights > 0
            if not kept.any():  # raised by _check_sample_weight too since scikit-learn 1.7
                raise ValueError("sample_weight must contain at least one non-zero weight.")
            model = sm.WLS(
                pd.Series(y[kept], name="y"), self._exog(X[kept]), weights=weights[kept]
            )
        self.intercept_, self.coef_ = self._keep(model.fit())
        return self

    def predict(self, X):
        """Linear predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            ``X @ coef_ + intercept_``.
        """
        return self._linear_predictor(X)


class StatsmodelsClassifier(ClassifierMixin, _StatsmodelsLinearModel):
    """Binary logistic regression by statsmodels (Logit), as a scikit-learn classifier.

    Unpenalised maximum likelihood (scikit-learn's LogisticRegression is
    L2-penalised by default), with the covariance matrix kept in
    ``results_`` for Rubin's rules in :meth:`MultipleImputationPipeline.pool`.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add an intercept (named ``Intercept``).

    Attributes
    ----------
    results_ : statsmodels LogitResults
    classes_ : ndarray of shape (2,)
        The second class is the modelled event.
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    See Also
    --------
    StatsmodelsRegressor : least squares.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice import StatsmodelsClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 1))
    >>> y = (X[:, 0] + rng.logistic(size=200) > 0).astype(int)
    >>> clf = StatsmodelsClassifier().fit(X, y)
    >>> clf.predict_proba(X[:3]).shape, clf.classes_.tolist()
    ((3, 2), [0, 1])
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # a binary model: y with more than two classes is refused in fit
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y):
        """Fit by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels of two classes; the second of ``np.unique(y)`` is the
            modelled event.

        Returns
        -------
        self : StatsmodelsClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If y does not have exactly two classes.
        """
        import statsmodels.api as sm

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) > 2:
            raise ValueError(
                "Only binary classification is supported: StatsmodelsClassifier is "
                f"binary, but y has {len(classes)} classes ({classes.tolist()[:10]})."
            )
        if len(classes) < 2:
            raise ValueError(
                "StatsmodelsClassifier is binary: y must have 2 classes, but it has "
                f"1 class ({classes.tolist()})."
            )
        self.classes_ = classes
        event = (y == self.classes_[1]).astype(np.float64)
        model = sm.Logit(pd.Series(event, name="y"), self._exog(X))
        intercept, coef = self._keep(model.fit(disp=0))
        self.intercept_, self.coef_ = np.array([intercept]), coef[None, :]
        return self

    def decision_function(self, X):
        """Linear predictor (log odds of the second class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._linear_predictor(X)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """The more probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[1]`` where the log odds are positive, else ``classes_[0]``.
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
