"""An hiv-like simulator: HIV test results missing not at random across regions.

Modelled on the tutorial's hiv data (GJRM): people in regions, an HIV test
result that is missing when the test is refused, refusal related to the
result itself, and smoking as the exclusion restriction (it affects consent
but not HIV status).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.special import ndtr
from sklearn.utils import Bunch

from ._random import as_seed_sequence

__all__ = ["make_hiv"]

# default region sizes: 9 regions, 557 to 947 people, 6,416 in all (as the hiv data)
_REGION_SIZES = (557, 947, 612, 703, 688, 741, 820, 598, 750)

# outcome (probit of HIV status) and selection (probit of consent) coefficients
_OUTCOME = {
    "Intercept": -0.98,
    "age": 0.012,
    "marital[married]": -0.25,
    "marital[previously]": 0.35,
    "condom": 0.20,
}
_SELECTION = {
    "Intercept": 0.64,
    "age": 0.008,
    "marital[married]": 0.15,
    "marital[previously]": -0.10,
    "condom": 0.10,
    "smoke": 0.265,
}
_REGION_SD = {"outcome": 0.25, "selection": 0.20}


def make_hiv(
    region_sizes=None,
    rho: float = -0.6,
    smoke_effect: float = 0.265,
    random_state=None,
) -> Bunch:
    """HIV status in regions, missing not at random (refused tests), like GJRM's ``hiv``.

    For person ``i`` in region ``j``, with ``age`` centred at 30 years::

        hiv*     = -0.98 + 0.012 age - 0.25 married + 0.35 previously
                   + 0.20 condom + a_j + e
        consent* =  0.64 + 0.008 age + 0.15 married - 0.10 previously
                   + 0.10 condom + smoke_effect * smoke + c_j + u

    ``hiv = 1(hiv* > 0)``; the test result is observed when ``consent* > 0``;
    ``(e, u)`` standard bivariate normal with correlation ``rho``; region
    effects ``a_j ~ N(0, 0.25^2)`` and ``c_j ~ N(0, 0.20^2)``. ``marital`` is
    "never", "married" or "previously" married; ``condom`` (ever used) and
    ``smoke`` are 0/1. ``smoke`` does not enter the outcome: it is the
    exclusion restriction of a selection model. With the defaults about 20%
    of ``hiv`` is missing, the observed prevalence is about 12.6% and the
    true one about 19%: with ``rho < 0`` those who refuse the test are more
    often HIV positive, so a MAR analysis underestimates the prevalence.
    ``rho = 0`` gives data missing at random given the covariates.

    Parameters
    ----------
    region_sizes : sequence of int, optional
        People per region. Default: 9 regions of 557 to 947 people (6,416 in
        all), as in the hiv data.
    rho : float, default=-0.6
        Correlation of the errors of the outcome and selection (consent)
        equations, in (-1, 1). Its sign follows the selection-model
        convention (selection = the result is observed).
    smoke_effect : float, default=0.265
        Effect of smoking on consent (probit scale): the strength of the
        exclusion restriction.
    random_state : None, int or Generator
        Seed; the same seed gives the same data.

    Returns
    -------
    Bunch
        ``data`` (region, hiv, age, marital, condom, smoke; ``hiv`` incomplete,
        0/1 floats), ``complete``, ``cluster`` ("region"), ``truth`` (dict:
        ``rho``; ``outcome`` and ``selection`` coefficients; ``region_effects``;
        ``prevalence`` = the complete data's prevalence overall and per region;
        ``expected_prevalence`` = the mean of the model probabilities of HIV
        given each person's covariates and region, overall and per region, the
        estimand of a simulation study; ``observed_prevalence`` and
        ``missing_rate``), ``predictor_matrix`` (for ``hiv``: region -2,
        age, marital and condom 2, smoke -3 (selection equation only); for a
        Heckman imputation with ``"2l.heckman"``).

    Examples
    --------
    >>> from skmice.datasets import make_hiv
    >>> b = make_hiv(random_state=0)
    >>> b.data.shape, b.cluster, int(b.data["region"].nunique())
    ((6416, 6), 'region', 9)
    >>> bool(0.17 < b.data["hiv"].isna().mean() < 0.24)
    True
    >>> bool(b.truth["observed_prevalence"] < b.truth["prevalence"]["overall"])
    True
    """
    sizes = _REGION_SIZES if region_sizes is None else region_sizes
    if isinstance(sizes, (str, bytes)) or not np.iterable(sizes):
        raise TypeError(f"region_sizes must be a sequence of ints, got {region_sizes!r}.")
    sizes = list(sizes)
    if not sizes or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in sizes
    ):
        raise ValueError(f"region_sizes must hold positive ints, got {region_sizes!r}.")
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not -1 < rho < 1:
        raise ValueError(f"rho must be a number in (-1, 1), got {rho!r}.")
    if isinstance(smoke_effect, bool) or not isinstance(smoke_effect, numbers.Real):
        raise ValueError(f"smoke_effect must be a number, got {smoke_effect!r}.")
    rng = np.random.default_rng(as_seed_sequence(random_state))
    n_regions = len(sizes)
    region = np.repeat(np.arange(1, n_regions + 1), sizes)
    n = region.size
    age = rng.integers(15, 60, size=n).astype(np.float64)
    agec = age - 30.0
    # marital status depends on age: younger people more often never married
    p_never = 1.0 / (1.0 + np.exp(0.15 * agec + 0.3))
    p_prev = 0.25 * (1.0 - p_never) / (1.0 + np.exp(-0.05 * agec))
    r = rng.random(n)
    marital_code = np.where(r < p_never, 0, np.where(r < p_never + p_prev, 2, 1))
    married = (marital_code == 1).astype(np.float64)
    previously = (marital_code == 2).astype(np.float64)
    condom = (rng.random(n) < 1.0 / (1.0 + np.exp(0.6 + 0.04 * agec))).astype(np.float64)
    smoke = (rng.random(n) < 0.2).astype(np.float64)
    a = rng.normal(0.0, _REGION_SD["outcome"], n_regions)
    c = rng.normal(0.0, _REGION_SD["selection"], n_regions)
    e, u = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n).T
    ob, se = _OUTCOME, _SELECTION
    lin_y = (
        ob["Intercept"]
        + ob["age"] * agec
        + ob["marital[married]"] * married
        + ob["marital[previously]"] * previously
        + ob["condom"] * condom
        + a[region - 1]
    )
    lin_s = (
        se["Intercept"]
        + se["age"] * agec
        + se["marital[married]"] * married
        + se["marital[previously]"] * previously
        + se["condom"] * condom
        + smoke_effect * smoke
        + c[region - 1]
    )
    hiv = (lin_y + e > 0).astype(np.float64)
    observed = lin_s + u > 0
    marital = pd.Categorical.from_codes(marital_code, ["never", "married", "previously"])
    complete = pd.DataFrame(
        {
            "region": region,
            "hiv": hiv,
            "age": age,
            "marital": marital,
            "condom": condom.astype(np.int64),
            "smoke": smoke.astype(np.int64),
        }
    )
    data = complete.copy()
    data.loc[~observed, "hiv"] = np.nan
    p_model = ndtr(lin_y)
    per_region = pd.Series(hiv).groupby(region).mean()
    exp_region = pd.Series(p_model).groupby(region).mean()
    selection = dict(se)
    selection["smoke"] = float(smoke_effect)
    truth = {
        "rho": float(rho),
        "outcome": dict(ob),
        "selection": selection,
        "region_effects": {"outcome": a, "selection": c, "sd": dict(_REGION_SD)},
        "prevalence": {
            "overall": float(hiv.mean()),
            **{int(k): float(v) for k, v in per_region.items()},
        },
        "expected_prevalence": {
            "overall": float(p_model.mean()),
            **{int(k): float(v) for k, v in exp_region.items()},
        },
        "observed_prevalence": float(hiv[observed].mean()),
        "missing_rate": float(1.0 - observed.mean()),
    }
    cols = list(data.columns)
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["hiv", ["region", "age", "marital", "condom", "smoke"]] = [-2, 2, 2, 2, -3]
    return Bunch(data=data, complete=complete, truth=truth, cluster="region", predictor_matrix=pm)
