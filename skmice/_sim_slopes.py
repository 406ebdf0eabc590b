"""A simulator of the random-slope, cross-level-interaction design with known truth.

The design of the substantive-model-compatible imputation literature (Enders,
Du and Keller 2020; Grund, Ludtke and Robitzsch 2018): pupils i in clusters
j, a level-1 predictor x with a random slope, a level-2 predictor w and
their cross-level interaction,

    y_ij = g00 + g10 x_ij + g01 w_j + g11 x_ij w_j + u0_j + u1_j x_ij + e_ij,

with x missing at random given y (and optionally y missing given w).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.utils import Bunch

from ._random import as_generator

__all__ = ["make_random_slope"]


def _check(value, name, lo, hi, integral=False):
    kind = numbers.Integral if integral else numbers.Real
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{name} must be {'an int' if integral else 'a number'}, got {value!r}.")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}.")


def _missing(rng, driver: np.ndarray, rate: float, strength: float) -> np.ndarray:
    """Rows missing with probability logistic(a + strength * z(driver)), a set for ``rate``."""
    if rate == 0:
        return np.zeros(driver.size, dtype=bool)
    z = (driver - driver.mean()) / driver.std()
    a = brentq(lambda a: expit(a + strength * z).mean() - rate, -30, 30)
    return rng.random(driver.size) < expit(a + strength * z)


def make_random_slope(
    n_clusters=50,
    cluster_size=20,
    icc=0.2,
    slope_variance=0.1,
    missing_x=0.3,
    missing_y=0.0,
    mar_strength=1.0,
    random_state=None,
) -> Bunch:
    """Clustered data with a random slope and a cross-level interaction, and missing values.

    ``x`` (level 1, ICC ``icc``) and ``w`` (level 2) are standard normal in
    total; ``y = 0.5 x + 0.3 w + 0.2 x w + u0 + u1 x + e`` with
    ``var(u1) = slope_variance``, ``var(e) = 0.5`` and ``var(u0)`` set so
    that the intraclass correlation of the residual ``y`` is ``icc``. ``x``
    is missing at random given ``y`` (more often for large ``y``), ``y``
    given ``w``.

    Parameters
    ----------
    n_clusters, cluster_size : int
    icc : float in [0, 0.9]
    slope_variance : float >= 0
    missing_x, missing_y : float in [0, 0.9]
        Proportions of missing values.
    mar_strength : float
        Log-odds of missingness per standard deviation of its driver.
    random_state : None, int or Generator

    Returns
    -------
    Bunch
        ``data`` (columns ``cluster``, ``y``, ``x``, ``w``, with missing
        values), ``complete`` (the same without), ``formula`` (the analysis
        model), ``truth`` (fixed effects by lme4 name and the variance
        components ``var(cluster: (Intercept))``, ``var(cluster: x)``,
        ``var(Residual)``).

    Examples
    --------
    >>> from skmice.datasets import make_random_slope
    >>> sim = make_random_slope(n_clusters=30, cluster_size=10, random_state=0)
    >>> sim.data.shape, sim.formula
    ((300, 4), 'y ~ x * w + (1 + x | cluster)')
    """
    _check(n_clusters, "n_clusters", 2, 10**7, integral=True)
    _check(cluster_size, "cluster_size", 1, 10**6, integral=True)
    _check(icc, "icc", 0.0, 0.9)
    _check(slope_variance, "slope_variance", 0.0, 100.0)
    _check(missing_x, "missing_x", 0.0, 0.9)
    _check(missing_y, "missing_y", 0.0, 0.9)
    _check(mar_strength, "mar_strength", -10.0, 10.0)
    rng = as_generator(random_state)
    sigma2 = 0.5
    tau00 = icc / (1 - icc) * sigma2
    g = np.repeat(np.arange(n_clusters), cluster_size)
    w = rng.standard_normal(n_clusters)
    x = np.sqrt(icc) * rng.standard_normal(n_clusters)[g] + np.sqrt(1 - icc) * rng.standard_normal(
        g.size)
    u0 = np.sqrt(tau00) * rng.standard_normal(n_clusters)
    u1 = np.sqrt(slope_variance) * rng.standard_normal(n_clusters)
    truth_fixed = {"(Intercept)": 0.0, "x": 0.5, "w": 0.3, "x:w": 0.2}
    y = (0.5 * x + 0.3 * w[g] + 0.2 * x * w[g] + u0[g] + u1[g] * x
         + np.sqrt(sigma2) * rng.standard_normal(g.size))
    complete = pd.DataFrame({"cluster": g, "y": y, "x": x, "w": w[g]})
    data = complete.copy()
    miss_x = _missing(rng, y, missing_x, mar_strength)
    miss_y = _missing(rng, w[g] + 0.5 * rng.standard_normal(g.size), missing_y, mar_strength)
    miss_y &= ~miss_x  # each row keeps something observed
    data.loc[miss_x, "x"] = np.nan
    data.loc[miss_y, "y"] = np.nan
    truth = dict(truth_fixed)
    truth.update({"var(cluster: (Intercept))": tau00, "var(cluster: x)": float(slope_variance),
                  "var(Residual)": sigma2})
    return Bunch(data=data, complete=complete, formula="y ~ x * w + (1 + x | cluster)",
                 truth=truth, cluster="cluster")
