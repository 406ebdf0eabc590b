"""Tests of progress reporting (skmice/pipeline/_progress.py): the callback and the bar."""

from __future__ import annotations

import inspect
import sys
import threading

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from skmice import (
    MultilevelIterativeImputer,
    MultipleImputationPipeline,
    ProgressEvent,
    multiple_impute,
)
from skmice.pipeline._progress import ChainProgress, n_iterations
from tests.pipeline._common import classifier_pipe


def _expected(n_chains, n_iters):
    return [ProgressEvent(c, i, n_chains, n_iters)
            for c in range(1, n_chains + 1) for i in range(1, n_iters + 1)]


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60), "z": rng.normal(size=60)})
    X["y"] = X["x"] - X["z"] + rng.normal(size=60)
    X.loc[::3, "y"] = np.nan
    X.loc[1::5, "x"] = np.nan
    return X


# ---------------------------------------------------------------------------
# the callback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_multiple_impute_callback_once_per_chain_and_iteration(small, n_jobs):
    events = []
    imp = MultilevelIterativeImputer(max_iter=3)
    mi = multiple_impute(small, imp, n_imputations=3, n_jobs=n_jobs, random_state=0,
                         callback=events.append)
    assert events == _expected(3, 3)
    assert not hasattr(mi.imputers[0], "_iteration_hook")  # nothing left on the chains
    quiet = multiple_impute(small, imp, n_imputations=3, n_jobs=n_jobs, random_state=0)
    for a, b in zip(mi, quiet):  # reporting changes no draw
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_keeps_the_output_container_of_set_output(small, n_jobs):
    # chains followed iteration by iteration are fitted through the same public
    # fit_transform: a pandas set_output applies to array input as without progress
    X = small.to_numpy()
    imp = MultilevelIterativeImputer(max_iter=2).set_output(transform="pandas")
    events = []
    followed = multiple_impute(X, imp, n_imputations=2, n_jobs=n_jobs, random_state=0,
                               callback=events.append)
    plain = multiple_impute(X, imp, n_imputations=2, n_jobs=n_jobs, random_state=0)
    assert events == _expected(2, 2)
    for a, b in zip(followed, plain):
        assert isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_iteration_hook_is_scoped_to_its_context():
    from skmice._hooks import current_iteration_hook, iteration_hook

    calls = []
    imp = MultilevelIterativeImputer(max_iter=3, random_state=0)
    X = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, np.nan], [4.0, 5.0], [5.0, 4.0]])
    with iteration_hook(lambda: calls.append(1)):
        imp.fit_transform(X)
    imp.fit_transform(X)  # outside: no call
    assert calls == [1, 1, 1] and current_iteration_hook() is None


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pipeline_callback_once_per_chain_and_iteration(clustered, n_jobs):
    X, y = clustered
    events = []
    pipe = classifier_pipe(n_imputations=2, n_jobs=n_jobs, callback=events.append).fit(X, y)
    assert events == _expected(2, pipe.imputer.max_iter)
    assert not hasattr(pipe.imputers_[0], "_iteration_hook")
    quiet = classifier_pipe(n_imputations=2, n_jobs=n_jobs).fit(X, y)
    np.testing.assert_array_equal(pipe.predict_proba(X), quiet.predict_proba(X))


def test_callback_live_in_process_and_per_chain_otherwise(small):
    """n_jobs=1: each event arrives while its chain runs; else when the chain is back."""
    imp = MultilevelIterativeImputer(max_iter=2)
    calls = []

    def record(event):
        inside = any(frame.function == "fit_chain" for frame in inspect.stack())
        calls.append((inside, threading.get_ident()))

    multiple_impute(small, imp, n_imputations=2, n_jobs=1, random_state=0, callback=record)
    assert calls == [(True, threading.get_ident())] * 4
    calls.clear()
    with joblib.parallel_backend("threading", n_jobs=2):  # chains in other threads
        multiple_impute(small, imp, n_imputations=2, random_state=0, callback=record)
    assert calls == [(False, threading.get_ident())] * 4  # in the calling thread


