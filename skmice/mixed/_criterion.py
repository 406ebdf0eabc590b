"""The last steps of lme4's blocked solve, shared by one and several grouping factors.

Once the random effects are eliminated, the fixed effects solve
``R_X R_X' beta = c_beta`` with ``R_X R_X' = X'X - R_ZX'R_ZX``, and the
profiled deviance follows from ``log|L|^2``, ``log|R_X|^2`` and the penalised
residual sum of squares ``r^2`` (Bates et al., 2015, section 3.4).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

__all__ = ["fixed_effects", "profiled_criterion"]

_LOG_2PI = math.log(2.0 * math.pi)


def fixed_effects(C: np.ndarray, cb: np.ndarray):
    """``(R_X, beta)`` from ``C = R_X R_X'`` and ``c_beta``.

    None when ``C`` is not positive definite.
    """
    if not C.shape[0]:
        return np.zeros((0, 0)), np.zeros(0)
    try:
        RX = scipy.linalg.cholesky(C, lower=True)
    except np.linalg.LinAlgError:
        return None
    return RX, scipy.linalg.cho_solve((RX, True), cb)


def profiled_criterion(logdet_L: float, RX: np.ndarray, pwrss: float, n: int,
                       reml: bool) -> tuple:
    """The profiled (RE)ML deviance and its residual degrees of freedom ``nu``.

    ``log|L|^2 + n (1 + log(2 pi r^2 / n))`` (ML) or ``log|L|^2 + log|R_X|^2
    + (n - p)(1 + log(2 pi r^2 / (n - p)))`` (REML).
    """
    p = RX.shape[0]
    if reml:
        nu = n - p
        logdet_RX = 2.0 * float(np.sum(np.log(np.diagonal(RX)))) if p else 0.0
        return logdet_L + logdet_RX + nu * (1.0 + _LOG_2PI + math.log(pwrss / nu)), nu
    return logdet_L + n * (1.0 + _LOG_2PI + math.log(pwrss / n)), n
