"""Convergence and data diagnostics.

Data: the missing-data pattern (:func:`md_pattern`), intraclass
correlations (:func:`icc`), which observed variables predict missingness
(:func:`missingness_associations`, :func:`missingness_test`). Convergence of
the chains: split R-hat (:func:`rhat`, :func:`split_rhat`) and the bulk
effective sample size (:func:`ess`, :func:`bulk_ess`). Plots of the same
quantities are in :mod:`skmice.plotting`.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._data import encode
from ._random import as_seed_sequence

__all__ = [
    "MissingnessTest",
    "bulk_ess",
    "ess",
    "icc",
    "md_pattern",
    "missingness_associations",
    "missingness_test",
    "rhat",
    "split_rhat",
]


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
    split = np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)
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


def _as_trace(mi) -> pd.DataFrame:
    """The trace of a MultiplyImputedData, a fitted imputer or a trace DataFrame.

    Always with a ``chain`` column (1 for a single imputer).
    """
    if isinstance(mi, pd.DataFrame):
        trace = mi
    else:
        try:
            trace = mi.trace_
        except AttributeError:
            raise TypeError(
                "mi must be a MultiplyImputedData, a fitted MultilevelIterativeImputer or a "
                f"trace DataFrame, got {type(mi).__name__}."
            ) from None
    missing = {"iteration", "variable"} - set(trace.columns)
    if missing:
        raise ValueError(f"The trace lacks the columns {sorted(missing)}.")
    if "chain" not in trace.columns:
        trace = trace.assign(chain=1)
    return trace


# --------------------------------------------------------------------------- #
# Effective sample size
# --------------------------------------------------------------------------- #
def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariances (divisor n) of each row of x at lags 0..n-1, by FFT."""
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=2 * n, axis=1)  # zero padding: no wrap-around
    return np.fft.irfft(f * np.conj(f), n=2 * n, axis=1)[:, :n] / n


def _ess(x: np.ndarray) -> float:
    """Effective sample size of (n_chains, n_draws) draws: Geyer's initial monotone
    sequence on the multi-chain autocorrelations, as Stan computes it."""
    n_chains, n = x.shape
    total = n_chains * n
    if not np.all(np.isfinite(x)):
        return np.nan
    if np.ptp(x) <= np.finfo(np.float64).eps * max(1.0, float(np.abs(x).max())):
        return float(total)
    acov = _autocovariance(x)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if n_chains > 1:
        var_plus += x.mean(axis=1).var(ddof=1)
    rho_lag = 1.0 - (mean_var - acov.mean(axis=0)) / var_plus
    rho = np.zeros(n + 2)
    even, odd = 1.0, rho_lag[1]
    rho[0], rho[1] = even, odd
    s = 1
    # initial positive sequence: sums of consecutive pairs of autocorrelations > 0
    while s < n - 4 and even + odd > 0:
        even, odd = rho_lag[s + 1], rho_lag[s + 2]
        if even + odd >= 0:
            rho[s + 1], rho[s + 2] = even, odd
        s += 2
    max_s = s
    if even > 0:
        rho[max_s + 1] = even
    # initial monotone sequence
    for s in range(1, max_s - 2, 2):
        if rho[s + 1] + rho[s + 2] > rho[s - 1] + rho[s]:
            rho[s + 1] = rho[s + 2] = (rho[s - 1] + rho[s]) / 2
    tau = -1.0 + 2.0 * rho[:max_s].sum() + rho[max_s + 1]
    tau = max(tau, 1.0 / np.log10(total))
    return float(total / tau)