def test_callback_with_a_backend_that_cannot_stream_results(small):
    events = []
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        multiple_impute(small, MultilevelIterativeImputer(max_iter=2), n_imputations=2,
                        random_state=0, callback=events.append)
    assert events == _expected(2, 2)


def test_callback_and_progress_bar_together(small, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the plain counter
    events = []
    multiple_impute(small, MultilevelIterativeImputer(max_iter=2), n_imputations=2,
                    random_state=0, verbose=1, callback=events.append)
    assert len(events) == 4
    assert "imputations x iterations: 4/4" in capsys.readouterr().err


def test_callback_with_another_transformer_counts_its_max_iter(regression):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    X, y = regression
    events = []
    MultipleImputationPipeline(
        IterativeImputer(sample_posterior=True, max_iter=2), LinearRegression(),
        n_imputations=2, random_state=0, callback=events.append,
    ).fit(X.drop(columns="cluster"), y)
    assert events == _expected(2, 2)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.filterwarnings("ignore:.*tasks which were still being processed:UserWarning")
def test_callback_exception_stops_the_run(small, n_jobs):
    class Stop(Exception):
        pass

    def stop(event):
        if event.iteration == 2:
            raise Stop

    with pytest.raises(Stop):
        multiple_impute(small, MultilevelIterativeImputer(max_iter=3), n_imputations=3,
                        n_jobs=n_jobs, random_state=0, callback=stop)


def test_callback_must_be_callable(small):
    with pytest.raises(TypeError, match="callback must be None or a callable"):
        multiple_impute(small, n_imputations=2, callback="print")


def test_chain_progress_reports_each_iteration_once():
    events = []
    progress = ChainProgress(2, 3, callback=events.append)
    hook = progress.iteration_hook(1)
    hook()
    hook()
    progress.chain_done(1)  # the third iteration only
    progress.chain_done(0)  # all three, when the chain comes back from elsewhere
    progress.chain_done(0)  # nothing more
    assert [(e.chain, e.iteration) for e in events] == [(2, 1), (2, 2), (2, 3),
                                                        (1, 1), (1, 2), (1, 3)]
    assert ChainProgress.start(2, 3) is None  # nothing to report to


def test_n_iterations():
    assert n_iterations(MultilevelIterativeImputer(max_iter=np.int64(4))) == 4
    assert n_iterations(MultilevelIterativeImputer(max_iter=0)) == 1
    assert n_iterations(object()) == 1


# ---------------------------------------------------------------------------
# the progress bar (verbose)
# ---------------------------------------------------------------------------


def test_silent_by_default(clustered, capsys):
    X, y = clustered
    classifier_pipe(n_imputations=2).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_progress_bar_counts_imputations_times_iterations(clustered, capsys):
    pytest.importorskip("tqdm")
    X, y = clustered
    pipe = classifier_pipe(n_imputations=2, verbose=1)
    iters = pipe.imputer.max_iter
    pipe.fit(X, y)
    err = capsys.readouterr().err
    assert "imputations x iterations" in err and f"{2 * iters}/{2 * iters}" in err
    assert not hasattr(pipe.imputers_[0], "_iteration_hook")  # nothing left on the chain


def test_verbose_plain_counter_without_tqdm(clustered, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails
    X, y = clustered
    pipe = classifier_pipe(n_imputations=2, verbose=1)
    iters = pipe.imputer.max_iter
    pipe.fit(X, y)
    err = capsys.readouterr().err
    # sequential: one line per iteration of every chain
    assert "[skmice] imputations x iterations: 1/" in err
    assert f"[skmice] imputations x iterations: {2 * iters}/{2 * iters}" in err
    # in parallel, the count advances by a chain's iterations as each chain completes
    classifier_pipe(n_imputations=2, verbose=1, n_jobs=2).fit(X, y)
    err = capsys.readouterr().err
    assert f"[skmice] imputations x iterations: {iters}/{2 * iters}" in err
