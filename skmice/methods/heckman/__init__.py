"""Heckman selection models: imputation of targets missing not at random.

Selection models (Munoz et al. 2024; R micemd's ``2l.2stage.heckman``). For
row ``i`` of cluster ``j``::

    outcome      y*_ij = x_ij' beta_j + e_ij
    selection    s*_ij = w_ij' gamma_j + u_ij,   y observed  <=>  s*_ij > 0
    (e, u) bivariate normal, var(u) = 1, var(e) = sigma_j^2, corr(e, u) = rho_j

Continuous targets: ``y = y*`` (Heckman's model); binary targets: ``y =
1(y* > 0)`` with ``var(e) = 1`` (bivariate probit with sample selection).
``w`` holds the outcome predictors plus at least one exclusion-restriction
variable that affects selection only.

The two stages:

1. Per cluster, (lightly penalised) maximum likelihood of ``theta_j =
   (beta_j, gamma_j, atanh rho_j[, log sigma_j])``: probit start for
   ``gamma_j`` and the Heckman two-step estimate for the outcome part, then
   damped Newton steps with the analytic gradient and Hessian, all clusters
   at once (the log-likelihood is a sum of per-cluster terms, so one
   vectorised computation serves every cluster).
2. Random-effects multivariate meta-analysis of the cluster likelihoods
   (normal approximations in information form): population mean ``mu`` and
   between-cluster covariance ``T`` by REML, computed by the EM algorithm;
   ``mu* ~ N(mu_hat, cov(mu_hat))``, then every fitted cluster's
   ``theta_j*`` from its posterior given its own data, ``mu*`` and ``T``,
   and every other cluster ``theta_j* ~ N(mu*, T)``.

Imputation draws each missing ``y`` from its distribution given
non-selection, ``u < -w' gamma_j``.

Modules, one concept each: ``_bvn`` (the bivariate normal distribution
function), ``_likelihood`` (the log-likelihood, its derivatives and the
Newton optimiser), ``_meta`` (the REML meta-analysis), ``_estimate`` (the
two stages for one target and the parameter draws), ``_conditional`` (the
target given non-selection), ``_common`` (the input checks and fit shell
both methods share), ``_two_level`` (:class:`TwoLevelHeckman`) and
``_single_level`` (:class:`Heckman`).
"""

from ._bvn import bivariate_normal_cdf
from ._single_level import Heckman
from ._two_level import TwoLevelHeckman

__all__ = ["Heckman", "TwoLevelHeckman", "bivariate_normal_cdf"]
