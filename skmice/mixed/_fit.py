"""Fitting a linear mixed model from its sufficient statistics.

:func:`fit_theta` minimises the profiled deviance over theta with
scipy's L-BFGS-B (exact gradient, diagonal of ``T`` bounded below by 0),
from lme4's start ``T = I``. :func:`solve_at_theta` then computes what the
results report: fixed effects, their covariance (``sigma^2 (R_X R_X')^{-1}``,
lme4's ``vcov``), the random-effects covariance ``sigma^2 T T'``, the
residual variance, the conditional modes of the random effects and the
log-likelihood.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from .._grouped import batched_solve_triangular
from ._deviance import deviance_parts, profiled_deviance
from ._multi_deviance import multi_solution
from ._sufficient import SufficientStatistics
from ._theta import ThetaLayout

__all__ = [
    "LmmSolution",
    "fit_lmm_statistics",
    "fit_theta",
    "projected_gradient",
    "solve_at_theta",
]

#: Options of L-BFGS-B: tight enough that the estimates agree with lme4's
#: to well beyond 4 decimals.
OPTIMIZER_OPTIONS = {"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-8, "maxcor": 20}
#: With several grouping factors (larger deviances, whose last digits are noisier) the
#: optimiser stops earlier and the Newton polish takes the estimates to the same accuracy.
MULTI_OPTIMIZER_OPTIONS = {"maxiter": 1000, "ftol": 1e-11, "gtol": 1e-6, "maxcor": 20}
#: Values tried for a diagonal entry of T that ended at 0, and how often to restart.
BOUNDARY_STEPS = (1e-3, 1e-2, 1e-1, 1.0)
MAX_RESTARTS = 3
#: Newton steps of the final polish, which stops once no gradient entry exceeds NEWTON_DONE.
NEWTON_STEPS = 3
NEWTON_DONE = 1e-9
#: A fit has converged when no entry of the projected gradient of the deviance
#: exceeds this (lme4's ``check.conv.grad`` tolerance).
GRADIENT_TOL = 2e-3


@dataclass
class LmmSolution:
    """The fitted quantities of one linear mixed model (arrays, no labels).

    Attributes
    ----------
    theta : ndarray
        Optimal relative covariance parameters.
    beta : ndarray, shape (p,)
        Fixed effects.
    cov_beta : ndarray, shape (p, p)
        Their covariance (lme4's ``vcov``).
    cov_re : ndarray, shape (q, q)
        Covariance matrix of a cluster's random effects.
    sigma2 : float
        Residual variance.
    deviance : float
        The minimised criterion (REML criterion for REML fits).
    llf : float
        Log-likelihood (restricted for REML fits): ``-deviance / 2``.
    random_effects : ndarray, shape (n_groups, q)
        Conditional modes of the random effects (lme4's ``ranef``).
    reml : bool
    converged : bool
    n_iter : int
    n_evaluations : int
    message : str
        The optimiser's message.
    """

    theta: np.ndarray
    beta: np.ndarray
    cov_beta: np.ndarray
    cov_re: np.ndarray
    sigma2: float
    deviance: float
    llf: float
    random_effects: np.ndarray
    reml: bool
    converged: bool
    n_iter: int
    n_evaluations: int
    message: str


def _minimize(stats, layout, reml, x0) -> scipy.optimize.OptimizeResult:
    return scipy.optimize.minimize(
        profiled_deviance,
        x0,
        args=(layout, stats, reml, True),
        jac=True,
        method="L-BFGS-B",
        bounds=layout.bounds(),
        options=(OPTIMIZER_OPTIONS if isinstance(stats, SufficientStatistics)
                 else MULTI_OPTIMIZER_OPTIONS),
    )


def _off_the_boundary(res, stats, layout, reml):
    """A better start away from a zero diagonal entry of ``T``, or None.

    The deviance is even in the last diagonal entry of ``T`` (and in any
    diagonal entry whose column is otherwise zero): its derivative there
    vanishes at 0, so a gradient method that lands on the bound stops even
    when the optimum is inside. Try moving each zero diagonal entry back in.
    """
    at_bound = np.flatnonzero(layout.diagonal & (res.x <= 0.0))
    best_value, best_x = res.fun - 1e-10 * max(1.0, abs(res.fun)), None
    for k in at_bound:
        for step in BOUNDARY_STEPS:
            trial = res.x.copy()
            trial[k] = step
            value = profiled_deviance(trial, layout, stats, reml)
            if value < best_value:
                best_value, best_x = value, trial
    return best_x


def projected_gradient(theta, grad, layout: ThetaLayout) -> np.ndarray:
    """The gradient with the components that push a zero diagonal entry below 0 removed."""
    blocked = layout.diagonal & (np.asarray(theta) <= 0.0) & (np.asarray(grad) > 0.0)
    return np.where(blocked, 0.0, grad)


def _newton_polish(theta, stats, layout, reml):
    """Newton steps on the exact gradient, from the optimiser's answer.

    Minimising a function stops where its changes reach rounding (``~1e-8``
    in theta); the root of its exact gradient is found to ``~1e-11``, so
    the answer no longer depends on where the optimiser happened to stop
    (a batched fit equals a separate one). The Hessian comes from forward
    differences of the gradient, over the entries not held at their bound.
    A step is kept only if it shrinks the gradient and stays inside the
    bounds.
    """
    free = ~(layout.diagonal & (theta <= 0.0))
    idx = np.flatnonzero(free)
    if idx.size == 0:
        return theta
    grad = profiled_deviance(theta, layout, stats, reml, True)[1]
    for _ in range(NEWTON_STEPS):
        if np.max(np.abs(grad[idx])) < NEWTON_DONE:
            break
        H = np.empty((idx.size, idx.size))
        for col, k in enumerate(idx):
            h = 1e-6 * max(1.0, abs(theta[k]))
            moved = theta.copy()
            moved[k] += h
            H[:, col] = (profiled_deviance(moved, layout, stats, reml, True)[1][idx]
                         - grad[idx]) / h
        H = 0.5 * (H + H.T)
        try:
            step = scipy.linalg.solve(H, grad[idx], assume_a="sym")
        except (np.linalg.LinAlgError, ValueError):
            break
        trial = theta.copy()
        trial[idx] -= step
        if np.any(trial[layout.diagonal] < 0.0):
            break
        new_grad = profiled_deviance(trial, layout, stats, reml, True)[1]
        if not np.max(np.abs(new_grad[idx])) < np.max(np.abs(grad[idx])):
            break
        theta, grad = trial, new_grad
    return theta


def fit_theta(stats: SufficientStatistics, layout: ThetaLayout, reml: bool = True,
              start=None) -> scipy.optimize.OptimizeResult:
    """Minimise the profiled deviance over theta (one response).

    L-BFGS-B with the exact gradient; a diagonal entry that ends on its
    bound 0 is moved back inside when that lowers the deviance, and the
    optimisation restarted from there (at most a few times); then Newton
    steps on the gradient polish the answer.

    Parameters
    ----------
    stats : SufficientStatistics
        With one response.
    layout : ThetaLayout
    reml : bool, default=True
    start : array-like, optional
        Starting theta (default: lme4's, ``T = I``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``nit`` and ``nfev`` count all the restarts; ``jac`` is the gradient
        at the returned ``x``.
    """
    x0 = layout.start() if start is None else np.asarray(start, dtype=np.float64)
    res = _minimize(stats, layout, reml, x0)
    nit, nfev = res.nit, res.nfev
    for _ in range(MAX_RESTARTS):
        x0 = _off_the_boundary(res, stats, layout, reml)
        if x0 is None:
            break
        new = _minimize(stats, layout, reml, x0)
        nit, nfev = nit + new.nit, nfev + new.nfev
        if not new.fun < res.fun:
            break
        res = new
    res.nit, res.nfev = nit, nfev
    if np.isfinite(res.fun):
        res.x = _newton_polish(np.asarray(res.x, dtype=np.float64), stats, layout, reml)
        res.fun, res.jac = profiled_deviance(res.x, layout, stats, reml, True)
    return res


def _cov_beta(RX: np.ndarray, sigma2: float) -> np.ndarray:
    """lme4's ``vcov``: ``sigma^2 (R_X R_X')^{-1}``, symmetrised."""
    p = RX.shape[0]
    if not p:
        return np.zeros((0, 0))
    RX_inv = scipy.linalg.solve_triangular(RX, np.eye(p), lower=True)
    cov = sigma2 * (RX_inv.T @ RX_inv)
    return 0.5 * (cov + cov.T)


def solve_at_theta(theta, layout: ThetaLayout, stats: SufficientStatistics,
                   reml: bool = True) -> dict:
    """Fixed effects, covariances and conditional modes at a given theta (one response).

    Parameters
    ----------
    theta : array-like
    layout : ThetaLayout
    stats : SufficientStatistics
        With one response.
    reml : bool, default=True

    Returns
    -------
    dict
        ``beta``, ``cov_beta``, ``cov_re``, ``sigma2``, ``deviance``,
        ``random_effects``.
    """
    if not isinstance(stats, SufficientStatistics):
        out = multi_solution(theta, layout, stats, reml)
        out["cov_beta"] = _cov_beta(out.pop("RX"), out["sigma2"])
        return out
    theta = np.asarray(theta, dtype=np.float64)
    T = layout.factor(theta)
    parts = deviance_parts(T, stats, reml)
    if parts is None:
        raise ValueError("X'V^{-1}X is not positive definite at the optimum.")
    cov_beta = _cov_beta(parts.RX, parts.sigma2)
    # u_j solves L_j' u_j = c_u,j - R_ZX,j beta; b_j = T u_j
    rhs = parts.cu - np.matmul(parts.RZX, parts.beta)
    u = batched_solve_triangular(parts.L, rhs, trans=True)
    return {
        "beta": parts.beta + stats.beta_ols[:, 0],
        "cov_beta": cov_beta,
        "cov_re": parts.sigma2 * (T @ T.T),
        "sigma2": parts.sigma2,
        "deviance": parts.deviance,
        "random_effects": u @ T.T,
    }


def fit_lmm_statistics(stats: SufficientStatistics, layout: ThetaLayout,
                       reml: bool = True) -> LmmSolution:
    """Fit one linear mixed model from its sufficient statistics.

    Parameters
    ----------
    stats : SufficientStatistics
        With one response.
    layout : ThetaLayout
        Block structure of the relative covariance factor.
    reml : bool, default=True
        Restricted maximum likelihood (lme4's default) or maximum likelihood.

    Returns
    -------
    LmmSolution

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.mixed import ThetaLayout, fit_lmm_statistics, sufficient_statistics
    >>> rng = np.random.default_rng(0)
    >>> codes = np.repeat(np.arange(30), 10)
    >>> y = 2.0 + rng.normal(size=30)[codes] + rng.normal(size=300)
    >>> s = sufficient_statistics(codes, 30, np.ones((300, 1)), np.ones((300, 1)), y)
    >>> sol = fit_lmm_statistics(s, ThetaLayout((1,)))
    >>> round(float(sol.beta[0]), 4), round(float(sol.cov_re[0, 0]), 4), sol.converged
    (1.8464, 0.7855, True)
    """
    if stats.n_responses != 1:
        raise ValueError(f"stats holds {stats.n_responses} responses; pass one (stats.response).")
    if reml and stats.n_obs <= stats.p:
        raise ValueError(
            f"REML needs more rows ({stats.n_obs}) than fixed effects ({stats.p})."
        )
    res = fit_theta(stats, layout, reml)
    gradient = projected_gradient(res.x, res.jac, layout)
    converged = bool(np.isfinite(res.fun)) and bool(np.max(np.abs(gradient)) <= GRADIENT_TOL)
    if not converged:
        warnings.warn(
            f"the mixed-model optimiser did not converge ({res.message}; largest gradient "
            f"entry {np.max(np.abs(gradient)):.3g}).",
            ConvergenceWarning,
            stacklevel=3,
        )
    out = solve_at_theta(res.x, layout, stats, reml)
    return LmmSolution(
        theta=np.asarray(res.x, dtype=np.float64),
        beta=out["beta"],
        cov_beta=out["cov_beta"],
        cov_re=out["cov_re"],
        sigma2=out["sigma2"],
        deviance=out["deviance"],
        llf=-0.5 * out["deviance"],
        random_effects=out["random_effects"],
        reml=bool(reml),
        converged=converged,
        n_iter=int(res.nit),
        n_evaluations=int(res.nfev),
        message=str(res.message),
    )
