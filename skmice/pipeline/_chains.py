"""The m imputation chains: a seed each, run side by side with joblib.

:func:`skmice.multiple_impute` and :class:`skmice.MultipleImputationPipeline`
both run their chains through :func:`run_chains`, so the same
``random_state`` gives the same chains in both. The seeds are spawned before
any work is scheduled and every chain runs with one BLAS thread
(:func:`skmice._blas.single_threaded_blas`), so the results do not depend on
``n_jobs`` or on the joblib backend (loky, threading, multiprocessing, Dask).
"""

from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone

from .._blas import single_threaded_blas
from .._hooks import iteration_hook
from .._imputer import MultilevelIterativeImputer
from .._random import spawn_seeds
from ._executor import run_on_loky, small_arguments
from ._progress import ChainProgress

__all__ = [
    "estimator_seed",
    "fit_chain",
    "run_chains",
    "run_parallel",
    "seeded_estimator",
    "seeded_imputer",
]


# ---------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------


def estimator_seed(seed: int) -> int:
    """A 32-bit seed derived from a chain's seed, independent of the imputer's stream.

    The imputer consumes the first two children of ``SeedSequence(seed)``;
    this is the third, so it is fixed by ``seed`` alone.
    """
    child = np.random.SeedSequence(seed).spawn(3)[2]
    return int(child.generate_state(1, dtype=np.uint32)[0])


def seeded_imputer(imputer, seed: int):
    """A clone of ``imputer`` whose ``random_state`` is the chain's seed.

    A :class:`~skmice.MultilevelIterativeImputer` takes ``seed`` itself; any
    other transformer with a ``random_state`` (scikit-learn's, which want 32
    bits) gets a seed derived from it.
    """
    imp = clone(imputer)
    if "random_state" in imp.get_params(deep=False):
        own = seed if isinstance(imp, MultilevelIterativeImputer) else estimator_seed(seed + 1)
        imp.set_params(random_state=own)
    return imp


def seeded_estimator(estimator, seed: int):
    """A clone of ``estimator`` whose ``random_state`` parameters left at None get a seed.

    An explicit ``random_state`` is kept; only the unset ones (which would
    draw fresh entropy) are fixed, to :func:`estimator_seed` of the chain's
    seed, so that results follow from the caller's ``random_state`` alone.
    """
    est = clone(estimator)
    own = estimator_seed(seed)
    unset = {
        key: own
        for key, value in est.get_params(deep=True).items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    if unset:
        est.set_params(**unset)
    return est


# ---------------------------------------------------------------------------
# one chain
# ---------------------------------------------------------------------------


def fit_chain(imputer, X, seed: int, hook=None):
    """Fit one chain: a clone of ``imputer`` seeded with ``seed``, on X.

    Runs on a joblib worker (a plain function: cheap to pickle), with one
    BLAS thread. ``hook`` (chains run in the calling process only) is called
    after every iteration, for progress.

    Returns
    -------
    imputer : the fitted clone
    completed : DataFrame or ndarray
        X completed by the chain.
    """
    imp = seeded_imputer(imputer, seed)
    with single_threaded_blas(), iteration_hook(hook):
        completed = imp.fit_transform(X)
    return imp, completed


# ---------------------------------------------------------------------------
# m chains
# ---------------------------------------------------------------------------


class _Recorded:
    """``task`` run with its warnings recorded; returns (result, warnings).

    Warnings raised in a worker process would reach no one: they are
    recorded there and raised again in the calling process by
    :func:`run_chains`. The wrapper keeps the task's name (joblib and Dask
    name their work after it) and pickles with the standard pickle.
    """

    def __init__(self, task):
        self.task = task
        self.__name__ = getattr(task, "__name__", type(task).__name__)

    def __call__(self, *args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self.task(*args)
        return result, [(w.category, str(w.message)) for w in caught]


def _raise_again(records: list) -> None:
    """Raise each distinct warning of the chains once, in the calling process."""
    seen = set()
    for category, message in (r for chain in records for r in chain):
        if (category, message) not in seen:
            seen.add((category, message))
            warnings.warn(message, category, stacklevel=4)


def run_parallel(tasks: list, n_jobs, on_result=None, small: bool = False) -> list:
    """Run joblib ``tasks``; ``on_result(k)`` is called as the k-th result arrives.

    Results come back in task order. ``small`` (the tasks' arguments take
    less than 1 MB, :func:`~skmice.pipeline._executor.small_arguments`):
    without a joblib configuration the tasks go straight to joblib's loky
    worker pool (:func:`~skmice.pipeline._executor.run_on_loky`); otherwise
    to ``joblib.Parallel`` with the configured backend. A backend that
    cannot hand results out one by one (multiprocessing) calls
    ``on_result`` after all are done.
    """
    if small:
        direct = run_on_loky(tasks, n_jobs, on_result)
        if direct is not None:
            return direct
    if on_result is None:
        return Parallel(n_jobs=n_jobs)(tasks)
    try:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    except ValueError:  # a backend that cannot stream results (multiprocessing)
        out = Parallel(n_jobs=n_jobs)(tasks)
        for k in range(len(out)):
            on_result(k)
        return out
    out = []
    for k, result in enumerate(parallel(tasks)):
        out.append(result)
        on_result(k)
    return out


def run_chains(
    task,
    args: tuple,
    *,
    n_chains: int,
    random_state,
    n_jobs=None,
    n_iterations: int = 1,
    verbose=0,
    callback=None,
) -> list:
    """Run ``task(*args, seed, hook)`` once per chain with joblib; results in chain order.

    Parameters
    ----------
    task : callable
        A module-level function (it is pickled to the workers) such as
        :func:`fit_chain`; ``seed`` is the chain's seed, ``hook`` None or a
        function for the chain to call after each of its iterations.
    args : tuple
        The task's leading arguments, the same for every chain (passed to
        joblib as they are, so a Dask ``scatter`` of X applies).
    n_chains : int
    random_state : None, int, SeedSequence, Generator or RandomState
        The chains' seeds are spawned from it (:func:`skmice._random.spawn_seeds`).
    n_jobs : int, optional
        As joblib's.
    n_iterations : int, default=1
        Iterations per chain, for progress.
    verbose : int, default=0
        Non-zero: a progress bar over chains x iterations.
    callback : callable, optional
        Called with a :class:`~skmice.pipeline.ProgressEvent` per iteration of
        every chain, in the calling thread.

    Returns
    -------
    list
        The ``n_chains`` results of ``task``.
    """
    seeds = spawn_seeds(random_state, n_chains)
    progress = ChainProgress.start(n_chains, n_iterations, verbose, callback)
    small = effective_n_jobs(n_jobs) > 1 and small_arguments(args)
    if progress is None:
        out = run_parallel([delayed(_Recorded(task))(*args, seed, None) for seed in seeds],
                           n_jobs, small=small)
    else:
        # iterations are seen as they happen when the chains run in this process,
        # else counted as each chain's result arrives
        in_process = effective_n_jobs(n_jobs) == 1
        tasks = [
            delayed(_Recorded(task))(*args, seed,
                                    progress.iteration_hook(k) if in_process else None)
            for k, seed in enumerate(seeds)
        ]
        try:
            out = run_parallel(tasks, n_jobs, on_result=progress.chain_done, small=small)
        finally:
            progress.close()
    _raise_again([records for _, records in out])
    return [result for result, _ in out]
