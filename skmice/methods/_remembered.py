"""Arrays a method has checked, remembered by weak reference and found again by identity.

The method boundary (:mod:`skmice.methods._validation`) trusts a stamped
design's arrays that it has checked before: the imputer's plans hand the
same arrays at every visit. :class:`Remembered` keeps the last few of them
without keeping them alive (a design rebuilt at every visit must be freed),
and an entry whose arrays are gone matches nothing.
"""

from __future__ import annotations

import weakref

__all__ = ["Remembered"]

_GONE = object()  # an array no longer alive: the same as nothing


class Remembered:
    """The last ``size`` tuples of arrays, each with a tag, by weak reference.

    Parameters
    ----------
    size : int, default=4
        Number of entries kept; the oldest goes first.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods._remembered import Remembered
    >>> a, b = np.zeros(3), np.ones(2)
    >>> seen = Remembered()
    >>> seen.add((a,), extra=(b,), tag=3)
    >>> len(seen)
    1
    >>> seen.find((a,), tag=3)[0] is b, seen.find((a,), tag=4), seen.find((a.copy(),), tag=3)
    (True, None, None)
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._entries = []

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, arrays, extra=(), tag=None) -> None:
        """Remember ``arrays`` (and ``extra`` arrays to hand back); None entries allowed.

        Objects that cannot be referenced weakly make the entry forgotten at once.
        """
        try:
            refs = tuple(None if a is None else weakref.ref(a) for a in (*arrays, *extra))
        except TypeError:
            return
        self._entries.append((tag, len(arrays), refs))
        del self._entries[:-self.size]

    def find(self, arrays, tag=None) -> tuple | None:
        """The ``extra`` arrays of an entry with this tag whose arrays are ``arrays``,
        one by one (identity); None when there is none."""
        for kept_tag, n, refs in reversed(self._entries):
            if kept_tag != tag or n != len(arrays):
                continue
            alive = tuple(None if r is None else _GONE if r() is None else r() for r in refs)
            if all(a is b for a, b in zip(alive, arrays)):
                return alive[n:]
        return None
