"""Stamps: identifiers of the content of a design's columns.

A design plan gives every column it writes a fresh stamp; a column keeps its
stamp until it is written again. Two columns with the same stamp hold the
same values, so a method may keep statistics computed from a column (its
per-cluster cross-products, that it is finite) and reuse them while the
stamp lasts. Stamps are positive and unique within and across processes:
the count starts at a random offset in each process (and again in a forked
child), so statistics carried over in a pickle never match another
process's columns by accident.
"""

from __future__ import annotations

import itertools
import os
import threading

__all__ = ["new_stamps"]

_lock = threading.Lock()
_counter = None


def _restart() -> None:
    global _counter
    _counter = itertools.count((int.from_bytes(os.urandom(6), "little") + 1) << 12)


_restart()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart)


def new_stamps(k: int) -> list:
    """``k`` fresh stamps (positive integers never handed out before).

    Examples
    --------
    >>> from skmice._stamps import new_stamps
    >>> a, b = new_stamps(2)
    >>> a > 0 and b > 0 and a != b
    True
    """
    with _lock:
        return [next(_counter) for _ in range(k)]
