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
    cov_re : DataFrame
        Covariance matrix of a cluster's random effects (rows and columns:
        ``"Intercept"`` and the random slopes).
    scale : float
        Residual variance ``sigma^2``.
    variance_components : Series
        Random-effect variances and covariances, residual variance and ICC,
        labelled as mitml's ``testEstimates`` labels them
        (``"Intercept~~Intercept|school"``, ``"sex~~sex|school"``,
        ``"Intercept~~sex|school"``, ``"Residual~~Residual"``,
        ``"ICC|school"``): what :meth:`MultipleAnalyses.pool_extra
        <skmice.analysis.MultipleAnalyses.pool_extra>` averages.
    random_effects : DataFrame
        Conditional modes of the random effects (lme4's ``ranef``), one row
        per cluster.
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
    n_groups : int
        Number of clusters.
    group : str
        The grouping factor.
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
                 group: str, levels: pd.Index, nobs: int, formula: str = ""):
        self._solution = solution
        self.formula = formula
        self.group = str(group)
        self.nobs = int(nobs)
        self.n_groups = int(len(levels))
        self.reml = bool(solution.reml)
        self.converged = bool(solution.converged)
        self.theta = solution.theta
        self._re_names = list(re_names)
        self._blocks = list(blocks)
        names = pd.Index(fixed_names)
        self.params = pd.Series(solution.beta, index=names, dtype=float)
        self._cov = pd.DataFrame(solution.cov_beta, index=names, columns=names)
        self.scale = float(solution.sigma2)
        self.cov_re = pd.DataFrame(solution.cov_re, index=re_names, columns=re_names)
        self.random_effects = pd.DataFrame(
            solution.random_effects, index=levels, columns=re_names
        )
        self.llf = float(solution.llf)
        self.deviance = float(solution.deviance)
        diag = np.asarray(self.theta)[ThetaLayout(tuple(blocks)).diagonal]
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
        names = self._re_names
        cov = self.cov_re.to_numpy()
        out = {}
        start = 0
        labels = _block_labels(self.group, self._blocks)
        for label, size in zip(labels, self._blocks):
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
        if len(self._blocks) == 1 and "Intercept" in names:
            k = names.index("Intercept")
            out[f"ICC|{self.group}"] = cov[k, k] / (cov[k, k] + self.scale)
        return pd.Series(out, dtype=float)

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
        sds = np.sqrt(np.diag(self.cov_re.to_numpy()))
        labels = _block_labels(self.group, self._blocks)
        w_group = max(len(g) for g in [*labels, "Residual", "Groups"]) + 2
        w_name = max(len(n) for n in [*self._re_names, "Name"]) + 2
        lines.append(f" {'Groups':<{w_group}}{'Name':<{w_name}}{'Variance':>10} {'Std.Dev.':>9}")
        start = 0
        for label, size in zip(labels, self._blocks):
            for i in range(start, start + size):
                head = label if i == start else ""
                lines.append(
                    f" {head:<{w_group}}{self._re_names[i]:<{w_name}}"
                    f"{self.cov_re.iat[i, i]:>10.4f} {sds[i]:>9.4f}"
                )
            start += size
        lines.append(
            f" {'Residual':<{w_group + w_name}}{self.scale:>10.4f} {math.sqrt(self.scale):>9.4f}"
        )
        lines.append(f"Number of obs: {self.nobs}, groups: {self.group}, {self.n_groups}")
        if self.singular:
            lines.append("boundary (singular) fit")
        lines.append("")
        lines.append("Fixed effects:")
        table = pd.DataFrame(
            {"Estimate": self.params, "Std. Error": self.bse, "t value": self.tvalues}
        )
        lines.append(table.to_string(float_format=lambda v: f"{v:.5g}"))
        return "\n".join(lines)

