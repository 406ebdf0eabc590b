"""Delta adjustment (``mnar.norm``, ``mnar.logreg``): MAR imputations shifted by ``delta``.

The MAR model's imputations shifted by ``delta`` (on the logit scale for
binary targets) in all or some of the rows to impute: the pattern-mixture
model of a sensitivity analysis under missing not at random (see
:mod:`skmice.sensitivity`).
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from scipy.special import expit
from sklearn.utils._param_validation import Interval

from ._base import register_method
from ._categorical import Logistic
from ._linear import BayesianNormal

__all__ = ["DeltaLogistic", "DeltaNormal"]


def _delta_rows(rows, X, name):
    if rows is None:
        return np.ones(X.shape[0], dtype=bool)
    mask = np.asarray(rows(X))
    if mask.shape != (X.shape[0],):
        raise ValueError(
            f"{name}: rows(X) must return one value per row ({X.shape[0]}), got shape {mask.shape}."
        )
    return mask.astype(bool)


class _DeltaAdjustment:
    """The ``delta`` and ``rows`` parameters of a delta-adjusted method (a mixin).

    Listed before the MAR method among the bases: ``fit`` is the MAR
    model's; the subclass's ``_sample`` shifts the rows
    :meth:`_shifted_rows` selects.
    """

    _delta_constraints = {
        "delta": [Interval(Real, None, None, closed="neither")],
        "rows": [callable, None],
    }

    def _shifted_rows(self, X: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows of ``X`` whose imputations are shifted."""
        return _delta_rows(self.rows, X, self._name)


@register_method("mnar.norm")
class DeltaNormal(_DeltaAdjustment, BayesianNormal):
    """Bayesian linear regression imputation shifted by ``delta`` (``mnar.norm``).

    The imputations of :class:`~skmice.methods.BayesianNormal` (``norm``)
    plus ``delta`` in the chosen rows: the delta-adjustment (pattern-mixture)
    model of a sensitivity analysis under MNAR, where the missing values are
    assumed to be ``delta`` higher than MAR predicts. As R mice's
    ``mnar.norm`` with a constant shift.

    Parameters
    ----------
    delta : float, default=0.0
        Shift added to the imputations (0: the MAR model).
    rows : callable or None, default=None
        None shifts every imputed row; a callable receives the design matrix
        ``X`` of the rows to impute (intercept first, then the predictors in
        the predictor matrix's column order, categories as dummies) and
        returns a boolean mask of the rows to shift.
    ridge : float, default=1e-5
        As in :class:`~skmice.methods.BayesianNormal`.

    Attributes
    ----------
    beta_star_, sigma_star_
        As in :class:`~skmice.methods.BayesianNormal`.

    See Also
    --------
    DeltaLogistic : binary targets.
    skmice.sensitivity.delta_analysis : run the analysis over a grid of deltas.

    References
    ----------
    Van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed.,
    section 3.8.6. Chapman & Hall/CRC.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import DeltaNormal, Design
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(200), rng.standard_normal(200)])
    >>> y = X @ [1.0, 2.0] + rng.standard_normal(200)
    >>> mar = DeltaNormal(delta=0.0).fit(Design(X), y, np.random.default_rng(1))
    >>> mnar = DeltaNormal(delta=-2.0).fit(Design(X), y, np.random.default_rng(1))
    >>> a = mar.sample(Design(X[:5]), np.random.default_rng(2))
    >>> b = mnar.sample(Design(X[:5]), np.random.default_rng(2))
    >>> np.round(b - a, 6).tolist()
    [-2.0, -2.0, -2.0, -2.0, -2.0]
    """

    _parameter_constraints = {**BayesianNormal._parameter_constraints,
                              **_DeltaAdjustment._delta_constraints}

    def __init__(self, delta=0.0, rows=None, ridge=1e-5):
        self.delta = delta
        self.rows = rows
        self.ridge = ridge

    _name = "DeltaNormal ('mnar.norm')"

    def _sample(self, design, rng, observed):
        """Draw the ``norm`` imputations and add ``delta`` to the chosen rows."""
        values = super()._sample(design, rng, observed)
        return values + float(self.delta) * self._shifted_rows(design.X)


@register_method("mnar.logreg")
class DeltaLogistic(_DeltaAdjustment, Logistic):
    """Logistic regression imputation with a log-odds offset ``delta`` (``mnar.logreg``).

    As :class:`~skmice.methods.Logistic` (``logreg``), but the imputations of
    the chosen rows are drawn from ``Bernoulli(logistic(X beta* + delta))``:
    the odds of category 1 among the missing values are ``exp(delta)`` times
    those MAR predicts (delta adjustment on the logit scale).

    Parameters
    ----------
    delta : float, default=0.0
        Log odds ratio added for the chosen rows (0: the MAR model).
    rows : callable or None, default=None
        As in :class:`DeltaNormal`.
    ridge : float, default=1e-5
    max_iter : int, default=100
        As in :class:`~skmice.methods.Logistic`.

    Attributes
    ----------
    beta_star_
        As in :class:`~skmice.methods.Logistic`.

    See Also
    --------
    DeltaNormal : continuous targets.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import DeltaLogistic, Design
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(400), rng.standard_normal(400)])
    >>> y = (rng.random(400) < 0.3).astype(float)
    >>> m = DeltaLogistic(delta=3.0).fit(Design(X), y, rng)
    >>> bool(m.sample(Design(X), rng).mean() > 0.7)
    True
    """

    _parameter_constraints = {**Logistic._parameter_constraints,
                              **_DeltaAdjustment._delta_constraints}

    def __init__(self, delta=0.0, rows=None, ridge=1e-5, max_iter=100):
        self.delta = delta
        self.rows = rows
        self.ridge = ridge
        self.max_iter = max_iter

    _name = "DeltaLogistic ('mnar.logreg')"

    def _sample(self, design, rng, observed):
        """Draw 0/1 codes with the log odds shifted by ``delta`` in the chosen rows."""
        X = design.X
        prob = expit(X @ self.beta_star_ + float(self.delta) * self._shifted_rows(X))
        return (rng.random(X.shape[0]) <= prob).astype(float)
