"""How much the hiv-like data can say about rho: the Cramer-Rao bound of the selection model.

For the bivariate probit with sample selection of
:func:`skmice.datasets.make_hiv` (outcome: HIV; selection: consent; smoke in
the selection equation only), this script computes the expected Fisher
information of ``theta = (beta, gamma, atanh rho)`` at the simulator's true
coefficients, over the covariates of one simulated dataset (6,416 people)::

    I(theta) = sum_i sum_o P_i(o) grad log P_i(o) grad log P_i(o)'

with the three outcomes ``o`` of a person: refused (``Phi(-w'gamma)``),
tested negative and tested positive (bivariate normal probabilities). The
model is the pooled one: common coefficients, no region effects. A
two-level model has more parameters (per-region intercepts at least), so
its information about rho is smaller: the bounds below are optimistic.

Reported per rho and exclusion strength (the smoke effect on consent):

* ``sd_z``: the Cramer-Rao bound on the standard deviation of an estimate
  of ``z = atanh(rho)``;
* ``refuser_prev``: the prevalence among those who refuse, and its first and
  second derivatives in ``z`` (averaged over people);
* ``sd_prev``: the standard deviation that the rho uncertainty alone gives
  the overall prevalence (delta method: missing rate x derivative x sd_z);
* ``curvature_bias``: the second-order bias of a posterior-mean estimate of
  the overall prevalence when both the estimate of z and its posterior
  spread have standard deviation sd_z: missing rate x (second derivative)
  x sd_z^2. Proper multiple imputation draws rho from its posterior, so the
  average over replications of its prevalence estimate moves by about this
  much however rho is estimated. It is a quadratic approximation: where
  sd_z is near 1 it only says that the data do not locate rho.

Run (appends to benchmarks/results/heckman_information.md)::

    python benchmarks/heckman_information.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import log_ndtr, ndtr

from skmice.datasets import make_hiv
from skmice.methods import bivariate_normal_cdf

RESULTS = Path(__file__).resolve().parent / "results"


def _covariates(data):
    agec = data["age"].to_numpy(dtype=float) - 30.0
    marital = data["marital"].astype(str).to_numpy()
    X = np.column_stack(
        [
            np.ones(len(data)),
            agec,
            marital == "married",
            marital == "previously",
            data["condom"].to_numpy(),
        ]
    ).astype(float)
    return X, np.column_stack([X, data["smoke"].to_numpy(dtype=float)])


def _log_probs(theta, X, W):
    """log P(refused), log P(tested, negative), log P(tested, positive): (n, 3)."""
    p = X.shape[1]
    xb, wg, r = X @ theta[:p], W @ theta[p:-1], np.tanh(theta[-1])
    pos = bivariate_normal_cdf(xb, wg, r)
    neg = bivariate_normal_cdf(-xb, wg, -r)
    return np.column_stack([log_ndtr(-wg), np.log(neg), np.log(pos)])


def information(rho, smoke_effect, seed=1):
    """Expected information of the pooled model, and the prevalence of refusers in z."""
    b = make_hiv(rho=rho, smoke_effect=smoke_effect, random_state=seed)
    X, W = _covariates(b.data)
    theta = np.r_[
        list(b.truth["outcome"].values()), list(b.truth["selection"].values()), np.arctanh(rho)
    ]
    logp = _log_probs(theta, X, W)
    k, h = theta.size, 1e-5
    grads = np.empty((X.shape[0], 3, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        grads[:, :, j] = (_log_probs(theta + step, X, W) - _log_probs(theta - step, X, W)) / (2 * h)
    info = np.einsum("io,iok,iol->kl", np.exp(logp), grads, grads)
    sd_z = float(np.sqrt(np.linalg.inv(info)[-1, -1]))

    p = X.shape[1]
    xb, wg = X @ theta[:p], W @ theta[p:-1]
    p_refuse = ndtr(-wg)

    def refuser_prev(z):  # P(HIV | refused), averaged over the refusers
        return float(bivariate_normal_cdf(xb, -wg, -np.tanh(z)).sum() / p_refuse.sum())

    z0, dz = float(np.arctanh(rho)), 0.05
    g0, gp, gm = refuser_prev(z0), refuser_prev(z0 + dz), refuser_prev(z0 - dz)
    d1, d2 = (gp - gm) / (2 * dz), (gp - 2 * g0 + gm) / dz**2
    miss = float(p_refuse.mean())
    return {
        "rho": rho,
        "smoke_effect": smoke_effect,
        "missing_rate": miss,
        "sd_z": sd_z,
        "rho_interval": (float(np.tanh(z0 - 1.96 * sd_z)), float(np.tanh(z0 + 1.96 * sd_z))),
        "refuser_prev": g0,
        "d1": d1,
        "d2": d2,
        "sd_prev": miss * abs(d1) * sd_z,
        "curvature_bias": miss * d2 * sd_z**2,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rho", type=float, nargs="+", default=[-0.6, 0.0, 0.6])
    ap.add_argument("--smoke-effect", type=float, nargs="+", default=[0.265, 0.8])
    ap.add_argument("--out", default=str(RESULTS / "heckman_information.md"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = [information(r, s) for s in args.smoke_effect for r in args.rho]
    lines = [
        "",
        f"## {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "Command: `python benchmarks/" + " ".join([Path(__file__).name, *sys.argv[1:]]) + "`",
        "",
        "| smoke effect | rho | missing | sd(atanh rho) bound | 95% range of rho | "
        "refuser prevalence | d/dz | d2/dz2 | sd of prevalence from rho | curvature bias |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["rho_interval"]
        lines.append(
            f"| {r['smoke_effect']:.3f} | {r['rho']:+.1f} | {r['missing_rate']:.3f} | "
            f"{r['sd_z']:.3f} | ({lo:+.2f}, {hi:+.2f}) | {r['refuser_prev']:.3f} | "
            f"{r['d1']:+.3f} | {r['d2']:+.3f} | {r['sd_prev']:.4f} | "
            f"{r['curvature_bias']:+.4f} |"
        )
    lines.append("")
    lines.append(f"Run time {time.perf_counter() - t0:.1f} s.")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    if not out.exists():
        out.write_text(
            "# What the hiv-like data can say about rho (Cramer-Rao bounds)\n\n"
            "See the docstring of benchmarks/heckman_information.py for the definitions.\n"
        )
    with out.open("a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
