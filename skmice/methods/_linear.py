"""Single-level methods for continuous targets: ``norm`` and ``pmm``.

Both draw the parameters of a normal linear regression from their posterior
(:func:`~skmice.methods._draws.draw_normal_linear`, R's ``.norm.draw``).
``norm`` imputes from the drawn normal model; ``pmm`` copies the observed
value of a donor whose predicted mean is close.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ._base import ConditionalMethod, register_method
from ._draws import (
    _check_finite_array,
    _least_squares,
    _match_sorted,
    _normal_draw,
    _sort_donors,
)

__all__ = ["BayesianNormal", "PredictiveMeanMatching"]


def _draw_linear_parameters(method, X, y, rng):
    """Draw ``beta*`` and ``sigma*`` of a normal linear model (R's ``.norm.draw``).

    Shared by ``norm`` and ``pmm``: fits least squares on the observed rows,
    draws the parameters and stores ``beta_hat_``, ``beta_star_``,
    ``sigma_star_``, ``ridge_applied_`` and ``aliased_`` on ``method``.
    Returns the least-squares fit.
    """
    ls = _least_squares(X, y, float(method.ridge), method._name)
    beta_star, sigma_star = _normal_draw(ls, rng, method._name)
    method.beta_hat_ = ls.coef
    method.beta_star_ = beta_star
    method.sigma_star_ = sigma_star
    method.ridge_applied_ = ls.ridged
    method.aliased_ = ~ls.active
    return ls


@register_method("norm")
class BayesianNormal(ConditionalMethod):
    """Bayesian linear regression imputation (mice's ``norm``).

    On the observed rows, the least-squares estimate ``beta_hat`` and
    ``V = (X'X)^-1`` are computed; ``sigma* = sqrt(RSS / g)`` with
    ``g ~ chi2(df)``, ``df = max(n_obs - p, 1)``, and ``beta* = beta_hat +
    sigma* chol(V)' z`` are drawn; the imputations are ``X_mis beta* +
    sigma* e`` with standard normal ``e`` (Rubin 1987, p. 167).

    Parameters
    ----------
    ridge : float, default=1e-5
        Relative ridge: ``ridge * diag(X'X)`` is added to ``X'X`` only when it
        is numerically singular, as R's ``estimice`` (see Notes).

    Attributes
    ----------
    beta_hat_ : ndarray of shape (p,)
        Least-squares estimate on the observed rows.
    beta_star_ : ndarray of shape (p,)
        Regression weights drawn in the last ``fit``.
    sigma_hat_ : float
        ``sqrt(RSS / df)``.
    sigma_star_ : float
        Residual standard deviation drawn in the last ``fit``.
    df_ : int
        Residual degrees of freedom ``max(n_obs - p, 1)``.
    ridge_applied_ : bool
        Whether the ridge was added (nearly collinear kept columns).
    aliased_ : ndarray of bool of shape (p,)
        Columns whose weight is fixed at 0 (zero or aliased on the observed
        rows).
    n_features_in_ : int
        Number of columns of the design ``p``.

    See Also
    --------
    PredictiveMeanMatching : the same draw, imputing observed values.

    Notes
    -----
    Supported target kind: ``"continuous"``. The system is solved by the
    normal equations of ``X'X`` scaled to a unit diagonal, judged singular
    when its reciprocal condition number is below ``1e-12``. When it is
    singular (``n_obs < p``, exactly collinear or constant predictors among
    the observed rows), the aliased columns are found as R's ``lm.fit``
    does (residual norm on the preceding columns below ``1e-7`` times the
    column norm) and get the weight 0 in both ``beta_hat`` and ``beta*``, as
    in R (mice sets the NA coefficients of aliased columns to 0); the ridge
    is then added only if the kept columns are still nearly singular
    (strong but inexact collinearity). R draws ``beta*`` of the kept columns
    from the ridged inverse of the *full* ``X'X``, whose variance along the
    aliased directions is of order ``sigma^2 / ridge``: an imputation
    blows up when a predictor constant among the observed rows varies among
    the missing ones. Drawing from the kept columns' own posterior avoids
    that and equals what R does after its ``remove.lindep`` step.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    Wiley, p. 167.

    Van Buuren, S. and Groothuis-Oudshoorn, K. (2011). mice: Multivariate
    imputation by chained equations in R. *Journal of Statistical Software*,
    45(3), 1-67.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import BayesianNormal, Design
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(100)
    >>> X = np.column_stack([np.ones(100), x])
    >>> y = 1 + 2 * x + rng.standard_normal(100)
    >>> method = BayesianNormal().fit(Design(X[:80]), y[:80], rng)
    >>> method.sample(Design(X[80:]), rng).shape
    (20,)
    >>> bool(np.allclose(method.beta_hat_, [1, 2], atol=0.3))
    True
    """

    supported_kinds = ("continuous",)
    _parameter_constraints = {"ridge": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, ridge=1e-5):
        self.ridge = ridge

    _name = "BayesianNormal ('norm')"

    def _fit(self, design, y, rng):
        """Draw ``beta*`` and ``sigma*`` from their posterior given the observed rows."""
        ls = _draw_linear_parameters(self, design.X, y, rng)
        self.sigma_hat_ = float(np.sqrt(ls.residuals @ ls.residuals / ls.df))
        self.df_ = ls.df

    def _sample(self, design, rng, observed):
        """Draw ``X beta* + sigma* e`` for the rows of ``design``."""
        X = design.X
        return X @ self.beta_star_ + self.sigma_star_ * rng.standard_normal(X.shape[0])


@register_method("pmm")
class PredictiveMeanMatching(ConditionalMethod):
    """Predictive mean matching (mice's ``pmm``).

    The parameters are drawn as in :class:`BayesianNormal`. With the
    default type-1 matching, the predicted means of the observed rows use the
    estimate (``yhat_obs = X_obs beta_hat``) and those of the rows to impute
    use the draw (``yhat_mis = X_mis beta*``). Each row to impute gets the
    observed value of one of the ``donors`` observed rows whose ``yhat_obs``
    is closest to its ``yhat_mis``, drawn uniformly; ties are broken at
    random. Imputed values are always observed values, bit for bit.

    Parameters
    ----------
    donors : int, default=5
        Size of the donor pool (``min(donors, n_obs)`` is used).
    matchtype : {0, 1, 2}, default=1
        ``0``: ``beta_hat`` for both sides (improper); ``1``: ``beta_hat`` for
        the donors and ``beta*`` for the rows to impute (R's default);
        ``2``: ``beta*`` for both sides.
    ridge : float, default=1e-5
        Relative ridge added to ``X'X`` only when it is singular, as in
        :class:`BayesianNormal`.

    Attributes
    ----------
    beta_hat_ : ndarray of shape (p,)
        Least-squares estimate.
    beta_star_ : ndarray of shape (p,)
        Drawn regression weights.
    sigma_star_ : float
        Drawn residual standard deviation (enters through ``beta*``).
    ridge_applied_ : bool
        Whether the ridge was added.
    aliased_ : ndarray of bool of shape (p,)
        Columns whose weight is fixed at 0 (zero or aliased on the observed
        rows), as in :class:`BayesianNormal`.
    donors_ : int
        Donor-pool size in use, ``min(donors, n_obs)``.
    donor_yhat_ : ndarray of shape (n_obs,)
        Predicted means of the donors, sorted (ties in random order).
    donor_values_ : ndarray of shape (n_obs,)
        Observed values of the donors, in the order of ``donor_yhat_``.
    n_features_in_ : int
        Number of columns of the design.

    See Also
    --------
    BayesianNormal : imputes from the drawn normal model.

    Notes
    -----
    Supported target kinds: ``"continuous"``, ``"binary"`` and
    ``"categorical"`` (matching on the numeric codes, as R does with
    ``quantify = FALSE``). Matching is vectorised: the donors are sorted once
    in ``fit`` (shuffled first, so that tied predictions come in random
    order); ``sample`` runs one :func:`numpy.searchsorted` and finds, for
    every row, the contiguous block of its ``donors`` nearest donors among
    the ``2 * donors`` around its insertion point (see
    :func:`~skmice.methods._draws.pmm_match`). R's ``matchindex`` draws the
    rank of the donor first and walks outwards; both choose uniformly among
    the same nearest donors, preferring the right-hand one on equal
    distances.

    References
    ----------
    Little, R. J. A. (1988). Missing-data adjustments in large surveys.
    *Journal of Business & Economic Statistics*, 6, 287-296.

    Morris, T. P., White, I. R. and Royston, P. (2014). Tuning multiple
    imputation by predictive mean matching and local residual draws. *BMC
    Medical Research Methodology*, 14, 75.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import PredictiveMeanMatching, Design
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(100)
    >>> X = np.column_stack([np.ones(100), x])
    >>> y = np.round(1 + 2 * x + rng.standard_normal(100))
    >>> method = PredictiveMeanMatching(donors=5).fit(Design(X[:80]), y[:80], rng)
    >>> imputed = method.sample(Design(X[80:]), rng)
    >>> bool(np.isin(imputed, y[:80]).all())
    True
    """

    supported_kinds = ("continuous", "binary", "categorical")

    _parameter_constraints = {
        "donors": [Interval(Integral, 1, None, closed="left")],
        "matchtype": [Interval(Integral, 0, 2, closed="both")],
        "ridge": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, donors=5, matchtype=1, ridge=1e-5):
        self.donors = donors
        self.matchtype = matchtype
        self.ridge = ridge

    _name = "PredictiveMeanMatching ('pmm')"

    def _fit(self, design, y, rng):
        """Draw the parameters and prepare the sorted donor pool."""
        X = design.X
        ls = _draw_linear_parameters(self, X, y, rng)
        self.donors_ = int(min(self.donors, y.shape[0]))
        beta_obs = self.beta_star_ if self.matchtype == 2 else ls.coef
        self.donor_yhat_, self.donor_values_ = _sort_donors(X @ beta_obs, y, rng)

    def _sample(self, design, rng, observed):
        """Impute the observed value of a randomly chosen near donor."""
        yhat_mis = design.X @ (self.beta_hat_ if self.matchtype == 0 else self.beta_star_)
        _check_finite_array(yhat_mis, "the predicted means", self._name)
        return _match_sorted(self.donor_yhat_, self.donor_values_, yhat_mis, self.donors_, rng)
