"""Simulators with known truth.

Each returns a :class:`sklearn.utils.Bunch` with the incomplete ``data``, the
``complete`` data before values were deleted, the ``truth`` (data-generating
parameters) and, for clustered data, the name of the ``cluster`` column.
No real data is shipped: everything is generated, deterministically for a
given ``random_state``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._random import as_seed_sequence
from ._sim_hiv import make_hiv
from ._sim_impact import make_impact
from ._sim_levels import make_crossed, make_three_level
from ._sim_slopes import make_random_slope

__all__ = [
    "make_clustered_regression",
    "make_crossed",
    "make_hiv",
    "make_impact",
    "make_mar_regression",
    "make_popularity",
    "make_random_slope",
    "make_three_level",
]


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(as_seed_sequence(random_state))


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_mar_regression(
    n_samples: int = 500,
    missing_rate: float = 0.3,
    random_state=None,
) -> Bunch:
    """Single-level regression data with MAR missingness and known truth.

    ``y = 1 + 0.5 x1 - 0.3 x2 + e`` with ``x1, x2`` correlated standard normal
    (correlation 0.5), ``e ~ N(0, 1)`` and a binary ``group`` (``b`` with
    probability 0.5) adding 0.4 to ``y``. ``x2`` is missing more often when
    ``y`` is large, and ``y`` more often when ``x1`` is large (both MAR given
    the other observed values), so a complete-case analysis of the
    regression is biased while multiple imputation is not.

    Parameters
    ----------
    n_samples : int, default=500
    missing_rate : float, default=0.3
        Approximate fraction of missing values in ``x2`` and in ``y``.
    random_state : None, int or Generator

    Returns
    -------
    Bunch
        ``data`` (incomplete DataFrame: x1, x2, group, y), ``complete``,
        ``truth`` (dict of coefficients of ``y ~ x1 + x2 + group``),
        ``formula``.

    Examples
    --------
    >>> from skmice.datasets import make_mar_regression
    >>> b = make_mar_regression(200, random_state=0)
    >>> b.data.shape, round(float(b.data["x2"].isna().mean()), 1)
    ((200, 4), 0.3)
    """
    if not 0 < missing_rate < 1:
        raise ValueError(f"missing_rate must be in (0, 1), got {missing_rate}.")
    rng = _rng(random_state)
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    x = rng.multivariate_normal([0.0, 0.0], cov, size=n_samples)
    group = rng.random(n_samples) < 0.5
    y = 1 + 0.5 * x[:, 0] - 0.3 * x[:, 1] + 0.4 * group + rng.standard_normal(n_samples)
    complete = pd.DataFrame(
        {"x1": x[:, 0], "x2": x[:, 1], "group": pd.Categorical(np.where(group, "b", "a")), "y": y}
    )
    data = complete.copy()
    off = np.log(missing_rate / (1 - missing_rate))
    ys = (y - y.mean()) / y.std()
    p_x2 = _logistic(off + 1.5 * ys - 0.5)
    p_x2 *= missing_rate / p_x2.mean()
    data.loc[rng.random(n_samples) < p_x2, "x2"] = np.nan
    p_y = _logistic(off + 1.5 * x[:, 0])
    p_y *= missing_rate / p_y.mean()
    data.loc[rng.random(n_samples) < np.clip(p_y, 0, 1), "y"] = np.nan
    truth = {"Intercept": 1.0, "group[T.b]": 0.4, "x1": 0.5, "x2": -0.3}
    return Bunch(data=data, complete=complete, truth=truth, formula="y ~ x1 + x2 + group")


def make_popularity(
    n_schools: int = 100,
    min_size: int = 16,
    max_size: int = 26,
    random_state=None,
) -> Bunch:
    """Pupils in schools with a popularity score, like mice's ``popmis``.

    Popularity of pupil i in school j::

        popular = 3.314 + 1.330 sex + 0.110 texp - 0.034 sex * texp
                  + u0_j + u1_j sex + e_ij

    with ``var(u0) = 0.412``, ``var(u1) = 0.226``, ``cov(u0, u1) = 0.023``,
    ``var(e) = 0.392`` (the tutorial's complete-data estimates; ICC about
    0.51 at sex = 0), ``sex`` = 1 for girls, ``texp`` the teacher's
    experience in years (a school-level variable) and ``teachpop`` the
    teacher's rating of the pupil's popularity (an auxiliary variable,
    correlated with ``popular``). About 42% of ``popular`` is missing at
    random: more often for boys (about 51%) than for girls (about 33%) and
    for more experienced teachers.

    Parameters
    ----------
    n_schools : int, default=100
    min_size, max_size : int, default=16, 26
        Range of the school sizes (uniform).
    random_state : None, int or Generator

    Returns
    -------
    Bunch
        ``data`` (school, pupil, popular, sex, texp, teachpop; ``popular``
        incomplete), ``complete``, ``truth`` (fixed effects, variance
        components and ICC), ``cluster`` ("school"), ``formula`` (the
        analysis model, lme4 style).

    Examples
    --------
    >>> from skmice.datasets import make_popularity
    >>> b = make_popularity(random_state=0)
    >>> b.data.shape[1], b.cluster, bool(0.35 < b.data["popular"].isna().mean() < 0.5)
    (6, 'school', True)
    """
    if n_schools < 1 or min_size < 1 or max_size < min_size:
        raise ValueError("need n_schools >= 1 and 1 <= min_size <= max_size.")
    rng = _rng(random_state)
    sizes = rng.integers(min_size, max_size + 1, size=n_schools)
    school = np.repeat(np.arange(1, n_schools + 1), sizes)
    n = school.size
    pupil = np.concatenate([np.arange(1, s + 1) for s in sizes])
    texp_school = rng.integers(2, 26, size=n_schools)
    texp = texp_school[school - 1].astype(np.float64)
    sex = (rng.random(n) < 0.5).astype(np.float64)
    psi = np.array([[0.412, 0.023], [0.023, 0.226]])
    u = rng.multivariate_normal([0.0, 0.0], psi, size=n_schools)[school - 1]
    beta = np.array([3.314, 1.330, 0.110, -0.034])
    sigma2 = 0.392
    popular = (
        beta[0] + beta[1] * sex + beta[2] * texp + beta[3] * sex * texp
        + u[:, 0] + u[:, 1] * sex + rng.normal(0, np.sqrt(sigma2), n)
    )
    teachpop = np.clip(np.round(0.8 * popular + 1.0 + rng.normal(0, 0.7, n)), 1, 10)
    complete = pd.DataFrame(
        {"school": school, "pupil": pupil, "popular": popular, "sex": sex.astype(np.int64),
         "texp": texp, "teachpop": teachpop}
    )
    data = complete.copy()
    lin = -0.7 + 0.75 * (sex == 0) + 0.04 * (texp - texp.mean())
    p = _logistic(lin)
    data.loc[rng.random(n) < p, "popular"] = np.nan
    truth = {
        "fixed": {"Intercept": beta[0], "sex": beta[1], "texp": beta[2], "sex:texp": beta[3]},
        "var_intercept": psi[0, 0],
        "var_slope": psi[1, 1],
        "cov_intercept_slope": psi[0, 1],
        "var_residual": sigma2,
        "icc": psi[0, 0] / (psi[0, 0] + sigma2),
    }
    return Bunch(
        data=data,
        complete=complete,
        truth=truth,
        cluster="school",
        formula="popular ~ 1 + sex + texp + sex:texp + (1 + sex | school)",
    )


def make_clustered_regression(
    n_rows: int = 20_000,
    n_clusters: int = 1_000,
    missing_rate: float = 0.3,
    random_state=None,
) -> Bunch:
    """Two-level data with two incomplete continuous variables (benchmark design).

    For row i of cluster j::

        y1 = 1 + 0.5 x + 0.3 w + u0_j + u1_j x + e1,   var(u0) = 0.5, var(u1) = 0.2,
                                                       cov = 0.05, var(e1) = 1
        y2 = 0.5 + 0.4 y1 + 0.2 x + v_j + e2,           var(v) = 0.3, var(e2) = 0.5

    ``x`` is a complete unit-level predictor, ``w`` a complete cluster-level
    one. ``y1`` (random intercept and random slope of ``x``) and ``y2``
    (random intercept) are missing at random given ``x`` and ``w``. Cluster
    sizes vary around ``n_rows / n_clusters``.

    Parameters
    ----------
    n_rows : int, default=20_000
    n_clusters : int, default=1_000
    missing_rate : float, default=0.3
    random_state : None, int or Generator

    Returns
    -------
    Bunch
        ``data``, ``complete``, ``truth``, ``cluster`` ("cluster"),
        ``predictor_matrix`` (y1: x random, w and y2 fixed; y2: all fixed;
        the cluster -2).

    Examples
    --------
    >>> from skmice.datasets import make_clustered_regression
    >>> b = make_clustered_regression(2_000, 100, random_state=0)
    >>> b.data.shape, int(b.data["cluster"].nunique())
    ((2000, 5), 100)
    """
    if n_clusters < 1 or n_rows < n_clusters:
        raise ValueError("need n_clusters >= 1 and n_rows >= n_clusters.")
    rng = _rng(random_state)
    cluster = np.sort(np.concatenate([np.arange(n_clusters),
                                      rng.integers(0, n_clusters, n_rows - n_clusters)]))
    x = rng.standard_normal(n_rows)
    w_c = rng.standard_normal(n_clusters)
    w = w_c[cluster]
    psi = np.array([[0.5, 0.05], [0.05, 0.2]])
    u = rng.multivariate_normal([0.0, 0.0], psi, size=n_clusters)[cluster]
    v = rng.normal(0.0, np.sqrt(0.3), n_clusters)[cluster]
    y1 = 1 + 0.5 * x + 0.3 * w + u[:, 0] + u[:, 1] * x + rng.standard_normal(n_rows)
    y2 = 0.5 + 0.4 * y1 + 0.2 * x + v + rng.normal(0.0, np.sqrt(0.5), n_rows)
    complete = pd.DataFrame({"cluster": cluster + 1, "x": x, "w": w, "y1": y1, "y2": y2})
    data = complete.copy()
    off = np.log(missing_rate / (1 - missing_rate))
    data.loc[rng.random(n_rows) < _logistic(off + 0.8 * x), "y1"] = np.nan
    data.loc[rng.random(n_rows) < _logistic(off - 0.6 * x + 0.4 * w), "y2"] = np.nan
    cols = list(data.columns)
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["y1", ["cluster", "x", "w", "y2"]] = [-2, 2, 1, 1]
    pm.loc["y2", ["cluster", "x", "w", "y1"]] = [-2, 1, 1, 1]
    truth = {"y1": {"Intercept": 1.0, "x": 0.5, "w": 0.3, "var_intercept": 0.5,
                    "var_slope": 0.2, "cov": 0.05, "var_residual": 1.0},
             "y2": {"Intercept": 0.5, "y1": 0.4, "x": 0.2, "var_intercept": 0.3,
                    "var_residual": 0.5}}
    return Bunch(data=data, complete=complete, truth=truth, cluster="cluster",
                 predictor_matrix=pm)
