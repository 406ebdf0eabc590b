"""Seeds and generators: randomness enters through ``random_state`` only."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_generator", "as_seed_sequence", "spawn_seeds"]


def as_seed_sequence(random_state) -> np.random.SeedSequence:
    """Turn a ``random_state`` parameter into a fresh :class:`numpy.random.SeedSequence`.

    Parameters
    ----------
    random_state : None, int, SeedSequence, Generator or RandomState
        None draws fresh entropy; an int or a SeedSequence gives the same
        sequence every time; a Generator or RandomState is advanced by one draw.

    Returns
    -------
    numpy.random.SeedSequence

    Examples
    --------
    >>> from skmice._random import as_seed_sequence
    >>> as_seed_sequence(3).entropy
    3
    """
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.SeedSequence(random_state.entropy, spawn_key=random_state.spawn_key)
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(
        random_state, bool
    ):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}.")
        return np.random.SeedSequence(int(random_state))
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(0, 2**31 - 1)))
    raise TypeError(
        "random_state must be None, a non-negative int, a numpy SeedSequence, Generator or "
        f"RandomState, got {type(random_state).__name__}."
    )


def as_generator(random_state) -> np.random.Generator:
    """Turn a ``random_state`` parameter into a :class:`numpy.random.Generator`.

    A Generator is returned as it is (its stream continues); anything else is
    read by :func:`as_seed_sequence`.

    Parameters
    ----------
    random_state : None, int, SeedSequence, Generator or RandomState

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> from skmice._random import as_generator
    >>> rng = np.random.default_rng(0)
    >>> as_generator(rng) is rng
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(as_seed_sequence(random_state))


def spawn_seeds(random_state, n: int) -> list[int]:
    """``n`` independent integer seeds derived from ``random_state``.

    The seeds depend only on ``random_state`` and ``n`` (not on how the work
    is later scheduled), so that parallel runs reproduce serial ones.

    Parameters
    ----------
    random_state : None, int, SeedSequence, Generator or RandomState
    n : int

    Returns
    -------
    list of int

    Examples
    --------
    >>> from skmice._random import spawn_seeds
    >>> spawn_seeds(0, 2) == spawn_seeds(0, 2)
    True
    """
    children = as_seed_sequence(random_state).spawn(n)
    return [int(c.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]
