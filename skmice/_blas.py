"""One BLAS thread while a block runs: the package's single BLAS limiter.

skmice parallelises across imputation chains, never inside one: every chain
(and every estimator fitted on a chain's data) runs with BLAS limited to one
thread. That keeps parallel workers from oversubscribing the cores, and it
makes results bit-for-bit independent of ``n_jobs`` and of the joblib backend
(a multithreaded BLAS sums in another order, which changes the last bits of,
e.g., a logistic regression's coefficients).
"""

from __future__ import annotations

import contextlib
import threading

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
# users: blocks inside the limit now; limiter: the active limit; controller: built once
# (finding the BLAS libraries takes milliseconds)
_STATE: dict = {"users": 0, "limiter": None, "controller": None}


@contextlib.contextmanager
def single_threaded_blas():
    """Run the body with BLAS limited to a single thread.

    The limit is process-wide. Blocks that overlap, nested in one thread or
    running in several threads (joblib's threading backend, a Dask worker
    with several threads), share it: it is set when the first block enters
    and the original limits are restored when the last one leaves.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> from skmice._blas import single_threaded_blas
    >>> with single_threaded_blas():
    ...     all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
    True
    """
    with _LOCK:
        if _STATE["users"] == 0:
            if _STATE["controller"] is None:
                _STATE["controller"] = ThreadpoolController()
            _STATE["limiter"] = _STATE["controller"].limit(limits=1, user_api="blas")
        _STATE["users"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["users"] -= 1
            if _STATE["users"] == 0:
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
