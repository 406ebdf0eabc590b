"""
Imputation compatible with the analysis model: the popularity case with incomplete predictors
===========================================================================================

The analysis model of the popularity tutorial,
``popular ~ sex * texp + (1 + sex | school)``, has a random slope of ``sex``
and a cross-level interaction ``sex:texp``. Here ``sex`` (level 1) and
``texp`` (level 2, the teacher's experience) are made missing at random as
well as ``popular``. Chained equations impute each variable from its own
model, which has no random slope of ``sex`` on ``popular`` and no
interaction; :class:`skmice.smc.SubstantiveModelImputer` imputes from the
analysis model itself. Both are pooled against the truth of the simulator
and the complete data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_popularity
from skmice.mixed import lmer
from skmice.smc import SubstantiveModelImputer, parameter_rhat

FORMULA = "popular ~ sex * texp + (1 + sex | school)"
ROWS = ["sex", "texp", "sex:texp", "Intercept~~Intercept|school", "sex~~sex|school"]


def make_data(n_schools=100, random_state=0):
    """The popularity data with sex (25%, MAR on teachpop) and texp (20% of schools) missing."""
    sim = make_popularity(n_schools=n_schools, random_state=random_state)
    rng = np.random.default_rng(random_state)
    data = sim.data.copy()
    z = (data["teachpop"] - data["teachpop"].mean()) / data["teachpop"].std()
    data.loc[rng.random(len(data)) < 1 / (1 + np.exp(1.3 - 0.8 * z)), "sex"] = np.nan
    schools = data["school"].unique()
    gone = rng.choice(schools, size=len(schools) // 5, replace=False)
    data.loc[data["school"].isin(gone), "texp"] = np.nan
    return sim, data


def _row(fe: pd.Series, vc: pd.Series) -> pd.Series:
    return pd.concat([fe, vc]).reindex(ROWS)


def compare(data, complete, truth, m=5, max_iter=300, random_state=1):
    """Pooled estimates of chained equations and of the compatible imputer, next to the truth."""
    fcs = multiple_impute(data, MultilevelIterativeImputer(cluster="school", max_iter=10),
                          n_imputations=m, random_state=random_state)
    # teachpop drives the missingness of sex: an auxiliary variable of the joint model
    smc = multiple_impute(data, SubstantiveModelImputer(FORMULA, auxiliary=["teachpop"],
                                                        max_iter=max_iter),
                          n_imputations=m, random_state=random_state)
    full = lmer(FORMULA, complete)
    table = pd.DataFrame({
        "truth": pd.Series(truth).reindex(ROWS),
        "complete data": _row(full.fe_params, full.variance_components),
    })
    for name, mi in [("chained equations", fcs), ("compatible", smc)]:
        an = mi.analyze_mixed(FORMULA)
        table[name] = _row(an.pool()["estimate"], an.pool_extra())
    return table, parameter_rhat(smc)


def main(quick: bool = False, out_dir=None):
    """Run the comparison; ``quick`` for a small, fast run."""
    sim, data = make_data(n_schools=40 if quick else 100)
    truth = {"sex": 1.330, "texp": 0.110, "sex:texp": -0.034,
             "Intercept~~Intercept|school": 0.412, "sex~~sex|school": 0.226}
    table, rhat = compare(data, sim.complete, truth, m=2 if quick else 5,
                          max_iter=30 if quick else 1000)
    print(data[["popular", "sex", "texp"]].isna().mean().round(2).to_string())
    print(table.round(3).to_string())
    print("largest R-hat of the compatible imputer:", round(float(rhat["rhat"].max()), 3))
    if out_dir is not None:
        from pathlib import Path

        table.to_csv(Path(out_dir) / "compatible_popularity.csv")
    return table


if __name__ == "__main__":
    main()
