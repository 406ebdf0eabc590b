"""``lmer``: a linear mixed model from an lme4-style formula."""

from __future__ import annotations

import pandas as pd

from .._blas import single_threaded_blas
from ._fit import fit_lmm_statistics
from ._model_frame import MixedDesign, build_design
from ._multi_stats import MultiStatistics, multi_statistics
from ._results import LmerResults
from ._sufficient import SufficientStatistics, sufficient_statistics
from ._theta import ThetaLayout

__all__ = ["lmer"]


def _check_reml(reml) -> bool:
    if not isinstance(reml, bool):
        raise TypeError(f"reml must be True or False, got {reml!r}.")
    return reml


def ordered_factors(design: MixedDesign) -> list:
    """The grouping factors by decreasing number of levels (stable), lme4's order."""
    return sorted(design.factors, key=lambda f: -f.n_groups)


def design_statistics(design: MixedDesign, Y=None) -> SufficientStatistics | MultiStatistics:
    """Sufficient statistics of a design's response(s) (``Y`` overrides ``design.y``)."""
    Y = design.y if Y is None else Y
    if len(design.factors) == 1:
        factor = design.factors[0]
        return sufficient_statistics(
            factor.codes, factor.n_groups, factor.Z, design.X, Y, names=design.fixed_names,
        )
    factors = [(f.codes, f.n_groups, f.Z) for f in ordered_factors(design)]
    return multi_statistics(factors, design.X, Y, names=design.fixed_names)


def results_from(stats, design: MixedDesign, reml: bool) -> LmerResults:
    """Fit one response's statistics and label the result with the design's names."""
    if len(design.factors) == 1:
        factor = design.factors[0]
        solution = fit_lmm_statistics(stats, ThetaLayout(tuple(factor.blocks)), reml)
        return LmerResults(
            solution,
            fixed_names=design.fixed_names,
            re_names=factor.names,
            blocks=factor.blocks,
            group=factor.name,
            levels=factor.levels,
            nobs=design.n_obs,
            formula=design.formula.text,
        )
    factors = ordered_factors(design)
    layout = ThetaLayout(tuple(b for f in factors for b in f.blocks))
    solution = fit_lmm_statistics(stats, layout, reml)
    return LmerResults(
        solution,
        fixed_names=design.fixed_names,
        re_names=[f.names for f in factors],
        blocks=[f.blocks for f in factors],
        group=[f.name for f in factors],
        levels=[f.levels for f in factors],
        nobs=design.n_obs,
        formula=design.formula.text,
    )


def lmer(formula: str, data: pd.DataFrame, reml: bool = True) -> LmerResults:
    """Fit a linear mixed model written in lme4's formula syntax.

    Random intercepts and slopes with an unstructured covariance matrix over
    one or several grouping factors (nested or crossed), by REML (default)
    or maximum likelihood, as ``lme4::lmer``: the profiled deviance in
    lme4's relative covariance factor theta (Bates et al., 2015) is
    minimised with exact gradients, every per-cluster operation vectorised
    over the clusters.

    Parameters
    ----------
    formula : str
        ``"outcome ~ fixed terms + (random terms | group)"``. Fixed terms:
        column names, interactions ``a:b`` and ``a*b`` (``a + b + a:b``),
        ``0``/``-1`` to drop the intercept, ``factor(x)``/``C(x)`` read as
        ``x``. Text, categorical and boolean columns enter as treatment
        dummies (``group[T.b]``). Random part: ``(1 | g)``, ``(1 + x | g)``,
        ``(0 + x | g)``, ``(1 + x || g)`` (uncorrelated), and several parts
        over the same ``g`` (independent blocks). Several grouping factors:
        crossed ``(1 | school) + (1 | neighbourhood)``, nested
        ``(1 | school/class)`` (lme4's ``(1 | school) + (1 | class:school)``),
        ``(1 | a:b)`` (a group per combination of ``a`` and ``b``), each
        with its own random terms.
    data : DataFrame
        Rows with a missing value in a variable of the formula are dropped.
    reml : bool, default=True
        Restricted maximum likelihood (lme4's default) or maximum likelihood
        (for likelihood-ratio tests of fixed effects).

    Returns
    -------
    LmerResults
        ``params``, ``bse``, ``cov_params()``, ``cov_re``, ``scale``,
        ``variance_components``, ``llf``, ``nobs``... accepted by
        :func:`skmice.analysis.extract`, so ``pool()`` and ``pool_extra()``
        work on a list of them. With several grouping factors ``cov_re``,
        ``random_effects`` and ``n_groups`` are dicts by factor.

    Raises
    ------
    ValueError
        For unknown columns, a rank-deficient fixed-effects matrix, a
        formula without random part.

    See Also
    --------
    skmice.MultiplyImputedData.analyze_mixed : the same model on every
        imputed dataset, batched.

    Notes
    -----
    With one grouping factor the Cholesky factor of lme4's penalised
    system is block diagonal, one q x q block per cluster; the blocks come
    from the per-cluster cross-products ``Z_j'Z_j``, ``Z_j'X_j`` and
    ``Z_j'y_j``, computed once. With several, the factor with the most
    levels keeps that block-diagonal part and the others enter through a
    Schur complement, dense within each connected component of the levels
    (a school with its classes when classes are nested in schools, all
    levels when factors are crossed): its order is the other factors'
    levels in a component times their random effects per level, which is
    fast up to a few thousand. The
    covariance of the fixed effects is lme4's ``vcov``; no denominator
    degrees of freedom are computed (as lme4: use Satterthwaite's or
    Kenward-Roger's elsewhere).

    References
    ----------
    Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*,
    67(1), 1-48.

    Examples
    --------
    >>> from skmice.datasets import make_popularity
    >>> from skmice.mixed import lmer
    >>> data = make_popularity(random_state=0).complete
    >>> fit = lmer("popular ~ sex * texp + (1 + sex | school)", data)
    >>> fit.params.round(4)
    Intercept    3.4839
    sex          1.5913
    texp         0.1039
    sex:texp    -0.0486
    dtype: float64
    >>> fit.variance_components.round(4)
    Intercept~~Intercept|school    0.4015
    sex~~sex|school                0.2297
    Intercept~~sex|school          0.0173
    Residual~~Residual             0.3956
    ICC|school                     0.5037
    dtype: float64
    """
    reml = _check_reml(reml)
    design = build_design(formula, data)
    with single_threaded_blas():  # small matrices: threads only cost (and change last bits)
        return results_from(design_statistics(design), design, reml)