def bulk_ess(chains: np.ndarray) -> float:
    """Bulk effective sample size of an (n_chains, n_draws) array (Vehtari et al. 2021).

    The chains are split in two halves, the draws replaced by the normal
    scores of their ranks (as in :func:`split_rhat`), and the effective
    sample size is estimated from the autocorrelations of all half-chains
    with Geyer's initial monotone sequence, as Stan and the R package
    posterior do.

    Parameters
    ----------
    chains : array-like of shape (n_chains, n_draws) or (n_draws,)
        n_draws >= 12 (a 1-d array is one chain).

    Returns
    -------
    float
        The number of independent draws that would estimate the centre of
        the distribution as precisely; at most ``n_chains * n_draws *
        log10(n_chains * n_draws)``. Compare it with ``n_chains * n_draws``:
        a small fraction means strongly autocorrelated chains.

    Notes
    -----
    Autocorrelations of the half-chains are used up to lag about
    ``n_draws / 2 - 3``. Below 12 draws per chain Stan's estimator uses
    none of them and returns half the number of draws whatever the chains,
    so shorter chains are refused. Even at 12-20 draws the estimate is
    rough: with short imputation chains, read :func:`split_rhat` and the
    trace plots first.

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Buerkner, P.-C.
    (2021). Rank-normalization, folding, and localization: an improved R-hat
    for assessing convergence of MCMC. Bayesian Analysis 16(2), 667-718.

    Geyer, C. J. (1992). Practical Markov chain Monte Carlo. Statistical
    Science 7(4), 473-483.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.diagnostics import bulk_ess
    >>> rng = np.random.default_rng(0)
    >>> iid = rng.normal(size=(4, 200))
    >>> bool(600 < bulk_ess(iid) < 1000)
    True
    >>> sticky = np.cumsum(rng.normal(size=(4, 200)), axis=1)  # random walks
    >>> bool(bulk_ess(sticky) < 50)
    True
    """
    x = np.asarray(chains, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 12:
        raise ValueError(
            f"chains must have shape (n_chains, n_draws >= 12), got {x.shape}: shorter "
            "chains leave no autocorrelation to estimate the effective sample size from."
        )
    if not np.all(np.isfinite(x)):
        return np.nan
    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)
    return _ess(_normal_scores(split))


def ess(mi, statistic: str = "mean", start: int = 1) -> pd.Series:
    """Bulk effective sample size of the imputed values' mean (or sd), per variable.

    The trace of every chain (the mean, or sd, of the imputed values at each
    iteration) is one chain of draws for :func:`bulk_ess`.

    Parameters
    ----------
    mi : MultiplyImputedData, MultilevelIterativeImputer or DataFrame
        A multiple imputation, one fitted imputer (a single chain) or a trace
        with columns ``iteration``, ``variable``, the statistic and
        optionally ``chain``.
    statistic : {"mean", "sd"}, default="mean"
    start : int, default=1
        First iteration used (drop a warm-up with ``start > 1``). At least
        12 iterations must remain.

    Returns
    -------
    Series
        Bulk ESS per variable (name ``"ess"``): compare it with the number
        of draws, chains times iterations.

    See Also
    --------
    rhat : whether the chains agree.
    skmice.plotting.plot_trace : the traces themselves.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer, multiple_impute
    >>> from skmice.diagnostics import ess
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=100)})
    >>> X["y"] = X["x"] + rng.normal(size=100)
    >>> X.loc[:29, "y"] = np.nan
    >>> mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=20), 3, random_state=0)
    >>> out = ess(mi)
    >>> list(out.index), bool(out["y"] > 10)
    (['y'], True)
    """
    if statistic not in ("mean", "sd"):
        raise ValueError(f"statistic must be 'mean' or 'sd', got {statistic!r}.")
    trace = _as_trace(mi)
    trace = trace[trace["iteration"] >= start]
    out = {}
    for var, t in trace.groupby("variable", sort=False):
        wide = t.pivot_table(index="chain", columns="iteration", values=statistic)
        if wide.shape[1] < 12:
            raise ValueError(
                f"ESS needs at least 12 iterations per chain (max_iter >= 12), the trace of "
                f"{var!r} has {wide.shape[1]} (from start={start}); use rhat for shorter "
                "chains."
            )
        out[var] = bulk_ess(wide.to_numpy())
    return pd.Series(out, name="ess", dtype=np.float64)


