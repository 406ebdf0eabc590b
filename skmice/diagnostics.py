"""Convergence and data diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["rhat", "split_rhat"]


def split_rhat(chains: np.ndarray, rank_normalize: bool = True) -> float:
    """Split R-hat of an (n_chains, n_draws) array (Vehtari et al. 2021).

    Each chain is split in two halves; R-hat compares the variance between
    the half-chains with the variance within them. With ``rank_normalize``
    the draws are first replaced by the normal scores of their ranks, and the
    result is the larger of the bulk R-hat and the R-hat of the folded draws
    (|x - median|), as recommended by Vehtari et al.

    Parameters
    ----------
    chains : array-like of shape (n_chains, n_draws)
        n_draws >= 4.
    rank_normalize : bool, default=True

    Returns
    -------
    float
        Values near 1 mean the chains agree; above 1.01-1.1 they have not
        mixed.

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Buerkner, P.-C.
    (2021). Rank-normalization, folding, and localization: an improved R-hat
    for assessing convergence of MCMC. Bayesian Analysis 16(2), 667-718.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.diagnostics import split_rhat
    >>> rng = np.random.default_rng(0)
    >>> bool(split_rhat(rng.normal(size=(4, 100))) < 1.05)
    True
    >>> bool(split_rhat(rng.normal(size=(4, 100)) + np.arange(4)[:, None]) > 1.5)
    True
    """
    x = np.asarray(chains, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"chains must have shape (n_chains, n_draws >= 4), got {x.shape}.")
    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)
    if not rank_normalize:
        return _rhat(split)
    bulk = _rhat(_normal_scores(split))
    folded = np.abs(split - np.median(split))
    tail = _rhat(_normal_scores(folded))
    return float(max(bulk, tail))


def _normal_scores(x: np.ndarray) -> np.ndarray:
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 3 / 8) / (x.size + 1 / 4))


def _rhat(x: np.ndarray) -> float:
    n = x.shape[1]
    means = x.mean(axis=1)
    w = x.var(axis=1, ddof=1).mean()
    b = n * means.var(ddof=1)
    if w <= 0:
        return 1.0 if b <= 0 else np.inf
    var_plus = (n - 1) / n * w + b / n
    return float(np.sqrt(var_plus / w))


def rhat(mi, statistic: str = "mean", start: int = 1) -> pd.Series:
    """Split R-hat of the imputed values' mean (or sd) across chains, per variable.

    Parameters
    ----------
    mi : MultiplyImputedData or DataFrame
        A multiple imputation (its ``trace_``) or a trace with columns
        ``chain``, ``iteration``, ``variable`` and the statistic.
    statistic : {"mean", "sd"}, default="mean"
    start : int, default=1
        First iteration used (drop a warm-up with ``start > 1``).

    Returns
    -------
    Series
        R-hat per variable.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer, multiple_impute
    >>> from skmice.diagnostics import rhat
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=100)})
    >>> X["y"] = X["x"] + rng.normal(size=100)
    >>> X.loc[:29, "y"] = np.nan
    >>> mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=8), 4, random_state=0)
    >>> bool(rhat(mi)["y"] < 1.5)
    True
    """
    trace = mi if isinstance(mi, pd.DataFrame) else mi.trace_
    if statistic not in ("mean", "sd"):
        raise ValueError(f"statistic must be 'mean' or 'sd', got {statistic!r}.")
    trace = trace[trace["iteration"] >= start]
    out = {}
    for var, t in trace.groupby("variable", sort=False):
        wide = t.pivot_table(index="chain", columns="iteration", values=statistic)
        if wide.shape[0] < 2:
            raise ValueError("R-hat needs at least two chains.")
        out[var] = split_rhat(wide.to_numpy())
    return pd.Series(out, name="rhat")
