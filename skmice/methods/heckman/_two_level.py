"""``2l.heckman``: the two-level Heckman selection model (Munoz et al. 2024)."""

from __future__ import annotations

from dataclasses import replace

from sklearn.utils._param_validation import StrOptions

from .._base import Design, register_method
from ._common import _SelectionModel
from ._estimate import _Options


@register_method("2l.heckman")
class TwoLevelHeckman(_SelectionModel):
    """Two-level Heckman selection model imputation for MNAR targets (``2l.heckman``).

    The two-stage method of Munoz et al. (2024), R micemd's
    ``2l.2stage.heckman``: per-cluster maximum-likelihood fits of the
    selection model, a random-effects meta-analysis of the cluster
    estimates, parameter draws, and imputation from the distribution of the
    target given non-selection. Continuous targets use Heckman's model,
    binary targets (codes 0 and 1) the bivariate probit with sample
    selection.

    The outcome equation uses the predictors with codes 1, 2 and -4 of the
    predictor matrix (``design.X``), the selection equation those with codes
    1, 2 and -3 (``design.W``); at least one selection-only variable (the
    exclusion restriction) is required. Every coefficient varies across
    clusters (micemd's convention; codes 1 and 2 are equivalent here).

    Parameters
    ----------
    outcome : {"auto", "continuous", "binary"}, default="auto"
        Model for the target: ``"auto"`` uses the bivariate probit when every
        observed value is 0 or 1.
    min_observed : int, default=10
        Clusters with fewer observed values than this, or than the number of
        parameters plus 2, with no missing value, or (binary) without both
        outcomes observed take their parameters from the population
        distribution (as do clusters whose fit fails).
    random_effects : {"all-but-rho", "all", "intercepts"}, default="all-but-rho"
        Which parameters vary across clusters. ``"all"``: every coefficient,
        ``rho`` and ``sigma`` (micemd). ``"all-but-rho"``: ``rho`` is common
        to all clusters and estimated from their joint likelihood, the other
        parameters per cluster and then meta-analysed; a cluster of a few
        hundred rows hardly identifies its own ``rho``. ``"intercepts"``: as
        ``"all-but-rho"`` with only the two intercepts (and ``sigma``)
        varying in the meta-analysis.
    tau_structure : {"diagonal", "unstructured"}, default="diagonal"
        Between-cluster covariance ``T`` of the meta-analysis. With few
        clusters an unstructured ``T`` (``d (d + 1) / 2`` parameters) is
        poorly estimated and the intervals under-cover.
    penalty : float, default=1e-3
        Ridge penalty ``penalty * |theta|^2 / 2`` on the coefficients (in
        standardised units) in the cluster fits: keeps estimates finite for
        separated or collinear clusters; negligible otherwise.
    rho_penalty : float, default=1.0
        Precision of a normal penalty on ``atanh rho`` centred at 0 in the
        cluster fits (a weak prior: rho in (-0.96, 0.96) with 95%
        probability). It keeps the fits of weakly identified clusters away
        from ``|rho| = 1``; it is removed again before the meta-analysis, so
        it does not shrink the pooled rho towards 0.
    max_iter : int, default=100
        Maximum Newton iterations of the cluster fits.
    rho_scale : {"atanh", "imputation-mean"}, default="atanh"
        Scale of the normal approximation from which the common ``atanh
        rho`` is drawn (``random_effects`` other than ``"all"``).
        ``"atanh"``: normal in ``atanh rho``. ``"imputation-mean"``: normal
        in the mean of the imputations (the mean over the rows to impute of
        the target's expectation given non-selection, a monotone function
        ``G`` of ``rho``) with the delta-method spread ``|G'| sd(atanh
        rho)``, mapped back to ``atanh rho``: the convexity of ``G`` does not
        shift the imputations' mean, but the intervals are narrower.
    rho_prior : {"normal", "none"}, default="normal"
        What the draws of the common ``atanh rho`` rest on (``random_effects``
        other than ``"all"``). ``"normal"``: the likelihood times the normal
        prior of ``rho_penalty`` (``atanh rho ~ N(0, 1 / rho_penalty)``), a
        proper posterior, which the likelihood dominates wherever it
        identifies ``rho``. ``"none"``: the likelihood alone; where it is flat
        (a weak exclusion restriction) its normal approximation is very wide
        and the draws pile up at ``|rho|`` near 1, where the prevalence among
        non-responders is 0 or 1.

    Attributes
    ----------
    outcome_ : str
        ``"continuous"`` or ``"binary"``.
    theta_hat_ : ndarray of shape (n_groups, d)
        Stage-1 (penalised) estimates of ``(beta, gamma, atanh rho[, log
        sigma])`` for the standardised designs; NaN for clusters not fitted.
    fitted_clusters_ : ndarray of bool of shape (n_groups,)
        Clusters whose own fit entered the meta-analysis.
    mu_ : ndarray of shape (d,)
        Population mean of ``theta``; ``cov_mu_`` its covariance.
    tau_ : ndarray of shape (d, d)
        Between-cluster covariance.
    theta_star_ : ndarray of shape (n_groups, d)
        Parameters drawn in the last ``fit``.
    rho_ : float
        ``tanh`` of the population mean of ``atanh rho`` (its likelihood
        estimate).
    rho_interval_ : tuple of float
        95% interval of ``rho`` from the information of the likelihood
        (normal in ``atanh rho``).
    rho_weakly_identified_ : bool
        True when ``rho_interval_`` is wider than 1 (more than half of
        ``(-1, 1)``): the data hardly say how far the values are missing
        not at random. ``fit`` then warns once
        (:class:`~skmice.exceptions.WeakIdentificationWarning`).
    fallback_ : bool
        True when no cluster could be fitted on its own and a single-level
        model of all rows was used.
    n_groups_ : int
        Number of clusters.

    See Also
    --------
    Heckman : the single-level version (no cluster column).
    DeltaNormal, DeltaLogistic : delta adjustment for sensitivity analyses.

    Notes
    -----
    ``fit`` receives every row (``needs_all_rows``): ``y`` is NaN where the
    target is missing, and the selection indicator is ``~isnan(y)``.

    Stage 1 fits the selection model in every eligible cluster at once, by
    damped Newton steps with the analytic gradient and Hessian on designs
    standardised with the means and standard deviations of all rows (with
    ``atanh rho`` common to the clusters unless ``random_effects="all"``).
    Stage 2 pools the cluster likelihoods, as normal approximations with
    the penalty taken out, by REML (EM algorithm); ``mu*`` is drawn from
    the approximate posterior of ``mu``, every fitted cluster's parameters
    from their posterior given its own data, and every other cluster's from
    ``N(mu*, T)``; ``T`` is not drawn. With a single fitted cluster this is
    the single-level model; if no cluster can be fitted on its own, all
    rows are fitted as one cluster (``fallback_``), and if that fails too a
    ValueError is raised.

    Sampler state: when ``fit`` sees the same data again (a target whose
    predictors are complete) the stage-1 and stage-2 results are reused and
    only the draws are renewed; otherwise the previous estimates serve as
    start values.

    The user guide ("Missing not at random", ``docs/guide/mnar.rst``)
    describes the algorithm in full, its differences from micemd, and the
    simulations behind the defaults.

    References
    ----------
    Munoz, J. et al. (2024). Multiple imputation of incomplete multilevel
    data using Heckman selection models. *Statistics in Medicine*.

    Heckman, J. J. (1979). Sample selection bias as a specification error.
    *Econometrica*, 47(1), 153-161.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import Design, TwoLevelHeckman
    >>> rng = np.random.default_rng(0)
    >>> n, groups = 3000, np.repeat(np.arange(6), 500)
    >>> x, z = rng.standard_normal(n), rng.standard_normal(n)
    >>> e, u = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n).T
    >>> y = 1 + x + e
    >>> observed = 0.5 + 0.5 * x + z + u > 0
    >>> d = Design(X=np.column_stack([np.ones(n), x]), groups=groups, n_groups=6,
    ...            W=np.column_stack([np.ones(n), x, z]))
    >>> m = TwoLevelHeckman().fit(d, np.where(observed, y, np.nan), rng)
    >>> bool(0.3 < m.rho_ < 0.9)  # the true rho is 0.6
    True
    >>> imputed = m.sample(d.take(~observed), rng)
    >>> bool(abs(imputed.mean() - y[~observed].mean()) < 0.15)
    True
    """

    needs_groups = True
    needs_random_part = False
    _name = "TwoLevelHeckman ('2l.heckman')"
    _parameter_constraints = {
        **_SelectionModel._parameter_constraints,
        "random_effects": [StrOptions({"all", "all-but-rho", "intercepts"})],
        "tau_structure": [StrOptions({"unstructured", "diagonal"})],
        "rho_scale": [StrOptions({"imputation-mean", "atanh"})],
        "rho_prior": [StrOptions({"normal", "none"})],
    }

    def __init__(
        self,
        outcome="auto",
        min_observed=10,
        random_effects="all-but-rho",
        tau_structure="diagonal",
        penalty=1e-3,
        rho_penalty=1.0,
        max_iter=100,
        rho_scale="atanh",
        rho_prior="normal",
    ):
        self.outcome = outcome
        self.min_observed = min_observed
        self.random_effects = random_effects
        self.tau_structure = tau_structure
        self.penalty = penalty
        self.rho_penalty = rho_penalty
        self.max_iter = max_iter
        self.rho_scale = rho_scale
        self.rho_prior = rho_prior

    def _options(self) -> _Options:
        return replace(
            super()._options(),
            random_effects=self.random_effects,
            tau_structure=self.tau_structure,
            rho_scale=self.rho_scale,
            rho_prior=self.rho_prior,
        )

    def _clusters(self, design: Design, n: int):
        """The design's cluster codes as int64 and the number of clusters, checked."""
        return design.groups, design.n_groups