# --------------------------------------------------------------------------- #
# Missing-data pattern
# --------------------------------------------------------------------------- #
def _as_frame(X, name: str = "X") -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        raise TypeError(f"{name} must be 2-dimensional (a DataFrame or a 2-d array), got a Series.")
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got an array of shape {arr.shape}.")
    return pd.DataFrame(arr)


def md_pattern(X) -> pd.DataFrame:
    """The missing-data pattern table, laid out as R's ``mice::md.pattern``.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        Incomplete data (NaN, None or ``pd.NA`` are missing).

    Returns
    -------
    DataFrame
        One row per distinct pattern, then a last row of totals. Columns:
        the variables, sorted by increasing number of missing values (ties
        keep their order), then a last column labelled ``""``. Cells are 1
        for observed and 0 for missing. The index holds how many rows have
        each pattern; the last column the number of missing variables in the
        pattern; the last row (labelled ``""``) the number of missing values
        per variable and in total. Patterns are sorted as in R: the complete
        pattern first, then by the missingness indicators read as a binary
        number (the variable with the most missing values last).

    See Also
    --------
    skmice.plotting.plot_pattern : the same table drawn.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice.diagnostics import md_pattern
    >>> X = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1.0, np.nan, 3.0, np.nan],
    ...                   "c": [np.nan, 2.0, 3.0, np.nan]})
    >>> md_pattern(X)  # doctest: +NORMALIZE_WHITESPACE
       a  b  c
    1  1  1  1  0
    1  1  1  0  1
    1  1  0  1  1
    1  1  0  0  2
       0  2  2  4
    """
    frame = _as_frame(X)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column, got {frame.shape}.")
    missing = frame.isna().to_numpy()
    n_missing = missing.sum(axis=0)
    order = np.argsort(n_missing, kind="stable")
    missing = missing[:, order].astype(np.int8)
    patterns, counts = np.unique(missing, axis=0, return_counts=True)  # lexicographic
    body = np.column_stack([1 - patterns, patterns.sum(axis=1)]).astype(np.int64)
    totals = np.append(n_missing[order], n_missing.sum()).astype(np.int64)
    table = np.vstack([body, totals])
    columns = [frame.columns[j] for j in order] + [""]
    index = pd.Index([int(c) for c in counts] + [""], dtype=object)
    return pd.DataFrame(table, index=index, columns=columns)


# --------------------------------------------------------------------------- #
# Intraclass correlation
# --------------------------------------------------------------------------- #
def _icc_anova(y: np.ndarray, groups: np.ndarray) -> float:
    """One-way ANOVA estimator of the ICC for unbalanced groups (codes 0..J-1)."""
    n_j = np.bincount(groups).astype(np.float64)
    keep = n_j > 0
    n_j = n_j[keep]
    n, k = y.size, n_j.size
    means = np.bincount(groups, weights=y)[keep] / n_j
    grand = y.mean()
    ssb = float(np.sum(n_j * (means - grand) ** 2))
    within = y - (np.bincount(groups, weights=y) / np.maximum(np.bincount(groups), 1))[groups]
    ssw = float(np.sum(within**2))
    msb = ssb / (k - 1)
    msw = ssw / (n - k)
    n0 = (n - np.sum(n_j**2) / n) / (k - 1)
    denom = msb + (n0 - 1.0) * msw
    if denom <= 0:
        return np.nan
    return float((msb - msw) / denom)


def _icc_mixed(y: np.ndarray, groups: np.ndarray) -> float:
    """ICC from the REML variance components of ``y ~ 1 + (1 | group)``."""
    try:
        from statsmodels.regression.mixed_linear_model import MixedLM
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "icc(method='mixed') needs statsmodels: pip install 'skmice[stats]'."
        ) from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (zero cluster variance) warn
        fit = MixedLM(y, np.ones((y.size, 1)), groups=groups).fit(reml=True)
    tau2 = float(np.asarray(fit.cov_re)[0, 0])
    sigma2 = float(fit.scale)
    return tau2 / (tau2 + sigma2)


