"""Tasks on the loky workers without joblib.Parallel's polling."""

import numpy as np
import pandas as pd
import pytest
from joblib import Parallel, delayed, parallel_config

from skmice.pipeline._chains import run_chains, run_parallel
from skmice.pipeline._executor import run_on_loky, small_arguments


def _square(x):
    return x * x


def _fail(x):
    if x == 2:
        raise ValueError(f"task {x} failed")
    return x


def test_results_in_task_order_with_progress():
    seen = []
    out = run_on_loky([delayed(_square)(k) for k in range(5)], 2, on_result=seen.append)
    assert out == [0, 1, 4, 9, 16]
    assert seen == [0, 1, 2, 3, 4]
    assert run_parallel([delayed(_square)(k) for k in range(5)], 2) == out


def test_other_backends_and_one_job_go_to_parallel():
    tasks = [delayed(_square)(k) for k in range(3)]
    assert run_on_loky(tasks, 1) is None
    assert run_on_loky(tasks, None) is None
    with parallel_config(backend="threading"):
        assert run_on_loky(tasks, 2) is None
        assert run_parallel(tasks, 2) == [0, 1, 4]
    with parallel_config(backend="loky", max_nbytes="1K"):  # any setting: joblib's way
        assert run_on_loky(tasks, 2) is None
        assert run_parallel(tasks, 2, small=True) == [0, 1, 4]


def test_a_failing_task_raises_its_error():
    with pytest.raises(ValueError, match="task 2 failed"):
        run_on_loky([delayed(_fail)(k) for k in range(4)], 2)
    # the pool still works afterwards, for this path and for joblib.Parallel
    assert run_on_loky([delayed(_square)(3)] * 2, 2) == [9, 9]
    assert Parallel(n_jobs=2)(delayed(_square)(k) for k in range(2)) == [0, 1]


def _total(X, seed, hook):
    return float(np.asarray(X).sum()) + seed * 0


def test_small_arguments_by_size():
    assert small_arguments((np.zeros(1000), pd.DataFrame({"a": np.zeros(1000)}), None))
    assert not small_arguments((np.zeros(200_000),))
    assert not small_arguments((pd.DataFrame({"a": np.zeros(130_000)}),))
    assert not small_arguments((pd.DataFrame({"s": ["x" * 200] * 10_000}),))
    assert not small_arguments((lambda: None,))  # not picklable here: joblib decides


@pytest.mark.parametrize("rows", [1_000, 300_000])
def test_chains_small_and_large_data_alike(rows):
    X = np.arange(rows, dtype=float)
    out = run_chains(_total, (X,), n_chains=3, random_state=0, n_jobs=2)
    assert out == [float(X.sum())] * 3


def _pid(k):
    import os

    return k, os.getpid()


def test_calling_process_runs_its_share():
    import os

    out = run_on_loky([delayed(_pid)(k) for k in range(5)], 2)
    assert [k for k, _ in out] == list(range(5))
    # ceil(5 / 3) = 2 tasks, the last ones, ran here; the others in the workers
    assert [pid == os.getpid() for _, pid in out] == [False, False, False, True, True]
