"""Small tasks on joblib's loky workers, without ``joblib.Parallel``'s polling.

``joblib.Parallel`` collects results by polling every 10 ms, which adds up
to that much to every call: much of a short multiple imputation
(``benchmarks/README.rst`` has the numbers). When no joblib
configuration is active (the default loky backend) and the tasks' arguments
are small (below joblib's 1 MB threshold for sharing arrays through memory
maps, so that nothing is memory-mapped), :func:`run_on_loky` lets a
``joblib.Parallel`` set up its worker pool, submits the tasks to that pool
directly, runs a share of them in the calling process (which would
otherwise only wait) and waits on their futures. Otherwise (another backend or setting,
large data, a single job) it returns None, and the caller runs
``joblib.Parallel`` as usual; for large data the polling does not matter.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

__all__ = ["run_on_loky", "small_arguments"]

# joblib's default max_nbytes: arrays from this size are memory-mapped
_MAX_BYTES = 1_000_000


def small_arguments(args) -> bool:
    """Whether ``args`` take less than 1 MB in all (arrays and frames by their
    size, other objects by their pickle)."""
    total = 0
    for arg in args:
        if isinstance(arg, np.ndarray):
            total += arg.nbytes
        elif isinstance(arg, pd.DataFrame):
            kinds = {getattr(dt, "kind", "O") for dt in arg.dtypes}
            if kinds <= set("biufcmM"):  # numbers only: their sizes
                total += arg.shape[0] * (sum(dt.itemsize for dt in arg.dtypes) + 8)
            else:
                total += int(arg.memory_usage(index=True, deep=True).sum())
        elif arg is not None:
            try:
                total += len(pickle.dumps(arg, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception:  # not picklable here: leave it to joblib
                return False
        if total >= _MAX_BYTES:
            return False
    return True


def _is_loky(backend) -> bool:
    try:
        from joblib._parallel_backends import LokyBackend
    except ImportError:  # pragma: no cover - another joblib layout
        return False
    return type(backend) is LokyBackend


def run_on_loky(tasks: list, n_jobs, on_result=None):
    """Run joblib ``delayed`` tasks on the loky worker pool; None when that does not apply.

    Parameters
    ----------
    tasks : list of tuple (function, args, kwargs)
        As made by :func:`joblib.delayed`.
    n_jobs : int or None
        As joblib's.
    on_result : callable, optional
        Called with ``k`` as the k-th result (in task order) arrives.

    Returns
    -------
    list or None
        The results in task order, or None when the tasks should go to
        ``joblib.Parallel`` (a joblib configuration is active, or one job).
        The caller checks that the tasks' arguments are small
        (:func:`small_arguments`).

    Notes
    -----
    The calling process would only wait: it runs the last
    ``ceil(len(tasks) / (n_workers + 1))`` tasks itself while the workers run
    the others (five chains on two workers: two in the calling process,
    three in the workers, instead of three rounds of two). Its tasks travel
    through no pipe. The results do not depend on where a task ran.
    """
    from joblib import Parallel, effective_n_jobs
    from joblib import parallel as jp

    config = getattr(jp._backend, "config", None)
    if config is not None and any(config.get(k) is not v
                                  for k, v in jp.default_parallel_config.items()):
        return None  # a parallel_config / parallel_backend context is active
    if effective_n_jobs(n_jobs) <= 1 or not _is_loky(jp.get_active_backend()[0]):
        return None
    with Parallel(n_jobs=n_jobs) as parallel:  # the pool, as joblib configures it
        workers = getattr(parallel._backend, "_workers", None)
        if not _is_loky(parallel._backend) or workers is None:  # pragma: no cover
            return None
        # the calling process, idle otherwise, runs its share of the tasks (the
        # last ones) while the workers run theirs: its tasks need no transfer
        own = -(-len(tasks) // (effective_n_jobs(n_jobs) + 1))
        futures = []
        try:
            futures = [workers.submit(fn, *args, **kwargs)
                       for fn, args, kwargs in tasks[:len(tasks) - own]]
            mine = [fn(*args, **kwargs) for fn, args, kwargs in tasks[len(tasks) - own:]]
            out = []
            for k, future in enumerate(futures):
                out.append(future.result())
                if on_result is not None:
                    on_result(k)
            for k, result in enumerate(mine, start=len(futures)):
                out.append(result)
                if on_result is not None:
                    on_result(k)
            return out
        finally:
            for future in futures:
                future.cancel()
