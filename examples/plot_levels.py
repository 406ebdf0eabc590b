"""
Three levels: what ignoring a level does
========================================

Pupils in classes in schools (:func:`skmice.datasets.make_three_level`: 50
schools x 5 classes x 20 pupils, intraclass correlations 0.10 for classes
and 0.15 for schools, a random slope of ``x`` over schools, 30% of ``y``
missing at random). The outcome is imputed three ways: ``ml.pmm`` with
random effects at both levels, and ``2l.pmm`` on the classes alone or on
the schools alone. Each set of imputations is analysed with the true
three-level model (``skmice.mixed.lmer`` with two grouping factors) and
pooled; the variance components and standard errors are set next to the
complete data and the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_three_level
from skmice.methods import MultilevelPMM
from skmice.mixed import lmer

ROWS = ["x", "school_ses", "Intercept~~Intercept|class", "Intercept~~Intercept|school",
        "x~~x|school"]


def impute_three_ways(data, predictor_matrix, m=5, max_iter=5, random_state=1):
    """Multiple imputations by ml.pmm (both levels) and 2l.pmm (one level each).

    The predictor matrix gives ``x`` the code 2 (a random slope); ml.pmm puts
    that slope at the school level, as in the analysis model; 2l.pmm puts it
    over the one level it models.
    """
    ways = {
        "ml.pmm (class and school)": (["class", "school"],
                                      MultilevelPMM(random_slopes="school")),
        "2l.pmm on classes": ("class", "2l.pmm"),
        "2l.pmm on schools": ("school", "2l.pmm"),
    }
    out = {}
    for name, (cluster, method) in ways.items():
        pm = predictor_matrix.copy()
        dropped = [c for c in ("class", "school") if c not in np.atleast_1d(cluster)]
        pm.loc[:, dropped] = 0  # the ignored level is not a predictor either
        imputer = MultilevelIterativeImputer(cluster=cluster, methods={"y": method},
                                             predictor_matrix=pm, max_iter=max_iter)
        out[name] = multiple_impute(data, imputer, n_imputations=m, random_state=random_state)
    return out


def compare(sim, m=5, max_iter=5):
    """Pooled estimates, standard errors and variance components of each way."""
    formula = sim.formula
    full = lmer(formula, sim.complete)
    est = {"complete data": pd.concat([full.fe_params, full.variance_components])}
    se = {"complete data": full.bse}
    for name, mi in impute_three_ways(sim.data, sim.predictor_matrix, m, max_iter).items():
        fits = mi.analyze_mixed(formula)
        pooled = fits.pool()
        est[name] = pd.concat([pooled["estimate"], fits.pool_extra()])
        se[name] = pooled["std_error"]
    estimates = pd.DataFrame(est).reindex(ROWS)
    errors = pd.DataFrame(se).reindex(["Intercept", "x", "class_size", "school_ses"])
    return estimates, errors


def main(quick: bool = False):
    """Run the comparison; ``quick`` for a small, fast run."""
    sim = make_three_level(n_schools=12 if quick else 50, random_state=0)
    estimates, errors = compare(sim, m=2 if quick else 5, max_iter=2 if quick else 5)
    truth = sim.truth
    estimates.insert(0, "truth", [truth["fixed"]["x"], truth["fixed"]["school_ses"],
                                  truth["var_class"], truth["var_school"], truth["var_slope"]])
    print("estimates and variance components\n", estimates.round(3).to_string())
    print("standard errors\n", errors.round(4).to_string())
    return estimates, errors


if __name__ == "__main__":
    main()
