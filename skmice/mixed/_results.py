"""The result of a linear mixed-model fit, with the surface statsmodels users expect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ._fit import LmmSolution
from ._theta import ThetaLayout

__all__ = ["LmerResults"]

#: lme4's ``isSingular`` tolerance on the diagonal of the relative factor.
SINGULAR_TOL = 1e-4


def _block_labels(group: str, blocks: list) -> list:
    """lme4's names of the random-effect terms over one factor: g, g.1, g.2, ..."""
    return [group if k == 0 else f"{group}.{k}" for k in range(len(blocks))]


class LmerResults:
    """A fitted linear mixed model (``lmer``), labelled like statsmodels' ``MixedLMResults``.

    Returned by :func:`skmice.mixed.lmer`; not meant to be built directly.

    Attributes
    ----------
    params : Series
        Fixed effects, named as statsmodels and patsy name them
        (``"Intercept"``, ``"sex"``, ``"sex:texp"``, ``"group[T.b]"``).
    fe_params : Series
        The same (statsmodels' name).
    bse : Series
        Standard errors of the fixed effects.
    tvalues : Series
        ``params / bse``.
    pvalues : Series
        Two-sided p-values from the standard normal (as statsmodels' MixedLM;
        lme4 reports none).
    cov_re : DataFrame or dict of DataFrame
        Covariance matrix of a cluster's random effects (rows and columns:
        ``"Intercept"`` and the random slopes); with several grouping
        factors a dict of them by factor (in :attr:`groups`' order).
    scale : float
        Residual variance ``sigma^2``.
    variance_components : Series
        Random-effect variances and covariances, residual variance and ICC,
        labelled as mitml's ``testEstimates`` labels them
        (``"Intercept~~Intercept|school"``, ``"sex~~sex|school"``,
        ``"Intercept~~sex|school"``, ``"Residual~~Residual"``,
        ``"ICC|school"``): what :meth:`MultipleAnalyses.pool_extra
        <skmice.analysis.MultipleAnalyses.pool_extra>` averages. With several
        grouping factors every factor's components are listed
        (``"Intercept~~Intercept|class:school"``, ``"Intercept~~Intercept|school"``)
        and no ICC, as mitml.
    random_effects : DataFrame or dict of DataFrame
        Conditional modes of the random effects (lme4's ``ranef``), one row
        per cluster; with several grouping factors a dict by factor.
    llf : float
        Log-likelihood; the restricted log-likelihood for REML fits, as
        lme4's ``logLik`` and statsmodels report.
    deviance : float
        ``-2 llf`` (lme4's ``REMLcrit`` for REML fits).
    aic, bic : float
        As lme4's ``AIC`` and ``BIC`` (from ``llf``, with the fixed effects,
        the covariance parameters and the residual variance counted).
    nobs : int
        Number of rows used.
    n_groups : int or dict
        Number of clusters; with several grouping factors a dict by factor
        (lme4's ``ngrps``).
    group : str
        The grouping factor (several: their names joined by ``", "``).
    groups : list of str
        The grouping factors, ordered as lme4 orders them (by decreasing
        number of levels): the order of :attr:`theta`.
    df_resid : int
        ``nobs`` minus the number of parameters (fixed effects, covariance
        parameters and residual variance), lme4's ``df.residual``, which R
        ``mice::pool`` takes (through broom.mixed) as the complete-data df of
        ``lmer`` fits. :func:`skmice.analysis.extract` reports ``dfcom = inf``
        instead, as mitml's ``testEstimates`` uses by default; pass
        ``pool(dfcom=fits[0].df_resid)`` for mice's choice.
    theta : ndarray
        The relative covariance parameters (lme4's ``getME(fit, "theta")``).
    reml : bool
        Whether the fit is REML.
    converged : bool
    singular : bool
        Whether the fit is on the boundary (a random-effect variance, or a
        direction of the covariance matrix, estimated at 0), as lme4's
        ``isSingular``.
    formula : str

    See Also
    --------
    skmice.mixed.lmer : fits the model.
    """

    def __init__(self, solution: LmmSolution, fixed_names: list, re_names: list, blocks: list,
                 group, levels, nobs: int, formula: str = ""):
        several = not isinstance(group, str)
        if not several:  # one factor: its names, blocks, levels and random effects alone
            group, re_names, blocks, levels = [group], [re_names], [blocks], [levels]
        ranef = list(solution.random_effects) if several else [solution.random_effects]
        # one entry per factor: (group, names, blocks, levels)
        factors = list(zip(map(str, group), map(list, re_names), map(list, blocks), levels))
        self._solution = solution
        self._factors = factors
        self.formula = formula
        self.groups = [f[0] for f in factors]
        self.group = ", ".join(self.groups)
        self.nobs = int(nobs)
        self.reml = bool(solution.reml)
        self.converged = bool(solution.converged)
        self.theta = solution.theta
        names = pd.Index(fixed_names)
        self.params = pd.Series(solution.beta, index=names, dtype=float)
        self._cov = pd.DataFrame(solution.cov_beta, index=names, columns=names)
        self.scale = float(solution.sigma2)
        covs, ranefs, start = {}, {}, 0
        for (g, re, _, lev), b in zip(factors, ranef):
            sl = slice(start, start + len(re))
            covs[g] = pd.DataFrame(solution.cov_re[sl, sl], index=re, columns=re)
            ranefs[g] = pd.DataFrame(b, index=lev, columns=re)
            start += len(re)
        sizes = {g: int(len(lev)) for g, _, _, lev in factors}
        pick = (lambda d: d) if several else (lambda d: d[self.groups[0]])
        self.cov_re = pick(covs)
        self.random_effects = pick(ranefs)
        self.n_groups = pick(sizes)
        self.llf = float(solution.llf)
        self.deviance = float(solution.deviance)
        all_blocks = tuple(b for f in factors for b in f[2])
        diag = np.asarray(self.theta)[ThetaLayout(all_blocks).diagonal]
        self.singular = bool(np.any(diag < SINGULAR_TOL))

    # -- statsmodels-like surface ------------------------------------------

    @property
    def fe_params(self) -> pd.Series:
        """Fixed effects (statsmodels' name for :attr:`params`)."""
        return self.params

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._cov.to_numpy())), index=self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse``."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values of the fixed effects (as statsmodels' MixedLM)."""
        return pd.Series(2.0 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (lme4's ``vcov``).

        Returns
        -------
        DataFrame
        """
        return self._cov.copy()

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals of the fixed effects (normal quantiles).

        Parameters
        ----------
        alpha : float, default=0.05

        Returns
        -------
        DataFrame
            Columns 0 and 1 (lower, upper), as statsmodels.
        """
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        return pd.DataFrame({0: self.params - z * self.bse, 1: self.params + z * self.bse})

    @property
    def df_resid(self) -> int:
        """``nobs`` minus the number of parameters, lme4's ``df.residual``."""
        return self.nobs - self.n_parameters

    @property
    def n_parameters(self) -> int:
        """Fixed effects, covariance parameters and the residual variance (lme4's ``npar``)."""
        return len(self.params) + self.n_covariance_parameters + 1

    @property
    def n_covariance_parameters(self) -> int:
        """Number of random-effect covariance parameters (the size of theta)."""
        return int(np.size(self.theta))

    @property
    def aic(self) -> float:
        """Akaike's criterion, as lme4's ``AIC``."""
        return -2.0 * self.llf + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """Bayesian criterion, as lme4's ``BIC``."""
        return -2.0 * self.llf + math.log(self.nobs) * self.n_parameters

    @property
    def variance_components(self) -> pd.Series:
        """Variance components, residual variance and ICC with mitml's labels."""
        out = {}
        for group, names, blocks, _ in self._factors:
            cov = self._cov_of(group).to_numpy()
            start = 0
            for label, size in zip(_block_labels(group, blocks), blocks):
                idx = range(start, start + size)
                for i in idx:
                    out[f"{names[i]}~~{names[i]}|{label}"] = cov[i, i]
                # mitml walks the upper triangle column by column
                for j in idx:
                    for i in idx:
                        if i < j:
                            out[f"{names[i]}~~{names[j]}|{label}"] = cov[i, j]
                start += size
        out["Residual~~Residual"] = self.scale
        group, names, blocks, _ = self._factors[0]
        if len(self._factors) == 1 and len(blocks) == 1 and "Intercept" in names:
            k = names.index("Intercept")
            cov = self.cov_re.to_numpy()
            out[f"ICC|{group}"] = cov[k, k] / (cov[k, k] + self.scale)
        return pd.Series(out, dtype=float)

    def _cov_of(self, group: str) -> pd.DataFrame:
        return self.cov_re[group] if isinstance(self.cov_re, dict) else self.cov_re

    # -- display -------------------------------------------------------------

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return (
            f"LmerResults({kind}, nobs={self.nobs}, n_groups={self.n_groups} "
            f"[{self.group}], {len(self.params)} fixed effects, llf={self.llf:.4f})"
        )

    def summary(self) -> str:
        """A printable summary in the layout of lme4's ``summary(lmer(...))``.

        Returns
        -------
        str
        """
        kind = "REML" if self.reml else "maximum likelihood"
        crit = "REML criterion at convergence" if self.reml else "deviance"
        lines = [f"Linear mixed model fit by {kind}"]
        if self.formula:
            lines.append(f"Formula: {self.formula}")
        lines.append(f"{crit}: {self.deviance:.4f}")
        lines.append("")
        lines.append("Random effects:")
        labels = [lab for g, _, b, _ in self._factors for lab in _block_labels(g, b)]
        re_names = [n for f in self._factors for n in f[1]]
        w_group = max(len(g) for g in [*labels, "Residual", "Groups"]) + 2
        w_name = max(len(n) for n in [*re_names, "Name"]) + 2
        lines.append(f" {'Groups':<{w_group}}{'Name':<{w_name}}{'Variance':>10} {'Std.Dev.':>9}")
        for group, names, blocks, _ in self._factors:
            var = np.diag(self._cov_of(group).to_numpy())
            start = 0
            for label, size in zip(_block_labels(group, blocks), blocks):
                for i in range(start, start + size):
                    head = label if i == start else ""
                    lines.append(
                        f" {head:<{w_group}}{names[i]:<{w_name}}"
                        f"{var[i]:>10.4f} {math.sqrt(var[i]):>9.4f}"
                    )
                start += size
        lines.append(
            f" {'Residual':<{w_group + w_name}}{self.scale:>10.4f} {math.sqrt(self.scale):>9.4f}"
        )
        counts = "; ".join(f"{g}, {len(lev)}" for g, _, _, lev in self._factors)
        lines.append(f"Number of obs: {self.nobs}, groups: {counts}")
        if self.singular:
            lines.append("boundary (singular) fit")
        lines.append("")
        lines.append("Fixed effects:")
        table = pd.DataFrame(
            {"Estimate": self.params, "Std. Error": self.bse, "t value": self.tvalues}
        )
        lines.append(table.to_string(float_format=lambda v: f"{v:.5g}"))
        return "\n".join(lines)

