"""Progress of m imputation chains: events for a callback, and a progress bar.

A chain of ``n_iterations`` iterations reports one :class:`ProgressEvent` per
iteration. Chains running in the calling process (``n_jobs=1``) report each
iteration as it ends, through the imputer's per-iteration hook; chains
running elsewhere (worker processes, threads, a Dask cluster) report all
their iterations when their result arrives. Either way every chain reports
each of its iterations exactly once, in order, in the calling thread.
"""

from __future__ import annotations

import functools
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ChainProgress", "Progress", "ProgressEvent", "check_callback", "n_iterations"]


@dataclass(frozen=True)
class ProgressEvent:
    """One iteration of one imputation chain is done: what a ``callback`` receives.

    :func:`skmice.multiple_impute` and :class:`skmice.MultipleImputationPipeline`
    call their ``callback`` with one event per iteration of every chain:
    ``n_chains * n_iterations`` calls in all, whatever ``n_jobs``.

    Attributes
    ----------
    chain : int
        The chain, 1 to ``n_chains`` (the imputation number, as in
        ``MultiplyImputedData.complete``).
    iteration : int
        The iteration of that chain just done, 1 to ``n_iterations``.
    n_chains : int
        Number of chains (imputations) in the run.
    n_iterations : int
        Iterations per chain (the imputer's ``max_iter``; 1 for an imputer
        without one).

    See Also
    --------
    skmice.multiple_impute, skmice.MultipleImputationPipeline

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer, multiple_impute
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
    >>> X.loc[::4, "y"] = np.nan
    >>> events = []
    >>> mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=2), n_imputations=2,
    ...                      random_state=0, callback=events.append)
    >>> [(e.chain, e.iteration) for e in events]
    [(1, 1), (1, 2), (2, 1), (2, 2)]
    >>> events[-1]
    ProgressEvent(chain=2, iteration=2, n_chains=2, n_iterations=2)
    """

    chain: int
    iteration: int
    n_chains: int
    n_iterations: int


class Progress:
    """A tqdm bar when tqdm is installed, else one line per step on stderr."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done = total, desc, 0
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            self._bar = None
        else:
            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=True)

    def update(self, steps: int = 1):
        if steps == 0:
            return
        self.done += steps
        if self._bar is not None:
            self._bar.update(steps)
        else:
            print(f"[skmice] {self.desc}: {self.done}/{self.total}", file=sys.stderr)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def check_callback(callback) -> None:
    """Raise a TypeError unless ``callback`` is None or callable."""
    if callback is not None and not callable(callback):
        raise TypeError(
            "callback must be None or a callable taking one ProgressEvent, got "
            f"{type(callback).__name__}."
        )


def n_iterations(imputer) -> int:
    """Iterations per chain of ``imputer``: its ``max_iter`` when that is a positive int, else 1."""
    iters = getattr(imputer, "max_iter", 1)
    if isinstance(iters, numbers.Integral) and not isinstance(iters, bool) and iters > 0:
        return int(iters)
    return 1


class ChainProgress:
    """The progress of ``n_chains`` chains, told to a progress bar and to a callback.

    Parameters
    ----------
    n_chains, n_iterations : int
    verbose : int
        Non-zero: a :class:`Progress` bar over chains x iterations.
    callback : callable or None
        Called with a :class:`ProgressEvent` per iteration of every chain.
    """

    def __init__(self, n_chains: int, n_iterations: int, verbose=0, callback=None):
        self.n_chains, self.n_iterations = n_chains, n_iterations
        self.callback: Callable[[ProgressEvent], object] | None = callback
        self.bar = (
            Progress(n_chains * n_iterations, "imputations x iterations") if verbose else None
        )
        self._done = [0] * n_chains

    @classmethod
    def start(cls, n_chains: int, n_iterations: int, verbose=0, callback=None):
        """A ChainProgress, or None when there is nothing to report to."""
        if not verbose and callback is None:
            return None
        return cls(n_chains, n_iterations, verbose, callback)

    def iteration_hook(self, chain: int):
        """For a chain run in this process: a function to call after each iteration.

        ``chain`` counts from 0.
        """
        return functools.partial(self._advance, chain, 1)

    def chain_done(self, chain: int):
        """Chain ``chain`` (from 0) has finished: report the iterations not reported yet."""
        self._advance(chain, self.n_iterations - self._done[chain])

    def _advance(self, chain: int, steps: int):
        first = self._done[chain] + 1
        steps = min(steps, self.n_iterations - self._done[chain])
        if steps <= 0:
            return
        self._done[chain] += steps
        if self.bar is not None:
            self.bar.update(steps)
        if self.callback is not None:
            for iteration in range(first, first + steps):
                self.callback(ProgressEvent(chain + 1, iteration, self.n_chains,
                                            self.n_iterations))

    def close(self):
        if self.bar is not None:
            self.bar.close()
