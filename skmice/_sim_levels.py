"""Simulators with several grouping levels: three-level and cross-classified data.

Re-exported as :func:`skmice.datasets.make_three_level` and
:func:`skmice.datasets.make_crossed`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._random import as_seed_sequence

__all__ = ["make_crossed", "make_three_level"]


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(as_seed_sequence(random_state))


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check_rate(missing_rate):
    if not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}.")


#: Variance of the standard logistic distribution: the latent residual variance of a
#: logistic model.
LOGISTIC_VARIANCE = np.pi**2 / 3


def _check_outcome(outcome):
    if outcome not in ("continuous", "binary"):
        raise ValueError(f"outcome must be 'continuous' or 'binary', got {outcome!r}.")


def _outcome(rng, eta, sigma2, outcome) -> np.ndarray:
    """``eta + N(0, sigma2)`` noise, or 0/1 codes from ``Bernoulli(logistic(eta))``."""
    if outcome == "binary":
        return (rng.random(eta.shape[0]) < _logistic(eta)).astype(np.float64)
    return eta + rng.normal(0.0, np.sqrt(sigma2), eta.shape[0])


def _amputate(rng, lin, missing_rate) -> np.ndarray:
    """Rows to delete: MAR with ``P(missing) = logistic(offset + lin)``, the offset set so
    that the expected fraction missing is ``missing_rate``."""
    if missing_rate == 0:
        return np.zeros(lin.shape[0], dtype=bool)
    lo, hi = -30.0, 30.0
    for _ in range(60):  # bisection on the offset (monotone in it)
        mid = (lo + hi) / 2
        if _logistic(mid + lin).mean() < missing_rate:
            lo = mid
        else:
            hi = mid
    return rng.random(lin.shape[0]) < _logistic((lo + hi) / 2 + lin)


def make_three_level(
    n_schools: int = 50,
    n_classes: int = 5,
    n_pupils: int = 20,
    icc_class: float = 0.10,
    icc_school: float = 0.15,
    var_slope: float = 0.05,
    missing_rate: float = 0.3,
    random_state=None,
    outcome: str = "continuous",
) -> Bunch:
    """Pupils in classes in schools, with known truth.

    For pupil ``i`` of class ``c`` of school ``s``::

        y = 1 + 0.5 x + 0.2 class_size + 0.3 school_ses
            + u_s + v_s x + w_c + e,

    ``u_s ~ N(0, icc_school)``, ``v_s ~ N(0, var_slope)`` (independent of
    ``u_s``), ``w_c ~ N(0, icc_class)``, ``e ~ N(0, 1 - icc_class -
    icc_school)``: the intra-class correlations of ``y`` given the
    covariates (at ``x = 0``) are ``icc_class`` and ``icc_school``. ``x`` is a
    standard normal pupil-level variable, ``class_size`` a standardised
    class-level one and ``school_ses`` a standardised school-level one. ``y``
    is missing at random given ``x`` and ``school_ses`` (more often for
    larger values), about ``missing_rate`` of it.

    With ``outcome="binary"``, ``y`` is a 0/1 code from the logistic mixed
    model ``logit P(y = 1) = 1 + 0.5 x + 0.2 class_size + 0.3 school_ses +
    u_s + v_s x + w_c``: ``icc_class``, ``icc_school`` and ``var_slope`` are
    then the variances of ``w_c``, ``u_s`` and ``v_s`` on the logit scale
    (any values >= 0), and the intra-class correlations of the latent
    logistic variable are ``var / (var_class + var_school + pi^2 / 3)``.

    Parameters
    ----------
    n_schools, n_classes, n_pupils : int, default=50, 5, 20
        Schools, classes per school, pupils per class (balanced).
    icc_class, icc_school : float, default=0.10, 0.15
        Variances of the class and school random intercepts (the residual
        variance is ``1 - icc_class - icc_school``).
    var_slope : float, default=0.05
        Variance of the schools' random slopes of ``x`` (0: none).
    missing_rate : float, default=0.3
    random_state : None, int or Generator
    outcome : {"continuous", "binary"}, default="continuous"
        A normal ``y`` or a binary one (logistic link; impute it with
        ``"ml.bin"``).

    Returns
    -------
    Bunch
        ``data`` (school, class, pupil, x, class_size, school_ses, y; ``y``
        incomplete; class ids unique across schools), ``complete``,
        ``truth`` (``fixed`` effects, ``var_class``, ``var_school``,
        ``var_slope``, ``var_residual``, ``icc_class``, ``icc_school``),
        ``cluster`` (``["class", "school"]``, lowest level first),
        ``formula`` (the analysis model, lme4 style), ``predictor_matrix``
        (for ``y``: ``x`` with code 2, the covariates 1; impute it with
        ``MultilevelNormal(random_slopes="school")``).

    Examples
    --------
    >>> from skmice.datasets import make_three_level
    >>> b = make_three_level(random_state=0)
    >>> b.data.shape, b.cluster, int(b.data["class"].nunique())
    ((5000, 7), ['class', 'school'], 250)
    """
    if min(n_schools, n_classes, n_pupils) < 1:
        raise ValueError("need at least one school, class and pupil.")
    _check_outcome(outcome)
    binary = outcome == "binary"
    if not (icc_class >= 0 and icc_school >= 0 and var_slope >= 0
            and (binary or icc_class + icc_school < 1)):
        raise ValueError("need icc_class, icc_school, var_slope >= 0 and icc_class + "
                         "icc_school < 1.")
    _check_rate(missing_rate)
    rng = _rng(random_state)
    n_cls = n_schools * n_classes
    n = n_cls * n_pupils
    school = np.repeat(np.arange(n_schools), n_classes * n_pupils)
    klass = np.repeat(np.arange(n_cls), n_pupils)
    pupil = np.tile(np.arange(1, n_pupils + 1), n_cls)
    x = rng.standard_normal(n)
    class_size = rng.standard_normal(n_cls)[klass]
    school_ses = rng.standard_normal(n_schools)[school]
    u = rng.normal(0.0, np.sqrt(icc_school), n_schools)[school]
    v = rng.normal(0.0, np.sqrt(var_slope), n_schools)[school]
    w = rng.normal(0.0, np.sqrt(icc_class), n_cls)[klass]
    sigma2 = LOGISTIC_VARIANCE if binary else 1.0 - icc_class - icc_school
    beta = {"Intercept": 1.0, "x": 0.5, "class_size": 0.2, "school_ses": 0.3}
    y = _outcome(rng, beta["Intercept"] + beta["x"] * x + beta["class_size"] * class_size
                 + beta["school_ses"] * school_ses + u + v * x + w, sigma2, outcome)
    complete = pd.DataFrame({
        "school": school + 1, "class": klass + 1, "pupil": pupil, "x": x,
        "class_size": class_size, "school_ses": school_ses, "y": y,
    })
    data = complete.copy()
    data.loc[_amputate(rng, 0.7 * x + 0.4 * school_ses, missing_rate), "y"] = np.nan
    cols = list(data.columns)
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["y", ["school", "class", "x", "class_size", "school_ses"]] = [-2, -2, 2, 1, 1]
    truth = {
        "fixed": beta,
        "var_class": icc_class,
        "var_school": icc_school,
        "var_slope": var_slope,
        "var_residual": sigma2,
        "icc_class": icc_class / (icc_class + icc_school + sigma2) if binary else icc_class,
        "icc_school": icc_school / (icc_class + icc_school + sigma2) if binary else icc_school,
    }
    slope = "1 + x" if var_slope > 0 else "1"
    return Bunch(
        data=data, complete=complete, truth=truth, cluster=["class", "school"],
        formula=f"y ~ 1 + x + class_size + school_ses + (1 | class) + ({slope} | school)",
        predictor_matrix=pm,
    )


def make_crossed(
    n_rows: int = 4000,
    n_schools: int = 40,
    n_neighbourhoods: int = 30,
    var_school: float = 0.15,
    var_neighbourhood: float = 0.10,
    spread: float = 0.25,
    missing_rate: float = 0.3,
    random_state=None,
    outcome: str = "continuous",
) -> Bunch:
    """Pupils in schools and in neighbourhoods (cross-classified), with known truth.

    For pupil ``i`` of school ``s`` living in neighbourhood ``h``::

        y = 1 + 0.5 x + 0.3 school_ses - 0.4 deprivation + u_s + v_h + e,

    ``u_s ~ N(0, var_school)``, ``v_h ~ N(0, var_neighbourhood)``, ``e ~ N(0,
    1 - var_school - var_neighbourhood)``. Schools recruit from the
    neighbourhoods around them: a pupil of school ``s`` lives in one of the
    ``spread * n_neighbourhoods`` neighbourhoods nearest the school's, at
    random, so schools and neighbourhoods are crossed but not fully
    (``spread=1``: every combination occurs). ``x`` is a pupil-level
    variable, ``school_ses`` a school-level one and ``deprivation`` a
    neighbourhood-level one (all standardised). ``y`` is missing at random
    given ``x`` and ``deprivation``, about ``missing_rate`` of it.

    With ``outcome="binary"``, ``y`` is a 0/1 code from the logistic model
    ``logit P(y = 1) = 1 + 0.5 x + 0.3 school_ses - 0.4 deprivation + u_s +
    v_h``: ``var_school`` and ``var_neighbourhood`` are then variances on the
    logit scale (any values >= 0).

    Parameters
    ----------
    n_rows : int, default=4000
    n_schools, n_neighbourhoods : int, default=40, 30
    var_school, var_neighbourhood : float, default=0.15, 0.10
    spread : float in (0, 1], default=0.25
        Fraction of the neighbourhoods each school recruits from.
    missing_rate : float, default=0.3
    random_state : None, int or Generator
    outcome : {"continuous", "binary"}, default="continuous"
        A normal ``y`` or a binary one (logistic link; ``var_residual`` is
        then ``pi^2 / 3``, the latent logistic variance).

    Returns
    -------
    Bunch
        ``data`` (school, neighbourhood, x, school_ses, deprivation, y;
        ``y`` incomplete), ``complete``, ``truth`` (``fixed``,
        ``var_school``, ``var_neighbourhood``, ``var_residual``),
        ``cluster`` (``["school", "neighbourhood"]``), ``formula``,
        ``predictor_matrix``.

    Examples
    --------
    >>> from skmice.datasets import make_crossed
    >>> b = make_crossed(random_state=0)
    >>> b.data.shape, b.cluster
    ((4000, 6), ['school', 'neighbourhood'])
    """
    if n_schools < 1 or n_neighbourhoods < 1 or n_rows < 1:
        raise ValueError("need n_rows, n_schools and n_neighbourhoods >= 1.")
    _check_outcome(outcome)
    binary = outcome == "binary"
    if not (var_school >= 0 and var_neighbourhood >= 0
            and (binary or var_school + var_neighbourhood < 1)):
        raise ValueError("need var_school, var_neighbourhood >= 0 with a sum below 1.")
    if not 0 < spread <= 1:
        raise ValueError(f"spread must be in (0, 1], got {spread}.")
    _check_rate(missing_rate)
    rng = _rng(random_state)
    H = n_neighbourhoods
    school = rng.integers(0, n_schools, n_rows)
    width = max(int(round(spread * H)), 1)
    home = np.floor(np.arange(n_schools) * H / n_schools).astype(np.int64)
    hood = (home[school] + rng.integers(0, width, n_rows) - width // 2) % H
    x = rng.standard_normal(n_rows)
    ses = rng.standard_normal(n_schools)[school]
    deprivation = rng.standard_normal(H)[hood]
    u = rng.normal(0.0, np.sqrt(var_school), n_schools)[school]
    v = rng.normal(0.0, np.sqrt(var_neighbourhood), H)[hood]
    sigma2 = LOGISTIC_VARIANCE if binary else 1.0 - var_school - var_neighbourhood
    beta = {"Intercept": 1.0, "x": 0.5, "school_ses": 0.3, "deprivation": -0.4}
    y = _outcome(rng, beta["Intercept"] + beta["x"] * x + beta["school_ses"] * ses
                 + beta["deprivation"] * deprivation + u + v, sigma2, outcome)
    complete = pd.DataFrame({
        "school": school + 1, "neighbourhood": hood + 1, "x": x, "school_ses": ses,
        "deprivation": deprivation, "y": y,
    })
    data = complete.copy()
    data.loc[_amputate(rng, 0.7 * x + 0.5 * deprivation, missing_rate), "y"] = np.nan
    cols = list(data.columns)
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["y", ["school", "neighbourhood", "x", "school_ses", "deprivation"]] = [-2, -2, 1, 1, 1]
    truth = {
        "fixed": beta,
        "var_school": var_school,
        "var_neighbourhood": var_neighbourhood,
        "var_residual": sigma2,
    }
    return Bunch(
        data=data, complete=complete, truth=truth, cluster=["school", "neighbourhood"],
        formula="y ~ 1 + x + school_ses + deprivation + (1 | school) + (1 | neighbourhood)",
        predictor_matrix=pm,
    )
