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