def icc(X, variable, cluster, method: str = "anova"):
    """Intraclass correlation of a variable within clusters (observed rows).

    The share of the variance that lies between clusters,
    ``tau^2 / (tau^2 + sigma^2)`` in ``y_ij = mu + u_j + e_ij``. Use it to
    decide whether the clustering matters for imputation (large ICCs call for
    two-level methods or cluster means as predictors).

    Parameters
    ----------
    X : DataFrame
        The data.
    variable : column label or list of column labels
        Numeric (or boolean) variable(s); rows where it is missing are dropped.
    cluster : column label
        The cluster identifier.
    method : {"anova", "mixed"}, default="anova"
        ``"anova"``: the one-way ANOVA (method of moments) estimator
        ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with the unbalanced-design
        cluster size ``n0 = (N - sum n_j^2 / N) / (J - 1)``; can be negative
        when the between-cluster variance is small. ``"mixed"``: the REML
        variance components of a random-intercept model fitted by
        statsmodels' MixedLM (needs statsmodels); in [0, 1].

    Returns
    -------
    float or Series
        A float for one variable, a Series (name ``"icc"``) for a list.

    References
    ----------
    Snijders, T. A. B. and Bosker, R. J. (2012). Multilevel Analysis, 2nd
    ed., section 3.3. Sage.

    Examples
    --------
    >>> from skmice.datasets import make_popularity
    >>> from skmice.diagnostics import icc
    >>> data = make_popularity(random_state=0).data
    >>> round(icc(data, "popular", "school"), 2)
    0.56
    >>> round(icc(data, "popular", "school", method="mixed"), 2)
    0.55
    """
    frame = _as_frame(X)
    if method not in ("anova", "mixed"):
        raise ValueError(f"method must be 'anova' or 'mixed', got {method!r}.")
    if cluster not in frame.columns:
        raise ValueError(f"cluster {cluster!r} is not a column of X.")
    if isinstance(variable, (list, tuple, pd.Index, np.ndarray)):
        return pd.Series(
            {v: icc(frame, v, cluster, method) for v in variable}, name="icc", dtype=np.float64
        )
    if variable not in frame.columns:
        raise ValueError(f"variable {variable!r} is not a column of X.")
    if variable == cluster:
        raise ValueError("variable and cluster must be different columns.")
    col = frame[variable]
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise TypeError(f"variable {variable!r} must be numeric or boolean, got dtype {col.dtype}.")
    y = col.to_numpy(dtype=np.float64, na_value=np.nan)
    g = frame[cluster]
    keep = ~np.isnan(y) & g.notna().to_numpy()
    y = y[keep]
    groups = pd.factorize(g[keep])[0]
    n_groups = int(groups.max()) + 1 if groups.size else 0
    if n_groups < 2 or y.size <= n_groups:
        raise ValueError(
            f"icc needs at least two clusters and more observed rows than clusters; "
            f"{variable!r} has {y.size} observed rows in {n_groups} clusters."
        )
    if method == "anova":
        return _icc_anova(y, groups)
    return _icc_mixed(y, groups)


# --------------------------------------------------------------------------- #
# Missingness: which observed variables predict it
# --------------------------------------------------------------------------- #
def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = NA"
    if p < 1e-4:
        return f"p = {p:.1e}"
    return f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"


