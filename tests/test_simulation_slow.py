"""A small version of the coverage simulation (benchmarks/simulate_coverage.py).

30 replications of the popularity design imputed by 2l.pan (and single-level
PMM, which ignores the schools, as a contrast), analysed by statsmodels
MixedLM and pooled by skmice. The assertions are loose (30 replications:
the Monte Carlo SE of a coverage of 0.95 is 0.04); the full run with 200
replications is reported in benchmarks/results/coverage_twolevel.md.
Run with ``python -m pytest tests/test_simulation_slow.py -m slow``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "simulate_coverage.py"


def _load_script():
    if not SCRIPT.exists():
        pytest.skip("benchmarks/simulate_coverage.py not found")
    spec = importlib.util.spec_from_file_location("simulate_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_twolevel_pan_coverage_and_variance_components():
    pytest.importorskip("statsmodels")
    from skmice.datasets import make_popularity

    sim = _load_script()
    reps = 30
    results = sim.run(reps, methods=("2l.pan", "pmm"), m=5, max_iter=10, n_jobs=2, start=1000)
    summary = sim.summarise(results, sim._truth(make_popularity(random_state=0)))
    cover, rel = summary["coverage"], summary["rel_bias"]
    assert (summary["runs"]["replications"] == reps).all()
    # 2l.pan: every fixed effect covered at close to the nominal rate
    # (P(coverage <= 0.8 | 0.95) < 0.001 with 30 replications) ...
    assert (cover.loc["2l.pan"] >= 0.8).all(), cover
    # ... and not much worse than the complete data themselves
    assert (cover.loc["2l.pan"] >= cover.loc["complete data"] - 0.1).all(), cover
    # variance components and ICC: relative bias well inside the MC error
    # (the MC SE of the relative bias is about 4 percentage points)
    assert (rel.loc["2l.pan"].abs() < 0.2).all(), rel
    # single-level PMM shrinks the between-school variance and the ICC
    assert rel.loc["pmm", "var(intercept)"] < -0.15, rel
    assert rel.loc["pmm", "ICC"] < -0.1, rel
    assert rel.loc["pmm", "ICC"] < rel.loc["2l.pan", "ICC"] - 0.1, rel
    # the pooled estimates are unbiased for the fixed effects within 4 MC SEs
    bias = summary["bias"].loc["2l.pan"]
    se = results[results["method"] == "2l.pan"][[f"est:{t}" for t in sim.TERMS]].std()
    assert np.all(np.abs(bias.to_numpy()) < 4 * se.to_numpy() / np.sqrt(reps)), bias


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pmm_variance_components_on_the_popularity_simulator(seed):
    """2l.pmm on the shipped popularity simulator (random slope of sex, the tutorial's
    predictor row school -2, sex 2, texp 1, the sex x texp product 1) gives the variance
    components of 2l.pan, within Monte Carlo error (m = 20)."""
    import warnings

    import pandas as pd

    smf = pytest.importorskip("statsmodels.formula.api")
    from skmice import MultilevelIterativeImputer, multiple_impute
    from skmice.datasets import make_popularity

    sim = make_popularity(random_state=seed)
    data = sim.data[["school", "popular", "sex", "texp"]].assign(
        sex_texp=lambda d: d["sex"] * d["texp"])
    pm = pd.DataFrame(0, index=data.columns, columns=data.columns)
    pm.loc["popular", ["school", "sex", "texp", "sex_texp"]] = [-2, 2, 1, 1]

    def components(frames):
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for d in frames:
                fit = smf.mixedlm("popular ~ sex * texp", d, groups=d["school"],
                                  re_formula="~sex").fit(reml=True)
                cov = fit.cov_re.to_numpy()
                out.append([cov[0, 0], cov[1, 1], cov[0, 1], fit.scale])
        return np.array(out)

    m = 20
    res = {}
    for method in ("2l.pan", "2l.pmm"):
        imp = MultilevelIterativeImputer(methods={"popular": method}, predictor_matrix=pm,
                                         cluster="school", max_iter=10)
        res[method] = components(multiple_impute(data, imp, n_imputations=m,
                                                 random_state=seed, n_jobs=2))
    pan, pmm = res["2l.pan"], res["2l.pmm"]
    se = np.sqrt(pan.var(axis=0, ddof=1) / m + pmm.var(axis=0, ddof=1) / m)
    z = (pmm.mean(axis=0) - pan.mean(axis=0)) / se
    assert np.all(np.abs(z) < 3.5), z
