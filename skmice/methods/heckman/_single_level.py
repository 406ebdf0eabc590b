"""``heckman``: the single-level Heckman selection model."""

from __future__ import annotations

import numpy as np

from .._base import Design, register_method
from ._common import _SelectionModel


@register_method("heckman")
class Heckman(_SelectionModel):
    """Single-level Heckman selection model imputation (``heckman``).

    Heckman's model for continuous targets, the bivariate probit with
    sample selection for binary ones (codes 0 and 1), fitted by penalised
    maximum likelihood on every row; ``theta* ~ N(theta_hat, H^-1)`` is
    drawn from the normal approximation of the posterior, and the missing
    values from the distribution of the target given non-selection. The
    model is that of :class:`TwoLevelHeckman` with every row in one
    cluster. Needs no cluster column; with one, the cluster codes are
    ignored.

    Predictor codes as for :class:`TwoLevelHeckman`: 1, 2 and -4 put a
    predictor in the outcome equation (``design.X``), 1, 2 and -3 in the
    selection equation (``design.W``), which needs at least one variable of
    its own (code -3, the exclusion restriction).

    Parameters
    ----------
    outcome : {"auto", "continuous", "binary"}, default="auto"
        Model for the target: ``"auto"`` uses the bivariate probit when every
        observed value is 0 or 1.
    min_observed : int, default=10
        Fewest observed values (and at least the number of parameters plus
        2) for the regular fit. With fewer, or (binary) with one outcome
        observed only, all rows are still fitted together, without start
        values from the previous fit, and ``fallback_`` is True.
    penalty : float, default=1e-3
        Ridge penalty ``penalty * |theta|^2 / 2`` on the coefficients (in
        standardised units): keeps the estimates finite under separation or
        collinearity; negligible otherwise.
    rho_penalty : float, default=1.0
        Precision of a normal prior on ``atanh rho`` centred at 0 (rho in
        (-0.96, 0.96) with 95% probability): keeps a weakly identified fit
        away from ``|rho| = 1``.
    max_iter : int, default=100
        Maximum Newton iterations of the fit.

    Attributes
    ----------
    outcome_ : str
        ``"continuous"`` or ``"binary"``.
    theta_hat_ : ndarray of shape (1, d)
        Penalised estimate of ``(beta, gamma, atanh rho[, log sigma])`` for
        the standardised designs (NaN when ``fallback_``; ``mu_`` holds it).
    mu_ : ndarray of shape (d,)
        The estimate; ``cov_mu_`` its covariance (inverse Hessian).
    theta_star_ : ndarray of shape (1, d)
        Parameters drawn in the last ``fit``.
    rho_ : float
        Estimate of ``rho``.
    rho_interval_ : tuple of float
        95% interval of ``rho`` (normal in ``atanh rho``).
    rho_weakly_identified_ : bool
        True when ``rho_interval_`` is wider than 1; ``fit`` then warns once
        (:class:`~skmice.exceptions.WeakIdentificationWarning`).
    fallback_ : bool
        True when the rows did not pass ``min_observed``.

    See Also
    --------
    TwoLevelHeckman : the two-level version.
    DeltaNormal, DeltaLogistic : delta adjustment for sensitivity analyses.

    Notes
    -----
    ``fit`` receives every row (``needs_all_rows``): ``y`` is NaN where the
    target is missing, and the selection indicator is ``~isnan(y)``. When
    ``fit`` sees the same data again the estimate is reused and only the
    draws are renewed.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, Heckman
    >>> rng = np.random.default_rng(1)
    >>> n = 2000
    >>> x, z = rng.standard_normal(n), rng.standard_normal(n)
    >>> e, u = rng.multivariate_normal([0, 0], [[1, -0.5], [-0.5, 1]], size=n).T
    >>> y = (x + e > 0).astype(float)
    >>> observed = 0.8 + 0.3 * x + z + u > 0
    >>> d = Design(X=np.column_stack([np.ones(n), x]), W=np.column_stack([np.ones(n), x, z]))
    >>> m = Heckman().fit(d, np.where(observed, y, np.nan), rng)
    >>> m.outcome_, bool(-0.9 < m.rho_ < -0.1)
    ('binary', True)
    """

    needs_groups = False
    _name = "Heckman ('heckman')"

    def __init__(
        self, outcome="auto", min_observed=10, penalty=1e-3, rho_penalty=1.0, max_iter=100
    ):
        self.outcome = outcome
        self.min_observed = min_observed
        self.penalty = penalty
        self.rho_penalty = rho_penalty
        self.max_iter = max_iter

    def _clusters(self, design: Design, n: int):
        """Every row in one cluster (the design's cluster codes, if any, are ignored)."""
        return np.zeros(n, dtype=np.int64), 1
