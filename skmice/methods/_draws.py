"""Numerical kernels shared by the single-level conditional methods.

Plain functions on numpy arrays, no estimator state:

* :func:`draw_normal_linear`: the Bayesian linear regression draw of Rubin
  (1987), used by ``norm`` and ``pmm`` (R: ``.norm.draw`` / ``estimice``);
* :func:`pmm_match`: vectorised predictive mean matching (R: ``matchindex``);
* :func:`augment_categorical`: the augmentation of White, Daniel and Royston
  (2010) against perfect prediction (R: ``augment``);
* :func:`fit_logistic` and :func:`fit_multinomial`: penalised Newton (IRLS)
  fits with step halving, returning the estimate and the Hessian of the
  penalised negative log-likelihood;
* :func:`draw_from_precision`: a normal draw given a mean and a precision
  matrix.

Every kernel draws its randomness from a :class:`numpy.random.Generator`
passed in, and never returns NaN or infinity: a numerical failure that cannot
be recovered raises :class:`FloatingPointError`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import linalg
from scipy.special import expit

__all__ = [
    "NewtonFit",
    "augment_categorical",
    "draw_from_precision",
    "draw_normal_linear",
    "fit_logistic",
    "fit_multinomial",
    "pmm_match",
]

# Reciprocal condition number of the scaled cross-product matrix below which
# it is treated as singular and the ridge is added.
_RCOND_SINGULAR = 1e-12
# Relative residual norm below which a column is aliased (R's lm.fit tol).
_ALIAS_TOL = 1e-7
# Successive multipliers of the ridge when a Cholesky factorisation fails.
_MAX_ESCALATIONS = 12


# ---------------------------------------------------------------------------
# small helpers


def _check_finite_array(values, what: str, method: str) -> None:
    """Raise FloatingPointError if ``values`` holds NaN or infinity."""
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(
            f"{method}: {what} is not finite (numerical failure). Check the predictors "
            "for extreme values, near-constant columns or strong collinearity."
        )


def _is_singular(matrix: np.ndarray) -> bool:
    """Whether a symmetric PSD matrix with positive diagonal is numerically singular.

    Judged on the matrix scaled to a unit diagonal (so that badly scaled but
    independent columns are not mistaken for collinear ones): its reciprocal
    condition number, the ratio of the extreme eigenvalues, below
    ``_RCOND_SINGULAR``.
    """
    d = np.diag(matrix)
    if matrix.shape[0] == 0:
        return False
    if not np.all(np.isfinite(matrix)) or np.any(d <= 0):
        return True
    scale = 1.0 / np.sqrt(d)
    scaled = matrix * scale[:, None] * scale[None, :]
    eig = np.linalg.eigvalsh(0.5 * (scaled + scaled.T))
    return bool(eig[0] <= _RCOND_SINGULAR * eig[-1])


def _drop_aliased(X: np.ndarray, keep: np.ndarray, tol: float = _ALIAS_TOL) -> np.ndarray:
    """Drop aliased columns from the mask ``keep``, one at a time, in column order.

    Column ``j`` is aliased when the norm of its residual on the kept
    columns before it is below ``tol`` times its norm (the criterion of R's
    ``lm.fit``, whose aliased coefficients are NA, then set to 0 by mice).
    Each pass is one Householder QR of the kept columns; it runs only when
    the cross-product matrix is singular.
    """
    n = X.shape[0]
    idx = np.flatnonzero(keep)
    while idx.size:
        Xk = X[:, idx]
        r = np.linalg.qr(Xk, mode="r")
        diag = np.zeros(idx.size)
        m = min(n, idx.size)
        diag[:m] = np.abs(np.diagonal(r)[:m])
        bad = np.flatnonzero(diag < tol * np.linalg.norm(Xk, axis=0))
        if bad.size == 0:
            break
        idx = np.delete(idx, bad[0])
    out = np.zeros(X.shape[1], dtype=bool)
    out[idx] = True
    return out


def _independent_columns(
    X: np.ndarray, weights: np.ndarray | None = None, method: str = "fit"
) -> np.ndarray:
    """Boolean mask of the columns of ``X`` to keep in a fit.

    Columns that are zero on every row of positive weight are dropped; when
    the cross-product matrix of the others is singular, aliased columns are
    dropped too (:func:`_drop_aliased`).
    """
    rows = X if weights is None else X[weights > 0]
    keep = np.any(rows != 0, axis=0)
    sub = rows[:, keep]
    with np.errstate(over="ignore", invalid="ignore"):
        gram = sub.T @ sub
    _check_finite_array(gram, "the cross-product matrix X'X", method)
    if sub.shape[1] and _is_singular(gram):
        keep = _drop_aliased(rows, keep)
    return keep


def _cholesky_with_ridge(
    matrix: np.ndarray, ridge: float, method: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Scale a symmetric positive semi-definite matrix and factor it.

    The matrix ``A`` is scaled to ``C = S A S`` with ``S = diag(A)^(-1/2)``.
    When ``C`` is numerically singular (:func:`_is_singular`), ``ridge * I``
    is added to ``C``, which is adding ``ridge * diag(A)`` to ``A``; the
    ridge is multiplied by 10 until the Cholesky factorisation succeeds.

    Returns
    -------
    chol : ndarray of shape (k, k)
        Lower Cholesky factor of the (possibly ridged) scaled matrix.
    scale : ndarray of shape (k,)
        The diagonal of ``S``.
    ridged : bool
        Whether a ridge was added.
    """
    d = np.diag(matrix).copy()
    if not np.all(np.isfinite(matrix)) or np.any(d <= 0):
        raise FloatingPointError(
            f"{method}: the cross-product matrix is not finite or has a zero diagonal "
            "(numerical failure)."
        )
    scale = 1.0 / np.sqrt(d)
    scaled = matrix * scale[:, None] * scale[None, :]
    scaled = 0.5 * (scaled + scaled.T)
    if not _is_singular(scaled):
        try:
            return np.linalg.cholesky(scaled), scale, False
        except np.linalg.LinAlgError:
            pass
    eye = np.eye(scaled.shape[0])
    amount = ridge if ridge > 0 else 1e-12
    for _ in range(_MAX_ESCALATIONS + 1):
        try:
            chol = np.linalg.cholesky(scaled + amount * eye)
            if np.all(np.isfinite(chol)) and np.all(np.diag(chol) > 0):
                return chol, scale, True
        except np.linalg.LinAlgError:
            pass
        amount *= 10.0
    raise FloatingPointError(
        f"{method}: the cross-product matrix could not be factorised even with a ridge "
        "(numerical failure)."
    )


