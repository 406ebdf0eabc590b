"""Tests of the chains (skmice/pipeline/_chains.py): seeds, one chain, m chains."""

from __future__ import annotations

import joblib
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline, multiple_impute
from skmice._random import spawn_seeds
from skmice.pipeline._chains import (
    estimator_seed,
    fit_chain,
    run_chains,
    run_parallel,
    seeded_estimator,
    seeded_imputer,
)
from tests.pipeline._common import two_level


def _seed_and_hook(seed, hook):  # a task for run_chains
    return seed, hook


def test_same_chains_as_multiple_impute(regression):
    """The pipeline's imputations are multiple_impute's for the same seed."""
    X, y = regression
    imp = two_level()
    pipe = MultipleImputationPipeline(imp, LinearRegression(), n_imputations=2, random_state=5).fit(
        X, y
    )
    mi = multiple_impute(X, imp, n_imputations=2, random_state=5)
    for fitted, reference in zip(pipe.imputers_, mi.imputers):
        pd.testing.assert_frame_equal(fitted.trace_, reference.trace_)


def test_fit_chain_is_one_seeded_clone(regression):
    X, _ = regression
    imp = two_level(max_iter=2)
    seed = spawn_seeds(3, 1)[0]
    fitted, completed = fit_chain(imp, X, seed)
    assert fitted is not imp and imp.random_state is None and fitted.random_state == seed
    expected = two_level(max_iter=2, random_state=seed).fit_transform(X)
    pd.testing.assert_frame_equal(completed, expected, check_exact=True)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_run_chains_seeds_in_chain_order(n_jobs):
    out = run_chains(_seed_and_hook, (), n_chains=4, random_state=7, n_jobs=n_jobs)
    assert [seed for seed, _ in out] == spawn_seeds(7, 4)
    assert all(hook is None for _, hook in out)  # nothing to report to


def test_run_parallel_calls_back_in_task_order():
    tasks = [joblib.delayed(abs)(-k) for k in range(3)]
    for backend in ("loky", "multiprocessing"):  # multiprocessing cannot stream results
        arrived = []
        with joblib.parallel_backend(backend, n_jobs=2):
            assert run_parallel(tasks, None, arrived.append) == [0, 1, 2]
        assert arrived == [0, 1, 2]


def test_seeded_imputer():
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, SimpleImputer

    seed = spawn_seeds(0, 1)[0]
    assert seed >= 2**32  # a 63-bit seed: scikit-learn would refuse it
    assert seeded_imputer(MultilevelIterativeImputer(), seed).random_state == seed
    other = seeded_imputer(IterativeImputer(random_state=3), seed)
    assert other.random_state == estimator_seed(seed + 1) < 2**32
    assert "random_state" not in seeded_imputer(SimpleImputer(), seed).get_params()


def test_seeded_estimator_fixes_only_unset_random_states():
    seed = spawn_seeds(0, 1)[0]
    est = make_pipeline(StandardScaler(), RandomForestRegressor(random_state=None))
    seeded = seeded_estimator(est, seed)
    assert seeded.get_params()["randomforestregressor__random_state"] == estimator_seed(seed)
    assert est.get_params()["randomforestregressor__random_state"] is None  # untouched
    kept = seeded_estimator(RandomForestRegressor(random_state=3), seed)
    assert kept.random_state == 3
    assert estimator_seed(seed) != estimator_seed(seed + 1)
    assert isinstance(estimator_seed(seed), int) and 0 <= estimator_seed(seed) < 2**32
    plain = LinearRegression()
    assert seeded_estimator(plain, seed) is not plain  # a clone, with nothing to seed
