"""Tasks on joblib's loky workers, without ``joblib.Parallel``'s polling.

``joblib.Parallel`` collects results by polling every 10 ms, which adds
about 10 ms to every call: a tenth of a short multiple imputation (five
chains of 20,000 rows take about 80 ms on two cores). When the active joblib
backend is loky (the default, or chosen with ``parallel_config``),
:func:`run_on_loky` lets a ``joblib.Parallel`` set up its worker pool, with
every setting of the active configuration, submits the tasks to that pool
directly and waits on their futures. With another backend, a single job, or
a joblib without these internals it returns None, and the caller runs
``joblib.Parallel`` as usual.
"""

from __future__ import annotations

__all__ = ["run_on_loky"]


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
        ``joblib.Parallel`` (another backend, or one job).
    """
    from joblib import Parallel, effective_n_jobs
    from joblib.parallel import get_active_backend

    if effective_n_jobs(n_jobs) <= 1 or not _is_loky(get_active_backend()[0]):
        return None
    with Parallel(n_jobs=n_jobs) as parallel:  # the pool, as joblib configures it
        workers = getattr(parallel._backend, "_workers", None)
        if not _is_loky(parallel._backend) or workers is None:  # pragma: no cover
            return None
        futures = []
        try:
            futures = [workers.submit(fn, *args, **kwargs) for fn, args, kwargs in tasks]
            out = []
            for k, future in enumerate(futures):
                out.append(future.result())
                if on_result is not None:
                    on_result(k)
            return out
        finally:
            for future in futures:
                future.cancel()
