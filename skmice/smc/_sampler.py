"""The substantive-model-compatible Gibbs sampler: parameters, then missing values.

One iteration updates the parameters of every model (:mod:`._models`) given
the current completed data, then draws the missing values of each modelled
variable from its full conditional: the variable's own model times every
model that reads it (the analysis model for a predictor, later predictor
models, auxiliary models). The full conditional is drawn

- exactly, for a continuous variable that enters every model linearly (the
  log conditional is then quadratic; with the logistic outcome given its
  Polya-Gamma variables too): its precision and mean are read from three
  evaluations of the log conditional;
- exactly, for a binary variable, from the log conditional at 0 and 1;
- by random-walk Metropolis-Hastings steps otherwise (a square or a higher
  power of the variable in a model), with the step adapted to an
  acceptance rate near 0.44 during the first half of the iterations.

Cluster-level variables are drawn once per cluster, with the contributions
of the cluster's rows summed. Everything is vectorised over rows and
clusters.
"""

from __future__ import annotations

import numpy as np

from ._models import Model, State

__all__ = ["Draw", "Sampler"]

TARGET_ACCEPTANCE = 0.44


class Draw:
    """How one modelled variable's missing values are drawn.

    Attributes
    ----------
    key : the variable
    own : Model
        The model of the variable.
    readers : list of Model
        The other models whose terms contain it.
    level : {1, 2}
    mode : {"exact", "binary", "mh"}
    idx : ndarray of int
        Missing rows (level 1) or missing clusters (level 2).
    """

    def __init__(self, key, own: Model, readers: list, level: int, mode: str):
        self.key = key
        self.own = own
        self.readers = readers
        self.level = level
        self.mode = mode
        self.step = 1.0
        self.accepted = 0
        self.proposed = 0

    def bind(self, state: State, missing: np.ndarray) -> None:
        """Where to draw: ``missing`` marks rows (level 1) or clusters (level 2)."""
        self.idx = np.flatnonzero(missing)
        if self.level == 2:
            in_missing = np.zeros(state.n_groups, dtype=bool)
            in_missing[self.idx] = True
            self.rows = np.flatnonzero(in_missing[state.codes])
            position = np.full(state.n_groups, -1)
            position[self.idx] = np.arange(self.idx.size)
            self.position = position[state.codes[self.rows]]

    def current(self, state: State) -> np.ndarray:
        return state.column(self.key, self.level, self.idx)

    def log_conditional(self, state: State, values: np.ndarray) -> np.ndarray:
        """Log full conditional (up to a constant) of ``values`` at the missing places."""
        out = self.own.own_log_density(state, self.idx, values)
        if self.level == 1:
            override = {self.key: values}
            for m in self.readers:
                out = out + m.log_likelihood(state, self.idx, override)
            return out
        row_values = {self.key: values[self.position]}
        for m in self.readers:
            if m.level == 2:
                out = out + m.log_likelihood(state, self.idx, {self.key: values})
            else:
                ll = m.log_likelihood(state, self.rows, row_values)
                out = out + np.bincount(self.position, ll, minlength=self.idx.size)
        return out

    def set(self, state: State, values: np.ndarray, rng) -> None:
        col = state.cols[self.key]
        if self.level == 1:
            col[self.idx] = values
        else:
            col[self.rows] = values[self.position]
        self.own.refresh_latent(state, self.idx, rng)

    def draw(self, state: State, rng, mh_steps: int) -> None:
        """Replace the missing values by a draw from their full conditional."""
        if self.idx.size == 0:
            return
        if self.mode == "binary":
            zero = np.zeros(self.idx.size)
            logit = self.log_conditional(state, zero + 1.0) - self.log_conditional(state, zero)
            u = rng.random(self.idx.size)
            values = (np.log(u) - np.log1p(-u) < logit).astype(np.float64)
        elif self.mode == "exact":
            c = self.current(state)
            f0 = self.log_conditional(state, c)
            fp = self.log_conditional(state, c + 1.0)
            fm = self.log_conditional(state, c - 1.0)
            precision = np.maximum(2.0 * f0 - fp - fm, 1e-12)
            mean = c + (fp - fm) / (2.0 * precision)
            values = mean + rng.standard_normal(c.size) / np.sqrt(precision)
        else:
            values = self.current(state).copy()
            f = self.log_conditional(state, values)
            for _ in range(mh_steps):
                proposal = values + self.step * rng.standard_normal(values.size)
                fp = self.log_conditional(state, proposal)
                accept = np.log(rng.random(values.size)) < fp - f
                values = np.where(accept, proposal, values)
                f = np.where(accept, fp, f)
                self.accepted += int(accept.sum())
                self.proposed += values.size
        self.set(state, values, rng)

    def adapt(self, iteration: int) -> None:
        """Move the Metropolis step toward the target acceptance rate (burn-in only)."""
        if self.mode != "mh" or self.proposed == 0:
            return
        rate = self.accepted / self.proposed
        self.step *= float(np.exp((rate - TARGET_ACCEPTANCE) / np.sqrt(iteration)))
        self.accepted = self.proposed = 0

    @property
    def acceptance(self) -> float:
        return np.nan if self.proposed == 0 else self.accepted / self.proposed


class Sampler:
    """Models and draws of one chain.

    Parameters
    ----------
    models : list of Model
        In the order of the factorisation.
    draws : list of Draw
    """

    def __init__(self, models: list, draws: list):
        self.models = models
        self.draws = draws

    def iterate(self, state: State, rng, *, mh_steps: int, update_fixed: bool = True,
                adapt_at: int | None = None) -> None:
        """One iteration: every model's parameters, then every variable's missing values."""
        for m in self.models:
            m.update(state, rng, update_fixed=update_fixed)
            if adapt_at is not None and m.psi_walk is not None:
                m.psi_walk.adapt(adapt_at)
        for d in self.draws:
            d.draw(state, rng, mh_steps)
            if adapt_at is not None:
                d.adapt(adapt_at)
