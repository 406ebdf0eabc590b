"""Multivariate missingness on ref_a: all two-level methods in one imputer, model 2 vs R.

popular and extrav (2l.pan), club (2l.bin, Polya-Gamma Gibbs) and tsize
(2lonly.norm, cluster level) are incomplete at once and imputed together
with R's predictor matrix (tests/reference/test_ref_a_two_level.py), m = 20,
maxit = 10, as in ref_a_R_2l.pan.json.

Analysis model 2 is R's ``glmer(club ~ popular + sex + tsize + (1 | school),
binomial)``: a *conditional* (cluster-specific) model. Its coefficients are
larger than those of a population-averaged model (a GLM with cluster-robust
errors) by a factor of about ``sqrt(1 + 0.346 sigma_u^2)``, so the comparison
uses a conditional model here too: the random-intercept logistic model fitted
by maximising the Laplace approximation of the marginal likelihood, which is
what ``glmer`` does by default (``nAGQ = 1``), with the covariance of the
fixed effects from the numerical Hessian of that objective (lme4's
``use.hessian``). It is implemented below in a few lines (vectorised Newton
steps for the cluster modes) because statsmodels' ``BinomialBayesMixedGLM``
is too slow for 20 fits (2.5 s each with ``fit_vb``) and its mean-field
variational standard errors are far too small (0.05 instead of 0.5 for the
intercept). On ref_a_full it reproduces ref_a_truth.json's glmer estimates
to 1e-3 (checked below).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from skmice import MultilevelIterativeImputer, make_methods, multiple_impute
from tests._reference import load_json, reference_path
from tests.reference.test_ref_a_two_level import r_two_level_setup

TERMS = ["(Intercept)", "popular", "sex", "tsize"]


def _laplace_loglik(theta, X, y, g, n_groups):
    """Laplace approximation of the log-likelihood of a random-intercept logit model."""
    p = X.shape[1]
    s2 = np.exp(2 * theta[p])
    f = X @ theta[:p]
    b = np.zeros(n_groups)
    for _ in range(50):  # Newton steps for all cluster modes at once
        mu = expit(f + b[g])
        grad = np.bincount(g, y - mu, n_groups) - b / s2
        hess = np.bincount(g, mu * (1 - mu), n_groups) + 1 / s2
        step = grad / hess
        b += step
        if np.max(np.abs(step)) < 1e-10:
            break
    eta = f + b[g]
    mu = expit(eta)
    hess = np.bincount(g, mu * (1 - mu), n_groups) + 1 / s2
    loglik = np.sum(y * eta - np.logaddexp(0, eta))
    return loglik - np.sum(b**2) / (2 * s2) - 0.5 * np.sum(np.log(s2 * hess))


def fit_glmer_laplace(data: pd.DataFrame) -> dict:
    """club ~ popular + sex + tsize + (1 | school), binomial, as glmer (Laplace)."""
    X = np.column_stack([np.ones(len(data)), data["popular"], data["sex"], data["tsize"]])
    y = data["club"].to_numpy(dtype=float)
    g = np.unique(data["school"].to_numpy(), return_inverse=True)[1]
    n_groups = int(g.max()) + 1
    p = X.shape[1]

    def objective(theta):
        return -_laplace_loglik(theta, X, y, g, n_groups)

    start = np.zeros(p + 1)
    start[p] = np.log(0.5)
    theta = minimize(objective, start, method="BFGS", options={"gtol": 1e-6}).x
    k = theta.size
    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    H = np.zeros((k, k))
    for i in range(k):  # central-difference Hessian of the objective
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            H[i, j] = H[j, i] = (
                objective(theta + ei + ej)
                - objective(theta + ei - ej)
                - objective(theta - ei + ej)
                + objective(theta - ei - ej)
            ) / (4 * h[i] * h[j])
    cov = np.linalg.inv(H)[:p, :p]
    return {
        "params": pd.Series(theta[:p], index=TERMS),
        "cov": pd.DataFrame(cov, index=TERMS, columns=TERMS),
        "extra": pd.Series({"Intercept~~Intercept|school": float(np.exp(2 * theta[p]))}),
    }


@pytest.fixture(scope="module")
def ref_data():
    return pd.read_csv(reference_path("ref_a.csv"))


@pytest.fixture(scope="module")
def full_fit():
    return fit_glmer_laplace(pd.read_csv(reference_path("ref_a_full.csv")))


def test_laplace_fit_reproduces_glmer_on_complete_data(full_fit):
    truth = load_json("ref_a_truth.json")["model2"]
    est = full_fit["params"]
    se = np.sqrt(np.diag(full_fit["cov"]))
    np.testing.assert_allclose(est, truth["estimate"], atol=2e-3)
    np.testing.assert_allclose(se, truth["se"], rtol=0.01)


@pytest.fixture(scope="module")
def pooled_model2(ref_data):
    pm, methods = r_two_level_setup(ref_data, "2l.pan")
    methods["club"] = "2l.bin"
    imp = MultilevelIterativeImputer(
        methods=methods, predictor_matrix=pm, cluster="school", max_iter=10
    )
    mi = multiple_impute(ref_data, imp, n_imputations=20, random_state=1)
    fits = mi.analyze(fit_glmer_laplace)
    return mi, fits.pool(), fits.pool_extra()


def test_all_methods_together_give_valid_data(ref_data, pooled_model2):
    mi = pooled_model2[0]
    for i in (1, 20):
        completed = mi.complete(i)
        assert completed.notna().all().all()
        assert set(completed["club"].unique()) <= {0.0, 1.0}
        assert (completed.groupby("school")["tsize"].nunique() == 1).all()
        observed = ref_data.notna()
        pd.testing.assert_frame_equal(completed[observed], ref_data[observed])


def test_model2_matches_r_and_truth(pooled_model2, full_fit):
    _, pooled, extra = pooled_model2
    ref = load_json("ref_a_R_2l.pan.json")["model2"]
    truth = load_json("ref_a_truth.json")["model2"]
    r = pd.DataFrame(ref["fixed"]).set_index("term")
    tr = pd.Series(truth["estimate"], index=truth["term"])
    for term in TERMS:
        est = pooled.loc[term, "estimate"]
        assert abs(est - r.loc[term, "estimate"]) < 0.5 * r.loc[term, "se"], (term, est)
        z_truth = (est - tr[term]) / pooled.loc[term, "std_error"]
        assert abs(z_truth) < 2, (term, z_truth)
    # school variance of club: R's 2l.bin draws the random effects of the
    # imputed rows from the prior, which dilutes the clustering (0.28); the
    # posterior draws keep it near the complete-data value (0.48)
    key = "Intercept~~Intercept|school"
    full = full_fit["extra"][key]
    assert abs(extra[key] - full) < 0.15, (extra[key], full)
    assert abs(extra[key] - full) < abs(ref["extra"][key] - full)


def test_make_methods_defaults_on_ref_a(ref_data):
    methods = make_methods(ref_data, cluster="school")
    assert methods == {
        "school": "",
        "popular": "2l.pmm",
        "sex": "",
        "texp": "",
        "extrav": "2l.pmm",
        "club": "2l.bin",
        "tsize": "2lonly.pmm",
    }
    out = MultilevelIterativeImputer(cluster="school", max_iter=3, random_state=0).fit_transform(
        ref_data
    )
    assert out.notna().all().all()
    assert set(out["club"].unique()) <= {0, 1}
    assert (out.groupby("school")["tsize"].nunique() == 1).all()