@dataclass(frozen=True)
class MissingnessTest:
    """Does a variable differ between the rows where another is missing and observed?

    Returned by :func:`missingness_test`; ``str()`` gives a one-line report.

    Attributes
    ----------
    variable : object
        The variable compared.
    by : object
        The variable whose missingness splits the rows.
    method : {"welch", "permutation"}
    statistic : float
        Welch's t, or the difference in means for the permutation test
        (``mean_missing - mean_observed`` in both cases' sign).
    df : float
        Welch-Satterthwaite degrees of freedom (NaN for the permutation test).
    p_value : float
        Two-sided.
    mean_missing, mean_observed : float
        Means of ``variable`` where ``by`` is missing / observed.
    n_missing, n_observed : int
        Numbers of rows (with ``variable`` observed).
    n_permutations : int
        0 for Welch's test.

    Examples
    --------
    >>> from skmice.diagnostics import MissingnessTest
    >>> print(MissingnessTest("texp", "popular", "welch", 2.5, 98.0, 0.014, 15.0, 14.0,
    ...                       40, 60, 0))
    Welch t = 2.50, df = 98.0, p = 0.014
    """

    variable: object
    by: object
    method: str
    statistic: float
    df: float
    p_value: float
    mean_missing: float
    mean_observed: float
    n_missing: int
    n_observed: int
    n_permutations: int = 0

    def __str__(self) -> str:
        if self.method == "welch":
            return f"Welch t = {self.statistic:.2f}, df = {self.df:.1f}, {_format_p(self.p_value)}"
        p = _format_p(self.p_value)
        if self.p_value <= 1.0 / (self.n_permutations + 1):
            p = f"p \u2264 {self.p_value:.2g}"  # no permutation as extreme as the data
        return (
            f"Permutation test ({self.n_permutations:,} permutations): difference in means "
            f"= {self.statistic:.3g}, {p}"
        )