# ---------------------------------------------------------------------------
# Bayesian linear regression (norm, pmm)


class _LeastSquares(NamedTuple):
    coef: np.ndarray
    residuals: np.ndarray
    chol: np.ndarray
    scale: np.ndarray
    active: np.ndarray
    df: int
    ridged: bool


def _least_squares(X: np.ndarray, y: np.ndarray, ridge: float, method: str) -> _LeastSquares:
    """Least squares by the normal equations.

    When ``X'X`` is singular, aliased columns (zero, constant-collinear,
    beyond the rank) get the coefficient 0 as in R, and the ridge is added
    only if the matrix of the kept columns is still (nearly) singular.
    """
    n, p = X.shape
    with np.errstate(over="ignore", invalid="ignore"):
        xtx = X.T @ X
        xty = X.T @ y
    _check_finite_array(xtx, "the cross-product matrix X'X", method)
    _check_finite_array(xty, "the cross-product X'y", method)
    active = np.diag(xtx) > 0
    if _is_singular(xtx[np.ix_(active, active)]):
        active = _drop_aliased(X, active)
    coef = np.zeros(p)
    if not active.any():
        chol = np.zeros((0, 0))
        scale = np.zeros(0)
        ridged = False
    else:
        sub = xtx[np.ix_(active, active)]
        chol, scale, ridged = _cholesky_with_ridge(sub, ridge, method)
        coef[active] = scale * linalg.cho_solve((chol, True), scale * xty[active])
    residuals = y - X @ coef
    _check_finite_array(coef, "the least-squares estimate", method)
    _check_finite_array(residuals, "the residual vector", method)
    return _LeastSquares(coef, residuals, chol, scale, active, max(n - p, 1), ridged)


