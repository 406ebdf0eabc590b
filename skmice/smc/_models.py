"""The factors of the joint model: the analysis model and one model per modelled variable.

The joint distribution is factorised sequentially (as in mdmb; Ludtke,
Robitzsch and West 2020): the analysis model of the outcome given its
predictors, times a model for each incomplete predictor given the
predictors before it, times a model for each auxiliary variable given the
outcome and the predictors. Each factor is a :class:`Model` with

- ``update``: one Gibbs step of its parameters given the current data;
- ``eta``: its linear predictor at some rows (or clusters), optionally
  with a candidate value for one variable;
- ``own_log_density``: the log density of candidate values of its response;
- ``log_likelihood``: the log density of its current response as a function
  of candidate values of one of its predictors (what a predictor's full
  conditional needs from the models that read it).

Kinds: ``"normal"`` (linear, normal residual), ``"probit"`` (binary, with a
latent normal variable; Albert and Chib 1993) and ``"logistic"`` (binary
analysis outcome, with Polya-Gamma variables; Polson, Scott and Windle
2013). Level-1 models have the random effects of their terms over the
clusters; level-2 models live on one row per cluster and have none.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from .._grouped import cluster_indicator
from ..methods._polyagamma import random_polyagamma
from ._gibbs import CovarianceWalk, draw_residual_variance, mixed_step, truncated_normal

__all__ = ["Model", "State"]


class State:
    """The current completed data of a chain.

    Attributes
    ----------
    cols : dict
        Encoded column values by key (level-2 variables repeated on their
        cluster's rows).
    codes : ndarray of int
        Cluster of each row.
    n_groups : int
    first_row : ndarray of int
        One row of each cluster (where level-2 values are read).
    """

    def __init__(self, cols: dict, codes: np.ndarray, n_groups: int):
        self.cols = cols
        self.codes = codes
        self.n_groups = n_groups
        self.first_row = np.full(n_groups, -1, dtype=np.int64)
        self.first_row[codes[::-1]] = np.arange(codes.size)[::-1]
        self.n_rows = codes.size
        self.indicator = cluster_indicator(codes, n_groups)

    def column(self, key, level: int, idx, override=None) -> np.ndarray:
        """Values of ``key`` at rows (level 1) or clusters (level 2) ``idx``."""
        if override is not None and key in override:
            return override[key]
        rows = idx if level == 1 else self.first_row[idx]
        return self.cols[key][rows]


def term_values(state: State, terms, level: int, idx, override=None) -> np.ndarray:
    """The columns of ``terms`` (products of their variables) at ``idx``."""
    n = state.n_rows if idx is None else len(idx)
    if idx is None:
        idx = np.arange(n) if level == 1 else np.arange(state.n_groups)
        n = idx.size
    out = np.ones((n, len(terms)))
    cache = {}
    for k, term in enumerate(terms):
        for key in term:
            if key not in cache:
                cache[key] = state.column(key, level, idx, override)
            out[:, k] *= cache[key]
    return out


class Model:
    """One factor of the joint model (see the module docstring).

    Parameters
    ----------
    response : key
        The variable it models.
    kind : {"normal", "probit", "logistic"}
    fixed : list of tuple
        Fixed terms (``()`` the intercept).
    random : list of tuple
        Terms with random coefficients (level 1 only).
    level : {1, 2}
    name : str
        How traces and logs name it.
    """

    def __init__(self, response, kind: str, fixed: list, random: list, level: int, name: str):
        self.response = response
        self.kind = kind
        self.fixed = list(fixed)
        self.random = list(random) if level == 1 else []
        self.level = level
        self.name = name
        self.reads = {v for t in (*self.fixed, *self.random) for v in t}
        # column of X that each random term repeats (-1: a term with no fixed effect)
        self._z_in_x = [self.fixed.index(t) if t in self.fixed else -1 for t in self.random]

    # -- state -------------------------------------------------------------

    def start(self, state: State, rng) -> None:
        """Starting values: least squares on the response, small random-effect variance."""
        p, q = len(self.fixed), len(self.random)
        X = term_values(state, self.fixed, self.level, None)
        y = self._response(state, None)
        if self.kind != "normal":
            y = 2.0 * y - 1.0
        self.beta = np.linalg.lstsq(X, y, rcond=None)[0] if p else np.zeros(0)
        resid = y - X @ self.beta
        self.sigma2 = max(float(np.var(resid)), 1e-2) if self.kind == "normal" else 1.0
        self.b = np.zeros((state.n_groups if self.level == 1 else 0, q))
        self.psi = np.eye(q) * 0.1 * self.sigma2
        self.psi_walk = CovarianceWalk() if q else None
        if self.kind == "probit":
            self.latent = truncated_normal(X @ self.beta, y > 0, rng)
        if self.kind == "logistic":
            self.omega = np.full(state.n_rows, 0.25)

    def rebind(self, state: State, rng) -> None:
        """Random effects and latent variables for the clusters and rows of new data."""
        self.b = np.zeros((state.n_groups if self.level == 1 else 0, len(self.random)))
        if self.kind == "probit":
            self.latent = truncated_normal(self.eta(state), self._response(state, None) > 0.5, rng)
        if self.kind == "logistic":
            self.omega = np.full(state.n_rows, 0.25)

    def _response(self, state: State, idx):
        return state.column(self.response, self.level, np.arange(
            state.n_rows if self.level == 1 else state.n_groups) if idx is None else idx)

    def design(self, state: State, idx=None, override=None) -> tuple:
        """``X`` and ``Z`` (None without random effects) at ``idx``; ``Z``'s columns
        that repeat fixed terms are taken from ``X``, not computed again."""
        X = term_values(state, self.fixed, self.level, idx, override)
        if not self.random:
            return X, None
        if min(self._z_in_x) >= 0:
            return X, X[:, self._z_in_x]
        return X, term_values(state, self.random, 1, idx, override)

    def _linear(self, state: State, X, Z, idx) -> np.ndarray:
        """``X beta + Z b`` with each row's cluster effects."""
        eta = X @ self.beta
        if Z is not None:
            rows = np.arange(state.n_rows) if idx is None else idx
            eta += np.einsum("ik,ik->i", Z, self.b[state.codes[rows]])
        return eta

    def eta(self, state: State, idx=None, override=None) -> np.ndarray:
        """Linear predictor at ``idx`` (all rows or clusters when None)."""
        X, Z = self.design(state, idx, override)
        return self._linear(state, X, Z, idx)

    # -- densities ---------------------------------------------------------

    def own_log_density(self, state: State, idx, candidate) -> np.ndarray:
        """Log density (up to a constant) of ``candidate`` values of the response at ``idx``."""
        eta = self.eta(state, idx)
        if self.kind == "normal":
            return -0.5 * (candidate - eta) ** 2 / self.sigma2
        if self.kind == "probit":
            return log_ndtr(np.where(candidate > 0.5, eta, -eta))
        return candidate * eta - np.logaddexp(0.0, eta)

    def log_likelihood(self, state: State, idx, override) -> np.ndarray:
        """Log density of the current response at ``idx`` with ``override``'s predictor values."""
        eta = self.eta(state, idx, override)
        if self.kind == "normal":
            return -0.5 * (self._response(state, idx) - eta) ** 2 / self.sigma2
        if self.kind == "probit":
            return -0.5 * (self.latent[idx] - eta) ** 2
        kappa = self._response(state, idx) - 0.5
        return kappa * eta - 0.5 * self.omega[idx] * eta**2

    # -- parameters --------------------------------------------------------

    def update(self, state: State, rng, update_fixed: bool = True) -> None:
        """One Gibbs step of the parameters given the current data."""
        X, Z = self.design(state)
        codes = state.codes if self.level == 1 else np.arange(state.n_groups)
        y = self._response(state, None)
        if self.kind == "probit":
            self.latent = truncated_normal(self._linear(state, X, Z, None), y > 0.5, rng)
            target, w = self.latent, np.ones_like(y)
        elif self.kind == "logistic":
            eta = self._linear(state, X, Z, None)
            self.omega = np.maximum(random_polyagamma(eta, rng), 1e-12)
            target, w = (y - 0.5) / self.omega, self.omega
        else:
            target, w = y, np.full(y.shape, 1.0 / self.sigma2)
        self.beta, self.b, self.psi = mixed_step(
            X, np.zeros((X.shape[0], 0)) if Z is None else Z, target, w, codes,
            state.n_groups if self.level == 1 else X.shape[0],
            self.psi, rng, update_fixed=update_fixed, beta=self.beta,
            indicator=state.indicator if self.level == 1 else None, psi_walk=self.psi_walk,
        )
        if self.kind == "normal" and update_fixed:
            resid = y - self._linear(state, X, Z, None)
            self.sigma2 = draw_residual_variance(resid, rng)

    def refresh_latent(self, state: State, idx, rng) -> None:
        """Redraw the probit latent variable at ``idx`` after its response changed there."""
        if self.kind == "probit" and len(idx):
            self.latent[idx] = truncated_normal(
                self.eta(state, idx), self._response(state, idx) > 0.5, rng
            )