def _permutation_p(
    x: np.ndarray, is_missing: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Difference in means (missing - observed) and its two-sided permutation p-value.

    Random subsets of size k = #missing are drawn as the k smallest of uniform
    keys, in batches of at most ~2e6 keys.
    """
    n, k = x.size, int(is_missing.sum())
    total = x.sum()
    observed = x[is_missing].mean() - x[~is_missing].mean()
    tol = 1e-12 * max(float(np.abs(x).max()), 1e-300)
    batch = max(1, min(n_permutations, 2_000_000 // n))
    exceed, done = 0, 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        keys = rng.random((b, n))
        idx = np.argpartition(keys, k - 1, axis=1)[:, :k]
        s1 = x[idx].sum(axis=1)
        diff = s1 / k - (total - s1) / (n - k)
        exceed += int(np.count_nonzero(np.abs(diff) >= abs(observed) - tol))
        done += b
    return float(observed), (exceed + 1) / (n_permutations + 1)


def missingness_test(
    X,
    variable,
    by,
    method: str = "welch",
    n_permutations: int = 9999,
    random_state=None,
) -> MissingnessTest:
    """Test whether ``variable`` differs between rows where ``by`` is missing or observed.

    The tutorial's check of MAR: if the teacher's experience differs between
    pupils whose popularity is missing and those whose popularity is
    observed, missingness is not completely at random and ``texp`` belongs in
    the imputation model.

    Parameters
    ----------
    X : DataFrame
        The data.
    variable : column label
        A numeric (or boolean) variable; rows where it is missing are dropped.
    by : column label
        The variable whose missingness splits the rows.
    method : {"welch", "permutation"}, default="welch"
        Welch's unequal-variance t-test, or a permutation test of the
        difference in means (exact under exchangeability, no normality).
    n_permutations : int, default=9999
        Permutations for ``method="permutation"``.
    random_state : None, int, SeedSequence or Generator
        Seed of the permutations.

    Returns
    -------
    MissingnessTest

    Notes
    -----
    Rows are treated as independent. With clustered data and a cluster-level
    ``variable`` (constant within clusters) the p-value is optimistic: the
    effective sample size is closer to the number of clusters.

    Examples
    --------
    >>> from skmice.datasets import make_popularity
    >>> from skmice.diagnostics import missingness_test
    >>> data = make_popularity(random_state=0).data
    >>> res = missingness_test(data, "sex", by="popular")
    >>> res.mean_missing < res.mean_observed, res.p_value < 1e-6  # boys miss more often
    (True, True)
    >>> perm = missingness_test(data, "texp", "popular", method="permutation",
    ...                         n_permutations=999, random_state=0)
    >>> perm.n_permutations
    999
    """
    frame = _as_frame(X)
    for name, label in (("variable", variable), ("by", by)):
        if label not in frame.columns:
            raise ValueError(f"{name} {label!r} is not a column of X.")
    if variable == by:
        raise ValueError("variable and by must be different columns.")
    if method not in ("welch", "permutation"):
        raise ValueError(f"method must be 'welch' or 'permutation', got {method!r}.")
    col = frame[variable]
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise TypeError(f"variable {variable!r} must be numeric or boolean, got dtype {col.dtype}.")
    x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    is_missing = frame[by].isna().to_numpy()
    keep = ~np.isnan(x)
    x, is_missing = x[keep], is_missing[keep]
    n1, n0 = int(is_missing.sum()), int((~is_missing).sum())
    if n1 < 2 or n0 < 2:
        raise ValueError(
            f"Need at least two rows with {by!r} missing and two with it observed (where "
            f"{variable!r} is observed), got {n1} and {n0}."
        )
    m1, m0 = float(x[is_missing].mean()), float(x[~is_missing].mean())
    if method == "welch":
        res = stats.ttest_ind(x[is_missing], x[~is_missing], equal_var=False)
        return MissingnessTest(
            variable,
            by,
            "welch",
            float(res.statistic),
            float(res.df),
            float(res.pvalue),
            m1,
            m0,
            n1,
            n0,
            0,
        )
    if not isinstance(n_permutations, numbers.Integral) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive int, got {n_permutations!r}.")
    rng = np.random.default_rng(as_seed_sequence(random_state))
    diff, p = _permutation_p(x, is_missing, int(n_permutations), rng)
    return MissingnessTest(
        variable, by, "permutation", diff, np.nan, p, m1, m0, n1, n0, int(n_permutations)
    )


def _table_test(codes: np.ndarray, indicator: np.ndarray) -> tuple[float, float]:
    """Chi-square test of independence of category codes and a binary indicator.

    Returns Cramer's V and the p-value (NaN when the table is degenerate).
    """
    k = int(codes.max()) + 1
    table = np.bincount(codes * 2 + indicator, minlength=2 * k).reshape(k, 2)
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2 or np.any(table.sum(axis=0) == 0):
        return np.nan, np.nan
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    return float(np.sqrt(chi2 / table.sum())), float(p)


_ASSOC_COLUMNS = [
    "variable",
    "predictor",
    "n_missing",
    "n_observed",
    "mean_missing",
    "mean_observed",
    "smd",
    "corr",
    "cramers_v",
    "p_value",
    "test",
]


def _numeric_association(w: np.ndarray, r: np.ndarray) -> dict:
    x1, x0 = w[r], w[~r]
    out = {
        "n_missing": x1.size,
        "n_observed": x0.size,
        "mean_missing": x1.mean() if x1.size else np.nan,
        "mean_observed": x0.mean() if x0.size else np.nan,
        "smd": np.nan,
        "corr": np.nan,
        "cramers_v": np.nan,
        "p_value": np.nan,
        "test": "welch",
    }
    if x1.size < 2 or x0.size < 2:
        return out
    v1, v0 = x1.var(ddof=1), x0.var(ddof=1)
    if v1 + v0 <= 0:
        return out
    out["smd"] = (out["mean_missing"] - out["mean_observed"]) / np.sqrt((v1 + v0) / 2)
    out["corr"] = float(np.corrcoef(r.astype(np.float64), w)[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one constant group
        out["p_value"] = float(stats.ttest_ind(x1, x0, equal_var=False).pvalue)
    return out


def _categorical_association(codes: np.ndarray, r: np.ndarray) -> dict:
    v, p = _table_test(codes.astype(np.int64), r.astype(np.int64))
    return {
        "n_missing": int(r.sum()),
        "n_observed": int((~r).sum()),
        "mean_missing": np.nan,
        "mean_observed": np.nan,
        "smd": np.nan,
        "corr": np.nan,
        "cramers_v": v,
        "p_value": p,
        "test": "chi2",
    }


def missingness_associations(X, cluster=None) -> pd.DataFrame:
    """Which observed variables predict the missingness of each incomplete variable.

    For every incomplete variable y and every other variable x, compares x
    between the rows where y is missing and those where y is observed (rows
    where x is observed). Variables that predict missingness belong in y's
    imputation model (they make MAR plausible); together with their
    correlation with y itself (:func:`skmice.quickpred`) they are the
    ingredients of the predictor matrix.

    Parameters
    ----------
    X : DataFrame or array-like
        Incomplete data. Numeric and boolean columns are compared by their
        means; categorical and string columns by their category frequencies.
    cluster : column label, optional
        The cluster identifier. It is not used as a numeric predictor;
        instead one row per incomplete variable tests whether the rate of
        missingness differs between clusters.

    Returns
    -------
    DataFrame
        One row per (incomplete variable, predictor), the predictors of each
        variable sorted by p-value. Columns:

        - ``variable``, ``predictor``;
        - ``n_missing``, ``n_observed``: rows with y missing / observed (and
          x observed);
        - ``mean_missing``, ``mean_observed``: means of x in both groups
          (numeric x);
        - ``smd``: standardised mean difference ``(mean_missing -
          mean_observed) / sqrt((s_missing^2 + s_observed^2) / 2)``
          (numeric x; \\|smd\\| above about 0.1-0.2 is a notable imbalance);
        - ``corr``: point-biserial correlation of x with the missingness
          indicator of y (numeric x);
        - ``cramers_v``: Cramer's V of x (categorical x, or the cluster)
          against the missingness indicator;
        - ``p_value``: Welch's t-test (numeric x) or the chi-square test of
          independence (categorical x, cluster);
        - ``test``: ``"welch"`` or ``"chi2"``.

    Notes
    -----
    p-values treat rows as independent: with clustered data they are
    optimistic for cluster-level predictors, and many tests are made; read
    the effect sizes first. The chi-square test of the cluster row is
    approximate when clusters are small.

    See Also
    --------
    missingness_test : one comparison, with a permutation test option.
    skmice.plotting.plot_missing_hist : one comparison drawn.

    Examples
    --------
    >>> from skmice.datasets import make_popularity
    >>> from skmice.diagnostics import missingness_associations
    >>> data = make_popularity(random_state=0).data.drop(columns="pupil")
    >>> tab = missingness_associations(data, cluster="school")
    >>> row = tab.set_index("predictor").loc["sex"]
    >>> bool(row["smd"] < -0.2 and row["p_value"] < 1e-6)  # boys miss more often
    True
    >>> sorted(tab["predictor"])
    ['school', 'sex', 'teachpop', 'texp']
    """
    frame = _as_frame(X)
    if cluster is not None and cluster not in frame.columns:
        raise ValueError(f"cluster {cluster!r} is not a column of X.")
    enc = encode(frame)
    values = enc.values
    columns = list(enc.columns)
    missing = np.isnan(values)
    cj = columns.index(cluster) if cluster is not None else None
    records = []
    for j, name in enumerate(columns):
        if j == cj or not missing[:, j].any():
            continue
        r_all = missing[:, j]
        rows = []
        for k, pred in enumerate(columns):
            if k in (j, cj):
                continue
            ok = ~missing[:, k]
            w, r = values[ok, k], r_all[ok]
            if enc.infos[k].storage == "numeric":
                rec = _numeric_association(w, r)
            else:
                rec = _categorical_association(w, r)
            rows.append({"variable": name, "predictor": pred, **rec})
        if cj is not None:
            ok = frame[cluster].notna().to_numpy()
            codes = pd.factorize(frame[cluster][ok])[0]
            rec = _categorical_association(codes, r_all[ok])
            rows.append({"variable": name, "predictor": cluster, **rec})
        rows.sort(
            key=lambda d: (
                np.isnan(d["p_value"]),
                d["p_value"] if np.isfinite(d["p_value"]) else 0.0,
            )
        )
        records.extend(rows)
    out = pd.DataFrame.from_records(records, columns=_ASSOC_COLUMNS)
    out["n_missing"] = out["n_missing"].astype(np.int64)
    out["n_observed"] = out["n_observed"].astype(np.int64)
    return out