def _normal_draw(
    ls: _LeastSquares, rng: np.random.Generator, method: str
) -> tuple[np.ndarray, float]:
    """Draw ``(beta_star, sigma_star)`` given a least-squares fit."""
    rss = float(ls.residuals @ ls.residuals)
    sigma_star = float(np.sqrt(rss / rng.chisquare(ls.df)))
    beta_star = ls.coef.copy()
    k = ls.chol.shape[0]
    if k:
        z = rng.standard_normal(k)
        step = linalg.solve_triangular(ls.chol, z, lower=True, trans="T")
        beta_star[ls.active] += sigma_star * ls.scale * step
    _check_finite_array(beta_star, "the drawn regression weights", method)
    _check_finite_array(sigma_star, "the drawn residual standard deviation", method)
    return beta_star, sigma_star


def draw_normal_linear(
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    ridge: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw the parameters of a normal linear regression from their posterior.

    The draw of Rubin (1987, p. 167), as R mice's ``.norm.draw``: least
    squares ``beta_hat`` with ``V = (X'X)^-1``, degrees of freedom
    ``df = max(n - p, 1)``, ``sigma* = sqrt(RSS / g)`` with ``g ~ chi2(df)``
    and ``beta* = beta_hat + sigma* chol(V)' z``.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design of the observed rows (with the intercept column).
    y : ndarray of shape (n,)
        Observed values.
    rng : numpy.random.Generator
        Source of randomness.
    ridge : float, default=1e-5
        Relative ridge: ``ridge * diag(X'X)`` is added to ``X'X`` only when
        that matrix is numerically singular (as R's ``estimice``).

    Returns
    -------
    beta_hat : ndarray of shape (p,)
        Least-squares estimate.
    beta_star : ndarray of shape (p,)
        Drawn regression weights.
    sigma_star : float
        Drawn residual standard deviation.

    Notes
    -----
    Singularity is judged on ``X'X`` scaled to unit diagonal: its reciprocal
    condition number (ratio of extreme eigenvalues) below ``1e-12``. R's
    ``solve`` fails at a reciprocal condition number of about ``2.2e-16`` on
    the unscaled matrix; the scaled test does not mistake badly scaled
    predictors for collinear ones. When ``X'X`` is singular, the aliased
    columns (found as by R's ``lm.fit``) get the weight 0 in both
    ``beta_hat`` and ``beta_star`` (as mice's ``rank.adjust``) and the kept
    columns are drawn from their own posterior, ridged only if still nearly
    singular; see :class:`~skmice.methods.BayesianNormal`.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    Wiley, p. 167.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import draw_normal_linear
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(200)
    >>> X = np.column_stack([np.ones(200), x])
    >>> y = 1 + 2 * x + rng.standard_normal(200)
    >>> beta_hat, beta_star, sigma_star = draw_normal_linear(X, y, rng)
    >>> bool(np.allclose(beta_hat, [1, 2], atol=0.3))
    True
    >>> bool(0.7 < sigma_star < 1.3)
    True
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    ls = _least_squares(X, y, ridge, "draw_normal_linear")
    beta_star, sigma_star = _normal_draw(ls, rng, "draw_normal_linear")
    return ls.coef, beta_star, sigma_star


# ---------------------------------------------------------------------------
# predictive mean matching


def _sort_donors(
    yhat_obs: np.ndarray, y_obs: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sort the donors by predicted value, ties in random order.

    As R's ``matchindex``: shuffle, then a stable sort.
    """
    perm = rng.permutation(yhat_obs.shape[0])
    order = perm[np.argsort(yhat_obs[perm], kind="stable")]
    return yhat_obs[order], y_obs[order]


def _match_sorted(
    yhat_sorted: np.ndarray,
    values_sorted: np.ndarray,
    yhat_mis: np.ndarray,
    donors: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one of the ``donors`` nearest donors for every target.

    ``yhat_sorted`` must be sorted increasingly (``values_sorted`` aligned).
    The ``k`` nearest neighbours of a value ``v`` in a sorted array ``a``
    form a contiguous block ``a[s:s + k]`` whose start lies within ``k``
    places before the insertion point ``i`` of ``v``. Sliding the block one
    place to the right helps while ``a[s + k] - v <= v - a[s]``, a condition
    that holds for the first candidate starts and fails for the later ones,
    so ``s`` is the first candidate plus the number of starts where it holds:
    ``k`` vectorised comparisons, no sort. On equal distances the right-hand
    donor is preferred, as in R's ``matchindex``. The targets are processed in
    sorted order so that the look-ups are local in memory.
    """
    n1 = yhat_sorted.shape[0]
    n0 = yhat_mis.shape[0]
    if n0 == 0:
        return values_sorted[:0].copy()
    k = int(min(max(donors, 1), n1))
    order = np.argsort(yhat_mis)
    target = yhat_mis[order]
    pos = np.searchsorted(yhat_sorted, target, side="left")
    first = np.maximum(pos - k, 0)
    last = np.minimum(pos, n1 - k)  # starts < last may slide right
    start = first.copy()
    for j in range(k):  # k comparisons over all targets, not a loop over rows
        s = first + j
        right = yhat_sorted[np.minimum(s + k, n1 - 1)] - target
        left = target - yhat_sorted[s]
        start += (s < last) & (right <= left)
    chosen = np.empty(n0, dtype=np.intp)
    chosen[order] = start + rng.integers(k, size=n0)
    return values_sorted[chosen]


def pmm_match(
    yhat_obs: np.ndarray,
    yhat_mis: np.ndarray,
    y_obs: np.ndarray,
    donors: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Predictive mean matching: copy the value of a randomly chosen near donor.

    For every entry of ``yhat_mis``, find the ``donors`` entries of
    ``yhat_obs`` closest to it and return the ``y_obs`` of one of them, drawn
    uniformly. Ties among the predicted values are broken at random (as R's
    ``matchindex``, which shuffles the donors before a stable sort).

    Parameters
    ----------
    yhat_obs : ndarray of shape (n_obs,)
        Predicted values of the donors.
    yhat_mis : ndarray of shape (n_mis,)
        Predicted values of the rows to impute.
    y_obs : ndarray of shape (n_obs,)
        Observed values of the donors.
    donors : int
        Size of the donor pool; ``min(donors, n_obs)`` is used.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    values : ndarray of shape (n_mis,)
        Values copied from ``y_obs`` (bit for bit).

    Notes
    -----
    Vectorised: one sort of ``yhat_obs`` and of ``yhat_mis``, one
    :func:`numpy.searchsorted`, then ``donors`` vectorised comparisons
    locate, for every target, the block of its ``donors`` nearest donors
    among the ``2 * donors`` around its insertion point (the nearest
    neighbours in a sorted array are contiguous); the cost is
    ``O(n_obs log n_obs + n_mis log n_mis + n_mis * donors)``.

    References
    ----------
    Little, R. J. A. (1988). Missing-data adjustments in large surveys.
    *Journal of Business & Economic Statistics*, 6, 287-296.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import pmm_match
    >>> rng = np.random.default_rng(0)
    >>> pmm_match(np.array([0., 1., 2., 10.]), np.array([9.]),
    ...           np.array([5., 6., 7., 8.]), donors=1, rng=rng)
    array([8.])
    """
    yhat_obs = np.asarray(yhat_obs, dtype=float)
    yhat_mis = np.asarray(yhat_mis, dtype=float)
    y_obs = np.asarray(y_obs)
    if yhat_obs.shape != y_obs.shape or yhat_obs.ndim != 1:
        raise ValueError("pmm_match: yhat_obs and y_obs must be 1-D arrays of the same length.")
    if yhat_obs.shape[0] == 0:
        raise ValueError("pmm_match: there are no donors (yhat_obs is empty).")
    if isinstance(donors, bool) or not isinstance(donors, (int, np.integer)) or donors < 1:
        raise ValueError(f"pmm_match: donors must be a positive integer, got {donors!r}.")
    _check_finite_array(yhat_obs, "yhat_obs", "pmm_match")
    _check_finite_array(yhat_mis, "yhat_mis", "pmm_match")
    yhat_sorted, values_sorted = _sort_donors(yhat_obs, y_obs, rng)
    return _match_sorted(yhat_sorted, values_sorted, yhat_mis.ravel(), int(donors), rng)


# ---------------------------------------------------------------------------
# augmentation against perfect prediction


def augment_categorical(
    X: np.ndarray, y: np.ndarray, categories: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the pseudo-observations of White, Daniel and Royston (2010).

    For each of the ``p`` predictors (the columns of ``X`` after the
    intercept) and each of the ``k`` categories, two pseudo-rows are added
    with that predictor at its mean plus and minus half its standard
    deviation (clipped to its observed range), the other predictors at their
    means, and the target at that category; each pseudo-row has the weight
    ``(p + 1) / (2 p k)``, the real rows the weight 1. As R's ``augment``.

    Parameters
    ----------
    X : ndarray of shape (n, p + 1)
        Design with the intercept in column 0.
    y : ndarray of shape (n,)
        Target values.
    categories : ndarray of shape (k,)
        The categories to augment.

    Returns
    -------
    X_aug : ndarray of shape (n + 2 p k, p + 1)
    y_aug : ndarray of shape (n + 2 p k,)
    weights : ndarray of shape (n + 2 p k,)

    Notes
    -----
    Without predictors (``X`` only the intercept) nothing is added, as in R.
    The means, standard deviations and ranges are those of the rows given
    (the observed rows of the target); R computes them over all rows.

    References
    ----------
    White, I. R., Daniel, R. and Royston, P. (2010). Avoiding bias due to
    perfect prediction in multiple imputation of incomplete categorical
    variables. *Computational Statistics & Data Analysis*, 54, 2267-2275.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import augment_categorical
    >>> X = np.column_stack([np.ones(4), [0., 1., 2., 3.]])
    >>> Xa, ya, wa = augment_categorical(X, np.array([0., 0., 1., 1.]), np.array([0., 1.]))
    >>> Xa[4:, 1].round(3)
    array([2.145, 0.855, 2.145, 0.855])
    >>> ya[4:], wa[4:]
    (array([0., 0., 1., 1.]), array([0.5, 0.5, 0.5, 0.5]))
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    categories = np.asarray(categories, dtype=float)
    n, p1 = X.shape
    p = p1 - 1
    k = categories.shape[0]
    if p == 0 or k == 0 or n == 0:
        return X, y, np.ones(n)
    pred = X[:, 1:]
    with np.errstate(over="ignore", invalid="ignore"):
        mean = pred.mean(axis=0)
        sd = pred.std(axis=0, ddof=1) if n > 1 else np.zeros(p)
    nr = 2 * p * k
    rows = np.arange(nr)
    block = rows // (2 * k)  # the predictor varied in this pseudo-row
    sign = np.where(rows % 2 == 0, 0.5, -0.5)
    aug = np.tile(mean, (nr, 1))
    aug[rows, block] += sign * sd[block]
    aug = np.clip(aug, pred.min(axis=0), pred.max(axis=0))
    X_aug = np.vstack([X, np.column_stack([np.ones(nr), aug])])
    y_aug = np.concatenate([y, np.tile(np.repeat(categories, 2), p)])
    weights = np.concatenate([np.ones(n), np.full(nr, (p + 1) / nr)])
    return X_aug, y_aug, weights


# ---------------------------------------------------------------------------
# penalised Newton fits (logistic, multinomial)


class NewtonFit(NamedTuple):
    """Result of a penalised Newton fit.

    Attributes
    ----------
    coef : ndarray
        The estimate (penalised maximum likelihood).
    hessian : ndarray
        Hessian of the penalised negative log-likelihood at ``coef`` (the
        posterior precision of the normal approximation).
    n_iter : int
        Number of Newton steps taken.
    converged : bool
        Whether the relative change of the objective fell below the tolerance.
    active : ndarray of bool or None
        Which entries of ``coef`` were estimated; the others belong to zero or
        aliased columns, are fixed at 0 and have zero rows and columns in
        ``hessian``. None means all.
    """

    coef: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool
    active: np.ndarray | None = None


def _penalty(X: np.ndarray, weights: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge penalty per column: ``ridge`` times ``diag(X' W X)``."""
    d = weights @ (X * X)
    return ridge * d


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive definite system, adding jitter if needed."""
    d = np.diag(matrix)
    scale = 1.0 / np.sqrt(np.where(d > 0, d, 1.0))
    scaled = matrix * scale[:, None] * scale[None, :]
    jitter = 0.0
    eye = np.eye(matrix.shape[0])
    for _ in range(_MAX_ESCALATIONS + 1):
        try:
            chol = np.linalg.cholesky(scaled + jitter * eye)
            return scale * linalg.cho_solve((chol, True), scale * rhs)
        except np.linalg.LinAlgError:
            jitter = max(jitter * 10.0, 1e-12)
    raise np.linalg.LinAlgError("the Hessian is not positive definite")


def _newton(fun, theta0: np.ndarray, max_iter: int, tol: float, method: str) -> NewtonFit:
    """Maximise a concave objective by Newton steps with step halving.

    ``fun(theta, need_hessian)`` returns ``(objective, gradient, hessian)``
    where ``hessian`` is that of the *negative* objective (positive definite).
    """
    theta = theta0
    obj, grad, hess = fun(theta, True)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter used after the loop
        try:
            step = _solve_spd(hess, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        improved = False
        for _ in range(40):
            cand = theta + t * step
            cand_obj = fun(cand, False)[0]
            if np.isfinite(cand_obj) and cand_obj >= obj - 1e-12 * abs(obj):
                improved = True
                break
            t *= 0.5
        if not improved:
            # no ascent left at machine precision: converged if the Newton
            # decrement is negligible
            converged = bool(grad @ step <= 1e-8 * (abs(obj) + 1.0))
            break
        change = cand_obj - obj
        theta = cand
        obj, grad, hess = fun(theta, True)
        if abs(change) <= tol * (abs(obj) + 0.1):
            converged = True
            break
    _check_finite_array(theta, "the estimate", method)
    _check_finite_array(hess, "the Hessian", method)
    return NewtonFit(theta, hess, n_iter, converged)


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    ridge: float = 1e-5,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> NewtonFit:
    """Weighted logistic regression by penalised IRLS with step halving.

    Maximises ``sum_i w_i [y_i eta_i - log(1 + exp(eta_i))] - 0.5 sum_j
    lambda_j beta_j^2`` with ``eta = X beta`` and ``lambda_j = ridge *
    sum_i w_i x_ij^2``: a ridge relative to the scale of each column, which
    keeps the estimate finite under (quasi-)complete separation and is
    negligible otherwise.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design (with the intercept column).
    y : ndarray of shape (n,)
        Outcomes in ``[0, 1]``.
    weights : ndarray of shape (n,), optional
        Case weights (default 1).
    ridge : float, default=1e-5
        Relative ridge penalty.
    max_iter : int, default=100
        Maximum number of Newton steps.
    tol : float, default=1e-10
        Convergence tolerance on the relative change of the objective.

    Returns
    -------
    NewtonFit
        ``coef`` (p,), ``hessian`` (p, p) ``= X' W X + diag(lambda)`` whose
        inverse is the unscaled covariance of ``coef``, ``n_iter``,
        ``converged``, ``active``. Columns of ``X`` that are zero on every
        row with a positive weight, or aliased (as in R's ``lm.fit``), get
        the coefficient 0 and zero rows and columns in the Hessian.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import fit_logistic
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(5000)
    >>> X = np.column_stack([np.ones(5000), x])
    >>> y = (rng.random(5000) < 1 / (1 + np.exp(-(0.5 + x)))).astype(float)
    >>> bool(np.allclose(fit_logistic(X, y).coef, [0.5, 1.0], atol=0.15))
    True
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    active = _independent_columns(X, w, "fit_logistic")
    Xa = X[:, active]
    pen = _penalty(Xa, w, ridge)

    def fun(beta, need_hessian):
        eta = Xa @ beta
        obj = float(w @ (y * eta - np.logaddexp(0.0, eta)) - 0.5 * pen @ (beta * beta))
        if not need_hessian:
            return obj, None, None
        mu = expit(eta)
        grad = Xa.T @ (w * (y - mu)) - pen * beta
        hess = (Xa * (w * mu * (1.0 - mu))[:, None]).T @ Xa
        hess[np.diag_indices_from(hess)] += pen
        return obj, grad, hess

    beta0 = np.zeros(Xa.shape[1])
    if Xa.shape[1]:
        ybar = np.clip((w @ y) / max(w.sum(), 1e-300), 1e-6, 1 - 1e-6)
        lead = np.flatnonzero(np.all(Xa == 1.0, axis=0))
        if lead.size:
            beta0[lead[0]] = np.log(ybar / (1 - ybar))
        fit = _newton(fun, beta0, max_iter, tol, "fit_logistic")
    else:
        fit = NewtonFit(beta0, np.zeros((0, 0)), 0, True)
    return _expand(fit, active, 1)


def _expand(fit: NewtonFit, active: np.ndarray, n_blocks: int) -> NewtonFit:
    """Put the coefficients of inactive columns (0) back in place."""
    if np.all(active):
        return fit
    p = active.shape[0]
    mask = np.tile(active, n_blocks)
    coef = np.zeros(p * n_blocks)
    coef[mask] = fit.coef
    hess = np.zeros((p * n_blocks, p * n_blocks))
    hess[np.ix_(mask, mask)] = fit.hessian
    return NewtonFit(coef, hess, fit.n_iter, fit.converged, mask)


def fit_multinomial(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    weights: np.ndarray | None = None,
    ridge: float = 1e-5,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> NewtonFit:
    """Weighted multinomial logit by penalised Newton steps with step halving.

    Category 0 is the reference: ``P(y = c) = exp(x' b_c) / (1 + sum_d
    exp(x' b_d))`` for ``c = 1, ..., K - 1``. The penalty is the one of
    :func:`fit_logistic` on every coefficient.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Design (with the intercept column).
    y : ndarray of shape (n,)
        Category indices ``0, ..., n_classes - 1``.
    n_classes : int
        Number of categories ``K`` (at least 2).
    weights : ndarray of shape (n,), optional
        Case weights (default 1).
    ridge : float, default=1e-5
        Relative ridge penalty.
    max_iter : int, default=100
        Maximum number of Newton steps.
    tol : float, default=1e-10
        Convergence tolerance on the relative change of the objective.

    Returns
    -------
    NewtonFit
        ``coef`` of length ``(K - 1) p``, category-major (the coefficients of
        category 1, then of category 2, ...); reshape with
        ``coef.reshape(K - 1, p).T`` to get the (p, K - 1) matrix.
        ``hessian`` is the ((K - 1) p, (K - 1) p) Hessian in the same order.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import fit_multinomial
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(6000), rng.standard_normal(6000)])
    >>> eta = np.column_stack([np.zeros(6000), X @ [0.5, 1.0], X @ [-0.5, -1.0]])
    >>> prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    >>> y = (rng.random(6000)[:, None] > prob.cumsum(axis=1)).sum(axis=1)
    >>> fit = fit_multinomial(X, y, 3)
    >>> bool(np.allclose(fit.coef.reshape(2, 2).T, [[0.5, -0.5], [1, -1]], atol=0.15))
    True
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(np.intp)
    n, p = X.shape
    K = int(n_classes)
    if K < 2:
        raise ValueError("fit_multinomial: n_classes must be at least 2.")
    if n and (y.min() < 0 or y.max() >= K):
        raise ValueError("fit_multinomial: y must hold indices in [0, n_classes).")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    active = _independent_columns(X, w, "fit_multinomial")
    Xa = X[:, active]
    pa = Xa.shape[1]
    Km1 = K - 1
    pen = np.tile(_penalty(Xa, w, ridge), Km1)
    onehot = np.zeros((n, Km1))
    rows = np.flatnonzero(y > 0)
    onehot[rows, y[rows] - 1] = 1.0

    def fun(theta, need_hessian):
        B = theta.reshape(Km1, pa).T
        eta = Xa @ B
        top = np.maximum(eta.max(axis=1), 0.0)
        shifted = np.exp(eta - top[:, None])
        lse = top + np.log(np.exp(-top) + shifted.sum(axis=1))
        eta_y = np.zeros(n)
        eta_y[rows] = eta[rows, y[rows] - 1]
        obj = float(w @ (eta_y - lse) - 0.5 * pen @ (theta * theta))
        if not need_hessian:
            return obj, None, None
        prob = np.exp(eta - lse[:, None])
        grad = (Xa.T @ (w[:, None] * (onehot - prob))).T.ravel() - pen * theta
        hess = np.empty((Km1 * pa, Km1 * pa))
        for a in range(Km1):  # loop over category pairs, not rows
            for b in range(a, Km1):
                wab = w * prob[:, a] * ((a == b) - prob[:, b])
                block = (Xa * wab[:, None]).T @ Xa
                hess[a * pa : (a + 1) * pa, b * pa : (b + 1) * pa] = block
                if a != b:
                    hess[b * pa : (b + 1) * pa, a * pa : (a + 1) * pa] = block.T
        hess[np.diag_indices_from(hess)] += pen
        return obj, grad, hess

    theta0 = np.zeros(Km1 * pa)
    if pa:
        lead = np.flatnonzero(np.all(Xa == 1.0, axis=0))
        if lead.size:
            freq = np.bincount(y, weights=w, minlength=K) + 1e-6
            theta0.reshape(Km1, pa)[:, lead[0]] = np.log(freq[1:] / freq[0])
        fit = _newton(fun, theta0, max_iter, tol, "fit_multinomial")
    else:
        fit = NewtonFit(theta0, np.zeros((0, 0)), 0, True)
    return _expand(fit, active, Km1)


def draw_from_precision(
    mean: np.ndarray,
    precision: np.ndarray,
    rng: np.random.Generator,
    method: str = "draw",
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Draw from ``N(mean, precision^-1)``.

    With ``precision = L L'`` (Cholesky), the draw is ``mean + L'^-1 z``,
    whose covariance is ``(L L')^-1``. A precision that is not numerically
    positive definite gets an increasing relative jitter on its diagonal.

    Parameters
    ----------
    mean : ndarray of shape (k,)
    precision : ndarray of shape (k, k)
        Symmetric positive (semi-)definite.
    rng : numpy.random.Generator
    method : str, default="draw"
        Name used in error messages.
    active : ndarray of bool of shape (k,), optional
        Entries to draw; the others are returned at their mean (fixed
        coefficients, see :class:`NewtonFit`).

    Returns
    -------
    draw : ndarray of shape (k,)

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._draws import draw_from_precision
    >>> rng = np.random.default_rng(0)
    >>> draws = np.array([draw_from_precision(np.zeros(2), np.diag([4., 0.25]), rng)
    ...                   for _ in range(4000)])
    >>> bool(np.allclose(draws.std(axis=0), [0.5, 2.0], rtol=0.1))
    True
    """
    mean = np.asarray(mean, dtype=float)
    draw = mean.copy()
    if active is None:
        active = np.ones(mean.shape[0], dtype=bool)
    k = int(active.sum())
    if k == 0:
        return draw
    sub = precision[np.ix_(active, active)]
    sub = 0.5 * (sub + sub.T)
    chol, scale, _ = _cholesky_with_ridge(sub, 0.0, method)
    z = rng.standard_normal(k)
    draw[active] += scale * linalg.solve_triangular(chol, z, lower=True, trans="T")
    _check_finite_array(draw, "the parameter draw", method)
    return draw
